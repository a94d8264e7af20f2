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
// - stop() may be called from any thread; run() then stops accepting,
//   closes idle connections, answers 503 to requests still arriving (no
//   waiting for a slow upload), lets handlers already running finish, and
//   returns.
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
#include <string>
#include <vector>

#include "server/http_message.h"

namespace server::http {

using Handler = std::function<Response(const Request&)>;

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

    // Binds and listens; throws std::system_error naming the address.
    void listen();
    int port() const { return bound_port_; }

    // Serves until stop(). Call once, after listen().
    void run();
    // Thread-safe and idempotent.
    void stop();

private:
    class Client;  // a connection and what has been read from it (http_server.cpp)
    enum class Next { close, wait, ready };  // after a response: close, wait in poll(), or queue again

    void worker();
    Next serve_request(Client& client);
    Response dispatch(const Request& request) const;

    ServerOptions options_;
    std::map<std::string, std::map<std::string, Handler>> routes_;  // path -> method -> handler
    int listen_fd_ = -1;
    int bound_port_ = 0;
    int stop_pipe_[2] = {-1, -1};  // readable once stop() has been called
    int wake_pipe_[2] = {-1, -1};  // a worker handed a connection back to run()
    std::atomic<bool> stopping_{false};

    std::mutex mutex_;
    std::condition_variable queue_cv_;
    std::deque<std::unique_ptr<Client>> queue_;       // connections with bytes to read, waiting for a thread
    std::vector<std::unique_ptr<Client>> returned_;  // persistent connections handed back, for run() to watch
};

}  // namespace server::http
