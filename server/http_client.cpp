#include "server/http_client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "server/ascii.h"

namespace server::http_client {
namespace {

constexpr std::size_t kMaxHead = 64 * 1024;
constexpr std::size_t kMaxBody = 64 * 1024 * 1024;
constexpr std::size_t kReadChunk = 64 * 1024;

using ascii::lower;
using ascii::trim;

bool has_control_or_space(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == '\x7f'; });
}

// Whether the comma-separated `list` holds `token` (case-insensitive).
bool has_token(std::string_view list, std::string_view token) {
    while (!list.empty()) {
        const auto comma = list.find(',');
        if (lower(trim(list.substr(0, comma))) == token) return true;
        list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
    }
    return false;
}

template <typename T>
bool parse_number(std::string_view s, T& value, int base = 10) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value, base);
    return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

// Consumes and returns one CRLF-terminated line of `s` (without the CRLF).
std::string_view next_line(std::string_view& s) {
    const auto end = s.find("\r\n");
    const std::string_view line = s.substr(0, end);
    s.remove_prefix(end == std::string_view::npos ? s.size() : end + 2);
    return line;
}

// "HTTP/1.1 200 OK": the version, a space, three digits, then a space and a
// reason (possibly empty) or nothing.
bool parse_status_line(std::string_view line, int& minor, int& status) {
    if (line.size() < 12 || !line.starts_with("HTTP/1.") || line[8] != ' ' || (line.size() > 12 && line[12] != ' '))
        return false;
    return parse_number(line.substr(7, 1), minor) && parse_number(line.substr(9, 3), status) && status >= 100;
}

std::string label(const Endpoint& e) {
    const bool v6 = e.host.find(':') != std::string::npos;
    return (v6 ? "[" + e.host + "]" : e.host) + ":" + std::to_string(e.port);
}

}  // namespace

Endpoint parse_base_url(std::string_view url) {
    const auto bad = [url](const std::string& why) {
        return std::invalid_argument("invalid base URL \"" + std::string(url) + "\": " + why);
    };
    const std::string scheme = lower(url.substr(0, url.find("://")));
    if (scheme == "https")
        throw bad("https is not supported, only http://: from outside the cluster, reach the Service through "
                  "kubectl port-forward");
    if (url.find("://") == std::string_view::npos || scheme != "http") throw bad("it must start with http://");
    std::string_view rest = url.substr(7);
    if (rest.ends_with('/')) rest.remove_suffix(1);
    if (rest.find_first_of("/?#") != std::string_view::npos) throw bad("only http://HOST[:PORT] is accepted, no path or query");
    if (rest.find('@') != std::string_view::npos) throw bad("user info is not supported");

    Endpoint e;
    if (rest.starts_with('[')) {
        const auto close = rest.find(']');
        if (close == std::string_view::npos) throw bad("no ']' after the IPv6 address");
        e.host = std::string(rest.substr(1, close - 1));
        in6_addr addr{};
        if (::inet_pton(AF_INET6, e.host.c_str(), &addr) != 1) throw bad("\"" + e.host + "\" is not an IPv6 address");
        rest.remove_prefix(close + 1);
        if (!rest.empty() && !rest.starts_with(':')) throw bad("unexpected text after the IPv6 address");
    } else {
        e.host = std::string(rest.substr(0, rest.find(':')));
        rest.remove_prefix(e.host.size());
        const bool name_chars = std::all_of(e.host.begin(), e.host.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
        });
        if (e.host.empty()) throw bad("the host is empty");
        if (!name_chars) throw bad("\"" + e.host + "\" is not a host name or IPv4 address");
    }
    if (rest.starts_with(':')) {
        const std::string_view port = rest.substr(1);
        if (!parse_number(port, e.port) || e.port < 1 || e.port > 65535)
            throw bad("the port \"" + std::string(port) + "\" is not a number in 1..65535");
    }
    return e;
}

Client::Client(Endpoint endpoint, std::chrono::milliseconds timeout) : endpoint_(std::move(endpoint)), timeout_(timeout) {}

Client::~Client() { close(); }

Client::Client(Client&& other) noexcept
    : endpoint_(std::move(other.endpoint_)), timeout_(other.timeout_), fd_(std::exchange(other.fd_, -1)),
      buf_(std::move(other.buf_)), stats_(other.stats_), extra_headers_(std::move(other.extra_headers_)) {}

