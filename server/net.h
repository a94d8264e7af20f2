// Socket addresses for the server and the healthcheck client: numeric only
// (a fully static glibc binary cannot do name lookups reliably), plus
// "localhost" as 127.0.0.1.
#pragma once

#include <sys/socket.h>

#include <optional>
#include <string>

namespace server {

struct SocketAddress {
    sockaddr_storage addr{};
    socklen_t len = 0;
    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&addr); }
};

// host:port as a socket address; nullopt when host is not a numeric IPv4 or
// IPv6 address or "localhost".
std::optional<SocketAddress> numeric_address(const std::string& host, int port);

// "203.0.113.7:51234" or "[2001:db8::1]:51234"; "?" for another family.
std::string format_address(const sockaddr_storage& addr);

}  // namespace server
