// API keys and CORS (server/access.h), without sockets: the constant-time
// key comparison's answers, where a request's key is read from, which
// requests need one, and the CORS headers of each kind of request.
#include "server/access.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using server::AccessPolicy;
using server::ApiKeys;
using server::http::Request;
using server::http::Response;

const std::string kKey = "k1-0123456789abcdef";
const std::string kOther = "K2_abcdefghijklmnopqrstuvwxyz";

Request request(const std::string& method, const std::string& path, std::vector<server::http::Header> headers = {}) {
    Request r;
    r.method = method;
    r.path = path;
    r.headers = std::move(headers);
    return r;
}

// The value of a header, or "(absent)"; "(twice)" when repeated.
std::string header(const Response& r, std::string_view name) {
    std::string found = "(absent)";
    for (const auto& h : r.headers)
        if (h.name == name) found = found == "(absent)" ? h.value : "(twice)";
    return found;
}

TEST(ApiKeys, MatchesExactlyTheKeys) {
    const ApiKeys keys({kKey, kOther});
    EXPECT_EQ(keys.size(), 2u);
    EXPECT_TRUE(keys.matches(kKey));
    EXPECT_TRUE(keys.matches(kOther));
    std::string first = kKey, last = kKey;
    first.front() ^= 1;
    last.back() ^= 1;
    for (const std::string& wrong : {first, last, kKey.substr(0, kKey.size() - 1), kKey + "x", kKey + '\0', "x" + kKey,
                                     std::string(), std::string(kKey.size(), '\0'), kKey + kOther})
        EXPECT_FALSE(keys.matches(wrong)) << wrong;
}

