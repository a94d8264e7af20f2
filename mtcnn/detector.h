// The MTCNN cascade as the predecessor ran it (the `mtcnn` Python package
// 0.1.x): image pyramid -> PNet -> NMS -> RNet -> NMS -> ONet -> NMS, with box
// regression, squaring and landmarks.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/kernels.h"
#include "engine/network.h"
#include "engine/thread_pool.h"
#include "mtcnn/boxes.h"
#include "mtcnn/image.h"
#include "mtcnn/nets.h"
#include "mtcnn/resize.h"

namespace mtcnn {

// Per-call settings: arguments to detect(), never state on the detector. The
// defaults are the predecessor's cascade; every member after the thresholds
// is a measured change beyond it (bench/ACCURACY.md), off by default.
struct DetectOptions {
    int min_face = 20;                      // pixels
    double scale_factor = 0.709;            // between pyramid levels
    // PNet's and RNet's face probability, then the final score's threshold.
    std::array<float, 3> thresholds{0.6f, 0.7f, 0.7f};
    // NMS overlaps: PNet within a pyramid level and across levels (IoU),
    // RNet (IoU), the final step (intersection over the smaller box).
    std::array<float, 4> nms{0.5f, 0.7f, 0.7f, 0.7f};
    // How the pyramid and the RNet/ONet crops are enlarged (resize.h).
    Enlarge enlarge = Enlarge::area;
    // The final score: the weighted geometric mean of the three stages' face
    // probabilities, exp(sum w_i log p_i / sum w_i). {0, 0, 1} is ONet's
    // own probability.
    std::array<float, 3> stage_weights{0.0f, 0.0f, 1.0f};
    // RNet / ONet also see each crop mirrored left to right; their
    // probabilities and box regressions are averaged.
    bool rnet_mirror = false;
    bool onet_mirror = false;
    // ONet runs again on its own regressed boxes (made square) until it has
    // run this many times; the passes' probabilities are averaged and the
    // last regression and landmarks are kept. The final threshold applies
    // to the last pass only; the earlier ones keep the scores above
    // `onet_pass_threshold`, whatever a request asks, so that a face's
    // result does not depend on the threshold beyond being cut by it.
    int onet_passes = 1;
    float onet_pass_threshold = 0.0f;
};

struct Point {
    int x = 0, y = 0;
};

struct Face {
    int x = 0, y = 0, width = 0, height = 0;  // clipped to the image
    float confidence = 0;                     // the final score (DetectOptions::stage_weights)
    // left_eye, right_eye, nose, mouth_left, mouth_right; "left" is the
    // image's left, as the predecessor named them.
    std::array<Point, 5> keypoints{};
};

inline constexpr std::array<const char*, 5> kKeypointNames{"left_eye", "right_eye", "nose", "mouth_left",
                                                           "mouth_right"};

// What one detect() call did, for benchmarks and metrics: the work each stage
// ran and its wall time (resampling and NMS included).
struct DetectStats {
    int pyramid_levels = 0;
    std::int64_t pnet_pixels = 0;   // PNet input pixels over all levels
    std::int64_t rnet_windows = 0;  // 24x24 windows, mirrors included
    std::int64_t onet_windows = 0;  // 48x48 windows, mirrors and every pass included
    double pnet_seconds = 0, rnet_seconds = 0, onet_seconds = 0;
};

// A detection stopped because it ran past its Deadline.
class DetectionTimeout : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// When a detect() call must give up: an argument of each call (the
// detector is shared and immutable), checked when the call starts, before
// each PNet band of each pyramid level and before each RNet / ONet batch of
// windows, so a call stops within about one band or batch of the time
// (milliseconds to tens of milliseconds), throwing DetectionTimeout. The
// default never passes; a deadline that does not pass changes no answer.
struct Deadline {
    using Clock = std::chrono::steady_clock;
    Clock::time_point at = Clock::time_point::max();

    // `limit` from now; zero or less: never.
    static Deadline after(Clock::duration limit) {
        return limit <= Clock::duration::zero() ? Deadline{} : Deadline{Clock::now() + limit};
    }
    bool passed() const { return at != Clock::time_point::max() && Clock::now() >= at; }
    // Throws DetectionTimeout once passed.
    void check() const {
        if (passed()) throw DetectionTimeout("the detection ran past its time limit");
    }
};

class Detector {
public:
    // Loads and validates the weights (embedded when weights_dir is empty).
    // One detect() runs its pyramid levels and window batches on up to
    // `threads` threads, its caller's included; concurrent calls share them.
    explicit Detector(const engine::Kernels& kernels, const std::string& weights_dir = {}, int threads = 1);
    // The same cascade over other networks (a benchmark's peer engine),
    // which must outlive the detector; with threads > 1 their forward()
    // is called concurrently.
    Detector(const engine::Forward& pnet, const engine::Forward& rnet, const engine::Forward& onet, int threads = 1);

    // Faces sorted by confidence, highest first. Thread-safe: the networks
    // are read-only; every call has its own buffers. The faces do not
    // depend on `threads`. DetectionTimeout once `deadline` has passed.
    std::vector<Face> detect(const Image& image, const DetectOptions& options = {}, DetectStats* stats = nullptr,
                             const Deadline& deadline = {}) const;

    int threads() const { return pool_->size(); }
    // Runs body(0) .. body(count - 1) on the detector's threads, the
    // caller's included (engine::ThreadPool::parallel_for): e.g. the photos
    // of a batch, one per thread. A body may call detect(), whose own work
    // is then helped by the threads left idle. Rethrows the first exception.
    void parallel_for(std::size_t count, const std::function<void(std::size_t)>& body) const {
        pool_->parallel_for(count, body);
    }
    // The kernels of the embedded networks (scalar with another engine's).
    engine::Isa isa() const { return owned_ ? owned_->pnet.isa() : engine::Isa::scalar; }

private:
    std::vector<Candidate> stage_pnet(const Image& image, const DetectOptions& options, DetectStats& stats,
                                      const Deadline& deadline) const;
    std::vector<Candidate> stage_rnet(const Image& image, std::vector<Candidate> boxes, const DetectOptions& options,
                                      DetectStats& stats, const Deadline& deadline) const;
    // `pass` counts from 1 (DetectOptions::onet_passes).
    std::vector<Candidate> stage_onet(const Image& image, std::vector<Candidate> boxes, const DetectOptions& options,
                                      int pass, DetectStats& stats, const Deadline& deadline) const;

    std::unique_ptr<const Nets> owned_;  // empty with another engine's networks
    const engine::Forward *pnet_, *rnet_, *onet_;
    std::unique_ptr<engine::ThreadPool> pool_;
};

}  // namespace mtcnn
