// The cascade's box arithmetic on hand-made cases.
#include <gtest/gtest.h>

#include <cmath>

#include "mtcnn/boxes.h"

namespace mtcnn {
namespace {

Candidate box(float x1, float y1, float x2, float y2, float score) {
    Candidate c;
    c.x1 = x1, c.y1 = y1, c.x2 = x2, c.y2 = y2, c.score = score;
    return c;
}

TEST(Overlap, UnionAndMinimumWithThePlusOneConvention) {
    // 0..9 x 0..9 (100 px) and 5..14 x 0..9 (100 px): 5 x 10 = 50 in common.
    const Candidate a = box(0, 0, 9, 9, 1), b = box(5, 0, 14, 9, 1);
    EXPECT_FLOAT_EQ(overlap(a, b, Overlap::union_), 50.0f / 150.0f);
    EXPECT_FLOAT_EQ(overlap(a, b, Overlap::minimum), 0.5f);
    EXPECT_FLOAT_EQ(overlap(a, box(20, 20, 30, 30, 1), Overlap::union_), 0.0f);
}

TEST(Pyramid, ScalesOfThePredecessor) {
    // 561 px, min face 20: first scale 12/20 = 0.6, then x0.709 while the
    // short side stays >= 12 px: 561*0.6 = 336.6 ... 336.6*0.709^10 = 10.7.
    const auto scales = pyramid_scales(561, 561, 20, 0.709);
    ASSERT_EQ(scales.size(), 10u);
    EXPECT_DOUBLE_EQ(scales[0], 0.6);
    EXPECT_NEAR(scales[1], 0.6 * 0.709, 1e-12);
    EXPECT_NEAR(scales[9], 0.6 * std::pow(0.709, 9), 1e-12);
    EXPECT_GE(561 * scales.back(), 12.0);
    EXPECT_LT(561 * scales.back() * 0.709, 12.0);
}

TEST(Pyramid, ShortSideDecidesAndTinyImagesHaveNone) {
    EXPECT_EQ(pyramid_scales(1000, 20, 20, 0.709).size(), 1u);  // 20*0.6 = 12: one level
    EXPECT_TRUE(pyramid_scales(1000, 19, 20, 0.709).empty());   // 11.4 px: none
    EXPECT_TRUE(pyramid_scales(1, 1, 20, 0.709).empty());
    // A smaller minimum face means a larger first level (upscaled at 12).
    EXPECT_DOUBLE_EQ(pyramid_scales(100, 100, 12, 0.709).front(), 1.0);
}

TEST(CellBox, MapsThePnetGridBackToThePhoto) {
    // Cell (row 3, col 5) at scale 0.5: window from (2*5+1)/0.5 = 22 to
    // (2*5+12)/0.5 = 44 in x, (2*3+1)/0.5 = 14 to (2*3+12)/0.5 = 36 in y.
    const Candidate c = cell_box(3, 5, 0.5, 0.9f, {0.1f, 0.2f, 0.3f, 0.4f});
    EXPECT_EQ(c.x1, 22);
    EXPECT_EQ(c.y1, 14);
    EXPECT_EQ(c.x2, 44);
    EXPECT_EQ(c.y2, 36);
    EXPECT_EQ(c.score, 0.9f);
    EXPECT_EQ(c.reg[2], 0.3f);
    // Truncated toward zero: (2*0+1)/0.3 = 3.33 -> 3, 12/0.3 = 40.
    const Candidate d = cell_box(0, 0, 0.3, 0.7f, {});
    EXPECT_EQ(d.x1, 3);
    EXPECT_EQ(d.x2, 40);
}

TEST(Nms, UnionKeepsTheBestOfOverlappingBoxes) {
    // a and b: areas 11*11 = 121 (+1 convention), intersection 10*11 = 110,
    // IoU = 110 / 132 = 0.833.
    const std::vector<Candidate> boxes{box(0, 0, 10, 10, 0.8f), box(1, 0, 11, 10, 0.9f), box(50, 50, 60, 60, 0.7f)};
    EXPECT_EQ(nms(boxes, 0.5f, Overlap::union_), (std::vector<int>{1, 2}));
    // At a threshold above the IoU (0.833) both stay.
    EXPECT_EQ(nms(boxes, 0.9f, Overlap::union_), (std::vector<int>{1, 0, 2}));
}

TEST(Nms, MinimumSuppressesABoxInsideAnother) {
    // Inner box entirely inside: intersection / smaller area = 1 although
    // IoU = 121 / 441 = 0.27.
    const std::vector<Candidate> boxes{box(0, 0, 20, 20, 0.95f), box(5, 5, 15, 15, 0.99f)};
    EXPECT_EQ(nms(boxes, 0.7f, Overlap::union_), (std::vector<int>{1, 0}));
    EXPECT_EQ(nms(boxes, 0.7f, Overlap::minimum), (std::vector<int>{1}));
}

TEST(Nms, ThresholdIsStrictAndTiesKeepOrder) {
    // The predecessor drops only o > threshold. Boxes x 0..9 and 5..14, one
    // row high: areas 10 and 10 (+1 convention), intersection 5, IoU 5/15.
    const std::vector<Candidate> boxes{box(0, 0, 9, 0, 0.5f), box(5, 0, 14, 0, 0.5f)};
    EXPECT_EQ(nms(boxes, 1.0f / 3.0f, Overlap::union_), (std::vector<int>{0, 1}));
    EXPECT_EQ(nms(boxes, 0.3f, Overlap::union_), (std::vector<int>{0}));
    EXPECT_TRUE(nms({}, 0.5f, Overlap::union_).empty());
}

TEST(Regression, PnetUsesWidthWithoutPlusOne) {
    Candidate c = box(10, 20, 30, 60, 1.0f);
    c.reg = {0.1f, -0.1f, 0.5f, 0.25f};
    Candidate later = c;
    apply_regression(c, false);  // w = 20, h = 40
    EXPECT_FLOAT_EQ(c.x1, 12);
    EXPECT_FLOAT_EQ(c.y1, 16);
    EXPECT_FLOAT_EQ(c.x2, 40);
    EXPECT_FLOAT_EQ(c.y2, 70);
    apply_regression(later, true);  // w = 21, h = 41
    EXPECT_FLOAT_EQ(later.x1, 12.1f);
    EXPECT_FLOAT_EQ(later.y1, 15.9f);
    EXPECT_FLOAT_EQ(later.x2, 40.5f);
    EXPECT_FLOAT_EQ(later.y2, 70.25f);
}

TEST(Square, KeepsTheCentreAndTakesTheLongerSide) {
    Candidate c = box(10, 20, 30, 60, 1.0f);  // w 20, h 40, centre (20, 40)
    make_square(c);
    EXPECT_FLOAT_EQ(c.x1, 0);
    EXPECT_FLOAT_EQ(c.x2, 40);
    EXPECT_FLOAT_EQ(c.y1, 20);
    EXPECT_FLOAT_EQ(c.y2, 60);
    Candidate t = box(-3.7f, 2.9f, 5.5f, -0.2f, 1.0f);
    truncate_corners(t);
    EXPECT_EQ(t.x1, -3);
    EXPECT_EQ(t.y1, 2);
    EXPECT_EQ(t.x2, 5);
    EXPECT_EQ(t.y2, 0);
}

}  // namespace
}  // namespace mtcnn