void Client::add_header(std::string name, std::string value) {
    const bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    });
    const bool printable = std::all_of(value.begin(), value.end(), [](char c) {
        return c == '\t' || (static_cast<unsigned char>(c) >= ' ' && c != '\x7f');
    });
    if (!token || !printable) throw std::invalid_argument("header \"" + name + "\" cannot be sent as given");
    extra_headers_ += name + ": " + value + "\r\n";
}

Reply Client::get(std::string_view target) { return request("GET", target, {}, {}); }

Reply Client::post(std::string_view target, std::string_view content_type, std::string_view body) {
    return request("POST", target, content_type, body);
}

void Client::fail(const std::string& what) const { throw std::runtime_error(label(endpoint_) + ": " + what); }

Reply Client::request(std::string_view method, std::string_view target, std::string_view content_type,
                      std::string_view body) {
    if (!target.starts_with('/') || has_control_or_space(target))
        throw std::invalid_argument("request target \"" + std::string(target) +
                                    "\" must start with '/' and hold no space or control character");
    if (content_type.find_first_of("\r\n") != std::string_view::npos)
        throw std::invalid_argument("content type holds a line break");

    // Head and body in one send: a separate small head would wait for the
    // server's delayed ACK (Nagle). The body is a photo, a few MiB at most.
    std::string message = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: " + label(endpoint_) + "\r\n";
    message += extra_headers_;
    if (method == "POST")
        message += "Content-Type: " + std::string(content_type) + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    message += "\r\n";
    message += body;

    try {
        const bool reused = fd_ >= 0;
        if (!reused) open();
        Reply reply;
        if (send_all(message) && read_reply(reply)) return reply;
        if (!reused) fail("the server closed the connection before replying");
        // Nothing of the reply came on a reused connection: the server had
        // closed it while idle and never saw the request. Send it once more.
        close();
        open();
        ++stats_.retries;
        if (send_all(message) && read_reply(reply)) return reply;
        fail("the server closed the connection before replying");
    } catch (...) {
        close();  // its state is unknown; the next request starts afresh
        throw;
    }
}

void Client::open() {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (const int rc = ::getaddrinfo(endpoint_.host.c_str(), std::to_string(endpoint_.port).c_str(), &hints, &found))
        fail(std::string("cannot resolve the host: ") + ::gai_strerror(rc));

    // Every address in turn: "localhost" may give ::1 first while the server
    // listens on 127.0.0.1 only.
    int error = 0;
    for (const addrinfo* a = found; a && fd_ < 0; a = a->ai_next) {
        const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            error = errno;
            continue;
        }
        // SO_SNDTIMEO also bounds connect() on Linux, which then fails with EINPROGRESS.
        const timeval tv{static_cast<time_t>(timeout_.count() / 1000), static_cast<suseconds_t>(timeout_.count() % 1000 * 1000)};
        const int one = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            fd_ = fd;
        } else {
            error = errno;
            ::close(fd);
        }
    }
    ::freeaddrinfo(found);
    if (fd_ < 0) fail("cannot connect: " + std::string(error == EINPROGRESS ? "timed out" : std::strerror(error)));
    buf_.clear();
    ++stats_.connections;
}

void Client::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buf_.clear();
}

