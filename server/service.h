// The face service's HTTP API, on top of server/http_server.h:
//
//   POST /api/detect    the photo as the raw body, or multipart/form-data
//                       with the file in the field `image`. Query (every
//                       detect route takes the same, request_detect_query):
//                         mode           mtcnn/modes.h: faithful, default,
//                                        accurate; default from the
//                                        configuration
//                         confidence     in [0, 1], the least confidence of
//                                        a face returned; default from the
//                                        configuration
//                         max_faces      an integer >= 1: only the N largest
//                                        faces by box area (equal areas: the
//                                        more confident), chosen after the
//                                        confidence cut and still listed
//                                        highest confidence first
//                                        (mtcnn::keep_largest); default: all
//                         min_face_size  an integer >= 8 (mtcnn::
//                                        kSmallestMinFace), pixels: the
//                                        smallest face looked for
//                                        (DetectOptions::min_face; smaller
//                                        is slower); default: the mode's (20
//                                        faithful, 12 default, 10 accurate)
//                       200: the JSON list of faces, exactly what
//                       `face-service detect PHOTO` prints.
//   POST /api/detect/batch
//                       several photos at once: multipart/form-data with one
//                       `image` field per photo (other fields ignored), at
//                       most max_batch of them, the whole body within
//                       max_body; the query as above, for every photo. 200:
//                       a JSON list in the fields' order, one entry per photo,
//                       {"name": its filename (as sent; "" when none),
//                        "faces": [...]}, or, when that photo failed,
//                       {"name": ..., "error": {"status": 400 | 413 | 415 |
//                        503 | 500, "detail": "..."}} with the status
//                       /api/detect would have answered for it alone (an
//                       empty field: 400): one bad photo does not fail the
//                       others. The photos
//                       run concurrently on the detector's threads, one
//                       photo per thread (measured faster than one after
//                       another, each on every thread: service.cpp,
//                       detect_batch). request_timeout is the whole batch's,
//                       from when its handler starts: a photo not done by
//                       then (or not begun) gets its own 503 entry, and the
//                       photos done keep their faces. Each photo is counted
//                       in /metrics as a detection of /api/detect is.
//   POST /api/anonymize the photo with every face found blurred, pixelated
//                       or filled (query: the above, and method, strength,
//                       format), as JPEG or PNG without the original's
//                       metadata; POST /api/crops the faces' aligned
//                       112 x 112 crops as a zip; /api/detect?crops=true adds
//                       each face's crop as base64 PNG: server/media_routes.h.
//   GET  /healthz       200 {"status": "alive"} while the process serves.
//   GET  /readyz        503 {"status": "loading"} until the detector is loaded
//                       and one warm-up detection has run, then 200
//                       {"status": "ready", "isa": ..., "threads": ..., ...}.
//   GET  /healthcheck   200 {"OK": true}: the predecessor's monitor endpoint.
//   GET  /metrics       the counters in the Prometheus text format 0.0.4
//                       (server/metrics.h lists the families); reads
//                       counters only, never the detector, so it answers
//                       before load() and while detections run.
//   GET  /, /app.js, /app.css
//                       the web page, embedded in the binary (server/assets.h):
//                       pick or drop a photo, see the faces; sent with a
//                       Content-Security-Policy that allows no inline code.
//   OPTIONS /api/detect, /api/detect/batch, /api/anonymize, /api/crops,
//           /healthz, /readyz, /healthcheck, /metrics
//                       only with cors_origins: the CORS preflight, 204
//                       (server/access.h); otherwise 405 like any method a
//                       route lacks.
//
// API keys and CORS (both off by default) are server/access.h's: with
// api_keys set, every request but OPTIONS, the page and (unless
// auth_probes) the probes and /metrics needs a key, checked from the head
// before the body is read.
//
// Errors are JSON {"detail": "..."}, mapped in one place (with_json_errors):
//   400  empty body, corrupt or truncated photo (mtcnn::InvalidImage),
//        malformed multipart body, multipart form without an `image` field
//        (400 as the predecessor's Flask `request.files["image"]` gave),
//        malformed request or query string (a bad %-escape), from server/http_*
//   413  body over max_body (from Content-Length before reading; a chunked
//        body as soon as it passes), more pixels than max_pixels from the
//        photo's header before decoding (mtcnn::ImageTooLarge)
//   415  not JPEG, PNG, BMP or GIF (mtcnn::UnsupportedImageFormat); the
//        format is read from the bytes, whatever the Content-Type says
//   401  api_keys set and no key, or not one of them (WWW-Authenticate:
//        Bearer; server/access.h); unknown paths too, so that a client
//        without a key learns nothing of the routes
//   422  confidence not a number, NaN, infinite, outside [0, 1], or repeated;
//        mode not one of the modes, or repeated; max_faces not an integer
//        >= 1, or repeated; min_face_size not an integer >= 8, or repeated;
//        crops, method, strength or format invalid or repeated
//        (server/media_routes.h)
//   batch (POST /api/detect/batch; the whole request): 415 for a body that
//        is not multipart/form-data, 400 for a malformed form or one
//        without an `image` field, 413 for more than max_batch photos (or
//        a body over max_body), 422 for the query, 503 before ready; every
//        photo's own problem is its entry's error instead
//   503  /api/detect before the detector is ready (with Retry-After);
//        a detection that ran past request_timeout (mtcnn::DetectionTimeout,
//        Retry-After: 1; counted in face_service_detection_timeouts_total):
//        the cascade stops at its next check, so a huge or hostile photo
//        holds a request thread for about the limit, not for ever;
//        any request but the probes and /metrics when every request
//        thread is busy and max_queue requests wait already (Retry-After:
//        1; server/http_server.h, route_probe)
//   204  OPTIONS, a CORS preflight (only with cors_origins)
//   404 / 405  unknown path / wrong method (with Allow)
//   500  anything unexpected; the message goes to stderr, the server goes on
//
// Every response carries X-Request-ID (the client's when valid), and with
// cors_origins the CORS headers (server/access.h). Each
// request gets one JSON access-log line on stderr (server/log.h), except
// the probes and scrapes (/healthz, /readyz, /healthcheck, /metrics), which
// would drown the log: a kubelet alone asks every few seconds. They are
// counted in /metrics like every other route. No line holds a header, so
// no API key is ever logged. A detection's line adds "faces"; a batch's adds
// "photos", "faces" (all photos together) and "photo_errors".
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/kernels.h"
#include "mtcnn/detector.h"
#include "mtcnn/modes.h"
#include "server/access.h"
#include "server/http_server.h"
#include "server/metrics.h"

