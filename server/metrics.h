// GET /metrics: the service's counters in the Prometheus text exposition
// format 0.0.4, written by hand (no client library in Debian 12 links
// statically into our binary, and the format is a few lines of text):
// https://prometheus.io/docs/instrumenting/exposition_formats/
//
//   # HELP face_service_http_requests_total Requests answered, by route and status.
//   # TYPE face_service_http_requests_total counter
//   face_service_http_requests_total{route="/api/detect",status="200"} 12
//
// Recording is lock-free (relaxed atomics: a sample never waits for a
// scrape or for another request), and rendering reads the counters only,
// never the detector. A histogram's buckets are rendered cumulative from
// per-bucket counts and _count is their total, so a scrape taken while
// requests are recorded is still self-consistent (only _sum may lag by the
// samples in progress, which Prometheus tolerates).
//
// Families (prefix face_service_), see ServiceMetrics below:
//   http_requests_total{route,status}            counter
//   http_request_duration_seconds{route}         histogram
//   detection_stage_seconds{stage}               histogram (pnet, rnet, onet)
//   faces_per_photo                              histogram
//   photo_megapixels                             histogram
//   http_requests_in_flight, queue_depth         gauges
//   queue_rejected_total                         counter
//   detection_timeouts_total                     counter
//   ready, info{isa,mode,threads}                gauges
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mtcnn/detector.h"

namespace server {

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

using Labels = std::vector<std::pair<std::string, std::string>>;

// Writes the text format: HELP and TYPE once per family, then its samples.
class MetricsText {
public:
    void family(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, const Labels& labels, double value);
    const std::string& text() const { return out_; }

private:
    std::string out_;
};

// A label value with \, " and newline escaped, as the format requires.
std::string escape_label_value(std::string_view value);
// A sample value: shortest round-trip decimal, integers without a point, +Inf, -Inf, NaN.
std::string format_value(double value);

// A histogram with fixed upper bounds (ascending; +Inf is implied).
class Histogram {
public:
    explicit Histogram(std::vector<double> bounds);
    void observe(double value);
    // The _bucket, _sum and _count samples of `name` with `labels` (the family header is the caller's).
    void write(MetricsText& out, std::string_view name, const Labels& labels) const;

private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // per bucket, not cumulative; last: above every bound
    std::atomic<double> sum_{0.0};
};

// Everything /metrics reports. Routes are added before serving; after
// that every member function is thread-safe.
class ServiceMetrics {
public:
    struct Info {
        std::string isa, mode;
        int threads = 1;
    };
    // What is read at scrape time from the server and the service.
    struct Live {
        bool ready = false;
        int in_flight = 0;
        int queue_depth = 0;
        std::uint64_t rejected = 0;
    };

    explicit ServiceMetrics(Info info);

    // A route label value; "other" always exists (and takes unknown routes).
    void add_route(const std::string& route);

    void observe_request(std::string_view route, int status, double seconds);
    void observe_detection(const mtcnn::DetectStats& stats, std::size_t faces, double megapixels);
    // A detection, or the blurring or crops after it, stopped at
    // request_timeout (answered 503).
    void observe_timeout() { timeouts_.fetch_add(1, std::memory_order_relaxed); }

    std::string render(const Live& live) const;

private:
    static constexpr int kMinStatus = 100, kMaxStatus = 599;
    struct Route {
        std::array<std::atomic<std::uint64_t>, kMaxStatus - kMinStatus + 1> by_status{};
        Histogram duration;
        Route();
    };

    Info info_;
    std::map<std::string, std::unique_ptr<Route>, std::less<>> routes_;
    Histogram pnet_, rnet_, onet_;
    Histogram faces_;
    Histogram megapixels_;
    std::atomic<std::uint64_t> timeouts_{0};
};

}  // namespace server
