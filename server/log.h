// What `face-service serve` writes on stderr: one JSON object per line, so a
// container platform's log pipeline (Docker, Kubernetes + Loki/Fluent Bit)
// can index the fields without a parser of ours.
//
//   {"time": "2024-05-01T12:00:00.123Z", "level": "info", "msg": "...", ...fields}
//
// - time: RFC 3339, UTC, milliseconds (no time-zone database needed, which a
//   static binary in a FROM scratch image does not have).
// - level: "info", "warn" or "error".
// - Lines are written whole, under a lock: concurrent request threads never
//   interleave within a line.
// - Text that is not valid UTF-8 (a path is the client's bytes) is written
//   with U+FFFD in place of the bad bytes instead of failing.
//
// Access logs (one line per request) are built by access_log_fields() from
// what http::Server reports (http_server.h, Exchange); server/service.cpp
// decides which routes are logged.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "server/http_server.h"

namespace server {

enum class LogLevel { info, warn, error };

// "2024-05-01T12:00:00.123Z".
std::string rfc3339_utc(std::chrono::system_clock::time_point t);

// One log line, newline included: time, level and msg first, then `fields`
// (a JSON object; its own "time", "level" or "msg" would be dropped).
std::string log_line(std::chrono::system_clock::time_point t, LogLevel level, std::string_view msg,
                     const nlohmann::json& fields = nlohmann::json::object());

// Writes log_line(now, ...) to stderr.
void log_event(LogLevel level, std::string_view msg, const nlohmann::json& fields = nlohmann::json::object());

// The fields of a request's access-log line: request_id, method, route,
// path (never the query string: its values may be personal), status,
// duration_ms, bytes_in, bytes_out, remote, and the route's own
// Response::log_fields (faces for a detection). Never a body.
nlohmann::json access_log_fields(const http::Exchange& exchange);

// The level of a request's line: error for a fault of ours (5xx), warn for
// 503 (overload or not ready yet: expected, and retried), info otherwise.
LogLevel access_log_level(int status);

}  // namespace server
