// The whole cascade on a real 1024x768 photo (WIDER FACE dev sample, read
// from ../shared; skipped when absent), one thread, at the service's default
// confidence (0.95): every detection mode (mtcnn/modes.h) with the best
// kernels the CPU has, and the faithful mode with every kernel table.
//
//   build/release/bench/bench_cascade
#include <benchmark/benchmark.h>

#include <filesystem>

#include "engine/cpu.h"
#include "mtcnn/detector.h"
#include "mtcnn/modes.h"

namespace {

// 1024x768, 21 faces in the "easy" setting.
const char* kPhoto = "eval/widerface-dev/images/0--Parade/0_Parade_Parade_0_470.jpg";
constexpr double kConfidence = 0.95;  // the service's default

void BM_cascade(benchmark::State& state, const mtcnn::Mode* mode, engine::Isa isa) {
    const std::filesystem::path path = std::filesystem::path(FACE_SHARED_DIR) / kPhoto;
    if (!std::filesystem::exists(path)) {
        state.SkipWithError(("no " + path.string()).c_str());
        return;
    }
    const mtcnn::Image image = mtcnn::load_image_file(path.string());
    const mtcnn::Detector detector(engine::kernels_for(isa));
    std::size_t faces = 0;
    for (auto _ : state) {
        faces = mtcnn::detect(detector, image, *mode, kConfidence).size();
        benchmark::DoNotOptimize(faces);
    }
    state.counters["faces"] = static_cast<double>(faces);
    state.counters["photos_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
    state.SetLabel(std::to_string(image.width) + "x" + std::to_string(image.height) + " " + std::string(mode->name) +
                   " " + engine::isa_name(isa));
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    const auto isas = engine::supported_isas();
    auto add = [](const mtcnn::Mode& mode, engine::Isa isa) {
        const std::string name = "cascade_1024x768/" + std::string(mode.name) + "/" + engine::isa_name(isa);
        benchmark::RegisterBenchmark(name.c_str(), BM_cascade, &mode, isa)->Unit(benchmark::kMillisecond)->MinTime(2.0);
    };
    for (const mtcnn::Mode& mode : mtcnn::modes()) add(mode, isas.back());
    for (std::size_t i = 0; i + 1 < isas.size(); ++i) add(mtcnn::find_mode("faithful"), isas[i]);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
}
