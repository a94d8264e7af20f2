// The HTTP client (server/http_client.h) against our own server (server::http::Server on
// a free port: keep-alive, Connection: close, idle timeouts, 404) and against
// a scripted socket for the framings our server never sends (chunked, closing
// the connection) and for broken replies.
#include "server/http_client.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "server/http_server.h"

namespace {

using server::http_client::Client;
using server::http_client::Endpoint;
using server::http_client::parse_base_url;
using server::http_client::Reply;

// A server::http::Server on 127.0.0.1, any free port, with a route that
// echoes what it received; served on a thread until the end of the test.
class EchoServer {
public:
    explicit EchoServer(server::http::ServerOptions options = {}) : server_(with_free_port(options)) {
        const auto echo = [](const server::http::Request& r) {
            return server::http::json_response(200, {{"method", r.method},
                                                     {"query", r.query},
                                                     {"length", r.body.size()},
                                                     {"content_type", r.header("content-type").value_or("")},
                                                     {"api_key", r.header("x-api-key").value_or("")}});
        };
        server_.route("POST", "/echo", echo);
        server_.route("GET", "/echo", echo);
        server_.listen();
        thread_ = std::thread([this] { server_.run(); });
    }
    ~EchoServer() {
        server_.stop();
        thread_.join();
    }
    Endpoint endpoint() const { return {"127.0.0.1", server_.port()}; }

private:
    static server::http::ServerOptions with_free_port(server::http::ServerOptions o) {
        o.host = "127.0.0.1";
        o.port = 0;
        o.threads = std::min(o.threads, 2);
        return o;
    }
    server::http::Server server_;
    std::thread thread_;
};

// Accepts one connection and answers each request head (GET: no body) with
// the next of `replies`, written as given; then closes, or with `hold` keeps
// the connection open until the client closes it.
class ScriptedServer {
public:
    explicit ScriptedServer(std::vector<std::string> replies, bool hold = false) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd_, 4) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
            throw std::runtime_error("scripted server: cannot listen");
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this, replies = std::move(replies), hold] { serve(replies, hold); });
    }
    explicit ScriptedServer(std::string reply, bool hold = false)
        : ScriptedServer(std::vector<std::string>{std::move(reply)}, hold) {}
    ~ScriptedServer() {
        thread_.join();
        ::close(fd_);
    }
    Endpoint endpoint() const { return {"127.0.0.1", port_}; }

private:
    void serve(const std::vector<std::string>& replies, bool hold) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 5'000) != 1) return;  // the client never came
        const int c = ::accept(fd_, nullptr, nullptr);
        std::string received;
        char buf[4096];
        for (const std::string& reply : replies) {
            std::size_t end;
            while ((end = received.find("\r\n\r\n")) == std::string::npos) {
                const ssize_t n = ::recv(c, buf, sizeof buf, 0);
                if (n <= 0) break;
                received.append(buf, static_cast<std::size_t>(n));
            }
            if (end == std::string::npos) break;  // the client left
            received.erase(0, end + 4);
            for (std::string_view rest = reply; !rest.empty();) {
                const ssize_t n = ::send(c, rest.data(), rest.size(), MSG_NOSIGNAL);
                if (n <= 0) break;  // the client gave up reading
                rest.remove_prefix(static_cast<std::size_t>(n));
            }
        }
        while (hold && ::recv(c, buf, sizeof buf, 0) > 0) {}
        ::close(c);
    }

    int fd_ = -1;
    int port_ = 0;
    std::thread thread_;
};

