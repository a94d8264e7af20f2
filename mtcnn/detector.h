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
#include "mtcnn/resize.h"

namespace mtcnn {

// Per-call settings: arguments to detect(), never state on the detector. The
// defaults are the predecessor's cascade; every member after the thresholds
// is a measured change beyond it (bench/ACCURACY.md), off by default.
struct DetectOptions {
    int min_face = 20;                      // pixels
    double scale_factor = 0.709;            // between pyramid levels
    // PNet's and RNet's face probability, then the final score's threshold.
    std::array<float, 3> thresholds{0.6f, 0.7f, 0.7f};
    // NMS overlaps: PNet within a pyramid level and across levels (IoU),
    // RNet (IoU), the final step (intersection over the smaller box).
    std::array<float, 4> nms{0.5f, 0.7f, 0.7f, 0.7f};
    // How the pyramid and the RNet/ONet crops are enlarged (resize.h).
    Enlarge enlarge = Enlarge::area;
    // The final score: the weighted geometric mean of the three stages' face
    // probabilities, exp(sum w_i log p_i / sum w_i). {0, 0, 1} is ONet's
    // own probability.
    std::array<float, 3> stage_weights{0.0f, 0.0f, 1.0f};
    // RNet / ONet also see each crop mirrored left to right; their
    // probabilities and box regressions are averaged.
    bool rnet_mirror = false;
    bool onet_mirror = false;
    // ONet runs again on its own regressed boxes (made square) until it has
    // run this many times; the passes' probabilities are averaged and the
    // last regression and landmarks are kept. The final threshold applies
    // to the last pass only; the earlier ones keep the scores above
    // `onet_pass_threshold`, whatever a request asks, so that a face's
    // result does not depend on the threshold beyond being cut by it.
    int onet_passes = 1;
    float onet_pass_threshold = 0.0f;
};

struct Point {
    int x = 0, y = 0;
};

struct Face {
    int x = 0, y = 0, width = 0, height = 0;  // clipped to the image
    float confidence = 0;                     // the final score (DetectOptions::stage_weights)
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
    std::vector<Candidate> stage_rnet(const Image& image, std::vector<Candidate> boxes,
                                      const DetectOptions& options) const;
    // `pass` counts from 1 (DetectOptions::onet_passes).
    std::vector<Candidate> stage_onet(const Image& image, std::vector<Candidate> boxes, const DetectOptions& options,
                                      int pass) const;

    Nets nets_;
};

}  // namespace mtcnn
