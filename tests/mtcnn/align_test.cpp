// Aligned crops (mtcnn/align.h): the least-squares similarity recovers a
// known transform exactly and is the least-squares one under noise, the
// crop samples where the transform says (bilinear, black outside the
// photo), and on a real photo the crop's eyes, nose and mouth are where the
// ArcFace template puts them, as the cascade finds them again on the crop.
#include "mtcnn/align.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <vector>

#include "engine/cpu.h"
#include "mtcnn/detector.h"
#include "tests/support/shared_data.h"

namespace mtcnn {
namespace {

Similarity known(double angle, double scale, double tx, double ty) {
    return {scale * std::cos(angle), scale * std::sin(angle), tx, ty};
}

std::vector<Point2> moved_by(const Similarity& s, std::span<const Point2> points) {
    std::vector<Point2> out;
    for (const Point2& p : points) out.push_back(s.apply(p));
    return out;
}

TEST(Similarity, RecoversAKnownTransformExactly) {
    for (const Similarity& t : {known(0.0, 1.0, 0, 0), known(0.3, 1.7, 5, -3), known(-2.5, 0.25, -140, 77.5),
                                known(3.1, 4.0, 1000, 2000)}) {
        const std::vector<Point2> moved = moved_by(t, kArcFaceTemplate);
        const Similarity got = estimate_similarity(kArcFaceTemplate, moved);
        EXPECT_NEAR(got.a, t.a, 1e-9);
        EXPECT_NEAR(got.b, t.b, 1e-9);
        EXPECT_NEAR(got.tx, t.tx, 1e-7);
        EXPECT_NEAR(got.ty, t.ty, 1e-7);
        // And back: the keypoints land on the template.
        const Similarity back = estimate_similarity(moved, kArcFaceTemplate);
        for (std::size_t i = 0; i < moved.size(); ++i) {
            const Point2 p = back.apply(moved[i]);
            EXPECT_NEAR(p.x, kArcFaceTemplate[i].x, 1e-9);
            EXPECT_NEAR(p.y, kArcFaceTemplate[i].y, 1e-9);
        }
    }
}

TEST(Similarity, InverseUndoesIt) {
    const Similarity t = known(0.7, 2.5, 12, -40);
    const Similarity inv = t.inverse();
    for (const Point2& p : kArcFaceTemplate) {
        const Point2 q = inv.apply(t.apply(p));
        EXPECT_NEAR(q.x, p.x, 1e-9);
        EXPECT_NEAR(q.y, p.y, 1e-9);
    }
}

TEST(Similarity, IsTheLeastSquaresFitUnderNoise) {
    // Noisy points: no small change of the four parameters lowers the sum
    // of squared residuals.
    std::mt19937 rng(5);
    std::normal_distribution<double> noise(0.0, 2.0);
    std::vector<Point2> from = moved_by(known(0.2, 3.0, 300, 100), kArcFaceTemplate);
    for (Point2& p : from) p = {p.x + noise(rng), p.y + noise(rng)};
    const Similarity s = estimate_similarity(from, kArcFaceTemplate);
    const auto cost = [&](const Similarity& t) {
        double sum = 0;
        for (std::size_t i = 0; i < from.size(); ++i) {
            const Point2 p = t.apply(from[i]);
            sum += (p.x - kArcFaceTemplate[i].x) * (p.x - kArcFaceTemplate[i].x) +
                   (p.y - kArcFaceTemplate[i].y) * (p.y - kArcFaceTemplate[i].y);
        }
        return sum;
    };
    const double best = cost(s);
    for (int k = 0; k < 4; ++k)
        for (double d : {-1e-4, 1e-4}) {
            Similarity t = s;
            (k == 0 ? t.a : k == 1 ? t.b : k == 2 ? t.tx : t.ty) += d;
            EXPECT_GT(cost(t), best) << "parameter " << k << " moved by " << d;
        }
    EXPECT_GT(s.a, 0);  // a rotation of about -0.2 rad, never a reflection
}

TEST(Similarity, RefusesDegenerateInput) {
    const std::vector<Point2> same(5, Point2{3, 4});
    EXPECT_THROW(estimate_similarity(same, kArcFaceTemplate), std::invalid_argument);
    EXPECT_THROW(estimate_similarity(std::span(kArcFaceTemplate).first(1), std::span(kArcFaceTemplate).first(1)),
                 std::invalid_argument);
    EXPECT_THROW(estimate_similarity(std::span(kArcFaceTemplate).first(3), kArcFaceTemplate), std::invalid_argument);
}

// R = x and G = y of the pixel, B = 100: bilinear sampling of a linear
// function is exact, so a crop pixel holds its source point's coordinates.
Image coordinates(int width, int height) {
    Image image;
    image.width = width;
    image.height = height;
    image.pixels.resize(static_cast<std::size_t>(width) * height * 3);
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            std::uint8_t* p = &image.pixels[(static_cast<std::size_t>(y) * width + x) * 3];
            p[0] = static_cast<std::uint8_t>(x);
            p[1] = static_cast<std::uint8_t>(y);
            p[2] = 100;
        }
    return image;
}

Face face_from(const Similarity& template_to_photo) {
    Face f;
    for (std::size_t i = 0; i < 5; ++i) {
        const Point2 p = template_to_photo.apply(kArcFaceTemplate[i]);
        f.keypoints[i] = {static_cast<int>(std::lround(p.x)), static_cast<int>(std::lround(p.y))};
    }
    f.x = f.keypoints[0].x - 30;
    f.y = f.keypoints[0].y - 40;
    f.width = f.height = 100;
    return f;
}

TEST(Align, SamplesWhereTheTransformSays) {
    const Image image = coordinates(250, 250);
    const Face f = face_from(known(0.25, 1.4, 60, 40));
    const Similarity back = alignment_transform(f).inverse();
    const Image crop = align_face(image, f);
    ASSERT_EQ(crop.width, kAlignedSize);
    ASSERT_EQ(crop.height, kAlignedSize);
    int checked = 0;
    for (int v = 0; v < kAlignedSize; ++v)
        for (int u = 0; u < kAlignedSize; ++u) {
            const Point2 p = back.apply({double(u), double(v)});
            if (p.x < 0 || p.y < 0 || p.x > 248 || p.y > 248) continue;
            ASSERT_NEAR(crop.at(u, v, 0), p.x, 0.51) << u << ", " << v;
            ASSERT_NEAR(crop.at(u, v, 1), p.y, 0.51) << u << ", " << v;
            ASSERT_EQ(crop.at(u, v, 2), 100);
            ++checked;
        }
    EXPECT_EQ(checked, kAlignedSize * kAlignedSize);  // this face's crop lies inside the photo
}

TEST(Align, BlackBeyondThePhoto) {
    // A face at the top-left corner, half outside: the crop's top-left is
    // black, its centre is the photo's.
    Image image = coordinates(200, 200);
    for (std::size_t i = 2; i < image.pixels.size(); i += 3) image.pixels[i] = 200;
    const Face f = face_from(known(0.0, 1.0, -40, -40));
    const Image crop = align_face(image, f);
    for (int c = 0; c < 3; ++c) EXPECT_EQ(crop.at(0, 0, c), 0);
    EXPECT_EQ(crop.at(100, 100, 2), 200);
}

TEST(Align, CoincidentKeypointsScaleTheBox) {
    Face f;
    f.x = 10;
    f.y = 20;
    f.width = f.height = 8;
    for (Point& p : f.keypoints) p = {14, 24};
    const Similarity s = alignment_transform(f);
    const Point2 centre = s.apply({13.5, 23.5});
    EXPECT_NEAR(centre.x, 55.5, 1e-9);
    EXPECT_NEAR(centre.y, 55.5, 1e-9);
    EXPECT_NEAR(s.a, 14.0, 1e-9);
    EXPECT_EQ(align_face(coordinates(40, 40), f).width, kAlignedSize);
}

TEST(Align, RealPhotoEyesWhereTheTemplateSays) {
    const auto path = testing_support::shared_dir() / "golden" / "ivan.jpg";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "no " << path.string();
    const Detector detector(engine::kernels_for(engine::configured_isa()));
    const Image photo = load_image_file(path.string());
    const std::vector<Face> faces = detector.detect(photo);
    ASSERT_FALSE(faces.empty());
    const Face& face = faces[0];

    // The keypoints fit the template within a few pixels (a face is not
    // the template, and keypoints are whole pixels).
    const Similarity t = alignment_transform(face);
    for (std::size_t i = 0; i < 5; ++i) {
        const Point2 p = t.apply({double(face.keypoints[i].x), double(face.keypoints[i].y)});
        EXPECT_NEAR(p.x, kArcFaceTemplate[i].x, 5.0) << kKeypointNames[i];
        EXPECT_NEAR(p.y, kArcFaceTemplate[i].y, 5.0) << kKeypointNames[i];
    }

    // The cascade finds the face again on the crop, with its eyes, nose and
    // mouth where the template says.
    const Image crop = align_face(photo, face);
    DetectOptions options;
    options.min_face = 40;
    const std::vector<Face> again = detector.detect(crop, options);
    ASSERT_FALSE(again.empty()) << "no face on the aligned crop";
    for (std::size_t i = 0; i < 5; ++i) {
        EXPECT_NEAR(again[0].keypoints[i].x, kArcFaceTemplate[i].x, 6.0) << kKeypointNames[i];
        EXPECT_NEAR(again[0].keypoints[i].y, kArcFaceTemplate[i].y, 6.0) << kKeypointNames[i];
    }
    // The left eye is on the crop's left: no mirror image.
    EXPECT_LT(again[0].keypoints[0].x, again[0].keypoints[1].x);
}

}  // namespace
}  // namespace mtcnn
