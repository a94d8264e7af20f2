// Every optimised kernel against the reference layers, over many shapes
// (odd channel counts, kernel sizes, strides, paddings, batch sizes), on every
// ISA this CPU has. ISAs the CPU lacks are skipped visibly.
//
// Tolerance: |opt - ref| <= 1e-4 + 1e-4 * |ref|. The reference accumulates in
// double; the kernels in float with FMA in a different order, so for the
// longest dot products here (k = 1152) the float rounding error is about
// sqrt(k) * 2^-24 * sum|x*w| ~ 1e-5 relative.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>

#include "engine/cpu.h"
#include "engine/layers.h"

namespace engine {
namespace {

void fill_random(Tensor& t, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> dist(lo, hi);
    for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = dist(rng);
}

std::vector<float> random_vector(std::size_t n, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(n);
    for (float& x : v) x = dist(rng);
    return v;
}

void expect_close(const Tensor& got, const Tensor& want, const std::string& what) {
    ASSERT_EQ(got.shape(), want.shape()) << what;
    for (std::size_t i = 0; i < want.size(); ++i) {
        const float tolerance = 1e-4f + 1e-4f * std::fabs(want.data()[i]);
        ASSERT_NEAR(got.data()[i], want.data()[i], tolerance)
            << what << " at flat index " << i << " of shape " << want.shape().str();
    }
}

bool cpu_has(Isa isa) {
    for (Isa s : supported_isas())
        if (s == isa) return true;
    return false;
}

struct ConvCase {
    int n, h, w, in_c, out_c, kh, kw, stride, pad;
    bool prelu;
};

std::string describe(const ConvCase& c) {
    std::ostringstream s;
    s << "n" << c.n << "_" << c.h << "x" << c.w << "_c" << c.in_c << "_o" << c.out_c << "_k" << c.kh << "x" << c.kw
      << "_s" << c.stride << "_p" << c.pad << (c.prelu ? "_prelu" : "");
    return s.str();
}

// MTCNN's own shapes first, then odd ones around the 16-channel blocks and
// the tile widths (6, 8, 12 pixels).
const ConvCase kConvCases[] = {
    {1, 30, 25, 3, 10, 3, 3, 1, 0, true},    // PNet conv1
    {1, 14, 11, 10, 16, 3, 3, 1, 0, true},   // PNet conv2
    {1, 12, 9, 16, 32, 3, 3, 1, 0, true},    // PNet conv3
    {1, 10, 7, 32, 2, 1, 1, 1, 0, false},    // PNet conv4-1
    {1, 10, 7, 32, 4, 1, 1, 1, 0, false},    // PNet conv4-2
    {3, 24, 24, 3, 28, 3, 3, 1, 0, true},    // RNet conv1
    {2, 11, 11, 28, 48, 3, 3, 1, 0, true},   // RNet conv2
    {2, 4, 4, 48, 64, 2, 2, 1, 0, true},     // RNet conv3
    {2, 48, 48, 3, 32, 3, 3, 1, 0, true},    // ONet conv1
    {2, 23, 23, 32, 64, 3, 3, 1, 0, true},   // ONet conv2
    {2, 10, 10, 64, 64, 3, 3, 1, 0, true},   // ONet conv3
    {2, 4, 4, 64, 128, 2, 2, 1, 0, true},    // ONet conv4
    {1, 7, 13, 13, 1, 3, 3, 1, 0, false},
    {1, 9, 17, 5, 15, 3, 3, 1, 0, true},
    {1, 9, 17, 5, 17, 3, 3, 1, 0, true},
    {1, 9, 31, 4, 33, 2, 3, 1, 0, false},
    {2, 8, 29, 8, 47, 3, 2, 1, 0, true},
    {1, 11, 13, 6, 65, 1, 1, 1, 0, false},
    {1, 16, 16, 3, 20, 5, 5, 2, 0, true},    // strided
    {1, 15, 14, 7, 24, 3, 3, 2, 1, false},   // strided and padded
    {1, 6, 6, 3, 8, 3, 3, 1, 1, true},       // padded ("same")
    {1, 5, 5, 2, 8, 7, 7, 1, 3, false},      // kernel larger than the image
    {1, 3, 3, 1, 1, 3, 3, 1, 0, false},      // one output pixel
};

class ConvTest : public ::testing::TestWithParam<std::tuple<ConvCase, Isa>> {};

// A random n x h x w x in_c input and a kh x kw convolution to out_c
// channels: weights, bias and PReLU slopes (in [0, 0.5]).
struct RandomConv {
    Tensor in;
    int k;  // kh * kw * in_c, one output channel's weights
    std::vector<float> weights, bias, alpha;
};

RandomConv random_conv(int n, int h, int w, int in_c, int out_c, int kh, int kw, std::mt19937& rng) {
    RandomConv r{Tensor({n, h, w, in_c}), kh * kw * in_c, {}, {}, {}};
    fill_random(r.in, rng);
    r.weights = random_vector(static_cast<std::size_t>(out_c) * r.k, rng);
    r.bias = random_vector(out_c, rng);
    r.alpha = random_vector(out_c, rng, 0.0f, 0.5f);
    return r;
}

// Random input, weights, bias and PReLU slopes for `c`; the kernels of
// `isa` against the reference layers.
void expect_conv_matches_reference(const ConvCase& c, Isa isa, std::mt19937& rng) {
    const auto [in, k, weights, bias, alpha] = random_conv(c.n, c.h, c.w, c.in_c, c.out_c, c.kh, c.kw, rng);
    const ConvParams p{c.kh, c.kw, c.stride, c.stride, c.pad, c.pad};

    Tensor want;
    ref::conv2d(in, p, c.out_c, weights.data(), bias.data(), want);
    if (c.prelu) ref::prelu(want, alpha.data());

    const PackedWeights pw = pack_weights(weights.data(), c.out_c, k, bias.data(), c.prelu ? alpha.data() : nullptr);
    Tensor got;
    conv2d(kernels_for(isa), in, p, pw, got);
    expect_close(got, want, describe(c) + " on " + isa_name(isa));
}

TEST_P(ConvTest, MatchesReference) {
    const auto [c, isa] = GetParam();
    if (!cpu_has(isa)) GTEST_SKIP() << "this CPU has no " << isa_name(isa);
    std::mt19937 rng(1234);
    expect_conv_matches_reference(c, isa, rng);
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConvTest,
                         ::testing::Combine(::testing::ValuesIn(kConvCases),
                                            ::testing::Values(Isa::scalar, Isa::avx2, Isa::avx512)),
                         [](const auto& info) {
                             return describe(std::get<0>(info.param)) + "_" + isa_name(std::get<1>(info.param));
                         });

// Every row length up to two tiles for 1, 2, 3 and 4 blocks of output
// channels: each tail length takes its own tile (kernels_impl.h, conv_tail).
TEST(ConvTails, EveryRowLengthMatchesReference) {
    std::mt19937 rng(99);
    for (Isa isa : {Isa::avx2, Isa::avx512}) {
        if (!cpu_has(isa)) continue;
        for (int out_c : {10, 32, 48, 64})
            for (int out_w = 1; out_w <= 25; ++out_w)
                expect_conv_matches_reference({1, 4, out_w + 2, 5, out_c, 3, 3, 1, 0, true}, isa, rng);
    }
}

struct FcCase {
    int n, h, w, c, out_c;
    bool prelu;
};

class FullyConnectedTest : public ::testing::TestWithParam<std::tuple<FcCase, Isa>> {};

TEST_P(FullyConnectedTest, MatchesReference) {
    const auto [c, isa] = GetParam();
    if (!cpu_has(isa)) GTEST_SKIP() << "this CPU has no " << isa_name(isa);
    std::mt19937 rng(99);
    Tensor in({c.n, c.h, c.w, c.c});
    fill_random(in, rng);
    const int k = c.h * c.w * c.c;
    const auto weights = random_vector(static_cast<std::size_t>(c.out_c) * k, rng);
    const auto bias = random_vector(c.out_c, rng);
    const auto alpha = random_vector(c.out_c, rng, 0.0f, 0.5f);
    Tensor want;
    ref::fully_connected(in, c.out_c, weights.data(), bias.data(), want);
    if (c.prelu) ref::prelu(want, alpha.data());
    const PackedWeights pw = pack_weights(weights.data(), c.out_c, k, bias.data(), c.prelu ? alpha.data() : nullptr);
    Tensor got;
    fully_connected(kernels_for(isa), in, pw, got);
    expect_close(got, want, "fc n" + std::to_string(c.n) + " k" + std::to_string(k) + " o" + std::to_string(c.out_c));
}

const FcCase kFcCases[] = {
    {1, 3, 3, 64, 128, true},   // RNet conv4, one window
    {37, 3, 3, 64, 128, true},  // RNet conv4, a batch
    {37, 1, 1, 128, 2, false},  // RNet conv5-1
    {5, 1, 1, 128, 4, false},   // RNet conv5-2
    {13, 3, 3, 128, 256, true}, // ONet conv5
    {13, 1, 1, 256, 10, false}, // ONet conv6-3
    {1, 1, 1, 1, 1, false},
    {7, 1, 1, 33, 17, true},
};

INSTANTIATE_TEST_SUITE_P(Shapes, FullyConnectedTest,
                         ::testing::Combine(::testing::ValuesIn(kFcCases),
                                            ::testing::Values(Isa::scalar, Isa::avx2, Isa::avx512)));

struct PoolCase {
    int n, h, w, c, kernel, stride;
    PoolRounding rounding;
};

class MaxPoolTest : public ::testing::TestWithParam<std::tuple<PoolCase, Isa>> {};

TEST_P(MaxPoolTest, MatchesReference) {
    const auto [c, isa] = GetParam();
    if (!cpu_has(isa)) GTEST_SKIP() << "this CPU has no " << isa_name(isa);
    std::mt19937 rng(7);
    Tensor in({c.n, c.h, c.w, c.c});
    fill_random(in, rng);
    const PoolParams p{c.kernel, c.stride, c.rounding};
    Tensor want, got;
    ref::max_pool(in, p, want);
    max_pool(kernels_for(isa), in, p, got);
    expect_close(got, want, "pool");
}

const PoolCase kPoolCases[] = {
    {1, 27, 21, 10, 2, 2, PoolRounding::ceil},   // PNet pool1, odd sizes
    {1, 28, 20, 10, 2, 2, PoolRounding::ceil},
    {3, 22, 22, 28, 3, 2, PoolRounding::ceil},   // RNet pool1
    {3, 9, 9, 48, 3, 2, PoolRounding::floor},    // RNet pool2
    {2, 46, 46, 32, 3, 2, PoolRounding::ceil},   // ONet pool1
    {2, 21, 21, 64, 3, 2, PoolRounding::floor},  // ONet pool2
    {2, 8, 8, 64, 2, 2, PoolRounding::ceil},     // ONet pool3
    {1, 9, 9, 17, 3, 2, PoolRounding::ceil},
    {1, 1, 1, 3, 2, 2, PoolRounding::ceil},
};

INSTANTIATE_TEST_SUITE_P(Shapes, MaxPoolTest,
                         ::testing::Combine(::testing::ValuesIn(kPoolCases),
                                            ::testing::Values(Isa::scalar, Isa::avx2, Isa::avx512)));

// The fused convolution + pooling, item by item, gives exactly the values of
// the two layers one after the other over the whole batch (the same kernels
// on the same inputs), for MTCNN's fused pairs and a padded convolution
// (which takes the unfused path).
TEST(ConvMaxPool, EqualsConvThenPool) {
    struct Case {
        int n, h, w, in_c, out_c, k, pad, pool_k;
    };
    const Case cases[] = {
        {3, 24, 24, 3, 28, 3, 0, 3},   // RNet conv1 + pool1
        {2, 48, 48, 3, 32, 3, 0, 3},   // ONet conv1 + pool1
        {2, 10, 10, 64, 64, 3, 0, 2},  // ONet conv3 + pool3
        {1, 12, 12, 3, 10, 3, 0, 2},   // one item
        {2, 9, 9, 5, 7, 3, 1, 2},      // padded
    };
    std::mt19937 rng(11);
    for (Isa isa : supported_isas())
        for (const Case& c : cases) {
            const auto [in, k, weights, bias, alpha] = random_conv(c.n, c.h, c.w, c.in_c, c.out_c, c.k, c.k, rng);
            const PackedWeights pw = pack_weights(weights.data(), c.out_c, k, bias.data(), alpha.data());
            const ConvParams cp{c.k, c.k, 1, 1, c.pad, c.pad};
            const PoolParams pp{c.pool_k, 2, PoolRounding::ceil};
            Tensor conv_out, want, scratch, got;
            conv2d(kernels_for(isa), in, cp, pw, conv_out);
            max_pool(kernels_for(isa), conv_out, pp, want);
            conv2d_max_pool(kernels_for(isa), in, cp, pw, pp, scratch, got);
            ASSERT_EQ(got.shape(), want.shape()) << isa_name(isa);
            for (std::size_t i = 0; i < want.size(); ++i)
                ASSERT_EQ(got.data()[i], want.data()[i]) << isa_name(isa) << " " << in.shape().str() << " index " << i;
        }
}

class ElementwiseTest : public ::testing::TestWithParam<std::tuple<int, Isa>> {};

TEST_P(ElementwiseTest, PreluMatchesReference) {
    const auto [channels, isa] = GetParam();
    if (!cpu_has(isa)) GTEST_SKIP() << "this CPU has no " << isa_name(isa);
    std::mt19937 rng(5);
    Tensor want({2, 5, 7, channels});
    fill_random(want, rng);
    Tensor got = want;
    const auto alpha = random_vector(channels, rng, 0.0f, 0.5f);
    ref::prelu(want, alpha.data());
    prelu(kernels_for(isa), got, alpha.data());
    expect_close(got, want, "prelu c" + std::to_string(channels));
}

TEST_P(ElementwiseTest, SoftmaxMatchesReference) {
    const auto [channels, isa] = GetParam();
    if (!cpu_has(isa)) GTEST_SKIP() << "this CPU has no " << isa_name(isa);
    std::mt19937 rng(6);
    Tensor want({3, 5, 7, channels});
    fill_random(want, rng, -20.0f, 20.0f);
    Tensor got = want;
    ref::softmax(want);
    softmax(kernels_for(isa), got);
    expect_close(got, want, "softmax c" + std::to_string(channels));
}

INSTANTIATE_TEST_SUITE_P(Channels, ElementwiseTest,
                         ::testing::Combine(::testing::Values(1, 2, 4, 10, 16, 17, 33),
                                            ::testing::Values(Isa::scalar, Isa::avx2, Isa::avx512)));

TEST(LayerShapes, CeilModePoolingMatchesCaffe) {
    // Caffe: ceil((in - k) / s) + 1.
    EXPECT_EQ(pool_output_size(22, 3, 2, PoolRounding::ceil), 11);
    EXPECT_EQ(pool_output_size(9, 3, 2, PoolRounding::ceil), 4);  // TF SAME would give 5
    EXPECT_EQ(pool_output_size(10, 3, 2, PoolRounding::ceil), 5);
    EXPECT_EQ(pool_output_size(9, 3, 2, PoolRounding::floor), 4);
    EXPECT_EQ(pool_output_size(27, 2, 2, PoolRounding::ceil), 14);
    EXPECT_EQ(pool_output_size(46, 3, 2, PoolRounding::ceil), 23);
    EXPECT_EQ(conv_output_size(12, 3, 1, 0), 10);
    EXPECT_EQ(conv_output_size(15, 3, 2, 1), 8);
    EXPECT_EQ(conv_output_size(2, 3, 1, 0), 0);
}

TEST(LayerShapes, ReferenceSoftmaxAndPreluByHand) {
    Tensor t({1, 1, 1, 2});
    t.data()[0] = 0.0f;
    t.data()[1] = std::log(3.0f);
    ref::softmax(t);
    EXPECT_NEAR(t.data()[0], 0.25f, 1e-6);
    EXPECT_NEAR(t.data()[1], 0.75f, 1e-6);
    t.data()[0] = -2.0f;
    t.data()[1] = 3.0f;
    const float alpha[2] = {0.5f, 0.5f};
    ref::prelu(t, alpha);
    EXPECT_EQ(t.data()[0], -1.0f);
    EXPECT_EQ(t.data()[1], 3.0f);
}

TEST(Cpu, ReportsTheIsaItRuns) {
    const Isa isa = detect_isa();
    EXPECT_EQ(kernels_for(isa).isa, isa);
    EXPECT_EQ(supported_isas().front(), Isa::scalar);
    EXPECT_EQ(supported_isas().back(), isa);
    std::printf("detected ISA: %s\n", isa_name(isa));
}

}  // namespace
}  // namespace engine
