#include "server/http_message.h"

#include <algorithm>
#include <cctype>

#include "server/ascii.h"

namespace server::http {
namespace {

constexpr std::size_t kMaxHeaders = 100;

bool is_tchar(char c) {
    // RFC 9110 5.6.2 token characters.
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar); }

using ascii::lower;
using ascii::trim;

// Comma-separated list elements of every header of that name, trimmed, lower-case, empty ones dropped.
std::vector<std::string> header_list(const Request& r, std::string_view name) {
    std::vector<std::string> out;
    for (const Header& h : r.headers) {
        if (h.name != name) continue;
        std::string_view rest = h.value;
        while (true) {
            const auto comma = rest.find(',');
            const std::string_view item = trim(rest.substr(0, comma));
            if (!item.empty()) out.push_back(lower(item));
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
    }
    return out;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Parameters after a media type or disposition: `; name=value; name="quoted \" value"`.
std::map<std::string, std::string> parse_params(std::string_view s, std::string_view what) {
    std::map<std::string, std::string> params;
    const HttpError bad(400, "malformed " + std::string(what));
    while (true) {
        s = trim(s);
        if (s.empty()) return params;
        if (s.front() != ';') throw bad;
        s.remove_prefix(1);
        s = trim(s);
        if (s.empty()) return params;  // a trailing ';' is tolerated
        const auto eq = s.find('=');
        if (eq == std::string_view::npos) throw bad;
        const std::string_view name = trim(s.substr(0, eq));
        if (!is_token(name)) throw bad;
        s.remove_prefix(eq + 1);
        s = trim(s);
        std::string value;
        if (!s.empty() && s.front() == '"') {
            std::size_t i = 1;
            for (; i < s.size() && s[i] != '"'; ++i) {
                if (s[i] == '\\' && i + 1 < s.size()) ++i;
                value += s[i];
            }
            if (i >= s.size()) throw bad;  // no closing quote
            s.remove_prefix(i + 1);
        } else {
            std::size_t i = 0;
            while (i < s.size() && s[i] != ';' && s[i] != ' ' && s[i] != '\t') ++i;
            value = std::string(s.substr(0, i));
            s.remove_prefix(i);
        }
        params[lower(name)] = std::move(value);
    }
}

}  // namespace

std::optional<std::string_view> Request::header(std::string_view name) const {
    for (const Header& h : headers)
        if (h.name == name) return std::string_view(h.value);
    return std::nullopt;
}

Response json_response(int status, const nlohmann::json& body) {
    Response r;
    r.status = status;
    // Replace rather than throw on invalid UTF-8 (a detail may quote input).
    r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return r;
}

Response error_response(int status, const std::string& detail) { return json_response(status, {{"detail", detail}}); }

std::string_view reason_phrase(int status) {
    switch (status) {
        case 100: return "Continue";
        case 200: return "OK";
        case 204: return "No Content";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 413: return "Content Too Large";
        case 415: return "Unsupported Media Type";
        case 417: return "Expectation Failed";
        case 422: return "Unprocessable Content";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 503: return "Service Unavailable";
        case 505: return "HTTP Version Not Supported";
        default: return "Unknown";
    }
}

Request parse_request_head(std::string_view head) {
    Request r;
    auto next_line = [&head]() -> std::optional<std::string_view> {
        if (head.empty()) return std::nullopt;
        const auto end = head.find("\r\n");
        const std::string_view line = head.substr(0, end);
        head.remove_prefix(end == std::string_view::npos ? head.size() : end + 2);
        return line;
    };

    const std::string_view line = next_line().value_or("");
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
        throw HttpError(400, "malformed request line");
    const std::string_view method = line.substr(0, sp1);
    const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = line.substr(sp2 + 1);
    if (!is_token(method)) throw HttpError(400, "malformed request method");
    if (target.empty() || !(target.front() == '/' || target == "*") ||
        std::any_of(target.begin(), target.end(), [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }))
        throw HttpError(400, "malformed request target");
    if (version == "HTTP/1.1")
        r.minor_version = 1;
    else if (version == "HTTP/1.0")
        r.minor_version = 0;
    else if (version.starts_with("HTTP/") && version.size() == 8 && std::isdigit(static_cast<unsigned char>(version[5])) &&
             version[6] == '.' && std::isdigit(static_cast<unsigned char>(version[7])))
        throw HttpError(505, "only HTTP/1.0 and HTTP/1.1 are served");
    else
        throw HttpError(400, "malformed HTTP version");
    r.method = std::string(method);
    r.target = std::string(target);
    const auto q = target.find('?');
    r.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) r.query = std::string(target.substr(q + 1));

    while (auto field = next_line()) {
        if (field->empty()) throw HttpError(400, "empty header line");
        if (field->front() == ' ' || field->front() == '\t') throw HttpError(400, "folded header lines are not accepted");
        const auto colon = field->find(':');
        if (colon == std::string_view::npos) throw HttpError(400, "header line without a colon");
        const std::string_view name = field->substr(0, colon);
        if (!is_token(name)) throw HttpError(400, "malformed header name");
        const std::string_view value = trim(field->substr(colon + 1));
        if (std::any_of(value.begin(), value.end(), [](char c) {
                const auto u = static_cast<unsigned char>(c);
                return (u < 0x20 && c != '\t') || u == 0x7f;
            }))
            throw HttpError(400, "control character in header " + std::string(name));
        if (r.headers.size() >= kMaxHeaders) throw HttpError(431, "too many header fields");
        r.headers.push_back({lower(name), std::string(value)});
    }
    return r;
}

BodyFraming body_framing(const Request& r, std::uint64_t max_body) {
    const std::vector<std::string> codings = header_list(r, "transfer-encoding");
    const bool has_te = r.header("transfer-encoding").has_value();
    const std::vector<std::string> lengths = header_list(r, "content-length");
    const bool has_cl = r.header("content-length").has_value();
    if (has_te && has_cl) throw HttpError(400, "both Transfer-Encoding and Content-Length");
    if (has_te) {
        if (codings.size() != 1 || codings[0] != "chunked")
            throw HttpError(501, "only the chunked transfer coding is supported");
        return {BodyFraming::Kind::chunked, 0};
    }
    if (!has_cl) return {};
    if (lengths.empty()) throw HttpError(400, "empty Content-Length");
    for (const std::string& l : lengths) {
        if (l != lengths[0]) throw HttpError(400, "conflicting Content-Length values");
        if (!std::all_of(l.begin(), l.end(), [](char c) { return c >= '0' && c <= '9'; }))
            throw HttpError(400, "malformed Content-Length");
    }
    const std::string& digits = lengths[0];
    const auto first = digits.find_first_not_of('0');
    const std::size_t significant = first == std::string::npos ? 0 : digits.size() - first;
    // 19 digits always fit in 64 bits; more is past any limit.
    std::uint64_t length = 0;
    if (significant > 19) length = UINT64_MAX;
    else if (significant > 0) length = std::stoull(digits.substr(first));
    if (length > max_body)
        throw HttpError(413, "body of " + digits + " bytes is over the limit of " + std::to_string(max_body) + " bytes");
    return {BodyFraming::Kind::sized, length};
}

bool keep_alive(const Request& r) {
    const std::vector<std::string> options = header_list(r, "connection");
    const auto has = [&](std::string_view o) { return std::find(options.begin(), options.end(), o) != options.end(); };
    if (has("close")) return false;
    return r.minor_version >= 1 || has("keep-alive");
}

bool expects_continue(const Request& r) {
    const std::vector<std::string> expect = header_list(r, "expect");
    if (expect.empty()) return false;
    if (expect.size() != 1 || expect[0] != "100-continue") throw HttpError(417, "only Expect: 100-continue is supported");
    return r.minor_version >= 1;
}

std::size_t ChunkedDecoder::feed(std::string_view data, std::string& body) {
    std::size_t used = 0;
    // Reads up to and including LF into line_; returns the line without CRLF once complete.
    auto take_line = [&]() -> std::optional<std::string> {
        while (used < data.size()) {
            const char c = data[used++];
            if (c == '\n') {
                if (line_.empty() || line_.back() != '\r') throw HttpError(400, "chunked body: line not ended by CRLF");
                line_.pop_back();
                return std::exchange(line_, {});
            }
            line_ += c;
            if (line_.size() > kMaxLine) throw HttpError(400, "chunked body: line too long");
        }
        return std::nullopt;
    };

    while (used < data.size() && state_ != State::done) {
        switch (state_) {
            case State::size_line: {
                const auto line = take_line();
                if (!line) break;
                // chunk-size [ chunk-ext ]: hex digits, then optional "; ext" (ignored).
                std::uint64_t size = 0;
                std::size_t i = 0;
                for (; i < line->size() && hex_value((*line)[i]) >= 0; ++i) {
                    if (size > (UINT64_MAX >> 4)) throw HttpError(413, "chunked body over the limit of " + std::to_string(max_body_) + " bytes");
                    size = size * 16 + static_cast<std::uint64_t>(hex_value((*line)[i]));
                }
                if (i == 0) throw HttpError(400, "chunked body: malformed chunk size");
                const std::string_view rest = trim(std::string_view(*line).substr(i));
                if (!rest.empty() && rest.front() != ';') throw HttpError(400, "chunked body: malformed chunk size");
                if (size > max_body_ - total_)
                    throw HttpError(413, "chunked body over the limit of " + std::to_string(max_body_) + " bytes");
                total_ += size;
                remaining_ = size;
                state_ = size == 0 ? State::trailer : State::data;
                break;
            }
            case State::data: {
                const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size() - used));
                body.append(data.substr(used, n));
                used += n;
                remaining_ -= n;
                if (remaining_ == 0) state_ = State::data_crlf;
                break;
            }
            case State::data_crlf: {
                const auto line = take_line();
                if (!line) break;
                if (!line->empty()) throw HttpError(400, "chunked body: chunk longer than its size");
                state_ = State::size_line;
                break;
            }
            case State::trailer: {
                const auto line = take_line();
                if (!line) break;
                if (line->empty()) state_ = State::done;
                break;
            }
            case State::done: break;
        }
    }
    return used;
}

