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
#include <memory>
#include <random>
#include <system_error>
#include <thread>
#include <vector>

#include "server/log.h"
#include "server/net.h"

namespace server::http {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::chrono::milliseconds kLingerTime{2'000};
constexpr std::string_view kOtherRoute = "other";

// The peer went away or the socket failed: nothing more can be sent.
struct ConnectionLost {};
// No byte arrived in time in the middle of a request.
struct RequestTimeout {};
// The gate answered the request from its head.
struct Refused {
    Response response;
    bool body_unread;
};

int remaining_ms(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 60'000));
}

std::string serialize(const Response& r, bool keep_alive, bool head_only) {
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + std::string(reason_phrase(r.status)) + "\r\n";
    const bool no_content = r.status == 204;  // no body, so nothing to describe or measure
    if (!no_content) {
        out += "Content-Type: " + r.content_type + "\r\n";
        out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    }
    out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
    for (const Header& h : r.headers) out += h.name + ": " + h.value + "\r\n";
    out += "\r\n";
    if (!head_only && !no_content) out += r.body;
    return out;
}

void set_timeout(int fd, int option, std::chrono::milliseconds t) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(t.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv);
}

// The client's id when valid, else a fresh one.
std::string request_id_for(const Request& request) {
    const std::optional<std::string_view> given = request.header("x-request-id");
    return given && valid_request_id(*given) ? std::string(*given) : new_request_id();
}

}  // namespace

bool valid_request_id(std::string_view id) {
    return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == ':' || c == '-';
    });
}

std::string new_request_id() {
    // One generator per thread, seeded from the system's entropy: ids need
    // to be unique, not secret.
    thread_local std::mt19937_64 random([] {
        std::random_device device;
        return (std::uint64_t{device()} << 32) ^ device();
    }());
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id(32, '0');
    for (int half = 0; half < 2; ++half) {
        std::uint64_t bits = random();
        for (int i = 0; i < 16; ++i, bits >>= 4) id[half * 16 + i] = kHex[bits & 15];
    }
    return id;
}

// A connection and the bytes read from it but not yet consumed. It is owned
// by run() while idle and by one request thread while a request is served.
class Server::Client {
public:
    Client(int fd, std::string remote) : fd_(fd), remote_(std::move(remote)) {}
    ~Client() { ::close(fd_); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    int fd() const { return fd_; }
    const std::string& remote() const { return remote_; }
    int served = 0;                 // requests answered on this connection
    Clock::time_point idle_until;   // while idle in run(): closed if nothing arrives by then
    Clock::time_point ready_since;  // when the current request's bytes were ready to be read
    bool draining = false;          // answered by reject(): run() drops what still arrives
    bool answering = false;         // a request thread has begun sending its response (Server::answering_)

    std::string_view pending() const { return std::string_view(buf_).substr(off_); }
    std::uint64_t consumed() const { return consumed_; }  // bytes consumed since the connection opened
    void consume(std::size_t n) {
        off_ += n;
        consumed_ += n;
        if (off_ == buf_.size()) {
            buf_.clear();
            off_ = 0;
        }
    }

    // Waits until a byte can be read before `deadline`; false on timeout.
    // Once Server::drain() has shut the socket down (the grace period is
    // over), the wait ends at once and the read finds the end of stream.
    bool wait_until(Clock::time_point deadline) {
        while (true) {
            pollfd p{fd_, POLLIN, 0};
            const int r = ::poll(&p, 1, remaining_ms(deadline));
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

    // Sends without waiting (the accepting thread must never block); false
    // when it did not all fit in the socket's buffer at once.
    bool send_now(std::string_view data) {
        ssize_t n;
        do n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        return n == static_cast<ssize_t>(data.size());
    }

    // See the header: shut down our side, drop what the client still sends.
    void linger() {
        ::shutdown(fd_, SHUT_WR);
        const auto deadline = Clock::now() + kLingerTime;
        while (Clock::now() < deadline) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, remaining_ms(deadline)) <= 0 || !drop_input()) return;
        }
    }

