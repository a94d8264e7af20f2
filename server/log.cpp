#include "server/log.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <mutex>

namespace server {
namespace {

const char* level_name(LogLevel level) {
    switch (level) {
        case LogLevel::info: return "info";
        case LogLevel::warn: return "warn";
        case LogLevel::error: return "error";
    }
    return "info";
}

// The ordered_json keeps time, level and msg at the front, where a person
// reading `kubectl logs` looks first.
using OrderedJson = nlohmann::ordered_json;

}  // namespace

std::string rfc3339_utc(std::chrono::system_clock::time_point t) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    const std::time_t seconds = static_cast<std::time_t>(ms / 1000 - (ms % 1000 < 0 ? 1 : 0));
    const int millis = static_cast<int>(((ms % 1000) + 1000) % 1000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[40];
    const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
    std::snprintf(text + n, sizeof text - n, ".%03dZ", millis);
    return text;
}

std::string log_line(std::chrono::system_clock::time_point t, LogLevel level, std::string_view msg,
                     const nlohmann::json& fields) {
    OrderedJson line;
    line["time"] = rfc3339_utc(t);
    line["level"] = level_name(level);
    line["msg"] = msg;
    if (fields.is_object())
        for (const auto& [key, value] : fields.items())
            if (key != "time" && key != "level" && key != "msg") line[key] = value;
    return line.dump(-1, ' ', false, OrderedJson::error_handler_t::replace) + "\n";
}

void log_event(LogLevel level, std::string_view msg, const nlohmann::json& fields) {
    const std::string line = log_line(std::chrono::system_clock::now(), level, msg, fields);
    static std::mutex mutex;
    std::lock_guard lock(mutex);
    std::cerr.write(line.data(), static_cast<std::streamsize>(line.size()));
    std::cerr.flush();
}

nlohmann::json access_log_fields(const http::Exchange& e) {
    const double ms = std::chrono::duration<double, std::milli>(e.duration).count();
    nlohmann::json fields = {
        {"request_id", e.request.id},
        {"method", e.request.method},
        {"route", e.route},
        {"path", e.request.path},
        {"status", e.response.status},
        {"duration_ms", std::round(ms * 1000.0) / 1000.0},  // microseconds are plenty
        {"bytes_in", e.bytes_in},
        {"bytes_out", e.bytes_out},
        {"remote", e.remote},
    };
    // The route's own fields never replace the ones above.
    if (e.response.log_fields.is_object())
        for (const auto& [key, value] : e.response.log_fields.items())
            if (!fields.contains(key)) fields[key] = value;
    return fields;
}

LogLevel access_log_level(int status) {
    if (status == 503) return LogLevel::warn;
    return status >= 500 ? LogLevel::error : LogLevel::info;
}

}  // namespace server
