// HTTP/1.1 messages for the face service: request heads, body framing, the
// chunked transfer coding, query strings, media types and multipart forms.
// Pure functions over bytes (no sockets), so tests/server/http_message_test.cpp
// can feed them hostile input directly; server/http_server.cpp does the I/O.
//
// Why our own: Debian 12's libcpp-httplib-dev ships cpp-httplib split into a
// declarations-only header and a shared library with no static archive, so it
// cannot go into the fully static face-service binary.
//
// Rules (RFC 9110 / 9112), chosen to be strict where leniency lets one
// request be read two ways:
// - Head lines end with CRLF; a line folded onto the next (obs-fold), a space
//   before a header's colon, a control character in a value: 400.
// - Only HTTP/1.0 and HTTP/1.1; another HTTP version: 505.
// - Transfer-Encoding and Content-Length together: 400. A transfer coding
//   other than exactly "chunked": 501. Content-Length not all digits, or
//   several that differ: 400. Larger than the body limit: 413, known from the
//   header, before a byte of the body is read.
// - A chunked body is refused (413) as soon as the chunk sizes announced so
//   far add up past the limit; a malformed chunk line: 400.
// - Expect: 100-continue is honoured; any other expectation: 417.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace server::http {

// An error the client caused, with the status that answers it. The detail is
// sent to the client as {"detail": ...}.
class HttpError : public std::runtime_error {
public:
    HttpError(int status, const std::string& detail) : std::runtime_error(detail), status_(status) {}
    int status() const { return status_; }

private:
    int status_;
};

struct Header {
    std::string name;  // lower-case
    std::string value;  // without surrounding spaces
};

struct Request {
    std::string method;  // case-sensitive, as sent ("GET", "POST")
    std::string target;  // as sent: path and query
    std::string path;    // target before '?', not percent-decoded
    std::string query;   // target after '?', not percent-decoded
    int minor_version = 1;  // HTTP/1.x
    std::vector<Header> headers;
    std::string body;  // de-chunked
    // The request's id, set by the server before the handler runs: the
    // client's X-Request-ID when valid, else a fresh one (http_server.h).
    std::string id;

    // The first header of that (lower-case) name.
    std::optional<std::string_view> header(std::string_view name) const;
};

struct Response {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<Header> headers;  // extra: Allow, Retry-After, ...
    // Extra fields for the request's access-log line (server/log.h), e.g.
    // {"faces": 2}; never sent to the client.
    nlohmann::json log_fields = nlohmann::json::object();
};

Response json_response(int status, const nlohmann::json& body);
// {"detail": detail}: every error the service answers has this shape.
Response error_response(int status, const std::string& detail);
std::string_view reason_phrase(int status);

// The request line and header fields: `head` is everything before the blank
// line that ends them (no trailing CRLF). Throws HttpError.
Request parse_request_head(std::string_view head);

struct BodyFraming {
    enum class Kind { none, sized, chunked } kind = Kind::none;
    std::uint64_t length = 0;  // for `sized`: Content-Length
};

// How the body is delimited; HttpError 400, 413 (Content-Length over
// max_body) or 501.
BodyFraming body_framing(const Request& request, std::uint64_t max_body);

// Whether the connection may serve another request after this one.
bool keep_alive(const Request& request);

// Whether the client waits for "100 Continue" before sending the body;
// HttpError 417 for an expectation other than 100-continue.
bool expects_continue(const Request& request);

// Decodes the chunked transfer coding incrementally, appending the data to
// `body`. Trailer fields are read and dropped.
class ChunkedDecoder {
public:
    explicit ChunkedDecoder(std::uint64_t max_body) : max_body_(max_body) {}

    // Consumes bytes from `data` and returns how many; stops at the end of
    // the message (done()), so what follows belongs to the next request.
    // Throws HttpError 400 (malformed) or 413 (past max_body).
    std::size_t feed(std::string_view data, std::string& body);
    bool done() const { return state_ == State::done; }

private:
    enum class State { size_line, data, data_crlf, trailer, done };
    static constexpr std::size_t kMaxLine = 4096;  // chunk-size line with extensions, or a trailer line

    std::uint64_t max_body_;
    std::uint64_t total_ = 0;
    std::uint64_t remaining_ = 0;  // of the current chunk
    State state_ = State::size_line;
    std::string line_;
};

// "%41+b" -> "A b" when plus_is_space. HttpError 400 for a bad escape.
std::string percent_decode(std::string_view text, bool plus_is_space);

// name=value pairs of a query string, decoded, in order; a key without '='
// has an empty value. HttpError 400 for a bad escape.
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query);

struct MediaType {
    std::string type;  // lower-case "type/subtype", or a bare token for Content-Disposition
    std::map<std::string, std::string> params;  // lower-case names; quoted values unquoted
};

// `type/subtype; name=value; name="quoted"`. HttpError 400 when malformed.
MediaType parse_media_type(std::string_view text);

struct FormPart {
    std::string name;      // Content-Disposition name
    std::string filename;  // may be empty
    std::string content_type;
    std::string_view data;  // points into the body
};

// multipart/form-data (RFC 7578): the parts of `body` delimited by
// `boundary`. HttpError 400 for a missing delimiter, an unterminated part or a
// part without Content-Disposition: form-data and a name.
std::vector<FormPart> parse_multipart(std::string_view body, std::string_view boundary);

inline constexpr std::size_t kMaxFormParts = 64;

}  // namespace server::http
