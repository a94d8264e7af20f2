// Encoding (mtcnn/encode.h): PNG round trips exactly and JPEG closely
// through decode_image, and no output carries metadata: no APP1 (EXIF, XMP)
// or other application segment but JFIF's APP0 in a JPEG, no chunk but
// IHDR, IDAT and IEND in a PNG, even when the photo decoded had an EXIF
// block with GPS tags.
#include "mtcnn/encode.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "mtcnn/image.h"

namespace mtcnn {
namespace {

using Bytes = std::vector<std::uint8_t>;

// Smooth colours with a little noise: what JPEG is made for.
Image picture(int width, int height) {
    Image image;
    image.width = width;
    image.height = height;
    image.pixels.resize(static_cast<std::size_t>(width) * height * 3);
    std::mt19937 rng(3);
    std::uniform_int_distribution<int> jitter(-3, 3);
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            std::uint8_t* p = &image.pixels[(static_cast<std::size_t>(y) * width + x) * 3];
            p[0] = static_cast<std::uint8_t>(std::clamp(x * 200 / width + 20 + jitter(rng), 0, 255));
            p[1] = static_cast<std::uint8_t>(std::clamp(y * 180 / height + 40 + jitter(rng), 0, 255));
            p[2] = static_cast<std::uint8_t>(std::clamp((x + y) * 100 / (width + height) + 90 + jitter(rng), 0, 255));
        }
    return image;
}

Image decode(const Bytes& bytes) { return decode_image(bytes); }

// The markers of a JPEG's segments from SOI up to SOS (the scan follows).
std::vector<int> jpeg_markers(const Bytes& jpeg) {
    std::vector<int> markers;
    if (jpeg.size() < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8) return markers;
    std::size_t pos = 2;
    while (pos + 4 <= jpeg.size() && jpeg[pos] == 0xFF) {
        const int marker = jpeg[pos + 1];
        markers.push_back(marker);
        if (marker == 0xDA) break;  // SOS
        pos += 2 + (static_cast<std::size_t>(jpeg[pos + 2]) << 8 | jpeg[pos + 3]);
    }
    return markers;
}

std::vector<std::string> png_chunks(const Bytes& png) {
    std::vector<std::string> chunks;
    std::size_t pos = 8;
    while (pos + 12 <= png.size()) {
        const std::size_t length = static_cast<std::size_t>(png[pos]) << 24 | png[pos + 1] << 16 | png[pos + 2] << 8 |
                                   png[pos + 3];
        chunks.emplace_back(reinterpret_cast<const char*>(&png[pos + 4]), 4);
        pos += 12 + length;
    }
    return chunks;
}

bool holds(const Bytes& haystack, std::string_view needle) {
    return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) != haystack.end();
}

// An APP1 "Exif" segment (big-endian TIFF) with the orientation tag and a
// GPS IFD pointer, as a phone writes; inserted after SOI.
Bytes with_exif(const Bytes& jpeg, int orientation) {
    Bytes tiff = {'M', 'M', 0, 42, 0, 0, 0, 8,  // header, IFD0 at 8
                  0, 2,                          // two entries
                  0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, static_cast<std::uint8_t>(orientation), 0, 0,  // Orientation
                  0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 38,  // GPSInfo IFD at 38
                  0, 0, 0, 0,                                  // no next IFD
                  0, 1,                                        // GPS IFD: one entry
                  0x00, 0x01, 0, 2, 0, 0, 0, 2, 'N', 0, 0, 0,  // GPSLatitudeRef "N"
                  0, 0, 0, 0};
    Bytes segment = {0xFF, 0xE1};
    const std::size_t length = 2 + 6 + tiff.size();
    segment.push_back(static_cast<std::uint8_t>(length >> 8));
    segment.push_back(static_cast<std::uint8_t>(length));
    for (char c : std::string_view("Exif\0\0", 6)) segment.push_back(static_cast<std::uint8_t>(c));
    segment.insert(segment.end(), tiff.begin(), tiff.end());
    Bytes out(jpeg.begin(), jpeg.begin() + 2);
    out.insert(out.end(), segment.begin(), segment.end());
    out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
    return out;
}