namespace server {

struct ServiceOptions {
    std::string default_mode = std::string(mtcnn::kDefaultMode);
    double default_confidence = 0.95;
    std::int64_t max_pixels = 50'000'000;
    int threads = 1;  // the request threads, and those one detection may use; reported by /readyz
    engine::Isa isa = engine::Isa::scalar;  // the kernels load() uses; reported by /readyz and /metrics
    bool access_log = true;                 // one JSON line per request on stderr
    std::chrono::duration<double> request_timeout{30};  // of one detection; 0: none
    std::vector<std::string> api_keys = {};  // empty: no auth (server/access.h)
    bool auth_probes = false;                // the probes and /metrics need a key too
    std::vector<std::string> cors_origins = {};  // empty: no CORS; {"*"}: any origin
    std::size_t max_batch = 16;                  // photos in one POST /api/detect/batch
};

// What a detect request's query asks (service.h's table above), read and
// checked once for the request.
struct DetectQuery {
    mtcnn::Mode mode;   // with min_face_size, when given, as options.min_face
    double confidence = 0;
    std::optional<std::size_t> max_faces;  // none: every face
};

// The one exception-to-JSON wrapper every route goes through: typed errors of
// the lower layers become their statuses (above), anything else 500.
http::Handler with_json_errors(http::Handler handler);

class FaceService {
public:
    explicit FaceService(ServiceOptions options);

    // Registers the routes, and the observer that counts every request in
    // /metrics and writes the access log; they answer (503 where it
    // matters) before load(). `server` must outlive the service's use.
    void install(http::Server& server);

    // Loads the networks (with options.isa's kernels), runs one warm-up
    // detection on a small synthetic photo, then marks the service ready.
    // Call once, from one thread. Returns the time it took.
    std::chrono::milliseconds load(const std::string& weights_dir);

