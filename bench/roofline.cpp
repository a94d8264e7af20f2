// The roofline's compute bound on the cascade: how many FLOPs each net and
// a whole detect() call do (engine::layer_flops: 2 per multiply-add, bias,
// PReLU, pooling and softmax not counted), the least time those FLOPs take
// at the machine's measured fp32 peak (bench/peak.cpp; two cores: twice
// one), and how far the measured detect() is from it.
//
// The cascade's FLOPs are those of the calls as run: PNet over every
// pyramid level Detector builds (pyramid_scales, each level
// ceil(w * scale) x ceil(h * scale), counted as one forward pass per level),
// RNet and ONet once per window DetectStats counts (mirrors and ONet's
// second pass included). The photo is WIDER FACE dev
// 0--Parade/0_Parade_Parade_0_470.jpg (1024x768, read from ../shared;
// the cascade rows are skipped without it) and the same photo shrunk to
// 640x480 with mtcnn::resize (area resampling). Times are the median of
// `runs` detect() calls (default 5) after one warm-up, at the service's
// default confidence 0.95, on a Detector of 1 and of 2 threads.
//
//   build/release/bench/bench_roofline [runs]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/peak.h"
#include "engine/cpu.h"
#include "engine/network.h"
#include "mtcnn/detector.h"
#include "mtcnn/modes.h"
#include "mtcnn/nets.h"
#include "mtcnn/resize.h"

