// The one translation unit that compiles stb_image_write (mtcnn/encode.h).
// STB_IMAGE_WRITE_STATIC keeps its functions private to this file, so
// another copy (tests/mtcnn/image_test.cpp builds its fixtures with one) does
// not clash; STBI_WRITE_NO_STDIO: memory only, nothing is written to disk.
#include "mtcnn/encode.h"

#include <string>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>

namespace mtcnn {
namespace {

void append(void* context, void* data, int size) {
    auto* out = static_cast<std::vector<std::uint8_t>*>(context);
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    out->insert(out->end(), bytes, bytes + size);
}

void check(const Image& image) {
    if (image.width <= 0 || image.height <= 0) throw EncodeError("cannot encode an image without pixels");
    if (image.width > kMaxImageSide || image.height > kMaxImageSide)
        throw EncodeError("cannot encode a side over " + std::to_string(kMaxImageSide) + " pixels");
    if (image.pixels.size() != static_cast<std::size_t>(image.width) * image.height * 3)
        throw EncodeError("the pixel buffer does not hold width x height RGB pixels");
}

}  // namespace

std::vector<std::uint8_t> encode_png(const Image& image) {
    check(image);
    std::vector<std::uint8_t> out;
    if (!stbi_write_png_to_func(append, &out, image.width, image.height, 3, image.pixels.data(), image.width * 3))
        throw EncodeError("PNG encoding failed");
    return out;
}

std::vector<std::uint8_t> encode_jpeg(const Image& image, int quality) {
    check(image);
    if (quality < 1 || quality > 100) throw EncodeError("JPEG quality must be in [1, 100]");
    std::vector<std::uint8_t> out;
    if (!stbi_write_jpg_to_func(append, &out, image.width, image.height, 3, image.pixels.data(), quality))
        throw EncodeError("JPEG encoding failed");
    return out;
}

std::vector<std::uint8_t> encode_image(const Image& image, ImageFormat format, int quality) {
    switch (format) {
        case ImageFormat::jpeg: return encode_jpeg(image, quality);
        case ImageFormat::png: return encode_png(image);
        default: throw EncodeError(std::string("cannot encode ") + std::string(image_format_name(format)));
    }
}

}  // namespace mtcnn