// The message of the std::runtime_error that `f` throws ("" when none).
template <typename F>
std::string error_of(F f) {
    try {
        f();
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "";
}

nlohmann::json json_of(const Reply& r) { return nlohmann::json::parse(r.body); }

TEST(ParseBaseUrl, AcceptsHostPortAndBrackets) {
    struct Case {
        const char* url;
        const char* host;
        int port;
    };
    for (const Case& c : {Case{"http://localhost:8000", "localhost", 8000}, Case{"http://127.0.0.1:8123/", "127.0.0.1", 8123},
                          Case{"http://face-service.internal", "face-service.internal", 80},
                          Case{"http://[::1]:9000", "::1", 9000}, Case{"http://[2001:db8::7]/", "2001:db8::7", 80},
                          Case{"HTTP://Example.COM:65535", "Example.COM", 65535}}) {
        SCOPED_TRACE(c.url);
        const Endpoint e = parse_base_url(c.url);
        EXPECT_EQ(e.host, c.host);
        EXPECT_EQ(e.port, c.port);
    }
}

TEST(ParseBaseUrl, RefusesAnythingElseQuotingTheUrl) {
    struct Case {
        const char* url;
        const char* why;  // part of the message
    };
    for (const Case& c : {Case{"https://localhost", "https"}, Case{"ftp://localhost", "http://"},
                          Case{"localhost:8000", "http://"}, Case{"", "http://"}, Case{"http://", "host is empty"},
                          Case{"http://:8000", "host is empty"}, Case{"http://host:", "port"},
                          Case{"http://host:0", "port"}, Case{"http://host:65536", "port"}, Case{"http://host:80a", "port"},
                          Case{"http://host:-1", "port"}, Case{"http://host/api", "path"}, Case{"http://host?x=1", "path"},
                          Case{"http://host//", "path"}, Case{"http://user@host", "user info"},
                          Case{"http://[::1", "']'"}, Case{"http://[::1]x", "after the IPv6"},
                          Case{"http://[zz::1]:80", "not an IPv6"}, Case{"http://a b", "not a host name"}}) {
        SCOPED_TRACE(c.url);
        try {
            parse_base_url(c.url);
            ADD_FAILURE() << "accepted";
        } catch (const std::invalid_argument& e) {
            const std::string message = e.what();
            EXPECT_NE(message.find('"' + std::string(c.url) + '"'), std::string::npos) << message;
            EXPECT_NE(message.find(c.why), std::string::npos) << message;
        }
    }
}

TEST(Client, PostRoundTrip) {
    EchoServer server;
    Client client(server.endpoint());
    std::string photo(100'000, '\0');
    for (std::size_t i = 0; i < photo.size(); ++i) photo[i] = static_cast<char>(i * 7);
    photo.replace(500, 4, "\r\n\r\n");  // body bytes that look like the end of a head

    const Reply r = client.post("/echo?mode=default&confidence=0", "application/octet-stream", photo);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, "application/json");
    const auto j = json_of(r);
    EXPECT_EQ(j["method"], "POST");
    EXPECT_EQ(j["query"], "mode=default&confidence=0");
    EXPECT_EQ(j["length"], photo.size());
    EXPECT_EQ(j["content_type"], "application/octet-stream");
}

// An API key for face-service detect --server, on every request of the
// connection; what could split the head is refused.
TEST(Client, SendsAddedHeadersWithEveryRequest) {
    EchoServer server;
    Client client(server.endpoint());
    EXPECT_EQ(json_of(client.get("/echo"))["api_key"], "");
    client.add_header("X-API-Key", "key-0123456789abcdef");
    EXPECT_EQ(json_of(client.get("/echo"))["api_key"], "key-0123456789abcdef");
    EXPECT_EQ(json_of(client.post("/echo", "text/plain", "x"))["api_key"], "key-0123456789abcdef");
    EXPECT_THROW(client.add_header("Bad Name", "v"), std::invalid_argument);
    EXPECT_THROW(client.add_header("X-Split", "a\r\nInjected: 1"), std::invalid_argument);
    EXPECT_THROW(client.add_header("", "v"), std::invalid_argument);
    EXPECT_EQ(json_of(client.get("/echo"))["api_key"], "key-0123456789abcdef");
}

TEST(Client, LargeBodyAndEmptyBody) {
    EchoServer server;
    Client client(server.endpoint());
    EXPECT_EQ(json_of(client.post("/echo", "image/jpeg", std::string(5 << 20, 'x')))["length"], 5 << 20);
    EXPECT_EQ(json_of(client.post("/echo", "image/jpeg", ""))["length"], 0);
    EXPECT_EQ(json_of(client.get("/echo?a=b"))["method"], "GET");
}

TEST(Client, KeepsOneConnectionForSeveralRequests) {
    EchoServer server;
    Client client(server.endpoint());
    for (int i = 0; i < 10; ++i) {
        const Reply r = client.post("/echo?i=" + std::to_string(i), "application/octet-stream", std::string(i * 1000, 'a'));
        ASSERT_EQ(r.status, 200);
        EXPECT_EQ(json_of(r)["query"], "i=" + std::to_string(i));
        EXPECT_EQ(json_of(r)["length"], i * 1000);
    }
    EXPECT_EQ(client.stats().connections, 1);
    EXPECT_EQ(client.stats().retries, 0);
}

TEST(Client, ReconnectsAfterConnectionClose) {
    server::http::ServerOptions options;
    options.max_requests_per_connection = 2;  // the second reply on each connection says Connection: close
    EchoServer server(options);
    Client client(server.endpoint());
    for (int i = 0; i < 5; ++i) EXPECT_EQ(client.get("/echo?i=" + std::to_string(i)).status, 200);
    EXPECT_EQ(client.stats().connections, 3);
    EXPECT_EQ(client.stats().retries, 0);  // closed as announced, never found closed
}

TEST(Client, RetriesOnceWhenTheServerClosedTheIdleConnection) {
    server::http::ServerOptions options;
    options.keep_alive_timeout = std::chrono::milliseconds(100);
    EchoServer server(options);
    Client client(server.endpoint());
    EXPECT_EQ(client.get("/echo?first").status, 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(600));  // the server closes the idle connection
    const Reply r = client.post("/echo?second", "application/octet-stream", "abc");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(json_of(r)["query"], "second");
    EXPECT_EQ(client.stats().connections, 2);
    EXPECT_EQ(client.stats().retries, 1);
}

TEST(Client, MoreClientsThanServerThreads) {
    // The evaluator's pattern: more clients than server threads, each on its
    // own persistent connection, served in turn; every request succeeds.
    server::http::ServerOptions options;
    options.threads = 2;
    EchoServer server(options);
    std::vector<std::string> failures(6);
    std::vector<int> ok(6, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t)
        threads.emplace_back([&, t] {
            Client client(server.endpoint());
            try {
                for (int i = 0; i < 20; ++i) {
                    const std::string query = std::to_string(t) + "-" + std::to_string(i);
                    const Reply r = client.post("/echo?" + query, "application/octet-stream", std::string(20'000, 'p'));
                    if (r.status == 200 && json_of(r)["query"] == query) ++ok[t];
                }
            } catch (const std::exception& e) {
                failures[t] = e.what();
            }
        });
    for (std::thread& t : threads) t.join();
    for (int t = 0; t < 6; ++t) {
        EXPECT_EQ(ok[t], 20) << "client " << t;
        EXPECT_EQ(failures[t], "") << "client " << t;
    }
}

TEST(Client, ErrorStatusIsAReply) {
    EchoServer server;
    Client client(server.endpoint());
    const Reply r = client.get("/no/such/path");
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_NE(json_of(r)["detail"].get<std::string>().find("/no/such/path"), std::string::npos);
    EXPECT_EQ(client.get("/echo").status, 200);  // and the connection is still good
    EXPECT_EQ(client.stats().connections, 1);
}

TEST(Client, ConnectionRefusedNamesHostAndPort) {
    // A port that was free a moment ago: bound, then closed without listening.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    const int port = ntohs(addr.sin_port);
    ::close(fd);

    Client client({"127.0.0.1", port});
    const std::string message = error_of([&] { client.get("/"); });
    EXPECT_NE(message.find("127.0.0.1:" + std::to_string(port) + ": "), std::string::npos) << message;
    EXPECT_NE(message.find("refused"), std::string::npos) << message;
}

TEST(Client, UnknownHostNamesIt) {
    Client client({"no-such-host.invalid", 8000});
    const std::string message = error_of([&] { client.get("/"); });
    EXPECT_NE(message.find("no-such-host.invalid:8000: cannot resolve"), std::string::npos) << message;
}

TEST(Client, RefusesABadTarget) {
    Client client({"127.0.0.1", 1});
    EXPECT_THROW(client.get("api/detect"), std::invalid_argument);
    EXPECT_THROW(client.get("/a b"), std::invalid_argument);
    EXPECT_THROW(client.get("/a\r\nX: y"), std::invalid_argument);
    EXPECT_THROW(client.post("/a", "text/plain\r\nX: y", ""), std::invalid_argument);
}

TEST(Client, ChunkedReplies) {
    // Two on one connection: the first must be consumed to its last byte
    // (trailer included) for the second to be read.
    const std::string chunked =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n1;ext=1\r\n \r\nA \r\n0123456789\r\n0\r\nX-Trailer: yes\r\n\r\n";
    ScriptedServer server({chunked, chunked}, /*hold=*/true);
    Client client(server.endpoint(), std::chrono::milliseconds(2'000));
    for (int i = 0; i < 2; ++i) {
        const Reply r = client.get("/");
        EXPECT_EQ(r.status, 200);
        EXPECT_EQ(r.content_type, "text/plain");
        EXPECT_EQ(r.body, "hello 0123456789");
    }
    EXPECT_EQ(client.stats().connections, 1);
}

TEST(Client, ReplyEndedByClosing) {
    ScriptedServer server("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it\r\n\r\nuntil the end");
    Client client(server.endpoint());
    EXPECT_EQ(client.get("/").body, "all of it\r\n\r\nuntil the end");
}

TEST(Client, SkipsInterimReplies) {
    ScriptedServer server("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
    Client client(server.endpoint());
    const Reply r = client.get("/");
    EXPECT_EQ(r.status, 201);
    EXPECT_EQ(r.body, "ok");
}

// The headers come back, names in lower case and values trimmed, so that a
// caller can honour a 503's Retry-After (face-service detect --server).
TEST(Client, KeepsTheReplyHeaders) {
    ScriptedServer server("HTTP/1.1 503 Service Unavailable\r\nRetry-After:  7 \r\nContent-Length: 2\r\n\r\nno");
    Client client(server.endpoint());
    const Reply r = client.get("/");
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.header("retry-after"), "7");
    EXPECT_EQ(r.header("content-length"), "2");
    EXPECT_FALSE(r.header("x-missing"));
}

TEST(Client, BrokenRepliesAreErrors) {
    struct Case {
        std::string reply;
        std::string message;
    };
    const std::vector<Case> cases = {
        {"HTTP/1.1 OK\r\n\r\n", "malformed status line \"HTTP/1.1 OK\""},
        {"ICY 200 OK\r\nContent-Length: 0\r\n\r\n", "malformed status line"},
        {"HTTP/1.1 2000 OK\r\n\r\n", "malformed status line"},
        {"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "malformed header line \"no colon\""},
        {"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n", "malformed header line"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n", "malformed Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", "malformed Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "closed in the middle of the reply body"},
        {"HTTP/1.1 200 OK\r\nX-Big: " + std::string(70'000, 'h') + "\r\n\r\n", "reply head over 64 KiB"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 67108865\r\n\r\n", "over 64 MiB"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4000001\r\n", "over 64 MiB"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed chunk size line \"zz\""},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n", "not followed by CRLF"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "unsupported Transfer-Encoding"},
        {"HTTP/1.1 200 OK\r\nContent-Le", "closed in the middle of the reply head"},
        {"", "closed the connection before replying"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.reply.substr(0, 60));
        ScriptedServer server(c.reply);
        Client client(server.endpoint());
        const std::string message = error_of([&] { client.get("/"); });
        EXPECT_TRUE(message.starts_with("127.0.0.1:" + std::to_string(server.endpoint().port) + ": ")) << message;
        EXPECT_NE(message.find(c.message), std::string::npos) << message;
        EXPECT_EQ(client.stats().retries, 0);  // a fresh connection is never retried
    }
}

TEST(Client, TimesOut) {
    ScriptedServer server("", /*hold=*/true);
    Client client(server.endpoint(), std::chrono::milliseconds(200));
    const auto start = std::chrono::steady_clock::now();
    const std::string message = error_of([&] { client.get("/"); });
    EXPECT_NE(message.find("timed out waiting for the reply"), std::string::npos) << message;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

}  // namespace
