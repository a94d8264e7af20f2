// The JSON log lines of `face-service serve` (server/log.h): the time
// format, one object per line, and what an access-log line holds and never
// holds (the query string, the body).
#include "server/log.h"

#include <gtest/gtest.h>

#include <chrono>

namespace {

using namespace std::chrono_literals;
using server::http::Exchange;
using server::http::Request;
using server::http::Response;

std::chrono::system_clock::time_point at_ms(long long ms) {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

TEST(Log, Rfc3339UtcWithMilliseconds) {
    EXPECT_EQ(server::rfc3339_utc(at_ms(0)), "1970-01-01T00:00:00.000Z");
    EXPECT_EQ(server::rfc3339_utc(at_ms(1'714'564'800'123)), "2024-05-01T12:00:00.123Z");
    EXPECT_EQ(server::rfc3339_utc(at_ms(951'782'400'007)), "2000-02-29T00:00:00.007Z");  // leap day
    EXPECT_EQ(server::rfc3339_utc(at_ms(-1)), "1969-12-31T23:59:59.999Z");
}

TEST(Log, OneJsonObjectPerLineTimeLevelMsgFirst) {
    const std::string line = server::log_line(at_ms(1'714'564'800'123), server::LogLevel::warn, "two\nlines",
                                              {{"port", 8000}, {"msg", "not this one"}, {"time", 1}});
    ASSERT_TRUE(line.ends_with("}\n"));
    EXPECT_EQ(line.find('\n'), line.size() - 1) << "a newline inside the line";
    EXPECT_TRUE(line.starts_with(R"({"time":"2024-05-01T12:00:00.123Z","level":"warn","msg":"two\nlines",)")) << line;
    const auto parsed = nlohmann::json::parse(line);
    EXPECT_EQ(parsed.at("port"), 8000);
    EXPECT_EQ(parsed.at("msg"), "two\nlines");
    EXPECT_EQ(parsed.at("time"), "2024-05-01T12:00:00.123Z");
    EXPECT_EQ(parsed.size(), 4u);
}

TEST(Log, InvalidUtf8IsReplacedNotThrown) {
    std::string line;
    EXPECT_NO_THROW(line = server::log_line(at_ms(0), server::LogLevel::info, "x", {{"path", "/\xff\xfe"}}));
    EXPECT_EQ(nlohmann::json::parse(line).at("path"), "/\xEF\xBF\xBD\xEF\xBF\xBD");  // U+FFFD twice
}

TEST(Log, AccessFieldsWithoutQueryOrBody) {
    Request request;
    request.method = "POST";
    request.target = "/api/detect?confidence=0.123456&secret=hunter2";
    request.path = "/api/detect";
    request.query = "confidence=0.123456&secret=hunter2";
    request.body = "PHOTO-BYTES";
    request.id = "req-1";
    Response response = server::http::json_response(200, nlohmann::json::array());
    response.log_fields = {{"faces", 2}, {"status", 999}};  // a route's field never replaces the server's
    const Exchange e{request, response, "/api/detect", 12'345'678ns, 1000, 200, "127.0.0.1:5000"};
    const nlohmann::json fields = server::access_log_fields(e);
    const nlohmann::json expected = {{"request_id", "req-1"}, {"method", "POST"},    {"route", "/api/detect"},
                                     {"path", "/api/detect"}, {"status", 200},       {"duration_ms", 12.346},
                                     {"bytes_in", 1000},      {"bytes_out", 200},    {"remote", "127.0.0.1:5000"},
                                     {"faces", 2}};
    EXPECT_EQ(fields, expected);
    const std::string line = server::log_line(at_ms(0), server::access_log_level(200), "request", fields);
    for (const char* secret : {"hunter2", "0.123456", "PHOTO-BYTES", "?"})
        EXPECT_EQ(line.find(secret), std::string::npos) << secret << " in " << line;
}

TEST(Log, AccessLevels) {
    EXPECT_EQ(server::access_log_level(200), server::LogLevel::info);
    EXPECT_EQ(server::access_log_level(404), server::LogLevel::info);
    EXPECT_EQ(server::access_log_level(503), server::LogLevel::warn);
    EXPECT_EQ(server::access_log_level(500), server::LogLevel::error);
}

}  // namespace
