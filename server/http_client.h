// A minimal blocking HTTP/1.1 client for talking to a running face-service:
// `face-service detect --server URL` posts every photo to /api/detect
// (server/batch_cli.h), and so does the WIDER FACE evaluator
// (tools/eval_main.cpp). It lives in server/ so that the product binary,
// which is one static binary, can link it; no dependencies beyond libc.
//
// Behaviour:
// - One connection is kept open between requests (keep-alive). It is closed
//   after a reply that says Connection: close (the server does so after
//   max_requests_per_connection), after a reply framed by closing, and after
//   any error; the next request then opens a new one.
// - A reused connection the server has already closed (its keep-alive
//   timeout) is found when nothing of the reply arrives: the request is
//   sent once more on a new connection. Only then; a connection that breaks
//   once the reply has begun is an error.
// - Replies framed by Content-Length, by the chunked transfer coding, or by
//   closing the connection. A reply head over 64 KiB or a body over 64 MiB
//   is refused.
// - `timeout` bounds each connect, send and receive call, not the whole
//   request: a reply that keeps trickling in is waited for.
// - Every failure is a std::runtime_error that starts with "host:port: " and
//   says what failed; a reply with an error status (404, 503, ...) is a
//   Reply, not an exception.
// - No global state: one Client per thread, each with its own connection. A
//   Client itself is not for concurrent use. SIGPIPE is never raised
//   (MSG_NOSIGNAL), so no process-wide signal setting is needed.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace server::http_client {

struct Endpoint {
    std::string host;  // a name, an IPv4 address or an IPv6 address (without brackets)
    int port = 80;
};

// "http://HOST[:PORT][/]", HOST a name, an IPv4 address or a bracketed IPv6
// address; the port defaults to 80. Anything else (another scheme, a path, a
// query, user info, an empty host, a port that is not 1..65535) throws
// std::invalid_argument quoting the URL and saying what is wrong.
Endpoint parse_base_url(std::string_view url);

struct Reply {
    int status = 0;
    std::string content_type;  // as sent; empty when absent
    std::string body;          // de-chunked
    std::vector<std::pair<std::string, std::string>> headers;  // names in lower case, values trimmed

    // The first value of header `name` (lower case), e.g. "retry-after".
    std::optional<std::string> header(std::string_view name) const {
        for (const auto& [key, value] : headers)
            if (key == name) return value;
        return std::nullopt;
    }
};

// What a Client has done so far, for logs (and tests).
struct Stats {
    int connections = 0;  // connections opened
    int retries = 0;      // requests sent again after a reused connection had been closed
};

class Client {
public:
    static constexpr std::chrono::milliseconds kDefaultTimeout{120'000};

    explicit Client(Endpoint endpoint, std::chrono::milliseconds timeout = kDefaultTimeout);
    ~Client();
    Client(Client&& other) noexcept;  // (so clients can live in a vector)
    Client& operator=(Client&&) = delete;
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // `target` is the path and query as sent ("/api/detect?mode=default");
    // std::invalid_argument unless it starts with '/' and holds no space or
    // control character.
    Reply get(std::string_view target);
    Reply post(std::string_view target, std::string_view content_type, std::string_view body);

    // A header sent with every request from now on (an API key);
    // std::invalid_argument for a name that is not a token or a value with a
    // control character.
    void add_header(std::string name, std::string value);

    const Endpoint& endpoint() const { return endpoint_; }
    const Stats& stats() const { return stats_; }

private:
    Reply request(std::string_view method, std::string_view target, std::string_view content_type,
                  std::string_view body);
    void open();
    void close();
    bool send_all(std::string_view data);
    bool fill();
    [[nodiscard]] bool read_reply(Reply& reply);
    std::string read_line();
    void need(std::size_t n, const char* where);
    [[noreturn]] void fail(const std::string& what) const;

    Endpoint endpoint_;
    std::chrono::milliseconds timeout_;
    int fd_ = -1;
    std::string buf_;  // received and not yet consumed
    Stats stats_;
    std::string extra_headers_;  // "Name: value\r\n" each
};

}  // namespace server::http_client
