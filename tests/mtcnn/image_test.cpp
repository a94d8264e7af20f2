// Photo decoding: formats from magic bytes, conversions to 8-bit RGB, limits
// before decoding, EXIF orientation and its malformed inputs, truncated files,
// and JPEG pixels bit-exact with libjpeg-turbo as OpenCV's imread calls it.
// Every image is built in memory (stb_image_write; libjpeg's own encoder for
// progressive, arithmetic, subsampled, gray and CMYK JPEGs; by hand for GIF,
// 16-bit and palette PNG and flat 4-component JPEG) so that each test states
// the bytes it feeds in; one small JPEG written by cjpeg is embedded with
// djpeg's pixels, and real photos from ../shared are decoded when present.
#include "mtcnn/image.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>  // before jpeglib.h, which names FILE
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <jpeglib.h>
#include <unistd.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>

#include "tests/support/shared_data.h"

namespace mtcnn {
namespace {

using Bytes = std::vector<std::uint8_t>;

// ---------------------------------------------------------------------------
// Builders.

// A pattern in which every pixel and channel differs, so that any misplaced
// pixel shows: (x, y) -> (10 + 40x, 20 + 40y, 30 + 10(x + y)), modulo 256.
Bytes pattern(int width, int height, int channels) {
    Bytes pixels;
    for (int y = 0; y < height; ++y) {
        for (int x = 0; x < width; ++x) {
            const std::array<int, 4> values = {10 + 40 * x, 20 + 40 * y, 30 + 10 * (x + y),
                                               255 - 20 * x};
            for (int c = 0; c < channels; ++c) pixels.push_back(static_cast<std::uint8_t>(values[c]));
        }
    }
    return pixels;
}

void append_to(void* context, void* data, int size) {
    auto* out = static_cast<Bytes*>(context);
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    out->insert(out->end(), bytes, bytes + size);
}

Bytes write_png(int width, int height, int channels, const Bytes& pixels) {
    Bytes out;
    EXPECT_NE(stbi_write_png_to_func(append_to, &out, width, height, channels, pixels.data(),
                                     width * channels),
              0);
    return out;
}

Bytes write_bmp(int width, int height, int channels, const Bytes& pixels) {
    Bytes out;
    EXPECT_NE(stbi_write_bmp_to_func(append_to, &out, width, height, channels, pixels.data()), 0);
    return out;
}

// Quality 100: no chroma subsampling and unit quantisation, so flat areas come
// back within one level (the rounding of the YCbCr round trip).
Bytes write_jpeg(int width, int height, const Bytes& rgb, int quality = 100) {
    Bytes out;
    EXPECT_NE(stbi_write_jpg_to_func(append_to, &out, width, height, 3, rgb.data(), quality), 0);
    return out;
}

void put_be16(Bytes& out, std::uint32_t v) {
    out.push_back(static_cast<std::uint8_t>(v >> 8));
    out.push_back(static_cast<std::uint8_t>(v));
}
void put_be32(Bytes& out, std::uint32_t v) {
    put_be16(out, v >> 16);
    put_be16(out, v & 0xFFFF);
}
void put_le16(Bytes& out, std::uint32_t v) {
    out.push_back(static_cast<std::uint8_t>(v));
    out.push_back(static_cast<std::uint8_t>(v >> 8));
}
void put_text(Bytes& out, std::string_view text) { out.insert(out.end(), text.begin(), text.end()); }

// PNG by hand (RFC 2083): chunks with their CRC-32, the zlib stream made of
// "stored" deflate blocks (no compression) with its Adler-32. Lets us write
// what stb_image_write cannot: 16-bit, palette + tRNS, 1-bit, and lying IHDRs.
std::uint32_t crc32(const std::uint8_t* data, std::size_t size) {
    std::uint32_t crc = 0xFFFFFFFFu;
    for (std::size_t i = 0; i < size; ++i) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return crc ^ 0xFFFFFFFFu;
}

void put_png_chunk(Bytes& out, std::string_view type, const Bytes& data) {
    put_be32(out, static_cast<std::uint32_t>(data.size()));
    const std::size_t start = out.size();
    put_text(out, type);
    out.insert(out.end(), data.begin(), data.end());
    put_be32(out, crc32(out.data() + start, out.size() - start));
}

Bytes zlib_stored(const Bytes& raw) {
    constexpr std::size_t kMaxStored = 65535;
    Bytes out = {0x78, 0x01};
    std::size_t pos = 0;
    do {
        const std::size_t n = std::min(kMaxStored, raw.size() - pos);
        out.push_back(pos + n == raw.size() ? 1 : 0);  // BFINAL, BTYPE 00
        put_le16(out, static_cast<std::uint32_t>(n));
        put_le16(out, static_cast<std::uint32_t>(~n & 0xFFFF));
        out.insert(out.end(), raw.begin() + pos, raw.begin() + pos + n);
        pos += n;
    } while (pos < raw.size());
    std::uint32_t a = 1;
    std::uint32_t b = 0;
    for (std::uint8_t byte : raw) {
        a = (a + byte) % 65521;
        b = (b + a) % 65521;
    }
    put_be32(out, (b << 16) | a);
    return out;
}

struct PngChunk {
    std::string type;
    Bytes data;
};

// `rows`: the scanlines without filter bytes (filter 0 is added).
Bytes make_png(std::uint32_t width, std::uint32_t height, int depth, int color_type,
               const std::vector<Bytes>& rows, const std::vector<PngChunk>& before_idat = {}) {
    Bytes out = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    Bytes ihdr;
    put_be32(ihdr, width);
    put_be32(ihdr, height);
    ihdr.push_back(static_cast<std::uint8_t>(depth));
    ihdr.push_back(static_cast<std::uint8_t>(color_type));
    ihdr.insert(ihdr.end(), {0, 0, 0});
    put_png_chunk(out, "IHDR", ihdr);
    for (const PngChunk& chunk : before_idat) put_png_chunk(out, chunk.type, chunk.data);
    if (!rows.empty()) {
        Bytes raw;
        for (const Bytes& row : rows) {
            raw.push_back(0);
            raw.insert(raw.end(), row.begin(), row.end());
        }
        put_png_chunk(out, "IDAT", zlib_stored(raw));
    }
    put_png_chunk(out, "IEND", {});
    return out;
}

// GIF by hand (GIF89a): 4-colour global table, LZW with minimum code size 2.
// Each frame's indices are sent as literal codes with a clear code after every
// two, so the code size stays at 3 bits and no dictionary entry is ever used.
Bytes gif_lzw(const Bytes& indices) {
    constexpr std::uint32_t kClear = 4;
    constexpr std::uint32_t kEnd = 5;
    constexpr int kCodeBits = 3;
    std::vector<std::uint32_t> codes = {kClear};
    for (std::size_t i = 0; i < indices.size(); ++i) {
        if (i > 0 && i % 2 == 0) codes.push_back(kClear);
        codes.push_back(indices[i]);
    }
    codes.push_back(kEnd);
    Bytes packed;
    std::uint32_t buffer = 0;
    int bits = 0;
    for (std::uint32_t code : codes) {
        buffer |= code << bits;
        bits += kCodeBits;
        while (bits >= 8) {
            packed.push_back(static_cast<std::uint8_t>(buffer));
            buffer >>= 8;
            bits -= 8;
        }
    }
    if (bits > 0) packed.push_back(static_cast<std::uint8_t>(buffer));
    Bytes out = {2};  // minimum code size
    for (std::size_t pos = 0; pos < packed.size(); pos += 255) {
        const std::size_t n = std::min<std::size_t>(255, packed.size() - pos);
        out.push_back(static_cast<std::uint8_t>(n));
        out.insert(out.end(), packed.begin() + pos, packed.begin() + pos + n);
    }
    out.push_back(0);
    return out;
}

constexpr std::array<std::array<std::uint8_t, 3>, 4> kGifPalette = {
    {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}}};

Bytes make_gif(int width, int height, const std::vector<Bytes>& frames, int transparent = -1) {
    Bytes out;
    put_text(out, "GIF89a");
    put_le16(out, width);
    put_le16(out, height);
    out.insert(out.end(), {0x81, 0, 0});  // global table of 2^(1+1) entries
    for (const auto& colour : kGifPalette) out.insert(out.end(), colour.begin(), colour.end());
    for (const Bytes& frame : frames) {
        if (transparent >= 0) {  // graphic control extension
            out.insert(out.end(), {0x21, 0xF9, 4, 0x01, 0, 0, static_cast<std::uint8_t>(transparent), 0});
        }
        out.push_back(0x2C);  // image descriptor
        put_le16(out, 0);
        put_le16(out, 0);
        put_le16(out, width);
        put_le16(out, height);
        out.push_back(0);  // no local table, not interlaced
        const Bytes data = gif_lzw(frame);
        out.insert(out.end(), data.begin(), data.end());
    }
    out.push_back(0x3B);
    return out;
}

// An 8x8 JPEG with one flat block per component, encoded by hand (T.81
// baseline): unit quantisation, a DC table with every category at 4 bits and an
// AC table holding only end-of-block. stb_image_write cannot write the
// 4-component (CMYK/YCCK) files this is for.
Bytes flat_jpeg(const std::vector<int>& values, int adobe_transform) {
    const int n = static_cast<int>(values.size());
    Bytes out = {0xFF, 0xD8};
    if (adobe_transform >= 0) {
        out.insert(out.end(), {0xFF, 0xEE});
        put_be16(out, 14);
        put_text(out, "Adobe");
        out.insert(out.end(), {0x00, 0x64, 0, 0, 0, 0, static_cast<std::uint8_t>(adobe_transform)});
    }
    out.insert(out.end(), {0xFF, 0xDB});
    put_be16(out, 67);
    out.push_back(0);
    out.insert(out.end(), 64, 1);
    out.insert(out.end(), {0xFF, 0xC0});
    put_be16(out, 8 + 3 * n);
    out.push_back(8);
    put_be16(out, 8);
    put_be16(out, 8);
    out.push_back(static_cast<std::uint8_t>(n));
    for (int c = 0; c < n; ++c) out.insert(out.end(), {static_cast<std::uint8_t>(c + 1), 0x11, 0});
    out.insert(out.end(), {0xFF, 0xC4});
    put_be16(out, 2 + 1 + 16 + 12);
    out.push_back(0x00);
    for (int len = 1; len <= 16; ++len) out.push_back(len == 4 ? 12 : 0);
    for (int symbol = 0; symbol < 12; ++symbol) out.push_back(static_cast<std::uint8_t>(symbol));
    out.insert(out.end(), {0xFF, 0xC4});
    put_be16(out, 2 + 1 + 16 + 1);
    out.push_back(0x10);
    for (int len = 1; len <= 16; ++len) out.push_back(len == 1 ? 1 : 0);
    out.push_back(0x00);
    out.insert(out.end(), {0xFF, 0xDA});
    put_be16(out, 6 + 2 * n);
    out.push_back(static_cast<std::uint8_t>(n));
    for (int c = 0; c < n; ++c) out.insert(out.end(), {static_cast<std::uint8_t>(c + 1), 0x00});
    out.insert(out.end(), {0, 63, 0});

    std::uint32_t buffer = 0;
    int bits = 0;
    Bytes scan;
    const auto put_bits = [&](std::uint32_t value, int count) {
        for (int i = count - 1; i >= 0; --i) {
            buffer = (buffer << 1) | ((value >> i) & 1);
            if (++bits == 8) {
                scan.push_back(static_cast<std::uint8_t>(buffer));
                if (buffer == 0xFF) scan.push_back(0);  // byte stuffing
                buffer = 0;
                bits = 0;
            }
        }
    };
    for (int value : values) {
        const int dc = (value - 128) * 8;  // a flat block: pixel = DC / 8 + 128
        int category = 0;
        while ((std::abs(dc) >> category) != 0) ++category;
        put_bits(static_cast<std::uint32_t>(category), 4);
        if (category > 0) put_bits(static_cast<std::uint32_t>(dc >= 0 ? dc : dc + (1 << category) - 1), category);
        put_bits(0, 1);  // end of block
    }
    while (bits != 0) put_bits(1, 1);  // pad with ones
    out.insert(out.end(), scan.begin(), scan.end());
    out.insert(out.end(), {0xFF, 0xD9});
    return out;
}

// libjpeg in the test: an encoder for what stb_image_write cannot write
// (progressive, arithmetic coding, chroma subsampling, gray, RGB, CMYK and
// YCCK files), and a plain reference decoder called the way OpenCV's imread
// calls it. Only valid files go through them, so a libjpeg error here is a
// bug in the test: it aborts, loudly.
[[noreturn]] void abort_on_jpeg_error(j_common_ptr cinfo) {
    char text[JMSG_LENGTH_MAX] = {};
    cinfo->err->format_message(cinfo, text);
    std::fprintf(stderr, "libjpeg error in the test: %s\n", text);
    std::abort();
}

struct JpegSettings {
    std::string name;
    int width = 37;
    int height = 29;
    J_COLOR_SPACE input = JCS_RGB;     // samples handed to the encoder
    J_COLOR_SPACE stored = JCS_YCbCr;  // what the file holds
    int luma_h = 2;  // luma sampling factors (YCbCr files; others keep libjpeg's)
    int luma_v = 2;
    int quality = 85;
    bool progressive = false;
    bool arithmetic = false;
    int restart_rows = 0;
    bool adobe_marker = true;  // 4-component files: write Adobe's APP14
    int components = 0;        // 0: from `input`
};

int channels_of(const JpegSettings& s) {
    if (s.components != 0) return s.components;
    return s.input == JCS_GRAYSCALE ? 1 : s.input == JCS_CMYK ? 4 : 3;
}

// Gradients plus fixed-seed noise: colour edges everywhere, so that chroma
// upsampling, the IDCT and the colour conversion all round somewhere.
Bytes noisy_samples(int width, int height, int channels, unsigned seed = 7) {
    std::mt19937 random(seed);
    std::uniform_int_distribution<int> noise(0, 63);
    Bytes samples;
    for (int y = 0; y < height; ++y) {
        for (int x = 0; x < width; ++x) {
            for (int c = 0; c < channels; ++c) {
                const int value = x * (5 + 3 * c) + y * (11 - 2 * c) + 60 * c + noise(random);
                samples.push_back(static_cast<std::uint8_t>(value));
            }
        }
    }
    return samples;
}

Bytes encode_jpeg(const JpegSettings& s, const Bytes& samples) {
    jpeg_compress_struct cinfo{};
    jpeg_error_mgr error{};
    cinfo.err = jpeg_std_error(&error);
    error.error_exit = abort_on_jpeg_error;
    jpeg_create_compress(&cinfo);
    unsigned char* buffer = nullptr;
    unsigned long size = 0;
    jpeg_mem_dest(&cinfo, &buffer, &size);
    cinfo.image_width = static_cast<JDIMENSION>(s.width);
    cinfo.image_height = static_cast<JDIMENSION>(s.height);
    cinfo.input_components = channels_of(s);
    cinfo.in_color_space = s.input;
    jpeg_set_defaults(&cinfo);
    jpeg_set_colorspace(&cinfo, s.stored);
    jpeg_set_quality(&cinfo, s.quality, TRUE);
    if (s.stored == JCS_YCbCr) {
        cinfo.comp_info[0].h_samp_factor = s.luma_h;
        cinfo.comp_info[0].v_samp_factor = s.luma_v;
    }
    if (!s.adobe_marker) cinfo.write_Adobe_marker = FALSE;
    cinfo.arith_code = s.arithmetic ? TRUE : FALSE;
    cinfo.restart_in_rows = s.restart_rows;
    if (s.progressive) jpeg_simple_progression(&cinfo);
    jpeg_start_compress(&cinfo, TRUE);
    const std::size_t stride = static_cast<std::size_t>(s.width) * channels_of(s);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = const_cast<JSAMPROW>(samples.data() + cinfo.next_scanline * stride);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    const Bytes out(buffer, buffer + size);
    jpeg_destroy_compress(&cinfo);
    std::free(buffer);
    return out;
}

// OpenCV's icvCvt_CMYK2BGR_8u_C4C3R, written out again here: Adobe's inverted
// inks, each channel k - ((255 - c) * k >> 8).
int opencv_cmyk_channel(int c, int k) { return k - (((255 - c) * k) >> 8); }

// What OpenCV's imread gives (in RGB order): libjpeg's defaults (islow IDCT,
// fancy upsampling, no scaling), RGB out, or CMYK out and OpenCV's rule.
Image reference_decode(const Bytes& jpeg) {
    jpeg_decompress_struct cinfo{};
    jpeg_error_mgr error{};
    cinfo.err = jpeg_std_error(&error);
    error.error_exit = abort_on_jpeg_error;
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, jpeg.data(), static_cast<unsigned long>(jpeg.size()));
    jpeg_read_header(&cinfo, TRUE);
    const bool cmyk = cinfo.num_components == 4;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    cinfo.dct_method = JDCT_ISLOW;  // the defaults, said out loud
    cinfo.do_fancy_upsampling = TRUE;
    jpeg_start_decompress(&cinfo);
    Image image;
    image.width = static_cast<int>(cinfo.output_width);
    image.height = static_cast<int>(cinfo.output_height);
    Bytes row(static_cast<std::size_t>(image.width) * cinfo.output_components);
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW rows[1] = {row.data()};
        jpeg_read_scanlines(&cinfo, rows, 1);
        for (int x = 0; x < image.width; ++x) {
            for (int c = 0; c < 3; ++c) {
                image.pixels.push_back(static_cast<std::uint8_t>(
                    cmyk ? opencv_cmyk_channel(row[x * 4 + c], row[x * 4 + 3]) : row[x * 3 + c]));
            }
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return image;
}

// Parameterised test names and failure messages show the encoding's name.
void PrintTo(const JpegSettings& s, std::ostream* os) { *os << s.name; }

// "ok", or where two decodes first differ and in how many values.
std::string compare_pixels(const Image& actual, const Image& expected) {
    if (actual.width != expected.width || actual.height != expected.height) {
        return "size " + std::to_string(actual.width) + "x" + std::to_string(actual.height) +
               " instead of " + std::to_string(expected.width) + "x" +
               std::to_string(expected.height);
    }
    std::size_t differing = 0;
    std::size_t first = 0;
    for (std::size_t i = 0; i < expected.pixels.size(); ++i) {
        if (actual.pixels[i] == expected.pixels[i]) continue;
        if (differing++ == 0) first = i;
    }
    if (differing == 0) return "ok";
    const std::size_t pixel = first / 3;
    const auto width = static_cast<std::size_t>(expected.width);
    return std::to_string(differing) + " values differ, first at (" +
           std::to_string(pixel % width) + "," + std::to_string(pixel / width) + ") channel " +
           std::to_string(first % 3) + ": " + std::to_string(actual.pixels[first]) +
           " instead of " + std::to_string(expected.pixels[first]);
}

// FNV-1a, 64 bits: a whole decoded photo pinned in one number.
std::uint64_t fnv1a(const Bytes& bytes) {
    std::uint64_t hash = 0xCBF29CE484222325u;
    for (std::uint8_t byte : bytes) {
        hash ^= byte;
        hash *= 0x100000001B3u;
    }
    return hash;
}

// EXIF: a TIFF block whose IFD0 holds Make ("abc") then Orientation, in either
// byte order, as cameras write it.
struct TiffWriter {
    bool little_endian;
    Bytes out;
    void u16(std::uint32_t v) {
        if (little_endian) {
            put_le16(out, v);
        } else {
            put_be16(out, v);
        }
    }
    void u32(std::uint32_t v) {
        if (little_endian) {
            u16(v & 0xFFFF);
            u16(v >> 16);
        } else {
            u16(v >> 16);
            u16(v & 0xFFFF);
        }
    }
};

Bytes exif_tiff(bool little_endian, int orientation, std::uint32_t orientation_type = 3,
                std::uint32_t orientation_count = 1, std::uint32_t next_ifd = 0) {
    TiffWriter w{little_endian, {}};
    put_text(w.out, little_endian ? "II" : "MM");
    w.u16(42);
    w.u32(8);
    w.u16(2);
    w.u16(0x010F);  // Make, ASCII, 4 bytes inline
    w.u16(2);
    w.u32(4);
    put_text(w.out, std::string_view("abc\0", 4));
    w.u16(0x0112);
    w.u16(orientation_type);
    w.u32(orientation_count);
    w.u16(static_cast<std::uint32_t>(orientation));  // SHORT, left-justified
    w.u16(0);
    w.u32(next_ifd);
    return w.out;
}
constexpr std::size_t kTiffIfdEnd = 8 + 2 + 2 * 12;  // where the entries end

Bytes app1_segment(const Bytes& payload_after_tag, std::string_view tag = std::string_view("Exif\0\0", 6)) {
    Bytes out = {0xFF, 0xE1};
    put_be16(out, static_cast<std::uint32_t>(2 + tag.size() + payload_after_tag.size()));
    put_text(out, tag);
    out.insert(out.end(), payload_after_tag.begin(), payload_after_tag.end());
    return out;
}

Bytes insert_at(const Bytes& file, std::size_t pos, const Bytes& segment) {
    Bytes out(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(pos));
    out.insert(out.end(), segment.begin(), segment.end());
    out.insert(out.end(), file.begin() + static_cast<std::ptrdiff_t>(pos), file.end());
    return out;
}
constexpr std::size_t kAfterSoi = 2;

Bytes text_bytes(std::string_view text) { return Bytes(text.begin(), text.end()); }

// Offset of the first occurrence of `needle`, or npos.
std::size_t find(const Bytes& haystack, const Bytes& needle) {
    const auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end());
    return it == haystack.end() ? std::string::npos : static_cast<std::size_t>(it - haystack.begin());
}

