// libFuzzer target: the HTTP parsing of server/http_message.h.
//
// An input is split at its first '\n': the line before it is a multipart
// boundary and a media type (Content-Type / Content-Disposition value), the
// rest is a request head (up to a blank line), a query string, a chunked
// body and a multipart body all at once, so one corpus file exercises every
// parser. HttpError is the documented answer to bad input; any other
// exception, a sanitizer report or a broken invariant (abort) is a bug.
//
// The chunked decoder is also checked against itself: the same bytes fed in
// one call and fed one byte at a time must give the same body, the same
// count of bytes consumed and the same error, as a socket may deliver a
// request in any pieces.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "server/http_message.h"

namespace {

namespace http = server::http;

constexpr std::uint64_t kFuzzMaxBody = 1 << 16;

void check(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "fuzz_http: invariant broken: %s\n", what);
    std::abort();
}

void parse_head(std::string_view text) {
    const std::string_view head = text.substr(0, text.find("\r\n\r\n"));
    http::Request request;
    try {
        request = http::parse_request_head(head);
    } catch (const http::HttpError& e) {
        check(e.status() >= 400 && e.status() < 600, "parse_request_head: status outside 4xx/5xx");
        return;
    }
    check(!request.method.empty() && !request.target.empty(), "parsed an empty method or target");
    check(request.path + (request.target.find('?') == std::string::npos ? "" : "?" + request.query) ==
              request.target,
          "path and query do not make the target");
    try {
        const http::BodyFraming framing = http::body_framing(request, kFuzzMaxBody);
        check(framing.kind != http::BodyFraming::Kind::sized || framing.length <= kFuzzMaxBody,
              "body_framing accepted a length over the limit");
    } catch (const http::HttpError&) {
    }
    (void)http::keep_alive(request);
    try {
        (void)http::expects_continue(request);
    } catch (const http::HttpError&) {
    }
    try {
        (void)http::parse_query(request.query);
    } catch (const http::HttpError&) {
    }
    if (const auto type = request.header("content-type")) {
        try {
            (void)http::parse_media_type(*type);
        } catch (const http::HttpError&) {
        }
    }
}

struct ChunkedResult {
    std::string body;
    std::size_t used = 0;
    bool done = false;
    std::optional<int> error;  // HttpError's status
};

ChunkedResult dechunk(std::string_view data, std::size_t piece) {
    ChunkedResult result;
    http::ChunkedDecoder decoder(kFuzzMaxBody);
    try {
        while (result.used < data.size() && !decoder.done()) {
            const std::string_view next = data.substr(result.used, piece);
            const std::size_t n = decoder.feed(next, result.body);
            check(n <= next.size(), "ChunkedDecoder consumed more than it was given");
            result.used += n;
            // It stops early only at the end of the message.
            if (n < next.size()) check(decoder.done(), "ChunkedDecoder stopped before the end");
        }
    } catch (const http::HttpError& e) {
        result.error = e.status();
    }
    result.done = decoder.done();
    check(result.body.size() <= kFuzzMaxBody, "chunked body over the limit");
    return result;
}

void parse_chunked(std::string_view data) {
    const ChunkedResult whole = dechunk(data, data.size());
    const ChunkedResult bytewise = dechunk(data, 1);
    check(whole.error == bytewise.error, "chunked: the error depends on how the bytes arrive");
    if (whole.error) return;  // the body at the error depends on how far each got
    check(whole.body == bytewise.body && whole.used == bytewise.used && whole.done == bytewise.done,
          "chunked: the result depends on how the bytes arrive");
}

void parse_text(std::string_view text) {
    for (const bool plus_is_space : {false, true}) {
        try {
            check(http::percent_decode(text, plus_is_space).size() <= text.size(),
                  "percent_decode grew its input");
        } catch (const http::HttpError&) {
        }
    }
    try {
        (void)http::parse_query(text);
    } catch (const http::HttpError&) {
    }
}

void parse_form(std::string_view body, std::string_view boundary) {
    try {
        for (const http::FormPart& part : http::parse_multipart(body, boundary)) {
            check(part.data.data() >= body.data() && part.data.data() + part.data.size() <= body.data() + body.size(),
                  "a form part's data lies outside the body");
        }
    } catch (const http::HttpError&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto newline = input.find('\n');
    const std::string_view first_line = input.substr(0, newline);
    const std::string_view rest = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

    try {
        (void)http::parse_media_type(first_line);
    } catch (const http::HttpError&) {
    }
    parse_head(rest);
    parse_text(rest);
    parse_chunked(rest);
    parse_form(rest, first_line);
    return 0;
}