namespace {

const char* kPhoto = "eval/widerface-dev/images/0--Parade/0_Parade_Parade_0_470.jpg";
constexpr double kConfidence = 0.95;  // the service's default

// Each net's layers and total at one input shape.
void print_net(const engine::NetworkDef& def, const engine::Shape& input, double per, const char* per_what) {
    const std::vector<engine::LayerFlops> layers = engine::layer_flops(def, input);
    std::int64_t total = 0;
    for (const engine::LayerFlops& l : layers) total += l.flops;
    std::printf("%s at %s: %.4g FLOP %s\n", def.name().c_str(), input.str().c_str(), static_cast<double>(total) / per,
                per_what);
    for (const engine::LayerFlops& l : layers)
        if (l.flops > 0)
            std::printf("  %-8s -> %-16s %5.1f%%\n", l.name.c_str(), l.output.str().c_str(),
                        100.0 * static_cast<double>(l.flops) / static_cast<double>(total));
}

struct CascadeFlops {
    int levels = 0;
    std::int64_t pnet_pixels = 0;
    double pnet = 0, rnet = 0, onet = 0;  // FLOPs
    double total() const { return pnet + rnet + onet; }
};

// PNet over the pyramid exactly as Detector::stage_pnet builds it; RNet and
// ONet from the windows `stats` counted.
CascadeFlops cascade_flops(const mtcnn::Image& image, const mtcnn::DetectOptions& options,
                           const mtcnn::DetectStats& stats) {
    CascadeFlops f;
    for (double scale : mtcnn::pyramid_scales(image.width, image.height, options.min_face, options.scale_factor)) {
        const int w = static_cast<int>(std::ceil(image.width * scale));
        const int h = static_cast<int>(std::ceil(image.height * scale));
        ++f.levels;
        f.pnet_pixels += static_cast<std::int64_t>(w) * h;
        f.pnet += static_cast<double>(engine::forward_flops(mtcnn::pnet_def(), {1, h, w, 3}));
    }
    const engine::Shape rnet_window{1, mtcnn::kRnetSize, mtcnn::kRnetSize, 3};
    const engine::Shape onet_window{1, mtcnn::kOnetSize, mtcnn::kOnetSize, 3};
    f.rnet = static_cast<double>(stats.rnet_windows) * engine::forward_flops(mtcnn::rnet_def(), rnet_window);
    f.onet = static_cast<double>(stats.onet_windows) * engine::forward_flops(mtcnn::onet_def(), onet_window);
    return f;
}

mtcnn::Image shrunk(const mtcnn::Image& image, int width, int height) {
    mtcnn::Image out{width, height, std::vector<std::uint8_t>(static_cast<std::size_t>(width) * height * 3)};
    mtcnn::resize(image.pixels.data(), image.width, image.height, 3, out.pixels.data(), width, height);
    return out;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct Timing {
    double total = 0, pnet = 0, rnet = 0, onet = 0;  // seconds
};

// The median wall time and per-stage times of `runs` calls, after one
// warm-up whose stats are returned in `stats`.
Timing time_detect(const mtcnn::Detector& detector, const mtcnn::Image& image, const mtcnn::Mode& mode, int runs,
                   mtcnn::DetectStats& stats) {
    mtcnn::detect(detector, image, mode, kConfidence, &stats);
    std::vector<double> total, pnet, rnet, onet;
    for (int i = 0; i < runs; ++i) {
        mtcnn::DetectStats s;
        const auto start = std::chrono::steady_clock::now();
        mtcnn::detect(detector, image, mode, kConfidence, &s);
        total.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        pnet.push_back(s.pnet_seconds);
        rnet.push_back(s.rnet_seconds);
        onet.push_back(s.onet_seconds);
    }
    return {median(total), median(pnet), median(rnet), median(onet)};
}

}  // namespace

int main(int argc, char** argv) {
    const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
    const engine::Kernels& kernels = engine::kernels_for(engine::configured_isa());
    const double peak = bench::measured_peak_gflops() * 1e9;  // FLOP/s of one core; 0 without AVX-512
    std::printf("kernels: %s, measured fp32 peak: %.1f GFLOP/s one core, %.1f two\n\n", engine::isa_name(kernels.isa),
                peak / 1e9, 2 * peak / 1e9);

    // Per pixel, asymptotically: a large input, whose map edges cost little.
    constexpr int kLarge = 4096;
    print_net(mtcnn::pnet_def(), {1, kLarge, kLarge, 3}, double{kLarge} * kLarge, "per input pixel");
    print_net(mtcnn::rnet_def(), {1, mtcnn::kRnetSize, mtcnn::kRnetSize, 3}, 1, "per window");
    print_net(mtcnn::onet_def(), {1, mtcnn::kOnetSize, mtcnn::kOnetSize, 3}, 1, "per window");

    const std::filesystem::path path = std::filesystem::path(FACE_SHARED_DIR) / kPhoto;
    if (!std::filesystem::exists(path)) {
        std::printf("\nno %s: the cascade rows are skipped\n", path.string().c_str());
        return 0;
    }
    const mtcnn::Image large = mtcnn::load_image_file(path.string());
    const mtcnn::Image small = shrunk(large, 640, 480);

    const mtcnn::Detector one(kernels, {}, 1), two(kernels, {}, 2);
    struct Row {
        std::string photo, mode;
        int min_face;
        CascadeFlops flops;
        mtcnn::DetectStats stats;
        Timing t1, t2;
    };
    std::vector<Row> rows;
    for (const mtcnn::Image* image : {&small, &large})
        for (const char* name : {"faithful", "default"}) {
            const mtcnn::Mode& mode = mtcnn::find_mode(name);
            Row r{std::to_string(image->width) + "x" + std::to_string(image->height), name, mode.options.min_face,
                  {}, {}, {}, {}};
            mtcnn::DetectStats stats2;
            r.t1 = time_detect(one, *image, mode, runs, r.stats);
            r.t2 = time_detect(two, *image, mode, runs, stats2);
            if (stats2.rnet_windows != r.stats.rnet_windows || stats2.onet_windows != r.stats.onet_windows)
                std::printf("warning: %s %s: 2 threads ran other windows than 1\n", r.photo.c_str(), name);
            r.flops = cascade_flops(*image, mode.options, r.stats);
            if (r.flops.pnet_pixels != r.stats.pnet_pixels)
                std::printf("warning: %s %s: the pyramid here has %lld pixels, the detector's %lld\n", r.photo.c_str(),
                            name, static_cast<long long>(r.flops.pnet_pixels),
                            static_cast<long long>(r.stats.pnet_pixels));
            rows.push_back(r);
        }

    std::printf("\nThe cascade's FLOPs (confidence %.2f)\n\n", kConfidence);
    std::printf("| photo | mode | min face | levels | PNet Mpx | PNet GFLOP | RNet windows | RNet GFLOP | "
                "ONet windows | ONet GFLOP | total GFLOP |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (const Row& r : rows)
        std::printf("| %s | %s | %d | %d | %.3f | %.3f | %lld | %.3f | %lld | %.3f | %.3f |\n", r.photo.c_str(),
                    r.mode.c_str(), r.min_face, r.flops.levels, static_cast<double>(r.flops.pnet_pixels) / 1e6,
                    r.flops.pnet / 1e9, static_cast<long long>(r.stats.rnet_windows), r.flops.rnet / 1e9,
                    static_cast<long long>(r.stats.onet_windows), r.flops.onet / 1e9, r.flops.total() / 1e9);
    if (peak <= 0) {
        std::printf("\nno AVX-512: no measured peak, no bound\n");
        return 0;
    }

    std::printf("\nBound (FLOPs at peak) and measured detect(), median of %d\n\n", runs);
    std::printf("| photo | mode | bound 1 core | 1 thread | measured / bound | bound 2 cores | 2 threads | "
                "measured / bound |\n|---|---|---|---|---|---|---|---|\n");
    for (const Row& r : rows) {
        const double b1 = r.flops.total() / peak, b2 = b1 / 2;
        std::printf("| %s | %s | %.2f ms | %.1f ms | %.1f | %.2f ms | %.1f ms | %.1f |\n", r.photo.c_str(),
                    r.mode.c_str(), 1e3 * b1, 1e3 * r.t1.total, r.t1.total / b1, 1e3 * b2, 1e3 * r.t2.total,
                    r.t2.total / b2);
    }

    std::printf("\nPer stage, 1 thread (a stage's time includes its resampling and NMS)\n\n");
    std::printf("| photo | mode | PNet bound | PNet | ratio | RNet bound | RNet | ratio | ONet bound | ONet | ratio |\n"
                "|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (const Row& r : rows) {
        std::printf("| %s | %s", r.photo.c_str(), r.mode.c_str());
        const double flops[] = {r.flops.pnet, r.flops.rnet, r.flops.onet};
        const double seconds[] = {r.t1.pnet, r.t1.rnet, r.t1.onet};
        for (int s = 0; s < 3; ++s) {
            const double bound = flops[s] / peak;
            std::printf(" | %.2f ms | %.1f ms | %.1f", 1e3 * bound, 1e3 * seconds[s],
                        bound > 0 ? seconds[s] / bound : 0.0);
        }
        std::printf(" |\n");
    }
    return 0;
}