Image make_image(int width, int height) {
    Image image;
    image.width = width;
    image.height = height;
    image.pixels = pattern(width, height, 3);
    return image;
}

std::array<int, 3> rgb(const Image& image, int x, int y) {
    return {image.at(x, y, 0), image.at(x, y, 1), image.at(x, y, 2)};
}

void expect_near_rgb(const Image& image, int x, int y, std::array<int, 3> expected, int tolerance) {
    for (int c = 0; c < 3; ++c) {
        EXPECT_NEAR(image.at(x, y, c), expected[c], tolerance)
            << "pixel (" << x << "," << y << ") channel " << c;
    }
}

// Runs `f` and reports which of the decoder's typed errors it threw ("ok" when
// none). Any other exception escapes and fails the test.
std::string outcome(const std::function<void()>& f) {
    try {
        f();
        return "ok";
    } catch (const InvalidImage&) {
        return "InvalidImage";
    } catch (const UnsupportedImageFormat&) {
        return "UnsupportedImageFormat";
    } catch (const ImageTooLarge&) {
        return "ImageTooLarge";
    }
}

template <class Error>
std::string message_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    ADD_FAILURE() << "no exception of the expected type";
    return {};
}

// ---------------------------------------------------------------------------
// Formats.

TEST(ImageProbe, FormatsAndSizesFromHeaders) {
    const Bytes png = write_png(7, 5, 3, pattern(7, 5, 3));
    const Bytes bmp = write_bmp(6, 4, 3, pattern(6, 4, 3));
    const Bytes jpeg = write_jpeg(9, 3, pattern(9, 3, 3));
    const Bytes gif = make_gif(3, 2, {{0, 1, 2, 3, 0, 1}});
    struct Case {
        const Bytes& bytes;
        ImageFormat format;
        int width;
        int height;
    };
    for (const Case& c : {Case{png, ImageFormat::png, 7, 5}, Case{bmp, ImageFormat::bmp, 6, 4},
                          Case{jpeg, ImageFormat::jpeg, 9, 3}, Case{gif, ImageFormat::gif, 3, 2}}) {
        const ImageInfo info = probe_image(c.bytes);
        EXPECT_EQ(info.format, c.format) << image_format_name(c.format);
        EXPECT_EQ(info.width, c.width) << image_format_name(c.format);
        EXPECT_EQ(info.height, c.height) << image_format_name(c.format);
    }
    Bytes gif87 = gif;
    gif87[4] = '7';
    EXPECT_EQ(probe_image(gif87).format, ImageFormat::gif);
}

