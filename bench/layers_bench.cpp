// Each MTCNN layer at the shapes the cascade runs, on the kernels this CPU
// gets (FACE_SERVICE_ISA=scalar|avx2|avx512 to pick others). Counters:
// FLOPS (2 per multiply-add, as a rate) and of_peak (the share of one core's
// measured fp32 peak, bench/peak.cpp). Inputs of several images are rotated
// so that a layer does not run on a cache-hot copy of its own output.
//
//   build/release/bench/bench_layers --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <random>

#include "bench/peak.h"
#include "engine/cpu.h"
#include "engine/layers.h"

namespace {

using namespace engine;

const Kernels& kernels() {
    static const Kernels& k = kernels_for(configured_isa());
    return k;
}

constexpr int kRotation = 4;  // input copies cycled through

std::vector<Tensor> random_inputs(Shape shape) {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> dist(-1, 1);
    std::vector<Tensor> inputs;
    for (int i = 0; i < kRotation; ++i) {
        Tensor t(shape);
        for (std::size_t j = 0; j < t.size(); ++j) t.data()[j] = dist(rng);
        inputs.push_back(std::move(t));
    }
    return inputs;
}

void report(benchmark::State& state, double flops_per_run) {
    const double flops = flops_per_run * static_cast<double>(state.iterations());
    state.counters["FLOPS"] = benchmark::Counter(flops, benchmark::Counter::kIsRate);
    if (const double peak = bench::measured_peak_gflops(); peak > 0)
        state.counters["of_peak"] = benchmark::Counter(flops / (peak * 1e9), benchmark::Counter::kIsRate);
    state.SetLabel(isa_name(kernels().isa));
}

// Args: batch, height, width, in_c, out_c, kernel.
void BM_conv_prelu(benchmark::State& state) {
    const int n = state.range(0), h = state.range(1), w = state.range(2), in_c = state.range(3),
              out_c = state.range(4), k = state.range(5);
    const auto inputs = random_inputs({n, h, w, in_c});
    std::vector<float> weights(static_cast<std::size_t>(out_c) * k * k * in_c, 0.01f), bias(out_c, 0.1f),
        alpha(out_c, 0.25f);
    const PackedWeights pw = pack_weights(weights.data(), out_c, k * k * in_c, bias.data(), alpha.data());
    const ConvParams p{k, k};
    Tensor out;
    int i = 0;
    for (auto _ : state) {
        conv2d(kernels(), inputs[i++ % kRotation], p, pw, out);
        benchmark::DoNotOptimize(out.data());
    }
    report(state, 2.0 * out.size() * k * k * in_c);
}

// Args: batch, in_features, out_features.
void BM_fully_connected(benchmark::State& state) {
    const int n = state.range(0), in = state.range(1), out_c = state.range(2);
    const auto inputs = random_inputs({n, 1, 1, in});
    std::vector<float> weights(static_cast<std::size_t>(out_c) * in, 0.01f), bias(out_c, 0.1f);
    const PackedWeights pw = pack_weights(weights.data(), out_c, in, bias.data(), nullptr);
    Tensor out;
    int i = 0;
    for (auto _ : state) {
        fully_connected(kernels(), inputs[i++ % kRotation], pw, out);
        benchmark::DoNotOptimize(out.data());
    }
    report(state, 2.0 * n * in * out_c);
}

// Args: batch, height, width, channels, kernel.
void BM_max_pool(benchmark::State& state) {
    const int n = state.range(0), h = state.range(1), w = state.range(2), c = state.range(3), k = state.range(4);
    const auto inputs = random_inputs({n, h, w, c});
    Tensor out;
    int i = 0;
    for (auto _ : state) {
        max_pool(kernels(), inputs[i++ % kRotation], {k, 2, PoolRounding::ceil}, out);
        benchmark::DoNotOptimize(out.data());
    }
    state.counters["pixels"] = benchmark::Counter(static_cast<double>(n) * h * w * state.iterations(),
                                                  benchmark::Counter::kIsRate);
    state.SetLabel(isa_name(kernels().isa));
}

void BM_softmax(benchmark::State& state) {
    const int pixels = state.range(0);
    auto inputs = random_inputs({1, 1, pixels, 2});
    int i = 0;
    for (auto _ : state) {
        softmax(kernels(), inputs[i++ % kRotation]);
        benchmark::DoNotOptimize(inputs[0].data());
    }
    state.counters["pixels"] = benchmark::Counter(static_cast<double>(pixels) * state.iterations(),
                                                  benchmark::Counter::kIsRate);
    state.SetLabel(isa_name(kernels().isa));
}

}  // namespace

// PNet on the first pyramid level of a 1024x768 photo at min face 20
// (scale 0.6: 615x461 -> conv1 613x459 -> pool 307x230 -> conv2 305x228 ->
// conv3 303x226 -> heads).
BENCHMARK(BM_conv_prelu)->Name("pnet_conv1_3x3_3to10")->Args({1, 461, 615, 3, 10, 3})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_conv_prelu)->Name("pnet_conv2_3x3_10to16")->Args({1, 230, 307, 10, 16, 3})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_conv_prelu)->Name("pnet_conv3_3x3_16to32")->Args({1, 228, 305, 16, 32, 3})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_conv_prelu)->Name("pnet_conv4_1x1_32to2")->Args({1, 226, 303, 32, 2, 1})->Unit(benchmark::kMillisecond);
// RNet and ONet on a batch of 128 windows.
BENCHMARK(BM_conv_prelu)->Name("rnet_conv1_3x3_3to28")->Args({128, 24, 24, 3, 28, 3})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_conv_prelu)->Name("rnet_conv2_3x3_28to48")->Args({128, 11, 11, 28, 48, 3})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_conv_prelu)->Name("rnet_conv3_2x2_48to64")->Args({128, 4, 4, 48, 64, 2})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_fully_connected)->Name("rnet_fc4_576to128")->Args({128, 576, 128})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_conv_prelu)->Name("onet_conv1_3x3_3to32")->Args({128, 48, 48, 3, 32, 3})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_conv_prelu)->Name("onet_conv2_3x3_32to64")->Args({128, 23, 23, 32, 64, 3})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_conv_prelu)->Name("onet_conv3_3x3_64to64")->Args({128, 10, 10, 64, 64, 3})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_conv_prelu)->Name("onet_conv4_2x2_64to128")->Args({128, 4, 4, 64, 128, 2})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_fully_connected)->Name("onet_fc5_1152to256")->Args({128, 1152, 256})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_max_pool)->Name("pnet_pool1_2x2")->Args({1, 459, 613, 10, 2})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_max_pool)->Name("onet_pool1_3x3")->Args({128, 46, 46, 32, 3})->Unit(benchmark::kMillisecond);
// The cascade's own batches are of 16 windows (mtcnn/detector.cpp), whose
// activations stay in the caches; 128 windows of ONet pool1 (35 MB) do not.
BENCHMARK(BM_max_pool)->Name("rnet_pool1_3x3")->Args({16, 22, 22, 28, 3})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_max_pool)->Name("onet_pool1_3x3")->Args({16, 46, 46, 32, 3})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_max_pool)->Name("onet_pool2_3x3")->Args({16, 21, 21, 64, 3})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_softmax)->Name("pnet_softmax")->Arg(226 * 303)->Unit(benchmark::kMicrosecond);

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    std::printf("kernels: %s, measured single-core fp32 peak: %.1f GFLOP/s\n", isa_name(kernels().isa),
                bench::measured_peak_gflops());
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
}