    // True when the peer has closed (or the socket failed) with nothing sent:
    // what poll() reported on an idle connection is no request.
    bool peer_closed() const {
        char byte = 0;
        const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
    }

    // Reads and drops what has arrived; false at the end of the stream or on an error.
    bool drop_input() {
        char scratch[16 * 1024];
        const ssize_t n = ::recv(fd_, scratch, sizeof scratch, MSG_DONTWAIT);
        return n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR));
    }

private:
    int fd_;
    std::string remote_;
    std::string buf_;
    std::size_t off_ = 0;
    std::uint64_t consumed_ = 0;
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
    {
        std::lock_guard lock(mutex_);
        workers_exit_ = true;
    }
    queue_cv_.notify_all();
    // After a cut (run() returned early), a handler may still be running.
    for (std::thread& t : workers_) t.join();
    if (listen_fd_ >= 0) ::close(listen_fd_);
    queue_.clear();  // closes what is left
    returned_.clear();
    for (int fd : {stop_pipe_[0], stop_pipe_[1], wake_pipe_[0], wake_pipe_[1]}) ::close(fd);
}

void Server::route(const std::string& method, const std::string& path, Handler handler) {
    routes_[path][method] = std::move(handler);
}

void Server::route_probe(const std::string& path, Handler handler) {
    route("GET", path, std::move(handler));
    probes_.insert(path);
}

void Server::listen() {
    const std::string where = "cannot listen on " + options_.host + ":" + std::to_string(options_.port);
    const std::optional<SocketAddress> address = numeric_address(options_.host, options_.port);
    if (!address) throw std::system_error(EINVAL, std::generic_category(), where + ": not a numeric address");
    const int fd = ::socket(address->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), where);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, address->get(), address->len) != 0 || ::listen(fd, SOMAXCONN) != 0) {
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

std::vector<std::string> Server::paths() const {
    std::vector<std::string> out;
    for (const auto& [path, methods] : routes_) out.push_back(path);
    return out;
}

Server::Load Server::load() const {
    std::lock_guard lock(mutex_);
    return {static_cast<int>(in_flight_.size()), static_cast<int>(queue_.size())};
}

void Server::stop() {
    // The time first, so that whoever sees stopping_ also sees when it began.
    Clock::rep unset = 0;
    stop_time_.compare_exchange_strong(unset, Clock::now().time_since_epoch().count());
    if (!stopping_.exchange(true)) {
        const char byte = 1;
        [[maybe_unused]] const ssize_t n = ::write(stop_pipe_[1], &byte, 1);
    }
}

int Server::run() {
    for (int i = 0; i < options_.threads; ++i) workers_.emplace_back([this] { worker(); });
    const std::size_t capacity = static_cast<std::size_t>(options_.threads) + static_cast<std::size_t>(options_.max_queue);

    // Connections waiting for a request, or being drained after reject();
    // only this thread touches them.
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
            log_event(LogLevel::error, "poll failed; stopping", {{"error", std::strerror(errno)}});
            break;
        }
        if (fds[1].revents) break;
        if (fds[2].revents) {
            char scratch[256];
            while (::read(wake_pipe_[0], scratch, sizeof scratch) > 0) {
            }
        }

        // Bytes, an end of stream or an error on an idle connection: a thread
        // reads it, in poll order (the order they became idle), while the
        // queue has room; past it the request is answered 503 here.
        const auto ready_since = Clock::now();
        std::size_t woken = 0;
        for (std::size_t i = 0; i < idle.size(); ++i) {
            if (!fds[kFixed + i].revents) continue;
            Client& c = *idle[i];
            if (c.draining) {
                if (!c.drop_input()) idle[i].reset();
                continue;
            }
            // A persistent connection its client closed is closed here: it
            // must not take the queue's last place from a request arriving
            // with it (a client that closes one connection and opens the
            // next was refused so).
            if (c.pending().empty() && c.peer_closed()) {
                idle[i].reset();
                continue;
            }
            c.ready_since = ready_since;
            {
                std::lock_guard lock(mutex_);
                if (queue_.size() + in_flight_.size() - answering_ < capacity) {
                    queue_.push_back(std::move(idle[i]));
                    ++woken;
                    continue;
                }
            }
            if (reject(c)) {
                c.draining = true;
                c.idle_until = Clock::now() + kLingerTime;
            } else {
                idle[i].reset();
            }
        }
        std::erase(idle, nullptr);
        if (woken == 1) queue_cv_.notify_one();
        else if (woken > 1) queue_cv_.notify_all();

        if (!(fds[0].revents & POLLIN)) continue;
        sockaddr_storage peer{};
        socklen_t peer_len = sizeof peer;
        const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_CLOEXEC);
        if (fd < 0) {
            // Out of descriptors (or the peer already left): wait a little rather than spin.
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            continue;
        }
        set_timeout(fd, SO_SNDTIMEO, options_.write_timeout);
        // A new connection waits here for its first byte, like an idle one.
        idle.push_back(std::make_unique<Client>(fd, format_address(peer)));
        idle.back()->idle_until = Clock::now() + options_.head_timeout;
    }

    stop();  // a no-op unless poll() failed: the grace period starts now
    ::close(listen_fd_);  // new connections are refused from here on
    listen_fd_ = -1;
    idle.clear();  // idle connections are closed now
    return drain(Clock::time_point(Clock::duration(stop_time_.load())) + options_.grace_period);
}

