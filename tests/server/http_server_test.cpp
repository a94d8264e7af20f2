// server::http::Server over real sockets on 127.0.0.1: how connections share
// a few request threads. Clients with requests are served in turn and keep
// their persistent connections however many wait; idle connections (silent
// new ones, persistent ones between requests) hold no thread; pipelined
// requests are answered in order; idle connections are closed on time and
// at stop(). Request ids are kept or replaced and echoed; the observer sees
// every exchange; a full queue answers 503 at once; stop() lets requests in
// flight finish, and cuts them after the grace period.
#include "server/http_server.h"
#include "tests/support/clock.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using testing_support::Clock;
using testing_support::ms_since;
using namespace std::chrono_literals;

// Holds the handlers of GET /hold until open() (or the gate's end).
class Gate {
public:
    ~Gate() { open(); }
    void pass() {
        std::unique_lock lock(mutex_);
        ++entered_;
        cv_.notify_all();
        cv_.wait(lock, [this] { return open_; });
    }
    void open() {
        std::lock_guard lock(mutex_);
        open_ = true;
        cv_.notify_all();
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    int entered_ = 0;
    bool open_ = false;
};

// Polls `condition` every 5 ms for up to `timeout`.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    while (!condition()) {
        if (Clock::now() > deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

// What the observer saw of one exchange (the Exchange itself refers to
// objects that live only during the call).
struct Seen {
    std::string id, route, method;
    int status = 0;
    std::uint64_t bytes_in = 0, bytes_out = 0;
    std::string remote;
};

// A server::http::Server on 127.0.0.1, any free port, served on a thread
// until the end of the test. GET /work?QUERY takes `work` (a sleep: the
// test measures turns, not CPU) and answers {"query": QUERY}; the server
// side order of the queries is kept in order(). GET /hold waits for gate().
class TestServer {
public:
    // `setup` runs before listen(): a gate, a decorator, more routes.
    TestServer(server::http::ServerOptions options, std::chrono::milliseconds work,
               const std::function<void(server::http::Server&)>& setup = {})
        : server_(local(options)) {
        server_.route("GET", "/work", [this, work](const server::http::Request& r) {
            std::this_thread::sleep_for(work);
            {
                std::lock_guard lock(mutex_);
                order_.push_back(r.query);
            }
            return server::http::json_response(200, {{"query", r.query}});
        });
        server_.route("GET", "/hold", [this](const server::http::Request&) {
            gate_.pass();
            return server::http::json_response(200, {{"held", true}});
        });
        server_.route_probe("/probe", [](const server::http::Request&) {
            return server::http::json_response(200, {{"alive", true}});
        });
        server_.route("POST", "/upload", [](const server::http::Request& r) {
            return server::http::json_response(200, {{"bytes", r.body.size()}});
        });
        server_.on_exchange([this](const server::http::Exchange& e) {
            std::lock_guard lock(mutex_);
            seen_.push_back({e.request.id, std::string(e.route), e.request.method, e.response.status, e.bytes_in,
                             e.bytes_out, std::string(e.remote)});
        });
        if (setup) setup(server_);
        server_.listen();
        thread_ = std::thread([this] { cut_ = server_.run(); });
    }
    ~TestServer() {
        gate_.open();
        stop();
    }
    // Returns what run() returned: the requests cut.
    int stop() {
        server_.stop();
        if (thread_.joinable()) thread_.join();
        return cut_;
    }
    int port() const { return server_.port(); }
    server::http::Server& server() { return server_; }
    Gate& gate() { return gate_; }
    std::vector<std::string> order() {
        std::lock_guard lock(mutex_);
        return order_;
    }
    std::vector<Seen> seen() {
        std::lock_guard lock(mutex_);
        return seen_;
    }

private:
    static server::http::ServerOptions local(server::http::ServerOptions o) {
        o.host = "127.0.0.1";
        o.port = 0;
        return o;
    }
    // These outlive server_, whose destructor joins request threads that a
    // cut left running: they may still wait on gate_ (opened first) and
    // record into order_ and seen_.
    Gate gate_;
    std::mutex mutex_;
    std::vector<std::string> order_;
    std::vector<Seen> seen_;
    server::http::Server server_;
    std::thread thread_;
    int cut_ = -1;
};

// One TCP connection; replies are framed by Content-Length (all ours are).
class RawClient {
public:
    struct Reply {
        int status = 0;  // 0: the server closed the connection before a reply
        bool keep_alive = false;
        std::string head;  // status line and headers
        std::string body;
        // The value of a header (names as the server writes them), or "(absent)".
        std::string header(const std::string& name) const {
            const std::size_t at = head.find("\r\n" + name + ": ");
            if (at == std::string::npos) return "(absent)";
            const std::size_t from = at + 4 + name.size();
            return head.substr(from, head.find("\r\n", from) - from);
        }
    };

    explicit RawClient(int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
            throw std::runtime_error("cannot connect to port " + std::to_string(port));
    }
    ~RawClient() { ::close(fd_); }
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    void send(const std::string& data) {
        if (::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(data.size()))
            throw std::runtime_error("send failed");
    }
    static std::string get(const std::string& query) {
        return "GET /work?" + query + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    }

    // Reads one reply, waiting at most `timeout` for each byte.
    Reply read_reply(std::chrono::milliseconds timeout = 10s) {
        std::size_t end;
        while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
            if (!fill(timeout)) return {};
        const std::string head = buf_.substr(0, end);
        buf_.erase(0, end + 4);
        Reply reply;
        reply.head = head;
        reply.status = std::stoi(head.substr(9, 3));  // "HTTP/1.1 200 OK"
        reply.keep_alive = head.find("\r\nConnection: keep-alive") != std::string::npos;
        const std::size_t at = head.find("\r\nContent-Length: ");
        const std::size_t length = at == std::string::npos ? 0 : std::stoul(head.substr(at + 18));
        while (buf_.size() < length)
            if (!fill(timeout)) return {};
        reply.body = buf_.substr(0, length);
        buf_.erase(0, length);
        return reply;
    }

    // True when the server closes the connection within `timeout`.
    bool closed_within(std::chrono::milliseconds timeout) {
        const auto deadline = Clock::now() + timeout;
        while (Clock::now() < deadline) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            char c;
            if (::recv(fd_, &c, 1, 0) <= 0) return true;
        }
        return false;
    }

private:
    bool fill(std::chrono::milliseconds timeout) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
        char chunk[4096];
        const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0) return false;
        buf_.append(chunk, static_cast<std::size_t>(n));
        return true;
    }

    int fd_ = -1;
    std::string buf_;
};