    bool ready() const { return ready_.load(std::memory_order_acquire); }
    const ServiceOptions& options() const { return options_; }

    http::Response detect(const http::Request& request) const;
    http::Response detect_batch(const http::Request& request) const;
    // One photo's faces for `query`: decoded within max_pixels, detected
    // by `deadline`, cut to query.max_faces, and counted in /metrics (a
    // detection, or a timeout). With `decoded`, the photo's pixels are
    // left there. Throws what with_json_errors maps: mtcnn::InvalidImage,
    // UnsupportedImageFormat, ImageTooLarge, DetectionTimeout (its detail
    // naming request_timeout). Needs ready().
    std::vector<mtcnn::Face> detect_photo(std::string_view bytes, const DetectQuery& query,
                                          const mtcnn::Deadline& deadline, mtcnn::Image* decoded = nullptr) const;
    // A request's deadline: options().request_timeout from now.
    mtcnn::Deadline request_deadline() const;
    // Runs `work` (blurring, crops: what follows a detection) and counts its
    // DetectionTimeout in /metrics, rethrown with request_timeout in its
    // detail, as detect_photo does.
    template <typename Work>
    void within_time_limit(Work&& work) const {
        try {
            work();
        } catch (const mtcnn::DetectionTimeout&) {
            timed_out();
        }
    }
    http::Response readyz() const;
    // The /metrics body with the server's live gauges.
    http::Response metrics(const http::Server::Load& load, std::uint64_t rejected) const;
    // Counts the request in /metrics and logs it (unless a probe, or the
    // access log is off). What the observer installed by install() does.
    void record(const http::Exchange& exchange) const;

private:
    // Counts a timeout, and throws DetectionTimeout naming request_timeout.
    [[noreturn]] void timed_out() const;

    ServiceOptions options_;
    AccessPolicy access_;             // from options_, read-only
    mutable ServiceMetrics metrics_;  // thread-safe counters
    std::unique_ptr<const mtcnn::Detector> detector_;  // set once, before ready_
    std::atomic<bool> ready_{false};
    mutable std::atomic<int> in_flight_{0};  // detections running (IdleTrim in service.cpp)
    std::chrono::milliseconds load_time_{0};
};

// 503 {"detail": "not ready"} with Retry-After: 1, before load() has finished.
http::Response not_ready_response();

// The value of query parameter `name` when given exactly once; nullopt when
// absent; http::HttpError 422 when repeated. Other parameters are ignored.
std::optional<std::string> query_value(const http::Request& request, std::string_view name);

// The confidence of a request: the single `confidence` query value, or
// `fallback` when absent. http::HttpError 422 otherwise.
double request_confidence(const http::Request& request, double fallback);

// The mode of a request: the single `mode` query value, or `fallback` when
// absent. http::HttpError 422 naming the modes otherwise.
const mtcnn::Mode& request_mode(const http::Request& request, std::string_view fallback);

// The largest-faces cut of a request: the single `max_faces` query value,
// an integer >= 1, or nullopt (every face) when absent. http::HttpError 422
// otherwise.
std::optional<std::size_t> request_max_faces(const http::Request& request);

// The smallest face of a request, in pixels: the single `min_face_size`
// query value, an integer >= mtcnn::kSmallestMinFace, or nullopt (the
// mode's own) when absent. http::HttpError 422 otherwise.
std::optional<int> request_min_face_size(const http::Request& request);

// All of the above at once: mode, confidence, max_faces, min_face_size
// (checked in that order; the first problem is the 422).
DetectQuery request_detect_query(const http::Request& request, std::string_view default_mode,
                                 double default_confidence);

// The photo's bytes: the `image` field of a multipart/form-data body, else
// the body itself. http::HttpError 400 for a malformed form or no `image`.
std::string_view request_image(const http::Request& request);

// The `image` fields of a multipart/form-data body, in order (a batch).
// http::HttpError 415 when the body is not multipart/form-data, 400 for a
// malformed form or one without an `image` field.
std::vector<http::FormPart> request_images(const http::Request& request);

}  // namespace server
