// Detection modes: named cascade settings a request chooses (`mode=` on
// /api/detect, `--mode` on the command line and in widerface-eval), each
// with the calibration of its scores. bench/ACCURACY.md measures every mode
// on the WIDER FACE dev sample and says why each setting is there.
//
// - faithful: the predecessor's cascade, answer for answer (the known
//   answers of ../shared/golden); confidence is ONet's raw probability, as
//   the predecessor returned it.
// - default: what the service answers unless asked otherwise: faces down to
//   12 pixels, bilinear crops, the three stages' scores combined, ONet on
//   mirrored crops and twice, calibrated confidence.
// - accurate: the best accuracy found, at about twice the default's cost.
//
// Confidence in the calibrated modes means "a real face with probability
// about c" on the dev sample (mtcnn/calibration.h): a request's threshold c
// becomes the final score's threshold through the inverse map, and every
// face's confidence is the calibrated value.
#pragma once

#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "mtcnn/calibration.h"
#include "mtcnn/detector.h"

namespace mtcnn {

struct Mode {
    std::string_view name;
    DetectOptions options;    // thresholds[2] is set per request from the confidence
    Calibration calibration;  // the identity for faithful
};

// A mode name that is not one of modes(); the message lists the known ones.
class UnknownMode : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

inline constexpr std::string_view kDefaultMode = "default";

// The smallest minimum face a request or the command line may ask for
// (DetectOptions::min_face): below 8 pixels the first pyramid level grows
// the photo past 1.5 times (PNet's window is 12), for faces too small to
// mean much.
inline constexpr int kSmallestMinFace = 8;

// faithful, default, accurate: built once at start-up, immutable.
std::span<const Mode> modes();

// The mode of that name; UnknownMode otherwise.
const Mode& find_mode(std::string_view name);

// "faithful, default, accurate": for usage texts and error messages.
std::string mode_names();

// The options the cascade runs with for a request: the mode's, with the
// final score's threshold such that exactly the faces whose calibrated
// confidence is >= `confidence` pass.
DetectOptions options_for(const Mode& mode, double confidence);

// The faces of `image` in `mode` with calibrated confidence >= `confidence`,
// highest first, each carrying its calibrated confidence; `stats` and
// `deadline` as in Detector::detect.
std::vector<Face> detect(const Detector& detector, const Image& image, const Mode& mode, double confidence,
                         DetectStats* stats = nullptr, const Deadline& deadline = {});

// The `n` largest of `faces` by box area (width x height, as clipped to the
// photo); equal areas: the higher confidence, then the earlier face. They
// keep their order in `faces` (detect()'s: highest confidence first). All
// of them when there are n or fewer. Applied after the confidence cut
// (`max_faces` on the API, server/service.h).
std::vector<Face> keep_largest(std::vector<Face> faces, std::size_t n);

}  // namespace mtcnn