std::string percent_decode(std::string_view text, bool plus_is_space) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '%') {
            if (i + 2 >= text.size()) throw HttpError(400, "malformed percent-encoding in the query");
            const int hi = hex_value(text[i + 1]);
            const int lo = hex_value(text[i + 2]);
            if (hi < 0 || lo < 0) throw HttpError(400, "malformed percent-encoding in the query");
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query) {
    std::vector<std::pair<std::string, std::string>> out;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view item = query.substr(0, amp);
        if (!item.empty()) {
            const auto eq = item.find('=');
            out.emplace_back(percent_decode(item.substr(0, eq), true),
                             eq == std::string_view::npos ? std::string() : percent_decode(item.substr(eq + 1), true));
        }
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return out;
}

MediaType parse_media_type(std::string_view text) {
    text = trim(text);
    const auto semi = text.find(';');
    const std::string_view type = trim(text.substr(0, semi));
    const auto slash = type.find('/');
    const bool ok = slash == std::string_view::npos ? is_token(type)
                                                    : is_token(type.substr(0, slash)) && is_token(type.substr(slash + 1));
    if (!ok) throw HttpError(400, "malformed media type");
    MediaType m;
    m.type = lower(type);
    if (semi != std::string_view::npos) m.params = parse_params(text.substr(semi), "media type parameters");
    return m;
}

