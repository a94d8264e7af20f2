// The whole cascade on a real 1024x768 photo (WIDER FACE dev sample, read
// from ../shared; skipped when absent) at the service's default confidence
// (0.95): every detection mode (mtcnn/modes.h) with the best kernels the CPU
// has, on one thread and on every core, and the faithful mode with every
// kernel table. Wall time; the counters split it per stage (milliseconds,
// resampling and NMS included) and count the work (PNet pixels, RNet and
// ONet windows).
//
//   build/release/bench/bench_cascade
#include <benchmark/benchmark.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "bench/detect_loop.h"
#include "engine/cpu.h"
#include "mtcnn/detector.h"
#include "mtcnn/modes.h"

namespace {

// 1024x768, 21 faces in the "easy" setting.
const char* kPhoto = "eval/widerface-dev/images/0--Parade/0_Parade_Parade_0_470.jpg";
constexpr double kConfidence = 0.95;  // the service's default

void BM_cascade(benchmark::State& state, const mtcnn::Mode* mode, engine::Isa isa, int threads) {
    const std::filesystem::path path = std::filesystem::path(FACE_SHARED_DIR) / kPhoto;
    if (!std::filesystem::exists(path)) {
        state.SkipWithError(("no " + path.string()).c_str());
        return;
    }
    const mtcnn::Image image = mtcnn::load_image_file(path.string());
    const mtcnn::Detector detector(engine::kernels_for(isa), {}, threads);
    bench::time_detect(state, detector, image, *mode, kConfidence);
    state.SetLabel(std::to_string(image.width) + "x" + std::to_string(image.height) + " " + std::string(mode->name) +
                   " " + engine::isa_name(isa) + " " + std::to_string(threads) + " thread" + (threads > 1 ? "s" : ""));
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    const auto isas = engine::supported_isas();
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    auto add = [](const mtcnn::Mode& mode, engine::Isa isa, int threads) {
        const std::string name = "cascade_1024x768/" + std::string(mode.name) + "/" + engine::isa_name(isa) +
                                 "/threads:" + std::to_string(threads);
        benchmark::RegisterBenchmark(name.c_str(), BM_cascade, &mode, isa, threads)
            ->Unit(benchmark::kMillisecond)
            ->MinTime(2.0)
            ->UseRealTime();
    };
    for (const mtcnn::Mode& mode : mtcnn::modes()) {
        add(mode, isas.back(), 1);
        if (cores > 1) add(mode, isas.back(), cores);
    }
    for (std::size_t i = 0; i + 1 < isas.size(); ++i) add(mtcnn::find_mode("faithful"), isas[i], 1);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
}