TEST(ApiKeys, KeysOfTheLongestLengthAndLonger) {
    const std::string longest(server::kMaxApiKeyLength, 'a');
    const ApiKeys keys({longest});
    EXPECT_TRUE(keys.matches(longest));
    EXPECT_FALSE(keys.matches(longest + "a"));  // its first 256 bytes are the key: the length tells them apart
    EXPECT_FALSE(keys.matches(longest.substr(1)));
    EXPECT_FALSE(keys.matches(std::string(10'000, 'a')));
    // A key padded with zeros is not the key followed by zeros.
    const ApiKeys short_key({"abc"});
    EXPECT_FALSE(short_key.matches(std::string("abc\0", 4)));
    EXPECT_TRUE(short_key.matches("abc"));
    EXPECT_THROW(ApiKeys({longest + "a"}), std::invalid_argument);
    EXPECT_THROW(ApiKeys({""}), std::invalid_argument);
}

TEST(ApiKeys, NoKeysMatchNothing) {
    const ApiKeys none;
    EXPECT_TRUE(none.empty());
    EXPECT_FALSE(none.matches(""));
    EXPECT_FALSE(none.matches(kKey));
}

// Every byte value in every position: a difference anywhere is seen.
TEST(ApiKeys, EveryPositionAndBitCounts) {
    const std::string key(40, 'k');
    const ApiKeys keys({key});
    for (std::size_t at = 0; at < key.size(); ++at)
        for (int bit = 0; bit < 8; ++bit) {
            std::string wrong = key;
            wrong[at] = static_cast<char>(wrong[at] ^ (1 << bit));
            EXPECT_FALSE(keys.matches(wrong)) << at << " " << bit;
        }
}

TEST(RequestApiKeys, BearerAndXApiKey) {
    using V = std::vector<std::string_view>;
    EXPECT_EQ(server::request_api_keys(request("GET", "/", {{"authorization", "Bearer " + kKey}})), V{kKey});
    EXPECT_EQ(server::request_api_keys(request("GET", "/", {{"authorization", "bearer   " + kKey}})), V{kKey});
    EXPECT_EQ(server::request_api_keys(request("GET", "/", {{"authorization", "BEARER " + kKey}})), V{kKey});
    EXPECT_EQ(server::request_api_keys(request("GET", "/", {{"x-api-key", kKey}})), V{kKey});
    EXPECT_EQ(server::request_api_keys(request("GET", "/", {{"authorization", "Bearer " + kKey}, {"x-api-key", kOther}})),
              (V{kKey, kOther}));
    // Not a bearer token: not a key.
    for (const char* value : {"Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearerk1-0123456789abcdef", ""})
        EXPECT_EQ(server::request_api_keys(request("GET", "/", {{"authorization", value}})), V{}) << value;
    EXPECT_EQ(server::request_api_keys(request("GET", "/", {{"x-api-key", ""}})), V{});
    EXPECT_EQ(server::request_api_keys(request("GET", "/")), V{});
}

AccessPolicy keyed(bool auth_probes = false) { return {ApiKeys({kKey, kOther}), auth_probes, {}}; }

// The status check_access answers, 0 when it lets the request through.
int access_status(const AccessPolicy& policy, const Request& r) {
    const std::optional<Response> refused = server::check_access(policy, r);
    return refused ? refused->status : 0;
}

TEST(CheckAccess, WithoutKeysEverythingPasses) {
    const AccessPolicy open;
    for (const char* path : {"/api/detect", "/metrics", "/nope", "/"})
        EXPECT_EQ(access_status(open, request("POST", path)), 0) << path;
}

TEST(CheckAccess, MissingOrWrongKeyIs401WithJsonDetailAndChallenge) {
    const std::optional<Response> missing = server::check_access(keyed(), request("POST", "/api/detect"));
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 401);
    EXPECT_EQ(header(*missing, "WWW-Authenticate"), "Bearer realm=\"face-service\"");
    EXPECT_NE(nlohmann::json::parse(missing->body).at("detail").get<std::string>().find("X-API-Key"), std::string::npos);

    const std::optional<Response> wrong =
        server::check_access(keyed(), request("POST", "/api/detect", {{"x-api-key", kKey + "x"}}));
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401);
    EXPECT_EQ(header(*wrong, "WWW-Authenticate"), "Bearer realm=\"face-service\", error=\"invalid_token\"");
    const std::string detail = nlohmann::json::parse(wrong->body).at("detail");
    EXPECT_EQ(detail, "the API key is not valid");  // never the key sent
    EXPECT_EQ(access_status(keyed(), request("POST", "/api/detect", {{"authorization", "Basic " + kKey}})), 401);
}

TEST(CheckAccess, BearerOrXApiKeyPasses) {
    EXPECT_EQ(access_status(keyed(), request("POST", "/api/detect", {{"authorization", "Bearer " + kKey}})), 0);
    EXPECT_EQ(access_status(keyed(), request("POST", "/api/detect", {{"x-api-key", kOther}})), 0);
    // One right key is enough, whichever header holds it.
    EXPECT_EQ(access_status(keyed(), request("POST", "/api/detect",
                                             {{"authorization", "Bearer wrong-key-0123456789"}, {"x-api-key", kKey}})),
              0);
    EXPECT_EQ(access_status(keyed(), request("POST", "/api/detect",
                                             {{"authorization", "Bearer " + kOther}, {"x-api-key", "wrong"}})),
              0);
}

TEST(CheckAccess, ThePageAndOptionsAreOpenUnknownPathsAreNot) {
    for (const char* path : {"/", "/app.js", "/app.css"}) {
        EXPECT_EQ(access_status(keyed(), request("GET", path)), 0) << path;
        EXPECT_EQ(access_status(keyed(), request("HEAD", path)), 0) << path;
        EXPECT_EQ(access_status(keyed(), request("POST", path)), 401) << path;
    }
    EXPECT_EQ(access_status(keyed(), request("OPTIONS", "/api/detect")), 0);
    EXPECT_EQ(access_status(keyed(), request("OPTIONS", "/metrics")), 0);
    for (const char* path : {"/nope", "/index.html", "/api/detect/", "/metrics/x"})
        EXPECT_EQ(access_status(keyed(), request("GET", path)), 401) << path;
}

TEST(CheckAccess, ProbesOpenByDefaultClosedWithAuthProbes) {
    for (const char* path : {"/healthz", "/readyz", "/healthcheck", "/metrics"}) {
        EXPECT_EQ(access_status(keyed(false), request("GET", path)), 0) << path;
        EXPECT_EQ(access_status(keyed(true), request("GET", path)), 401) << path;
        EXPECT_EQ(access_status(keyed(true), request("GET", path, {{"x-api-key", kKey}})), 0) << path;
    }
    EXPECT_EQ(access_status(keyed(true), request("GET", "/")), 0);  // the page stays open
}

AccessPolicy cors(std::vector<std::string> origins) { return {ApiKeys(), false, std::move(origins)}; }

Request from(const std::string& origin, const std::string& method = "POST") {
    return request(method, "/api/detect", {{"origin", origin}});
}

TEST(Cors, OffByDefault) {
    Response r;
    server::add_cors_headers(cors({}), from("https://app.example.com"), r);
    EXPECT_TRUE(r.headers.empty());
    EXPECT_FALSE(server::origin_allowed(cors({}), from("https://app.example.com")));
}

TEST(Cors, ListedOriginGetsItselfWithVary) {
    const AccessPolicy p = cors({"https://app.example.com", "http://localhost:3000"});
    for (const char* origin : {"https://app.example.com", "http://localhost:3000"}) {
        Response r;
        server::add_cors_headers(p, from(origin), r);
        EXPECT_EQ(header(r, "Access-Control-Allow-Origin"), origin);
        EXPECT_EQ(header(r, "Vary"), "Origin");
        EXPECT_EQ(header(r, "Access-Control-Expose-Headers"), "X-Request-ID, Retry-After, Content-Disposition, X-Face-Count");
        EXPECT_EQ(header(r, "Access-Control-Allow-Credentials"), "(absent)");
    }
}

TEST(Cors, OtherOriginGetsNoCorsHeaderButVary) {
    const AccessPolicy p = cors({"https://app.example.com"});
    for (const Request& r : {from("https://evil.example.com"), from("https://app.example.com.evil.com"),
                             from("http://app.example.com"), from("https://APP.example.com"), from("null"),
                             request("POST", "/api/detect")}) {
        Response response;
        server::add_cors_headers(p, r, response);
        EXPECT_EQ(header(response, "Access-Control-Allow-Origin"), "(absent)");
        EXPECT_EQ(header(response, "Access-Control-Expose-Headers"), "(absent)");
        EXPECT_EQ(header(response, "Vary"), "Origin");  // a cache must not hand this answer to the listed origin
    }
}

TEST(Cors, AnyOrigin) {
    const AccessPolicy p = cors({"*"});
    for (const Request& r : {from("https://anywhere.example"), request("GET", "/healthz")}) {
        Response response;
        server::add_cors_headers(p, r, response);
        EXPECT_EQ(header(response, "Access-Control-Allow-Origin"), "*");
        EXPECT_EQ(header(response, "Vary"), "(absent)");
        EXPECT_EQ(header(response, "Access-Control-Expose-Headers"), "X-Request-ID, Retry-After, Content-Disposition, X-Face-Count");
    }
}

TEST(Cors, PreflightFor204AllowedOriginOnly) {
    const AccessPolicy p = cors({"https://app.example.com"});
    Request r = from("https://app.example.com", "OPTIONS");
    r.headers.push_back({"access-control-request-method", "POST"});
    r.headers.push_back({"access-control-request-headers", "x-api-key,content-type"});
    const Response ok = server::preflight_response(p, r, "POST");
    EXPECT_EQ(ok.status, 204);
    EXPECT_EQ(ok.body, "");
    EXPECT_EQ(header(ok, "Allow"), "POST, OPTIONS");
    EXPECT_EQ(header(ok, "Access-Control-Allow-Methods"), "POST");
    EXPECT_EQ(header(ok, "Access-Control-Allow-Headers"), "Content-Type, Authorization, X-API-Key, X-Request-ID");
    EXPECT_EQ(header(ok, "Access-Control-Max-Age"), "600");

    const Response other = server::preflight_response(p, from("https://evil.example.com", "OPTIONS"), "GET, HEAD");
    EXPECT_EQ(other.status, 204);
    EXPECT_EQ(header(other, "Allow"), "GET, HEAD, OPTIONS");
    EXPECT_EQ(header(other, "Access-Control-Allow-Methods"), "(absent)");
    EXPECT_EQ(header(other, "Access-Control-Allow-Headers"), "(absent)");

    const Response any = server::preflight_response(cors({"*"}), from("https://x.example", "OPTIONS"), "POST");
    EXPECT_EQ(header(any, "Access-Control-Allow-Methods"), "POST");
}

}  // namespace
