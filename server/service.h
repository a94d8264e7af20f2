// The face service's HTTP API, on top of server/http_server.h:
//
//   POST /api/detect    the photo as the raw body, or multipart/form-data
//                       with the file in the field `image`; query `mode`
//                       (mtcnn/modes.h: faithful, default, accurate; default
//                       from the configuration) and `confidence` in [0, 1]
//                       (the least confidence of a face returned, default
//                       from the configuration). 200: the JSON list of faces,
//                       exactly what `face-service detect PHOTO` prints.
//   GET  /healthz       200 {"status": "alive"} while the process serves.
//   GET  /readyz        503 {"status": "loading"} until the detector is loaded
//                       and one warm-up detection has run, then 200
//                       {"status": "ready", "isa": ..., "threads": ..., ...}.
//   GET  /healthcheck   200 {"OK": true}: the predecessor's monitor endpoint.
//   GET  /, /app.js, /app.css
//                       the web page, embedded in the binary (server/assets.h):
//                       pick or drop a photo, see the faces; sent with a
//                       Content-Security-Policy that allows no inline code.
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
//   422  confidence not a number, NaN, infinite, outside [0, 1], or repeated;
//        mode not one of the modes, or repeated
//   503  /api/detect before the detector is ready (with Retry-After)
//   404 / 405  unknown path / wrong method (with Allow)
//   500  anything unexpected; the message goes to stderr, the server goes on
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "engine/kernels.h"
#include "mtcnn/detector.h"
#include "mtcnn/modes.h"
#include "server/http_server.h"

namespace server {

struct ServiceOptions {
    std::string default_mode = std::string(mtcnn::kDefaultMode);
    double default_confidence = 0.95;
    std::int64_t max_pixels = 50'000'000;
    int threads = 1;  // the request threads, and those one detection may use; reported by /readyz
};

// The one exception-to-JSON wrapper every route goes through: typed errors of
// the lower layers become their statuses (above), anything else 500.
http::Handler with_json_errors(http::Handler handler);

class FaceService {
public:
    explicit FaceService(ServiceOptions options);

    // Registers the routes; they answer (503 where it matters) before load().
    void install(http::Server& server);

    // Loads the networks, runs one warm-up detection on a small synthetic
    // photo, then marks the service ready. Call once, from one thread.
    // Returns the time it took.
    std::chrono::milliseconds load(const engine::Kernels& kernels, const std::string& weights_dir);

    bool ready() const { return ready_.load(std::memory_order_acquire); }

    http::Response detect(const http::Request& request) const;
    http::Response readyz() const;

private:
    ServiceOptions options_;
    std::unique_ptr<const mtcnn::Detector> detector_;  // set once, before ready_
    std::atomic<bool> ready_{false};
    mutable std::atomic<int> in_flight_{0};  // detections running (IdleTrim in service.cpp)
    std::chrono::milliseconds load_time_{0};
};

// The confidence of a request: the single `confidence` query value, or
// `fallback` when absent. http::HttpError 422 otherwise.
double request_confidence(const http::Request& request, double fallback);

// The mode of a request: the single `mode` query value, or `fallback` when
// absent. http::HttpError 422 naming the modes otherwise.
const mtcnn::Mode& request_mode(const http::Request& request, std::string_view fallback);

// The photo's bytes: the `image` field of a multipart/form-data body, else
// the body itself. http::HttpError 400 for a malformed form or no `image`.
std::string_view request_image(const http::Request& request);

}  // namespace server