// Sends GET /hold on `client`; true once the server's thread is in it
// (in flight, held until the test opens the gate).
bool hold(TestServer& server, RawClient& client) {
    client.send("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
    return eventually([&] { return server.server().load().in_flight == 1; });
}

TEST(HttpServer, ManyKeepAliveClientsShareTwoThreadsInTurn) {
    // A load balancer's pool in front of a small service: more persistent
    // connections than request threads, each sending its next request as
    // soon as it has the reply. Every client keeps its one connection and
    // every request is answered, in turn: at no point is a client more than a
    // few requests ahead of another (a server that let a thread stay with
    // its connection would serve some clients to the end while others wait).
    constexpr int kClients = 8;
    constexpr int kRequests = 6;
    TestServer server({.threads = 2}, 30ms);

    std::vector<int> answered(kClients, 0);
    std::vector<std::string> failures(kClients);
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c)
        clients.emplace_back([&, c] {
            try {
                RawClient client(server.port());
                for (int i = 0; i < kRequests; ++i) {
                    const std::string query = std::to_string(c) + "-" + std::to_string(i);
                    client.send(RawClient::get(query));
                    const RawClient::Reply reply = client.read_reply();
                    if (reply.status != 200) throw std::runtime_error("request " + query + ": no 200 reply");
                    if (reply.body != "{\"query\":\"" + query + "\"}") throw std::runtime_error("wrong body " + reply.body);
                    if (!reply.keep_alive) throw std::runtime_error("request " + query + ": Connection: close");
                    ++answered[c];
                }
            } catch (const std::exception& e) {
                failures[c] = e.what();
            }
        });
    for (std::thread& t : clients) t.join();
    for (int c = 0; c < kClients; ++c) {
        EXPECT_EQ(answered[c], kRequests) << "client " << c;
        EXPECT_EQ(failures[c], "") << "client " << c;
    }

    // Turns, in the order the server ran the requests: while every client
    // still has requests to send, the most served is at most 3 ahead of the
    // least served (round-robin gives 1; 3 leaves room for a client thread
    // that the machine ran late).
    const std::vector<std::string> order = server.order();
    ASSERT_EQ(order.size(), static_cast<std::size_t>(kClients * kRequests));
    std::vector<int> served(kClients, 0);
    int worst_lead = 0;
    for (const std::string& query : order) {
        ++served[std::stoi(query.substr(0, query.find('-')))];
        const auto [least, most] = std::minmax_element(served.begin(), served.end());
        if (*most == kRequests) break;  // from here on the others catch up
        worst_lead = std::max(worst_lead, *most - *least);
    }
    EXPECT_LE(worst_lead, 3) << "a client got ahead of another by " << worst_lead << " requests";
}

