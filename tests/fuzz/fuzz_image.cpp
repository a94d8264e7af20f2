// libFuzzer target: the photo path, bytes -> upright pixels -> faces.
//
// Each input is probed (header only), decoded under a 4-megapixel limit (a
// decompression bomb must be refused from its header, never decoded), its
// JPEG EXIF orientation read and applied, and, when the decoded image is at
// most 128x128, run through the cascade in the faithful mode. The errors
// mtcnn/image.h documents (InvalidImage, UnsupportedImageFormat,
// ImageTooLarge) are expected answers; any other exception, a sanitizer
// report or a broken invariant below (abort) is a bug.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>

#include "engine/cpu.h"
#include "engine/kernels.h"
#include "mtcnn/detector.h"
#include "mtcnn/image.h"
#include "mtcnn/modes.h"

namespace {

constexpr std::int64_t kFuzzMaxPixels = 4'000'000;
constexpr int kMaxDetectSide = 128;  // keeps one input's cascade to milliseconds
constexpr double kFaithfulConfidence = 0.7;  // the predecessor's answers (README)
constexpr int kOrientations = 10;  // 0..9: the eight EXIF values and two out of range

void check(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "fuzz_image: invariant broken: %s\n", what);
    std::abort();
}

// Loaded once, as the server does at start-up: the weights assembled into
// the library (weights/*.bin), single-threaded so that runs are reproducible.
const mtcnn::Detector& detector() {
    static const mtcnn::Detector d(engine::kernels_for(engine::configured_isa()));
    return d;
}

void check_image(const mtcnn::Image& image) {
    check(image.width > 0 && image.height > 0, "decoded image has an empty side");
    check(image.pixels.size() == static_cast<std::size_t>(image.width) * image.height * 3,
          "pixels do not match width x height x 3");
}

void run(std::span<const std::uint8_t> bytes) {
    std::optional<mtcnn::ImageInfo> info;
    try {
        info = mtcnn::probe_image(bytes);
        check(info->width > 0 && info->height > 0, "probe reports an empty side");
    } catch (const mtcnn::InvalidImage&) {
    } catch (const mtcnn::UnsupportedImageFormat&) {
    }

    // Never throws; 1..8 whatever the bytes.
    const int orientation = mtcnn::jpeg_exif_orientation(bytes);
    check(orientation >= 1 && orientation <= 8, "EXIF orientation outside 1..8");

    mtcnn::Image image;
    try {
        image = mtcnn::decode_image(bytes, mtcnn::DecodeLimits{kFuzzMaxPixels});
    } catch (const mtcnn::InvalidImage&) {
        return;
    } catch (const mtcnn::UnsupportedImageFormat&) {
        return;
    } catch (const mtcnn::ImageTooLarge&) {
        return;
    }
    check_image(image);
    check(static_cast<std::int64_t>(image.width) * image.height <= kFuzzMaxPixels,
          "decoded more pixels than the limit");
    // What decodes was probed first with the same size (sides swapped by an
    // EXIF orientation that transposes, JPEG only).
    check(info.has_value(), "decode succeeded where probe failed");
    const bool transposed = info->format == mtcnn::ImageFormat::jpeg && orientation >= 5;
    check(image.width == (transposed ? info->height : info->width) &&
              image.height == (transposed ? info->width : info->height),
          "decoded size differs from the probed size");

    if (image.width > kMaxDetectSide || image.height > kMaxDetectSide) return;

    // Any orientation, in range or not, on the upright pixels: the last byte
    // picks it so that the fuzzer can steer it.
    const int extra = static_cast<int>(bytes.back() % kOrientations);
    const mtcnn::Image turned = mtcnn::apply_exif_orientation(image, extra);
    check_image(turned);
    check(turned.pixels.size() == image.pixels.size(), "orientation changed the pixel count");

    static const mtcnn::Mode& faithful = mtcnn::find_mode("faithful");
    for (const mtcnn::Face& face : mtcnn::detect(detector(), image, faithful, kFaithfulConfidence)) {
        check(face.width >= 0 && face.height >= 0 && face.x >= 0 && face.y >= 0 &&
                  (face.width == 0 || face.x + face.width <= image.width) &&
                  (face.height == 0 || face.y + face.height <= image.height),
              "face box not clipped to the image");
        // The threshold is compared in float, as the cascade does.
        check(face.confidence >= static_cast<float>(kFaithfulConfidence) && face.confidence <= 1.0f,
              "face confidence outside [threshold, 1]");
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    detector();  // load outside the timed inputs
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    run(std::span<const std::uint8_t>(data, size));
    return 0;
}
