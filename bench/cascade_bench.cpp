// The whole cascade on a real 1024x768 photo (WIDER FACE dev sample, read
// from ../shared; skipped when absent), default settings (min face 20,
// factor 0.709, thresholds 0.6 / 0.7 / 0.7), one thread.
//
//   build/release/bench/bench_cascade
#include <benchmark/benchmark.h>

#include <filesystem>

#include "engine/cpu.h"
#include "mtcnn/detector.h"

namespace {

// 1024x768, 21 faces in the "easy" setting.
const char* kPhoto = "eval/widerface-dev/images/0--Parade/0_Parade_Parade_0_470.jpg";

void BM_cascade(benchmark::State& state, engine::Isa isa) {
    const std::filesystem::path path = std::filesystem::path(FACE_SHARED_DIR) / kPhoto;
    if (!std::filesystem::exists(path)) {
        state.SkipWithError(("no " + path.string()).c_str());
        return;
    }
    const mtcnn::Image image = mtcnn::load_image_file(path.string());
    const mtcnn::Detector detector(engine::kernels_for(isa));
    std::size_t faces = 0;
    for (auto _ : state) {
        faces = detector.detect(image).size();
        benchmark::DoNotOptimize(faces);
    }
    state.counters["faces"] = static_cast<double>(faces);
    state.counters["photos_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
    state.SetLabel(std::to_string(image.width) + "x" + std::to_string(image.height) + " " + engine::isa_name(isa));
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    for (engine::Isa isa : engine::supported_isas())
        benchmark::RegisterBenchmark((std::string("cascade_1024x768/") + engine::isa_name(isa)).c_str(), BM_cascade, isa)
            ->Unit(benchmark::kMillisecond)
            ->MinTime(2.0);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
}