TEST(ImageProbe, ReadsNoPixelData) {
    // A valid IHDR followed by an IDAT of garbage: the probe only needs the
    // header, the decode finds the corruption.
    Bytes png = make_png(4, 3, 8, 2, {});
    const std::size_t iend = png.size() - 12;
    Bytes idat;
    put_png_chunk(idat, "IDAT", {0x78, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF});
    png.insert(png.begin() + static_cast<std::ptrdiff_t>(iend), idat.begin(), idat.end());
    const ImageInfo info = probe_image(png);
    EXPECT_EQ(info.width, 4);
    EXPECT_EQ(info.height, 3);
    EXPECT_THROW(decode_image(png), InvalidImage);
}

TEST(ImageProbe, OtherFormatsAreUnsupported) {
    Bytes tga = {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 24, 0};
    tga.insert(tga.end(), 12, 0x80);
    Bytes zip = {'P', 'K', 3, 4, 20, 0, 0, 0, 8, 0};
    const std::vector<std::pair<std::string, Bytes>> cases = {
        {"PSD", text_bytes(std::string_view("8BPS\0\1\0\0\0\0\0\0\0\3", 14))},
        {"TGA", tga},
        {"HDR", text_bytes("#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 2\n")},
        {"PNM", text_bytes("P6\n2 2\n255\n............")},
        {"PGM", text_bytes("P5 1 1 255 x")},
        {"text", text_bytes("hello, this is not an image")},
        {"HTML", text_bytes("<!DOCTYPE html><html><body>hi</body></html>")},
        {"PDF", text_bytes("%PDF-1.4\n%\xE2\xE3\xCF\xD3\n")},
        {"zip", zip},
        {"WebP", text_bytes(std::string_view("RIFF\x24\0\0\0WEBPVP8 ", 16))},
        {"TIFF", text_bytes(std::string_view("II*\0\x08\0\0\0", 8))},
        {"JPEG without the third FF", Bytes{0xFF, 0xD8, 0x00, 0x10}},
        {"PNG signature damaged", Bytes{0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x00, 0, 0}},
        {"GIF90a", text_bytes("GIF90a\1\0\1\0\0\0\0")},
        {"one byte", Bytes{0x42}},
    };
    for (const auto& [name, bytes] : cases) {
        EXPECT_THROW(probe_image(bytes), UnsupportedImageFormat) << name;
        EXPECT_THROW(decode_image(bytes), UnsupportedImageFormat) << name;
    }
    EXPECT_NE(message_of<UnsupportedImageFormat>([&] { probe_image(cases[0].second); }).find("JPEG, PNG"),
              std::string::npos);
}

TEST(ImageProbe, EmptyInputIsInvalidNotUnsupported) {
    const Bytes empty;
    EXPECT_THROW(probe_image(empty), InvalidImage);
    EXPECT_THROW(decode_image(empty), InvalidImage);
    EXPECT_NE(message_of<InvalidImage>([&] { decode_image(empty); }).find("empty"), std::string::npos);
}

TEST(ImageProbe, UnreadableHeadersAreInvalid) {
    // The magic alone, or a header cut before its size fields, is a supported
    // format whose header cannot be read.
    const Bytes png = write_png(4, 4, 3, pattern(4, 4, 3));
    const Bytes bmp = write_bmp(4, 4, 3, pattern(4, 4, 3));
    const Bytes gif = make_gif(2, 2, {{0, 1, 2, 3}});
    const auto cut = [](const Bytes& file, std::size_t size) {
        return Bytes(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(size));
    };
    for (std::size_t size : {8, 12, 20, 23}) EXPECT_THROW(probe_image(cut(png, size)), InvalidImage) << size;
    for (std::size_t size : {2, 10, 14, 20}) EXPECT_THROW(probe_image(cut(bmp, size)), InvalidImage) << size;
    for (std::size_t size : {6, 7, 8}) EXPECT_THROW(probe_image(cut(gif, size)), InvalidImage) << size;
    // stb's GIF header reader takes missing flag bytes for zeros: the probe
    // of a GIF cut after its size passes, the decode refuses it.
    EXPECT_EQ(probe_image(cut(gif, 10)).width, 2);
    EXPECT_THROW(decode_image(cut(gif, 10)), InvalidImage);
    EXPECT_THROW(probe_image(Bytes{0xFF, 0xD8, 0xFF}), InvalidImage);
    EXPECT_THROW(probe_image(text_bytes("BM this is text")), InvalidImage);
    // Zero-sized PNG and GIF.
    EXPECT_THROW(probe_image(make_png(0, 5, 8, 2, {})), InvalidImage);
    EXPECT_THROW(probe_image(make_gif(0, 0, {})), InvalidImage);
    // Bad PNG bit depth: a readable but invalid header.
    EXPECT_THROW(probe_image(make_png(4, 4, 7, 2, {})), InvalidImage);
    EXPECT_NE(message_of<InvalidImage>([&] { probe_image(cut(png, 12)); }).find("PNG"),
              std::string::npos);
}

// ---------------------------------------------------------------------------
// Decoding and conversion to 8-bit RGB.

TEST(ImageDecode, PngAndBmpAreExact) {
    const Bytes rgb = pattern(5, 4, 3);
    for (const Bytes& file : {write_png(5, 4, 3, rgb), write_bmp(5, 4, 3, rgb)}) {
        const Image image = decode_image(file);
        EXPECT_EQ(image.width, 5);
        EXPECT_EQ(image.height, 4);
        EXPECT_EQ(image.pixels, rgb);
    }
}

// A negative BMP height means rows stored top-down (BITMAPINFOHEADER, as
// Windows' DIBs and many encoders write them). Such files were refused as
// empty images, because stb's info call reports the height as stored (found
// while making tests/fuzz's seed corpus).
TEST(ImageDecode, TopDownBmpIsDecoded) {
    constexpr int kWidth = 5;
    constexpr int kHeight = 4;
    const Bytes rgb = pattern(kWidth, kHeight, 3);
    const Bytes bottom_up = write_bmp(kWidth, kHeight, 3, rgb);
    constexpr std::size_t kDataOffsetField = 10;
    constexpr std::size_t kHeightField = 22;
    const std::size_t data = bottom_up[kDataOffsetField] | bottom_up[kDataOffsetField + 1] << 8;
    const std::size_t stride = (kWidth * 3 + 3) / 4 * 4;
    ASSERT_EQ(bottom_up.size(), data + stride * kHeight);
    Bytes top_down = bottom_up;
    for (int y = 0; y < kHeight; ++y) {
        std::copy_n(bottom_up.begin() + static_cast<std::ptrdiff_t>(data + stride * (kHeight - 1 - y)), stride,
                    top_down.begin() + static_cast<std::ptrdiff_t>(data + stride * y));
    }
    const auto negative = static_cast<std::uint32_t>(-kHeight);
    for (std::size_t i = 0; i < 4; ++i) top_down[kHeightField + i] = static_cast<std::uint8_t>(negative >> (8 * i));

    const ImageInfo info = probe_image(top_down);
    EXPECT_EQ(info.width, kWidth);
    EXPECT_EQ(info.height, kHeight);
    const Image image = decode_image(top_down);
    EXPECT_EQ(image.width, kWidth);
    EXPECT_EQ(image.height, kHeight);
    EXPECT_EQ(image.pixels, rgb);
    // The most negative height has no positive counterpart: still refused.
    for (std::size_t i = 0; i < 4; ++i) top_down[kHeightField + i] = i == 3 ? 0x80 : 0;
    EXPECT_THROW(probe_image(top_down), InvalidImage);
}

TEST(ImageDecode, JpegIsCloseAndUpright) {
    // Four 8x8 flat blocks: JPEG keeps flat blocks nearly exact, within one
    // level with libjpeg (stb's decoder needed a tolerance of 4).
    constexpr int kSide = 16;
    const std::array<std::array<int, 3>, 4> colours = {
        {{200, 30, 40}, {20, 180, 60}, {30, 40, 210}, {230, 230, 20}}};
    Bytes rgb;
    for (int y = 0; y < kSide; ++y) {
        for (int x = 0; x < kSide; ++x) {
            const auto& colour = colours[(y / 8) * 2 + x / 8];
            rgb.insert(rgb.end(), colour.begin(), colour.end());
        }
    }
    const Image image = decode_image(write_jpeg(kSide, kSide, rgb));
    ASSERT_EQ(image.width, kSide);
    ASSERT_EQ(image.height, kSide);
    expect_near_rgb(image, 3, 3, colours[0], 1);
    expect_near_rgb(image, 12, 3, colours[1], 1);
    expect_near_rgb(image, 3, 12, colours[2], 1);
    expect_near_rgb(image, 12, 12, colours[3], 1);
}

TEST(ImageDecode, GrayPngBecomesRgb) {
    const Bytes gray = pattern(4, 3, 1);
    const Image image = decode_image(write_png(4, 3, 1, gray));
    ASSERT_EQ(image.pixels.size(), 4u * 3u * 3u);
    for (int y = 0; y < 3; ++y) {
        for (int x = 0; x < 4; ++x) {
            const int g = gray[static_cast<std::size_t>(y * 4 + x)];
            EXPECT_EQ(rgb(image, x, y), (std::array<int, 3>{g, g, g}));
        }
    }
}

TEST(ImageDecode, AlphaIsDroppedNotComposited) {
    // RGBA with alpha 0, 128 and 255: the stored colour comes out unchanged.
    Bytes rgba = pattern(3, 2, 4);
    rgba[3] = 0;
    rgba[7] = 128;
    const Image image = decode_image(write_png(3, 2, 4, rgba));
    for (int i = 0; i < 6; ++i) {
        for (int c = 0; c < 3; ++c) {
            EXPECT_EQ(image.pixels[static_cast<std::size_t>(i * 3 + c)],
                      rgba[static_cast<std::size_t>(i * 4 + c)]);
        }
    }
    // Gray + alpha.
    const Bytes gray_alpha = {10, 0, 200, 255};
    const Image ga = decode_image(write_png(2, 1, 2, gray_alpha));
    EXPECT_EQ(rgb(ga, 0, 0), (std::array<int, 3>{10, 10, 10}));
    EXPECT_EQ(rgb(ga, 1, 0), (std::array<int, 3>{200, 200, 200}));
}

TEST(ImageDecode, PalettePngWithTransparency) {
    const Bytes plte = {255, 0, 0, 0, 128, 0, 1, 2, 3};
    const Bytes trns = {0, 255, 128};
    const Bytes png = make_png(3, 1, 8, 3, {{2, 0, 1}}, {{"PLTE", plte}, {"tRNS", trns}});
    const Image image = decode_image(png);
    ASSERT_EQ(image.width, 3);
    EXPECT_EQ(rgb(image, 0, 0), (std::array<int, 3>{1, 2, 3}));
    EXPECT_EQ(rgb(image, 1, 0), (std::array<int, 3>{255, 0, 0}));  // alpha 0: colour kept
    EXPECT_EQ(rgb(image, 2, 0), (std::array<int, 3>{0, 128, 0}));
}

TEST(ImageDecode, SixteenBitPngKeepsTheHighByte) {
    // RGB, 16 bits a sample, big-endian.
    const Bytes row = {0x12, 0x34, 0xAB, 0xCD, 0xFF, 0xFF, 0x00, 0x01, 0x80, 0x00, 0x7F, 0xFF};
    const Image image = decode_image(make_png(2, 1, 16, 2, {row}));
    EXPECT_EQ(rgb(image, 0, 0), (std::array<int, 3>{0x12, 0xAB, 0xFF}));
    EXPECT_EQ(rgb(image, 1, 0), (std::array<int, 3>{0x00, 0x80, 0x7F}));
    // Gray + alpha, 16 bits.
    const Image ga = decode_image(make_png(1, 1, 16, 4, {{0xC8, 0x00, 0x00, 0x00}}));
    EXPECT_EQ(rgb(ga, 0, 0), (std::array<int, 3>{0xC8, 0xC8, 0xC8}));
    // 1-bit gray scales to 0 / 255.
    const Image bits = decode_image(make_png(3, 1, 1, 0, {{0b10100000}}));
    EXPECT_EQ(rgb(bits, 0, 0), (std::array<int, 3>{255, 255, 255}));
    EXPECT_EQ(rgb(bits, 1, 0), (std::array<int, 3>{0, 0, 0}));
    EXPECT_EQ(rgb(bits, 2, 0), (std::array<int, 3>{255, 255, 255}));
}