int Server::drain(Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    returned_.clear();  // handed back just before stop(): idle, closed
    const bool drained =
        drained_cv_.wait_until(lock, deadline, [this] { return queue_.empty() && in_flight_.empty(); });
    const int cut = drained ? 0 : static_cast<int>(queue_.size() + in_flight_.size());
    // Reads and writes on these fail from now on, so the request threads
    // return as soon as their handlers do (a slow upload at once).
    for (int fd : in_flight_) ::shutdown(fd, SHUT_RDWR);
    queue_.clear();
    workers_exit_ = true;
    lock.unlock();
    queue_cv_.notify_all();
    if (drained) {
        for (std::thread& t : workers_) t.join();
        workers_.clear();
    }
    return cut;
}

void Server::worker() {
    while (true) {
        std::unique_ptr<Client> client;
        {
            std::unique_lock lock(mutex_);
            queue_cv_.wait(lock, [this] { return workers_exit_ || !queue_.empty(); });
            if (workers_exit_) return;  // drain() closes the connections still queued
            client = std::move(queue_.front());
            queue_.pop_front();
            in_flight_.insert(client->fd());
        }
        Next next = Next::close;
        try {
            next = serve_request(*client);
        } catch (const ConnectionLost&) {
        } catch (const std::exception& e) {
            log_event(LogLevel::error, "connection error", {{"remote", client->remote()}, {"error", e.what()}});
        }
        bool wake_run = false;
        {
            std::lock_guard lock(mutex_);
            in_flight_.erase(client->fd());  // before the socket may be closed: drain() never sees a stale fd
            if (client->answering) {
                client->answering = false;
                --answering_;
            }
            if (next == Next::ready) {
                // The next request is already buffered: behind those waiting.
                client->ready_since = Clock::now();
                queue_.push_back(std::move(client));
                queue_cv_.notify_one();
            } else if (next == Next::wait && !stopping_) {
                client->idle_until = Clock::now() + options_.keep_alive_timeout;
                returned_.push_back(std::move(client));
                wake_run = true;
            }
            drained_cv_.notify_all();
        }
        if (wake_run) {
            const char byte = 1;
            [[maybe_unused]] const ssize_t n = ::write(wake_pipe_[1], &byte, 1);  // full: run() is awake anyway
        }
        // Otherwise `client`, if still held, closes the connection here.
    }
}

std::string_view Server::route_of(const Request& request) const {
    const auto it = routes_.find(request.path);
    return it == routes_.end() ? kOtherRoute : std::string_view(it->first);
}

