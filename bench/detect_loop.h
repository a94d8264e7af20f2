// The timed loop of the cascade benchmarks (bench_cascade, bench_peer):
// detect() on one photo, with counters for the faces, each stage's wall
// time per photo (milliseconds, resampling and NMS included), the work
// (PNet pixels, RNet and ONet windows) and photos per second.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>

#include "mtcnn/detector.h"
#include "mtcnn/modes.h"

namespace bench {

inline void time_detect(benchmark::State& state, const mtcnn::Detector& detector, const mtcnn::Image& image,
                        const mtcnn::Mode& mode, double confidence) {
    std::size_t faces = 0;
    mtcnn::DetectStats stats, sum;
    for (auto _ : state) {
        faces = mtcnn::detect(detector, image, mode, confidence, &stats).size();
        benchmark::DoNotOptimize(faces);
        sum.pnet_seconds += stats.pnet_seconds;
        sum.rnet_seconds += stats.rnet_seconds;
        sum.onet_seconds += stats.onet_seconds;
    }
    const double n = static_cast<double>(state.iterations());
    state.counters["faces"] = static_cast<double>(faces);
    state.counters["pnet_ms"] = 1e3 * sum.pnet_seconds / n;
    state.counters["rnet_ms"] = 1e3 * sum.rnet_seconds / n;
    state.counters["onet_ms"] = 1e3 * sum.onet_seconds / n;
    state.counters["pnet_Mpx"] = static_cast<double>(stats.pnet_pixels) / 1e6;
    state.counters["rnet_win"] = static_cast<double>(stats.rnet_windows);
    state.counters["onet_win"] = static_cast<double>(stats.onet_windows);
    state.counters["photos_per_s"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
}

}  // namespace bench