TEST(ImageDecode, GifGivesItsFirstFrame) {
    const Bytes first = {0, 1, 2, 3, 2, 1};
    const Bytes second = {3, 3, 3, 0, 0, 0};
    const Image image = decode_image(make_gif(3, 2, {first, second}));
    ASSERT_EQ(image.width, 3);
    ASSERT_EQ(image.height, 2);
    for (int i = 0; i < 6; ++i) {
        const auto& colour = kGifPalette[first[static_cast<std::size_t>(i)]];
        EXPECT_EQ(rgb(image, i % 3, i / 3),
                  (std::array<int, 3>{colour[0], colour[1], colour[2]}))
            << "pixel " << i;
    }
}

TEST(ImageDecode, GifTransparentPixelsAreBlack) {
    // stb paints the first frame over a transparent black canvas; with alpha
    // dropped, transparent pixels come out black.
    const Image image = decode_image(make_gif(2, 1, {{1, 3}}, 3));
    EXPECT_EQ(rgb(image, 0, 0), (std::array<int, 3>{0, 255, 0}));
    EXPECT_EQ(rgb(image, 1, 0), (std::array<int, 3>{0, 0, 0}));
}

TEST(ImageDecode, OnePixelImages) {
    const Bytes pixel = {12, 34, 56};
    const std::vector<Bytes> files = {write_png(1, 1, 3, pixel), write_bmp(1, 1, 3, pixel),
                                      write_jpeg(1, 1, pixel), make_gif(1, 1, {{2}})};
    for (const Bytes& file : files) {
        const Image image = decode_image(file);
        EXPECT_EQ(image.width, 1);
        EXPECT_EQ(image.height, 1);
        EXPECT_EQ(image.pixels.size(), 3u);
    }
    EXPECT_EQ(decode_image(files[0]).pixels, pixel);
    expect_near_rgb(decode_image(files[2]), 0, 0, {12, 34, 56}, 1);
    EXPECT_EQ(rgb(decode_image(files[3]), 0, 0), (std::array<int, 3>{0, 0, 255}));
}

// ---------------------------------------------------------------------------
// JPEG: bit-exact with libjpeg-turbo as OpenCV calls it, and its variants.

// One encoding per row: every sampling layout cameras write, gray, RGB and
// 4-component files, progressive and arithmetic coding, restart markers, and
// sizes that are not whole MCUs.
class ImageJpegBitExact : public ::testing::TestWithParam<JpegSettings> {};

TEST_P(ImageJpegBitExact, SameAsThePlainLibjpegDecode) {
    const JpegSettings& s = GetParam();
    const Bytes jpeg = encode_jpeg(s, noisy_samples(s.width, s.height, channels_of(s)));
    // The file is the variant it claims to be (frame marker: T.81 table B.1).
    const std::uint8_t frame = s.arithmetic ? (s.progressive ? 0xCA : 0xC9)
                                            : (s.progressive ? 0xC2 : 0xC0);
    ASSERT_NE(find(jpeg, {0xFF, frame}), std::string::npos) << std::hex << int{frame};
    const Image decoded = decode_image(jpeg);
    EXPECT_EQ(compare_pixels(decoded, reference_decode(jpeg)), "ok");
}

INSTANTIATE_TEST_SUITE_P(
    Encodings, ImageJpegBitExact,
    ::testing::Values(
        JpegSettings{.name = "ycc420"},
        JpegSettings{.name = "ycc422", .luma_h = 2, .luma_v = 1},
        JpegSettings{.name = "ycc440", .luma_h = 1, .luma_v = 2},
        JpegSettings{.name = "ycc444", .luma_h = 1, .luma_v = 1},
        JpegSettings{.name = "ycc411", .luma_h = 4, .luma_v = 1},
        JpegSettings{.name = "ycc420_q100", .quality = 100},
        JpegSettings{.name = "ycc420_q30", .quality = 30},
        JpegSettings{.name = "ycc420_1x1", .width = 1, .height = 1},
        JpegSettings{.name = "ycc420_131x3", .width = 131, .height = 3},
        JpegSettings{.name = "ycc420_3x67", .width = 3, .height = 67},
        JpegSettings{.name = "gray", .input = JCS_GRAYSCALE, .stored = JCS_GRAYSCALE},
        JpegSettings{.name = "rgb_stored", .stored = JCS_RGB},
        JpegSettings{.name = "progressive420", .progressive = true},
        JpegSettings{.name = "progressive_gray", .input = JCS_GRAYSCALE,
                     .stored = JCS_GRAYSCALE, .progressive = true},
        JpegSettings{.name = "arithmetic420", .arithmetic = true},
        JpegSettings{.name = "arithmetic_progressive444", .luma_h = 1, .luma_v = 1,
                     .progressive = true, .arithmetic = true},
        JpegSettings{.name = "restarts420", .restart_rows = 1},
        JpegSettings{.name = "cmyk", .input = JCS_CMYK, .stored = JCS_CMYK},
        JpegSettings{.name = "cmyk_progressive", .input = JCS_CMYK, .stored = JCS_CMYK,
                     .progressive = true},
        JpegSettings{.name = "cmyk_without_adobe", .input = JCS_CMYK, .stored = JCS_CMYK,
                     .adobe_marker = false},
        JpegSettings{.name = "ycck", .input = JCS_CMYK, .stored = JCS_YCCK}),
    [](const auto& info) { return info.param.name; });

// The same quantised coefficients however they are coded: progressive and
// arithmetic files give the baseline file's pixels.
TEST(ImageJpegVariants, ProgressiveAndArithmeticGiveTheBaselinePixels) {
    const Bytes samples = noisy_samples(45, 23, 3, 11);
    const JpegSettings base{.name = "baseline", .width = 45, .height = 23};
    const Image baseline = decode_image(encode_jpeg(base, samples));
    for (const auto& [progressive, arithmetic] :
         {std::pair{true, false}, std::pair{false, true}, std::pair{true, true}}) {
        JpegSettings s = base;
        s.progressive = progressive;
        s.arithmetic = arithmetic;
        EXPECT_EQ(compare_pixels(decode_image(encode_jpeg(s, samples)), baseline), "ok")
            << "progressive " << progressive << ", arithmetic " << arithmetic;
    }
}

// 13x11, 4:2:0, written by libjpeg-turbo 2.1.5's cjpeg (-quality 75 -optimize)
// from pixel (x, y) = ((37x + 11y) % 256, (5x + 29y + 80) % 256, (7xy + 30) % 256),
// and the RGB that its djpeg decodes from it: known answers from outside this
// code. stb_image gets 31 of these 429 values wrong.
constexpr std::array<std::uint8_t, 432> kCjpegFile = {
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0xFF, 0xDB, 0x00, 0x43, 0x00, 0x08, 0x06, 0x06, 0x07, 0x06, 0x05, 0x08,
    0x07, 0x07, 0x07, 0x09, 0x09, 0x08, 0x0A, 0x0C, 0x14, 0x0D, 0x0C, 0x0B, 0x0B, 0x0C, 0x19, 0x12,
    0x13, 0x0F, 0x14, 0x1D, 0x1A, 0x1F, 0x1E, 0x1D, 0x1A, 0x1C, 0x1C, 0x20, 0x24, 0x2E, 0x27, 0x20,
    0x22, 0x2C, 0x23, 0x1C, 0x1C, 0x28, 0x37, 0x29, 0x2C, 0x30, 0x31, 0x34, 0x34, 0x34, 0x1F, 0x27,
    0x39, 0x3D, 0x38, 0x32, 0x3C, 0x2E, 0x33, 0x34, 0x32, 0xFF, 0xDB, 0x00, 0x43, 0x01, 0x09, 0x09,
    0x09, 0x0C, 0x0B, 0x0C, 0x18, 0x0D, 0x0D, 0x18, 0x32, 0x21, 0x1C, 0x21, 0x32, 0x32, 0x32, 0x32,
    0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32,
    0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32,
    0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0xFF, 0xC0,
    0x00, 0x11, 0x08, 0x00, 0x0B, 0x00, 0x0D, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11,
    0x01, 0xFF, 0xC4, 0x00, 0x15, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x03, 0xFF, 0xC4, 0x00, 0x27, 0x10, 0x00, 0x01, 0x03,
    0x03, 0x02, 0x04, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03,
    0x11, 0x04, 0x05, 0x12, 0x00, 0x21, 0x06, 0x13, 0x31, 0x41, 0x22, 0x51, 0x61, 0x81, 0x82, 0x91,
    0xA1, 0xFF, 0xC4, 0x00, 0x15, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0xFF, 0xC4, 0x00, 0x20, 0x11, 0x01, 0x00, 0x02,
    0x00, 0x05, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x11,
    0x00, 0x03, 0x04, 0x31, 0x91, 0x12, 0x21, 0x61, 0x71, 0xB1, 0xFF, 0xDA, 0x00, 0x0C, 0x03, 0x01,
    0x00, 0x02, 0x11, 0x03, 0x11, 0x00, 0x3F, 0x00, 0x9D, 0x23, 0xBC, 0x2D, 0x6E, 0xB2, 0xD5, 0xAD,
    0xCA, 0xB0, 0xEA, 0xD2, 0x92, 0xDA, 0x5B, 0x6D, 0xA5, 0x12, 0xE2, 0x8E, 0xD0, 0x93, 0x18, 0x9E,
    0xE4, 0x6F, 0x1B, 0x75, 0x8D, 0xF4, 0xA6, 0x38, 0x86, 0xCF, 0x47, 0x46, 0xD7, 0x22, 0xD6, 0xAF,
    0x14, 0xC8, 0xAB, 0x71, 0x2D, 0x1D, 0xA3, 0xA4, 0x65, 0x3D, 0x7D, 0x3D, 0xF4, 0x05, 0x53, 0x32,
    0x9A, 0x3B, 0x73, 0x61, 0xB4, 0xE0, 0x73, 0x59, 0x11, 0xDC, 0x01, 0x07, 0xF4, 0xFD, 0xE9, 0xD7,
    0x4A, 0x66, 0x72, 0xA6, 0x6B, 0x96, 0x30, 0x0C, 0x85, 0x80, 0x3C, 0xC9, 0x20, 0x99, 0xF8, 0x8D,
    0x4A, 0xE4, 0xE9, 0xE3, 0x02, 0x28, 0xAB, 0x4B, 0x7E, 0xBC, 0x57, 0xDE, 0x70, 0x25, 0xA8, 0xC8,
    0xD1, 0x2C, 0xD1, 0x9F, 0x40, 0x00, 0xB4, 0x5B, 0xDD, 0xDA, 0x9D, 0x9E, 0x4C, 0x7F, 0xFF, 0xD9,
};
constexpr std::array<std::uint8_t, 13 * 11 * 3> kDjpegPixels = {
    0, 73, 17, 26, 97, 37, 45, 104, 38, 79, 100, 23, 151, 104, 16, 188, 120, 37, 158, 112, 52, 85,
    77, 31, 63, 103, 66, 64, 122, 74, 98, 135, 65, 126, 141, 58, 159, 144, 63,
    38, 118, 49, 25, 96, 28, 72, 128, 63, 117, 137, 66, 156, 118, 33, 184, 132, 49, 185, 161, 99,
    106, 115, 68, 78, 125, 93, 93, 154, 112, 111, 161, 88, 143, 169, 82, 199, 189, 102,
    44, 127, 35, 60, 132, 50, 86, 134, 74, 146, 164, 104, 180, 161, 82, 177, 159, 77, 190, 211, 142,
    84, 132, 82, 100, 162, 139, 102, 171, 140, 136, 210, 135, 176, 226, 131, 192, 192, 94,
    41, 134, 19, 110, 191, 88, 105, 162, 85, 136, 167, 97, 182, 187, 105, 192, 210, 126, 163, 231,
    158, 97, 181, 131, 128, 192, 175, 155, 208, 188, 149, 199, 146, 183, 204, 139, 246, 203, 150,
    99, 206, 68, 84, 181, 52, 127, 205, 96, 151, 207, 108, 179, 215, 119, 210, 255, 174, 74, 189,
    114, 108, 225, 173, 145, 202, 185, 183, 195, 191, 226, 212, 199, 247, 182, 186, 184, 47, 93,
    93, 173, 52, 142, 211, 105, 143, 193, 120, 202, 231, 175, 222, 230, 179, 233, 255, 220, 105,
    207, 167, 0, 54, 33, 19, 42, 58, 81, 48, 77, 113, 41, 61, 177, 66, 99, 208, 54, 118,
    176, 186, 125, 48, 45, 14, 83, 56, 87, 108, 57, 116, 149, 71, 129, 137, 87, 136, 1, 34, 67, 21,
    58, 102, 87, 55, 131, 121, 37, 115, 174, 54, 100, 220, 101, 120, 156, 66, 66,
    62, 35, 14, 94, 54, 65, 119, 51, 128, 141, 49, 158, 187, 79, 181, 85, 6, 95, 44, 42, 107, 59,
    64, 128, 124, 70, 156, 168, 69, 149, 197, 66, 110, 198, 91, 101, 81, 54, 27,
    87, 59, 56, 102, 57, 78, 161, 84, 152, 181, 91, 179, 191, 106, 189, 89, 33, 104, 76, 71, 127,
    94, 97, 142, 132, 97, 139, 169, 98, 130, 199, 92, 110, 214, 142, 146, 71, 101, 89,
    106, 77, 59, 137, 90, 96, 186, 98, 156, 202, 116, 189, 152, 107, 162, 93, 81, 121, 91, 104, 136,
    105, 120, 141, 124, 113, 127, 169, 134, 140, 199, 134, 130, 184, 155, 141, 63, 133, 109,
    122, 95, 24, 167, 118, 85, 204, 107, 152, 213, 135, 197, 89, 100, 120, 73, 125, 121, 91, 138,
    130, 99, 138, 133, 122, 146, 150, 166, 175, 174, 180, 172, 153, 124, 142, 102, 56, 148, 85,
};

