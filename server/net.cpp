#include "server/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>

namespace server {

std::optional<SocketAddress> numeric_address(const std::string& host, int port) {
    const std::string numeric = host == "localhost" ? "127.0.0.1" : host;
    SocketAddress out;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out.addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.addr);
    if (::inet_pton(AF_INET, numeric.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<std::uint16_t>(port));
        out.len = sizeof *v4;
    } else if (::inet_pton(AF_INET6, numeric.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<std::uint16_t>(port));
        out.len = sizeof *v6;
    } else {
        return std::nullopt;
    }
    return out;
}

std::string format_address(const sockaddr_storage& addr) {
    char host[INET6_ADDRSTRLEN] = "?";
    if (addr.ss_family == AF_INET) {
        const auto* v4 = reinterpret_cast<const sockaddr_in*>(&addr);
        ::inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
        return std::string(host) + ":" + std::to_string(ntohs(v4->sin_port));
    }
    if (addr.ss_family == AF_INET6) {
        const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&addr);
        ::inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
        // Appended piece by piece: "[" + std::string + ... trips GCC 12's
        // false -Wrestrict warning (GCC bug 105329).
        std::string out = "[";
        out += host;
        out += "]:";
        out += std::to_string(ntohs(v6->sin6_port));
        return out;
    }
    return "?";
}

}  // namespace server
