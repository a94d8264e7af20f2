// The embedded MTCNN weights load and validate, and folding the transpose
// into them gives the same outputs as the predecessor's way: transposing the
// image before each network and the output maps back.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine/cpu.h"
#include "mtcnn/nets.h"

namespace mtcnn {
namespace {

engine::Tensor random_input(int n, int h, int w, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    engine::Tensor t({n, h, w, 3});
    for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = dist(rng);
    return t;
}

engine::Tensor transposed(const engine::Tensor& t) {
    engine::Tensor out({t.n(), t.w(), t.h(), t.c()});
    for (int n = 0; n < t.n(); ++n)
        for (int y = 0; y < t.h(); ++y)
            for (int x = 0; x < t.w(); ++x)
                for (int c = 0; c < t.c(); ++c) out.at(n, x, y)[c] = t.at(n, y, x)[c];
    return out;
}

void expect_close(const engine::Tensor& a, const engine::Tensor& b, const std::string& what) {
    ASSERT_EQ(a.shape(), b.shape()) << what;
    for (std::size_t i = 0; i < a.size(); ++i)
        ASSERT_NEAR(a.data()[i], b.data()[i], 1e-4 + 1e-4 * std::fabs(b.data()[i])) << what << " index " << i;
}

// Runs `def` both ways; outputs with a spatial map are transposed back.
void check_folding(const engine::NetworkDef& def, int h, int w) {
    const engine::WeightFile stored = embedded_weights(def.name());
    const engine::Network as_stored(def, stored, engine::scalar_kernels());
    const engine::Network folded(def, fold_transpose(stored, def), engine::scalar_kernels());
    const engine::Tensor input = random_input(2, h, w, 11);
    engine::Workspace ws_stored, ws_folded;
    as_stored.forward_reference(transposed(input), ws_stored);
    folded.forward_reference(input, ws_folded);
    for (const auto& [name, layer] : def.outputs()) {
        const engine::Tensor& a = folded.output(ws_folded, name);
        const engine::Tensor& b = as_stored.output(ws_stored, name);
        expect_close(a, (b.h() > 1 || b.w() > 1) ? transposed(b) : b, def.name() + " " + name);
    }
}

TEST(Nets, FoldingTheTransposeMatchesTransposingTheImage) {
    check_folding(pnet_def(), 31, 17);  // not square, so a wrong axis shows
    check_folding(rnet_def(), kRnetSize, kRnetSize);
    check_folding(onet_def(), kOnetSize, kOnetSize);
}

TEST(Nets, EmbeddedWeightsLoadOnEveryIsa) {
    for (engine::Isa isa : engine::supported_isas()) {
        const Nets nets = load_nets(engine::kernels_for(isa));
        EXPECT_EQ(nets.pnet.isa(), isa);
        engine::Workspace ws;
        nets.onet.forward(random_input(3, kOnetSize, kOnetSize, 5), ws);
        const engine::Tensor& prob = nets.onet.output(ws, "prob");
        EXPECT_EQ(prob.shape(), (engine::Shape{3, 1, 1, 2}));
        EXPECT_NEAR(prob.data()[0] + prob.data()[1], 1.0f, 1e-5);
        EXPECT_EQ(nets.onet.output(ws, "landmarks").c(), 10);
    }
}

TEST(Nets, OptimisedMatchesReferenceOnTheRealWeights) {
    for (engine::Isa isa : engine::supported_isas()) {
        const Nets nets = load_nets(engine::kernels_for(isa));
        const engine::Tensor input = random_input(1, 40, 33, 9);
        engine::Workspace got, want;
        nets.pnet.forward(input, got);
        nets.pnet.forward_reference(input, want);
        for (const char* name : {"prob", "reg"})
            expect_close(nets.pnet.output(got, name), nets.pnet.output(want, name),
                         std::string("pnet ") + name + " on " + engine::isa_name(isa));
    }
}

TEST(Nets, WeightFileForTheWrongNetworkIsRefusedByName) {
    engine::WeightFile rnet = embedded_weights("rnet");
    try {
        engine::validate_weights(onet_def(), rnet);
        FAIL() << "onet accepted rnet's weights";
    } catch (const engine::WeightFileError& e) {
        EXPECT_NE(std::string(e.what()).find("embedded rnet.bin"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace mtcnn