TEST(HttpServer, IdleConnectionsHoldNoThread) {
    // Two threads; four connections that never send anything (a browser's
    // pre-opened sockets) and four persistent ones idle after one request.
    // A new client is still answered at once, not after a timeout.
    TestServer server({.threads = 2, .head_timeout = 10s, .keep_alive_timeout = 10s}, 0ms);

    std::vector<std::unique_ptr<RawClient>> idle;
    for (int i = 0; i < 4; ++i) idle.push_back(std::make_unique<RawClient>(server.port()));
    for (int i = 0; i < 4; ++i) {
        idle.push_back(std::make_unique<RawClient>(server.port()));
        idle.back()->send(RawClient::get("idle-" + std::to_string(i)));
        const RawClient::Reply reply = idle.back()->read_reply();
        ASSERT_EQ(reply.status, 200) << "idle client " << i;
        ASSERT_TRUE(reply.keep_alive);
    }

    const auto start = Clock::now();
    RawClient client(server.port());
    client.send(RawClient::get("new"));
    const RawClient::Reply reply = client.read_reply(5s);
    EXPECT_EQ(reply.status, 200);
    EXPECT_LT(ms_since(start), 2'000) << "the new client waited for the idle connections' timeouts";

    // The persistent ones still work after waiting.
    for (int i = 4; i < 8; ++i) {
        idle[i]->send(RawClient::get("again-" + std::to_string(i)));
        EXPECT_EQ(idle[i]->read_reply().status, 200) << "idle client " << i;
    }
}

TEST(HttpServer, IdleConnectionsClosedOnTime) {
    TestServer server({.threads = 1, .head_timeout = 300ms, .keep_alive_timeout = 300ms}, 0ms);

    RawClient silent(server.port());  // never sends a byte
    RawClient persistent(server.port());
    persistent.send(RawClient::get("once"));
    ASSERT_EQ(persistent.read_reply().status, 200);
    const auto start = Clock::now();
    EXPECT_TRUE(silent.closed_within(3s));
    EXPECT_TRUE(persistent.closed_within(3s));
    EXPECT_GE(ms_since(start), 150);  // closed by the timeouts, not at once
}

TEST(HttpServer, PipelinedRequestsAnsweredInOrder) {
    // Three requests in one write (and a stray CRLF after the second): three
    // replies, in order, on the one connection, with another client waiting
    // for the one thread too.
    TestServer server({.threads = 1}, 10ms);
    RawClient client(server.port());
    RawClient other(server.port());
    client.send(RawClient::get("p1") + RawClient::get("p2") + "\r\n" + RawClient::get("p3"));
    other.send(RawClient::get("other"));
    for (const char* query : {"p1", "p2", "p3"}) {
        const RawClient::Reply reply = client.read_reply();
        EXPECT_EQ(reply.status, 200) << query;
        EXPECT_EQ(reply.body, std::string("{\"query\":\"") + query + "\"}");
        EXPECT_TRUE(reply.keep_alive) << query;
    }
    EXPECT_EQ(other.read_reply().status, 200);
}

TEST(HttpServer, StopClosesIdleConnections) {
    TestServer server({.threads = 2, .head_timeout = 10s, .keep_alive_timeout = 10s}, 0ms);
    RawClient silent(server.port());
    RawClient persistent(server.port());
    persistent.send(RawClient::get("once"));
    ASSERT_EQ(persistent.read_reply().status, 200);

    const auto start = Clock::now();
    server.stop();
    EXPECT_LT(ms_since(start), 2'000);
    EXPECT_TRUE(silent.closed_within(1s));
    EXPECT_TRUE(persistent.closed_within(1s));
}

bool is_hex_id(const std::string& id) {
    return id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

TEST(HttpServer, RequestIdKeptWhenValidElseReplacedAndEchoedOnEveryResponse) {
    TestServer server({.threads = 1}, 0ms);
    RawClient client(server.port());
    const auto with_id = [](const std::string& path, const std::string& id) {
        return "GET " + path + " HTTP/1.1\r\nHost: x\r\nX-Request-ID: " + id + "\r\n\r\n";
    };
    const std::string longest(128, 'a');
    for (const std::string& id : {std::string("abc-123"), std::string("A.b_c:d-9"), longest}) {
        client.send(with_id("/work?1", id));
        EXPECT_EQ(client.read_reply().header("X-Request-ID"), id);
        client.send(with_id("/nowhere", id));  // the server's own 404
        const RawClient::Reply reply = client.read_reply();
        EXPECT_EQ(reply.status, 404);
        EXPECT_EQ(reply.header("X-Request-ID"), id);
    }
    std::vector<std::string> fresh;
    for (const std::string& id : {std::string("has space"), std::string(129, 'a'), std::string("a/b"),
                                  std::string("\xc3\xa9t\xc3\xa9"), std::string("a\"b")}) {
        client.send(with_id("/work?2", id));
        const std::string echoed = client.read_reply().header("X-Request-ID");
        EXPECT_TRUE(is_hex_id(echoed)) << id << " -> " << echoed;
        fresh.push_back(echoed);
    }
    client.send(RawClient::get("3"));  // none sent
    fresh.push_back(client.read_reply().header("X-Request-ID"));
    EXPECT_TRUE(is_hex_id(fresh.back()));
    std::sort(fresh.begin(), fresh.end());
    EXPECT_EQ(std::unique(fresh.begin(), fresh.end()), fresh.end()) << "the same fresh id twice";

    // A head that cannot be read gets an id too.
    RawClient broken(server.port());
    broken.send("NOT HTTP\r\n\r\n");
    const RawClient::Reply reply = broken.read_reply();
    EXPECT_EQ(reply.status, 400);
    EXPECT_TRUE(is_hex_id(reply.header("X-Request-ID"))) << reply.head;
}

TEST(HttpServer, ObserverSeesEveryExchange) {
    TestServer server({.threads = 1}, 0ms);
    RawClient client(server.port());
    const std::string first = "GET /work?q HTTP/1.1\r\nHost: x\r\nX-Request-ID: one\r\n\r\n";
    const std::string second = "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    client.send(first);
    const RawClient::Reply a = client.read_reply();
    client.send(second);
    const RawClient::Reply b = client.read_reply();
    client.send("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n");
    client.read_reply();
    ASSERT_TRUE(eventually([&] { return server.seen().size() == 3; }));
    const std::vector<Seen> seen = server.seen();
    EXPECT_EQ(seen[0].id, "one");
    EXPECT_EQ(seen[0].route, "/work");
    EXPECT_EQ(seen[0].status, 200);
    EXPECT_EQ(seen[0].bytes_in, first.size());
    EXPECT_EQ(seen[0].bytes_out, a.head.size() + 4 + a.body.size());
    EXPECT_TRUE(seen[0].remote.starts_with("127.0.0.1:")) << seen[0].remote;
    EXPECT_EQ(seen[1].route, "/upload");
    EXPECT_EQ(seen[1].method, "POST");
    EXPECT_EQ(seen[1].bytes_in, second.size());
    EXPECT_EQ(seen[1].bytes_out, b.head.size() + 4 + b.body.size());
    EXPECT_EQ(seen[2].route, "other");  // never the raw path
    EXPECT_EQ(seen[2].status, 404);
}

// threads + max_queue requests are taken; the next ones get a fast 503 and
// the server serves normally afterwards.
TEST(HttpServer, FullQueueAnswers503AtOnce) {
    TestServer server({.threads = 1, .max_queue = 1}, 0ms);
    RawClient held(server.port());
    ASSERT_TRUE(hold(server, held));
    RawClient queued(server.port());
    queued.send("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(eventually([&] { return server.server().load().queued == 1; }));

    for (int i = 0; i < 3; ++i) {
        RawClient extra(server.port());
        const auto start = Clock::now();
        extra.send("GET /work?extra HTTP/1.1\r\nHost: x\r\nX-Request-ID: extra-" + std::to_string(i) + "\r\n\r\n");
        const RawClient::Reply reply = extra.read_reply(5s);
        EXPECT_LT(ms_since(start), 1'000);
        EXPECT_EQ(reply.status, 503);
        EXPECT_EQ(reply.header("Retry-After"), "1");
        EXPECT_EQ(reply.header("X-Request-ID"), "extra-" + std::to_string(i));
        EXPECT_FALSE(reply.keep_alive);
        EXPECT_TRUE(nlohmann::json::parse(reply.body).at("detail").get<std::string>().find("busy") != std::string::npos)
            << reply.body;
        EXPECT_TRUE(extra.closed_within(3s));
    }
    EXPECT_EQ(server.server().rejected(), 3u);

    server.gate().open();
    EXPECT_EQ(held.read_reply().status, 200);
    EXPECT_EQ(queued.read_reply().status, 200);
    RawClient after(server.port());
    after.send(RawClient::get("after"));
    EXPECT_EQ(after.read_reply().status, 200);
    EXPECT_EQ(server.server().rejected(), 3u);
    const std::vector<Seen> seen = server.seen();
    EXPECT_EQ(std::count_if(seen.begin(), seen.end(), [](const Seen& s) { return s.status == 503 && s.route == "/work"; }),
              3);
}

// A probe route answers at once, from the accepting thread, when a
// detection would get 503; its answer closes the connection.
TEST(HttpServer, ProbeRouteAnswersWhenTheQueueIsFull) {
    TestServer server({.threads = 1, .max_queue = 0}, 0ms);
    RawClient held(server.port());
    ASSERT_TRUE(hold(server, held));
    RawClient probe(server.port());
    const auto start = Clock::now();
    probe.send("GET /probe HTTP/1.1\r\nHost: x\r\nX-Request-ID: probe-1\r\n\r\n");
    const RawClient::Reply reply = probe.read_reply(5s);
    EXPECT_LT(ms_since(start), 1'000);
    EXPECT_EQ(reply.status, 200);
    EXPECT_EQ(reply.header("X-Request-ID"), "probe-1");
    EXPECT_FALSE(reply.keep_alive);
    EXPECT_EQ(nlohmann::json::parse(reply.body), nlohmann::json({{"alive", true}}));
    EXPECT_TRUE(probe.closed_within(3s));
    EXPECT_EQ(server.server().rejected(), 0u);
    RawClient extra(server.port());
    extra.send(RawClient::get("extra"));
    EXPECT_EQ(extra.read_reply().status, 503);
    EXPECT_EQ(server.server().rejected(), 1u);
    server.gate().open();
    EXPECT_EQ(held.read_reply().status, 200);
}

TEST(HttpServer, MaxQueueZeroServesOnlyWhenAThreadIsFree) {
    TestServer server({.threads = 1, .max_queue = 0}, 0ms);
    RawClient held(server.port());
    ASSERT_TRUE(hold(server, held));
    RawClient extra(server.port());
    extra.send(RawClient::get("extra"));
    EXPECT_EQ(extra.read_reply().status, 503);
    server.gate().open();
    EXPECT_EQ(held.read_reply().status, 200);
    ASSERT_TRUE(eventually([&] { return server.server().load().in_flight == 0; }));
    RawClient after(server.port());
    after.send(RawClient::get("after"));
    EXPECT_EQ(after.read_reply().status, 200);
}

// A request stops counting against the bound once its response is being
// sent: a client that sends the next request as soon as it has its answer,
// on a new connection, is never refused, though the thread that answered
// may not be back yet (the observer runs after the send). It was: with one
// thread and max_queue 0, 34 of 40 such photos got 503.
TEST(HttpServer, SequentialClientIsNeverRefusedForItsOwnLastRequest) {
    TestServer server({.threads = 1, .max_queue = 0}, 0ms);
    for (int i = 0; i < 100; ++i) {
        RawClient client(server.port());
        client.send(RawClient::get("sequential-" + std::to_string(i)));
        ASSERT_EQ(client.read_reply().status, 200) << "request " << i;
    }
    EXPECT_EQ(server.server().rejected(), 0u);
}

// True when a new connection is refused (the listening socket is closed).
bool refused(int port) {
    try {
        RawClient probe(port);
        return false;
    } catch (const std::runtime_error&) {
        return true;
    }
}

TEST(HttpServer, StopFinishesRequestsInFlightAndRefusesNewConnections) {
    TestServer server({.threads = 1, .grace_period = 10s}, 0ms);
    RawClient held(server.port());
    ASSERT_TRUE(hold(server, held));
    RawClient queued(server.port());  // received, waiting for the one thread: in flight too
    queued.send(RawClient::get("queued"));
    ASSERT_TRUE(eventually([&] { return server.server().load().queued == 1; }));

    int cut = -1;
    std::thread stopper([&] { cut = server.stop(); });
    EXPECT_TRUE(eventually([&] { return refused(server.port()); }, 2s)) << "still accepting after stop()";
    std::this_thread::sleep_for(100ms);
    server.gate().open();
    const RawClient::Reply a = held.read_reply();
    EXPECT_EQ(a.status, 200);
    EXPECT_FALSE(a.keep_alive);  // Connection: close while stopping
    EXPECT_EQ(queued.read_reply().status, 200);
    stopper.join();
    EXPECT_EQ(cut, 0);
}

TEST(HttpServer, GracePeriodCutsAHandlerThatDoesNotFinish) {
    TestServer server({.threads = 1, .grace_period = 1s}, 0ms);
    RawClient held(server.port());
    ASSERT_TRUE(hold(server, held));
    // run() returns after the grace period, with the handler still held.
    const auto start = Clock::now();
    const int cut = server.stop();
    EXPECT_GE(ms_since(start), 900);
    EXPECT_LT(ms_since(start), 2'500);
    EXPECT_EQ(cut, 1);
    EXPECT_EQ(held.read_reply(2s).status, 0) << "a cut request got a reply";
}

TEST(HttpServer, GracePeriodCutsASlowUpload) {
    TestServer server({.threads = 1, .grace_period = 1s}, 0ms);
    RawClient slow(server.port());
    slow.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nfirst bytes");
    ASSERT_TRUE(eventually([&] { return server.server().load().in_flight == 1; }));
    const auto start = Clock::now();
    EXPECT_EQ(server.stop(), 1);
    EXPECT_GE(ms_since(start), 900);
    EXPECT_LT(ms_since(start), 2'500);
    EXPECT_TRUE(slow.closed_within(1s));
}

TEST(HttpServer, GracePeriodLetsASlowUploadThatFinishesInTimeThrough) {
    TestServer server({.threads = 1, .grace_period = 5s}, 0ms);
    RawClient slow(server.port());
    slow.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345");
    ASSERT_TRUE(eventually([&] { return server.server().load().in_flight == 1; }));
    int cut = -1;
    std::thread stopper([&] { cut = server.stop(); });
    std::this_thread::sleep_for(300ms);
    slow.send("67890");
    const RawClient::Reply reply = slow.read_reply();
    EXPECT_EQ(reply.status, 200);
    EXPECT_EQ(reply.body, R"({"bytes":10})");
    stopper.join();
    EXPECT_EQ(cut, 0);
}

// The gate answers from the head: a refused upload is never read (its
// 401 comes while the client still holds the body back), and its
// connection closes; a refused request without a body keeps its
// connection. What the gate lets through is served as usual.
TEST(HttpServer, GateRefusesFromTheHeadBeforeTheBody) {
    std::atomic<int> bodies_read{0};
    TestServer server({.threads = 1}, 0ms, [&](server::http::Server& s) {
        s.route("POST", "/counted", [&](const server::http::Request&) {
            ++bodies_read;
            return server::http::json_response(200, {{"read", true}});
        });
        s.set_gate([](const server::http::Request& r) -> std::optional<server::http::Response> {
            if (r.header("x-pass")) return std::nullopt;
            return server::http::error_response(401, "no pass");
        });
    });
    RawClient upload(server.port());
    upload.send("POST /counted HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nfirst bytes");
    const RawClient::Reply refused = upload.read_reply(5s);
    EXPECT_EQ(refused.status, 401);
    EXPECT_EQ(nlohmann::json::parse(refused.body), nlohmann::json({{"detail", "no pass"}}));
    EXPECT_FALSE(refused.keep_alive);
    EXPECT_TRUE(upload.closed_within(5s));

    RawClient get(server.port());
    get.send(RawClient::get("a"));
    const RawClient::Reply a = get.read_reply();
    EXPECT_EQ(a.status, 401);
    EXPECT_TRUE(a.keep_alive);
    get.send("GET /work?b HTTP/1.1\r\nHost: x\r\nX-Pass: 1\r\n\r\n");
    EXPECT_EQ(get.read_reply().status, 200);  // the same connection
    get.send("POST /counted HTTP/1.1\r\nHost: x\r\nX-Pass: 1\r\nContent-Length: 2\r\n\r\nok");
    EXPECT_EQ(get.read_reply().status, 200);
    EXPECT_EQ(bodies_read, 1);
    // Unknown paths meet the gate too, before routing.
    get.send("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(get.read_reply().status, 401);
    ASSERT_TRUE(eventually([&] { return server.seen().size() == 5; }));
    EXPECT_EQ(server.seen()[0].route, "/counted");
    EXPECT_EQ(server.seen()[0].status, 401);
}

// A probe answered on the accepting thread (the queue full) meets the gate too.
TEST(HttpServer, GateAppliesToProbesAnsweredWhenTheQueueIsFull) {
    TestServer server({.threads = 1, .max_queue = 0}, 0ms, [](server::http::Server& s) {
        s.set_gate([](const server::http::Request& r) -> std::optional<server::http::Response> {
            if (r.path == "/hold" || r.header("x-pass")) return std::nullopt;
            return server::http::error_response(401, "no pass");
        });
    });
    RawClient held(server.port());
    ASSERT_TRUE(hold(server, held));
    RawClient probe(server.port());
    probe.send("GET /probe HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(probe.read_reply(5s).status, 401);
    RawClient passing(server.port());
    passing.send("GET /probe HTTP/1.1\r\nHost: x\r\nX-Pass: 1\r\n\r\n");
    EXPECT_EQ(passing.read_reply(5s).status, 200);
    server.gate().open();
    EXPECT_EQ(held.read_reply().status, 200);
}

// The decorator's headers are on every response, the server's own errors
// included; a 204 has no Content-Type, Content-Length or body.
TEST(HttpServer, DecoratorOnEveryResponseAnd204HasNoBody) {
    TestServer server({.threads = 1, .max_body = 10}, 0ms, [](server::http::Server& s) {
        s.route("OPTIONS", "/work", [](const server::http::Request&) {
            server::http::Response r;
            r.status = 204;
            r.body = "dropped";
            return r;
        });
        s.set_decorator([](const server::http::Request& r, server::http::Response& response) {
            response.headers.push_back({"X-Decorated", r.path.empty() ? "unparsed" : r.path});
        });
    });
    RawClient client(server.port());
    client.send("OPTIONS /work HTTP/1.1\r\nHost: x\r\n\r\n");
    const RawClient::Reply no_content = client.read_reply();
    EXPECT_EQ(no_content.status, 204);
    EXPECT_TRUE(no_content.head.starts_with("HTTP/1.1 204 No Content\r\n")) << no_content.head;
    EXPECT_EQ(no_content.header("Content-Length"), "(absent)");
    EXPECT_EQ(no_content.header("Content-Type"), "(absent)");
    EXPECT_EQ(no_content.header("X-Decorated"), "/work");
    EXPECT_TRUE(no_content.keep_alive);
    client.send(RawClient::get("after"));  // nothing of "dropped" was sent before this reply
    const RawClient::Reply after = client.read_reply();
    EXPECT_EQ(after.status, 200);
    EXPECT_EQ(after.body, R"({"query":"after"})");
    for (const auto& [request, status] : std::vector<std::pair<std::string, int>>{
             {"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", 404},
             {"DELETE /work HTTP/1.1\r\nHost: x\r\n\r\n", 405},
             {"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n", 413}}) {
        RawClient c(server.port());
        c.send(request);
        const RawClient::Reply reply = c.read_reply();
        EXPECT_EQ(reply.status, status) << request;
        EXPECT_NE(reply.header("X-Decorated"), "(absent)") << request;
    }
    RawClient broken(server.port());
    broken.send("NOT HTTP\r\n\r\n");
    EXPECT_EQ(broken.read_reply().header("X-Decorated"), "unparsed");
}

}  // namespace
