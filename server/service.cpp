#include "server/service.h"

#include <malloc.h>  // malloc_trim, mallopt (glibc)

#include <charconv>
#include <cmath>
#include <new>
#include <sstream>
#include <span>

#include "engine/cpu.h"
#include "mtcnn/face_json.h"
#include "mtcnn/image.h"
#include "server/assets.h"
#include "server/log.h"
#include "server/media_routes.h"

namespace server {
namespace {

using http::HttpError;
using http::Request;
using http::Response;

// Warm-up photo: large enough for a few pyramid levels (so PNet runs at
// several scales and every buffer size class is touched once), small enough
// to take milliseconds. Smooth gradients, no face.
constexpr int kWarmUpSide = 96;

// Probes and scrapes: counted, never logged (service.h).
bool is_quiet_route(std::string_view route) { return is_probe_route(route); }

void log_handler_error(const Request& request, std::string_view error) {
    log_event(LogLevel::error, "request failed",
              {{"request_id", request.id}, {"method", request.method}, {"path", request.path}, {"error", error}});
}

mtcnn::Image warm_up_image() {
    mtcnn::Image image;
    image.width = kWarmUpSide;
    image.height = kWarmUpSide;
    image.pixels.resize(static_cast<std::size_t>(kWarmUpSide) * kWarmUpSide * 3);
    for (int y = 0; y < kWarmUpSide; ++y)
        for (int x = 0; x < kWarmUpSide; ++x) {
            std::uint8_t* p = &image.pixels[(static_cast<std::size_t>(y) * kWarmUpSide + x) * 3];
            p[0] = static_cast<std::uint8_t>(x * 255 / kWarmUpSide);
            p[1] = static_cast<std::uint8_t>(y * 255 / kWarmUpSide);
            p[2] = static_cast<std::uint8_t>((x + y) * 127 / kWarmUpSide);
        }
    return image;
}

}  // namespace

namespace {

// What an error answers: with_json_errors' response, or a batch photo's
// entry (detect_batch).
struct ErrorAnswer {
    int status = 500;
    std::string detail;
    bool retry_after = false;  // Retry-After: 1 (a time limit passed)
};

// The one mapping of typed errors to statuses (service.h). Call inside a
// catch block: it rethrows the exception being handled. Unexpected errors
// are logged against `request`, their message never sent.
ErrorAnswer current_error_answer(const Request& request) {
    try {
        throw;
    } catch (const HttpError& e) {
        return {e.status(), e.what()};
    } catch (const mtcnn::InvalidImage& e) {
        return {400, e.what()};
    } catch (const mtcnn::UnsupportedImageFormat& e) {
        return {415, e.what()};
    } catch (const mtcnn::ImageTooLarge& e) {
        return {413, e.what()};
    } catch (const mtcnn::DetectionTimeout& e) {
        return {503, e.what(), true};
    } catch (const std::bad_alloc&) {
        log_handler_error(request, "out of memory");
        return {500, "out of memory"};
    } catch (const std::exception& e) {
        log_handler_error(request, e.what());
        return {500, "internal error"};
    } catch (...) {
        log_handler_error(request, "unknown exception");
        return {500, "internal error"};
    }
}

}  // namespace

http::Handler with_json_errors(http::Handler handler) {
    return [handler = std::move(handler)](const Request& request) -> Response {
        try {
            return handler(request);
        } catch (...) {
            const ErrorAnswer answer = current_error_answer(request);
            Response r = http::error_response(answer.status, answer.detail);
            if (answer.retry_after) r.headers.push_back({"Retry-After", "1"});
            return r;
        }
    };
}

// The value of query parameter `name`, when given exactly once; HttpError
// 422 when repeated. Other parameters are ignored, as the predecessor did.
std::optional<std::string> query_value(const Request& request, std::string_view name) {
    std::optional<std::string> given;
    for (auto& [key, value] : http::parse_query(request.query)) {
        if (key != name) continue;
        if (given) throw HttpError(422, std::string(name) + " given more than once");
        given = value;
    }
    return given;
}

const mtcnn::Mode& request_mode(const Request& request, std::string_view fallback) {
    const std::optional<std::string> given = query_value(request, "mode");
    try {
        return mtcnn::find_mode(given ? *given : fallback);
    } catch (const mtcnn::UnknownMode& e) {
        throw HttpError(422, e.what());
    }
}

double request_confidence(const Request& request, double fallback) {
    const std::optional<std::string> given = query_value(request, "confidence");
    if (!given) return fallback;
    double c = 0;
    const char* first = given->data();
    const char* last = first + given->size();
    const auto [end, ec] = std::from_chars(first, last, c);
    if (given->empty() || ec != std::errc() || end != last || !std::isfinite(c) || c < 0.0 || c > 1.0)
        throw HttpError(422, "confidence must be a number in [0, 1], got '" + *given + "'");
    return c;
}

namespace {

// A whole integer query value >= `least`, within int: nullopt when absent,
// HttpError 422 (`rule`) when invalid or repeated.
std::optional<int> query_integer(const Request& request, std::string_view name, int least, const std::string& rule) {
    const std::optional<std::string> given = query_value(request, name);
    if (!given) return std::nullopt;
    int n = 0;
    const char* first = given->data();
    const char* last = first + given->size();
    const auto [end, ec] = std::from_chars(first, last, n);
    if (given->empty() || ec != std::errc() || end != last || n < least)
        throw HttpError(422, std::string(name) + " must be " + rule + ", got '" + *given + "'");
    return n;
}

}  // namespace

std::optional<std::size_t> request_max_faces(const Request& request) {
    const std::optional<int> n = query_integer(request, "max_faces", 1, "an integer of at least 1");
    if (!n) return std::nullopt;
    return static_cast<std::size_t>(*n);
}

std::optional<int> request_min_face_size(const Request& request) {
    return query_integer(request, "min_face_size", mtcnn::kSmallestMinFace,
                         "an integer of at least " + std::to_string(mtcnn::kSmallestMinFace) + " (pixels)");
}

DetectQuery request_detect_query(const Request& request, std::string_view default_mode, double default_confidence) {
    DetectQuery query{request_mode(request, default_mode), request_confidence(request, default_confidence),
                      request_max_faces(request)};
    if (const std::optional<int> min_face = request_min_face_size(request)) query.mode.options.min_face = *min_face;
    return query;
}

namespace {

// The parts of a multipart/form-data body; nullopt when the body is not one
// (an unreadable Content-Type included: the body is then read as a photo).
std::optional<std::vector<http::FormPart>> form_parts(const Request& request) {
    const std::optional<std::string_view> content_type = request.header("content-type");
    if (!content_type) return std::nullopt;
    http::MediaType media;
    try {
        media = http::parse_media_type(*content_type);
    } catch (const HttpError&) {
        return std::nullopt;
    }
    if (media.type != "multipart/form-data") return std::nullopt;
    const auto boundary = media.params.find("boundary");
    if (boundary == media.params.end()) throw HttpError(400, "multipart/form-data without a boundary");
    return http::parse_multipart(request.body, boundary->second);
}

}  // namespace

std::string_view request_image(const Request& request) {
    if (const auto parts = form_parts(request)) {
        for (const http::FormPart& part : *parts)
            if (part.name == "image") return part.data;
        throw HttpError(400, "multipart form without an 'image' field");
    }
    // Raw bytes (image/jpeg, image/png, image/bmp, image/gif,
    // application/octet-stream, or anything else): the decoder reads the
    // format from the magic bytes.
    return request.body;
}

std::vector<http::FormPart> request_images(const Request& request) {
    const auto parts = form_parts(request);
    if (!parts)
        throw HttpError(415, "a batch is a multipart/form-data body with one 'image' field (a file) per photo");
    std::vector<http::FormPart> images;
    for (const http::FormPart& part : *parts)
        if (part.name == "image") images.push_back(part);
    if (images.empty()) throw HttpError(400, "multipart form without an 'image' field");
    return images;
}

namespace {

// glibc raises its mmap threshold to the size of each mmapped block freed
// (up to 32 MiB) and its trim threshold to twice that, so after one large
// photo every later buffer below that size comes from the arenas, and a
// thread arena keeps up to twice that at its top, where malloc_trim does not
// reach: after tests/server/hostile_test.py (photos up to 3.6 MP) the idle
// service kept 25-33 MiB more than after its warm-up. Fixed at 4 MiB both
// (which also turns the dynamic adjustment off): buffers of 4 MiB and more
// (a photo's pixels past 1.4 MP, a body) are mapped and unmapped, smaller
// ones reuse the arenas, whose tops are trimmed past 4 MiB. Measured: the
// growth is -3 to +7 MiB (five runs), and 12 detections of a 1024x768 photo
// take the same time (10.3 s against 10.3 s; the noise of a 2-core VM is a
// few per cent).
constexpr int kMallocThreshold = 4 << 20;

void pin_malloc_thresholds() {
    mallopt(M_MMAP_THRESHOLD, kMallocThreshold);
    mallopt(M_TRIM_THRESHOLD, kMallocThreshold);
}

}  // namespace

FaceService::FaceService(ServiceOptions options)
    : options_(std::move(options)),
      access_{ApiKeys(options_.api_keys), options_.auth_probes, options_.cors_origins},
      metrics_({std::string(engine::isa_name(options_.isa)), options_.default_mode, options_.threads}) {
    pin_malloc_thresholds();
}

void FaceService::install(http::Server& server) {
    server.route("POST", "/api/detect", with_json_errors([this](const Request& r) { return detect(r); }));
    server.route("POST", "/api/detect/batch", with_json_errors([this](const Request& r) { return detect_batch(r); }));
    install_media_routes(server, *this);
    // Probes and scrapes answer even when detections fill the queue: a busy
    // pod is alive, ready, and worth watching.
    server.route_probe("/healthz",
                       with_json_errors([](const Request&) { return http::json_response(200, {{"status", "alive"}}); }));
    server.route_probe("/readyz", with_json_errors([this](const Request&) { return readyz(); }));
    server.route_probe("/healthcheck",
                       with_json_errors([](const Request&) { return http::json_response(200, {{"OK", true}}); }));
    server.route_probe("/metrics", with_json_errors([this, &server](const Request&) {
                           return metrics(server.load(), server.rejected());
                       }));
    // The page works before load(): it answers at once, and its detection
    // request gets the 503 "not ready" like any other.
    for (const Asset& asset : page_assets())
        server.route("GET", std::string(asset.path),
                     with_json_errors([path = asset.path](const Request&) { return asset_response(path); }));
    // CORS preflights, on the routes a script of another origin calls (the
    // page's files are its own origin's).
    if (!access_.cors_origins.empty()) {
        const auto preflight = [this](std::string_view methods) {
            return [this, methods](const Request& r) { return preflight_response(access_, r, methods); };
        };
        for (const char* path : {"/api/detect", "/api/detect/batch"}) server.route("OPTIONS", path, preflight("POST"));
        for (const char* path : kMediaPaths) server.route("OPTIONS", path, preflight("POST"));
        for (const char* path : {"/healthz", "/readyz", "/healthcheck", "/metrics"})
            server.route("OPTIONS", path, preflight("GET, HEAD"));
        server.set_decorator([this](const Request& r, Response& response) { add_cors_headers(access_, r, response); });
    }
    if (!access_.keys.empty()) server.set_gate([this](const Request& r) { return check_access(access_, r); });
    // Every route's series exist before the first request: the map is
    // read-only from here on.
    for (const std::string& path : server.paths()) metrics_.add_route(path);
    server.on_exchange([this](const http::Exchange& e) { record(e); });
}

void FaceService::record(const http::Exchange& e) const {
    metrics_.observe_request(e.route, e.response.status, std::chrono::duration<double>(e.duration).count());
    if (options_.access_log && !is_quiet_route(e.route))
        log_event(access_log_level(e.response.status), "request", access_log_fields(e));
}

Response FaceService::metrics(const http::Server::Load& load, std::uint64_t rejected) const {
    Response r;
    r.content_type = std::string(kMetricsContentType);
    r.body = metrics_.render({ready(), load.in_flight, load.queued, rejected});
    return r;
}

std::chrono::milliseconds FaceService::load(const std::string& weights_dir) {
    const auto start = std::chrono::steady_clock::now();
    auto detector = std::make_unique<const mtcnn::Detector>(engine::kernels_for(options_.isa), weights_dir,
                                                            options_.threads);
    mtcnn::detect(*detector, warm_up_image(), mtcnn::find_mode(options_.default_mode), options_.default_confidence);
    detector_ = std::move(detector);
    load_time_ = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    ready_.store(true, std::memory_order_release);
    return load_time_;
}

Response FaceService::readyz() const {
    if (!ready()) {
        Response r = http::json_response(503, {{"status", "loading"}});
        r.headers.push_back({"Retry-After", "1"});
        return r;
    }
    nlohmann::json modes = nlohmann::json::array();
    for (const mtcnn::Mode& m : mtcnn::modes()) modes.push_back(m.name);
    return http::json_response(200, {{"status", "ready"},
                                     {"isa", engine::isa_name(detector_->isa())},
                                     {"mode", options_.default_mode},
                                     {"modes", modes},
                                     {"threads", options_.threads},
                                     {"load_ms", load_time_.count()}});
}

Response not_ready_response() {
    Response r = http::error_response(503, "not ready");
    r.headers.push_back({"Retry-After", "1"});
    return r;
}

namespace {

// Counts the detections in flight; the last one to finish hands the memory
// the requests freed back to the system (glibc keeps freed memory in its
// arenas otherwise), so an idle service is small again, and a busy one
// does not pay for it.
class IdleTrim {
public:
    explicit IdleTrim(std::atomic<int>& in_flight) : in_flight_(in_flight) { ++in_flight_; }
    ~IdleTrim() {
        if (--in_flight_ == 0) malloc_trim(0);
    }
    IdleTrim(const IdleTrim&) = delete;
    IdleTrim& operator=(const IdleTrim&) = delete;

private:
    std::atomic<int>& in_flight_;
};

}  // namespace

mtcnn::Deadline FaceService::request_deadline() const {
    return mtcnn::Deadline::after(std::chrono::duration_cast<mtcnn::Deadline::Clock::duration>(options_.request_timeout));
}

void FaceService::timed_out() const {
    metrics_.observe_timeout();
    std::ostringstream limit;
    limit << options_.request_timeout.count();
    throw mtcnn::DetectionTimeout("the detection ran past the time limit of " + limit.str() +
                                  " s; retry later, or send a smaller photo");
}

std::vector<mtcnn::Face> FaceService::detect_photo(std::string_view bytes, const DetectQuery& query,
                                                   const mtcnn::Deadline& deadline, mtcnn::Image* decoded) const {
    mtcnn::DetectStats stats;
    mtcnn::Image image;
    std::vector<mtcnn::Face> faces;
    try {
        deadline.check();  // a batch's photo not begun in time is not decoded
        image = mtcnn::decode_image(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()),
                                    mtcnn::DecodeLimits{options_.max_pixels});
        faces = mtcnn::detect(*detector_, image, query.mode, query.confidence, &stats, deadline);
    } catch (const mtcnn::DetectionTimeout&) {
        timed_out();
    }
    if (query.max_faces) faces = mtcnn::keep_largest(std::move(faces), *query.max_faces);
    metrics_.observe_detection(stats, faces.size(), static_cast<double>(image.width) * image.height / 1e6);
    if (decoded) *decoded = std::move(image);
    return faces;
}

