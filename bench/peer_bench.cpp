// Our engine beside a peer, OpenCV's DNN module (bench/opencv_nets.h), in
// the same run: the same cascade code (mtcnn::Detector) over the same
// converted weights, on the benchmark photo (1024x768, WIDER FACE dev
// sample, read from ../shared; skipped when absent) at the service's default
// confidence 0.95, in the faithful and default modes. One thread each (our
// detector with threads=1 and the best kernels the CPU has; OpenCV with
// cv::setNumThreads(1)), and ours on every core for reference. Wall time
// per photo, the per-stage split (milliseconds, resampling and NMS
// included), and at the end the ratio peer / ours.
//
// Before any timing it checks that the peer computes what ours does, and
// exits 1 when not: each network on random inputs (outputs within 1e-4 of
// ours, relative to the output's largest magnitude), and the cascade over
// the peer's networks (the same number of faces, boxes and keypoints within
// 2 pixels).
//
//   build/release/bench/bench_peer
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>

#include <unistd.h>

#include <opencv2/core/utility.hpp>

#include "bench/detect_loop.h"
#include "bench/opencv_nets.h"
#include "engine/cpu.h"
#include "mtcnn/detector.h"
#include "mtcnn/modes.h"
#include "mtcnn/nets.h"

namespace {

// 1024x768, 21 faces in the "easy" setting.
const char* kPhoto = "eval/widerface-dev/images/0--Parade/0_Parade_Parade_0_470.jpg";
constexpr double kConfidence = 0.95;  // the service's default
constexpr const char* kModes[] = {"faithful", "default"};

// An output element may differ from ours by this much times the output's
// largest magnitude (at least 1): float sums in another order, and
// OpenCV's fused activations.
constexpr double kNetTolerance = 1e-4;
// Box corners and keypoints, in pixels.
constexpr int kPixelTolerance = 2;

// ---- correctness ------------------------------------------------------------

bool check_net(const engine::Network& ours, const peer::OpenCvNetwork& peer, engine::Shape shape, unsigned seed) {
    engine::Tensor input(shape);
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> pixel(-1.0f, 1.0f);  // the cascade's normalised range
    for (std::size_t i = 0; i < input.size(); ++i) input.data()[i] = pixel(rng);
    engine::Workspace ws_ours, ws_peer;
    ours.forward(input, ws_ours);
    try {
        peer.forward(input, ws_peer);
    } catch (const std::exception& e) {  // cv::Exception too: OpenCV refusing a shape
        std::fprintf(stderr, "peer check: %s %s: OpenCV failed: %s\n", ours.def().name().c_str(), shape.str().c_str(),
                     e.what());
        return false;
    }
    bool ok = true;
    for (const auto& [name, layer] : ours.def().outputs()) {
        const engine::Tensor& a = ours.output(ws_ours, name);
        const engine::Tensor& b = peer.output(ws_peer, name);
        if (!(a.shape() == b.shape())) {
            std::fprintf(stderr, "peer check: %s %s %s: OpenCV's shape %s, ours %s\n", ours.def().name().c_str(),
                         shape.str().c_str(), name.c_str(), b.shape().str().c_str(), a.shape().str().c_str());
            ok = false;
            continue;
        }
        double max_diff = 0, max_ref = 0;
        std::size_t worst = 0;
        for (std::size_t i = 0; i < a.size(); ++i) {
            const double d = std::abs(static_cast<double>(a.data()[i]) - b.data()[i]);
            if (d > max_diff) max_diff = d, worst = i;
            max_ref = std::max(max_ref, std::abs(static_cast<double>(a.data()[i])));
        }
        const double tolerance = kNetTolerance * std::max(1.0, max_ref);
        const bool pass = max_diff <= tolerance;
        std::fprintf(stderr, "peer check: %s %-12s %-9s max abs diff %.3g (largest |value| %.3g, tolerance %.3g)%s\n",
                     ours.def().name().c_str(), shape.str().c_str(), name.c_str(), max_diff, max_ref, tolerance,
                     pass ? "" : " FAILED");
        if (!pass)
            std::fprintf(stderr, "  worst at element %zu: ours %.9g, OpenCV %.9g\n", worst, a.data()[worst],
                         b.data()[worst]);
        ok = ok && pass;
    }
    return ok;
}

// The largest distance (pixels, per coordinate) between two faces' boxes
// and keypoints.
int face_distance(const mtcnn::Face& a, const mtcnn::Face& b) {
    int d = std::max({std::abs(a.x - b.x), std::abs(a.y - b.y), std::abs(a.width - b.width),
                      std::abs(a.height - b.height)});
    for (std::size_t k = 0; k < a.keypoints.size(); ++k)
        d = std::max({d, std::abs(a.keypoints[k].x - b.keypoints[k].x), std::abs(a.keypoints[k].y - b.keypoints[k].y)});
    return d;
}

// Each of our faces against the nearest of the peer's, which it then takes;
// the order may differ where two confidences are within rounding.
bool check_cascade(const mtcnn::Detector& ours, const mtcnn::Detector& peer, const mtcnn::Image& image,
                   const mtcnn::Mode& mode) {
    const std::vector<mtcnn::Face> a = mtcnn::detect(ours, image, mode, kConfidence);
    std::vector<mtcnn::Face> b;
    try {
        b = mtcnn::detect(peer, image, mode, kConfidence);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "peer check: cascade %s: OpenCV failed: %s\n", std::string(mode.name).c_str(), e.what());
        return false;
    }
    const std::size_t peer_faces = b.size();
    int worst_pixels = 0;
    double worst_confidence = 0;
    bool matched = true;
    for (const mtcnn::Face& f : a) {
        auto nearest = std::min_element(b.begin(), b.end(), [&](const mtcnn::Face& x, const mtcnn::Face& y) {
            return face_distance(f, x) < face_distance(f, y);
        });
        if (nearest == b.end() || face_distance(f, *nearest) > kPixelTolerance) {
            std::fprintf(stderr, "peer check: %s: our face [%d, %d, %d, %d] (%.6f) has no OpenCV face within %d px\n",
                         std::string(mode.name).c_str(), f.x, f.y, f.width, f.height, f.confidence, kPixelTolerance);
            matched = false;
            continue;
        }
        worst_pixels = std::max(worst_pixels, face_distance(f, *nearest));
        worst_confidence = std::max(worst_confidence, std::abs(static_cast<double>(f.confidence) - nearest->confidence));
        b.erase(nearest);
    }
    const bool ok = matched && a.size() == peer_faces;
    std::fprintf(stderr,
                 "peer check: cascade %-8s faces: ours %zu, OpenCV %zu; the matched ones' boxes and keypoints within "
                 "%d px, confidences within %.3g%s\n",
                 std::string(mode.name).c_str(), a.size(), peer_faces, worst_pixels, worst_confidence,
                 ok ? "" : " FAILED");
    return ok;
}

