#include "server/assets.h"

#include <array>
#include <string>

// Generated in the build tree by cmake/embed_asset.cmake.
#include "page/app_css.h"
#include "page/app_js.h"
#include "page/index_html.h"

namespace server {
namespace {

std::string_view bytes(const unsigned char* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

const std::array<Asset, 3> kAssets = {{
    {"/", "text/html; charset=utf-8", bytes(embedded::index_html, embedded::index_html_size)},
    {"/app.js", "text/javascript; charset=utf-8", bytes(embedded::app_js, embedded::app_js_size)},
    {"/app.css", "text/css; charset=utf-8", bytes(embedded::app_css, embedded::app_css_size)},
}};

}  // namespace

std::span<const Asset> page_assets() { return kAssets; }

const Asset* find_asset(std::string_view path) {
    for (const Asset& asset : kAssets)
        if (asset.path == path) return &asset;
    return nullptr;
}

http::Response asset_response(std::string_view path) {
    const Asset* asset = find_asset(path);
    if (!asset) return http::error_response(404, "no page asset at " + std::string(path));
    http::Response r;
    r.status = 200;
    r.content_type = std::string(asset->content_type);
    r.body = std::string(asset->body);
    r.headers.push_back({"X-Content-Type-Options", "nosniff"});
    r.headers.push_back({"Cache-Control", "no-cache"});
    if (asset->content_type.starts_with("text/html")) r.headers.push_back({"Content-Security-Policy", std::string(kPageCsp)});
    return r;
}

}  // namespace server
