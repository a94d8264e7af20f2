#include "server/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <system_error>
#include <thread>
#include <vector>

namespace server::http {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::chrono::milliseconds kLingerTime{2'000};

// The peer went away or the socket failed: nothing more can be sent.
struct ConnectionLost {};
// No byte arrived in time in the middle of a request.
struct RequestTimeout {};

int remaining_ms(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 60'000));
}

std::string serialize(const Response& r, bool keep_alive, bool head_only) {
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + std::string(reason_phrase(r.status)) + "\r\n";
    out += "Content-Type: " + r.content_type + "\r\n";
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
    for (const Header& h : r.headers) out += h.name + ": " + h.value + "\r\n";
    out += "\r\n";
    if (!head_only) out += r.body;
    return out;
}

void set_timeout(int fd, int option, std::chrono::milliseconds t) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(t.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv);
}

}  // namespace

// A connection and the bytes read from it but not yet consumed. It is owned
// by run() while idle and by one request thread while a request is served.
class Server::Client {
public:
    Client(int fd, int stop_fd) : fd_(fd), stop_fd_(stop_fd) {}
    ~Client() { ::close(fd_); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    int fd() const { return fd_; }
    int served = 0;                 // requests answered on this connection
    Clock::time_point idle_until;   // while idle in run(): closed if nothing arrives by then

    std::string_view pending() const { return std::string_view(buf_).substr(off_); }
    void consume(std::size_t n) {
        off_ += n;
        if (off_ == buf_.size()) {
            buf_.clear();
            off_ = 0;
        }
    }

    // Waits until a byte can be read before `deadline`; false on timeout.
    // A request still arriving when stop() is called is answered 503: the
    // client may retry elsewhere, and shutting down waits for no upload.
    bool wait_until(Clock::time_point deadline) {
        while (true) {
            pollfd p[2] = {{fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
            const int r = ::poll(p, 2, remaining_ms(deadline));
            if (r > 0 && p[1].revents) throw HttpError(503, "the server is shutting down");
            if (r > 0) return true;
            if (r < 0 && errno != EINTR) throw ConnectionLost{};
            if (r == 0 && Clock::now() >= deadline) return false;
        }
    }

    // Reads what is available into the buffer; 0 at end of stream.
    std::size_t fill() {
        const std::size_t old = buf_.size();
        buf_.resize(old + kReadChunk);
        ssize_t n;
        do n = ::recv(fd_, buf_.data() + old, kReadChunk, 0);
        while (n < 0 && errno == EINTR);
        buf_.resize(old + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
        if (n < 0) throw ConnectionLost{};
        return static_cast<std::size_t>(n);
    }

    void send_all(std::string_view data) {
        while (!data.empty()) {
            const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) throw ConnectionLost{};  // includes SO_SNDTIMEO expiring
            data.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    // See the header: shut down our side, drop what the client still sends.
    void linger() {
        ::shutdown(fd_, SHUT_WR);
        const auto deadline = Clock::now() + kLingerTime;
        char scratch[16 * 1024];
        while (Clock::now() < deadline) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, remaining_ms(deadline)) <= 0) return;
            const ssize_t n = ::recv(fd_, scratch, sizeof scratch, 0);
            if (n <= 0) return;
        }
    }

private:
    int fd_;
    int stop_fd_;
    std::string buf_;
    std::size_t off_ = 0;
};

Server::Server(ServerOptions options) : options_(std::move(options)) {
    if (::pipe2(stop_pipe_, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    // Non-blocking: a worker never waits to wake run(), and run() drains it.
    if (::pipe2(wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) {
        const int e = errno;
        ::close(stop_pipe_[0]);
        ::close(stop_pipe_[1]);
        throw std::system_error(e, std::generic_category(), "pipe");
    }
}

Server::~Server() {
    if (listen_fd_ >= 0) ::close(listen_fd_);
    queue_.clear();  // closes what is left
    returned_.clear();
    for (int fd : {stop_pipe_[0], stop_pipe_[1], wake_pipe_[0], wake_pipe_[1]}) ::close(fd);
}

void Server::route(const std::string& method, const std::string& path, Handler handler) {
    routes_[path][method] = std::move(handler);
}

void Server::listen() {
    const std::string host = options_.host == "localhost" ? "127.0.0.1" : options_.host;
    const std::string where = "cannot listen on " + options_.host + ":" + std::to_string(options_.port);
    sockaddr_storage addr{};
    socklen_t len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
    if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<std::uint16_t>(options_.port));
        len = sizeof *v4;
    } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<std::uint16_t>(options_.port));
        len = sizeof *v6;
    } else {
        throw std::system_error(EINVAL, std::generic_category(), where + ": not a numeric address");
    }
    const int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), where);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd, SOMAXCONN) != 0) {
        const int e = errno;
        ::close(fd);
        throw std::system_error(e, std::generic_category(), where);
    }
    sockaddr_storage bound{};
    socklen_t bound_len = sizeof bound;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
    bound_port_ = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                                   : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
    listen_fd_ = fd;
}

