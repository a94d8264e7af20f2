// Who may ask the service what: optional API keys and CORS. FaceService
// (server/service.cpp) applies them to every request through http::Server's
// gate (the keys, from the request's head, before its body is read) and
// decorator (the CORS headers, on every response, the server's own errors
// included).
//
// API keys (ServeConfig::api_keys; none: every request is let through):
// - A request carries a key as `Authorization: Bearer KEY` (the scheme in
//   any case, RFC 9110 11.1) or as `X-API-Key: KEY`; it passes when either
//   is one of the keys. Never in the query string: URLs end up in proxies'
//   logs and browser histories. Missing or not a key: 401 with a JSON
//   detail and `WWW-Authenticate: Bearer realm="face-service"` (with
//   `error="invalid_token"` for a wrong key, RFC 6750 3.1).
// - Open without a key: OPTIONS (a CORS preflight never carries
//   credentials), the page (GET /, /app.js, /app.css: it holds no data, and
//   its own requests send the key typed into it), and, unless auth_probes,
//   the probes and the scrape (/healthz, /readyz, /healthcheck, /metrics):
//   a kubelet's httpGet probe cannot take a header from a Secret. Every
//   other request, unknown paths included (so a stranger cannot map the
//   routes), needs a key.
// - Comparing: ApiKeys::matches below; a key is never logged or echoed (the
//   access log has no headers, server/log.h).
//
// CORS (ServeConfig::cors_origins; none: no Access-Control-* header ever):
// - A request whose Origin is one of the origins gets
//   Access-Control-Allow-Origin: that origin, and every response
//   `Vary: Origin` (it depends on the Origin, for caches); with "*", every
//   response gets Access-Control-Allow-Origin: * (and no Vary). Either way
//   Access-Control-Expose-Headers: X-Request-ID, Retry-After,
//   Content-Disposition, X-Face-Count lets the page's script read them
//   (the last two name and count what /api/anonymize and /api/crops
//   answer, server/media_routes.h). Another origin gets no CORS header: the
//   browser then keeps the answer from the calling page.
// - No Access-Control-Allow-Credentials: keys are sent as headers by the
//   caller's script, never cookies.
// - Preflight: OPTIONS on a route answers 204 with Allow, and for an
//   allowed origin Access-Control-Allow-Methods (the route's),
//   -Allow-Headers (Content-Type, Authorization, X-API-Key, X-Request-ID)
//   and -Max-Age (600 s: browsers cache it that long, so a changed setting
//   reaches them within ten minutes).
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/config.h"
#include "server/http_message.h"

namespace server {

inline constexpr int kCorsMaxAgeSeconds = 600;
inline constexpr std::string_view kCorsAllowHeaders = "Content-Type, Authorization, X-API-Key, X-Request-ID";
inline constexpr std::string_view kCorsExposeHeaders = "X-Request-ID, Retry-After, Content-Disposition, X-Face-Count";

// The configured keys. Each is held in a zero-padded buffer of
// kMaxApiKeyLength bytes so that checking a key does the same work whatever
// the keys are.
class ApiKeys {
public:
    ApiKeys() = default;
    // Keys of 1 to kMaxApiKeyLength bytes (the config checks the rest);
    // std::invalid_argument otherwise.
    explicit ApiKeys(const std::vector<std::string>& keys);

    bool empty() const { return keys_.empty(); }
    std::size_t size() const { return keys_.size(); }

    // Whether `given` is one of the keys, in constant time: `given` is
    // copied into a zero-padded buffer like the keys', then compared with
    // every key over all kMaxApiKeyLength bytes, the differing bits OR-ed
    // together with the XOR of the two lengths, with no branch on the bytes
    // and no exit before the last key. The work is (number of keys) x
    // kMaxApiKeyLength byte operations whatever `given` and the keys hold or
    // how long they are; only copying `given` depends on its length, which
    // the caller knows. The reads go through volatile pointers so that the
    // compiler cannot turn the loops into an early-exit memcmp.
    bool matches(std::string_view given) const;

private:
    struct Padded {
        std::array<unsigned char, kMaxApiKeyLength> bytes{};
        std::size_t size = 0;
    };
    std::vector<Padded> keys_;
};

// The keys a request offers: the token of `Authorization: Bearer TOKEN`
// and the value of X-API-Key, those it has (none, one or both).
std::vector<std::string_view> request_api_keys(const http::Request& request);

// /healthz, /readyz, /healthcheck, /metrics.
bool is_probe_route(std::string_view path);

struct AccessPolicy {
    ApiKeys keys;              // empty: no auth
    bool auth_probes = false;  // the probes need a key too
    std::vector<std::string> cors_origins;  // empty: no CORS; {"*"}: any
};

// The answer refusing `request` (401), or nullopt when it may go on; from
// its head alone.
std::optional<http::Response> check_access(const AccessPolicy& policy, const http::Request& request);

// Whether the request's Origin may read the answers (cors_origins "*", or
// its exact value listed).
bool origin_allowed(const AccessPolicy& policy, const http::Request& request);

// Adds the CORS headers above to any response (nothing without origins).
void add_cors_headers(const AccessPolicy& policy, const http::Request& request, http::Response& response);

// The 204 answer to OPTIONS on a route whose methods are `methods`
// ("POST", "GET, HEAD"); the preflight headers for an allowed origin
// (Access-Control-Allow-Origin itself comes from add_cors_headers).
http::Response preflight_response(const AccessPolicy& policy, const http::Request& request, std::string_view methods);

}  // namespace server
