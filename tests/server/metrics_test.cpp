// GET /metrics without sockets: the text format (checked strictly by
// tests/server/prometheus_text.h, whose own rules are tested first, so that
// it cannot pass everything), the families and their labels, histogram
// arithmetic, and concurrent recording while scraping.
#include "server/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

#include "tests/server/prometheus_text.h"

namespace {

using testing_support::check_exposition;

std::string errors_of(std::string_view text) {
    std::string all;
    for (const std::string& e : check_exposition(text).errors) all += e + "\n";
    return all;
}

const char* kValid =
    "# HELP a_total Things.\n# TYPE a_total counter\na_total{x=\"1\"} 3\na_total{x=\"2\"} 0\n"
    "# HELP h Sizes.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n"
    "# HELP g Level.\n# TYPE g gauge\ng -1.5e-3\n";

TEST(PrometheusChecker, AcceptsValidText) { EXPECT_EQ(errors_of(kValid), ""); }

// Each broken exposition is refused, for the reason named.
TEST(PrometheusChecker, RefusesEachViolation) {
    const std::string help_type = "# HELP g Level.\n# TYPE g gauge\n";
    const std::string hist = "# HELP h Sizes.\n# TYPE h histogram\n";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {help_type + "g 1", "newline"},
        {help_type + "\ng 1\n", "empty line"},
        {help_type + "g{x=\"1\"} 1\ng{x=\"1\"} 2\n", "series twice"},
        {help_type + "g 1 1700000000\n", "bad value"},
        {help_type + "g abc\n", "bad value"},
        {help_type + "g{1x=\"1\"} 1\n", "bad label name"},
        {help_type + "g{__x=\"1\"} 1\n", "bad label name"},
        {help_type + "g{x=\"a\\tb\"} 1\n", "bad escape"},
        {help_type + "g{x=1} 1\n", "not quoted"},
        {help_type + "g{x=\"1\",} 1\n", "trailing comma"},
        {help_type + "g{x=\"1\"y=\"2\"} 1\n", "commas"},
        {"# TYPE g gauge\ng 1\n", "without a HELP"},
        {"g 1\n", "without a TYPE"},
        {"# HELP 1g Level.\n# TYPE 1g gauge\n", "bad metric name"},
        {help_type + "# TYPE g gauge\ng 1\n", "TYPE twice"},
        {help_type + "g 1\n# HELP g again\n", "after its samples"},
        {help_type + "g{x=\"1\"} 1\n# HELP f F.\n# TYPE f gauge\nf 1\ng{x=\"2\"} 1\n", "one group"},
        {"# HELP c Things.\n# TYPE c counter\nc 1\n", "_total"},
        {"# HELP c_total Things.\n# TYPE c_total counter\nc_total -1\n", "negative"},
        {"# HELP g Level.\n# TYPE g summary\n", "bad type"},
        {"# a comment\n", "neither HELP nor TYPE"},
        {hist + "h_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", "+Inf"},
        {hist + "h_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", "ascending"},
        {hist + "h_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", "decrease"},
        {hist + "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n", "_count is not"},
        {hist + "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n", "no _sum"},
        {hist + "h_bucket{le=\"+Inf\"} 2\nh_sum 1\n", "no _count"},
    };
    for (const auto& [text, reason] : cases) {
        const std::string errors = errors_of(text);
        EXPECT_NE(errors.find(reason), std::string::npos) << "for:\n" << text << "\ngot: " << errors;
    }
}