TEST(ImageJpegVariants, MatchesDjpegOnAFileFromCjpeg) {
    const Bytes jpeg(kCjpegFile.begin(), kCjpegFile.end());
    Image expected;
    expected.width = 13;
    expected.height = 11;
    expected.pixels.assign(kDjpegPixels.begin(), kDjpegPixels.end());
    EXPECT_EQ(compare_pixels(decode_image(jpeg), expected), "ok");
    EXPECT_EQ(compare_pixels(reference_decode(jpeg), expected), "ok") << "the test's own reference";
}

TEST(ImageJpegVariants, FlatJpegEncoderIsSound) {
    // The hand encoder on ordinary 1- and 3-component files, before trusting
    // it for CMYK: unit quantisation, flat blocks, so exact.
    const Image gray = decode_image(flat_jpeg({100}, -1));
    EXPECT_EQ(rgb(gray, 4, 4), (std::array<int, 3>{100, 100, 100}));
    const Image ycc = decode_image(flat_jpeg({128, 128, 128}, -1));
    EXPECT_EQ(rgb(ycc, 0, 0), (std::array<int, 3>{128, 128, 128}));
}

TEST(ImageJpegVariants, AdobeCmykAndYcckFollowOpenCv) {
    // Adobe CMYK stores inverted inks (255 = no ink); OpenCV's rule is
    // R = K - ((255 - C) K >> 8), truncating, so no ink at all stays 255 and
    // full ink on full K leaves 1.
    const Image cmyk = decode_image(flat_jpeg({255, 128, 0, 255}, 0));
    ASSERT_EQ(cmyk.width, 8);
    EXPECT_EQ(rgb(cmyk, 2, 5), (std::array<int, 3>{255, 129, 1}));
    const Image darker = decode_image(flat_jpeg({255, 128, 0, 128}, 0));
    EXPECT_EQ(rgb(darker, 2, 5), (std::array<int, 3>{128, 65, 1}));
    // YCCK: libjpeg turns YCC (128, 128, 128) into CMY 127 each, K kept.
    const Image ycck = decode_image(flat_jpeg({128, 128, 128, 255}, 2));
    EXPECT_EQ(rgb(ycck, 7, 7), (std::array<int, 3>{128, 128, 128}));
}

TEST(ImageJpegVariants, FourComponentsWithoutAdobeTransformAsLibjpegReadsThem) {
    // No APP14: libjpeg (and so OpenCV) takes the components for CMYK, as if
    // Adobe's transform 0 were there. A transform that means nothing for four
    // components (1, or 7): libjpeg warns and assumes YCCK.
    const std::vector<int> inks = {255, 128, 0, 200};
    const Bytes cmyk = flat_jpeg(inks, 0);
    EXPECT_EQ(probe_image(flat_jpeg(inks, -1)).width, 8);
    EXPECT_EQ(decode_image(flat_jpeg(inks, -1)).pixels, decode_image(cmyk).pixels);
    EXPECT_EQ(decode_image(flat_jpeg(inks, 1)).pixels, decode_image(flat_jpeg(inks, 2)).pixels);
    EXPECT_EQ(decode_image(flat_jpeg(inks, 7)).pixels, decode_image(flat_jpeg(inks, 2)).pixels);
}

TEST(ImageJpegVariants, TwoComponentsAreUnsupported) {
    // Neither gray, YCbCr nor CMYK: libjpeg has no RGB conversion for it.
    const JpegSettings s{.name = "two", .width = 8, .height = 8, .input = JCS_UNKNOWN,
                         .stored = JCS_UNKNOWN, .components = 2};
    const Bytes jpeg = encode_jpeg(s, noisy_samples(8, 8, 2));
    EXPECT_EQ(probe_image(jpeg).width, 8);
    const std::string message = message_of<UnsupportedImageFormat>([&] { decode_image(jpeg); });
    EXPECT_NE(message.find("2 colour components"), std::string::npos) << message;
}

TEST(ImageJpegVariants, LosslessHierarchicalAnd12BitAreUnsupported) {
    const Bytes jpeg = write_jpeg(8, 8, pattern(8, 8, 3));
    const std::size_t sof = find(jpeg, {0xFF, 0xC0, 0x00, 0x11, 0x08});
    ASSERT_NE(sof, std::string::npos);
    // SOF3 lossless, SOF5-7 hierarchical, SOF11 lossless arithmetic, SOF13-15
    // hierarchical arithmetic: refused at the frame header, by probe and decode.
    for (std::uint8_t marker : {0xC3, 0xC5, 0xC6, 0xC7, 0xCB, 0xCD, 0xCE, 0xCF}) {
        Bytes patched = jpeg;
        patched[sof + 1] = marker;
        EXPECT_THROW(probe_image(patched), UnsupportedImageFormat) << std::hex << int{marker};
        EXPECT_THROW(decode_image(patched), UnsupportedImageFormat) << std::hex << int{marker};
    }
    Bytes lossless = jpeg;
    lossless[sof + 1] = 0xC3;
    EXPECT_NE(message_of<UnsupportedImageFormat>([&] { decode_image(lossless); }).find("lossless"),
              std::string::npos);
    Bytes twelve = jpeg;
    twelve[sof + 4] = 12;
    EXPECT_NE(message_of<UnsupportedImageFormat>([&] { decode_image(twelve); }).find("12-bit"),
              std::string::npos);
    // Extended sequential (SOF1) is decoded like baseline.
    Bytes extended = jpeg;
    extended[sof + 1] = 0xC1;
    EXPECT_EQ(decode_image(extended).pixels, decode_image(jpeg).pixels);
}

TEST(ImageJpegVariants, ExtraneousBytesBetweenSegmentsAreDecodedThrough) {
    // libjpeg warns ("Corrupt JPEG data: 3 extraneous bytes before marker")
    // and decodes the same pixels, as OpenCV did.
    const Bytes jpeg = encode_jpeg({.name = "junk"}, noisy_samples(37, 29, 3));
    const Bytes junk = insert_at(jpeg, jpeg.size() - 2, Bytes{0x12, 0x34, 0x56});
    EXPECT_EQ(decode_image(junk).pixels, decode_image(jpeg).pixels);
}

TEST(ImageJpegVariants, RandomDamageAnywhereNeverEscapes) {
    // Fixed seed: random byte changes anywhere in baseline, progressive and
    // arithmetic files (headers, tables, scans). Each decode either succeeds or
    // throws one of the three typed errors, and libjpeg's longjmp out of any
    // depth leaks nothing (the sanitizer build checks reads and leaks).
    const Bytes samples = noisy_samples(40, 24, 3, 5);
    std::mt19937 random(20240602);
    for (const auto& [progressive, arithmetic] :
         {std::pair{false, false}, std::pair{true, false}, std::pair{false, true},
          std::pair{true, true}}) {
        const JpegSettings s{.name = "damaged", .width = 40, .height = 24,
                             .progressive = progressive, .arithmetic = arithmetic};
        const Bytes jpeg = encode_jpeg(s, samples);
        std::uniform_int_distribution<std::size_t> position(2, jpeg.size() - 1);
        std::uniform_int_distribution<int> value(0, 255);
        std::map<std::string, int> outcomes;
        for (int trial = 0; trial < 400; ++trial) {
            Bytes damaged = jpeg;
            for (int i = 0; i < 3; ++i) {
                damaged[position(random)] = static_cast<std::uint8_t>(value(random));
            }
            ++outcomes[outcome([&] { decode_image(damaged); })];
        }
        EXPECT_GT(outcomes["ok"], 0) << "progressive " << progressive << ", arithmetic " << arithmetic;
        EXPECT_GT(outcomes["InvalidImage"], 0) << "progressive " << progressive << ", arithmetic "
                                               << arithmetic;
    }
}

TEST(ImageJpegVariants, WorstHonestProgressiveFileFitsTheMemoryBudget) {
    // Four full-resolution components, progressive: libjpeg keeps 8 bytes of
    // coefficients a pixel (32 MB here) until the last scan, more than the
    // budget's fixed part, so a budget that forgot them would refuse it.
    constexpr int kSide = 2048;
    const JpegSettings s{.name = "big", .width = kSide, .height = kSide, .input = JCS_CMYK,
                         .stored = JCS_CMYK, .quality = 50, .progressive = true};
    Bytes samples(static_cast<std::size_t>(kSide) * kSide * 4);
    for (std::size_t i = 0; i < samples.size(); ++i) {
        samples[i] = static_cast<std::uint8_t>(i * 7 / 5);
    }
    const Image image = decode_image(encode_jpeg(s, samples));
    EXPECT_EQ(image.width, kSide);
    EXPECT_EQ(image.height, kSide);
}

// ---------------------------------------------------------------------------
// Limits: checked on the header, before any pixel is decoded.

TEST(ImageLimits, PixelCountAboveTheLimit) {
    const Bytes png = write_png(100, 100, 3, pattern(100, 100, 3));
    EXPECT_THROW(decode_image(png, DecodeLimits{9999}), ImageTooLarge);
    EXPECT_NO_THROW(decode_image(png, DecodeLimits{10000}));
    const std::string message = message_of<ImageTooLarge>([&] { decode_image(png, DecodeLimits{9999}); });
    EXPECT_NE(message.find("100x100"), std::string::npos) << message;
    EXPECT_NE(message.find("9999"), std::string::npos) << message;
}

