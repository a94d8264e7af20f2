// tools/wider_eval: the official WIDER FACE protocol on cases small
// enough to work out by hand (no detector, no data set). Every expected value
// below is derived in the comment next to it, not read back from the code.
#include "tools/wider_eval.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

namespace tools::eval {
namespace {

constexpr double kTol = 1e-6;

std::size_t at(Setting s) { return static_cast<std::size_t>(s); }

Photo photo(std::vector<Box> faces, std::vector<int> easy) {
    Photo p;
    p.faces = std::move(faces);
    p.counted[at(Setting::easy)] = std::move(easy);
    return p;
}

Detection det(Box b, double score) { return {b, score}; }

// ---------------------------------------------------------------- overlap

TEST(WiderFaceOverlap, UsesThePlusOnePixelConvention) {
    EXPECT_DOUBLE_EQ(overlap({0, 0, 9, 9}, {0, 0, 9, 9}), 1.0);
    // x1 0..9 against 1..10: 9 x 9 = 81 shared; each (9 + 1)^2 = 100.
    // Without the +1 it would be 64 / 98.
    EXPECT_DOUBLE_EQ(overlap({0, 0, 9, 9}, {1, 1, 9, 9}), 81.0 / 119.0);
    // Boxes that touch at x = 10 share a 1-pixel column: 1 x 11 of 121 + 121 - 11.
    EXPECT_DOUBLE_EQ(overlap({0, 0, 10, 10}, {10, 0, 10, 10}), 11.0 / 231.0);
    EXPECT_DOUBLE_EQ(overlap({0, 0, 10, 10}, {11, 0, 10, 10}), 0.0);
    // 5 x 10 inside 10 x 10: exactly 0.5.
    EXPECT_DOUBLE_EQ(overlap({0, 0, 9, 9}, {0, 0, 4, 9}), 0.5);
}

TEST(WiderFaceMatch, IouOfExactlyHalfIsAMatch) {
    const ImageMatch m = match_image({{0, 0, 9, 9}}, {0}, {det({0, 0, 4, 9}, 1.0)});
    EXPECT_EQ(m.recalled, (std::vector<int>{1}));
}

// ---------------------------------------------------------------- scores

TEST(WiderFaceScores, NormalisedOverTheWholeSet) {
    const auto n = normalise_scores({{det({}, 0.5), det({}, 0.9)}, {}, {det({}, 0.1)}});
    EXPECT_NEAR(n[0][0].score, 0.5, 1e-12);  // (0.5 - 0.1) / 0.8
    EXPECT_NEAR(n[0][1].score, 1.0, 1e-12);
    EXPECT_NEAR(n[2][0].score, 0.0, 1e-12);
}

TEST(WiderFaceScores, AllEqualScoresBecomeOne) {
    const auto n = normalise_scores({{det({}, 0.3)}, {det({}, 0.3)}});
    EXPECT_EQ(n[0][0].score, 1.0);
    EXPECT_EQ(n[1][0].score, 1.0);
}

// ---------------------------------------------------------------- AP

TEST(WiderFaceAp, PerfectDetectionsGiveOne) {
    const std::vector<Photo> photos{photo({{10, 10, 30, 30}, {100, 10, 40, 40}}, {0, 1}),
                                    photo({{5, 5, 50, 60}}, {0})};
    const std::vector<std::vector<Detection>> dets{
        {det({10, 10, 30, 30}, 0.9), det({100, 10, 40, 40}, 0.4)}, {det({5, 5, 50, 60}, 0.7)}};
    const SettingResult r = evaluate(photos, Setting::easy, dets);
    EXPECT_EQ(r.faces, 3);
    EXPECT_NEAR(r.ap, 1.0, 1e-12);
    ASSERT_EQ(r.curve.size(), static_cast<std::size_t>(kThresholds));
    EXPECT_DOUBLE_EQ(r.curve.back().threshold, 0.0);
    EXPECT_DOUBLE_EQ(r.curve.back().recall, 1.0);
    EXPECT_DOUBLE_EQ(r.curve.back().precision, 1.0);
}

TEST(WiderFaceAp, OneDetectionOnOneFaceIsPerfect) {
    // max == min: the only score becomes 1 and enters at the first threshold.
    const SettingResult r = evaluate({photo({{0, 0, 20, 20}}, {0})}, Setting::easy, {{det({0, 0, 20, 20}, 0.3)}});
    EXPECT_NEAR(r.ap, 1.0, 1e-12);
    EXPECT_DOUBLE_EQ(r.curve.front().recall, 1.0);
}

TEST(WiderFaceAp, NoDetectionsGiveZero) {
    const std::vector<Photo> photos{photo({{0, 0, 20, 20}, {50, 0, 20, 20}}, {0, 1}), photo({{0, 0, 9, 9}}, {0})};
    const SettingResult r = evaluate(photos, Setting::easy, {{}, {}});
    EXPECT_EQ(r.faces, 3);
    EXPECT_EQ(r.ap, 0.0);
    EXPECT_EQ(r.curve.back().recall, 0.0);
}

// The case worked out by hand. Counted (easy) faces: F0, F1 in photo A and
// G0 in photo B, 3 in all; F2 in A is ignored (not in easy).
//
//   det  photo  box on   raw   normalised (s - 0.6) / 0.3   role
//   d3   A      nothing  0.9   1                            false positive
//   d2   A      F2       0.8   2/3                          ignored match
//   d1   A      F0       0.7   1/3                          recalls F0
//   d4   B      G0       0.6   0                            recalls G0
//
// Falling threshold (P = proposals, R = recalled, over both photos):
//   t = 0.999 (k = 1):    d3          P 1 R 0  precision 0    recall 0
//   t = 0.666 (k = 334):  + d2        P 1 R 0  (ignored: no change)
//   t = 0.333 (k = 667):  + d1        P 2 R 1  precision 1/2  recall 1/3
//   t = 0     (k = 1000): + d4        P 3 R 2  precision 2/3  recall 2/3
// VOC: precision non-increasing from the right makes the point at recall 1/3
// worth max(1/2, 2/3) = 2/3; recall grows 0 -> 1/3 -> 2/3, so
//   AP = 1/3 * 2/3 + 1/3 * 2/3 = 4/9 = 0.444444...
// (Without the monotone step: 7/18; counting d2 as a false positive: 1/3.)
std::vector<Photo> hand_photos() {
    Photo a = photo({{0, 0, 20, 20}, {100, 0, 20, 20}, {200, 0, 20, 20}}, {0, 1});
    Photo b = photo({{0, 0, 30, 30}}, {0});
    a.counted[at(Setting::hard)] = {0, 1, 2};
    b.counted[at(Setting::hard)] = {0};
    return {a, b};
}
std::vector<std::vector<Detection>> hand_detections() {
    return {// photo A, deliberately not in score order
            {det({0, 0, 20, 20}, 0.7), det({400, 400, 20, 20}, 0.9), det({200, 0, 20, 20}, 0.8)},
            // photo B
            {det({0, 0, 30, 30}, 0.6)}};
}

TEST(WiderFaceAp, TwoPhotoCaseWorkedOutByHand) {
    const SettingResult r = evaluate(hand_photos(), Setting::easy, hand_detections());
    EXPECT_EQ(r.faces, 3);
    EXPECT_NEAR(r.ap, 4.0 / 9.0, kTol);

    const PrPoint& first = r.curve[0];  // k = 1
    EXPECT_NEAR(first.threshold, 0.999, 1e-12);
    EXPECT_EQ(first.precision, 0.0);
    EXPECT_EQ(first.recall, 0.0);
    const PrPoint& mid = r.curve[700 - 1];  // t = 0.3: d3, d2, d1
    EXPECT_NEAR(mid.precision, 0.5, kTol);
    EXPECT_NEAR(mid.recall, 1.0 / 3.0, kTol);
    const PrPoint& last = r.curve[kThresholds - 1];  // t = 0: all four
    EXPECT_NEAR(last.precision, 2.0 / 3.0, kTol);
    EXPECT_NEAR(last.recall, 2.0 / 3.0, kTol);
}

// The same detections in the hard setting, where F2 counts (4 faces):
//   d3: P 1 R 0;  d2: P 2 R 1 (1/2, 1/4);  d1: P 3 R 2 (2/3, 1/2);
//   d4: P 4 R 3 (3/4, 3/4).  Monotone: 3/4 at every recall step, so
//   AP = 3/4 * 3/4 = 9/16.
TEST(WiderFaceAp, TheSettingChoosesWhichFacesCount) {
    const SettingResult r = evaluate(hand_photos(), Setting::hard, hand_detections());
    EXPECT_EQ(r.faces, 4);
    EXPECT_NEAR(r.ap, 9.0 / 16.0, kTol);
}

TEST(WiderFaceAp, IgnoredFacesNeitherHelpNorHurt) {
    const SettingResult base = evaluate(hand_photos(), Setting::easy, hand_detections());

    // One more detection on the ignored face F2, its score inside [0.6, 0.9]
    // so that no other normalised score moves.
    auto more = hand_detections();
    more[0].push_back(det({201, 1, 20, 20}, 0.75));
    const SettingResult with_extra = evaluate(hand_photos(), Setting::easy, more);
    EXPECT_NEAR(with_extra.ap, base.ap, 1e-12);

    // F2 and its detection d2 gone altogether (min and max stay 0.6, 0.9).
    auto fewer_photos = hand_photos();
    fewer_photos[0].faces.pop_back();
    auto fewer = hand_detections();
    fewer[0].pop_back();
    const SettingResult without = evaluate(fewer_photos, Setting::easy, fewer);
    EXPECT_EQ(without.faces, base.faces);
    EXPECT_NEAR(without.ap, base.ap, 1e-12);

    for (int k = 0; k < kThresholds; ++k) {
        SCOPED_TRACE(k);
        EXPECT_NEAR(with_extra.curve[k].precision, base.curve[k].precision, 1e-12);
        EXPECT_NEAR(with_extra.curve[k].recall, base.curve[k].recall, 1e-12);
        EXPECT_NEAR(without.curve[k].precision, base.curve[k].precision, 1e-12);
        EXPECT_NEAR(without.curve[k].recall, base.curve[k].recall, 1e-12);
    }
}

TEST(WiderFaceMatch, ASecondDetectionOnARecalledFaceIsAProposalWithoutRecall) {
    const ImageMatch m =
        match_image({{0, 0, 20, 20}}, {0}, {det({0, 0, 20, 20}, 0.9), det({1, 1, 20, 20}, 0.5)});
    EXPECT_EQ(m.proposal, (std::vector<bool>{true, true}));
    EXPECT_EQ(m.recalled, (std::vector<int>{1, 1}));

    // Through evaluate: at t = 0 both are proposals, one face recalled.
    const SettingResult r = evaluate({photo({{0, 0, 20, 20}}, {0})}, Setting::easy,
                                     {{det({0, 0, 20, 20}, 0.9), det({1, 1, 20, 20}, 0.5)}});
    EXPECT_NEAR(r.curve.back().precision, 0.5, kTol);
    EXPECT_NEAR(r.ap, 1.0, kTol);  // recall reached 1 at precision 1
}

TEST(WiderFaceMatch, ADetectionGoesToTheFaceItOverlapsMost) {
    // Ignored face at IoU 1, counted face at IoU ~0.69: the ignored one wins,
    // so the detection is an ignored match and recalls nothing.
    const ImageMatch m = match_image({{2, 2, 20, 20}, {0, 0, 20, 20}}, {0}, {det({0, 0, 20, 20}, 1.0)});
    EXPECT_EQ(m.proposal, (std::vector<bool>{false}));
    EXPECT_EQ(m.recalled, (std::vector<int>{0}));
}

TEST(WiderFaceAp, DetectionsAreTakenInDescendingScoreOrder) {
    // Given false positive first: sorted, the true positive (normalised 1)
    // comes first: (1, 1) at t = 0.999, then (1/2, 1) at t = 0; AP 1. Taken
    // in input order, nothing would pass any threshold before t = 0 and AP
    // would be 1/2.
    const SettingResult r = evaluate({photo({{0, 0, 20, 20}}, {0})}, Setting::easy,
                                     {{det({300, 0, 20, 20}, 0.5), det({0, 0, 20, 20}, 0.9)}});
    EXPECT_NEAR(r.ap, 1.0, 1e-12);
    EXPECT_NEAR(r.curve.front().precision, 1.0, 1e-12);
}

TEST(WiderFaceAp, PhotosWithoutAnyFaceAreSkippedAsInEvaluationM) {
    // Photo A alone: both faces found, AP 1. Photo B has no face; its
    // detection (0.8, inside [0.5, 0.9], so normalisation is unchanged) would
    // be a false positive between A's two, giving (1, 1/2), (1/2, 1/2),
    // (2/3, 1) and AP 1/2 + 1/2 * 2/3 = 5/6, but evaluation.m skips B.
    const std::vector<Photo> one{photo({{0, 0, 20, 20}, {50, 0, 20, 20}}, {0, 1})};
    const std::vector<std::vector<Detection>> dets{{det({0, 0, 20, 20}, 0.9), det({50, 0, 20, 20}, 0.5)}};
    EXPECT_NEAR(evaluate(one, Setting::easy, dets).ap, 1.0, 1e-12);

    auto two = one;
    two.push_back(photo({}, {}));
    auto dets2 = dets;
    dets2.push_back({det({0, 0, 20, 20}, 0.8)});
    EXPECT_NEAR(evaluate(two, Setting::easy, dets2).ap, 1.0, 1e-12);
}

TEST(WiderFaceAp, VocAreaIsMonotoneFromTheRight) {
    // Recall 0.5 at precision 0.4, then recall 1 at precision 0.8: the first
    // step is worth 0.8 too, so AP = 0.5 * 0.8 + 0.5 * 0.8.
    EXPECT_NEAR(voc_ap({{0.9, 0.4, 0.5}, {0.1, 0.8, 1.0}}), 0.8, 1e-12);
    EXPECT_EQ(voc_ap({}), 0.0);
}

TEST(WiderFaceAp, MismatchedInputsThrow) {
    EXPECT_THROW(evaluate({photo({{0, 0, 1, 1}}, {0})}, Setting::easy, {}), std::invalid_argument);
}

// ---------------------------------------------------------------- skin types

// Photo 1: a, b type I; c type II; d unlabelled; e "Not Sure" (also 0).
//   Detections (operating threshold 0.7): a 0.9, b 0.6 (under the
//   threshold: b is missed), c 0.8, d 0.95 (no labelled face: not counted).
// Photo 2: f type II, g type III. Two detections on f: 0.99 at IoU ~0.69
//   and 0.75 at IoU 1. One-to-one, greedy by IoU: f takes the 0.75 one; the
//   0.99 one is left over (matching by score would take it instead). g missed.
// Photo 3: no labels at all, one face, one detection: takes no part.
//   I:   2 faces, 1 found, recall 1/2, mean 0.9
//   II:  2 faces, 2 found, recall 1,   mean (0.8 + 0.75) / 2 = 0.775
//   III: 1 face,  0 found, recall 0,   no mean
// Gap over types with >= 2 faces: 1 - 1/2; with >= 1: 1 - 0; with >= 3: none.
std::vector<Photo> skin_photos() {
    Photo p1 = photo({{0, 0, 20, 20}, {50, 0, 20, 20}, {100, 0, 20, 20}, {150, 0, 20, 20}, {200, 0, 20, 20}}, {});
    p1.skin = {1, 1, 2, kNoSkinLabel, kNoSkinLabel};
    Photo p2 = photo({{0, 0, 20, 20}, {100, 0, 20, 20}}, {});
    p2.skin = {2, 3};
    Photo p3 = photo({{0, 0, 20, 20}}, {});
    return {p1, p2, p3};
}
std::vector<std::vector<Detection>> skin_detections() {
    return {{det({0, 0, 20, 20}, 0.9), det({50, 0, 20, 20}, 0.6), det({100, 0, 20, 20}, 0.8),
             det({150, 0, 20, 20}, 0.95)},
            {det({2, 2, 20, 20}, 0.99), det({0, 0, 20, 20}, 0.75)},
            {det({0, 0, 20, 20}, 0.9)}};
}

TEST(WiderFaceSkin, RecallPerTypeAndGapByHand) {
    const Fairness f = skin_recall(skin_photos(), skin_detections(), 0.7, 2);
    const SkinRow &t1 = f.rows[0], &t2 = f.rows[1], &t3 = f.rows[2];
    EXPECT_EQ(t1.type, "I");
    EXPECT_EQ(t1.faces, 2);
    EXPECT_EQ(t1.found, 1);
    EXPECT_NEAR(t1.recall, 0.5, kTol);
    ASSERT_TRUE(t1.mean_score.has_value());
    EXPECT_NEAR(*t1.mean_score, 0.9, kTol);

    EXPECT_EQ(t2.faces, 2);
    EXPECT_EQ(t2.found, 2);
    EXPECT_NEAR(t2.recall, 1.0, kTol);
    ASSERT_TRUE(t2.mean_score.has_value());
    EXPECT_NEAR(*t2.mean_score, 0.775, kTol);

    EXPECT_EQ(t3.faces, 1);
    EXPECT_EQ(t3.found, 0);
    EXPECT_EQ(t3.recall, 0.0);
    EXPECT_FALSE(t3.mean_score.has_value());
    for (std::size_t t = 3; t < 6; ++t) EXPECT_EQ(f.rows[t].faces, 0) << kSkinTypes[t];

    ASSERT_TRUE(f.gap.has_value());
    EXPECT_NEAR(*f.gap, 0.5, kTol);
}

TEST(WiderFaceSkin, GapOnlyOverTypesWithEnoughFaces) {
    const Fairness all = skin_recall(skin_photos(), skin_detections(), 0.7, 1);
    ASSERT_TRUE(all.gap.has_value());
    EXPECT_NEAR(*all.gap, 1.0, kTol);
    EXPECT_FALSE(skin_recall(skin_photos(), skin_detections(), 0.7, 3).gap.has_value());
}

TEST(WiderFaceSkin, OperatingThresholdIsInclusive) {
    // At 0.6 the detection on b counts: type I recall 1.
    const Fairness f = skin_recall(skin_photos(), skin_detections(), 0.6, 2);
    EXPECT_EQ(f.rows[0].found, 2);
}

// 200 photos, each with a type I face (always found) and a type II face
// (found in every second photo): recall 1.0 and 0.5, gap 0.5.
void two_types(std::vector<Photo>& photos, std::vector<std::vector<Detection>>& detections) {
    for (int i = 0; i < 200; ++i) {
        Photo p = photo({{0, 0, 20, 20}, {100, 0, 20, 20}}, {});
        p.skin = {1, 2};
        photos.push_back(p);
        detections.push_back({det({0, 0, 20, 20}, 0.9)});
        if (i % 2 == 0) detections.back().push_back(det({100, 0, 20, 20}, 0.9));
    }
}

TEST(WiderFaceSkin, SpreadOfTheGapFromResampledPhotos) {
    std::vector<Photo> photos;
    std::vector<std::vector<Detection>> detections;
    two_types(photos, detections);
    const Fairness f = skin_recall(photos, detections, 0.5, 50);
    ASSERT_TRUE(f.gap.has_value());
    EXPECT_NEAR(*f.gap, 0.5, kTol);
    ASSERT_TRUE(f.spread.has_value());
    // Type II's recall over 200 resampled faces: 0.5 +- 1.645 * sqrt(0.25 / 200) = +- 0.058.
    EXPECT_LT(f.spread->low, 0.5);
    EXPECT_GT(f.spread->low, 0.42);
    EXPECT_GT(f.spread->high, 0.5);
    EXPECT_LT(f.spread->high, 0.58);
    // A detector finding both types at the overall 0.75: gaps of a few
    // hundredths, far below 0.5.
    EXPECT_GT(f.spread->equal_median, 0.0);
    EXPECT_LT(f.spread->equal_median, 0.1);
    EXPECT_GE(f.spread->equal_p95, f.spread->equal_median);
    EXPECT_LT(f.spread->equal_p95, 0.15);
    // The same data give the same figures (a fixed seed).
    const Fairness again = skin_recall(photos, detections, 0.5, 50);
    EXPECT_EQ(again.spread->low, f.spread->low);
    EXPECT_EQ(again.spread->equal_median, f.spread->equal_median);
}

TEST(WiderFaceSkin, NoSpreadWithoutAGapOrResamples) {
    std::vector<Photo> photos;
    std::vector<std::vector<Detection>> detections;
    two_types(photos, detections);
    EXPECT_FALSE(skin_recall(photos, detections, 0.5, 50, 0).spread.has_value());
    EXPECT_FALSE(skin_recall(photos, detections, 0.5, 500).spread.has_value());  // no type has 500 faces
}

// ---------------------------------------------------------------- manifest

TEST(WiderFaceManifest, ReadsTheReadmeFormat) {
    const auto j = nlohmann::json::parse(R"([
      {"image": "images/a.jpg", "faces": [[1, 2, 3, 4], [5, 6, 7, 8], [9, 9, 9, 9]],
       "easy": [0], "medium": [0, 2], "hard": [0, 1, 2],
       "demographics": [null, {"gender": "x", "age": "y", "skin": "IV"}, {"skin": "Not Sure"}]},
      {"image": "images/b.jpg", "faces": [[0, 0, 10, 10]], "easy": [], "medium": [], "hard": [0],
       "demographics": null}
    ])");
    const std::vector<Photo> p = parse_manifest(j);
    ASSERT_EQ(p.size(), 2u);
    EXPECT_EQ(p[0].image, "images/a.jpg");
    ASSERT_EQ(p[0].faces.size(), 3u);
    EXPECT_EQ(p[0].faces[1].x, 5.0);
    EXPECT_EQ(p[0].faces[1].h, 8.0);
    EXPECT_EQ(p[0].counted[at(Setting::medium)], (std::vector<int>{0, 2}));
    EXPECT_EQ(p[0].skin, (std::vector<int>{kNoSkinLabel, 4, kNoSkinLabel}));
    EXPECT_TRUE(p[1].skin.empty());
    EXPECT_EQ(p[1].counted[at(Setting::hard)], (std::vector<int>{0}));
}

TEST(WiderFaceManifest, RejectsBadRecordsNamingThem) {
    const auto bad_index = nlohmann::json::parse(
        R"([{"image": "x.jpg", "faces": [[0, 0, 1, 1]], "easy": [1], "medium": [], "hard": [], "demographics": null}])");
    try {
        parse_manifest(bad_index);
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("x.jpg"), std::string::npos) << e.what();
    }
    const auto bad_skin = nlohmann::json::parse(
        R"([{"image": "y.jpg", "faces": [[0, 0, 1, 1]], "easy": [], "medium": [], "hard": [],
             "demographics": [{"skin": "VII"}]}])");
    EXPECT_THROW(parse_manifest(bad_skin), std::runtime_error);
    EXPECT_THROW(parse_manifest(nlohmann::json::parse(R"([{"image": "z.jpg"}])")), std::runtime_error);
}

}  // namespace
}  // namespace tools::eval