TEST(MetricsText, EscapesAndValues) {
    EXPECT_EQ(server::escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    EXPECT_EQ(server::format_value(3), "3");
    EXPECT_EQ(server::format_value(0.005), "0.005");
    EXPECT_EQ(server::format_value(HUGE_VAL), "+Inf");
    EXPECT_EQ(server::format_value(-HUGE_VAL), "-Inf");
    EXPECT_EQ(server::format_value(NAN), "NaN");
    server::MetricsText out;
    out.family("x", "gauge", "back\\slash and\nnewline");
    out.sample("x", {{"path", "/a\"b\\c\nd"}}, 1.5);
    EXPECT_EQ(out.text(), "# HELP x back\\\\slash and\\nnewline\n# TYPE x gauge\nx{path=\"/a\\\"b\\\\c\\nd\"} 1.5\n");
    const auto parsed = check_exposition(out.text());
    EXPECT_TRUE(parsed.errors.empty()) << errors_of(out.text());
    EXPECT_EQ(parsed.value("x", {{"path", "/a\"b\\c\nd"}}), 1.5);  // the escapes read back
}

TEST(Histogram, CumulativeBucketsWithInclusiveBounds) {
    server::Histogram h({1, 2, 5});
    for (double v : {0.5, 1.0, 1.5, 2.0, 3.0, 100.0}) h.observe(v);
    server::MetricsText out;
    out.family("h", "histogram", "test");
    h.write(out, "h", {{"k", "v"}});
    const auto e = check_exposition(out.text());
    ASSERT_TRUE(e.errors.empty()) << errors_of(out.text());
    EXPECT_EQ(e.value("h_bucket", {{"k", "v"}, {"le", "1"}}), 2);  // 0.5 and 1 (le is inclusive)
    EXPECT_EQ(e.value("h_bucket", {{"k", "v"}, {"le", "2"}}), 4);
    EXPECT_EQ(e.value("h_bucket", {{"k", "v"}, {"le", "5"}}), 5);
    EXPECT_EQ(e.value("h_bucket", {{"k", "v"}, {"le", "+Inf"}}), 6);
    EXPECT_EQ(e.value("h_count", {{"k", "v"}}), 6);
    EXPECT_DOUBLE_EQ(e.value("h_sum", {{"k", "v"}}).value(), 108.0);
}

// The metrics of a service with three routes.
struct SampleMetrics : server::ServiceMetrics {
    SampleMetrics() : ServiceMetrics({"avx512", "default", 2}) {
        for (const char* route : {"/api/detect", "/healthz", "/metrics"}) add_route(route);
    }
};

TEST(ServiceMetrics, FreshServiceIsValidAndHasEveryFamily) {
    const SampleMetrics m;
    const std::string text = m.render({});
    const auto e = check_exposition(text);
    ASSERT_TRUE(e.errors.empty()) << errors_of(text) << text;
    const std::map<std::string, std::string> expected = {
        {"face_service_http_requests_total", "counter"},
        {"face_service_http_request_duration_seconds", "histogram"},
        {"face_service_detection_stage_seconds", "histogram"},
        {"face_service_faces_per_photo", "histogram"},
        {"face_service_photo_megapixels", "histogram"},
        {"face_service_http_requests_in_flight", "gauge"},
        {"face_service_queue_depth", "gauge"},
        {"face_service_queue_rejected_total", "counter"},
        {"face_service_detection_timeouts_total", "counter"},
        {"face_service_ready", "gauge"},
        {"face_service_info", "gauge"},
    };
    EXPECT_EQ(e.types, expected);
    EXPECT_EQ(e.value("face_service_ready"), 0);
    EXPECT_EQ(e.value("face_service_info", {{"isa", "avx512"}, {"mode", "default"}, {"threads", "2"}}), 1);
    EXPECT_EQ(e.value("face_service_http_request_duration_seconds_count", {{"route", "other"}}), 0);
    for (const char* stage : {"pnet", "rnet", "onet"})
        EXPECT_EQ(e.value("face_service_detection_stage_seconds_count", {{"stage", stage}}), 0) << stage;
}

TEST(ServiceMetrics, CountsDetectionTimeouts) {
    SampleMetrics m;
    EXPECT_EQ(check_exposition(m.render({})).value("face_service_detection_timeouts_total"), 0);
    m.observe_timeout();
    m.observe_timeout();
    const auto e = check_exposition(m.render({}));
    ASSERT_TRUE(e.errors.empty());
    EXPECT_EQ(e.value("face_service_detection_timeouts_total"), 2);
}

TEST(ServiceMetrics, CountsRequestsByRouteAndStatusUnknownRoutesAsOther) {
    SampleMetrics m;
    m.observe_request("/api/detect", 200, 0.3);
    m.observe_request("/api/detect", 200, 0.2);
    m.observe_request("/api/detect", 422, 0.001);
    m.observe_request("other", 404, 0.001);
    m.observe_request("/not/registered", 404, 0.001);  // never a label of its own
    m.observe_request("/healthz", 200, 0.0001);
    const std::string text = m.render({true, 3, 4, 5});
    const auto e = check_exposition(text);
    ASSERT_TRUE(e.errors.empty()) << errors_of(text);
    const std::string total = "face_service_http_requests_total";
    EXPECT_EQ(e.value(total, {{"route", "/api/detect"}, {"status", "200"}}), 2);
    EXPECT_EQ(e.value(total, {{"route", "/api/detect"}, {"status", "422"}}), 1);
    EXPECT_EQ(e.value(total, {{"route", "other"}, {"status", "404"}}), 2);
    EXPECT_EQ(e.value(total, {{"route", "/healthz"}, {"status", "200"}}), 1);
    EXPECT_EQ(text.find("/not/registered"), std::string::npos);
    EXPECT_EQ(e.value(total, {{"route", "/metrics"}, {"status", "200"}}), std::nullopt);  // none yet: no series
    const std::string duration = "face_service_http_request_duration_seconds";
    EXPECT_EQ(e.value(duration + "_count", {{"route", "/api/detect"}}), 3);
    EXPECT_EQ(e.value(duration + "_bucket", {{"route", "/api/detect"}, {"le", "0.25"}}), 2);
    EXPECT_NEAR(e.value(duration + "_sum", {{"route", "/api/detect"}}).value(), 0.501, 1e-9);
    EXPECT_EQ(e.value("face_service_ready"), 1);
    EXPECT_EQ(e.value("face_service_http_requests_in_flight"), 3);
    EXPECT_EQ(e.value("face_service_queue_depth"), 4);
    EXPECT_EQ(e.value("face_service_queue_rejected_total"), 5);
}

TEST(ServiceMetrics, DetectionStagesFacesAndMegapixels) {
    SampleMetrics m;
    mtcnn::DetectStats stats;
    stats.pnet_seconds = 0.02;
    stats.rnet_seconds = 0.004;
    stats.onet_seconds = 0.3;
    m.observe_detection(stats, 0, 0.03);
    m.observe_detection(stats, 3, 12.0);
    const auto e = check_exposition(m.render({}));
    ASSERT_TRUE(e.errors.empty());
    const std::string stage = "face_service_detection_stage_seconds";
    EXPECT_EQ(e.value(stage + "_count", {{"stage", "pnet"}}), 2);
    EXPECT_EQ(e.value(stage + "_bucket", {{"stage", "pnet"}, {"le", "0.01"}}), 0);
    EXPECT_EQ(e.value(stage + "_bucket", {{"stage", "pnet"}, {"le", "0.025"}}), 2);
    EXPECT_EQ(e.value(stage + "_bucket", {{"stage", "rnet"}, {"le", "0.005"}}), 2);
    EXPECT_EQ(e.value(stage + "_bucket", {{"stage", "onet"}, {"le", "0.25"}}), 0);
    EXPECT_NEAR(e.value(stage + "_sum", {{"stage", "onet"}}).value(), 0.6, 1e-12);
    EXPECT_EQ(e.value("face_service_faces_per_photo_bucket", {{"le", "0"}}), 1);  // the photo without a face
    EXPECT_EQ(e.value("face_service_faces_per_photo_bucket", {{"le", "3"}}), 2);
    EXPECT_EQ(e.value("face_service_faces_per_photo_sum"), 3);
    EXPECT_EQ(e.value("face_service_photo_megapixels_bucket", {{"le", "0.1"}}), 1);
    EXPECT_EQ(e.value("face_service_photo_megapixels_bucket", {{"le", "12"}}), 2);
}

// Scrapes taken while four threads record stay valid (cumulative buckets,
// _count = +Inf), and nothing is lost.
TEST(ServiceMetrics, ConcurrentRecordingAndScraping) {
    SampleMetrics m;
    constexpr int kThreads = 4, kEach = 20'000;
    std::vector<std::thread> writers;
    for (int t = 0; t < kThreads; ++t)
        writers.emplace_back([&m, t] {
            for (int i = 0; i < kEach; ++i) m.observe_request("/api/detect", 200 + t, 0.001 * (i % 100));
        });
    int scrapes = 0;
    for (; scrapes < 50; ++scrapes) {
        const std::string text = m.render({});
        ASSERT_EQ(errors_of(text), "") << "scrape " << scrapes;
    }
    for (std::thread& w : writers) w.join();
    const auto e = check_exposition(m.render({}));
    EXPECT_EQ(e.value("face_service_http_request_duration_seconds_count", {{"route", "/api/detect"}}), kThreads * kEach);
    for (int t = 0; t < kThreads; ++t)
        EXPECT_EQ(e.value("face_service_http_requests_total", {{"route", "/api/detect"}, {"status", std::to_string(200 + t)}}),
                  kEach);
}

}  // namespace
