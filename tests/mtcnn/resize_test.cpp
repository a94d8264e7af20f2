// The pyramid / crop resampling against values worked out by hand from
// OpenCV's INTER_AREA rules.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "mtcnn/resize.h"

namespace mtcnn {
namespace {

float tap_sum(const std::vector<ResizeTap>& taps) {
    float s = 0;
    for (const auto& t : taps) s += t.weight;
    return s;
}

TEST(AreaTaps, IntegerShrinkAverages) {
    const auto taps = area_taps(6, 3, true);
    ASSERT_EQ(taps.size(), 3u);
    for (int d = 0; d < 3; ++d) {
        ASSERT_EQ(taps[d].size(), 2u);
        EXPECT_EQ(taps[d][0].source, 2 * d);
        EXPECT_EQ(taps[d][1].source, 2 * d + 1);
        EXPECT_FLOAT_EQ(taps[d][0].weight, 0.5f);
    }
}

TEST(AreaTaps, FractionalShrinkSplitsBoundaryPixels) {
    // 5 -> 2: footprints [0, 2.5) and [2.5, 5): pixel 2 is shared half/half.
    const auto taps = area_taps(5, 2, true);
    ASSERT_EQ(taps[0].size(), 3u);
    EXPECT_EQ(taps[0][2].source, 2);
    EXPECT_FLOAT_EQ(taps[0][2].weight, 0.5f / 2.5f);
    ASSERT_EQ(taps[1].size(), 3u);
    EXPECT_EQ(taps[1][0].source, 2);
    EXPECT_FLOAT_EQ(taps[1][0].weight, 0.5f / 2.5f);
    for (const auto& t : taps) EXPECT_NEAR(tap_sum(t), 1.0f, 1e-6);
}

TEST(AreaTaps, EnlargingBlendsAtSourceBoundaries) {
    // 2 -> 4 (scale 0.5): output 0 lies inside source 0 (weight 1); output 1
    // ends exactly at source 0's edge (f = 2 - 1*2 = 0: weight 1 on source 0);
    // output 2 starts source 1; output 3 clamps to the last pixel.
    const auto taps = area_taps(2, 4, false);
    ASSERT_EQ(taps.size(), 4u);
    EXPECT_EQ(taps[0][0].source, 0);
    EXPECT_FLOAT_EQ(taps[0][0].weight, 1.0f);
    EXPECT_EQ(taps[2][0].source, 1);
    EXPECT_EQ(taps[3].size(), 1u);
    EXPECT_EQ(taps[3][0].source, 1);
    // 3 -> 4 (scale 0.75): output 1 covers [0.75, 1.5): sx = 0, f = 2 - 1/0.75
    // = 0.667, so 1/3 of source 0 and 2/3 of source 1.
    const auto t34 = area_taps(3, 4, false);
    ASSERT_EQ(t34[1].size(), 2u);
    EXPECT_NEAR(t34[1][0].weight, 1.0f / 3.0f, 1e-6);
    EXPECT_NEAR(t34[1][1].weight, 2.0f / 3.0f, 1e-6);
    for (const auto& t : t34) EXPECT_NEAR(tap_sum(t), 1.0f, 1e-6);
}

TEST(LinearTaps, HalfPixelCentresClampedAtTheEdges) {
    // 2 -> 4: outputs sample 0.5 * d + 0.25 - 0.5 = -0.25, 0.25, 0.75, 1.25,
    // clamped to [0, 1]: source 0 alone, 0.75/0.25, 0.25/0.75, source 1 alone.
    const auto taps = linear_taps(2, 4);
    ASSERT_EQ(taps.size(), 4u);
    ASSERT_EQ(taps[0].size(), 1u);
    EXPECT_EQ(taps[0][0].source, 0);
    ASSERT_EQ(taps[1].size(), 2u);
    EXPECT_FLOAT_EQ(taps[1][0].weight, 0.75f);
    EXPECT_FLOAT_EQ(taps[1][1].weight, 0.25f);
    EXPECT_FLOAT_EQ(taps[2][0].weight, 0.25f);
    ASSERT_EQ(taps[3].size(), 1u);
    EXPECT_EQ(taps[3][0].source, 1);
    for (const auto& t : linear_taps(15, 48)) EXPECT_NEAR(tap_sum(t), 1.0f, 1e-6);
    // The same size is the identity.
    const auto same = linear_taps(5, 5);
    for (int d = 0; d < 5; ++d) {
        ASSERT_EQ(same[d].size(), 1u);
        EXPECT_EQ(same[d][0].source, d);
    }
}

TEST(ResizeTaps, ShrinkingIsAreaWhateverTheEnlargeRule) {
    const auto area = area_taps(48, 24, true);
    const auto chosen = resize_taps(48, 24, true, Enlarge::bilinear);
    ASSERT_EQ(chosen.size(), area.size());
    for (std::size_t d = 0; d < area.size(); ++d) {
        ASSERT_EQ(chosen[d].size(), area[d].size());
        for (std::size_t k = 0; k < area[d].size(); ++k) EXPECT_EQ(chosen[d][k].source, area[d][k].source);
    }
    EXPECT_EQ(resize_taps(15, 48, false, Enlarge::bilinear)[1].size(), linear_taps(15, 48)[1].size());
}

TEST(ResizeBilinear, RampStaysARampWhenEnlarged) {
    // A linear ramp enlarged bilinearly stays linear away from the edges:
    // 0, 10, 20, 30 -> 8 samples at -0.25, 0.25, ..., 3.25.
    const float src[4] = {0, 10, 20, 30};
    float dst[8];
    resize(src, 4, 1, 1, dst, 8, 1, Enlarge::bilinear);
    EXPECT_FLOAT_EQ(dst[0], 0.0f);
    for (int d = 1; d < 7; ++d) EXPECT_NEAR(dst[d], 10.0f * (0.5f * d - 0.25f), 1e-4) << d;
    EXPECT_FLOAT_EQ(dst[7], 30.0f);
}

TEST(ResizeArea, EightBitRoundsLikeOpenCv) {
    // 2x1 -> 1x1 of one channel: mean of 10 and 13 = 11.5 -> 12 (round half
    // to even would give 12 too; 10 and 11 -> 10.5 -> 10 under lrint).
    const std::uint8_t src[2] = {10, 13};
    std::uint8_t dst[1];
    resize(src, 2, 1, 1, dst, 1, 1);
    EXPECT_EQ(dst[0], 12);
    const std::uint8_t src2[2] = {10, 11};
    resize(src2, 2, 1, 1, dst, 1, 1);
    EXPECT_EQ(dst[0], 10);
}

TEST(ResizeArea, KeepsChannelsApartAndConstantsConstant) {
    std::vector<float> src(7 * 5 * 3);
    for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<float>(i % 3 * 100);
    std::vector<float> dst(3 * 2 * 3);
    resize(src.data(), 7, 5, 3, dst.data(), 3, 2);
    for (std::size_t i = 0; i < dst.size(); ++i) EXPECT_NEAR(dst[i], static_cast<float>(i % 3 * 100), 1e-3);
    std::vector<float> up(11 * 9 * 3);
    resize(src.data(), 7, 5, 3, up.data(), 11, 9);
    for (std::size_t i = 0; i < up.size(); ++i) EXPECT_NEAR(up[i], static_cast<float>(i % 3 * 100), 1e-3);
}

// Three channels take the vectorised row pass (resize_row_rgb); one channel
// the plain loop. Each channel resized alone gives exactly the same values:
// the same sums in the same order.
TEST(ResizeArea, RgbRowsEqualEachChannelResizedAlone) {
    std::mt19937 rng(4);
    std::uniform_int_distribution<int> byte(0, 255);
    const int sw = 37, sh = 23;
    std::vector<std::uint8_t> rgb(sw * sh * 3);
    for (auto& v : rgb) v = static_cast<std::uint8_t>(byte(rng));
    for (auto [dw, dh] : {std::pair{11, 7}, std::pair{29, 20}, std::pair{60, 41}})
        for (Enlarge e : {Enlarge::area, Enlarge::bilinear}) {
            std::vector<std::uint8_t> out(dw * dh * 3);
            resize(rgb.data(), sw, sh, 3, out.data(), dw, dh, e);
            std::vector<float> rgb_f(rgb.begin(), rgb.end()), out_f(dw * dh * 3);
            resize(rgb_f.data(), sw, sh, 3, out_f.data(), dw, dh, e);
            for (int c = 0; c < 3; ++c) {
                std::vector<std::uint8_t> plane(sw * sh), plane_out(dw * dh);
                for (int i = 0; i < sw * sh; ++i) plane[i] = rgb[i * 3 + c];
                resize(plane.data(), sw, sh, 1, plane_out.data(), dw, dh, e);
                std::vector<float> plane_f(plane.begin(), plane.end()), plane_out_f(dw * dh);
                resize(plane_f.data(), sw, sh, 1, plane_out_f.data(), dw, dh, e);
                for (int i = 0; i < dw * dh; ++i) {
                    ASSERT_EQ(out[i * 3 + c], plane_out[i]) << dw << "x" << dh << " channel " << c << " pixel " << i;
                    ASSERT_EQ(out_f[i * 3 + c], plane_out_f[i]) << dw << "x" << dh << " channel " << c << " pixel " << i;
                }
            }
        }
}

// A band of rows (PNet's pyramid levels are made a band at a time) is the
// same bytes as those rows of the whole image, whatever the band's bounds,
// shrinking, enlarging or both; a band past the bottom is clipped.
TEST(ResizeRows, BandsEqualTheWholeImage) {
    std::mt19937 rng(5);
    std::uniform_int_distribution<int> byte(0, 255);
    const int sw = 41, sh = 53;
    std::vector<std::uint8_t> rgb(sw * sh * 3);
    for (auto& v : rgb) v = static_cast<std::uint8_t>(byte(rng));
    for (auto [dw, dh] : {std::pair{13, 17}, std::pair{30, 40}, std::pair{50, 70}, std::pair{20, 90}})
        for (Enlarge e : {Enlarge::area, Enlarge::bilinear}) {
            const std::size_t row = static_cast<std::size_t>(dw) * 3;
            std::vector<std::uint8_t> whole(row * dh);
            resize(rgb.data(), sw, sh, 3, whole.data(), dw, dh, e);
            const ResizePlan plan(sw, sh, dw, dh, e);
            for (int rows : {1, 7, 74})
                for (int first = 0; first < dh; first += 5) {
                    std::vector<std::uint8_t> band(row * rows, 0xAA);
                    resize_rows(plan, rgb.data(), 3, band.data(), first, rows);
                    const int inside = std::min(rows, dh - first);
                    ASSERT_TRUE(std::equal(band.begin(), band.begin() + row * inside, whole.begin() + row * first))
                        << dw << "x" << dh << " rows " << first << "+" << rows;
                    EXPECT_TRUE(std::all_of(band.begin() + row * inside, band.end(), [](auto v) { return v == 0xAA; }))
                        << "written past the image";
                }
        }
}

}  // namespace
}  // namespace mtcnn
