// The network wiring: a small net with every layer kind, run through the
// optimised kernels and through the reference layers; and the validation of
// weights against the definition.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine/cpu.h"
#include "engine/network.h"
#include "tests/support/random_weights.h"

namespace engine {
namespace {

NetworkDef tiny_def() {
    NetworkDef def("tiny", 3);
    int x = def.conv("conv1", NetworkDef::kInput, 3, 10, {3, 3}, "prelu1");
    x = def.max_pool("pool1", x, {3, 2, PoolRounding::ceil});
    x = def.conv("conv2", x, 10, 16, {2, 2}, "prelu2");
    const int fc = def.fully_connected("fc1", x, 3 * 3 * 16, 32, "prelu3");
    def.output("prob", def.softmax("prob", def.fully_connected("head1", fc, 32, 2)));
    def.output("box", def.fully_connected("head2", fc, 32, 4));
    return def;
}

using testing_support::random_weights;

TEST(Network, OptimisedMatchesReferenceOnEveryIsa) {
    const NetworkDef def = tiny_def();
    const WeightFile weights = random_weights(def, 42);
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    Tensor input({4, 10, 10, 3});  // 10 -> conv 8 -> pool(3,2,ceil) 4 -> conv 3 -> fc 3*3*16
    for (std::size_t i = 0; i < input.size(); ++i) input.data()[i] = dist(rng);

    for (Isa isa : supported_isas()) {
        const Network net(def, weights, kernels_for(isa));
        Workspace got, want;
        net.forward(input, got);
        net.forward_reference(input, want);
        for (const char* name : {"prob", "box"}) {
            const Tensor& a = net.output(got, name);
            const Tensor& b = net.output(want, name);
            ASSERT_EQ(a.shape(), b.shape());
            for (std::size_t i = 0; i < a.size(); ++i)
                ASSERT_NEAR(a.data()[i], b.data()[i], 1e-4 + 1e-4 * std::fabs(b.data()[i]))
                    << name << " index " << i << " on " << isa_name(isa);
        }
        const Tensor& prob = net.output(got, "prob");
        EXPECT_EQ(prob.shape(), (Shape{4, 1, 1, 2}));
        EXPECT_NEAR(prob.data()[0] + prob.data()[1], 1.0f, 1e-6);
    }
}

TEST(Network, WorkspaceIsReusedAcrossSizes) {
    const NetworkDef def = tiny_def();
    const Network net(def, random_weights(def, 1), kernels_for(detect_isa()));
    Workspace ws;
    Tensor input({2, 10, 10, 3});
    std::fill(input.data(), input.data() + input.size(), 0.25f);
    net.forward(input, ws);
    const float first = net.output(ws, "box").data()[0];
    input.reshape({7, 10, 10, 3});
    std::fill(input.data(), input.data() + input.size(), 0.25f);
    net.forward(input, ws);
    EXPECT_EQ(net.output(ws, "box").n(), 7);
    EXPECT_FLOAT_EQ(net.output(ws, "box").data()[4 * 6], first);  // item 6 equals item 0
}

TEST(Network, RejectsWrongShapeNamingFileAndTensor) {
    const NetworkDef def = tiny_def();
    WeightFile weights = random_weights(def, 2);
    for (WeightTensor& t : weights.tensors)
        if (t.name == "conv2/weights") t.shape = {16, 2, 2, 11};
    try {
        Network net(def, weights, scalar_kernels());
        FAIL() << "accepted a wrong shape";
    } catch (const WeightFileError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("tiny.bin"), std::string::npos) << msg;
        EXPECT_NE(msg.find("conv2/weights"), std::string::npos) << msg;
        EXPECT_NE(msg.find("[16,2,2,10]"), std::string::npos) << msg;
    }
}

TEST(Network, RejectsMissingExtraTensorsAndWrongNetwork) {
    const NetworkDef def = tiny_def();
    WeightFile missing = random_weights(def, 2);
    missing.tensors.pop_back();
    EXPECT_THROW(Network(def, missing, scalar_kernels()), WeightFileError);

    WeightFile extra = random_weights(def, 2);
    extra.tensors.push_back({"conv9/weights", {1}, {0.0f}});
    EXPECT_THROW(Network(def, extra, scalar_kernels()), WeightFileError);

    WeightFile other = random_weights(def, 2);
    other.network = "onet";
    EXPECT_THROW(Network(def, other, scalar_kernels()), WeightFileError);
}

TEST(Network, RejectsWrongInputChannels) {
    const NetworkDef def = tiny_def();
    const Network net(def, random_weights(def, 1), scalar_kernels());
    Workspace ws;
    EXPECT_THROW(net.forward(Tensor({1, 10, 10, 4}), ws), std::invalid_argument);
}

}  // namespace
}  // namespace engine
