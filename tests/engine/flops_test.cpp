// FLOP counting (engine::layer_flops): a small network counted by hand, and
// the shapes it counts at checked against the tensors forward() produces.
// The MTCNN nets against their published figures: tests/mtcnn/flops_test.cpp.
#include <gtest/gtest.h>

#include <random>
#include <stdexcept>

#include "engine/cpu.h"
#include "engine/network.h"
#include "tests/support/random_weights.h"

namespace engine {
namespace {

// A strided, padded convolution, ceil-mode pooling, a 1x1 convolution, a
// fully connected layer and a softmax.
NetworkDef counted_def() {
    NetworkDef def("counted", 3);
    int x = def.conv("conv1", NetworkDef::kInput, 3, 8, {3, 3, 2, 2, 1, 1}, "prelu1");
    x = def.max_pool("pool1", x, {2, 2, PoolRounding::ceil});
    x = def.conv("conv2", x, 8, 4, {1, 1});
    x = def.fully_connected("fc", x, 3 * 3 * 4, 5);
    def.output("prob", def.softmax("prob", x));
    return def;
}

TEST(LayerFlops, SmallNetworkCountedByHand) {
    // 2 x 9 x 11 x 3
    //   conv1 3x3/2 pad 1: (9 + 2 - 3) / 2 + 1 = 5, (11 + 2 - 3) / 2 + 1 = 6
    //         2*5*6 pixels x 8 channels x 2*3*3*3 = 480 x 54  = 25,920
    //   pool1 2x2/2 ceil: 5 -> 3, 6 -> 3                         0
    //   conv2 1x1: 2*3*3 pixels x 4 channels x 2*8 = 72 x 16  =  1,152
    //   fc    36 -> 5, 2 items: 2 x 2*36*5                    =    720
    //   prob                                                       0
    const std::vector<LayerFlops> flops = layer_flops(counted_def(), {2, 9, 11, 3});
    ASSERT_EQ(flops.size(), 5u);
    const std::vector<std::pair<std::string, std::int64_t>> want{
        {"conv1", 25'920}, {"pool1", 0}, {"conv2", 1'152}, {"fc", 720}, {"prob", 0}};
    for (std::size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(flops[i].name, want[i].first);
        EXPECT_EQ(flops[i].flops, want[i].second) << flops[i].name;
    }
    EXPECT_EQ(flops[0].output, (Shape{2, 5, 6, 8}));
    EXPECT_EQ(flops[1].output, (Shape{2, 3, 3, 8}));
    EXPECT_EQ(flops[3].output, (Shape{2, 1, 1, 5}));
    EXPECT_EQ(forward_flops(counted_def(), {2, 9, 11, 3}), 27'792);
    // Linear in the batch.
    EXPECT_EQ(forward_flops(counted_def(), {7, 9, 11, 3}), 7 * 27'792 / 2);
}

TEST(LayerFlops, ShapesAreThoseForwardComputes) {
    const NetworkDef def = counted_def();
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> dist(-0.5f, 0.5f);
    const Network net(def, testing_support::random_weights(def, 5), kernels_for(supported_isas().back()));
    // 9 and 10 rows: odd and even sizes meet the stride and the ceil pooling
    // differently; both pool to 3x3 for the fully connected layer.
    for (const Shape& in : {Shape{2, 9, 11, 3}, Shape{1, 10, 12, 3}}) {
        Tensor input(in);
        for (std::size_t i = 0; i < input.size(); ++i) input.data()[i] = dist(rng);
        Workspace ws;
        net.forward(input, ws);
        const std::vector<LayerFlops> flops = layer_flops(def, in);
        ASSERT_EQ(flops.size(), ws.tensors.size());
        for (std::size_t i = 0; i < flops.size(); ++i)
            EXPECT_EQ(flops[i].output, ws.tensors[i].shape()) << in.str() << " " << flops[i].name;
    }
}

TEST(LayerFlops, RefusesWhatForwardRefuses) {
    // Four channels where the network takes three.
    EXPECT_THROW(layer_flops(counted_def(), {1, 9, 11, 4}), std::invalid_argument);
    // 13 rows pool to 4, so the fully connected layer would get 4*3*4 features.
    EXPECT_THROW(layer_flops(counted_def(), {1, 13, 11, 3}), std::invalid_argument);
}

}  // namespace
}  // namespace engine
