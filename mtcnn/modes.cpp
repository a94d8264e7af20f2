#include "mtcnn/modes.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numeric>

namespace mtcnn {
namespace {

// The knot tables written by tools/calibrate (bench/ACCURACY.md has the
// commands); each is the final score of its mode -> calibrated confidence.
constexpr CalibrationKnot kDefaultKnots[] =
#include "mtcnn/calibration_default.inc"
    ;
constexpr CalibrationKnot kAccurateKnots[] =
#include "mtcnn/calibration_accurate.inc"
    ;

DetectOptions faithful_options() { return {}; }

// Each setting measured on the dev sample, kept because it helps
// (bench/ACCURACY.md has every row):
// - minimum face 12 (the first pyramid level at scale 1) and factor 0.79:
//   near the MTCNN authors' own WIDER FACE recipe (10, 0.79), which finds
//   the small faces of the hard setting that minimum face 20 cannot;
// - PNet and RNet at 0.4 and RNet's NMS at 0.8: more candidates reach ONet;
// - bilinear enlarging of small crops, as the authors' MATLAB code did;
// - the score is the geometric mean of the three stages' probabilities;
// - ONet sees every crop mirrored too, and runs a second time on its own
//   boxes, averaging the probabilities; the first pass keeps scores above
//   0.3 (the calibrated confidence there is about 0.01).
DetectOptions default_options() {
    DetectOptions o;
    o.min_face = 12;
    o.scale_factor = 0.79;
    o.thresholds = {0.4f, 0.4f, 0.0f};
    o.nms = {0.5f, 0.7f, 0.8f, 0.7f};
    o.enlarge = Enlarge::bilinear;
    o.stage_weights = {1.0f, 1.0f, 1.0f};
    o.onet_mirror = true;
    o.onet_passes = 2;
    o.onet_pass_threshold = 0.3f;
    return o;
}

// The best found at any cost: minimum face 10 (the first level enlarged 1.2
// times), PNet and RNet at 0.3, RNet on mirrored crops too, and ONet's
// second pass on every box its first scores above 0.02.
DetectOptions accurate_options() {
    DetectOptions o = default_options();
    o.min_face = 10;
    o.thresholds = {0.3f, 0.3f, 0.0f};
    o.rnet_mirror = true;
    o.onet_pass_threshold = 0.02f;
    return o;
}

// Built during static initialisation, before main(): nothing is created
// lazily on the request path.
const std::array<Mode, 3> kModes{{
    {"faithful", faithful_options(), Calibration()},
    {"default", default_options(), Calibration(kDefaultKnots)},
    {"accurate", accurate_options(), Calibration(kAccurateKnots)},
}};

}  // namespace

std::span<const Mode> modes() { return kModes; }

const Mode& find_mode(std::string_view name) {
    for (const Mode& m : kModes)
        if (m.name == name) return m;
    throw UnknownMode("unknown mode '" + std::string(name) + "'; the modes are " + mode_names());
}

std::string mode_names() {
    std::string names;
    for (const Mode& m : kModes) names += (names.empty() ? "" : ", ") + std::string(m.name);
    return names;
}

DetectOptions options_for(const Mode& mode, double confidence) {
    DetectOptions options = mode.options;
    // The cascade keeps scores strictly above its threshold; the float just
    // below the inverse map's answer keeps exactly the scores >= it.
    const float raw = mode.calibration.raw_threshold(static_cast<float>(confidence));
    options.thresholds[2] = std::nextafter(raw, -1.0f);
    return options;
}

std::vector<Face> detect(const Detector& detector, const Image& image, const Mode& mode, double confidence,
                         DetectStats* stats, const Deadline& deadline) {
    std::vector<Face> faces = detector.detect(image, options_for(mode, confidence), stats, deadline);
    for (Face& f : faces) f.confidence = mode.calibration.calibrate(f.confidence);
    return faces;
}

std::vector<Face> keep_largest(std::vector<Face> faces, std::size_t n) {
    if (faces.size() <= n) return faces;
    const auto area = [](const Face& f) { return std::int64_t{f.width} * f.height; };
    std::vector<std::size_t> order(faces.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    // Stable: equal area and confidence keep the earlier face first.
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        if (area(faces[a]) != area(faces[b])) return area(faces[a]) > area(faces[b]);
        return faces[a].confidence > faces[b].confidence;
    });
    order.resize(n);
    std::sort(order.begin(), order.end());
    std::vector<Face> kept;
    kept.reserve(n);
    for (std::size_t i : order) kept.push_back(faces[i]);
    return kept;
}

}  // namespace mtcnn