bool Server::respond(Client& conn, const Request& request, Response& response, bool keep_alive,
                     std::uint64_t bytes_in, bool blocking) {
    response.headers.push_back({"X-Request-ID", request.id});
    if (decorator_) decorator_(request, response);
    const std::string wire = serialize(response, keep_alive, request.method == "HEAD");
    bool sent = true;
    if (blocking) {
        // From here this request no longer counts against the queue's bound
        // (http_server.h): the client may send its next one as soon as it
        // has this answer, before this thread is back for another.
        if (!conn.answering) {
            std::lock_guard lock(mutex_);
            conn.answering = true;
            ++answering_;
        }
        try {
            conn.send_all(wire);
        } catch (const ConnectionLost&) {
            sent = false;
        }
    } else {
        sent = conn.send_now(wire);
    }
    if (observer_) {
        try {
            observer_(Exchange{request, response, route_of(request), Clock::now() - conn.ready_since, bytes_in,
                               sent ? wire.size() : 0, conn.remote()});
        } catch (const std::exception& e) {
            log_event(LogLevel::error, "request observer failed", {{"request_id", request.id}, {"error", e.what()}});
        }
    }
    return sent;
}

// On the accepting thread: what has arrived is read (without waiting), the
// head parsed when it is whole (for the id, the route and the log), and
// the 503 (or a probe route's answer) sent without blocking.
bool Server::reject(Client& conn) {
    try {
        if (conn.fill() == 0) return false;  // the client closed: nothing to answer
    } catch (const ConnectionLost&) {
        return false;
    }
    const std::uint64_t consumed_before = conn.consumed();
    while (conn.pending().starts_with("\r\n")) conn.consume(2);
    Request request;
    if (const auto end = conn.pending().find("\r\n\r\n"); end != std::string_view::npos) {
        try {
            request = parse_request_head(conn.pending().substr(0, end));
        } catch (const HttpError&) {
            request = {};
        }
    }
    request.id = request_id_for(request);
    const bool probe = probes_.contains(request.path) && (request.method == "GET" || request.method == "HEAD");
    Response response;
    std::optional<Response> refused;
    if (probe && gate_) refused = gate_(request);
    if (refused) {
        response = std::move(*refused);
    } else if (probe) {
        response = dispatch(request);
    } else {
        response = error_response(
            503, "the server is busy: all " + std::to_string(options_.threads) + " request threads are taken and " +
                     std::to_string(options_.max_queue) + " requests wait already; retry in a moment");
        response.headers.push_back({"Retry-After", "1"});
        rejected_.fetch_add(1, std::memory_order_relaxed);
    }
    const bool sent = respond(conn, request, response, false, conn.consumed() - consumed_before + conn.pending().size(), false);
    if (!sent) return false;
    ::shutdown(conn.fd(), SHUT_WR);
    return true;
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
        log_event(LogLevel::error, "handler error",
                  {{"request_id", request.id}, {"method", request.method}, {"path", request.path}, {"error", e.what()}});
        return error_response(500, "internal error");
    } catch (...) {
        log_event(LogLevel::error, "handler error",
                  {{"request_id", request.id}, {"method", request.method}, {"path", request.path}});
        return error_response(500, "internal error");
    }
}

// Serves one request. run() queued the connection because it is readable
// (bytes, the end of the stream or an error) or a worker because a request
// is already buffered.
Server::Next Server::serve_request(Client& conn) {
    if (conn.pending().empty() && conn.fill() == 0) return Next::close;

    const std::uint64_t consumed_before = conn.consumed();
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
            request.id = request_id_for(request);
            conn.consume(end + 4);
            if (gate_)
                if (std::optional<Response> refused = gate_(request)) {
                    bool body = true;  // unless it is known to have none: a malformed framing counts as one
                    try {
                        body = body_framing(request, options_.max_body).kind != BodyFraming::Kind::none;
                    } catch (const HttpError&) {
                    }
                    throw Refused{std::move(*refused), body};
                }

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
    } catch (Refused& r) {
        response = std::move(r.response);
        persistent = keep_alive(request);
        unread_input = r.body_unread;
    }

    if (request.id.empty()) request.id = new_request_id();  // the head could not be read

    persistent = persistent && !unread_input && !stopping_ &&
                 conn.served + 1 < options_.max_requests_per_connection;
    if (!respond(conn, request, response, persistent, conn.consumed() - consumed_before, true))
        return Next::close;
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
