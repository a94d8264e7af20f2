// The detection modes (mtcnn/modes.h): their names, that faithful is the
// predecessor's cascade, and that a requested confidence becomes the final
// score's threshold exactly through the mode's calibration.
#include "mtcnn/modes.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace mtcnn {
namespace {

TEST(Modes, NamesInOrderAndTheDefaultExists) {
    std::vector<std::string_view> names;
    for (const Mode& m : modes()) names.push_back(m.name);
    EXPECT_EQ(names, (std::vector<std::string_view>{"faithful", "default", "accurate"}));
    EXPECT_EQ(mode_names(), "faithful, default, accurate");
    EXPECT_EQ(find_mode(kDefaultMode).name, "default");
    for (std::string_view n : names) EXPECT_EQ(find_mode(n).name, n);
}

TEST(Modes, UnknownNameIsATypedErrorListingTheModes) {
    for (const char* name : {"", "fast", "Default", "default ", "faithful\n"}) {
        try {
            find_mode(name);
            ADD_FAILURE() << "'" << name << "' was accepted";
        } catch (const UnknownMode& e) {
            EXPECT_EQ(std::string(e.what()), "unknown mode '" + std::string(name) + "'; the modes are " + mode_names());
        }
    }
}

TEST(Modes, FaithfulIsThePredecessorsCascadeWithRawScores) {
    const Mode& m = find_mode("faithful");
    const DetectOptions predecessor;
    EXPECT_EQ(m.options.min_face, 20);
    EXPECT_EQ(m.options.scale_factor, 0.709);
    EXPECT_EQ(m.options.thresholds[0], 0.6f);
    EXPECT_EQ(m.options.thresholds[1], 0.7f);
    EXPECT_EQ(m.options.nms, predecessor.nms);
    EXPECT_EQ(m.options.enlarge, Enlarge::area);
    EXPECT_EQ(m.options.stage_weights, (std::array<float, 3>{0, 0, 1}));
    EXPECT_FALSE(m.options.onet_mirror);
    EXPECT_EQ(m.options.onet_passes, 1);
    ASSERT_EQ(m.calibration.knots().size(), 2u);  // the identity
    for (float raw : {0.0f, 0.02f, 0.7f, 0.8657f, 0.999975f, 1.0f}) EXPECT_EQ(m.calibration.calibrate(raw), raw);
}

TEST(Modes, CalibratedModesHaveTheirOwnTables) {
    for (const char* name : {"default", "accurate"}) {
        const Mode& m = find_mode(name);
        EXPECT_GT(m.calibration.knots().size(), 2u) << name;
        EXPECT_LT(m.options.min_face, find_mode("faithful").options.min_face) << name;
    }
}

// For every score, "passes the cascade's threshold" (strictly above it) is
// exactly "its calibrated confidence reaches the request's".
void expect_threshold_exact(const Mode& mode, double confidence) {
    const float t = options_for(mode, confidence).thresholds[2];
    const float c = static_cast<float>(confidence);
    std::vector<float> scores{0.0f, 1.0f, std::nextafter(1.0f, 0.0f), 1e-6f};
    for (int i = 1; i < 1000; ++i) scores.push_back(static_cast<float>(i) / 1000);
    const float at = mode.calibration.raw_threshold(c);
    if (at <= 1.0f)
        for (float s : {at, std::nextafter(at, 0.0f), std::nextafter(at, 2.0f)}) scores.push_back(s);
    for (float s : scores)
        EXPECT_EQ(s > t, mode.calibration.calibrate(s) >= c)
            << mode.name << ": confidence " << confidence << ", score " << s << ", threshold " << t;
}

TEST(Modes, ConfidenceBecomesTheExactScoreThreshold) {
    for (const Mode& m : modes())
        for (double c : {0.0, 0.02, 0.3, 0.5, 0.7, 0.8657, 0.9, 0.95, 0.99, 1.0}) expect_threshold_exact(m, c);
}

TEST(Modes, ThresholdOfAHandMadeCalibration) {
    // Confidence 0.5 at raw 0.4, linear between the knots.
    const CalibrationKnot knots[] = {{0.0f, 0.1f}, {0.4f, 0.5f}, {1.0f, 0.9f}};
    const Mode m{"test", DetectOptions{}, Calibration(knots)};
    expect_threshold_exact(m, 0.5);
    EXPECT_EQ(std::nextafter(options_for(m, 0.5).thresholds[2], 2.0f), 0.4f);
    EXPECT_LT(options_for(m, 0.05).thresholds[2], 0.0f);  // below calibrate(0): every score passes
    EXPECT_GT(options_for(m, 0.95).thresholds[2], 1.0f);  // above calibrate(1): none does
}

TEST(Modes, FaithfulThresholdIsTheConfidence) {
    // The predecessor kept ONet scores above its threshold; the float just
    // below the confidence keeps the scores at or above it.
    EXPECT_EQ(std::nextafter(options_for(find_mode("faithful"), 0.7).thresholds[2], 2.0f), 0.7f);
}

Face face(int x, int width, int height, float confidence) {
    Face f;
    f.x = x;
    f.width = width;
    f.height = height;
    f.confidence = confidence;
    return f;
}

std::vector<int> xs(const std::vector<Face>& faces) {
    std::vector<int> out;
    for (const Face& f : faces) out.push_back(f.x);
    return out;
}

// keep_largest: the n largest boxes by area, ties by confidence then order,
// returned in their original (confidence) order.
TEST(KeepLargest, LargestByAreaInTheirOrder) {
    // Highest confidence first, as detect() returns them.
    const std::vector<Face> faces{face(0, 20, 20, 0.99f), face(1, 50, 40, 0.98f), face(2, 10, 10, 0.97f),
                                  face(3, 45, 45, 0.96f), face(4, 30, 30, 0.95f)};
    EXPECT_EQ(xs(keep_largest(faces, 1)), (std::vector<int>{3}));        // 2025 > 2000
    EXPECT_EQ(xs(keep_largest(faces, 2)), (std::vector<int>{1, 3}));     // in confidence order
    EXPECT_EQ(xs(keep_largest(faces, 3)), (std::vector<int>{1, 3, 4}));
    EXPECT_EQ(xs(keep_largest(faces, 5)), (std::vector<int>{0, 1, 2, 3, 4}));
    EXPECT_EQ(xs(keep_largest(faces, 9)), (std::vector<int>{0, 1, 2, 3, 4}));
    EXPECT_TRUE(keep_largest(faces, 0).empty());
    EXPECT_TRUE(keep_largest({}, 3).empty());
}

TEST(KeepLargest, EqualAreasGoByConfidenceThenOrder) {
    // 20x20 and 40x10 have the same area; 10x40 too.
    const std::vector<Face> faces{face(0, 20, 20, 0.90f), face(1, 40, 10, 0.95f), face(2, 10, 40, 0.95f),
                                  face(3, 5, 5, 0.99f)};
    EXPECT_EQ(xs(keep_largest(faces, 1)), (std::vector<int>{1}));  // higher confidence than 0, earlier than 2
    EXPECT_EQ(xs(keep_largest(faces, 2)), (std::vector<int>{1, 2}));
    EXPECT_EQ(xs(keep_largest(faces, 3)), (std::vector<int>{0, 1, 2}));
}

}  // namespace
}  // namespace mtcnn
