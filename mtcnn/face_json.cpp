#include "mtcnn/face_json.h"

#include <cmath>

namespace mtcnn {
namespace {

// Six decimals: enough to rank detections and draw precision/recall curves,
// without float32's noise digits ("0.99997" rather than "0.9999700188636780").
double rounded(float confidence) {
    constexpr double kScale = 1e6;
    return std::round(static_cast<double>(confidence) * kScale) / kScale;
}

}  // namespace

nlohmann::json faces_to_json(const std::vector<Face>& faces) {
    nlohmann::json list = nlohmann::json::array();
    for (const Face& f : faces) {
        nlohmann::json keypoints = nlohmann::json::object();
        for (std::size_t k = 0; k < kKeypointNames.size(); ++k)
            keypoints[kKeypointNames[k]] = {f.keypoints[k].x, f.keypoints[k].y};
        list.push_back({{"box", {f.x, f.y, f.width, f.height}}, {"confidence", rounded(f.confidence)}, {"keypoints", keypoints}});
    }
    return list;
}

}  // namespace mtcnn
