// A small HTTP/1.1 server: one poll() loop that accepts connections and
// watches the idle ones, a fixed pool of request threads, persistent
// connections, and the limits the face service needs enforced before a body
// is held in memory (server/http_message.h has the rules).
//
// Policy:
// - `threads` request threads; each serves one request at a time.
//   Connections waiting for a request (new ones, and persistent ones between
//   requests) hold no thread: run() watches them with poll() and queues a
//   connection for a thread once bytes arrive; after each response a
//   persistent connection goes back to run(), or, when the next request is
//   already buffered (pipelining), to the end of the queue. So idle clients
//   (a load balancer's pool, a browser's pre-opened sockets) cannot take
//   the threads from clients with requests, waiting connections are served
//   in turn, and persistent connections stay open under load.
// - A new connection must send its first byte within head_timeout; an idle
//   persistent connection is closed after keep_alive_timeout.
// - A request head must arrive whole within head_timeout (slow-header
//   clients); between two reads of a body at most read_timeout may pass.
//   Either timeout mid-request answers 408.
// - Errors the server answers itself (malformed request 400, body over the
//   limit 413, unknown path 404, wrong method 405 with Allow, ...) are JSON
//   {"detail": ...}, like the routes' own errors.
// - After an error that leaves part of a request unread (413 from the
//   Content-Length, or a chunked body past the limit), the response is sent
//   with Connection: close, the write side is shut down, and what the client
//   still sends is read and dropped for up to 2 s before closing: closing a
//   socket with unread data makes the kernel send a reset, which can destroy
//   the response before the client reads it.
// - A bounded queue: at most `max_queue` requests wait for a request
//   thread. A connection whose request arrives when `threads` requests are
//   being served and `max_queue` wait already is answered at once, by the
//   accepting thread, with 503, Retry-After: 1 and a JSON detail, then
//   closed (its unread input drained as below); rejected() counts them.
//   A probe route (route_probe: health checks, metrics) is the exception:
//   its request, when its head has arrived whole, is answered by its
//   handler on the accepting thread instead, so that a liveness probe or
//   a scrape does not fail because the detections keep the threads busy.
//   max_queue 0: no request waits; one is served only when a thread is
//   free. Waiting longer than a retry would take helps no client, and an
//   unbounded queue only grows under overload. A request counts against the
//   bound from when it is queued until its response starts to be sent, not
//   until its thread is free again: a client that sends its next request as
//   soon as it has its answer is never refused for its own last one (with
//   one thread and max_queue 0, such a client got 503 for 34 of 40 photos,
//   tests/server/burst_test.py). (A pipelined request already
//   read behind an answered one goes to the queue unchecked: its connection
//   was admitted.)
// - Request ids: a client's X-Request-ID of 1-128 characters of
//   [A-Za-z0-9._:-] is kept, anything else replaced by 32 random hex digits
//   (128 bits); the id is Request::id and is echoed as X-Request-ID on
//   every response, the server's own errors included.
// - After each response the observer (on_exchange) is told what happened,
//   for metrics and access logs (Exchange).
// - A gate (set_gate) sees each request's head before its body is read and
//   before routing, and may answer it there (the service's API keys: a
//   stranger's upload is refused without being read). A refused request
//   with a body closes its connection afterwards, as after a 413; one
//   without keeps it. Probes answered on the accepting thread go through
//   the gate too.
// - A decorator (set_decorator) may add headers to every response before
//   it is sent, the server's own errors included (the service's CORS
//   headers: a browser shows a cross-origin script a 413 or a busy 503
//   only when it carries them).
// - 204 responses are sent without Content-Type, Content-Length or body
//   (RFC 9110 8.6, 15.3.5).
// - stop() may be called from any thread (a signal handler's thread); run()
//   then closes the listening socket at once (new connections are refused),
//   closes idle connections, and lets every request already received (being
//   read, handled or waiting for a thread) finish, answered with
//   Connection: close. When they have not all finished grace_period after
//   stop(), run() cuts them: their sockets are shut down (a slow upload
//   ends at once), and it returns how many it cut. The request threads of
//   a handler still running are joined by ~Server; a process exiting on a
//   cut does not wait for them (server/main.cpp).
// - Nothing is written to disk; no name lookup (host is a numeric address
//   or "localhost").
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "server/http_message.h"

