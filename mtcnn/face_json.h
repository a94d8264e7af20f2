// The faces as JSON, in the predecessor's shape (shared by the command line
// and the HTTP API):
//   [{"box": [x, y, width, height], "confidence": 0.99,
//     "keypoints": {"left_eye": [x, y], "right_eye": [x, y], "nose": [x, y],
//                   "mouth_left": [x, y], "mouth_right": [x, y]}}, ...]
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "mtcnn/detector.h"

namespace mtcnn {

nlohmann::json faces_to_json(const std::vector<Face>& faces);

}  // namespace mtcnn
