// The MTCNN cascade as the predecessor ran it (the `mtcnn` Python package
// 0.1.x): image pyramid -> PNet -> NMS -> RNet -> NMS -> ONet -> NMS, with box
// regression, squaring and landmarks.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "engine/kernels.h"
#include "mtcnn/boxes.h"
#include "mtcnn/image.h"
#include "mtcnn/nets.h"

namespace mtcnn {

// Per-call settings: arguments to detect(), never state on the detector.
struct DetectOptions {
    int min_face = 20;                      // pixels
    double scale_factor = 0.709;            // between pyramid levels
    std::array<float, 3> thresholds{0.6f, 0.7f, 0.7f};  // PNet, RNet, ONet
};

struct Point {
    int x = 0, y = 0;
};

struct Face {
    int x = 0, y = 0, width = 0, height = 0;  // clipped to the image
    float confidence = 0;                     // ONet's face probability
    // left_eye, right_eye, nose, mouth_left, mouth_right; "left" is the
    // image's left, as the predecessor named them.
    std::array<Point, 5> keypoints{};
};

inline constexpr std::array<const char*, 5> kKeypointNames{"left_eye", "right_eye", "nose", "mouth_left",
                                                           "mouth_right"};

class Detector {
public:
    // Loads and validates the weights (embedded when weights_dir is empty).
    explicit Detector(const engine::Kernels& kernels, const std::string& weights_dir = {});

    // Faces sorted by confidence, highest first. Thread-safe: the networks
    // are read-only; every call has its own buffers.
    std::vector<Face> detect(const Image& image, const DetectOptions& options = {}) const;

    engine::Isa isa() const { return nets_.pnet.isa(); }

private:
    std::vector<Candidate> stage_pnet(const Image& image, const DetectOptions& options) const;
    std::vector<Candidate> stage_rnet(const Image& image, std::vector<Candidate> boxes, float threshold) const;
    std::vector<Candidate> stage_onet(const Image& image, std::vector<Candidate> boxes, float threshold) const;

    Nets nets_;
};

}  // namespace mtcnn
