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

}  // namespace
}  // namespace mtcnn
