// HTTP/1.1 parsing on hostile input: request heads, body framing, the chunked
// coding, query strings, media types and multipart forms.
#include "server/http_message.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/support/http_status.h"

namespace {

using namespace server::http;

using testing_support::status_of;

TEST(RequestHead, ParsesLineHeadersAndQuery) {
    const Request r = parse_request_head(
        "POST /api/detect?confidence=0.99 HTTP/1.1\r\nHost: localhost:8000\r\nContent-Type:  image/jpeg \r\nX-Empty:");
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, "/api/detect?confidence=0.99");
    EXPECT_EQ(r.path, "/api/detect");
    EXPECT_EQ(r.query, "confidence=0.99");
    EXPECT_EQ(r.minor_version, 1);
    ASSERT_EQ(r.headers.size(), 3u);
    EXPECT_EQ(r.header("content-type"), std::optional<std::string_view>("image/jpeg"));
    EXPECT_EQ(r.header("host"), std::optional<std::string_view>("localhost:8000"));
    EXPECT_EQ(r.header("x-empty"), std::optional<std::string_view>(""));
    EXPECT_EQ(r.header("accept"), std::nullopt);
}

TEST(RequestHead, Http10) { EXPECT_EQ(parse_request_head("GET / HTTP/1.0").minor_version, 0); }

TEST(RequestHead, RefusesMalformedHeads) {
    EXPECT_EQ(status_of([] { parse_request_head(""); }), 400);
    EXPECT_EQ(status_of([] { parse_request_head("GET /"); }), 400);
    EXPECT_EQ(status_of([] { parse_request_head("GET  / HTTP/1.1"); }), 400);
    EXPECT_EQ(status_of([] { parse_request_head("GET / HTTP/1.1 x"); }), 400);
    EXPECT_EQ(status_of([] { parse_request_head("G(T / HTTP/1.1"); }), 400);
    EXPECT_EQ(status_of([] { parse_request_head("GET healthz HTTP/1.1"); }), 400);
    EXPECT_EQ(status_of([] { parse_request_head("GET http://x/ HTTP/1.1"); }), 400);
    EXPECT_EQ(status_of([] { parse_request_head("GET / FTP/1.1"); }), 400);
    EXPECT_EQ(status_of([] { parse_request_head("GET / HTTP/2.0"); }), 505);
    EXPECT_EQ(status_of([] { parse_request_head("GET / HTTP/1.1\r\nHost : x"); }), 400);  // space before colon
    EXPECT_EQ(status_of([] { parse_request_head("GET / HTTP/1.1\r\nHost: x\r\n folded"); }), 400);
    EXPECT_EQ(status_of([] { parse_request_head("GET / HTTP/1.1\r\nNoColon"); }), 400);
    EXPECT_EQ(status_of([] { parse_request_head("GET / HTTP/1.1\r\nX: a\rb"); }), 400);
    static const char kNul[] = "GET / HTTP/1.1\r\nX: a\0b";
    EXPECT_EQ(status_of([] { parse_request_head(std::string(kNul, sizeof kNul - 1)); }), 400);
    EXPECT_EQ(status_of([] { parse_request_head("GET / HTTP/1.1\r\n\r\nX: y"); }), 400);
}

TEST(RequestHead, RefusesTooManyHeaders) {
    std::string head = "GET / HTTP/1.1";
    for (int i = 0; i < 101; ++i) head += "\r\nX-" + std::to_string(i) + ": v";
    EXPECT_EQ(status_of([&] { parse_request_head(head); }), 431);
}

Request with_headers(const std::string& headers, const char* version = "HTTP/1.1") {
    return parse_request_head(std::string("POST / ") + version + (headers.empty() ? "" : "\r\n" + headers));
}

TEST(BodyFraming, NoneLengthChunked) {
    EXPECT_EQ(body_framing(with_headers(""), 100).kind, BodyFraming::Kind::none);
    const BodyFraming f = body_framing(with_headers("Content-Length: 42"), 100);
    EXPECT_EQ(f.kind, BodyFraming::Kind::sized);
    EXPECT_EQ(f.length, 42u);
    EXPECT_EQ(body_framing(with_headers("Content-Length: 0"), 100).length, 0u);
    EXPECT_EQ(body_framing(with_headers("Content-Length: 100"), 100).length, 100u);
    EXPECT_EQ(body_framing(with_headers("Content-Length: 7\r\nContent-Length: 7"), 100).length, 7u);
    EXPECT_EQ(body_framing(with_headers("Content-Length: 007"), 100).length, 7u);
    EXPECT_EQ(body_framing(with_headers("Transfer-Encoding: Chunked"), 100).kind, BodyFraming::Kind::chunked);
}

