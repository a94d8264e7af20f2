// The healthcheck client (server/healthcheck.h) against real sockets: a
// healthy server, an unhealthy one, a closed port, a listener that never
// answers, and a bad address, each answered within its timeout.
#include "server/healthcheck.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "server/http_server.h"
#include "tests/support/clock.h"

namespace {

using testing_support::Clock;
using testing_support::ms_since;
using namespace std::chrono_literals;

// GET /healthz answering `status`, on 127.0.0.1, any free port.
class HealthServer {
public:
    // With `key`, only a request with X-API-Key: key is healthy (401 otherwise).
    explicit HealthServer(int status, std::string key = {}) : server_(options()) {
        server_.route("GET", "/healthz", [status, key](const server::http::Request& r) {
            if (!key.empty() && r.header("x-api-key") != std::optional<std::string_view>(key))
                return server::http::error_response(401, "no key");
            return server::http::json_response(status, {{"status", status == 200 ? "alive" : "sick"}});
        });
        server_.listen();
        thread_ = std::thread([this] { server_.run(); });
    }
    ~HealthServer() {
        server_.stop();
        thread_.join();
    }
    int port() const { return server_.port(); }

private:
    static server::http::ServerOptions options() {
        server::http::ServerOptions o;
        o.host = "127.0.0.1";
        o.port = 0;
        o.threads = 1;
        return o;
    }
    server::http::Server server_;
    std::thread thread_;
};

// A socket bound to a free port on 127.0.0.1; listening (connections are
// queued by the kernel and never answered) or not (connections refused).
class BareSocket {
public:
    explicit BareSocket(bool listening) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0) throw std::runtime_error("bind");
        if (listening && ::listen(fd_, 8) != 0) throw std::runtime_error("listen");
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
    }
    ~BareSocket() { ::close(fd_); }
    int port() const { return port_; }

private:
    int fd_ = -1;
    int port_ = 0;
};

TEST(Healthcheck, HealthyServer) {
    HealthServer server(200);
    EXPECT_EQ(server::check_health("127.0.0.1", server.port(), 2s), "");
    EXPECT_EQ(server::check_health("localhost", server.port(), 2s), "");
}

TEST(Healthcheck, UnhealthyStatusIsNamed) {
    HealthServer server(503);
    const std::string reason = server::check_health("127.0.0.1", server.port(), 2s);
    EXPECT_NE(reason.find("answered 503"), std::string::npos) << reason;
}

TEST(Healthcheck, ClosedPortFailsAtOnce) {
    const BareSocket closed(false);  // bound, not listening: the kernel refuses
    const auto start = Clock::now();
    const std::string reason = server::check_health("127.0.0.1", closed.port(), 2s);
    EXPECT_LT(ms_since(start), 500);
    EXPECT_NE(reason.find("refused"), std::string::npos) << reason;
    EXPECT_EQ(reason.find('\n'), std::string::npos) << "one line";
}

TEST(Healthcheck, SilentServerTimesOut) {
    const BareSocket silent(true);
    const auto start = Clock::now();
    const std::string reason = server::check_health("127.0.0.1", silent.port(), 300ms);
    EXPECT_GE(ms_since(start), 250);
    EXPECT_LT(ms_since(start), 1'500);
    EXPECT_NE(reason.find("no answer from 127.0.0.1:"), std::string::npos) << reason;
    EXPECT_NE(reason.find("within 0.3 s"), std::string::npos) << reason;
}

TEST(Healthcheck, BadAddress) {
    EXPECT_NE(server::check_health("example.com", 80, 1s).find("not a numeric address"), std::string::npos);
}

// A server whose probes need a key (auth_probes) is asked with it.
TEST(Healthcheck, SendsTheKeyWhenGiven) {
    const HealthServer server(200, "probe-key-0123456789");
    EXPECT_EQ(server::check_health("127.0.0.1", server.port(), 2s, "probe-key-0123456789"), "");
    const std::string without = server::check_health("127.0.0.1", server.port(), 2s);
    EXPECT_NE(without.find("answered 401"), std::string::npos) << without;
}

}  // namespace