TEST(ImageLimits, HugeDeclaredPngIsTooLargeNotInvalid) {
    // A few dozen bytes claiming 60000x60000 and holding no image data at
    // all: the probe reports the declared size (stb itself refuses the header
    // as "too large"), and the decode refuses it on the limit, never reaching
    // the missing data.
    const Bytes png = make_png(60000, 60000, 8, 2, {});
    EXPECT_LT(png.size(), 100u);
    const ImageInfo info = probe_image(png);
    EXPECT_EQ(info.format, ImageFormat::png);
    EXPECT_EQ(info.width, 60000);
    EXPECT_EQ(info.height, 60000);
    const std::string message = message_of<ImageTooLarge>([&] { decode_image(png); });
    EXPECT_NE(message.find("60000x60000"), std::string::npos) << message;
    EXPECT_NE(message.find("50000000"), std::string::npos) << message;
    // Within the pixel limit but wider than any side we decode.
    EXPECT_THROW(decode_image(make_png(70000, 1, 8, 2, {})), ImageTooLarge);
    EXPECT_THROW(decode_image(make_png(70000, 1, 8, 2, {}), DecodeLimits{1'000'000'000}),
                 ImageTooLarge);
}

TEST(ImageLimits, HardPixelCapOverridesLargerLimits) {
    // 12000x12000 = 144 M pixels: stb would accept the header, our cap does not.
    const Bytes png = make_png(12000, 12000, 8, 2, {});
    EXPECT_EQ(probe_image(png).width, 12000);
    EXPECT_THROW(decode_image(png, DecodeLimits{1'000'000'000}), ImageTooLarge);
    const std::string message =
        message_of<ImageTooLarge>([&] { decode_image(png, DecodeLimits{1'000'000'000}); });
    EXPECT_NE(message.find(std::to_string(kMaxImagePixels)), std::string::npos) << message;
}

TEST(ImageLimits, HugeDeclaredJpegBmpAndGif) {
    // JPEG: patch the frame header of a real file to 65535x65535.
    Bytes jpeg = write_jpeg(8, 8, pattern(8, 8, 3));
    const std::size_t sof = find(jpeg, {0xFF, 0xC0, 0x00, 0x11, 0x08});
    ASSERT_NE(sof, std::string::npos);
    for (std::size_t i = 5; i < 9; ++i) jpeg[sof + i] = 0xFF;
    EXPECT_EQ(probe_image(jpeg).width, 65535);
    EXPECT_THROW(decode_image(jpeg), ImageTooLarge);
    // Within kMaxImageSide but above libjpeg's own 65500: still a size, not
    // corruption, whatever the limits.
    Bytes wide = write_jpeg(8, 8, pattern(8, 8, 3));
    wide[sof + 5] = 0x00;  // height 1
    wide[sof + 6] = 0x01;
    wide[sof + 7] = 0xFF;  // width 65501
    wide[sof + 8] = 0xDD;
    EXPECT_EQ(probe_image(wide).width, 65501);
    EXPECT_EQ(probe_image(wide).height, 1);
    const std::string message =
        message_of<ImageTooLarge>([&] { decode_image(wide, DecodeLimits{1'000'000'000}); });
    EXPECT_NE(message.find("65501x1"), std::string::npos) << message;
    // BMP: width and height fields of the info header.
    Bytes bmp = write_bmp(2, 2, 3, pattern(2, 2, 3));
    for (std::size_t offset : {std::size_t{18}, std::size_t{22}}) {
        bmp[offset] = 0xA0;
        bmp[offset + 1] = 0x86;
        bmp[offset + 2] = 0x01;  // 100000
        bmp[offset + 3] = 0;
    }
    EXPECT_THROW(decode_image(bmp), ImageTooLarge);
    // GIF: the logical screen is 16-bit, so at most 65535x65535.
    Bytes gif = make_gif(2, 2, {{0, 1, 2, 3}});
    for (std::size_t i = 6; i < 10; ++i) gif[i] = 0xFF;
    EXPECT_THROW(decode_image(gif), ImageTooLarge);
}

TEST(ImageLimits, BmpHeaderOfUnknownSizeDeclaresNoSize) {
    // Only a DIB header stb reads (12, 40, 56, 108 or 124 bytes) has its
    // sizes believed: otherwise a huge "size" is corruption, not ImageTooLarge.
    Bytes bmp = write_bmp(2, 2, 3, pattern(2, 2, 3));
    for (std::size_t i = 18; i < 26; ++i) bmp[i] = 0x7F;  // 2139062143 a side
    EXPECT_EQ(outcome([&] { decode_image(bmp); }), "ImageTooLarge");
    for (const std::uint8_t dib_size : {0, 39, 41, 64}) {
        bmp[14] = dib_size;
        EXPECT_EQ(outcome([&] { decode_image(bmp); }), "InvalidImage") << int{dib_size};
    }
}

// ---------------------------------------------------------------------------
// EXIF orientation.

// Stored 3x2 image, pixels named a..f:   a b c
//                                        d e f
// and what a viewer must see for each orientation (Exif 2.2: where the stored
// row 0 and column 0 are shown), written out by hand.
TEST(ImageExif, ApplyOrientationPixelExact) {
    const Image stored = make_image(3, 2);
    const auto px = [&](char name) {
        const int i = name - 'a';
        return rgb(stored, i % 3, i / 3);
    };
    struct Case {
        int orientation;
        int width;
        int height;
        std::string rows;  // row-major names of the expected output
    };
    const std::vector<Case> cases = {
        {1, 3, 2, "abcdef"}, {2, 3, 2, "cbafed"}, {3, 3, 2, "fedcba"}, {4, 3, 2, "defabc"},
        {5, 2, 3, "adbecf"}, {6, 2, 3, "daebfc"}, {7, 2, 3, "fcebda"}, {8, 2, 3, "cfbead"},
    };
    for (const Case& c : cases) {
        const Image out = apply_exif_orientation(stored, c.orientation);
        ASSERT_EQ(out.width, c.width) << c.orientation;
        ASSERT_EQ(out.height, c.height) << c.orientation;
        ASSERT_EQ(out.pixels.size(), stored.pixels.size());
        for (int i = 0; i < c.width * c.height; ++i) {
            EXPECT_EQ(rgb(out, i % c.width, i / c.width), px(c.rows[static_cast<std::size_t>(i)]))
                << "orientation " << c.orientation << " pixel " << i;
        }
    }
}

TEST(ImageExif, OrientationsComposeAsExpected) {
    const Image stored = make_image(5, 3);
    // Rotating 90 clockwise four times, or mirroring twice, is the identity;
    // 6 then 8 cancel.
    Image turned = stored;
    for (int i = 0; i < 4; ++i) turned = apply_exif_orientation(turned, 6);
    EXPECT_EQ(turned.pixels, stored.pixels);
    EXPECT_EQ(apply_exif_orientation(apply_exif_orientation(stored, 2), 2).pixels, stored.pixels);
    EXPECT_EQ(apply_exif_orientation(apply_exif_orientation(stored, 6), 8).pixels, stored.pixels);
    EXPECT_EQ(apply_exif_orientation(apply_exif_orientation(stored, 6), 6).pixels,
              apply_exif_orientation(stored, 3).pixels);
}

TEST(ImageExif, OutOfRangeOrientationsLeaveTheImage) {
    const Image stored = make_image(4, 2);
    for (int orientation : {-1, 0, 1, 9, 255}) {
        const Image out = apply_exif_orientation(stored, orientation);
        EXPECT_EQ(out.width, 4);
        EXPECT_EQ(out.pixels, stored.pixels);
    }
    Image broken = make_image(4, 2);
    broken.pixels.pop_back();
    EXPECT_THROW(apply_exif_orientation(broken, 6), std::invalid_argument);
}

class ImageExifOrientation : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(ImageExifOrientation, DecodedJpegIsUpright) {
    const auto [orientation, little_endian] = GetParam();
    const Bytes plain = write_jpeg(6, 4, pattern(6, 4, 3));
    const Bytes tagged = insert_at(plain, kAfterSoi, app1_segment(exif_tiff(little_endian, orientation)));
    EXPECT_EQ(jpeg_exif_orientation(plain), 1);
    EXPECT_EQ(jpeg_exif_orientation(tagged), orientation);
    // The probe reports the stored size.
    EXPECT_EQ(probe_image(tagged).width, 6);
    const Image decoded = decode_image(tagged);
    const Image expected = apply_exif_orientation(decode_image(plain), orientation);
    EXPECT_EQ(decoded.width, orientation >= 5 ? 4 : 6);
    EXPECT_EQ(decoded.width, expected.width);
    EXPECT_EQ(decoded.height, expected.height);
    EXPECT_EQ(decoded.pixels, expected.pixels);
    // The same segment after the JFIF APP0 that stb_image_write writes.
    const std::size_t after_app0 = kAfterSoi + 2 + (std::size_t{plain[4]} << 8 | plain[5]);
    ASSERT_EQ(plain[3], 0xE0);
    const Bytes later = insert_at(plain, after_app0, app1_segment(exif_tiff(little_endian, orientation)));
    EXPECT_EQ(jpeg_exif_orientation(later), orientation);
}

INSTANTIATE_TEST_SUITE_P(AllOrientations, ImageExifOrientation,
                         ::testing::Combine(::testing::Range(1, 9), ::testing::Bool()),
                         [](const auto& info) {
                             return "orientation" + std::to_string(std::get<0>(info.param)) +
                                    (std::get<1>(info.param) ? "_II" : "_MM");
                         });

TEST(ImageExif, OnlyJpegIsOriented) {
    // An "Exif" APP1 means nothing outside a JPEG; a PNG is never rotated.
    const Bytes png = write_png(3, 2, 3, pattern(3, 2, 3));
    EXPECT_EQ(jpeg_exif_orientation(png), 1);
    EXPECT_EQ(decode_image(png).width, 3);
}

TEST(ImageExif, MarkerWalkVariants) {
    const Bytes plain = write_jpeg(4, 4, pattern(4, 4, 3));
    const Bytes exif6 = app1_segment(exif_tiff(true, 6));
    // Fill bytes before the marker.
    Bytes filled = exif6;
    filled.insert(filled.begin(), {0xFF, 0xFF});
    EXPECT_EQ(jpeg_exif_orientation(insert_at(plain, kAfterSoi, filled)), 6);
    // An XMP APP1 first, then EXIF.
    const Bytes xmp = app1_segment(text_bytes("<x:xmpmeta/>"), std::string_view("http://ns.adobe.com/xap/1.0/\0", 29));
    Bytes xmp_then_exif = xmp;
    xmp_then_exif.insert(xmp_then_exif.end(), exif6.begin(), exif6.end());
    EXPECT_EQ(jpeg_exif_orientation(insert_at(plain, kAfterSoi, xmp_then_exif)), 6);
    // Two EXIF blocks: the first one counts.
    Bytes two = exif6;
    const Bytes exif3 = app1_segment(exif_tiff(false, 3));
    two.insert(two.end(), exif3.begin(), exif3.end());
    EXPECT_EQ(jpeg_exif_orientation(insert_at(plain, kAfterSoi, two)), 6);
    // EXIF after the start of scan is image data, not metadata.
    const std::size_t sos = find(plain, {0xFF, 0xDA});
    ASSERT_NE(sos, std::string::npos);
    EXPECT_EQ(jpeg_exif_orientation(insert_at(plain, sos, Bytes{0xFF, 0xD9})), 1);
    Bytes after_eoi = plain;
    after_eoi.insert(after_eoi.end(), exif6.begin(), exif6.end());
    EXPECT_EQ(jpeg_exif_orientation(after_eoi), 1);
    // "Exif" without its two NULs.
    EXPECT_EQ(jpeg_exif_orientation(insert_at(plain, kAfterSoi, app1_segment(exif_tiff(true, 6), "Exif"))), 1);
    // Not a JPEG at all, or nothing after SOI.
    EXPECT_EQ(jpeg_exif_orientation(Bytes{}), 1);
    EXPECT_EQ(jpeg_exif_orientation(Bytes{0xFF, 0xD8}), 1);
    EXPECT_EQ(jpeg_exif_orientation(Bytes{0xFF, 0xD8, 0xFF}), 1);
    EXPECT_EQ(jpeg_exif_orientation(Bytes{0xFF, 0xD8, 0xFF, 0xFF, 0xFF}), 1);
}

TEST(ImageExif, MalformedBlocksMeanUpright) {
    const Bytes plain = write_jpeg(4, 4, pattern(4, 4, 3));
    const auto orientation_of_tiff = [&](const Bytes& tiff) {
        return jpeg_exif_orientation(insert_at(plain, kAfterSoi, app1_segment(tiff)));
    };
    for (bool le : {true, false}) {
        const Bytes good = exif_tiff(le, 6);
        ASSERT_EQ(orientation_of_tiff(good), 6);
        // Truncated TIFF block (the APP1 length agrees with the cut): upright
        // until the whole IFD0 is present, even without its next-IFD pointer.
        for (std::size_t size = 0; size <= good.size(); ++size) {
            const Bytes cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(size));
            EXPECT_EQ(orientation_of_tiff(cut), size >= kTiffIfdEnd ? 6 : 1) << "size " << size;
        }
        const auto patched = [&](std::size_t offset, std::initializer_list<std::uint8_t> bytes) {
            Bytes tiff = good;
            std::copy(bytes.begin(), bytes.end(), tiff.begin() + static_cast<std::ptrdiff_t>(offset));
            return orientation_of_tiff(tiff);
        };
        TiffWriter w{le, {}};
        const auto bytes16 = [&](std::uint32_t v) {
            w.out.clear();
            w.u16(v);
            return w.out;
        };
        const auto bytes32 = [&](std::uint32_t v) {
            w.out.clear();
            w.u32(v);
            return w.out;
        };
        const auto patch = [&](std::size_t offset, const Bytes& bytes) {
            Bytes tiff = good;
            std::copy(bytes.begin(), bytes.end(), tiff.begin() + static_cast<std::ptrdiff_t>(offset));
            return orientation_of_tiff(tiff);
        };
        EXPECT_EQ(patched(0, {'I', 'M'}), 1) << "byte order";
        EXPECT_EQ(patched(0, {le ? std::uint8_t{'M'} : std::uint8_t{'I'}, le ? std::uint8_t{'M'} : std::uint8_t{'I'}}), 1)
            << "wrong byte order";
        EXPECT_EQ(patch(2, bytes16(43)), 1) << "magic";
        for (std::uint32_t ifd : {0u, 4u, 7u, static_cast<std::uint32_t>(good.size()),
                                  static_cast<std::uint32_t>(good.size() - 1), 0xFFFFFFF0u, 0xFFFFFFFFu}) {
            EXPECT_EQ(patch(4, bytes32(ifd)), 1) << "IFD0 offset " << ifd;
        }
        EXPECT_EQ(patch(8, bytes16(3)), 1) << "count beyond the block";
        EXPECT_EQ(patch(8, bytes16(0xFFFF)), 1) << "huge count";
        EXPECT_EQ(patch(8, bytes16(1)), 1) << "count stops before the tag";
        EXPECT_EQ(patch(8, bytes16(0)), 1) << "empty IFD";
        EXPECT_EQ(orientation_of_tiff(exif_tiff(le, 6, 4)), 1) << "LONG instead of SHORT";
        EXPECT_EQ(orientation_of_tiff(exif_tiff(le, 6, 3, 2)), 1) << "count 2";
        EXPECT_EQ(orientation_of_tiff(exif_tiff(le, 6, 3, 0)), 1) << "count 0";
        EXPECT_EQ(orientation_of_tiff(exif_tiff(le, 0)), 1) << "value 0";
        EXPECT_EQ(orientation_of_tiff(exif_tiff(le, 9)), 1) << "value 9";
        EXPECT_EQ(orientation_of_tiff(exif_tiff(le, 0x0600)), 1) << "value 0x0600";
        // Loops: IFD0's next-IFD pointer to itself, or to the header. Only
        // IFD0 is read, so neither is followed.
        EXPECT_EQ(orientation_of_tiff(exif_tiff(le, 6, 3, 1, 8)), 6);
        EXPECT_EQ(orientation_of_tiff(exif_tiff(le, 6, 3, 1, 0)), 6);
        Bytes no_tag = exif_tiff(le, 6, 3, 1, 8);
        const Bytes make_tag = bytes16(0x010F);
        std::copy(make_tag.begin(), make_tag.end(), no_tag.begin() + 22);  // 2nd entry's tag
        EXPECT_EQ(orientation_of_tiff(no_tag), 1);
    }
}

TEST(ImageExif, MalformedSegmentsMeanUpright) {
    const Bytes plain = write_jpeg(4, 4, pattern(4, 4, 3));
    const Bytes exif = app1_segment(exif_tiff(true, 6));
    // APP1 length shorter than itself, pointing past the end, or cut short.
    for (std::uint32_t length : {0u, 1u, 0xFFFFu, static_cast<std::uint32_t>(exif.size() + 100)}) {
        Bytes segment = exif;
        segment[2] = static_cast<std::uint8_t>(length >> 8);
        segment[3] = static_cast<std::uint8_t>(length);
        // Standalone, so that a length past the end really is past the end.
        Bytes file = {0xFF, 0xD8};
        file.insert(file.end(), segment.begin(), segment.end());
        EXPECT_EQ(jpeg_exif_orientation(file), 1) << "length " << length;
    }
    // A length that makes the segment end early leaves the TIFF block short.
    Bytes short_segment = exif;
    short_segment[3] = static_cast<std::uint8_t>(short_segment[3] - 8);
    EXPECT_EQ(jpeg_exif_orientation(insert_at(plain, kAfterSoi, short_segment)), 1);
    // Garbage instead of a marker before the EXIF segment ends the walk.
    Bytes garbage = {0x12, 0x34};
    garbage.insert(garbage.end(), exif.begin(), exif.end());
    EXPECT_EQ(jpeg_exif_orientation(insert_at(plain, kAfterSoi, garbage)), 1);
    // Every prefix of a tagged file: 6 once the segment is whole, 1 before.
    const Bytes tagged = insert_at(plain, kAfterSoi, exif);
    for (std::size_t size = 0; size <= tagged.size(); ++size) {
        const Bytes cut(tagged.begin(), tagged.begin() + static_cast<std::ptrdiff_t>(size));
        EXPECT_EQ(jpeg_exif_orientation(cut), size >= kAfterSoi + exif.size() ? 6 : 1) << size;
    }
}

TEST(ImageExif, RandomDamageNeverEscapes) {
    // Fixed seed: random byte changes in the first 120 bytes (markers, EXIF,
    // tables) of a tagged JPEG. The orientation stays in 1..8, and decoding
    // either succeeds or throws one of the three typed errors (outcome() lets
    // any other exception fail the test); the sanitizer build checks bounds.
    const Bytes tagged = insert_at(write_jpeg(16, 16, pattern(16, 16, 3)), kAfterSoi,
                                   app1_segment(exif_tiff(false, 8)));
    std::mt19937 random(20240601);
    std::uniform_int_distribution<std::size_t> position(0, 119);
    std::uniform_int_distribution<int> value(0, 255);
    std::uniform_int_distribution<int> changes(1, 4);
    int decoded = 0;
    for (int trial = 0; trial < 2000; ++trial) {
        Bytes damaged = tagged;
        for (int i = changes(random); i > 0; --i) {
            damaged[position(random)] = static_cast<std::uint8_t>(value(random));
        }
        const int orientation = jpeg_exif_orientation(damaged);
        EXPECT_GE(orientation, 1);
        EXPECT_LE(orientation, 8);
        if (outcome([&] { decode_image(damaged); }) == "ok") ++decoded;
    }
    EXPECT_GT(decoded, 0);
}

// ---------------------------------------------------------------------------
// Truncated files: what stb (PNG, BMP, GIF) and libjpeg (JPEG) really do,
// pinned.

TEST(ImageTruncated, JpegCutInItsHeadersIsInvalid) {
    const Bytes jpeg = write_jpeg(32, 32, pattern(32, 32, 3));
    const std::size_t sos = find(jpeg, {0xFF, 0xDA});
    ASSERT_NE(sos, std::string::npos);
    for (std::size_t size : {std::size_t{4}, std::size_t{20}, std::size_t{100}, sos, sos + 6}) {
        const Bytes cut(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(size));
        EXPECT_THROW(decode_image(cut), InvalidImage) << size;
    }
}

TEST(ImageTruncated, JpegWithoutItsEndIsInvalid) {
    // libjpeg reaches the end of the data before the end-of-image marker
    // (JWRN_JPEG_EOF; it would paint the rest grey): a file cut in its scan
    // data, or missing only the final FF D9, is refused rather than decoded in
    // part.
    constexpr int kSide = 64;
    const Bytes jpeg = write_jpeg(kSide, kSide, pattern(kSide, kSide, 3), 90);
    ASSERT_EQ(jpeg[jpeg.size() - 2], 0xFF);
    ASSERT_EQ(jpeg[jpeg.size() - 1], 0xD9);
    const std::size_t sos = find(jpeg, {0xFF, 0xDA});
    for (std::size_t size : {sos + (jpeg.size() - sos) / 2, jpeg.size() - 2, jpeg.size() - 1}) {
        const Bytes cut(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(size));
        EXPECT_EQ(probe_image(cut).width, kSide) << "the header is whole";
        EXPECT_THROW(decode_image(cut), InvalidImage) << size;
    }
    const std::string message = message_of<InvalidImage>([&] {
        decode_image(Bytes(jpeg.begin(), jpeg.end() - 2));
    });
    EXPECT_NE(message.find("JPEG"), std::string::npos) << message;
    // Bytes after the end marker are ignored.
    Bytes trailing = jpeg;
    trailing.insert(trailing.end(), 100, 0xAB);
    EXPECT_EQ(decode_image(trailing).pixels, decode_image(jpeg).pixels);
}

TEST(ImageTruncated, ProgressiveAndArithmeticJpegCutAreInvalid) {
    // A progressive file is read whole before the first row comes out: cut
    // between two scans, or within one, it is refused all the same.
    for (const auto& [progressive, arithmetic] :
         {std::pair{true, false}, std::pair{false, true}, std::pair{true, true}}) {
        const JpegSettings s{.name = "cut", .width = 48, .height = 40, .progressive = progressive,
                             .arithmetic = arithmetic};
        const Bytes jpeg = encode_jpeg(s, noisy_samples(48, 40, 3));
        const std::size_t sos = find(jpeg, {0xFF, 0xDA});
        ASSERT_NE(sos, std::string::npos);
        for (std::size_t size = sos + 20; size < jpeg.size(); size += 37) {
            const Bytes cut(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(size));
            EXPECT_EQ(outcome([&] { decode_image(cut); }), "InvalidImage")
                << "progressive " << progressive << ", arithmetic " << arithmetic << ", cut at "
                << size << " of " << jpeg.size();
        }
        EXPECT_EQ(outcome([&] { decode_image(Bytes(jpeg.begin(), jpeg.end() - 2)); }),
                  "InvalidImage");
    }
}

TEST(ImageTruncated, PngCutAnywhereIsInvalid) {
    const Bytes png = write_png(16, 16, 3, pattern(16, 16, 3));
    const std::size_t idat = find(png, text_bytes("IDAT"));
    ASSERT_NE(idat, std::string::npos);
    for (std::size_t size = 9; size < png.size(); size += 7) {
        const Bytes cut(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(size));
        const std::string result = outcome([&] { decode_image(cut); });
        EXPECT_EQ(result, "InvalidImage") << "cut at " << size << " of " << png.size();
    }
    // Missing only the IEND chunk.
    const Bytes no_iend(png.begin(), png.end() - 12);
    EXPECT_EQ(outcome([&] { decode_image(no_iend); }), "InvalidImage");
    // Bytes after IEND are ignored.
    Bytes trailing = png;
    trailing.insert(trailing.end(), 50, 0xCD);
    EXPECT_EQ(decode_image(trailing).pixels, pattern(16, 16, 3));
}

// A JPEG's frame header said to be `height` rows (SOF0 or SOF2).
Bytes with_jpeg_height(Bytes jpeg, int height) {
    std::size_t sof = find(jpeg, {0xFF, 0xC0});
    if (sof == std::string::npos) sof = find(jpeg, {0xFF, 0xC2});
    EXPECT_NE(sof, std::string::npos);
    jpeg[sof + 5] = static_cast<std::uint8_t>(height >> 8);
    jpeg[sof + 6] = static_cast<std::uint8_t>(height);
    return jpeg;
}

TEST(ImageTruncated, JpegScanEndingRowsEarlyIsInvalid) {
    // A file cut in its scan data and given its end marker back, or a frame
    // header declaring more than the data holds: libjpeg meets the marker
    // with rows of MCUs to go (JWRN_HIT_MARKER) and would paint them grey.
    // It is refused like a file cut without its marker (over HTTP a 512x384
    // photo declared 1900x1900 was answered 200: tests/server/hostile_test.py).
    constexpr int kSide = 64;  // 4:2:0: four rows of 16x16 MCUs
    for (const bool progressive : {false, true}) {
        const JpegSettings s{.name = "rows", .width = kSide, .height = kSide, .progressive = progressive};
        const Bytes jpeg = encode_jpeg(s, noisy_samples(kSide, kSide, 3));
        const std::size_t sos = find(jpeg, {0xFF, 0xDA});
        ASSERT_NE(sos, std::string::npos);
        Bytes half(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(sos + (jpeg.size() - sos) / 2));
        while (half.back() == 0xFF) half.pop_back();
        half.insert(half.end(), {0xFF, 0xD9});
        EXPECT_EQ(outcome([&] { decode_image(half); }), "InvalidImage") << "progressive " << progressive;
        EXPECT_EQ(outcome([&] { decode_image(with_jpeg_height(jpeg, 4 * kSide)); }), "InvalidImage")
            << "progressive " << progressive;
    }
    const JpegSettings s{.name = "rows", .width = kSide, .height = kSide};
    const Bytes jpeg = encode_jpeg(s, noisy_samples(kSide, kSide, 3));
    const std::string message = message_of<InvalidImage>([&] { decode_image(with_jpeg_height(jpeg, 200)); });
    EXPECT_NE(message.find("premature end of data segment"), std::string::npos) << message;
    // Within the last row of MCUs the scan may end early ("a few bits", as
    // encoders write): one more row declared than coded is decoded through,
    // the rows above it as the honest file's.
    const Image honest = decode_image(jpeg);
    const Image taller = decode_image(with_jpeg_height(jpeg, kSide + 16));
    ASSERT_EQ(taller.height, kSide + 16);
    constexpr std::size_t kSameRows = kSide - 16;  // upsampling reads the row below
    EXPECT_TRUE(std::equal(honest.pixels.begin(), honest.pixels.begin() + kSameRows * kSide * 3,
                           taller.pixels.begin()));
    // So are restart intervals cut short: that interval is lost, not the photo.
    const JpegSettings restarts{.name = "restarts", .width = kSide, .height = kSide, .restart_rows = 1};
    Bytes damaged = encode_jpeg(restarts, noisy_samples(kSide, kSide, 3));
    const std::size_t rst1 = find(damaged, {0xFF, 0xD1});
    ASSERT_NE(rst1, std::string::npos);
    damaged.erase(damaged.begin() + static_cast<std::ptrdiff_t>(rst1) - 40,
                  damaged.begin() + static_cast<std::ptrdiff_t>(rst1));
    EXPECT_EQ(outcome([&] { decode_image(damaged); }), "ok");
}

TEST(ImageTruncated, BmpCutAnywhereIsInvalid) {
    // stb reads the missing bytes as zeros: a BMP cut in its rows decoded,
    // the rest black, and was answered 200 (tests/server/hostile_test.py).
    const Bytes bmp = write_bmp(9, 7, 3, pattern(9, 7, 3));
    ASSERT_EQ(decode_image(bmp).pixels, pattern(9, 7, 3));
    for (std::size_t size = 2; size < bmp.size(); ++size) {
        const Bytes cut(bmp.begin(), bmp.begin() + static_cast<std::ptrdiff_t>(size));
        EXPECT_EQ(outcome([&] { decode_image(cut); }), "InvalidImage") << "cut at " << size << " of " << bmp.size();
    }
    const std::string message = message_of<InvalidImage>([&] { decode_image(Bytes(bmp.begin(), bmp.end() - 1)); });
    EXPECT_NE(message.find("truncated BMP"), std::string::npos) << message;
    // Bytes after the last row are ignored.
    Bytes trailing = bmp;
    trailing.insert(trailing.end(), 40, 0xEE);
    EXPECT_EQ(decode_image(trailing).pixels, pattern(9, 7, 3));
}

TEST(ImageTruncated, GifCutInItsFirstFrameIsInvalid) {
    // As for BMP, stb painted a GIF cut in its first frame black where the
    // data was missing. Cut after the first frame, it decodes: later frames
    // are never read.
    const Bytes first = {0, 1, 2, 3, 2, 1};
    for (const int transparent : {-1, 3}) {  // 3: a graphic control extension before each frame
        const Bytes one = make_gif(3, 2, {first}, transparent);
        const Bytes two = make_gif(3, 2, {first, {3, 3, 3, 0, 0, 0}}, transparent);
        const std::size_t first_end = one.size() - 1;  // all but the trailer
        ASSERT_TRUE(std::equal(one.begin(), one.begin() + static_cast<std::ptrdiff_t>(first_end), two.begin()));
        const Bytes expected = decode_image(one).pixels;
        for (std::size_t size = 6; size < two.size(); ++size) {
            const Bytes cut(two.begin(), two.begin() + static_cast<std::ptrdiff_t>(size));
            if (size < first_end) {
                EXPECT_EQ(outcome([&] { decode_image(cut); }), "InvalidImage") << "cut at " << size;
            } else {
                EXPECT_EQ(decode_image(cut).pixels, expected) << "cut at " << size;
            }
        }
        const std::string message =
            message_of<InvalidImage>([&] { decode_image(Bytes(one.begin(), one.end() - 3)); });
        EXPECT_NE(message.find("truncated GIF"), std::string::npos) << message;
    }
}

TEST(ImageTruncated, EveryPrefixOfEveryFormatIsHandled) {
    // No crash, no other exception, for every cut (the sanitizer build checks
    // the reads).
    const std::vector<Bytes> files = {write_png(9, 7, 4, pattern(9, 7, 4)),
                                      write_bmp(9, 7, 3, pattern(9, 7, 3)),
                                      write_jpeg(9, 7, pattern(9, 7, 3), 80),
                                      make_gif(3, 2, {{0, 1, 2, 3, 2, 1}, {3, 3, 3, 0, 0, 0}}),
                                      flat_jpeg({255, 128, 0, 255}, 0)};
    for (const Bytes& file : files) {
        for (std::size_t size = 0; size <= file.size(); ++size) {
            const Bytes cut(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(size));
            const std::string result = outcome([&] { decode_image(cut); });
            EXPECT_NE(result, "ImageTooLarge") << size;
        }
    }
}

// ---------------------------------------------------------------------------
// Files.

std::filesystem::path temp_path(const std::string& name) {
    return std::filesystem::temp_directory_path() /
           ("image_test_" + std::to_string(::getpid()) + "_" + name);
}

TEST(ImageFile, LoadsAFile) {
    const Bytes png = write_png(3, 2, 3, pattern(3, 2, 3));
    const std::filesystem::path path = temp_path("ok.png");
    {
        std::ofstream out(path, std::ios::binary);
        out.write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
    }
    const Image image = load_image_file(path.string());
    EXPECT_EQ(image.pixels, pattern(3, 2, 3));
    std::filesystem::remove(path);
}

TEST(ImageFile, ErrorsNameThePath) {
    const std::string missing = temp_path("missing.jpg").string();
    std::string message = message_of<InvalidImage>([&] { load_image_file(missing); });
    EXPECT_NE(message.find(missing), std::string::npos) << message;
    const std::string directory = std::filesystem::temp_directory_path().string();
    message = message_of<InvalidImage>([&] { load_image_file(directory); });
    EXPECT_NE(message.find(directory), std::string::npos) << message;

    const std::filesystem::path text = temp_path("notes.jpg");
    {
        std::ofstream out(text);
        out << "not an image";
    }
    message = message_of<UnsupportedImageFormat>([&] { load_image_file(text.string()); });
    EXPECT_NE(message.find(text.string()), std::string::npos) << message;
    const std::filesystem::path empty = temp_path("empty.png");
    { std::ofstream out(empty); }
    EXPECT_THROW(load_image_file(empty.string()), InvalidImage);
    const std::filesystem::path big = temp_path("big.png");
    {
        const Bytes png = write_png(100, 100, 3, pattern(100, 100, 3));
        std::ofstream out(big, std::ios::binary);
        out.write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
    }
    EXPECT_THROW(load_image_file(big.string(), DecodeLimits{9999}), ImageTooLarge);
    std::filesystem::remove(text);
    std::filesystem::remove(empty);
    std::filesystem::remove(big);
}

// ---------------------------------------------------------------------------
// Concurrency: stb's failure reason is per thread, every JPEG decode has its
// own libjpeg decompressor and error manager (and its own setjmp), nothing
// else is shared.

TEST(ImageThreads, ConcurrentDecodesAgree) {
    const Bytes png = write_png(40, 30, 3, pattern(40, 30, 3));
    const Bytes jpeg = insert_at(write_jpeg(40, 30, pattern(40, 30, 3)), kAfterSoi,
                                 app1_segment(exif_tiff(true, 6)));
    Bytes corrupt = png;
    corrupt.resize(png.size() / 2);
    const Bytes cut_jpeg(jpeg.begin(), jpeg.end() - 40);
    const Image png_ref = decode_image(png);
    const Image jpeg_ref = decode_image(jpeg);
    const std::string corrupt_ref = message_of<InvalidImage>([&] { decode_image(corrupt); });
    const std::string cut_jpeg_ref = message_of<InvalidImage>([&] { decode_image(cut_jpeg); });
    std::vector<std::thread> threads;
    std::vector<int> failures(4, 0);
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i) {
                if (decode_image(png).pixels != png_ref.pixels) ++failures[t];
                if (decode_image(jpeg).pixels != jpeg_ref.pixels) ++failures[t];
                try {
                    decode_image(corrupt);
                    ++failures[t];
                } catch (const InvalidImage& e) {
                    if (e.what() != corrupt_ref) ++failures[t];
                }
                try {
                    decode_image(cut_jpeg);
                    ++failures[t];
                } catch (const InvalidImage& e) {
                    if (e.what() != cut_jpeg_ref) ++failures[t];
                }
            }
        });
    }
    for (std::thread& thread : threads) thread.join();
    for (int t = 0; t < 4; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
}

// ---------------------------------------------------------------------------
// Real photos (skipped when ../shared is absent).

TEST(ImageRealPhotos, GoldenPortraitIsDjpegsPixels) {
    // ivan.jpg is a progressive 4:2:0 JPEG. The numbers below come from
    // libjpeg-turbo 2.1.5's `djpeg -bmp` (Debian 12): the known answers of the
    // cascade (golden_test.cpp) hold for exactly these pixels. stb_image got
    // ~8% of the values 1-3 levels off, among them the four face pixels.
    const std::filesystem::path path = testing_support::shared_dir() / "golden" / "ivan.jpg";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not found";
    const Image image = load_image_file(path.string());
    ASSERT_EQ(image.width, 561);
    ASSERT_EQ(image.height, 561);
    ASSERT_EQ(image.pixels.size(), 561u * 561u * 3u);
    struct Known {
        int x;
        int y;
        std::array<int, 3> rgb;
    };
    for (const Known& k : {Known{0, 0, {34, 18, 19}}, Known{560, 560, {137, 101, 79}},
                           Known{323, 113, {214, 193, 164}}, Known{321, 147, {145, 108, 92}},
                           Known{303, 95, {224, 185, 168}}, Known{289, 135, {246, 223, 209}}}) {
        EXPECT_EQ(rgb(image, k.x, k.y), k.rgb) << "pixel (" << k.x << "," << k.y << ")";
    }
    // All 944,163 values, in one number (FNV-1a of djpeg's RGB rows).
    EXPECT_EQ(fnv1a(image.pixels), 0xFB323ABA7711D753u);
}

TEST(ImageRealPhotos, WiderFaceSample) {
    const std::filesystem::path root =
        testing_support::shared_dir() / "eval" / "widerface-dev" / "images";
    if (!std::filesystem::exists(root)) GTEST_SKIP() << root << " not found";
    std::vector<std::filesystem::path> photos;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
        if (entry.is_regular_file() && entry.path().extension() == ".jpg") photos.push_back(entry.path());
    }
    std::sort(photos.begin(), photos.end());
    ASSERT_FALSE(photos.empty());
    const std::size_t step = std::max<std::size_t>(1, photos.size() / 12);
    for (std::size_t i = 0; i < photos.size(); i += step) {
        std::ifstream in(photos[i], std::ios::binary);
        const Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const ImageInfo info = probe_image(bytes);
        const Image image = decode_image(bytes);
        const int orientation = jpeg_exif_orientation(bytes);
        EXPECT_EQ(info.format, ImageFormat::jpeg) << photos[i];
        EXPECT_EQ(image.width, orientation >= 5 ? info.height : info.width) << photos[i];
        EXPECT_EQ(image.pixels.size(), static_cast<std::size_t>(image.width) * image.height * 3);
        const Image expected = apply_exif_orientation(reference_decode(bytes), orientation);
        EXPECT_EQ(compare_pixels(image, expected), "ok") << photos[i];
    }
}

}  // namespace
}  // namespace mtcnn