void Server::stop() {
    if (!stopping_.exchange(true)) {
        const char byte = 1;
        [[maybe_unused]] const ssize_t n = ::write(stop_pipe_[1], &byte, 1);
    }
}

void Server::run() {
    std::vector<std::thread> workers;
    for (int i = 0; i < options_.threads; ++i) workers.emplace_back([this] { worker(); });

    // Connections waiting for a request; only this thread touches them.
    std::vector<std::unique_ptr<Client>> idle;
    std::vector<pollfd> fds;
    constexpr std::size_t kFixed = 3;  // fds: listen, stop, wake, then one per idle connection
    while (!stopping_) {
        {
            std::lock_guard lock(mutex_);
            for (auto& c : returned_) idle.push_back(std::move(c));
            returned_.clear();
        }
        const auto now = Clock::now();
        std::erase_if(idle, [now](const auto& c) { return c->idle_until <= now; });  // timed out: closed
        auto next_deadline = Clock::time_point::max();
        for (const auto& c : idle) next_deadline = std::min(next_deadline, c->idle_until);

        fds.assign({{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}});
        for (const auto& c : idle) fds.push_back({c->fd(), POLLIN, 0});
        // Rounded up, so that the deadline has passed when poll() times out.
        const int timeout = idle.empty() ? -1 : remaining_ms(next_deadline + std::chrono::milliseconds(1));
        const int r = ::poll(fds.data(), fds.size(), timeout);
        if (r < 0) {
            if (errno == EINTR) continue;
            std::cerr << "face-service: poll: " << std::strerror(errno) << "\n";
            break;
        }
        if (fds[1].revents) break;
        if (fds[2].revents) {
            char scratch[256];
            while (::read(wake_pipe_[0], scratch, sizeof scratch) > 0) {
            }
        }

        // Bytes, an end of stream or an error on an idle connection: a thread
        // reads it. In poll order, which is the order they became idle.
        std::size_t woken = 0;
        for (std::size_t i = 0; i < idle.size(); ++i) {
            if (!fds[kFixed + i].revents) continue;
            std::lock_guard lock(mutex_);
            queue_.push_back(std::move(idle[i]));
            ++woken;
        }
        if (woken > 0) {
            std::erase(idle, nullptr);
            if (woken == 1) queue_cv_.notify_one();
            else queue_cv_.notify_all();
        }

        if (!(fds[0].revents & POLLIN)) continue;
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            // Out of descriptors (or the peer already left): wait a little rather than spin.
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            continue;
        }
        set_timeout(fd, SO_SNDTIMEO, options_.write_timeout);
        // A new connection waits here for its first byte, like an idle one.
        idle.push_back(std::make_unique<Client>(fd, stop_pipe_[0]));
        idle.back()->idle_until = Clock::now() + options_.head_timeout;
    }

    stopping_ = true;
    ::close(listen_fd_);
    listen_fd_ = -1;
    idle.clear();  // idle connections are closed now
    {
        std::lock_guard lock(mutex_);  // no worker misses the wake-up
    }
    queue_cv_.notify_all();
    for (std::thread& t : workers) t.join();
    // Connections still queued, or handed back as the workers finished.
    queue_.clear();
    returned_.clear();
}

void Server::worker() {
    while (true) {
        std::unique_ptr<Client> client;
        {
            std::unique_lock lock(mutex_);
            queue_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (stopping_) return;  // run() closes the connections still queued
            client = std::move(queue_.front());
            queue_.pop_front();
        }
        Next next = Next::close;
        try {
            next = serve_request(*client);
        } catch (const ConnectionLost&) {
        } catch (const std::exception& e) {
            std::cerr << "face-service: connection: " << e.what() << "\n";
        }
        if (next == Next::ready) {
            // The next request is already buffered: behind those waiting.
            {
                std::lock_guard lock(mutex_);
                queue_.push_back(std::move(client));
            }
            queue_cv_.notify_one();
        } else if (next == Next::wait) {
            client->idle_until = Clock::now() + options_.keep_alive_timeout;
            {
                std::lock_guard lock(mutex_);
                returned_.push_back(std::move(client));
            }
            const char byte = 1;
            [[maybe_unused]] const ssize_t n = ::write(wake_pipe_[1], &byte, 1);  // full: run() is awake anyway
        }
        // Next::close: `client` closes the connection here.
    }
}