std::vector<FormPart> parse_multipart(std::string_view body, std::string_view boundary) {
    if (boundary.empty() || boundary.size() > 200) throw HttpError(400, "multipart body: missing or overlong boundary");
    const std::string delimiter = "--" + std::string(boundary);
    const std::string next_delimiter = "\r\n" + delimiter;

    // The first delimiter starts the body or follows a preamble and CRLF.
    std::size_t pos = 0;
    if (!body.starts_with(delimiter)) {
        pos = body.find(next_delimiter);
        if (pos == std::string_view::npos) throw HttpError(400, "multipart body: boundary not found");
        pos += 2;
    }
    std::vector<FormPart> parts;
    while (true) {
        pos += delimiter.size();
        if (body.substr(pos, 2) == "--") return parts;  // close delimiter; an epilogue is ignored
        while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;  // transport padding
        if (body.substr(pos, 2) != "\r\n") throw HttpError(400, "multipart body: malformed boundary line");
        pos += 2;
        if (parts.size() >= kMaxFormParts) throw HttpError(400, "multipart body: too many parts");

        // Part headers, then a blank line.
        std::string_view headers;
        if (body.substr(pos, 2) == "\r\n") {
            pos += 2;
        } else {
            const auto end = body.find("\r\n\r\n", pos);
            if (end == std::string_view::npos) throw HttpError(400, "multipart body: unterminated part headers");
            headers = body.substr(pos, end - pos);
            pos = end + 4;
        }
        const auto end = body.find(next_delimiter, pos);
        if (end == std::string_view::npos) throw HttpError(400, "multipart body: unterminated part");

        FormPart part;
        part.data = body.substr(pos, end - pos);
        bool form_data = false;
        while (!headers.empty()) {
            const auto eol = headers.find("\r\n");
            const std::string_view line = headers.substr(0, eol);
            headers.remove_prefix(eol == std::string_view::npos ? headers.size() : eol + 2);
            const auto colon = line.find(':');
            if (colon == std::string_view::npos) throw HttpError(400, "multipart body: malformed part header");
            const std::string name = lower(trim(line.substr(0, colon)));
            const std::string_view value = trim(line.substr(colon + 1));
            if (name == "content-disposition") {
                const MediaType d = parse_media_type(value);
                if (d.type != "form-data") continue;
                form_data = true;
                if (auto it = d.params.find("name"); it != d.params.end()) part.name = it->second;
                if (auto it = d.params.find("filename"); it != d.params.end()) part.filename = it->second;
            } else if (name == "content-type") {
                part.content_type = std::string(value);
            }
        }
        if (!form_data) throw HttpError(400, "multipart body: part without Content-Disposition: form-data");
        parts.push_back(std::move(part));
        pos = end + 2;
    }
}

}  // namespace server::http