namespace server::http {

using Handler = std::function<Response(const Request&)>;
// A response to send instead of routing the request, or nullopt.
using Gate = std::function<std::optional<Response>(const Request&)>;
using Decorator = std::function<void(const Request&, Response&)>;

// One request answered, as the observer sees it (Server::on_exchange).
struct Exchange {
    const Request& request;  // method and path empty when the head could not be read
    const Response& response;
    std::string_view route;  // the registered path that matched, or "other" (a bounded set of values)
    // From the moment the request's first bytes were ready to be read
    // (waiting for a thread included) to the response sent.
    std::chrono::nanoseconds duration;
    std::uint64_t bytes_in;   // the request as read from the socket: head and body, chunk framing included
    std::uint64_t bytes_out;  // the response as sent; 0 when the client had gone
    std::string_view remote;  // "203.0.113.7:51234", "[2001:db8::1]:51234"
};
using Observer = std::function<void(const Exchange&)>;

// A valid client request id (1-128 of [A-Za-z0-9._:-]), kept as sent.
bool valid_request_id(std::string_view id);
// 32 lower-case hex digits from a per-thread random generator.
std::string new_request_id();

struct ServerOptions {
    std::string host = "0.0.0.0";
    int port = 8000;  // 0: any free port (see port())
    int threads = 4;
    std::uint64_t max_body = 16 * 1024 * 1024;
    std::size_t max_head = 16 * 1024;  // request line + headers
    std::chrono::milliseconds head_timeout{10'000};
    std::chrono::milliseconds read_timeout{10'000};
    std::chrono::milliseconds write_timeout{10'000};
    std::chrono::milliseconds keep_alive_timeout{5'000};
    int max_requests_per_connection = 100;
    int max_queue = 8;  // requests waiting for a thread (see above)
    std::chrono::milliseconds grace_period{20'000};  // after stop(), for the requests in flight
};

class Server {
public:
    explicit Server(ServerOptions options);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Registers a route before listen(). A GET route also answers HEAD.
    // Handlers run on the request threads, concurrently; an exception that
    // escapes one is answered 500 (server/service.cpp maps its own first).
    void route(const std::string& method, const std::string& path, Handler handler);
    // A GET route whose handler is quick and never blocks (a probe, a
    // scrape): like route(), and when the queue is full it still answers,
    // on the accepting thread, where a detection would get 503.
    void route_probe(const std::string& path, Handler handler);

    // Called on the request thread (or, for a rejected request, the
    // accepting thread) after every response; set before listen(). It must
    // not throw, and should be quick: it delays the next request.
    void on_exchange(Observer observer) { observer_ = std::move(observer); }
    // Set before listen(); called on the request threads (and the
    // accepting thread) concurrently, so they must be thread-safe, quick,
    // and not throw.
    void set_gate(Gate gate) { gate_ = std::move(gate); }
    void set_decorator(Decorator decorator) { decorator_ = std::move(decorator); }

    // Binds and listens; throws std::system_error naming the address.
    void listen();
    int port() const { return bound_port_; }
    // The registered paths (the `route` values of Exchange, with "other").
    std::vector<std::string> paths() const;

    // Serves until stop(), then drains (see above). Call once, after
    // listen(). Returns the number of requests cut at the end of the grace
    // period: 0 when every request finished.
    int run();
    // Thread-safe and idempotent.
    void stop();

    // For metrics: cheap, thread-safe snapshots.
    struct Load {
        int in_flight = 0;  // requests a thread is reading, handling or answering
        int queued = 0;     // requests waiting for a thread
    };
    Load load() const;
    std::uint64_t rejected() const { return rejected_.load(std::memory_order_relaxed); }

private:
    using Clock = std::chrono::steady_clock;
    class Client;  // a connection and what has been read from it (http_server.cpp)
    enum class Next { close, wait, ready };  // after a response: close, wait in poll(), or queue again

    void worker();
    Next serve_request(Client& client);
    Response dispatch(const Request& request) const;
    std::string_view route_of(const Request& request) const;
    // Adds X-Request-ID, sends, and tells the observer; false when the client had gone.
    bool respond(Client& client, const Request& request, Response& response, bool keep_alive,
                 std::uint64_t bytes_in, bool blocking);
    // Answers 503 (a probe: its handler's response) from the accepting thread; true when `client` should be
    // drained, false when it can be closed now.
    bool reject(Client& client);
    // The drain after stop(); returns the number of requests cut.
    int drain(Clock::time_point deadline);

    ServerOptions options_;
    std::map<std::string, std::map<std::string, Handler>> routes_;  // path -> method -> handler
    std::set<std::string> probes_;                                  // paths of route_probe()
    int listen_fd_ = -1;
    int bound_port_ = 0;
    Observer observer_;
    Gate gate_;
    Decorator decorator_;
    int stop_pipe_[2] = {-1, -1};  // readable once stop() has been called
    int wake_pipe_[2] = {-1, -1};  // a worker handed a connection back to run()
    std::atomic<bool> stopping_{false};
    std::atomic<Clock::rep> stop_time_{0};  // steady_clock ticks when stop() was first called
    std::atomic<std::uint64_t> rejected_{0};

    mutable std::mutex mutex_;
    std::condition_variable queue_cv_;    // work for the request threads, or workers_exit_
    std::condition_variable drained_cv_;  // a request finished (for drain())
    std::deque<std::unique_ptr<Client>> queue_;       // connections with bytes to read, waiting for a thread
    std::vector<std::unique_ptr<Client>> returned_;  // persistent connections handed back, for run() to watch
    std::unordered_set<int> in_flight_;  // sockets the request threads are serving (drain() may shut them down)
    std::size_t answering_ = 0;          // of in_flight_, those whose response is being sent
    bool workers_exit_ = false;
    std::vector<std::thread> workers_;  // joined by run(), or by ~Server after a cut
};

}  // namespace server::http
