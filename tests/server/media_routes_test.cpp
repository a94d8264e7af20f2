// /api/anonymize's and /api/crops' query rules and answers without sockets
// (server/media_routes.h): every bad parameter is a 422 before the photo is
// read, the defaults, and the answers' types and headers on a photo with
// no face (the routes over real HTTP on real faces: media_test.py).
#include "server/media_routes.h"

#include <gtest/gtest.h>

#include "engine/cpu.h"
#include "mtcnn/encode.h"
#include "mtcnn/image.h"
#include "server/service.h"
#include "tests/support/http_status.h"

namespace {

using server::http::Request;
using server::http::Response;
using testing_support::status_of;

Request request(const std::string& path, const std::string& query, const std::string& body = "") {
    Request r;
    r.method = "POST";
    r.path = path;
    r.query = query;
    r.body = body;
    return r;
}

std::string header(const Response& r, std::string_view name) {
    for (const auto& h : r.headers)
        if (h.name == name) return h.value;
    return "";
}

TEST(AnonymizeQuery, Defaults) {
    const server::AnonymizeQuery q = server::request_anonymize_query(request("/api/anonymize", ""));
    EXPECT_EQ(q.options.method, mtcnn::BlurMethod::gaussian);
    EXPECT_DOUBLE_EQ(q.options.strength, mtcnn::kDefaultStrength);
    EXPECT_EQ(q.format, std::nullopt);
}

TEST(AnonymizeQuery, Given) {
    const server::AnonymizeQuery q =
        server::request_anonymize_query(request("/api/anonymize", "method=pixelate&strength=0.5&format=png"));
    EXPECT_EQ(q.options.method, mtcnn::BlurMethod::pixelate);
    EXPECT_DOUBLE_EQ(q.options.strength, 0.5);
    EXPECT_EQ(q.format, mtcnn::ImageFormat::png);
    EXPECT_EQ(server::request_anonymize_query(request("/api/anonymize", "method=solid&format=jpeg")).format,
              mtcnn::ImageFormat::jpeg);
    EXPECT_DOUBLE_EQ(server::request_anonymize_query(request("/api/anonymize", "strength=1")).options.strength, 1.0);
}

TEST(AnonymizeQuery, BadParametersAre422) {
    for (const char* q : {"method=blur", "method=", "method=Gaussian", "strength=0", "strength=-1", "strength=1.01",
                          "strength=nan", "strength=inf", "strength=", "strength=0.5x", "format=gif", "format=jpg",
                          "format=", "method=solid&method=solid", "strength=0.1&strength=0.1", "format=png&format=png"})
        EXPECT_EQ(status_of([&] { server::request_anonymize_query(request("/api/anonymize", q)); }), 422) << q;
}

TEST(Crops, TrueFalseOrAbsent) {
    EXPECT_FALSE(server::request_crops(request("/api/detect", "")));
    EXPECT_FALSE(server::request_crops(request("/api/detect", "crops=false")));
    EXPECT_TRUE(server::request_crops(request("/api/detect", "crops=true")));
    for (const char* q : {"crops=1", "crops=yes", "crops=", "crops", "crops=TRUE", "crops=true&crops=true"})
        EXPECT_EQ(status_of([&] { server::request_crops(request("/api/detect", q)); }), 422) << q;
}

mtcnn::Image grey(int w, int h) {
    mtcnn::Image image;
    image.width = w;
    image.height = h;
    image.pixels.assign(static_cast<std::size_t>(w) * h * 3, 128);
    return image;
}

std::string as_string(const std::vector<std::uint8_t>& v) { return {v.begin(), v.end()}; }

TEST(MediaRoutes, AnswersOfAPhotoWithoutFaces) {
    server::FaceService service({"default", 0.95, 50'000'000, 1, engine::configured_isa(), false});
    const std::string png = as_string(mtcnn::encode_png(grey(64, 48)));
    // Before load: 503 with Retry-After.
    const Response early = server::anonymize_response(service, request("/api/anonymize", "", png));
    EXPECT_EQ(early.status, 503);
    EXPECT_EQ(header(early, "Retry-After"), "1");
    service.load("");

    // A PNG stays PNG, the pixels as they were (no face).
    const Response same = server::anonymize_response(service, request("/api/anonymize", "", png));
    EXPECT_EQ(same.status, 200);
    EXPECT_EQ(same.content_type, "image/png");
    EXPECT_EQ(header(same, "Content-Disposition"), "attachment; filename=\"anonymized.png\"");
    EXPECT_EQ(header(same, "X-Face-Count"), "0");
    EXPECT_EQ(header(same, "Cache-Control"), "no-store");
    EXPECT_EQ(mtcnn::decode_image({reinterpret_cast<const std::uint8_t*>(same.body.data()), same.body.size()}).pixels,
              grey(64, 48).pixels);
    // format=jpeg; and a GIF or BMP would come back as PNG, a JPEG as JPEG.
    const Response jpeg = server::anonymize_response(service, request("/api/anonymize", "format=jpeg", png));
    EXPECT_EQ(jpeg.content_type, "image/jpeg");
    EXPECT_EQ(header(jpeg, "Content-Disposition"), "attachment; filename=\"anonymized.jpg\"");
    const Response from_jpeg = server::anonymize_response(service, request("/api/anonymize", "", jpeg.body));
    EXPECT_EQ(from_jpeg.content_type, "image/jpeg");

    // A bad parameter is 422 before the photo is looked at (here: none).
    EXPECT_EQ(status_of([&] { server::anonymize_response(service, request("/api/anonymize", "method=x", "")); }), 422);
    EXPECT_EQ(status_of([&] { server::anonymize_response(service, request("/api/anonymize", "", "")); }), 400);

    // Crops: a zip holding faces.json alone.
    const Response zip = server::crops_response(service, request("/api/crops", "", png));
    EXPECT_EQ(zip.status, 200);
    EXPECT_EQ(zip.content_type, "application/zip");
    EXPECT_EQ(header(zip, "Content-Disposition"), "attachment; filename=\"faces.zip\"");
    EXPECT_EQ(zip.body.substr(0, 4), std::string("PK\x03\x04", 4));
    EXPECT_NE(zip.body.find("faces.json"), std::string::npos);
}

}  // namespace