// ---- benchmarks ---------------------------------------------------------------

void BM_photo(benchmark::State& state, const mtcnn::Detector* detector, const mtcnn::Mode* mode,
              const mtcnn::Image* image, std::string label) {
    if (!image) {
        state.SkipWithError(("no " + (std::filesystem::path(FACE_SHARED_DIR) / kPhoto).string()).c_str());
        return;
    }
    bench::time_detect(state, *detector, *image, *mode, kConfidence);
    state.SetLabel(std::to_string(image->width) + "x" + std::to_string(image->height) + " " +
                   std::string(mode->name) + " " + label);
}

// The console output, and each benchmark's mean wall and CPU time per
// iteration (milliseconds, the benchmarks' unit, over repetitions) for the
// summary. CPU time is the benchmark thread's: all of the work on one
// thread (our pool of 1 runs on its caller, OpenCV with one thread too), so
// it is the figure a busy machine disturbs least.
class Recorder : public benchmark::ConsoleReporter {
public:
    // Colour on a terminal only. Being the display reporter, it takes the
    // place of --benchmark_format and --benchmark_color.
    Recorder() : ConsoleReporter(isatty(fileno(stdout)) ? OO_ColorTabular : OO_Tabular) {}
    struct Times {
        double real_ms = 0, cpu_ms = 0;
        int count = 0;
    };
    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& r : runs) {
            if (r.error_occurred) continue;
            // The repetitions themselves, or their mean alone under
            // --benchmark_report_aggregates_only.
            const bool mean = r.run_type == Run::RT_Aggregate && r.aggregate_name == "mean";
            if (r.run_type != Run::RT_Iteration && !mean) continue;
            Times& t = (mean ? aggregates_ : sums_)[r.run_name.function_name];
            t.real_ms += r.GetAdjustedRealTime();
            t.cpu_ms += r.GetAdjustedCPUTime();
            ++t.count;
        }
    }
    // The means; count 0 when it did not run.
    Times mean(const std::string& name) const {
        for (const auto* sums : {&sums_, &aggregates_}) {
            const auto it = sums->find(name);
            if (it == sums->end()) continue;
            const Times& t = it->second;
            return {t.real_ms / t.count, t.cpu_ms / t.count, t.count};
        }
        return {};
    }

