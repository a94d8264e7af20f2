#include "server/media_routes.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <span>
#include <string>
#include <string_view>

#include "mtcnn/align.h"
#include "mtcnn/encode.h"
#include "mtcnn/face_json.h"
#include "server/base64.h"
#include "server/service.h"
#include "server/zip.h"

namespace server {
namespace {

using http::HttpError;
using http::Request;
using http::Response;

std::span<const std::uint8_t> as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// A photo's pixels and faces, for one of these routes: the query checked
// (by the caller's own rules first), the bytes decoded, the faces found.
struct Detected {
    mtcnn::ImageFormat format;
    mtcnn::Image image;
    std::vector<mtcnn::Face> faces;
};

Detected detect(const FaceService& service, const Request& request, const mtcnn::Deadline& deadline) {
    const ServiceOptions& options = service.options();
    const DetectQuery query = request_detect_query(request, options.default_mode, options.default_confidence);
    const std::string_view bytes = request_image(request);
    if (bytes.empty()) throw HttpError(400, "empty body: send the photo's bytes, or a multipart form with an 'image' file");
    Detected d{mtcnn::probe_image(as_bytes(bytes)).format, {}, {}};
    d.faces = service.detect_photo(bytes, query, deadline, &d.image);
    return d;
}

Response file_response(std::string body, std::string content_type, std::string_view filename, std::size_t faces) {
    Response r;
    r.body = std::move(body);
    r.content_type = std::move(content_type);
    r.headers.push_back({"Content-Disposition", "attachment; filename=\"" + std::string(filename) + "\""});
    r.headers.push_back({"X-Face-Count", std::to_string(faces)});
    r.headers.push_back({"Cache-Control", "no-store"});
    r.log_fields["faces"] = faces;
    return r;
}

std::vector<std::uint8_t> crop_png(const mtcnn::Image& image, const mtcnn::Face& face) {
    return mtcnn::encode_png(mtcnn::align_face(image, face));
}

}  // namespace

AnonymizeQuery request_anonymize_query(const Request& request) {
    AnonymizeQuery q;
    if (const auto method = query_value(request, "method")) {
        try {
            q.options.method = mtcnn::blur_method_from_name(*method);
        } catch (const std::invalid_argument& e) {
            throw HttpError(422, e.what());
        }
    }
    if (const auto strength = query_value(request, "strength")) {
        double s = 0;
        const char* first = strength->data();
        const char* last = first + strength->size();
        const auto [end, ec] = std::from_chars(first, last, s);
        if (strength->empty() || ec != std::errc() || end != last || !std::isfinite(s) || s <= 0.0 ||
            s > mtcnn::kMaxStrength)
            throw HttpError(422, "strength must be a number in (0, 1], got '" + *strength + "'");
        q.options.strength = s;
    }
    if (const auto format = query_value(request, "format")) {
        if (*format == "jpeg")
            q.format = mtcnn::ImageFormat::jpeg;
        else if (*format == "png")
            q.format = mtcnn::ImageFormat::png;
        else
            throw HttpError(422, "unknown format '" + *format + "'; the formats are jpeg, png");
    }
    return q;
}

bool request_crops(const Request& request) {
    const auto crops = query_value(request, "crops");
    if (!crops || *crops == "false") return false;
    if (*crops == "true") return true;
    throw HttpError(422, "crops must be true or false, got '" + *crops + "'");
}

void add_crops(nlohmann::json& faces_json, const mtcnn::Image& image, const std::vector<mtcnn::Face>& faces,
               const mtcnn::Deadline& deadline) {
    for (std::size_t i = 0; i < faces.size() && i < faces_json.size(); ++i) {
        deadline.check();
        faces_json[i]["crop"] = base64_encode(crop_png(image, faces[i]));
    }
}

Response anonymize_response(const FaceService& service, const Request& request) {
    if (!service.ready()) return not_ready_response();
    const mtcnn::Deadline deadline = service.request_deadline();
    const AnonymizeQuery query = request_anonymize_query(request);
    Detected d = detect(service, request, deadline);
    service.within_time_limit([&] { mtcnn::anonymize(d.image, d.faces, query.options, deadline); });
    const mtcnn::ImageFormat format =
        query.format ? *query.format : (d.format == mtcnn::ImageFormat::jpeg ? d.format : mtcnn::ImageFormat::png);
    const std::vector<std::uint8_t> bytes = mtcnn::encode_image(d.image, format);
    const bool jpeg = format == mtcnn::ImageFormat::jpeg;
    return file_response(std::string(bytes.begin(), bytes.end()), jpeg ? "image/jpeg" : "image/png",
                         jpeg ? "anonymized.jpg" : "anonymized.png", d.faces.size());
}

Response crops_response(const FaceService& service, const Request& request) {
    if (!service.ready()) return not_ready_response();
    const mtcnn::Deadline deadline = service.request_deadline();
    const Detected d = detect(service, request, deadline);
    ZipWriter zip;
    service.within_time_limit([&] {
        for (std::size_t i = 0; i < d.faces.size(); ++i) {
            deadline.check();
            zip.add("face-" + std::to_string(i + 1) + ".png", crop_png(d.image, d.faces[i]));
        }
    });
    zip.add("faces.json", as_bytes(mtcnn::faces_to_json(d.faces).dump()));
    return file_response(zip.finish(), "application/zip", "faces.zip", d.faces.size());
}

void install_media_routes(http::Server& server, const FaceService& service) {
    server.route("POST", "/api/anonymize",
                 with_json_errors([&service](const Request& r) { return anonymize_response(service, r); }));
    server.route("POST", "/api/crops",
                 with_json_errors([&service](const Request& r) { return crops_response(service, r); }));
}

}  // namespace server
