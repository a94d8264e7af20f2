// Anonymising faces (mtcnn/anonymize.h): each method changes the faces'
// padded regions and nothing else, the padding reaches as far as documented
// (and no further), regions are clipped to the photo, and bad options are
// refused before a pixel changes.
#include "mtcnn/anonymize.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace mtcnn {
namespace {

// Every pixel and channel random (fixed seed): any change shows.
Image noise(int width, int height, unsigned seed = 11) {
    Image image;
    image.width = width;
    image.height = height;
    image.pixels.resize(static_cast<std::size_t>(width) * height * 3);
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> byte(0, 255);
    for (auto& p : image.pixels) p = static_cast<std::uint8_t>(byte(rng));
    return image;
}

Face face(int x, int y, int w, int h) {
    Face f;
    f.x = x;
    f.y = y;
    f.width = w;
    f.height = h;
    return f;
}

bool same_pixel(const Image& a, const Image& b, int x, int y) {
    for (int c = 0; c < 3; ++c)
        if (a.at(x, y, c) != b.at(x, y, c)) return false;
    return true;
}

bool in_any(const std::vector<FaceRegion>& regions, int x, int y) {
    for (const FaceRegion& r : regions)
        if (r.contains(x, y)) return true;
    return false;
}

struct MethodCase {
    BlurMethod method;
    RegionShape shape;
};

class EachMethod : public testing::TestWithParam<MethodCase> {};

TEST_P(EachMethod, ChangesTheFacesRegionsAndNothingElse) {
    const Image original = noise(320, 240);
    // One face inside, one cut by the right and bottom edges, one outside.
    const std::vector<Face> faces{face(60, 70, 60, 80), face(280, 200, 60, 70), face(400, 10, 30, 30)};
    AnonymizeOptions options;
    options.method = GetParam().method;
    options.shape = GetParam().shape;
    const Image out = anonymized(original, faces, options);
    ASSERT_EQ(out.width, original.width);
    ASSERT_EQ(out.height, original.height);

    std::vector<FaceRegion> regions;
    for (const Face& f : faces) regions.push_back(face_region(f, options.padding, options.shape, 320, 240));
    EXPECT_TRUE(regions[2].empty());
    long changed_in_boxes = 0, box_pixels = 0;
    for (int y = 0; y < out.height; ++y)
        for (int x = 0; x < out.width; ++x) {
            const bool in_region = in_any(regions, x, y);
            if (!in_region) {
                ASSERT_TRUE(same_pixel(out, original, x, y)) << "outside every region: (" << x << ", " << y << ")";
            }
            for (const Face& f : faces)
                if (x >= f.x && x < f.x + f.width && y >= f.y && y < f.y + f.height) {
                    ASSERT_TRUE(in_region) << "a face-box pixel outside its region: (" << x << ", " << y << ")";
                    ++box_pixels;
                    changed_in_boxes += !same_pixel(out, original, x, y);
                }
        }
    // Random noise averaged over many pixels: nearly every pixel changes.
    EXPECT_GT(changed_in_boxes, box_pixels * 95 / 100) << changed_in_boxes << " of " << box_pixels;
    if (GetParam().method == BlurMethod::solid)
        for (int y = regions[0].y0; y < regions[0].y1; ++y)
            for (int x = regions[0].x0; x < regions[0].x1; ++x)
                if (regions[0].contains(x, y)) {
                    for (int c = 0; c < 3; ++c) ASSERT_EQ(out.at(x, y, c), 0);
                }
}

INSTANTIATE_TEST_SUITE_P(Anonymize, EachMethod,
                         testing::Values(MethodCase{BlurMethod::gaussian, RegionShape::ellipse},
                                         MethodCase{BlurMethod::pixelate, RegionShape::ellipse},
                                         MethodCase{BlurMethod::solid, RegionShape::ellipse},
                                         MethodCase{BlurMethod::gaussian, RegionShape::rectangle},
                                         MethodCase{BlurMethod::pixelate, RegionShape::rectangle},
                                         MethodCase{BlurMethod::solid, RegionShape::rectangle}),
                         [](const testing::TestParamInfo<MethodCase>& info) {
                             return std::string(blur_method_name(info.param.method)) +
                                    (info.param.shape == RegionShape::ellipse ? "_ellipse" : "_rectangle");
                         });

TEST(Anonymize, PaddingReachesHairEarsAndChinAndNoFurther) {
    // A 100 x 100 face at (200, 200): 25 px each side, 50 above, 25 below.
    const Face f = face(200, 200, 100, 100);
    const FaceRegion r = face_region(f, Padding{}, RegionShape::rectangle, 1000, 1000);
    EXPECT_EQ(r.x0, 175);
    EXPECT_EQ(r.x1, 325);
    EXPECT_EQ(r.y0, 150);
    EXPECT_EQ(r.y1, 325);
    const FaceRegion e = face_region(f, Padding{}, RegionShape::ellipse, 1000, 1000);
    EXPECT_DOUBLE_EQ(e.cx, 250);
    EXPECT_DOUBLE_EQ(e.cy, 237.5);
    EXPECT_DOUBLE_EQ(e.rx, 75);
    EXPECT_DOUBLE_EQ(e.ry, 87.5);
    // On the ellipse's axes: 40 px above the box (hair) in, 55 out; 20 px
    // beside it (ears) in, 30 out; 20 px below (chin) in, 30 out.
    EXPECT_TRUE(e.contains(250, 160));
    EXPECT_FALSE(e.contains(250, 145));
    EXPECT_TRUE(e.contains(180, 237));
    EXPECT_FALSE(e.contains(170, 237));
    EXPECT_TRUE(e.contains(250, 320));
    EXPECT_FALSE(e.contains(250, 330));
    // The box's corners are inside the ellipse; the padded rectangle's are not.
    for (auto [x, y] : {std::pair{200, 200}, {299, 200}, {200, 299}, {299, 299}}) EXPECT_TRUE(e.contains(x, y));
    for (auto [x, y] : {std::pair{176, 151}, {324, 151}, {176, 324}, {324, 324}}) EXPECT_FALSE(e.contains(x, y));

    // The same through anonymize: the hair 40 px up changes, 55 px up not.
    const Image original = noise(500, 500);
    const Image out = anonymized(original, std::vector<Face>{f});
    EXPECT_FALSE(same_pixel(out, original, 250, 160));
    EXPECT_TRUE(same_pixel(out, original, 250, 145));
}

TEST(Anonymize, ClippedAtTheEdgesKeepingTheEllipse) {
    // A face at the top-left corner: the region starts at 0 and its ellipse
    // is still that of the unclipped rectangle.
    const FaceRegion r = face_region(face(0, 0, 40, 40), Padding{}, RegionShape::ellipse, 100, 100);
    EXPECT_EQ(r.x0, 0);
    EXPECT_EQ(r.y0, 0);
    EXPECT_EQ(r.x1, 50);
    EXPECT_EQ(r.y1, 50);
    EXPECT_DOUBLE_EQ(r.cx, 20);
    EXPECT_DOUBLE_EQ(r.cy, 15);
    Image image = noise(100, 100);
    anonymize(image, std::vector<Face>{face(0, 0, 40, 40), face(90, 90, 40, 40)});  // no out-of-bounds write
    SUCCEED();
}

TEST(Anonymize, GaussianSmoothsAndPixelateMakesBlocks) {
    const Image original = noise(400, 400);
    const Face f = face(100, 100, 200, 200);
    AnonymizeOptions options;
    options.shape = RegionShape::rectangle;
    const Image blurred = anonymized(original, std::vector<Face>{f}, options);
    // Sigma 30 px over uniform noise (standard deviation 74): neighbours
    // nearly equal, and every value near the mean 127.5.
    double step = 0, spread = 0;
    int n = 0;
    for (int y = 150; y < 250; ++y)
        for (int x = 150; x < 250; ++x, ++n) {
            step += std::abs(blurred.at(x + 1, y, 0) - blurred.at(x, y, 0));
            spread += std::abs(blurred.at(x, y, 0) - 127.5);
        }
    EXPECT_LT(step / n, 1.0);
    EXPECT_LT(spread / n, 6.0);

    options.method = BlurMethod::pixelate;
    const Image blocks = anonymized(original, std::vector<Face>{f}, options);
    // Blocks of 0.15 x 200 = 30 px from the region's corner (50, 0):
    // constant inside, and the next block another mean.
    const FaceRegion r = face_region(f, options.padding, options.shape, 400, 400);
    ASSERT_EQ(r.x0, 50);
    ASSERT_EQ(r.y0, 0);
    for (int y = r.y0; y < r.y0 + 30; ++y)
        for (int x = r.x0; x < r.x0 + 30; ++x)
            for (int c = 0; c < 3; ++c) ASSERT_EQ(blocks.at(x, y, c), blocks.at(r.x0, r.y0, c)) << x << ", " << y;
    EXPECT_FALSE(same_pixel(blocks, original, r.x0, r.y0));
    bool next_differs = false;
    for (int c = 0; c < 3; ++c) next_differs |= blocks.at(r.x0 + 30, r.y0, c) != blocks.at(r.x0, r.y0, c);
    EXPECT_TRUE(next_differs);
}

TEST(Anonymize, StrongerBlurChangesMore) {
    const Image original = noise(300, 300);
    const std::vector<Face> faces{face(100, 100, 100, 100)};
    const auto roughness = [&](double strength) {
        AnonymizeOptions options;
        options.strength = strength;
        const Image out = anonymized(original, faces, options);
        double step = 0;
        for (int y = 120; y < 180; ++y)
            for (int x = 120; x < 180; ++x) step += std::abs(out.at(x + 1, y, 1) - out.at(x, y, 1));
        return step;
    };
    EXPECT_GT(roughness(0.02), 2 * roughness(0.1));
    EXPECT_GT(roughness(0.1), roughness(0.5));
}

TEST(Anonymize, InvalidOptionsChangeNothing) {
    const Image original = noise(50, 50);
    for (double s : {0.0, -0.1, 1.01, std::nan("")}) {
        Image image = original;
        AnonymizeOptions options;
        options.strength = s;
        EXPECT_THROW(anonymize(image, std::vector<Face>{face(10, 10, 20, 20)}, options), InvalidAnonymizeOptions) << s;
        EXPECT_EQ(image.pixels, original.pixels);
    }
    AnonymizeOptions options;
    options.padding.top = -0.5;
    Image image = original;
    EXPECT_THROW(anonymize(image, std::vector<Face>{}, options), InvalidAnonymizeOptions);
}

TEST(Anonymize, MethodNames) {
    for (BlurMethod m : {BlurMethod::gaussian, BlurMethod::pixelate, BlurMethod::solid})
        EXPECT_EQ(blur_method_from_name(blur_method_name(m)), m);
    try {
        blur_method_from_name("blur");
        FAIL() << "no error";
    } catch (const std::invalid_argument& e) {
        EXPECT_EQ(std::string(e.what()), "unknown method 'blur'; the methods are gaussian, pixelate, solid");
    }
}

TEST(Anonymize, PastTheDeadlineIsATimeout) {
    Image image = noise(50, 50);
    const Image original = image;
    const Deadline passed{Deadline::Clock::now() - std::chrono::seconds(1)};
    EXPECT_THROW(anonymize(image, std::vector<Face>{face(10, 10, 20, 20)}, {}, passed), DetectionTimeout);
    EXPECT_EQ(image.pixels, original.pixels);
}

}  // namespace
}  // namespace mtcnn
