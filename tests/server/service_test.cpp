// The face service's routes without sockets: the status each error maps to,
// the confidence and image rules, and readiness.
#include "server/service.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <stdexcept>
#include <vector>

#include "engine/cpu.h"
#include "mtcnn/image.h"
#include "server/assets.h"
#include "tests/server/prometheus_text.h"
#include "tests/support/http_status.h"
#include "tests/support/shared_data.h"

namespace {

using server::http::HttpError;
using server::http::Request;
using server::http::Response;

Request request(const std::string& query, const std::string& content_type = "", const std::string& body = "") {
    Request r;
    r.method = "POST";
    r.path = "/api/detect";
    r.query = query;
    if (!content_type.empty()) r.headers.push_back({"content-type", content_type});
    r.body = body;
    return r;
}

using testing_support::status_of;

std::string header_value(const Response& r, std::string_view name);

TEST(Confidence, DefaultValueAndRange) {
    EXPECT_DOUBLE_EQ(server::request_confidence(request(""), 0.95), 0.95);
    EXPECT_DOUBLE_EQ(server::request_confidence(request("other=1"), 0.95), 0.95);
    EXPECT_DOUBLE_EQ(server::request_confidence(request("confidence=0.7"), 0.95), 0.7);
    EXPECT_DOUBLE_EQ(server::request_confidence(request("confidence=0"), 0.95), 0.0);
    EXPECT_DOUBLE_EQ(server::request_confidence(request("confidence=1"), 0.95), 1.0);
    EXPECT_DOUBLE_EQ(server::request_confidence(request("confidence=%30.5"), 0.95), 0.5);
}

TEST(Confidence, InvalidIs422) {
    for (const char* q : {"confidence=abc", "confidence=1.5", "confidence=-0.1", "confidence=nan", "confidence=NaN",
                          "confidence=inf", "confidence=-inf", "confidence=", "confidence", "confidence=0.5x",
                          "confidence=%200.5", "confidence=0.5&confidence=0.5"})
        EXPECT_EQ(status_of([&] { server::request_confidence(request(q), 0.95); }), 422) << q;
}

TEST(Mode, DefaultAndNamed) {
    EXPECT_EQ(server::request_mode(request(""), "default").name, "default");
    EXPECT_EQ(server::request_mode(request(""), "faithful").name, "faithful");
    EXPECT_EQ(server::request_mode(request("mode=accurate"), "default").name, "accurate");
    EXPECT_EQ(server::request_mode(request("confidence=0.5&mode=faithful"), "default").name, "faithful");
    EXPECT_EQ(server::request_mode(request("mode=%66aithful"), "default").name, "faithful");
}

TEST(Mode, UnknownOrRepeatedIs422WithTheModesNamed) {
    for (const char* q : {"mode=fast", "mode=", "mode", "mode=Default", "mode=default%20", "mode=default&mode=default"})
        EXPECT_EQ(status_of([&] { server::request_mode(request(q), "default"); }), 422) << q;
    try {
        server::request_mode(request("mode=fast"), "default");
        FAIL() << "no error";
    } catch (const HttpError& e) {
        EXPECT_EQ(std::string(e.what()), "unknown mode 'fast'; the modes are faithful, default, accurate");
    }
}

TEST(MaxFaces, AbsentOrAnIntegerOfAtLeastOne) {
    EXPECT_EQ(server::request_max_faces(request("")), std::nullopt);
    EXPECT_EQ(server::request_max_faces(request("confidence=0.5")), std::nullopt);
    EXPECT_EQ(server::request_max_faces(request("max_faces=1")), 1u);
    EXPECT_EQ(server::request_max_faces(request("max_faces=25&mode=faithful")), 25u);
    EXPECT_EQ(server::request_max_faces(request("max_faces=%33")), 3u);
}

TEST(MaxFaces, InvalidOrRepeatedIs422) {
    for (const char* q : {"max_faces=0", "max_faces=-1", "max_faces=abc", "max_faces=", "max_faces", "max_faces=1.5",
                          "max_faces=2x", "max_faces=+2", "max_faces=%202", "max_faces=1e3", "max_faces=99999999999",
                          "max_faces=2&max_faces=2"})
        EXPECT_EQ(status_of([&] { server::request_max_faces(request(q)); }), 422) << q;
    try {
        server::request_max_faces(request("max_faces=0"));
        FAIL() << "no error";
    } catch (const HttpError& e) {
        EXPECT_EQ(std::string(e.what()), "max_faces must be an integer of at least 1, got '0'");
    }
}

TEST(MinFaceSize, AbsentOrAnIntegerOfAtLeastTheSmallest) {
    EXPECT_EQ(server::request_min_face_size(request("")), std::nullopt);
    EXPECT_EQ(server::request_min_face_size(request("min_face_size=8")), mtcnn::kSmallestMinFace);
    EXPECT_EQ(server::request_min_face_size(request("min_face_size=48")), 48);
    EXPECT_EQ(server::request_min_face_size(request("mode=faithful&min_face_size=100")), 100);
}

TEST(MinFaceSize, InvalidOrRepeatedIs422) {
    for (const char* q : {"min_face_size=7", "min_face_size=0", "min_face_size=-20", "min_face_size=abc",
                          "min_face_size=", "min_face_size", "min_face_size=12.0", "min_face_size=12px",
                          "min_face_size=99999999999", "min_face_size=20&min_face_size=20"})
        EXPECT_EQ(status_of([&] { server::request_min_face_size(request(q)); }), 422) << q;
    try {
        server::request_min_face_size(request("min_face_size=4"));
        FAIL() << "no error";
    } catch (const HttpError& e) {
        EXPECT_EQ(std::string(e.what()), "min_face_size must be an integer of at least 8 (pixels), got '4'");
    }
}

TEST(DetectQuery, EveryParameterAtOnce) {
    const server::DetectQuery plain = server::request_detect_query(request(""), "default", 0.95);
    EXPECT_EQ(plain.mode.name, "default");
    EXPECT_EQ(plain.mode.options.min_face, mtcnn::find_mode("default").options.min_face);  // the mode's own
    EXPECT_DOUBLE_EQ(plain.confidence, 0.95);
    EXPECT_EQ(plain.max_faces, std::nullopt);

    const server::DetectQuery all =
        server::request_detect_query(request("mode=faithful&confidence=0.5&max_faces=2&min_face_size=40"), "default", 0.95);
    EXPECT_EQ(all.mode.name, "faithful");
    EXPECT_EQ(all.mode.options.min_face, 40);
    EXPECT_EQ(all.mode.options.scale_factor, mtcnn::find_mode("faithful").options.scale_factor);  // the rest as is
    EXPECT_DOUBLE_EQ(all.confidence, 0.5);
    EXPECT_EQ(all.max_faces, 2u);
    EXPECT_EQ(mtcnn::find_mode("faithful").options.min_face, 20);  // the shared mode is untouched

    for (const char* q : {"mode=fast", "confidence=2", "max_faces=0", "min_face_size=2", "max_faces=1&max_faces=1"})
        EXPECT_EQ(status_of([&] { server::request_detect_query(request(q), "default", 0.95); }), 422) << q;
}

TEST(Image, RawBodyWhateverTheContentType) {
    EXPECT_EQ(server::request_image(request("", "image/jpeg", "bytes")), "bytes");
    EXPECT_EQ(server::request_image(request("", "application/octet-stream", "bytes")), "bytes");
    EXPECT_EQ(server::request_image(request("", "", "bytes")), "bytes");
    EXPECT_EQ(server::request_image(request("", "text/plain", "hello")), "hello");
    EXPECT_EQ(server::request_image(request("", "not a ; media type", "x")), "x");
}

TEST(Image, MultipartImageField) {
    const std::string body =
        "--xyz\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\n1\r\n"
        "--xyz\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n\r\nPHOTO\r\n--xyz--\r\n";
    EXPECT_EQ(server::request_image(request("", "multipart/form-data; boundary=xyz", body)), "PHOTO");
}

TEST(Image, MultipartWithoutImageIs400) {
    const std::string body = "--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nPHOTO\r\n--xyz--\r\n";
    EXPECT_EQ(status_of([&] { server::request_image(request("", "multipart/form-data; boundary=xyz", body)); }), 400);
    EXPECT_EQ(status_of([&] { server::request_image(request("", "multipart/form-data", body)); }), 400);
    EXPECT_EQ(status_of([&] { server::request_image(request("", "multipart/form-data; boundary=xyz", "junk")); }), 400);
}

// A multipart/form-data body of (field name, filename, data) parts.
struct Part {
    std::string name, filename, data;
};
const std::string kBoundary = "batch-boundary";
const std::string kMultipart = "multipart/form-data; boundary=" + kBoundary;

std::string multipart(const std::vector<Part>& parts) {
    std::string body;
    for (const Part& p : parts) {
        body += "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"" + p.name + "\"";
        if (!p.filename.empty()) body += "; filename=\"" + p.filename + "\"";
        body += "\r\nContent-Type: application/octet-stream\r\n\r\n" + p.data + "\r\n";
    }
    return body + "--" + kBoundary + "--\r\n";
}

TEST(Images, EveryImageFieldInOrder) {
    const std::string body = multipart({{"image", "a.jpg", "A"}, {"other", "", "x"}, {"image", "b.png", "BB"},
                                        {"image", "", "C"}});
    const Request r = request("", kMultipart, body);  // the parts point into its body
    const std::vector<server::http::FormPart> images = server::request_images(r);
    ASSERT_EQ(images.size(), 3u);
    EXPECT_EQ(images[0].filename, "a.jpg");
    EXPECT_EQ(images[0].data, "A");
    EXPECT_EQ(images[1].filename, "b.png");
    EXPECT_EQ(images[1].data, "BB");
    EXPECT_EQ(images[2].filename, "");
    EXPECT_EQ(images[2].data, "C");
}

TEST(Images, NotAFormIs415AndABrokenOrEmptyFormIs400) {
    EXPECT_EQ(status_of([&] { server::request_images(request("", "image/jpeg", "bytes")); }), 415);
    EXPECT_EQ(status_of([&] { server::request_images(request("", "", "bytes")); }), 415);
    EXPECT_EQ(status_of([&] { server::request_images(request("", "not a ; media type", "x")); }), 415);
    EXPECT_EQ(status_of([&] { server::request_images(request("", "multipart/form-data", "x")); }), 400);  // no boundary
    EXPECT_EQ(status_of([&] { server::request_images(request("", kMultipart, "junk")); }), 400);
    EXPECT_EQ(status_of([&] { server::request_images(request("", kMultipart, multipart({{"file", "a.jpg", "A"}}))); }),
              400);
}

// The one wrapper: every typed error gets its status and a JSON detail.
int wrapped_status(std::function<Response(const Request&)> handler) {
    const Response r = server::with_json_errors(std::move(handler))(request(""));
    const auto body = nlohmann::json::parse(r.body);
    if (r.status != 200) {
        EXPECT_TRUE(body.at("detail").is_string()) << r.body;
    }
    return r.status;
}

TEST(JsonErrors, MapsTypedErrors) {
    EXPECT_EQ(wrapped_status([](const Request&) { return server::http::json_response(200, {{"ok", 1}}); }), 200);
    EXPECT_EQ(wrapped_status([](const Request&) -> Response { throw HttpError(422, "bad"); }), 422);
    EXPECT_EQ(wrapped_status([](const Request&) -> Response { throw mtcnn::InvalidImage("corrupt"); }), 400);
    EXPECT_EQ(wrapped_status([](const Request&) -> Response { throw mtcnn::UnsupportedImageFormat("text"); }), 415);
    EXPECT_EQ(wrapped_status([](const Request&) -> Response { throw mtcnn::ImageTooLarge("big"); }), 413);
    EXPECT_EQ(wrapped_status([](const Request&) -> Response { throw mtcnn::DetectionTimeout("late"); }), 503);
    EXPECT_EQ(wrapped_status([](const Request&) -> Response { throw std::logic_error("bug"); }), 500);
    EXPECT_EQ(wrapped_status([](const Request&) -> Response { throw 42; }), 500);
}

TEST(FaceService, NotReadyUntilLoaded) {
    server::FaceService service({"default", 0.95, 50'000'000, 2, engine::Isa::scalar});
    EXPECT_FALSE(service.ready());
    EXPECT_EQ(service.readyz().status, 503);
    EXPECT_EQ(service.detect(request("", "image/jpeg", "x")).status, 503);
    EXPECT_EQ(nlohmann::json::parse(service.detect(request("")).body).at("detail"), "not ready");

    service.load("");
    EXPECT_TRUE(service.ready());
    const Response ready = service.readyz();
    EXPECT_EQ(ready.status, 200);
    const auto body = nlohmann::json::parse(ready.body);
    EXPECT_EQ(body.at("status"), "ready");
    EXPECT_EQ(body.at("isa"), "scalar");
    EXPECT_EQ(body.at("threads"), 2);
    EXPECT_EQ(body.at("mode"), "default");
    EXPECT_EQ(body.at("modes"), nlohmann::json({"faithful", "default", "accurate"}));

    const auto detect_status = [&](const Request& r) {
        return server::with_json_errors([&](const Request& q) { return service.detect(q); })(r).status;
    };
    EXPECT_EQ(detect_status(request("", "image/jpeg", "")), 400);
    EXPECT_EQ(detect_status(request("", "text/plain", "hello, not a photo")), 415);
    EXPECT_EQ(detect_status(request("confidence=2", "image/jpeg", "x")), 422);
    EXPECT_EQ(detect_status(request("mode=fast", "image/jpeg", "x")), 422);
    // A PNG header declaring 100 x 100 pixels, refused before any pixel is read.
    server::FaceService small({"default", 0.95, 1000, 1, engine::Isa::scalar});
    small.load("");
    static const char kPng[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x64\0\0\0\x64\x08\x02\0\0\0\0\0\0\0";
    const std::string png(kPng, sizeof kPng - 1);
    EXPECT_EQ(server::with_json_errors([&](const Request& q) { return small.detect(q); })(request("", "image/png", png)).status,
              413);
}

// A 24-bit BMP of side x side grey pixels: a valid photo without a face.
std::string grey_bmp(int side) {
    const int row = side * 3;  // a multiple of 4 for the sides used here
    const int size = 54 + row * side;
    std::string bmp(static_cast<std::size_t>(size), '\x80');
    auto put32 = [&](int at, int v) {
        for (int i = 0; i < 4; ++i) bmp[static_cast<std::size_t>(at + i)] = static_cast<char>((v >> (8 * i)) & 0xff);
    };
    auto put16 = [&](int at, int v) {
        bmp[static_cast<std::size_t>(at)] = static_cast<char>(v & 0xff);
        bmp[static_cast<std::size_t>(at + 1)] = static_cast<char>((v >> 8) & 0xff);
    };
    bmp.replace(0, 54, std::string(54, '\0'));
    bmp[0] = 'B';
    bmp[1] = 'M';
    put32(2, size);
    put32(10, 54);  // pixel data offset
    put32(14, 40);  // BITMAPINFOHEADER
    put32(18, side);
    put32(22, side);
    put16(26, 1);   // planes
    put16(28, 24);  // bits per pixel
    put32(34, row * side);
    return bmp;
}

TEST(FaceService, MetricsRouteReadsCountersAndDetections) {
    server::FaceService service({"default", 0.95, 50'000'000, 2, engine::Isa::scalar});
    server::http::Server http({});
    service.install(http);

    Response r = service.metrics({1, 2}, 3);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    auto e = testing_support::check_exposition(r.body);
    ASSERT_TRUE(e.errors.empty()) << e.errors.front();
    EXPECT_EQ(e.value("face_service_ready"), 0);
    EXPECT_EQ(e.value("face_service_info", {{"isa", "scalar"}, {"mode", "default"}, {"threads", "2"}}), 1);
    EXPECT_EQ(e.value("face_service_http_requests_in_flight"), 1);
    EXPECT_EQ(e.value("face_service_queue_depth"), 2);
    EXPECT_EQ(e.value("face_service_queue_rejected_total"), 3);
    for (const char* route : {"/api/detect", "/healthz", "/readyz", "/healthcheck", "/metrics", "/", "other"})
        EXPECT_EQ(e.value("face_service_http_request_duration_seconds_count", {{"route", route}}), 0) << route;

    service.load("");
    const Response detected = service.detect(request("", "image/bmp", grey_bmp(64)));
    ASSERT_EQ(detected.status, 200) << detected.body;
    EXPECT_EQ(detected.body, "[]");
    EXPECT_EQ(detected.log_fields, nlohmann::json({{"faces", 0}}));
    e = testing_support::check_exposition(service.metrics({}, 0).body);
    ASSERT_TRUE(e.errors.empty()) << e.errors.front();
    EXPECT_EQ(e.value("face_service_ready"), 1);
    EXPECT_EQ(e.value("face_service_faces_per_photo_bucket", {{"le", "0"}}), 1);
    EXPECT_EQ(e.value("face_service_photo_megapixels_bucket", {{"le", "0.1"}}), 1);  // 64 x 64
    for (const char* stage : {"pnet", "rnet", "onet"})
        EXPECT_EQ(e.value("face_service_detection_stage_seconds_count", {{"stage", stage}}), 1) << stage;
}

// record(): every request counted; probes and scrapes never logged; one
// JSON line per other request, none with the access log off.
TEST(FaceService, RecordCountsEveryRequestAndLogsAllButProbes) {
    using namespace std::chrono_literals;
    for (const bool access_log : {true, false}) {
        server::FaceService service({"default", 0.95, 50'000'000, 1, engine::Isa::scalar, access_log});
        server::http::Server http({});
        service.install(http);
        Request r = request("confidence=0.5");
        r.id = "rid-1";
        const Response ok = server::http::json_response(200, nlohmann::json::array());
        testing::internal::CaptureStderr();
        for (const char* route : {"/healthz", "/readyz", "/healthcheck", "/metrics", "/api/detect"})
            service.record({r, ok, route, 5ms, 10, 20, "127.0.0.1:1"});
        const std::string logged = testing::internal::GetCapturedStderr();
        if (access_log) {
            ASSERT_EQ(std::count(logged.begin(), logged.end(), '\n'), 1) << logged;
            const auto line = nlohmann::json::parse(logged);
            EXPECT_EQ(line.at("route"), "/api/detect");
            EXPECT_EQ(line.at("request_id"), "rid-1");
            EXPECT_EQ(line.at("level"), "info");
        } else {
            EXPECT_EQ(logged, "");
        }
        const auto e = testing_support::check_exposition(service.metrics({}, 0).body);
        for (const char* route : {"/healthz", "/readyz", "/healthcheck", "/metrics", "/api/detect"})
            EXPECT_EQ(e.value("face_service_http_requests_total", {{"route", route}, {"status", "200"}}), 1) << route;
    }
}

// request_timeout: a detection past it stops and answers 503 with
// Retry-After and a JSON detail, is counted in /metrics, and the service
// answers normally afterwards; a limit that is not reached changes nothing.
TEST(FaceService, DetectionPastTheTimeLimitIs503) {
    using namespace std::chrono_literals;
    const auto path = testing_support::shared_dir() / "golden" / "ivan.jpg";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "no " << path;
    std::ifstream in(path, std::ios::binary);
    const std::string photo((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

    server::ServiceOptions options{"default", 0.95, 50'000'000, 2, engine::configured_isa()};
    options.access_log = false;
    options.request_timeout = 0s;  // none
    server::FaceService unlimited(options);
    options.request_timeout = 1h;
    server::FaceService generous(options);
    options.request_timeout = 1ms;
    server::FaceService tiny(options);
    for (server::FaceService* s : {&unlimited, &generous, &tiny}) s->load("");
    const auto run = [](const server::FaceService& s, const Request& r) {
        return server::with_json_errors([&](const Request& q) { return s.detect(q); })(r);
    };

    auto start = std::chrono::steady_clock::now();
    const Response whole = run(unlimited, request("", "image/jpeg", photo));
    const auto whole_time = std::chrono::steady_clock::now() - start;
    ASSERT_EQ(whole.status, 200) << whole.body;
    EXPECT_EQ(run(generous, request("", "image/jpeg", photo)).body, whole.body);

    start = std::chrono::steady_clock::now();
    const Response stopped = run(tiny, request("", "image/jpeg", photo));
    const auto stopped_time = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(stopped.status, 503);
    EXPECT_EQ(header_value(stopped, "Retry-After"), "1");
    const std::string detail = nlohmann::json::parse(stopped.body).at("detail");
    EXPECT_EQ(detail, "the detection ran past the time limit of 0.001 s; retry later, or send a smaller photo");
    EXPECT_LT(stopped_time, whole_time) << "the limited detection was not cut short";

    const auto e = testing_support::check_exposition(tiny.metrics({}, 0).body);
    ASSERT_TRUE(e.errors.empty()) << e.errors.front();
    EXPECT_EQ(e.value("face_service_detection_timeouts_total"), 1);
    EXPECT_EQ(e.value("face_service_faces_per_photo_count"), 0);  // not counted as a detection
    EXPECT_EQ(testing_support::check_exposition(unlimited.metrics({}, 0).body).value(
                  "face_service_detection_timeouts_total"),
              0);
    EXPECT_EQ(tiny.readyz().status, 200);  // still ready: a timeout is the request's, not the service's
}

// What follows a detection (blurring, crops) is timed by the same limit:
// its DetectionTimeout is counted in /metrics like a detection's and gets
// the same detail; other errors pass through untouched.
TEST(FaceService, TimeoutsAfterTheDetectionAreCountedToo) {
    using namespace std::chrono_literals;
    server::ServiceOptions options{"default", 0.95, 50'000'000, 1, engine::configured_isa()};
    options.access_log = false;
    options.request_timeout = 2s;
    const server::FaceService service(options);
    const auto timeouts = [&] {
        return testing_support::check_exposition(service.metrics({}, 0).body)
            .value("face_service_detection_timeouts_total");
    };
    EXPECT_EQ(timeouts(), 0);
    int ran = 0;
    service.within_time_limit([&] { ++ran; });
    EXPECT_EQ(ran, 1);
    EXPECT_EQ(timeouts(), 0);
    try {
        service.within_time_limit([] { throw mtcnn::DetectionTimeout("the blur ran late"); });
        ADD_FAILURE() << "no DetectionTimeout";
    } catch (const mtcnn::DetectionTimeout& e) {
        EXPECT_STREQ(e.what(), "the detection ran past the time limit of 2 s; retry later, or send a smaller photo");
    }
    EXPECT_EQ(timeouts(), 1);
    EXPECT_THROW(service.within_time_limit([] { throw std::invalid_argument("no"); }), std::invalid_argument);
    EXPECT_EQ(timeouts(), 1);
}

// The bytes of a file of ../shared, or "" when absent.
std::string shared_file(const std::string& relative) {
    std::ifstream in(testing_support::shared_dir() / relative, std::ios::binary);
    if (!in) return "";
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

server::ServiceOptions quiet_options(int threads = 2) {
    server::ServiceOptions options{"default", 0.95, 50'000'000, threads, engine::configured_isa()};
    options.access_log = false;
    return options;
}

Response run_detect(const server::FaceService& s, const Request& r) {
    return server::with_json_errors([&](const Request& q) { return s.detect(q); })(r);
}

Response run_batch(const server::FaceService& s, const Request& r) {
    return server::with_json_errors([&](const Request& q) { return s.detect_batch(q); })(r);
}

std::int64_t box_area(const nlohmann::json& face) {
    return std::int64_t{face.at("box")[2].get<int>()} * face.at("box")[3].get<int>();
}

// max_faces: exactly the largest faces of the full answer (by box area),
// in the full answer's order; after the confidence cut. (faithful: the
// quickest mode on this 1024x768 photo.)
TEST(FaceService, MaxFacesKeepsTheLargest) {
    const std::string photo = shared_file("eval/widerface-dev/images/0--Parade/0_Parade_Parade_0_470.jpg");
    if (photo.empty()) GTEST_SKIP() << "no ../shared";
    server::FaceService service(quiet_options());
    service.load("");
    const std::string base = "mode=faithful&confidence=0.5";
    const Response full = run_detect(service, request(base, "image/jpeg", photo));
    ASSERT_EQ(full.status, 200) << full.body;
    const auto all = nlohmann::json::parse(full.body);
    ASSERT_GE(all.size(), 4u) << "the photo should have several faces";
    for (std::size_t n : {std::size_t{1}, std::size_t{3}, all.size() + 5}) {
        const Response cut = run_detect(service, request(base + "&max_faces=" + std::to_string(n), "image/jpeg", photo));
        ASSERT_EQ(cut.status, 200) << cut.body;
        const auto kept = nlohmann::json::parse(cut.body);
        ASSERT_EQ(kept.size(), std::min(n, all.size())) << n;
        EXPECT_EQ(cut.log_fields.at("faces"), kept.size());
        // Every face left out is no larger than the smallest kept, and the
        // kept ones are a subsequence of the full answer.
        std::int64_t smallest = std::numeric_limits<std::int64_t>::max();
        for (const auto& f : kept) smallest = std::min(smallest, box_area(f));
        std::size_t at = 0;
        for (const auto& f : all) {
            if (at < kept.size() && f == kept[at])
                ++at;
            else
                EXPECT_LE(box_area(f), smallest) << f.dump();
        }
        EXPECT_EQ(at, kept.size()) << "not in the full answer's order";
    }
    // The confidence cut comes first: max_faces picks among the faces it leaves.
    const auto strict = nlohmann::json::parse(run_detect(service, request("mode=faithful&confidence=0.999", "image/jpeg", photo)).body);
    const auto strict_one = nlohmann::json::parse(
        run_detect(service, request("mode=faithful&confidence=0.999&max_faces=1", "image/jpeg", photo)).body);
    ASSERT_FALSE(strict.empty());
    ASSERT_EQ(strict_one.size(), 1u);
    EXPECT_NE(std::find(strict.begin(), strict.end(), strict_one[0]), strict.end());
}

// min_face_size: a larger one than the mode's misses the small faces, a
// smaller one finds faces it cannot.
TEST(FaceService, MinFaceSizeChangesWhatIsFound) {
    const std::string photo = shared_file("eval/widerface-dev/images/0--Parade/0_Parade_Parade_0_470.jpg");
    if (photo.empty()) GTEST_SKIP() << "no ../shared";
    server::FaceService service(quiet_options());
    service.load("");
    const auto faces = [&](const std::string& query) {
        const Response r = run_detect(service, request("mode=faithful&confidence=0.5" + query, "image/jpeg", photo));
        EXPECT_EQ(r.status, 200) << r.body;
        return nlohmann::json::parse(r.body);
    };
    const auto smallest_side = [](const nlohmann::json& list) {
        int side = std::numeric_limits<int>::max();
        for (const auto& f : list) side = std::min({side, f.at("box")[2].get<int>(), f.at("box")[3].get<int>()});
        return side;
    };
    const auto base = faces("");  // faithful: 20 px
    EXPECT_EQ(faces("&min_face_size=20"), base);  // the mode's own, asked for
    const auto large = faces("&min_face_size=60");
    EXPECT_LT(large.size(), base.size());
    EXPECT_GT(smallest_side(large), smallest_side(base));
    const auto finer = faces("&min_face_size=10");
    EXPECT_GT(finer.size(), base.size());
    EXPECT_LT(smallest_side(finer), smallest_side(base));
}

// POST /api/detect/batch: one entry per photo, in order, named by its
// filename; a bad photo gets its own error and the others their faces,
// exactly as /api/detect answers them alone.
TEST(FaceService, BatchAnswersEachPhotoInOrder) {
    server::FaceService service(quiet_options());
    server::http::Server http({});
    service.install(http);
    EXPECT_EQ(run_batch(service, request("", kMultipart, multipart({{"image", "a.bmp", grey_bmp(64)}}))).status, 503);
    service.load("");

    const std::string ivan = shared_file("golden/ivan.jpg");
    const std::string good = ivan.empty() ? grey_bmp(64) : ivan;
    const std::vector<Part> parts{{"image", "first.jpg", good},
                                  {"image", "notes.txt", "hello, not a photo"},
                                  {"other", "", "ignored"},
                                  {"image", "grey.bmp", grey_bmp(64)},
                                  {"image", "cut.jpg", good.substr(0, good.size() / 3)},
                                  {"image", "", ""},
                                  {"image", "again.jpg", good}};
    const Response r = run_batch(service, request("confidence=0.5", kMultipart, multipart(parts)));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.content_type, "application/json");
    const auto entries = nlohmann::json::parse(r.body);
    ASSERT_TRUE(entries.is_array());
    ASSERT_EQ(entries.size(), 6u) << r.body;
    const std::vector<std::string> names{"first.jpg", "notes.txt", "grey.bmp", "cut.jpg", "", "again.jpg"};
    for (std::size_t i = 0; i < names.size(); ++i) EXPECT_EQ(entries[i].at("name"), names[i]) << i;

    const auto alone = [&](const std::string& bytes) {
        return nlohmann::json::parse(run_detect(service, request("confidence=0.5", "image/jpeg", bytes)).body);
    };
    const auto good_faces = alone(good);
    EXPECT_EQ(entries[0].at("faces"), good_faces);
    EXPECT_EQ(entries[5].at("faces"), good_faces);
    if (!ivan.empty()) {
        EXPECT_FALSE(good_faces.empty());
    }
    EXPECT_EQ(entries[2].at("faces"), nlohmann::json::array());
    const auto error_status = [&](std::size_t i) {
        EXPECT_FALSE(entries[i].contains("faces")) << i;
        EXPECT_TRUE(entries[i].at("error").at("detail").is_string()) << i;
        return entries[i].at("error").at("status").get<int>();
    };
    EXPECT_EQ(error_status(1), 415);
    EXPECT_EQ(error_status(3), 400);  // truncated
    EXPECT_EQ(error_status(4), 400);  // empty
    EXPECT_EQ(entries[4].at("error").at("detail"), "empty 'image' field");
    EXPECT_EQ(entries[1].at("error").at("detail"), alone("hello, not a photo").at("detail"));

    EXPECT_EQ(r.log_fields.at("photos"), 6);
    EXPECT_EQ(r.log_fields.at("photo_errors"), 3);
    EXPECT_EQ(r.log_fields.at("faces"), 2 * good_faces.size());

    // Each photo detected is counted as /api/detect counts one: the batch's
    // three, and alone(good) above (alone of the text detects nothing).
    const auto e = testing_support::check_exposition(service.metrics({}, 0).body);
    ASSERT_TRUE(e.errors.empty()) << e.errors.front();
    EXPECT_EQ(e.value("face_service_faces_per_photo_count"), 3 + 1);
    EXPECT_EQ(e.value("face_service_http_request_duration_seconds_count", {{"route", "/api/detect/batch"}}), 0);

    // The query applies to every photo.
    const Response one = run_batch(service, request("confidence=0.5&max_faces=1", kMultipart, multipart(parts)));
    ASSERT_EQ(one.status, 200) << one.body;
    for (const auto& entry : nlohmann::json::parse(one.body))
        if (entry.contains("faces")) {
            EXPECT_LE(entry.at("faces").size(), 1u) << entry.dump();
        }
}

TEST(FaceService, BatchRequestProblemsAreWholeRequestErrors) {
    server::ServiceOptions options = quiet_options(1);
    options.max_batch = 2;
    server::FaceService service(options);
    service.load("");
    const std::string bmp = grey_bmp(64);
    const auto status = [&](const Request& r) {
        const Response answer = run_batch(service, r);
        if (answer.status != 200) {
            EXPECT_TRUE(nlohmann::json::parse(answer.body).at("detail").is_string()) << answer.body;
        }
        return answer.status;
    };
    const std::string two = multipart({{"image", "a.bmp", bmp}, {"image", "b.bmp", bmp}});
    EXPECT_EQ(status(request("", kMultipart, two)), 200);
    EXPECT_EQ(status(request("", kMultipart, multipart({{"image", "a.bmp", bmp}, {"image", "b.bmp", bmp},
                                                        {"image", "c.bmp", bmp}}))),
              413);
    const Response too_many = run_batch(service, request("", kMultipart, multipart({{"image", "", bmp}, {"image", "", bmp},
                                                                                    {"image", "", bmp}})));
    EXPECT_EQ(nlohmann::json::parse(too_many.body).at("detail"), "3 photos; a batch holds at most 2 (max_batch)");
    EXPECT_EQ(status(request("", "image/bmp", bmp)), 415);  // a photo, not a form
    EXPECT_EQ(status(request("", "", "")), 415);
    EXPECT_EQ(status(request("", kMultipart, multipart({{"file", "a.bmp", bmp}}))), 400);
    EXPECT_EQ(status(request("", kMultipart, "--" + kBoundary + "\r\nbroken")), 400);
    EXPECT_EQ(status(request("", "multipart/form-data", two)), 400);
    for (const char* q : {"confidence=2", "mode=fast", "max_faces=0", "min_face_size=7", "max_faces=1&max_faces=2"})
        EXPECT_EQ(status(request(q, kMultipart, two)), 422) << q;
}

// request_timeout is the whole batch's: past it, every photo not done gets
// its own 503 entry (counted as a timeout), the request itself is answered.
TEST(FaceService, BatchPastTheTimeLimitGivesEachPhotoA503) {
    using namespace std::chrono_literals;
    const std::string ivan = shared_file("golden/ivan.jpg");
    if (ivan.empty()) GTEST_SKIP() << "no ../shared";
    server::ServiceOptions options = quiet_options();
    options.request_timeout = 1ms;
    server::FaceService tiny(options);
    tiny.load("");
    const Response r = run_batch(tiny, request("", kMultipart, multipart({{"image", "1.jpg", ivan}, {"image", "2.jpg", ivan},
                                                                           {"image", "3.jpg", ivan}})));
    ASSERT_EQ(r.status, 200) << r.body;
    const auto entries = nlohmann::json::parse(r.body);
    ASSERT_EQ(entries.size(), 3u);
    for (const auto& entry : entries) {
        EXPECT_EQ(entry.at("error").at("status"), 503) << entry.dump();
        EXPECT_EQ(entry.at("error").at("detail"),
                  "the batch ran past its time limit of 0.001 s before this photo was done; send it again, alone or "
                  "in a smaller batch");
    }
    const auto e = testing_support::check_exposition(tiny.metrics({}, 0).body);
    EXPECT_EQ(e.value("face_service_detection_timeouts_total"), 3);
    EXPECT_EQ(e.value("face_service_faces_per_photo_count"), 0);
}

// The embedded page (server/assets.h): types, security headers, 404s.
std::string header_value(const Response& r, std::string_view name) {
    for (const auto& h : r.headers)
        if (h.name == name) return h.value;
    return "(absent)";
}

TEST(Page, IndexIsHtmlWithCsp) {
    const Response r = server::asset_response("/");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
    EXPECT_EQ(header_value(r, "Content-Security-Policy"),
              "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; style-src 'self'; "
              "script-src 'self'; frame-ancestors 'none'");
    EXPECT_EQ(header_value(r, "X-Content-Type-Options"), "nosniff");
    EXPECT_TRUE(r.body.starts_with("<!doctype html>")) << r.body.substr(0, 40);
    EXPECT_NE(r.body.find(R"(<script type="module" src="/app.js"></script>)"), std::string::npos);
    EXPECT_NE(r.body.find(R"(<link rel="stylesheet" href="/app.css">)"), std::string::npos);
}

// The CSP allows no inline code: every <script> has a src, and no <style>
// element, style attribute or on* handler attribute appears.
TEST(Page, NoInlineScriptOrStyle) {
    const std::string html(server::asset_response("/").body);
    for (std::size_t at = html.find("<script"); at != std::string::npos; at = html.find("<script", at + 1)) {
        const std::string tag = html.substr(at, html.find('>', at) - at);
        EXPECT_NE(tag.find(" src="), std::string::npos) << tag;
    }
    EXPECT_EQ(html.find("<style"), std::string::npos);
    EXPECT_EQ(html.find(" style="), std::string::npos);
    for (const char* handler : {" onclick=", " onload=", " onchange=", " oninput=", " onerror=", " ondrop="})
        EXPECT_EQ(html.find(handler), std::string::npos) << handler;
}

TEST(Page, ScriptAndStylesheetTypes) {
    const Response js = server::asset_response("/app.js");
    EXPECT_EQ(js.status, 200);
    EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
    EXPECT_EQ(header_value(js, "X-Content-Type-Options"), "nosniff");
    EXPECT_NE(js.body.find("/api/detect"), std::string::npos);

    const Response css = server::asset_response("/app.css");
    EXPECT_EQ(css.status, 200);
    EXPECT_EQ(css.content_type, "text/css; charset=utf-8");
    EXPECT_EQ(header_value(css, "X-Content-Type-Options"), "nosniff");
    EXPECT_FALSE(css.body.empty());
}

TEST(Page, UnknownAssetIs404) {
    for (const char* path : {"/index.html", "/app.jsx", "/app", "/page/app.js", "/../app.js", "//app.js", ""}) {
        const Response r = server::asset_response(path);
        EXPECT_EQ(r.status, 404) << path;
        EXPECT_EQ(r.content_type, "application/json") << path;
        EXPECT_TRUE(nlohmann::json::parse(r.body).at("detail").is_string()) << path;
    }
    EXPECT_EQ(server::find_asset("/nope"), nullptr);
    ASSERT_NE(server::find_asset("/app.js"), nullptr);
    EXPECT_EQ(server::page_assets().front().path, "/");
}

// What the binary serves is byte for byte the file in server/page/.
TEST(Page, EmbeddedBytesAreTheSourceFiles) {
    for (const auto& [path, file] : {std::pair{"/", "index.html"}, {"/app.js", "app.js"}, {"/app.css", "app.css"}}) {
        std::ifstream in(std::string(FACE_SOURCE_DIR) + "/server/page/" + file, std::ios::binary);
        ASSERT_TRUE(in) << file;
        const std::string source((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        EXPECT_EQ(server::asset_response(path).body, source) << file;
    }
}

}  // namespace
