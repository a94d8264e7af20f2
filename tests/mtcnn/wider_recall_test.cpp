// The whole cascade on real photos: the WIDER FACE dev sample in
// ../shared/eval/widerface-dev (README there; skipped when absent). On every
// photo with three or more faces in the "easy" setting, at least 80% of those
// faces must be found at IoU >= 0.5: by the faithful cascade at its
// thresholds (0.6 / 0.7 / 0.7; 0.823 measured), and by the default mode at
// calibrated confidence 0.5 (0.83 measured).
//
// FACE_WIDERFACE_STRIDE=k takes every k-th of those photos (the sanitizer
// run uses it to stay within CI's time).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>

#include "engine/cpu.h"
#include "engine/thread_pool.h"
#include "mtcnn/detector.h"
#include "mtcnn/modes.h"
#include "tests/support/shared_data.h"

namespace mtcnn {
namespace {

constexpr double kMinRecall = 0.80;
constexpr double kMatchIou = 0.5;
constexpr std::size_t kMinEasyFaces = 3;

double iou(const std::array<int, 4>& a, const Face& f) {
    const double x1 = std::max<double>(a[0], f.x), y1 = std::max<double>(a[1], f.y);
    const double x2 = std::min<double>(a[0] + a[2], f.x + f.width), y2 = std::min<double>(a[1] + a[3], f.y + f.height);
    const double inter = std::max(0.0, x2 - x1) * std::max(0.0, y2 - y1);
    const double uni = static_cast<double>(a[2]) * a[3] + static_cast<double>(f.width) * f.height - inter;
    return uni > 0 ? inter / uni : 0.0;
}

// Greedy one-to-one matching by IoU; returns how many of `truth` are found.
int matched(const std::vector<std::array<int, 4>>& truth, const std::vector<Face>& faces) {
    struct Pair {
        double iou;
        std::size_t t, f;
    };
    std::vector<Pair> pairs;
    for (std::size_t t = 0; t < truth.size(); ++t)
        for (std::size_t f = 0; f < faces.size(); ++f)
            if (const double o = iou(truth[t], faces[f]); o >= kMatchIou) pairs.push_back({o, t, f});
    std::sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) { return a.iou > b.iou; });
    std::vector<bool> t_used(truth.size()), f_used(faces.size());
    int found = 0;
    for (const Pair& p : pairs)
        if (!t_used[p.t] && !f_used[p.f]) t_used[p.t] = f_used[p.f] = true, ++found;
    return found;
}

using Cascade = std::function<std::vector<Face>(const Detector&, const Image&)>;

void expect_crowded_recall(const Cascade& cascade) {
    const auto dir = testing_support::shared_dir() / "eval" / "widerface-dev";
    std::ifstream manifest_file(dir / "manifest.json");
    if (!manifest_file) GTEST_SKIP() << "no " << (dir / "manifest.json").string();
    const nlohmann::json manifest = nlohmann::json::parse(manifest_file);

    struct Photo {
        std::string path;
        std::vector<std::array<int, 4>> easy;
    };
    std::vector<Photo> photos;
    const int stride = testing_support::env_int("FACE_WIDERFACE_STRIDE", 1);
    int seen = 0;
    for (const auto& record : manifest) {
        if (record["easy"].size() < kMinEasyFaces) continue;
        if (seen++ % stride) continue;
        Photo p{(dir / record["image"].get<std::string>()).string(), {}};
        for (int i : record["easy"]) p.easy.push_back(record["faces"][i].get<std::array<int, 4>>());
        photos.push_back(std::move(p));
    }
    ASSERT_FALSE(photos.empty());

    const Detector detector(engine::kernels_for(engine::configured_isa()));
    engine::ThreadPool pool(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    std::atomic<int> found{0}, total{0};
    std::mutex log;
    pool.parallel_for(photos.size(), [&](std::size_t i) {
        const std::vector<Face> faces = cascade(detector, load_image_file(photos[i].path));
        const int hit = matched(photos[i].easy, faces);
        found += hit;
        total += static_cast<int>(photos[i].easy.size());
        if (hit < static_cast<int>(photos[i].easy.size()) / 2) {
            std::lock_guard lock(log);
            std::printf("low recall: %s %d/%zu\n", photos[i].path.c_str(), hit, photos[i].easy.size());
        }
    });
    const double recall = static_cast<double>(found) / total;
    std::printf("%zu photos, %d of %d easy faces found: recall %.3f\n", photos.size(), found.load(), total.load(),
                recall);
    EXPECT_GE(recall, kMinRecall);
}

TEST(WiderFace, CrowdedPhotosRecallAtLeast80PercentOfEasyFaces) {
    expect_crowded_recall([](const Detector& d, const Image& image) { return d.detect(image); });
}

TEST(WiderFace, DefaultModeFindsAtLeast80PercentOfEasyFacesAtConfidenceHalf) {
    expect_crowded_recall(
        [](const Detector& d, const Image& image) { return detect(d, image, find_mode(kDefaultMode), 0.5); });
}

}  // namespace
}  // namespace mtcnn