TEST(BodyFraming, RefusesAmbiguousOrUnsupported) {
    EXPECT_EQ(status_of([] { body_framing(with_headers("Content-Length: 5\r\nTransfer-Encoding: chunked"), 100); }), 400);
    EXPECT_EQ(status_of([] { body_framing(with_headers("Content-Length: 5\r\nContent-Length: 6"), 100); }), 400);
    EXPECT_EQ(status_of([] { body_framing(with_headers("Content-Length: 5, 6"), 100); }), 400);
    EXPECT_EQ(status_of([] { body_framing(with_headers("Content-Length: +5"), 100); }), 400);
    EXPECT_EQ(status_of([] { body_framing(with_headers("Content-Length: 0x10"), 100); }), 400);
    EXPECT_EQ(status_of([] { body_framing(with_headers("Content-Length: -1"), 100); }), 400);
    EXPECT_EQ(status_of([] { body_framing(with_headers("Content-Length:"), 100); }), 400);
    EXPECT_EQ(status_of([] { body_framing(with_headers("Transfer-Encoding: gzip, chunked"), 100); }), 501);
    EXPECT_EQ(status_of([] { body_framing(with_headers("Transfer-Encoding: identity"), 100); }), 501);
}

TEST(BodyFraming, OverTheLimitFromTheHeader) {
    EXPECT_EQ(status_of([] { body_framing(with_headers("Content-Length: 101"), 100); }), 413);
    EXPECT_EQ(status_of([] { body_framing(with_headers("Content-Length: 18446744073709551615"), 100); }), 413);
    EXPECT_EQ(status_of([] { body_framing(with_headers("Content-Length: 99999999999999999999999999"), 100); }), 413);
}

TEST(KeepAlive, FollowsVersionAndConnection) {
    EXPECT_TRUE(keep_alive(with_headers("")));
    EXPECT_FALSE(keep_alive(with_headers("Connection: close")));
    EXPECT_FALSE(keep_alive(with_headers("Connection: TE, Close")));
    EXPECT_FALSE(keep_alive(with_headers("", "HTTP/1.0")));
    EXPECT_TRUE(keep_alive(with_headers("Connection: keep-alive", "HTTP/1.0")));
}

TEST(ExpectContinue, OnlyHundredContinue) {
    EXPECT_FALSE(expects_continue(with_headers("")));
    EXPECT_TRUE(expects_continue(with_headers("Expect: 100-Continue")));
    EXPECT_FALSE(expects_continue(with_headers("Expect: 100-continue", "HTTP/1.0")));
    EXPECT_EQ(status_of([] { expects_continue(with_headers("Expect: something")); }), 417);
}

// Feeds `wire` in pieces of `step` bytes; returns the body and how much was consumed.
std::pair<std::string, std::size_t> dechunk(const std::string& wire, std::size_t step, std::uint64_t max_body = 1000) {
    ChunkedDecoder d(max_body);
    std::string body;
    std::size_t used = 0;
    while (used < wire.size() && !d.done()) used += d.feed(std::string_view(wire).substr(used, step), body);
    if (!d.done()) throw std::runtime_error("not done");
    return {body, used};
}

TEST(Chunked, DecodesInAnyPieces) {
    const std::string wire = "5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nGET /next";
    for (std::size_t step : {1u, 2u, 3u, 7u, 1000u}) {
        const auto [body, used] = dechunk(wire, step);
        EXPECT_EQ(body, "hello 0123456789") << step;
        EXPECT_EQ(wire.substr(used), "GET /next") << step;  // the next request is left alone
    }
}

TEST(Chunked, RefusesAsSoonAsTheLimitIsPassed) {
    ChunkedDecoder d(10);
    std::string body;
    d.feed("5\r\nhello\r\n", body);
    // The second chunk's size line alone is enough: its data is never read.
    EXPECT_EQ(status_of([&] { d.feed("6\r\n", body); }), 413);
    EXPECT_EQ(body, "hello");
    EXPECT_EQ(status_of([] { dechunk("ffffffffffffffffffff\r\n", 100); }), 413);
    EXPECT_EQ(dechunk("a\r\n0123456789\r\n0\r\n\r\n", 100, 10).first, "0123456789");  // exactly the limit
}

TEST(Chunked, RefusesMalformed) {
    EXPECT_EQ(status_of([] { dechunk("x\r\n", 100); }), 400);
    EXPECT_EQ(status_of([] { dechunk("5 x\r\nhello\r\n0\r\n\r\n", 100); }), 400);
    EXPECT_EQ(status_of([] { dechunk("5\nhello\r\n0\r\n\r\n", 100); }), 400);         // bare LF
    EXPECT_EQ(status_of([] { dechunk("3\r\nhello\r\n0\r\n\r\n", 100); }), 400);       // data longer than its size
    EXPECT_EQ(status_of([] { dechunk(std::string(5000, '0') + "\r\n", 100); }), 400);  // endless size line
}

