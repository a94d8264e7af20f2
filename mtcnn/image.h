// Photo decoding: bytes -> upright RGB pixels, with typed errors that the
// server maps to HTTP statuses (InvalidImage 400, UnsupportedImageFormat 415,
// ImageTooLarge 413).
//
// Decisions (tests/mtcnn/image_test.cpp pins each of them):
// - The format comes from the magic bytes only, never from a file name or a
//   content type. Empty input is InvalidImage ("empty image data"), not
//   UnsupportedImageFormat: there is nothing whose format could be wrong.
// - Alpha is dropped, not composited: a transparent pixel keeps the colour
//   stored under it (for GIF, stb stores transparent pixels as black).
// - Gray, palette and 16-bit images become 8-bit RGB (16 bits: the high byte).
// - JPEG is decoded by libjpeg-turbo (Debian's libjpeg62-turbo, static), PNG,
//   BMP and GIF by stb_image (compiled without its JPEG parser). libjpeg-turbo
//   is what OpenCV's imread, and so the predecessor service, decoded with;
//   with its defaults (integer "islow" IDCT, fancy upsampling: what djpeg
//   writes) the pixels are bit-exact with it, and the cascade's known answers
//   need that: stb's JPEG pixels differ by 1-3 levels in ~8% of the values
//   (its chroma upsampling rounds +8 where libjpeg alternates +8/+7, its IDCT
//   and YCbCr conversion differ), which moves the golden face box by 3-4 px.
// - JPEG variants: baseline, extended, progressive and arithmetic-coded files
//   are decoded, gray, YCbCr and RGB alike. 4-component files are decoded as
//   libjpeg reads them (Adobe APP14 transform 2: YCCK; otherwise CMYK, in
//   Adobe's inverted convention, with or without the marker) and turned into
//   RGB by OpenCV's rule, R = K - ((255 - C) K >> 8), no ICC profile, so they
//   too give the predecessor's pixels. Lossless, hierarchical and 12-bit
//   files, and component counts other than 1, 3 and 4, are
//   UnsupportedImageFormat: libjpeg-turbo 2.1's 8-bit build refuses them.
// - Corrupt JPEG data: a corrupt header is InvalidImage, and so is a file cut
//   short (below; libjpeg would paint the rest grey). libjpeg's other
//   corrupt-data warnings (extraneous bytes between segments, a scan that
//   ends a few bits early, a misplaced restart marker, a bad Huffman code)
//   are decoded through, as OpenCV did: cameras and encoders write such
//   files, and libjpeg-turbo does not report every bad code anyway.
// - Memory: for progressive and multi-scan JPEGs libjpeg holds the whole
//   image's coefficients (up to 8 bytes a pixel); its budget is sized from the
//   accepted header, and a file that would need more is ImageTooLarge.
// - Truncated files are InvalidImage: a JPEG needs its end-of-image marker and
//   (stb 2.27) a PNG its IEND chunk, so a file cut anywhere, even one missing
//   only those last bytes, is refused rather than decoded in part. Bytes after
//   the end marker are ignored. So is a JPEG whose Huffman-coded scan ends
//   (meets a marker) a row of MCUs or more before its image does, as when the
//   frame header declares more than the data holds (within the last row of
//   MCUs it is decoded through, above). A BMP needs all its rows, a GIF the
//   end of its first frame's data (stb reads missing bytes as zeros and would
//   paint the rest black); later frames are not read.
// - EXIF orientation is read from JPEG only (APP1 "Exif", IFD0 tag 0x0112);
//   any malformed EXIF block means orientation 1, never an error.
// - Thread-safe: no global state; every JPEG decode has its own libjpeg
//   decompressor and error manager, stb's failure reason is thread_local and
//   its global flags are never set.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mtcnn {

// Corrupt, truncated or otherwise undecodable bytes of a supported format.
class InvalidImage : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Not JPEG, PNG, BMP or GIF (PSD, TGA, HDR, PNM, text, ... are refused).
class UnsupportedImageFormat : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// More pixels than allowed, found from the header before decoding.
class ImageTooLarge : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class ImageFormat { jpeg, png, bmp, gif };

// "JPEG", "PNG", "BMP", "GIF": for messages and logs.
std::string_view image_format_name(ImageFormat format);

// Largest width or height decoded (JPEG's own 16-bit limit, applied to every
// format; stb_image is compiled with it as STBI_MAX_DIMENSIONS). A larger side
// is ImageTooLarge whatever DecodeLimits says.
inline constexpr int kMaxImageSide = 65535;

// Most pixels decoded whatever DecodeLimits says: 2^27 (134 M, 400 MB of RGB),
// under every size stb_image refuses as too large (its smallest cap is a PNG
// whose RGBA buffer passes 2^30 bytes, 2^28 pixels). A header above it is
// ImageTooLarge, never mistaken for a corrupt one.
inline constexpr std::int64_t kMaxImagePixels = std::int64_t{1} << 27;

struct ImageInfo {
    ImageFormat format;
    int width;   // as stored, before EXIF orientation
    int height;
};

// 8-bit RGB, row-major, 3 bytes a pixel, no row padding, upright (the JPEG
// EXIF orientation already applied).
struct Image {
    int width = 0;
    int height = 0;
    std::vector<std::uint8_t> pixels;  // width * height * 3

    std::uint8_t at(int x, int y, int channel) const {
        return pixels[(static_cast<std::size_t>(y) * width + x) * 3 + channel];
    }
};

struct DecodeLimits {
    std::int64_t max_pixels = 50'000'000;  // width * height
};

// Format from the magic bytes and size from the header only (no pixel is
// decoded). Throws UnsupportedImageFormat or InvalidImage. A header that
// declares more than kMaxImageSide or kMaxImagePixels, or a JPEG side above
// libjpeg's 65500, is still reported with that size (the decoder refuses to
// read it), so that decode_image can answer ImageTooLarge.
ImageInfo probe_image(std::span<const std::uint8_t> bytes);

// Probe, check limits (limits.max_pixels, kMaxImagePixels, kMaxImageSide:
// ImageTooLarge before any pixel is decoded), decode
// (GIF: first frame), convert to RGB (gray, 16-bit, palette and alpha images
// included), apply the EXIF orientation.
Image decode_image(std::span<const std::uint8_t> bytes, const DecodeLimits& limits = {});

// Reads a whole file and decodes it; InvalidImage when it cannot be read.
// Every error message starts with the path.
Image load_image_file(const std::string& path, const DecodeLimits& limits = {});

// EXIF orientation tag (1..8) of a JPEG; 1 when absent or malformed.
int jpeg_exif_orientation(std::span<const std::uint8_t> jpeg);

// Rotates / mirrors so that an image stored with EXIF `orientation` becomes
// upright (1 returns it unchanged; values outside 1..8 are treated as 1).
Image apply_exif_orientation(Image image, int orientation);

}  // namespace mtcnn