Response Server::dispatch(const Request& request) const {
    const auto path = routes_.find(request.path);
    if (path == routes_.end()) return error_response(404, "no route for " + request.method + " " + request.path);
    const std::string& method = request.method == "HEAD" ? std::string("GET") : request.method;
    const auto handler = path->second.find(method);
    if (handler == path->second.end()) {
        std::string allow;
        for (const auto& [m, h] : path->second) {
            allow += (allow.empty() ? "" : ", ") + m;
            if (m == "GET") allow += ", HEAD";
        }
        Response r = error_response(405, request.method + " is not allowed on " + request.path + "; use " + allow);
        r.headers.push_back({"Allow", allow});
        return r;
    }
    try {
        return handler->second(request);
    } catch (const std::exception& e) {
        std::cerr << "face-service: " << request.method << " " << request.path << ": " << e.what() << "\n";
        return error_response(500, "internal error");
    } catch (...) {
        return error_response(500, "internal error");
    }
}

// Serves one request. run() queued the connection because it is readable
// (bytes, the end of the stream or an error) or a worker because a request
// is already buffered.
Server::Next Server::serve_request(Client& conn) {
    if (conn.pending().empty() && conn.fill() == 0) return Next::close;

    Request request;
    Response response;
    bool persistent = false;
    bool unread_input = false;  // the request was not read to its end
    try {
        try {
            // Head: up to the blank line, whole within head_timeout. Empty
            // lines before a request line are ignored (RFC 9112 2.2).
            const auto deadline = Clock::now() + options_.head_timeout;
            std::size_t end;
            while (true) {
                while (conn.pending().starts_with("\r\n")) conn.consume(2);
                end = conn.pending().find("\r\n\r\n");
                if (end != std::string_view::npos) break;
                if (conn.pending().size() > options_.max_head)
                    throw HttpError(431, "request line and headers over " + std::to_string(options_.max_head) + " bytes");
                if (!conn.wait_until(deadline)) throw RequestTimeout{};
                if (conn.fill() == 0) return Next::close;
            }
            if (end > options_.max_head)
                throw HttpError(431, "request line and headers over " + std::to_string(options_.max_head) + " bytes");
            request = parse_request_head(conn.pending().substr(0, end));
            conn.consume(end + 4);

            const BodyFraming framing = body_framing(request, options_.max_body);
            if (framing.kind != BodyFraming::Kind::none && expects_continue(request) && conn.pending().empty())
                conn.send_all("HTTP/1.1 100 Continue\r\n\r\n");

            // Body.
            if (framing.kind == BodyFraming::Kind::sized) {
                request.body.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(framing.length, 1 << 20)));
                while (request.body.size() < framing.length) {
                    if (conn.pending().empty()) {
                        if (!conn.wait_until(Clock::now() + options_.read_timeout)) throw RequestTimeout{};
                        if (conn.fill() == 0) return Next::close;
                    }
                    const std::size_t n = static_cast<std::size_t>(
                        std::min<std::uint64_t>(conn.pending().size(), framing.length - request.body.size()));
                    request.body.append(conn.pending().substr(0, n));
                    conn.consume(n);
                }
            } else if (framing.kind == BodyFraming::Kind::chunked) {
                ChunkedDecoder decoder(options_.max_body);
                while (!decoder.done()) {
                    if (conn.pending().empty()) {
                        if (!conn.wait_until(Clock::now() + options_.read_timeout)) throw RequestTimeout{};
                        if (conn.fill() == 0) return Next::close;
                    }
                    conn.consume(decoder.feed(conn.pending(), request.body));
                }
            }
        } catch (const RequestTimeout&) {
            throw HttpError(408, "timed out waiting for the request");
        }
        persistent = keep_alive(request);
        response = dispatch(request);
    } catch (const HttpError& e) {
        response = error_response(e.status(), e.what());
        unread_input = true;
    }

    persistent = persistent && !unread_input && !stopping_ &&
                 conn.served + 1 < options_.max_requests_per_connection;
    conn.send_all(serialize(response, persistent, request.method == "HEAD"));
    ++conn.served;
    if (!persistent) {
        if (unread_input && !stopping_) conn.linger();
        return Next::close;
    }
    // CRLFs between requests (some clients send one after a body) would
    // otherwise hold a thread waiting for a head; they are ignored anyway.
    while (conn.pending().starts_with("\r\n")) conn.consume(2);
    return conn.pending().empty() ? Next::wait : Next::ready;
}

}  // namespace server::http
