// The routes that answer pictures rather than only faces (server/service.h
// lists every route; FaceService::install calls install_media_routes):
//
//   POST /api/anonymize  the photo as for /api/detect (raw body or the
//                        multipart `image` field), with /api/detect's query
//                        (mode, confidence, max_faces, min_face_size) and:
//                          method    gaussian (default) | pixelate | solid
//                          strength  a number in (0, 1], default 0.15: a
//                                    fraction of each face box's width, the
//                                    blur's sigma or the blocks' side
//                                    (mtcnn/anonymize.h); unused by solid
//                          format    jpeg | png; default: the photo's own
//                                    for JPEG and PNG, PNG for BMP and GIF
//                        200: the photo (upright) with every face found
//                        blurred over its padded ellipse, as image/jpeg
//                        (quality 90) or image/png, Content-Disposition:
//                        attachment; filename="anonymized.jpg" (or .png),
//                        X-Face-Count: the faces blurred. Re-encoded from
//                        the pixels, it carries no EXIF, GPS or other
//                        metadata of the original (mtcnn/encode.h).
//   POST /api/crops      the photo and /api/detect's query. 200:
//                        application/zip, filename="faces.zip", stored
//                        (server/zip.h): face-1.png ... face-N.png, each a
//                        112 x 112 crop aligned on the face's keypoints
//                        (mtcnn/align.h), in the order of faces.json, the
//                        faces as /api/detect lists them; X-Face-Count: N.
//   /api/detect?crops=true
//                        each face gets "crop": the same aligned crop as a
//                        base64 PNG (server/base64.h); crops=false, the
//                        default, adds nothing.
//
// Errors as for /api/detect (with_json_errors), and 422 for a method or
// format not listed, a strength not a number in (0, 1], crops other than
// true or false, or any of them repeated; the query is checked before the
// photo is decoded. request_timeout bounds decoding, detection, blurring
// and cropping (checked before each face); encoding is not interrupted.
// These responses are personal data: Cache-Control: no-store. Each request
// is counted in /metrics and logged like a detection, with "faces".
#pragma once

#include <array>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "mtcnn/anonymize.h"
#include "mtcnn/detector.h"
#include "mtcnn/image.h"
#include "server/http_server.h"

namespace server {

class FaceService;

// The POST routes above; their CORS preflights are the service's (it
// registers OPTIONS for kMediaPaths).
inline constexpr std::array<const char*, 2> kMediaPaths{"/api/anonymize", "/api/crops"};
void install_media_routes(http::Server& server, const FaceService& service);

// What /api/anonymize's own query asks.
struct AnonymizeQuery {
    mtcnn::AnonymizeOptions options;
    std::optional<mtcnn::ImageFormat> format;  // none: from the photo
};

// method, strength, format; http::HttpError 422 when invalid or repeated.
AnonymizeQuery request_anonymize_query(const http::Request& request);

// crops=true|false (default false); http::HttpError 422 otherwise.
bool request_crops(const http::Request& request);

// `faces_json` (mtcnn::faces_to_json(faces)) with "crop" added to each face:
// its aligned crop as a base64 PNG. DetectionTimeout once `deadline` passes.
void add_crops(nlohmann::json& faces_json, const mtcnn::Image& image, const std::vector<mtcnn::Face>& faces,
               const mtcnn::Deadline& deadline);

// The answer of /api/anonymize and of /api/crops.
http::Response anonymize_response(const FaceService& service, const http::Request& request);
http::Response crops_response(const FaceService& service, const http::Request& request);

}  // namespace server
