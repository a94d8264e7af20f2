// Detector::detect spreads its work over threads (pyramid bands, window
// batches) and counts it in DetectStats; the faces must not depend on the
// threads. Real photos from the WIDER FACE dev sample (skipped when absent).
// FACE_THREADS_TEST_SIDE=N (the ThreadSanitizer preset) takes one photo,
// shrunk to at most N pixels a side: still several PNet bands and window
// batches per detection, at a cost the instrumented kernels can afford.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <thread>
#include <nlohmann/json.hpp>

#include "engine/cpu.h"
#include "mtcnn/detector.h"
#include "mtcnn/modes.h"
#include "mtcnn/resize.h"
#include "tests/support/shared_data.h"

namespace mtcnn {
namespace {

// Every 170th photo of the dev sample: 4 photos of different scenes.
std::vector<std::string> some_photos() {
    const auto dir = testing_support::shared_dir() / "eval" / "widerface-dev";
    std::ifstream file(dir / "manifest.json");
    std::vector<std::string> photos;
    if (!file) return photos;
    const nlohmann::json manifest = nlohmann::json::parse(file);
    const std::size_t step = testing_support::env_int("FACE_THREADS_TEST_SIDE", 0) > 0 ? manifest.size() : 170;
    for (std::size_t i = 0; i < manifest.size(); i += step)
        photos.push_back((dir / manifest[i]["image"].get<std::string>()).string());
    return photos;
}

// The photo, shrunk (area) to FACE_THREADS_TEST_SIDE pixels a side when set.
Image load_photo(const std::string& path) {
    Image image = load_image_file(path);
    const int side = testing_support::env_int("FACE_THREADS_TEST_SIDE", 0);
    const int longer = std::max(image.width, image.height);
    if (side == 0 || longer <= side) return image;
    Image small;
    small.width = std::max(1, image.width * side / longer);
    small.height = std::max(1, image.height * side / longer);
    small.pixels.resize(static_cast<std::size_t>(small.width) * small.height * 3);
    resize(image.pixels.data(), image.width, image.height, 3, small.pixels.data(), small.width, small.height);
    return small;
}

bool same(const Face& a, const Face& b) {
    if (a.x != b.x || a.y != b.y || a.width != b.width || a.height != b.height || a.confidence != b.confidence)
        return false;
    for (int k = 0; k < 5; ++k)
        if (a.keypoints[k].x != b.keypoints[k].x || a.keypoints[k].y != b.keypoints[k].y) return false;
    return true;
}

TEST(DetectorThreads, TheFacesDoNotDependOnTheThreads) {
    const std::vector<std::string> photos = some_photos();
    if (photos.empty()) GTEST_SKIP() << "no WIDER FACE dev sample";
    const engine::Kernels& kernels = engine::kernels_for(engine::configured_isa());
    const Detector one(kernels, {}, 1), three(kernels, {}, 3);
    EXPECT_EQ(one.threads(), 1);
    EXPECT_EQ(three.threads(), 3);
    for (const std::string& path : photos) {
        const Image image = load_photo(path);
        for (const char* mode : {"faithful", "default"}) {
            const std::vector<Face> a = detect(one, image, find_mode(mode), 0.5);
            const std::vector<Face> b = detect(three, image, find_mode(mode), 0.5);
            ASSERT_EQ(a.size(), b.size()) << path << " " << mode;
            for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(same(a[i], b[i])) << path << " " << mode << " face " << i;
        }
    }
}

TEST(DetectorThreads, ConcurrentCallsShareThePoolAndAgree) {
    const std::vector<std::string> photos = some_photos();
    if (photos.empty()) GTEST_SKIP() << "no WIDER FACE dev sample";
    const Detector detector(engine::kernels_for(engine::configured_isa()), {}, 2);
    const Image image = load_photo(photos.front());
    const std::vector<Face> alone = detector.detect(image);
    std::vector<std::vector<Face>> got(4);
    std::vector<std::thread> callers;
    for (auto& g : got) callers.emplace_back([&] { g = detector.detect(image); });
    for (auto& t : callers) t.join();
    for (const auto& g : got) {
        ASSERT_EQ(g.size(), alone.size());
        for (std::size_t i = 0; i < g.size(); ++i) EXPECT_TRUE(same(g[i], alone[i]));
    }
}

TEST(DetectStats, CountsTheWorkOfEachStage) {
    const std::vector<std::string> photos = some_photos();
    if (photos.empty()) GTEST_SKIP() << "no WIDER FACE dev sample";
    const Detector detector(engine::kernels_for(engine::configured_isa()));
    const Image image = load_photo(photos.front());
    const DetectOptions options;  // faithful: no mirrors, one ONet pass
    DetectStats stats;
    detector.detect(image, options, &stats);
    const std::vector<double> scales = pyramid_scales(image.width, image.height, options.min_face, options.scale_factor);
    EXPECT_EQ(stats.pyramid_levels, static_cast<int>(scales.size()));
    std::int64_t pixels = 0;
    for (double s : scales)
        pixels += static_cast<std::int64_t>(std::ceil(image.width * s)) * static_cast<std::int64_t>(std::ceil(image.height * s));
    EXPECT_EQ(stats.pnet_pixels, pixels);
    EXPECT_GT(stats.rnet_windows, 0);
    EXPECT_GT(stats.onet_windows, 0);
    EXPECT_LE(stats.onet_windows, stats.rnet_windows);
    EXPECT_GT(stats.pnet_seconds, 0);
    EXPECT_GT(stats.rnet_seconds, 0);
    EXPECT_GT(stats.onet_seconds, 0);

    // The mirror doubles the windows, a second ONet pass adds its own.
    DetectOptions mirrored = options;
    mirrored.rnet_mirror = true;
    DetectStats m;
    detector.detect(image, mirrored, &m);
    EXPECT_EQ(m.rnet_windows, 2 * stats.rnet_windows);
}

}  // namespace
}  // namespace mtcnn