TEST(Encode, PngRoundTripsExactly) {
    for (auto [w, h] : {std::pair{1, 1}, {7, 3}, {64, 48}, {333, 211}}) {
        const Image image = picture(w, h);
        const Bytes png = encode_png(image);
        const Image back = decode(png);
        ASSERT_EQ(back.width, w);
        ASSERT_EQ(back.height, h);
        EXPECT_EQ(back.pixels, image.pixels) << w << "x" << h;
        EXPECT_EQ(probe_image(png).format, ImageFormat::png);
        EXPECT_EQ(png_chunks(png), (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));
    }
}

TEST(Encode, JpegRoundTripsClosely) {
    const Image image = picture(160, 120);
    for (int quality : {75, 90, 95}) {
        const Bytes jpeg = encode_jpeg(image, quality);
        EXPECT_EQ(probe_image(jpeg).format, ImageFormat::jpeg);
        const Image back = decode(jpeg);
        ASSERT_EQ(back.width, 160);
        ASSERT_EQ(back.height, 120);
        double total = 0;
        int worst = 0;
        for (std::size_t i = 0; i < image.pixels.size(); ++i) {
            const int d = std::abs(int(back.pixels[i]) - int(image.pixels[i]));
            total += d;
            worst = std::max(worst, d);
        }
        EXPECT_LT(total / image.pixels.size(), 3.0) << "quality " << quality;
        EXPECT_LT(worst, 40) << "quality " << quality;
    }
    // Higher quality, more bytes.
    EXPECT_LT(encode_jpeg(image, 50).size(), encode_jpeg(image, 95).size());
}

TEST(Encode, NoExifOutEvenWhenItCameIn) {
    const Bytes plain = encode_jpeg(picture(40, 30), 95);
    const Bytes tagged = with_exif(plain, 6);  // rotated 90 degrees, with a GPS IFD
    ASSERT_EQ(jpeg_exif_orientation(tagged), 6);
    ASSERT_TRUE(holds(tagged, std::string_view("Exif\0\0", 6)));
    const Image upright = decode(tagged);
    ASSERT_EQ(upright.width, 30);  // the orientation applied to the pixels
    ASSERT_EQ(upright.height, 40);

    const Bytes jpeg = encode_jpeg(upright);
    const std::vector<int> markers = jpeg_markers(jpeg);
    ASSERT_FALSE(markers.empty());
    EXPECT_EQ(markers.back(), 0xDA) << "the segments up to the scan";
    for (int m : markers) {
        EXPECT_NE(m, 0xE1) << "no APP1 (EXIF, XMP)";
        EXPECT_TRUE(m == 0xE0 || m < 0xE0 || m > 0xEF) << "no application segment but JFIF's APP0: " << m;
        EXPECT_NE(m, 0xFE) << "no comment";
    }
    EXPECT_FALSE(holds(jpeg, "Exif"));
    EXPECT_EQ(jpeg_exif_orientation(jpeg), 1);
    const Image again = decode(jpeg);
    EXPECT_EQ(again.width, 30) << "upright without an orientation tag";
    EXPECT_EQ(again.height, 40);

    const Bytes png = encode_png(upright);
    EXPECT_EQ(png_chunks(png), (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));
    EXPECT_FALSE(holds(png, "Exif"));
}

TEST(Encode, ByFormat) {
    const Image image = picture(8, 8);
    EXPECT_EQ(probe_image(encode_image(image, ImageFormat::png)).format, ImageFormat::png);
    EXPECT_EQ(probe_image(encode_image(image, ImageFormat::jpeg)).format, ImageFormat::jpeg);
    EXPECT_THROW(encode_image(image, ImageFormat::gif), EncodeError);
    EXPECT_THROW(encode_image(image, ImageFormat::bmp), EncodeError);
}

TEST(Encode, RefusesWhatCannotBeEncoded) {
    EXPECT_THROW(encode_png(Image{}), EncodeError);
    Image wrong = picture(4, 4);
    wrong.pixels.pop_back();
    EXPECT_THROW(encode_png(wrong), EncodeError);
    EXPECT_THROW(encode_jpeg(picture(4, 4), 0), EncodeError);
    EXPECT_THROW(encode_jpeg(picture(4, 4), 101), EncodeError);
}

}  // namespace
}  // namespace mtcnn
