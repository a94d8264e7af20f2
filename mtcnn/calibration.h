// Calibrated confidence: a monotone map from a mode's raw score (its final
// score, mtcnn/detector.h: ONet's face probability, or the stages' combined) to a
// confidence c that means "a real face with probability about c" on the
// WIDER FACE dev sample (../shared/eval/README.md), so that a request's
// confidence threshold of 0.9 keeps faces each about 90% or more likely to be
// real (together more precise still: bench/ACCURACY.md).
//
// The map is isotonic regression (pool adjacent violators, Barlow et al.
// 1972; Zadrozny & Elkan 2002 for calibration) fitted by tools/calibrate on
// labelled detections, reduced to a small table of knots that is compiled
// into the binary (mtcnn/calibration_<mode>.inc) and interpolated linearly.
//
// Where it applies (mtcnn/modes.h): Face.confidence = calibrate(raw score)
// after the cascade, and the score's threshold = raw_threshold(requested confidence) before
// it, so both sides of the API speak calibrated confidence.
#pragma once

#include <cstddef>
#include <span>
#include <utility>
#include <vector>

namespace mtcnn {

// One point of the map: a raw score and the calibrated confidence there.
struct CalibrationKnot {
    float raw = 0;
    float calibrated = 0;
};

inline constexpr int kMaxCalibrationKnots = 64;

// A raw score and whether the detection is a real face.
using ScoredLabel = std::pair<float, bool>;

// A monotone non-decreasing piecewise-linear map from [0, 1] onto [0, 1].
// Immutable once built: one instance serves concurrent requests.
class Calibration {
public:
    // Returned by raw_threshold() when no raw score reaches the confidence:
    // above every raw score, so `raw >= threshold` is never true.
    static constexpr float kNothingPasses = 2.0f;

    // The identity map, knots (0, 0) and (1, 1).
    Calibration();

    // Validates the table: 2..kMaxCalibrationKnots knots, raw strictly
    // increasing from exactly 0 to exactly 1, calibrated finite, in [0, 1]
    // and non-decreasing. Throws std::invalid_argument saying which rule the
    // table breaks and at which knot.
    explicit Calibration(std::span<const CalibrationKnot> knots);

    // The confidence for a raw score: linear between knots. A raw score
    // outside [0, 1] is clamped to it; NaN counts as 0.
    float calibrate(float raw) const;

    // The smallest raw score in [0, 1] whose calibrated value is >=
    // confidence, exactly for float arithmetic: for every raw in [0, 1],
    //   calibrate(raw) >= confidence  <=>  raw >= raw_threshold(confidence).
    // On a flat stretch of the map that is the stretch's start. confidence <=
    // calibrate(0) (in particular 0) gives 0: everything passes; confidence
    // above calibrate(1), the largest value, gives kNothingPasses. Throws
    // std::invalid_argument for NaN.
    float raw_threshold(float confidence) const;

    const std::vector<CalibrationKnot>& knots() const { return knots_; }

private:
    std::vector<CalibrationKnot> knots_;
};

// Isotonic regression of the labels on the raw scores (pool adjacent
// violators over the scores sorted ascending, equal scores pooled first),
// reduced to at most max_knots knots:
// - each pooled block becomes a knot at (mean raw score, fraction positive),
//   so the map is linear between block centres;
// - while there are more than max_knots - 2 blocks, the adjacent pair whose
//   merge adds the least squared error (n1 n2 / (n1 + n2) (p1 - p2)^2) is
//   merged; a merged block's value lies between its two parts, so the map
//   stays monotone;
// - the ends are pinned: knots at raw 0 and raw 1 carry the first and last
//   block's value (flat beyond the outermost block centres, no
//   extrapolation), so the map covers [0, 1]; a redundant end knot (equal to
//   its neighbour's value, or at the same raw score) is left out.
// Scores are clamped to [0, 1]. Empty input gives the identity map: with no
// evidence, the raw score is passed through unchanged (tools/calibrate
// refuses to fit an empty set before it gets here). All positives give the
// constant map 1, all negatives the constant 0. max_knots must be in
// [2, kMaxCalibrationKnots] (std::invalid_argument otherwise).
Calibration fit_isotonic(std::vector<ScoredLabel> scored_labels, int max_knots = kMaxCalibrationKnots);

inline constexpr int kCalibrationBins = 10;

// One equal-width bin of confidences: [lower, upper), the last one closed.
struct ReliabilityBin {
    double lower = 0, upper = 0;
    std::size_t count = 0;
    double mean_confidence = 0;    // 0 for an empty bin
    double fraction_positive = 0;  // 0 for an empty bin
};

// `bins` equal-width bins over [0, 1] of (confidence, is a real face) pairs;
// confidences are clamped to [0, 1]. bins must be >= 1.
std::vector<ReliabilityBin> reliability_table(const std::vector<ScoredLabel>& confidence_labels,
                                              int bins = kCalibrationBins);

// Expected calibration error (Naeini et al. 2015; Guo et al. 2017): over the
// reliability table's bins, sum of count / N * |mean confidence - fraction
// positive|. 0 for empty input.
double expected_calibration_error(const std::vector<ScoredLabel>& confidence_labels, int bins = kCalibrationBins);

}  // namespace mtcnn