private:
    std::map<std::string, Times> sums_, aggregates_;
};

std::string bench_name(const mtcnn::Mode& mode, const std::string& engine, int threads) {
    return "peer_1024x768/" + std::string(mode.name) + "/" + engine + "/threads:" + std::to_string(threads);
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    cv::setNumThreads(1);  // the single-thread comparison

    const engine::Isa isa = engine::supported_isas().back();
    const std::string ours_name = std::string("ours_") + engine::isa_name(isa);
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    std::fprintf(stderr, "peer: %s\n", peer::opencv_description().c_str());

    // The networks one by one, on odd and non-square shapes (a transposed
    // or mis-rounded layer shows), PNet also batched.
    const mtcnn::Nets ours = mtcnn::load_nets(engine::kernels_for(isa));
    const peer::OpenCvNets opencv = peer::load_opencv_nets();
    bool ok = true;
    ok &= check_net(ours.pnet, opencv.pnet, {1, 37, 53, 3}, 1);
    ok &= check_net(ours.pnet, opencv.pnet, {2, 12, 17, 3}, 2);
    ok &= check_net(ours.rnet, opencv.rnet, {5, mtcnn::kRnetSize, mtcnn::kRnetSize, 3}, 3);
    ok &= check_net(ours.onet, opencv.onet, {3, mtcnn::kOnetSize, mtcnn::kOnetSize, 3}, 4);

    const mtcnn::Detector detector_ours(engine::kernels_for(isa), {}, 1);
    const mtcnn::Detector detector_ours_all(engine::kernels_for(isa), {}, cores);
    const mtcnn::Detector detector_peer(opencv.pnet, opencv.rnet, opencv.onet, 1);

    const std::filesystem::path path = std::filesystem::path(FACE_SHARED_DIR) / kPhoto;
    std::unique_ptr<mtcnn::Image> image;
    if (std::filesystem::exists(path)) {
        image = std::make_unique<mtcnn::Image>(mtcnn::load_image_file(path.string()));
        for (const char* mode : kModes) ok &= check_cascade(detector_ours, detector_peer, *image, mtcnn::find_mode(mode));
    } else {
        std::fprintf(stderr, "peer check: no %s; the cascade check and the benchmarks are skipped\n",
                     path.string().c_str());
    }
    if (!ok) {
        std::fprintf(stderr, "peer check FAILED: OpenCV's networks do not compute ours; no timings\n");
        return 1;
    }

    for (const char* name : kModes) {
        const mtcnn::Mode& mode = mtcnn::find_mode(name);
        auto add = [&](const mtcnn::Detector& detector, const std::string& engine, int threads) {
            const std::string label = engine + " " + std::to_string(threads) + " thread" + (threads > 1 ? "s" : "");
            benchmark::RegisterBenchmark(bench_name(mode, engine, threads).c_str(), BM_photo, &detector, &mode,
                                         image.get(), label)
                ->Unit(benchmark::kMillisecond)
                ->MinTime(2.0)
                ->UseRealTime();
        };
        add(detector_ours, ours_name, 1);
        add(detector_peer, "opencv", 1);
        if (cores > 1) add(detector_ours_all, ours_name, cores);
    }
    Recorder recorder;
    benchmark::RunSpecifiedBenchmarks(&recorder);
    benchmark::Shutdown();

    for (const char* name : kModes) {
        const mtcnn::Mode& mode = mtcnn::find_mode(name);
        const Recorder::Times a = recorder.mean(bench_name(mode, ours_name, 1));
        const Recorder::Times b = recorder.mean(bench_name(mode, "opencv", 1));
        if (a.count && b.count)
            std::printf("peer/ours %-8s one thread: OpenCV %.1f ms, ours %.1f ms per photo: %.2fx "
                        "(CPU time %.1f / %.1f ms: %.2fx)\n",
                        name, b.real_ms, a.real_ms, b.real_ms / a.real_ms, b.cpu_ms, a.cpu_ms, b.cpu_ms / a.cpu_ms);
        else
            std::printf("peer/ours %-8s: not measured\n", name);
    }
}
