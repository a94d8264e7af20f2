// Encoding pixels into a file's bytes, in memory: PNG or JPEG, written by
// stb_image_write (Debian's libstb-dev; compiled in mtcnn/encode.cpp only).
//
// - Nothing but the pixels goes out: the PNG holds IHDR, IDAT and IEND
//   only, the JPEG a JFIF APP0 header, its tables and the scan. No EXIF
//   (APP1), GPS, XMP, ICC profile or comment is ever written, so a photo
//   decoded, changed and encoded again (an anonymised one) carries none of
//   what the original held. The pixels are upright (mtcnn/image.h applies
//   the EXIF orientation when decoding), so no orientation is needed.
// - PNG is lossless: decode_image gives the same pixels back. JPEG is
//   baseline, 4:4:4 above quality 90 and 4:2:0 at 90 and below (stb's
//   rule); stb's own zlib compresses the PNG (level 8, five filters tried
//   per row).
// - Thread-safe: stb's global settings (flip on write, PNG compression
//   level, forced filter) are never set.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "mtcnn/image.h"

namespace mtcnn {

inline constexpr int kDefaultJpegQuality = 90;

// An image with no pixels, a pixel buffer of the wrong size, or a JPEG
// quality outside [1, 100]; or stb_image_write failing.
class EncodeError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

std::vector<std::uint8_t> encode_png(const Image& image);
std::vector<std::uint8_t> encode_jpeg(const Image& image, int quality = kDefaultJpegQuality);

// ImageFormat::jpeg or ImageFormat::png; EncodeError for BMP and GIF.
std::vector<std::uint8_t> encode_image(const Image& image, ImageFormat format, int quality = kDefaultJpegQuality);

}  // namespace mtcnn
