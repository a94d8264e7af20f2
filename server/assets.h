// The web page at `/`, compiled into the binary (server/CMakeLists.txt embeds
// server/page/* with cmake/embed_asset.cmake): nothing is read from disk and
// nothing is fetched from elsewhere.
//
//   GET /         index.html   text/html; charset=utf-8
//   GET /app.js   the script   text/javascript; charset=utf-8
//   GET /app.css  the styles   text/css; charset=utf-8
//
// No inline script or style anywhere, so the page runs under a strict
// Content-Security-Policy (kPageCsp, sent with the page). Every asset is sent
// with X-Content-Type-Options: nosniff, and Cache-Control: no-cache (the
// names carry no version, and a new binary may bring a new page).
#pragma once

#include <span>
#include <string_view>

#include "server/http_message.h"

namespace server {

// blob: and data: for the photo the page shows from the picked file;
// connect-src 'self' for POST /api/detect; frame-ancestors 'none' against
// clickjacking.
inline constexpr std::string_view kPageCsp =
    "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; style-src 'self'; "
    "script-src 'self'; frame-ancestors 'none'";

struct Asset {
    std::string_view path;  // the route
    std::string_view content_type;
    std::string_view body;
};

// Every embedded asset, `/` first.
std::span<const Asset> page_assets();

// The asset served at `path`, or nullptr.
const Asset* find_asset(std::string_view path);

// 200 with the asset and its headers (the CSP on the HTML page); 404 JSON
// {"detail": ...} for a path that is not an asset.
http::Response asset_response(std::string_view path);

}  // namespace server
