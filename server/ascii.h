// Two small text helpers the HTTP server's parser (http_message.cpp) and the
// HTTP client (http_client.cpp) share: ASCII lower case, and trimming the
// optional whitespace (spaces and tabs, RFC 9110 5.6.3) around header values.
#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace server::ascii {

inline std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

inline std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace server::ascii
