// The WIDER FACE evaluation: AP easy / medium / hard by the official protocol
// (../shared/eval/README.md; the WIDER FACE toolkit's evaluation.m, whose
// widely used Python port is wondervictor/WiderFace-Evaluation), and recall
// per perceived skin type. Everything but detect_photos() is a pure function
// of ground truth and boxes, so tests pin the protocol without a detector.
//
// Protocol decisions where the README is silent (each pinned by
// tests/tools/wider_eval_test.cpp):
// - Scores are normalised over all detections of all photos,
//   (s - min) / (max - min). When max == min (one detection, or all equal)
//   every score becomes 1: all detections are equally sure, so all enter at
//   the first threshold. (The official code divides by zero there and ends
//   with no usable curve.)
// - A photo with no ground-truth face at all is skipped, its detections
//   neither proposals nor false positives, as evaluation.m does
//   (`if isempty(gt_bbx) || isempty(pred_info) continue`). No photo of the
//   dev sample has zero faces, so this never changes its numbers.
// - Ties: detections of equal score keep their input order (stable sort, as
//   MATLAB's sort); a detection whose best IoU is shared by several faces
//   goes to the first of them (MATLAB's max, numpy's argmax).
// - Several detections on one counted face: the first recalls it, the others
//   are proposals that add no recall (they lower precision), as
//   evaluation.m's recall_list / proposal_list do.
// - Precision with no proposals (high thresholds) is 0/0 in the official
//   code; it is 0 here. The AP is the same either way: recall is 0 there too,
//   and the VOC sum reads precision only where recall has just grown.
// - No counted face in the whole set: recall is 0 and AP is 0.
// - Fairness matching uses the same +1 IoU as the AP, against the faces
//   labelled I..VI only ("Not Sure" and unlabelled faces take no part), and
//   the raw detector confidences (the operating threshold is a detector
//   threshold, not a normalised score).
#pragma once

#include <array>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace engine {
class ThreadPool;
}
namespace mtcnn {
class Detector;
struct DetectOptions;
}  // namespace mtcnn

namespace tools::eval {

// A box as WIDER FACE writes it: top-left corner and size, in pixels.
struct Box {
    double x = 0, y = 0, w = 0, h = 0;
};

struct Detection {
    Box box;
    double score = 0;
};

enum class Setting { easy, medium, hard };
inline constexpr std::array<Setting, 3> kSettings{Setting::easy, Setting::medium, Setting::hard};
std::string_view setting_name(Setting setting);  // "easy", "medium", "hard"

// Perceived skin type (Fitzpatrick I..VI): 1..6 in Photo::skin, 0 for a face
// without a label or labelled "Not Sure".
inline constexpr int kNoSkinLabel = 0;
inline constexpr std::array<std::string_view, 6> kSkinTypes{"I", "II", "III", "IV", "V", "VI"};

// One manifest record: the ground truth of one photo.
struct Photo {
    std::string image;                        // relative to the manifest's folder
    std::vector<Box> faces;                   // every face of the photo
    std::array<std::vector<int>, 3> counted;  // per Setting: indices into faces; the rest are ignored
    std::vector<int> skin;                    // per face (or empty: none labelled): 0 or 1..6
};

// The README's manifest format. Throws std::runtime_error naming the record
// for a missing field, a wrong type, an index out of range or an unknown
// skin label.
std::vector<Photo> parse_manifest(const nlohmann::json& manifest);
std::vector<Photo> read_manifest(const std::filesystem::path& path);

// Intersection over union with the toolkit's +1 pixel convention:
// x2 = x + w, area = (x2 - x1 + 1) * (y2 - y1 + 1); 0 when disjoint.
double overlap(const Box& a, const Box& b);

inline constexpr double kMatchIou = 0.5;  // a match needs IoU >= this
inline constexpr int kThresholds = 1000;  // t = 1 - k / 1000, k = 1..1000

// Every score mapped to (s - min) / (max - min) over all photos; all 1 when
// max == min.
std::vector<std::vector<Detection>> normalise_scores(std::vector<std::vector<Detection>> detections);

// One photo, detections already in descending score order. For each
// detection: whether it is a proposal (false only for an ignored match) and
// how many counted faces are recalled once it has been matched.
struct ImageMatch {
    std::vector<bool> proposal;
    std::vector<int> recalled;
};
ImageMatch match_image(const std::vector<Box>& faces, const std::vector<int>& counted,
                       const std::vector<Detection>& sorted_detections);

struct PrPoint {
    double threshold = 0, precision = 0, recall = 0;
};

// The VOC area: precision made non-increasing from the right, summed over
// the points where recall changes. `curve` in order of non-decreasing recall
// (falling threshold), as evaluate() returns it.
double voc_ap(const std::vector<PrPoint>& curve);

struct SettingResult {
    double ap = 0;
    int faces = 0;              // counted faces over all photos
    std::vector<PrPoint> curve;  // kThresholds points, threshold falling
};

// AP of one setting. detections[i] belongs to photos[i], raw scores in any
// order (normalised and sorted here).
SettingResult evaluate(const std::vector<Photo>& photos, Setting setting,
                       const std::vector<std::vector<Detection>>& detections);

inline constexpr int kGapMinFaces = 50;  // README: the gap is over types with at least 50 faces

struct SkinRow {
    std::string_view type;  // "I".."VI"
    int faces = 0;
    int found = 0;
    double recall = 0;                 // found / faces; 0 without faces
    std::optional<double> mean_score;  // of the matched detections; none when none matched
};

// How far the gap can be trusted with a few hundred labelled faces: a 90%
// interval from resampling the photos (faces of one photo share its light
// and camera, so photos, not faces, are what is drawn), and the gap that a
// detector finding every type equally often (at the overall recall, with the
// same faces per type) shows by chance alone, as a median and 95th percentile.
struct GapSpread {
    double low = 0, high = 0;           // 5th and 95th percentile over resampled photos
    double equal_median = 0, equal_p95 = 0;
};

struct Fairness {
    std::array<SkinRow, 6> rows;
    std::optional<double> gap;  // max - min recall over types with >= min_faces; none when no type has
    std::optional<GapSpread> spread;  // with the gap
    int min_faces = kGapMinFaces;
};

inline constexpr int kGapResamples = 2000;
inline constexpr unsigned kGapSeed = 20261201;  // fixed: the same data give the same interval

// Detections with score >= operating_threshold matched one-to-one to the
// labelled faces of their photo at IoU >= 0.5, greedily by IoU (highest
// pair first; ties keep face then detection order). The spread comes from
// `resamples` draws with a fixed seed.
Fairness skin_recall(const std::vector<Photo>& photos, const std::vector<std::vector<Detection>>& detections,
                     double operating_threshold, int min_faces = kGapMinFaces, int resamples = kGapResamples);

// Runs the detector on every photo (folder / photo.image) on the pool;
// result i belongs to photos[i], scores are the detector's confidences.
// `progress`, when set, is called (serialised) with the number of photos
// done. An unreadable photo throws, naming it.
std::vector<std::vector<Detection>> detect_photos(const mtcnn::Detector& detector, const std::vector<Photo>& photos,
                                                  const std::filesystem::path& folder,
                                                  const mtcnn::DetectOptions& options, engine::ThreadPool& pool,
                                                  const std::function<void(std::size_t)>& progress = {});

}  // namespace tools::eval
