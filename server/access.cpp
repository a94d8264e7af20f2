#include "server/access.h"

#include <algorithm>
#include <stdexcept>

#include "server/assets.h"

namespace server {
namespace {

using http::Request;
using http::Response;

constexpr std::string_view kRealm = "Bearer realm=\"face-service\"";

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return (x >= 'A' && x <= 'Z' ? x - 'A' + 'a' : x) == (y >= 'A' && y <= 'Z' ? y - 'A' + 'a' : y);
           });
}

Response unauthorized(const std::string& detail, bool wrong_key) {
    Response r = http::error_response(401, detail);
    r.headers.push_back(
        {"WWW-Authenticate", std::string(kRealm) + (wrong_key ? ", error=\"invalid_token\"" : "")});
    return r;
}

// The page's files, answered to GET and HEAD.
bool is_page(const Request& request) {
    return (request.method == "GET" || request.method == "HEAD") && find_asset(request.path) != nullptr;
}

}  // namespace

ApiKeys::ApiKeys(const std::vector<std::string>& keys) {
    for (const std::string& key : keys) {
        if (key.empty() || key.size() > kMaxApiKeyLength)
            throw std::invalid_argument("an API key must have 1 to " + std::to_string(kMaxApiKeyLength) + " bytes");
        Padded p;
        std::copy(key.begin(), key.end(), p.bytes.begin());
        p.size = key.size();
        keys_.push_back(p);
    }
}

bool ApiKeys::matches(std::string_view given) const {
    std::array<unsigned char, kMaxApiKeyLength> padded{};
    std::copy_n(given.begin(), std::min(given.size(), padded.size()), padded.begin());
    const volatile unsigned char* g = padded.data();
    unsigned found = 0;
    for (const Padded& key : keys_) {
        // Nonzero when the lengths differ (a longer `given` differs from
        // every key, none being over kMaxApiKeyLength), or any byte does.
        std::size_t diff = given.size() ^ key.size;
        const volatile unsigned char* k = key.bytes.data();
        for (std::size_t i = 0; i < kMaxApiKeyLength; ++i) diff |= static_cast<std::size_t>(g[i] ^ k[i]);
        found |= static_cast<unsigned>(diff == 0);
    }
    return found != 0;
}

std::vector<std::string_view> request_api_keys(const Request& request) {
    std::vector<std::string_view> offered;
    if (const auto authorization = request.header("authorization")) {
        // "Bearer TOKEN": the scheme, one or more spaces, the token.
        const std::size_t space = authorization->find(' ');
        if (space != std::string_view::npos && iequals(authorization->substr(0, space), "bearer")) {
            std::string_view token = authorization->substr(space);
            token.remove_prefix(std::min(token.find_first_not_of(' '), token.size()));
            if (!token.empty()) offered.push_back(token);
        }
    }
    if (const auto key = request.header("x-api-key"); key && !key->empty()) offered.push_back(*key);
    return offered;
}

bool is_probe_route(std::string_view path) {
    return path == "/healthz" || path == "/readyz" || path == "/healthcheck" || path == "/metrics";
}

std::optional<Response> check_access(const AccessPolicy& policy, const Request& request) {
    if (policy.keys.empty() || request.method == "OPTIONS" || is_page(request)) return std::nullopt;
    if (!policy.auth_probes && is_probe_route(request.path)) return std::nullopt;
    const std::vector<std::string_view> offered = request_api_keys(request);
    if (offered.empty())
        return unauthorized("an API key is needed: send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'", false);
    // Every key offered is compared, so the time does not tell which one failed.
    bool valid = false;
    for (std::string_view key : offered) valid = policy.keys.matches(key) || valid;
    if (!valid) return unauthorized("the API key is not valid", true);
    return std::nullopt;
}

bool origin_allowed(const AccessPolicy& policy, const Request& request) {
    if (policy.cors_origins.empty()) return false;
    if (policy.cors_origins.front() == "*") return true;
    const std::optional<std::string_view> origin = request.header("origin");
    return origin && std::find(policy.cors_origins.begin(), policy.cors_origins.end(), *origin) !=
                         policy.cors_origins.end();
}

void add_cors_headers(const AccessPolicy& policy, const Request& request, Response& response) {
    if (policy.cors_origins.empty()) return;
    const bool any = policy.cors_origins.front() == "*";
    if (!any) response.headers.push_back({"Vary", "Origin"});
    if (!origin_allowed(policy, request)) return;
    response.headers.push_back({"Access-Control-Allow-Origin", any ? "*" : std::string(*request.header("origin"))});
    response.headers.push_back({"Access-Control-Expose-Headers", std::string(kCorsExposeHeaders)});
}

Response preflight_response(const AccessPolicy& policy, const Request& request, std::string_view methods) {
    Response r;
    r.status = 204;
    r.headers.push_back({"Allow", std::string(methods) + ", OPTIONS"});
    if (origin_allowed(policy, request)) {
        r.headers.push_back({"Access-Control-Allow-Methods", std::string(methods)});
        r.headers.push_back({"Access-Control-Allow-Headers", std::string(kCorsAllowHeaders)});
        r.headers.push_back({"Access-Control-Max-Age", std::to_string(kCorsMaxAgeSeconds)});
    }
    return r;
}

}  // namespace server
