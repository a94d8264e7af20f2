#include "server/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace server {
namespace {

constexpr std::string_view kPrefix = "face_service_";

// Bucket bounds. Request durations: a probe takes well under 5 ms, a
// detection tens of ms to seconds, and a request waiting behind others
// (or a slow upload) up to the read timeouts; 60 s is past every timeout.
const std::vector<double> kDurationBounds{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
// One stage of one detection: from about a millisecond (RNet on a few
// windows) to seconds (PNet on a 50-megapixel pyramid).
const std::vector<double> kStageBounds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
// le="0": photos without a face.
const std::vector<double> kFacesBounds{0, 1, 2, 3, 5, 10, 20, 50, 100, 200};
// From thumbnails to the pixel limit's default (50) and past it.
const std::vector<double> kMegapixelBounds{0.1, 0.3, 0.5, 1, 2, 3, 5, 8, 12, 20, 50, 100};

std::string name(std::string_view suffix) { return std::string(kPrefix) + std::string(suffix); }

}  // namespace

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::string format_value(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    char text[32];
    const auto [end, ec] = std::to_chars(text, text + sizeof text, value);
    return ec == std::errc() ? std::string(text, end) : "NaN";
}

void MetricsText::family(std::string_view family_name, std::string_view type, std::string_view help) {
    // HELP text escapes \ and newline (not quotes).
    std::string escaped;
    for (char c : help) {
        if (c == '\\') escaped += "\\\\";
        else if (c == '\n') escaped += "\\n";
        else escaped += c;
    }
    out_ += "# HELP " + std::string(family_name) + " " + escaped + "\n";
    out_ += "# TYPE " + std::string(family_name) + " " + std::string(type) + "\n";
}

void MetricsText::sample(std::string_view sample_name, const Labels& labels, double value) {
    out_ += sample_name;
    if (!labels.empty()) {
        out_ += '{';
        for (std::size_t i = 0; i < labels.size(); ++i) {
            if (i > 0) out_ += ',';
            out_ += labels[i].first + "=\"" + escape_label_value(labels[i].second) + "\"";
        }
        out_ += '}';
    }
    out_ += ' ' + format_value(value) + '\n';
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
    for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double value) {
    // le is inclusive: the first bound >= value.
    const auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
    counts_[static_cast<std::size_t>(bucket)].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
}

void Histogram::write(MetricsText& out, std::string_view family_name, const Labels& labels) const {
    const std::string bucket_name = std::string(family_name) + "_bucket";
    std::uint64_t cumulative = 0;
    Labels with_le = labels;
    with_le.emplace_back("le", "");
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
        cumulative += counts_[i].load(std::memory_order_relaxed);
        with_le.back().second = i < bounds_.size() ? format_value(bounds_[i]) : "+Inf";
        out.sample(bucket_name, with_le, static_cast<double>(cumulative));
    }
    out.sample(std::string(family_name) + "_sum", labels, sum_.load(std::memory_order_relaxed));
    out.sample(std::string(family_name) + "_count", labels, static_cast<double>(cumulative));
}

ServiceMetrics::Route::Route() : duration(kDurationBounds) {}

ServiceMetrics::ServiceMetrics(Info info)
    : info_(std::move(info)),
      pnet_(kStageBounds),
      rnet_(kStageBounds),
      onet_(kStageBounds),
      faces_(kFacesBounds),
      megapixels_(kMegapixelBounds) {
    add_route("other");
}

void ServiceMetrics::add_route(const std::string& route) {
    if (!routes_.contains(route)) routes_.emplace(route, std::make_unique<Route>());
}

void ServiceMetrics::observe_request(std::string_view route, int status, double seconds) {
    auto it = routes_.find(route);
    if (it == routes_.end()) it = routes_.find(std::string_view("other"));
    Route& r = *it->second;
    if (status >= kMinStatus && status <= kMaxStatus)
        r.by_status[static_cast<std::size_t>(status - kMinStatus)].fetch_add(1, std::memory_order_relaxed);
    r.duration.observe(seconds);
}

void ServiceMetrics::observe_detection(const mtcnn::DetectStats& stats, std::size_t faces, double megapixels) {
    pnet_.observe(stats.pnet_seconds);
    rnet_.observe(stats.rnet_seconds);
    onet_.observe(stats.onet_seconds);
    faces_.observe(static_cast<double>(faces));
    megapixels_.observe(megapixels);
}

std::string ServiceMetrics::render(const Live& live) const {
    MetricsText out;

    const std::string requests = name("http_requests_total");
    out.family(requests, "counter", "HTTP requests answered, by route (the registered path, or other) and status.");
    for (const auto& [route, r] : routes_)
        for (int status = kMinStatus; status <= kMaxStatus; ++status)
            if (const auto n = r->by_status[static_cast<std::size_t>(status - kMinStatus)].load(std::memory_order_relaxed))
                out.sample(requests, {{"route", route}, {"status", std::to_string(status)}}, static_cast<double>(n));

    const std::string duration = name("http_request_duration_seconds");
    out.family(duration, "histogram",
               "Time from a request's first bytes ready to its response sent, waiting for a thread included.");
    for (const auto& [route, r] : routes_) r->duration.write(out, duration, {{"route", route}});

    const std::string stage = name("detection_stage_seconds");
    out.family(stage, "histogram", "Wall time of each cascade stage of a detection (resampling and NMS included).");
    pnet_.write(out, stage, {{"stage", "pnet"}});
    rnet_.write(out, stage, {{"stage", "rnet"}});
    onet_.write(out, stage, {{"stage", "onet"}});

    const std::string faces = name("faces_per_photo");
    out.family(faces, "histogram", "Faces returned per detected photo.");
    faces_.write(out, faces, {});

    const std::string megapixels = name("photo_megapixels");
    out.family(megapixels, "histogram", "Size of each detected photo, in millions of pixels.");
    megapixels_.write(out, megapixels, {});

    const std::string in_flight = name("http_requests_in_flight");
    out.family(in_flight, "gauge",
               "Requests a request thread is reading, handling or answering (a scrape on one counts itself).");
    out.sample(in_flight, {}, live.in_flight);

    const std::string depth = name("queue_depth");
    out.family(depth, "gauge", "Requests waiting for a request thread.");
    out.sample(depth, {}, live.queue_depth);

    const std::string rejected = name("queue_rejected_total");
    out.family(rejected, "counter", "Requests answered 503 at once because max_queue requests were waiting already.");
    out.sample(rejected, {}, static_cast<double>(live.rejected));

    const std::string timeouts = name("detection_timeouts_total");
    out.family(timeouts, "counter", "Detections, or the blurring or crops after them, stopped at the request_timeout setting (answered 503).");
    out.sample(timeouts, {}, static_cast<double>(timeouts_.load(std::memory_order_relaxed)));

    const std::string ready = name("ready");
    out.family(ready, "gauge", "1 once the detector is loaded and warmed up (GET /readyz answers 200), else 0.");
    out.sample(ready, {}, live.ready ? 1 : 0);

    const std::string info = name("info");
    out.family(info, "gauge", "Always 1; the labels describe the running service.");
    out.sample(info, {{"isa", info_.isa}, {"mode", info_.mode}, {"threads", std::to_string(info_.threads)}}, 1);
    return out.text();
}

}  // namespace server
