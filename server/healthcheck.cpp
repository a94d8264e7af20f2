#include "server/healthcheck.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <sstream>

#include "server/net.h"

namespace server {
namespace {

using Clock = std::chrono::steady_clock;

// Closes the socket however the check ends.
struct Socket {
    int fd = -1;
    ~Socket() {
        if (fd >= 0) ::close(fd);
    }
};

// Waits for `events` on fd until `deadline`; false on timeout.
bool wait_for(int fd, short events, Clock::time_point deadline) {
    while (true) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return false;
        pollfd p{fd, events, 0};
        const int r = ::poll(&p, 1, static_cast<int>(left));
        if (r > 0) return true;
        if (r < 0 && errno != EINTR) return false;
    }
}

std::string seconds_text(std::chrono::milliseconds t) {
    std::ostringstream out;
    out << static_cast<double>(t.count()) / 1000.0 << " s";
    return out.str();
}

}  // namespace

std::string check_health(const std::string& host, int port, std::chrono::milliseconds timeout,
                         const std::string& api_key) {
    const auto deadline = Clock::now() + timeout;
    const std::string address = host == "localhost" ? "127.0.0.1" : host;
    const bool ipv6 = address.find(':') != std::string::npos;
    const std::string where = (ipv6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
    const std::string no_answer = "no answer from " + where + " within " + seconds_text(timeout);

    const std::optional<SocketAddress> target = numeric_address(host, port);
    if (!target) return "not a numeric address: " + host;

    // Non-blocking, so that connect, send and receive all keep the deadline.
    Socket s{::socket(target->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    if (s.fd < 0) return std::string("cannot create a socket: ") + std::strerror(errno);
    if (::connect(s.fd, target->get(), target->len) != 0) {
        if (errno != EINPROGRESS) return "cannot connect to " + where + ": " + std::strerror(errno);
        if (!wait_for(s.fd, POLLOUT, deadline)) return no_answer;
        int error = 0;
        socklen_t error_len = sizeof error;
        ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &error, &error_len);
        if (error != 0) return "cannot connect to " + where + ": " + std::strerror(error);
    }

    const std::string key_header = api_key.empty() ? "" : "X-API-Key: " + api_key + "\r\n";
    const std::string request =
        "GET /healthz HTTP/1.1\r\nHost: " + where + "\r\n" + key_header + "Connection: close\r\n\r\n";
    std::size_t sent = 0;
    while (sent < request.size()) {
        if (!wait_for(s.fd, POLLOUT, deadline)) return no_answer;
        const ssize_t n = ::send(s.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n <= 0) return "cannot send to " + where + ": " + std::strerror(errno);
        sent += static_cast<std::size_t>(n);
    }

    // The status line is all we need: "HTTP/1.1 200 OK".
    std::string reply;
    while (reply.find("\r\n") == std::string::npos && reply.size() < 1024) {
        if (!wait_for(s.fd, POLLIN, deadline)) return no_answer;
        char chunk[512];
        const ssize_t n = ::recv(s.fd, chunk, sizeof chunk, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n < 0) return "cannot read from " + where + ": " + std::strerror(errno);
        if (n == 0) break;
        reply.append(chunk, static_cast<std::size_t>(n));
    }
    const std::string line = reply.substr(0, reply.find("\r\n"));
    if (line.size() < 12 || !line.starts_with("HTTP/1.") || line[8] != ' ')
        return reply.empty() ? where + " closed the connection without an answer" : "not an HTTP answer from " + where;
    const std::string status = line.substr(9, 3);
    if (status != "200") return "GET /healthz on " + where + " answered " + line.substr(9);
    return "";
}

}  // namespace server