TEST(Query, DecodesPairs) {
    const auto q = parse_query("confidence=0.99&a=%41+b&flag&&x=1=2&=v");
    ASSERT_EQ(q.size(), 5u);
    EXPECT_EQ(q[0], (std::pair<std::string, std::string>{"confidence", "0.99"}));
    EXPECT_EQ(q[1], (std::pair<std::string, std::string>{"a", "A b"}));
    EXPECT_EQ(q[2], (std::pair<std::string, std::string>{"flag", ""}));
    EXPECT_EQ(q[3], (std::pair<std::string, std::string>{"x", "1=2"}));
    EXPECT_EQ(q[4], (std::pair<std::string, std::string>{"", "v"}));
    EXPECT_TRUE(parse_query("").empty());
    EXPECT_EQ(status_of([] { parse_query("a=%4"); }), 400);
    EXPECT_EQ(status_of([] { parse_query("a=%"); }), 400);
    EXPECT_EQ(status_of([] { parse_query("a=%zz"); }), 400);
    EXPECT_EQ(percent_decode("a+b%2B", false), "a+b+");
}

TEST(MediaType, TypeAndParameters) {
    const MediaType m = parse_media_type("Multipart/Form-Data; boundary=\"a b\\\"c\"; charset=utf-8;");
    EXPECT_EQ(m.type, "multipart/form-data");
    EXPECT_EQ(m.params.at("boundary"), "a b\"c");
    EXPECT_EQ(m.params.at("charset"), "utf-8");
    EXPECT_EQ(parse_media_type("image/jpeg").type, "image/jpeg");
    EXPECT_EQ(parse_media_type("form-data; name=\"image\"; filename=\"x.jpg\"").params.at("filename"), "x.jpg");
    EXPECT_EQ(status_of([] { parse_media_type("image/"); }), 400);
    EXPECT_EQ(status_of([] { parse_media_type("a/b; x"); }), 400);
    EXPECT_EQ(status_of([] { parse_media_type("a/b; x=\"unterminated"); }), 400);
}

// What curl -F sends.
std::string form(const std::string& boundary, const std::string& name, const std::string& data) {
    return "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name +
           "\"; filename=\"ivan.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n" + data + "\r\n--" + boundary + "--\r\n";
}

TEST(Multipart, ParsesCurlForms) {
    static const char kData[] = "\xff\xd8 binary \r\n--not-the-boundary\r\n\0 end";
    const std::string data(kData, sizeof kData - 1);
    const std::string body = form("------------------------abc123", "image", data);
    const auto parts = parse_multipart(body, "------------------------abc123");
    ASSERT_EQ(parts.size(), 1u);
    EXPECT_EQ(parts[0].name, "image");
    EXPECT_EQ(parts[0].filename, "ivan.jpg");
    EXPECT_EQ(parts[0].content_type, "image/jpeg");
    EXPECT_EQ(parts[0].data, data);
}

TEST(Multipart, SeveralPartsPreambleAndNoHeaders) {
    const std::string body =
        "preamble\r\n--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b  \r\n"
        "content-disposition: form-data; name=image\r\n\r\n\r\n--b--epilogue";
    const auto parts = parse_multipart(body, "b");
    ASSERT_EQ(parts.size(), 2u);
    EXPECT_EQ(parts[0].name, "a");
    EXPECT_EQ(parts[0].data, "1");
    EXPECT_EQ(parts[1].name, "image");
    EXPECT_EQ(parts[1].data, "");
}

TEST(Multipart, RefusesMalformed) {
    EXPECT_EQ(status_of([] { parse_multipart("no delimiter here", "b"); }), 400);
    EXPECT_EQ(status_of([] { parse_multipart("--b\r\nContent-Disposition: form-data; name=a\r\n\r\ndata", "b"); }), 400);
    EXPECT_EQ(status_of([] { parse_multipart("--b\r\nContent-Disposition: form-data; name=a", "b"); }), 400);
    EXPECT_EQ(status_of([] { parse_multipart("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--", "b"); }), 400);
    EXPECT_EQ(status_of([] { parse_multipart("--bx\r\n", "b"); }), 400);
    EXPECT_EQ(status_of([] { parse_multipart("--b--", ""); }), 400);
    std::string many;
    for (std::size_t i = 0; i <= kMaxFormParts; ++i) many += "--b\r\nContent-Disposition: form-data; name=p\r\n\r\nx\r\n";
    many += "--b--";
    EXPECT_EQ(status_of([&] { parse_multipart(many, "b"); }), 400);
}

TEST(Responses, ErrorsAreJsonDetails) {
    const Response r = error_response(413, "too big \xff");
    EXPECT_EQ(r.status, 413);
    EXPECT_EQ(r.content_type, "application/json");
    const auto body = nlohmann::json::parse(r.body);
    EXPECT_TRUE(body.at("detail").is_string());
    EXPECT_EQ(reason_phrase(413), "Content Too Large");
}

}  // namespace