// False when the peer has closed or reset the connection.
bool Client::send_all(std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) return false;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) fail("timed out sending the request");
        if (n < 0) fail("cannot send the request: " + std::string(std::strerror(errno)));
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// Appends what arrives to buf_; false when the peer has closed or reset the
// connection (a reset is read as the end, as a close: the framing cannot
// tell a truncated reply from a whole one anyway when closing frames it).
bool Client::fill() {
    const std::size_t old = buf_.size();
    buf_.resize(old + kReadChunk);
    ssize_t n;
    do n = ::recv(fd_, buf_.data() + old, kReadChunk, 0);
    while (n < 0 && errno == EINTR);
    const int error = errno;
    buf_.resize(old + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
    if (n < 0 && (error == EAGAIN || error == EWOULDBLOCK)) fail("timed out waiting for the reply");
    if (n < 0 && error != ECONNRESET) fail("cannot receive the reply: " + std::string(std::strerror(error)));
    return n > 0;
}

// Makes buf_ hold at least n bytes.
void Client::need(std::size_t n, const char* where) {
    while (buf_.size() < n)
        if (!fill()) fail(std::string("the connection closed in the middle of the ") + where);
}

// One CRLF-terminated line of a chunked body, consumed, without the CRLF.
std::string Client::read_line() {
    std::size_t end;
    while ((end = buf_.find("\r\n")) == std::string::npos) {
        if (buf_.size() > kMaxHead) fail("a chunk line over 64 KiB");
        if (!fill()) fail("the connection closed in the middle of the chunked body");
    }
    std::string line = buf_.substr(0, end);
    buf_.erase(0, end + 2);
    return line;
}

// False when the connection closed before any byte of the reply.
bool Client::read_reply(Reply& reply) {
    // The head; interim 1xx replies (100 Continue) are skipped.
    std::vector<std::pair<std::string, std::string>> headers;  // lower-case names
    int minor = 1;
    do {
        std::size_t end;
        while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
            if (buf_.size() > kMaxHead) fail("reply head over 64 KiB");
            if (!fill()) {
                if (buf_.empty()) return false;
                fail("the connection closed in the middle of the reply head");
            }
        }
        if (end > kMaxHead) fail("reply head over 64 KiB");
        const std::string head = buf_.substr(0, end);
        buf_.erase(0, end + 4);

        std::string_view rest = head;
        const std::string_view line = next_line(rest);
        if (!parse_status_line(line, minor, reply.status))
            fail("malformed status line \"" + std::string(line.substr(0, 200)) + "\"");
        headers.clear();
        while (!rest.empty()) {
            const std::string_view field = next_line(rest);
            const std::string_view name = field.substr(0, field.find(':'));
            if (name.size() == field.size() || name.empty() || has_control_or_space(name))
                fail("malformed header line \"" + std::string(field.substr(0, 200)) + "\"");
            headers.emplace_back(lower(name), std::string(trim(field.substr(name.size() + 1))));
        }
    } while (reply.status < 200);
    reply.headers = headers;

    std::optional<std::uint64_t> length;
    std::string transfer_encoding, connection;
    for (const auto& [name, value] : headers) {
        if (name == "content-type") reply.content_type = value;
        if (name == "transfer-encoding") transfer_encoding += (transfer_encoding.empty() ? "" : ", ") + value;
        if (name == "connection") connection += "," + value;
        if (name == "content-length") {
            std::uint64_t n = 0;
            if (!parse_number(std::string_view(value), n) || (length && *length != n))
                fail("malformed Content-Length \"" + value + "\"");
            length = n;
        }
    }
    bool keep = minor >= 1 ? !has_token(connection, "close") : has_token(connection, "keep-alive");
    // Both framings at once: the chunked coding wins, and the connection is
    // not trusted after it (RFC 9112 6.3).
    if (!transfer_encoding.empty() && length) keep = false;

    // The body, framed as RFC 9112 6.3 orders it.
    if (reply.status == 204 || reply.status == 304) {
    } else if (!transfer_encoding.empty()) {
        if (lower(trim(transfer_encoding)) != "chunked") fail("unsupported Transfer-Encoding \"" + transfer_encoding + "\"");
        while (true) {
            const std::string line = read_line();
            std::uint64_t size = 0;
            if (!parse_number(trim(std::string_view(line).substr(0, line.find(';'))), size, 16))
                fail("malformed chunk size line \"" + line.substr(0, 200) + "\"");
            if (size == 0) break;
            if (size > kMaxBody - reply.body.size()) fail("reply body over 64 MiB");
            need(static_cast<std::size_t>(size) + 2, "chunked body");
            if (buf_.compare(static_cast<std::size_t>(size), 2, "\r\n") != 0) fail("a chunk not followed by CRLF");
            reply.body.append(buf_, 0, static_cast<std::size_t>(size));
            buf_.erase(0, static_cast<std::size_t>(size) + 2);
        }
        while (!read_line().empty()) {}  // trailer fields, dropped
    } else if (length) {
        if (*length > kMaxBody) fail("reply body of " + std::to_string(*length) + " bytes is over 64 MiB");
        need(static_cast<std::size_t>(*length), "reply body");
        reply.body = buf_.substr(0, static_cast<std::size_t>(*length));
        buf_.erase(0, static_cast<std::size_t>(*length));
    } else {
        while (fill())
            if (buf_.size() > kMaxBody) fail("reply body over 64 MiB");
        reply.body = std::move(buf_);
        keep = false;
    }
    // Bytes after the reply were never asked for: the connection cannot be trusted.
    if (!keep || !buf_.empty()) close();
    return true;
}

}  // namespace server::http_client
