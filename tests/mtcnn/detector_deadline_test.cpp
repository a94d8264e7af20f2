// Detector::detect's deadline (mtcnn::Deadline): one that has passed stops
// the cascade at once, one that passes part way stops it within about a
// band or a batch, and one that does not pass changes no answer.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "engine/cpu.h"
#include "mtcnn/detector.h"
#include "mtcnn/modes.h"
#include "tests/support/shared_data.h"

namespace mtcnn {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

const engine::Kernels& kernels() { return engine::kernels_for(engine::configured_isa()); }

// Smooth gradients, no face: a few pyramid levels of work.
Image gradient(int w, int h) {
    Image image;
    image.width = w;
    image.height = h;
    image.pixels.resize(static_cast<std::size_t>(w) * h * 3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            std::uint8_t* p = &image.pixels[(static_cast<std::size_t>(y) * w + x) * 3];
            p[0] = static_cast<std::uint8_t>(x * 255 / w);
            p[1] = static_cast<std::uint8_t>(y * 255 / h);
            p[2] = static_cast<std::uint8_t>((x + y) % 256);
        }
    return image;
}

// ivan.jpg, or nullopt when ../shared is absent.
std::optional<Image> ivan() {
    const auto path = testing_support::shared_dir() / "golden" / "ivan.jpg";
    if (!std::filesystem::exists(path)) return std::nullopt;
    return load_image_file(path.string());
}

bool same(const std::vector<Face>& a, const std::vector<Face>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].x != b[i].x || a[i].y != b[i].y || a[i].width != b[i].width || a[i].height != b[i].height ||
            a[i].confidence != b[i].confidence)
            return false;
        for (int k = 0; k < 5; ++k)
            if (a[i].keypoints[k].x != b[i].keypoints[k].x || a[i].keypoints[k].y != b[i].keypoints[k].y) return false;
    }
    return true;
}

TEST(Deadline, DefaultNeverPasses) {
    EXPECT_FALSE(Deadline{}.passed());
    EXPECT_NO_THROW(Deadline{}.check());
    EXPECT_FALSE(Deadline::after(Clock::duration::zero()).passed());  // 0: no limit
    EXPECT_FALSE(Deadline::after(-1s).passed());
    EXPECT_FALSE(Deadline::after(1h).passed());
    EXPECT_TRUE(Deadline{Clock::now() - 1ms}.passed());
    EXPECT_THROW(Deadline{Clock::now() - 1ms}.check(), DetectionTimeout);
}

TEST(Deadline, PassedDeadlineStopsTheCascadeAtOnce) {
    const Image image = gradient(320, 240);
    for (int threads : {1, 3}) {
        const Detector detector(kernels(), {}, threads);
        for (const Mode& mode : modes())
            EXPECT_THROW(detect(detector, image, mode, 0.5, nullptr, Deadline{Clock::now() - 1ms}), DetectionTimeout)
                << mode.name << ", " << threads << " threads";
        // The detector is still whole afterwards.
        EXPECT_NO_THROW(detect(detector, image, find_mode("faithful"), 0.5));
    }
}

TEST(Deadline, ADeadlineThatDoesNotPassChangesNoAnswer) {
    const std::optional<Image> image = ivan();
    if (!image) GTEST_SKIP() << "no ../shared/golden/ivan.jpg";
    const Detector detector(kernels(), {}, 2);
    for (const Mode& mode : modes()) {
        const std::vector<Face> plain = detect(detector, *image, mode, 0.5);
        const std::vector<Face> limited = detect(detector, *image, mode, 0.5, nullptr, Deadline::after(1h));
        EXPECT_FALSE(plain.empty()) << mode.name;
        EXPECT_TRUE(same(plain, limited)) << mode.name;
    }
}

// A deadline a tenth of the way through: the call stops long before the
// whole detection would have ended (within a band or a batch).
TEST(Deadline, StopsPartWay) {
    const std::optional<Image> image = ivan();
    if (!image) GTEST_SKIP() << "no ../shared/golden/ivan.jpg";
    const Detector detector(kernels(), {}, 2);
    const Mode& mode = find_mode("accurate");
    detect(detector, *image, mode, 0.5);  // warm: buffers, page faults
    auto start = Clock::now();
    detect(detector, *image, mode, 0.5);
    const auto whole = Clock::now() - start;
    start = Clock::now();
    EXPECT_THROW(detect(detector, *image, mode, 0.5, nullptr, Deadline::after(whole / 10)), DetectionTimeout);
    const auto stopped = Clock::now() - start;
    EXPECT_LT(stopped, whole * 3 / 4) << "whole detection "
                                       << std::chrono::duration_cast<std::chrono::milliseconds>(whole).count()
                                       << " ms, stopped after "
                                       << std::chrono::duration_cast<std::chrono::milliseconds>(stopped).count() << " ms";
}

}  // namespace
}  // namespace mtcnn