Response FaceService::detect(const Request& request) const {
    if (!ready()) return not_ready_response();
    const IdleTrim trim(in_flight_);
    // From here, decoding included (service.h, 503).
    const mtcnn::Deadline deadline = request_deadline();
    // Per request: the detector is shared and const.
    const DetectQuery query = request_detect_query(request, options_.default_mode, options_.default_confidence);
    const bool crops = request_crops(request);  // server/media_routes.h
    const std::string_view bytes = request_image(request);
    if (bytes.empty()) throw HttpError(400, "empty body: send the photo's bytes, or a multipart form with an 'image' file");
    mtcnn::Image image;
    const std::vector<mtcnn::Face> faces = detect_photo(bytes, query, deadline, crops ? &image : nullptr);
    nlohmann::json body = mtcnn::faces_to_json(faces);
    if (crops) within_time_limit([&] { add_crops(body, image, faces, deadline); });
    Response r = http::json_response(200, body);
    r.log_fields["faces"] = faces.size();
    return r;
}

// The photos of a batch run concurrently on the detector's pool, one photo
// per thread; a photo's own parallel work (pyramid levels, window batches)
// is helped by the threads with no photo left. One photo leaves threads
// idle in its serial parts (decoding, NMS, the small pyramid levels), which
// another photo fills: on a quiet 2-core VM, 32 WIDER FACE photos took a
// median 12.03 s as one batch against 13.66 s as one request after another,
// faster in each of 5 rounds (bench/strategies.sh, bench/RESULTS.md).
// At most threads() photos of a batch are decoded at once.
Response FaceService::detect_batch(const Request& request) const {
    if (!ready()) return not_ready_response();
    const IdleTrim trim(in_flight_);
    const mtcnn::Deadline deadline = request_deadline();  // the whole batch's
    const DetectQuery query = request_detect_query(request, options_.default_mode, options_.default_confidence);
    const std::vector<http::FormPart> photos = request_images(request);
    if (photos.size() > options_.max_batch)
        throw HttpError(413, std::to_string(photos.size()) + " photos; a batch holds at most " +
                                 std::to_string(options_.max_batch) + " (max_batch)");

    std::vector<nlohmann::json> entries(photos.size());
    std::vector<std::size_t> found(photos.size(), 0);
    std::vector<char> failed(photos.size(), 0);  // not vector<bool>: written from several threads
    // Never throws: each photo's error is its entry.
    const auto run = [&](std::size_t i) {
        const http::FormPart& photo = photos[i];
        try {
            if (photo.data.empty()) throw HttpError(400, "empty 'image' field");
            const std::vector<mtcnn::Face> faces = detect_photo(photo.data, query, deadline);
            found[i] = faces.size();
            entries[i] = {{"name", photo.filename}, {"faces", mtcnn::faces_to_json(faces)}};
        } catch (...) {
            failed[i] = 1;
            ErrorAnswer answer = current_error_answer(request);
            if (answer.retry_after) {  // the time limit
                std::ostringstream limit;
                limit << options_.request_timeout.count();
                answer.detail = "the batch ran past its time limit of " + limit.str() +
                                " s before this photo was done; send it again, alone or in a smaller batch";
            }
            entries[i] = {{"name", photo.filename},
                          {"error", {{"status", answer.status}, {"detail", answer.detail}}}};
        }
    };
    detector_->parallel_for(photos.size(), run);

    std::size_t faces = 0, errors = 0;
    for (std::size_t i = 0; i < photos.size(); ++i) {
        faces += found[i];
        errors += failed[i] ? 1 : 0;
    }
    Response r = http::json_response(200, nlohmann::json(std::move(entries)));
    r.log_fields["photos"] = photos.size();
    r.log_fields["faces"] = faces;
    r.log_fields["photo_errors"] = errors;
    return r;
}

}  // namespace server
