// Known answers of the faithful cascade (../shared/golden/README.md): two
// photos from the ipazc/mtcnn repository with the boxes, confidences and
// keypoints the predecessor's cascade gives when fed RGB pixels. Tolerance
// as stated there: 2 px for boxes and keypoints, 0.01 for confidences.
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "engine/cpu.h"
#include "mtcnn/detector.h"
#include "mtcnn/modes.h"
#include "tests/support/shared_data.h"

namespace mtcnn {
namespace {

constexpr int kPixelTolerance = 2;
constexpr float kConfidenceTolerance = 0.01f;

struct Expected {
    std::array<int, 4> box;
    float confidence;
    std::array<Point, 5> keypoints;
};

const Detector& detector() {
    static const Detector d(engine::kernels_for(engine::configured_isa()));
    return d;
}

Image golden_image(const std::string& name) {
    const auto path = testing_support::shared_dir() / "golden" / name;
    if (!std::filesystem::exists(path)) throw std::runtime_error("absent");
    return load_image_file(path.string());
}

void expect_face(const Face& got, const Expected& want, const std::string& what) {
    const std::array<int, 4> box{got.x, got.y, got.width, got.height};
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(box[i], want.box[i], kPixelTolerance) << what << " box[" << i << "]";
    EXPECT_NEAR(got.confidence, want.confidence, kConfidenceTolerance) << what;
    for (int k = 0; k < 5; ++k) {
        EXPECT_NEAR(got.keypoints[k].x, want.keypoints[k].x, kPixelTolerance) << what << " " << kKeypointNames[k];
        EXPECT_NEAR(got.keypoints[k].y, want.keypoints[k].y, kPixelTolerance) << what << " " << kKeypointNames[k];
    }
}

#define SKIP_WITHOUT_GOLDEN()                                                        \
    if (!std::filesystem::exists(testing_support::shared_dir() / "golden" / "ivan.jpg")) \
    GTEST_SKIP() << "no " << (testing_support::shared_dir() / "golden").string()

TEST(Golden, IvanAtTheFaithfulSettings) {
    SKIP_WITHOUT_GOLDEN();
    const Image image = golden_image("ivan.jpg");
    ASSERT_EQ(image.width, 561);
    ASSERT_EQ(image.height, 561);
    const std::vector<Face> faces = detector().detect(image, DetectOptions{});  // 20, 0.709, 0.6/0.7/0.7
    ASSERT_EQ(faces.size(), 2u);
    expect_face(faces[0], {{277, 93, 49, 62}, 0.99997f, {{{291, 117}, {314, 115}, {304, 130}, {296, 143}, {313, 142}}}},
                "the face");
    expect_face(faces[1], {{307, 173, 37, 55}, 0.866f, {{{327, 194}, {339, 191}, {341, 199}, {334, 215}, {342, 213}}}},
                "the hand");
}

TEST(Golden, ConfidenceCutRemovesTheHand) {
    SKIP_WITHOUT_GOLDEN();
    DetectOptions options;
    options.thresholds[2] = 0.9f;
    const std::vector<Face> faces = detector().detect(golden_image("ivan.jpg"), options);
    ASSERT_EQ(faces.size(), 1u);
    EXPECT_GT(faces[0].confidence, 0.99f);
}

// The faithful mode is that same cascade: the same faces, the same raw
// confidences, the same cut.
TEST(Golden, FaithfulModeGivesTheKnownAnswers) {
    SKIP_WITHOUT_GOLDEN();
    const Image image = golden_image("ivan.jpg");
    for (double confidence : {0.7, 0.9}) {
        DetectOptions options;
        options.thresholds[2] = static_cast<float>(confidence);
        const std::vector<Face> want = detector().detect(image, options);
        const std::vector<Face> got = detect(detector(), image, find_mode("faithful"), confidence);
        ASSERT_EQ(got.size(), want.size()) << confidence;
        for (std::size_t i = 0; i < got.size(); ++i) {
            EXPECT_EQ(std::tie(got[i].x, got[i].y, got[i].width, got[i].height),
                      std::tie(want[i].x, want[i].y, want[i].width, want[i].height));
            EXPECT_EQ(got[i].confidence, want[i].confidence);
        }
    }
}

// Every mode finds Ivan's face first, with a confidence in [0, 1], and none
// finds a face in no-faces.jpg at the default confidence.
TEST(Golden, EveryModeFindsTheFace) {
    SKIP_WITHOUT_GOLDEN();
    const Image ivan = golden_image("ivan.jpg");
    const Image empty = golden_image("no-faces.jpg");
    for (const Mode& mode : modes()) {
        const std::vector<Face> faces = detect(detector(), ivan, mode, 0.5);
        ASSERT_FALSE(faces.empty()) << mode.name;
        EXPECT_NEAR(faces[0].x, 277, 6) << mode.name;
        EXPECT_NEAR(faces[0].y, 93, 8) << mode.name;
        EXPECT_NEAR(faces[0].width, 49, 8) << mode.name;
        EXPECT_NEAR(faces[0].height, 62, 10) << mode.name;
        EXPECT_GT(faces[0].confidence, 0.9f) << mode.name;
        for (const Face& f : faces) {
            EXPECT_GE(f.confidence, 0.5f) << mode.name;
            EXPECT_LE(f.confidence, 1.0f) << mode.name;
        }
        EXPECT_TRUE(detect(detector(), empty, mode, 0.95).empty()) << mode.name;
    }
}

TEST(Golden, NoFaces) {
    SKIP_WITHOUT_GOLDEN();
    const Image image = golden_image("no-faces.jpg");
    EXPECT_EQ(image.width, 199);
    EXPECT_EQ(image.height, 148);
    EXPECT_TRUE(detector().detect(image).empty());
}

// The nets were trained on RGB. Feeding BGR (the predecessor's bug) must
// give a different answer: the face's box moves off the RGB known answer by
// more than the tolerance or its confidence drops, so this test would catch
// a decoder or cascade that swapped the channels.
TEST(Golden, ChannelOrderIsRgb) {
    SKIP_WITHOUT_GOLDEN();
    Image bgr = golden_image("ivan.jpg");
    for (std::size_t i = 0; i < bgr.pixels.size(); i += 3) std::swap(bgr.pixels[i], bgr.pixels[i + 2]);
    const std::vector<Face> faces = detector().detect(bgr);
    ASSERT_FALSE(faces.empty());
    const Face& f = faces[0];
    const bool same_as_rgb = std::abs(f.y - 93) <= kPixelTolerance && std::abs(f.height - 62) <= kPixelTolerance &&
                             std::fabs(f.confidence - 0.99997f) < 1e-4f;
    EXPECT_FALSE(same_as_rgb) << "BGR input reproduced the RGB answer: is the channel order pinned?";
}

}  // namespace
}  // namespace mtcnn
