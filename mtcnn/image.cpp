// Photo decoding: JPEG through libjpeg-turbo, PNG, BMP and GIF through
// stb_image (compiled in stb_image_impl.cpp, without its JPEG decoder), plus
// what neither does for us: choosing the format from the magic bytes before any
// parser runs, telling a too-large header from a corrupt one, and the JPEG EXIF
// orientation.
#include "mtcnn/image.h"

#include <algorithm>
#include <array>
#include <climits>
#include <csetjmp>
#include <cstdio>  // before jpeglib.h, which names FILE
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

#include <jpeglib.h>
#include <jerror.h>  // the JERR_ / JWRN_ message codes

#define STBI_NO_STDIO  // as in stb_image_impl.cpp: memory decoding only
#include <stb/stb_image.h>

namespace mtcnn {
namespace {

using Bytes = std::span<const std::uint8_t>;

// ---------------------------------------------------------------------------
// Magic bytes.

constexpr std::array<std::uint8_t, 3> kJpegMagic = {0xFF, 0xD8, 0xFF};
constexpr std::array<std::uint8_t, 8> kPngMagic = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
constexpr std::array<std::uint8_t, 2> kBmpMagic = {'B', 'M'};
constexpr std::array<std::uint8_t, 6> kGif87Magic = {'G', 'I', 'F', '8', '7', 'a'};
constexpr std::array<std::uint8_t, 6> kGif89Magic = {'G', 'I', 'F', '8', '9', 'a'};

template <std::size_t N>
bool starts_with(Bytes bytes, const std::array<std::uint8_t, N>& magic) {
    return bytes.size() >= N && std::equal(magic.begin(), magic.end(), bytes.begin());
}

bool starts_with(Bytes bytes, std::string_view text) {
    return bytes.size() >= text.size() &&
           std::equal(text.begin(), text.end(), bytes.begin(),
                      [](char c, std::uint8_t b) { return static_cast<std::uint8_t>(c) == b; });
}

// Only the magic bytes decide: stb's own probing would try every parser it
// has, and some formats (TGA) have no magic at all, so a permissive parser
// takes almost any bytes for one.
std::optional<ImageFormat> sniff_format(Bytes bytes) {
    if (starts_with(bytes, kJpegMagic)) return ImageFormat::jpeg;
    if (starts_with(bytes, kPngMagic)) return ImageFormat::png;
    if (starts_with(bytes, kGif87Magic) || starts_with(bytes, kGif89Magic)) return ImageFormat::gif;
    if (starts_with(bytes, kBmpMagic)) return ImageFormat::bmp;
    return std::nullopt;
}

// ---------------------------------------------------------------------------
// Bounds-checked integer reads: callers check fits() first.

bool fits(Bytes bytes, std::size_t offset, std::size_t n) {
    return n <= bytes.size() && offset <= bytes.size() - n;  // no overflow
}

std::uint32_t read_be(Bytes bytes, std::size_t offset, std::size_t n) {
    std::uint32_t value = 0;
    for (std::size_t i = 0; i < n; ++i) value = (value << 8) | bytes[offset + i];
    return value;
}

std::uint32_t read_le(Bytes bytes, std::size_t offset, std::size_t n) {
    std::uint32_t value = 0;
    for (std::size_t i = n; i-- > 0;) value = (value << 8) | bytes[offset + i];
    return value;
}

// ---------------------------------------------------------------------------
// JPEG markers (ITU-T T.81 B.1.1): walked from SOI up to the first SOS, where
// the entropy-coded data begins. libjpeg reads the same headers for decoding;
// this walk is for what it does not give us: the EXIF block (libjpeg would
// have to be asked to keep every APP1 in memory) and the declared size of a
// header that libjpeg refuses before reporting it.

constexpr std::uint8_t kMarkerPrefix = 0xFF;
constexpr std::uint8_t kMarkerTem = 0x01;   // standalone, no length
constexpr std::uint8_t kMarkerRst0 = 0xD0;  // RST0..RST7: standalone
constexpr std::uint8_t kMarkerRst7 = 0xD7;
constexpr std::uint8_t kMarkerEoi = 0xD9;
constexpr std::uint8_t kMarkerSos = 0xDA;
constexpr std::uint8_t kMarkerApp1 = 0xE1;   // EXIF
constexpr std::uint8_t kMarkerSofFirst = 0xC0;
constexpr std::uint8_t kMarkerSofLast = 0xCF;
constexpr std::uint8_t kMarkerDht = 0xC4;  // in the SOF range but not a frame
constexpr std::uint8_t kMarkerJpg = 0xC8;  // reserved, not a frame
constexpr std::uint8_t kMarkerDac = 0xCC;  // arithmetic tables, not a frame
constexpr std::size_t kSegmentLengthSize = 2;  // the length counts itself

// SOF payload: precision(1) height(2) width(2) components(1) ...
constexpr std::size_t kSofHeight = 1;
constexpr std::size_t kSofWidth = 3;
constexpr std::size_t kSofMinSize = 6;

constexpr std::string_view kExifTag{"Exif\0\0", 6};

struct JpegHeader {
    Bytes exif_tiff;       // TIFF bytes of the first APP1 "Exif"; empty if none
    int frame_marker = 0;  // SOFn, 0 when no frame header was found
    int width = 0;
    int height = 0;
};

bool is_frame_marker(std::uint8_t marker) {
    return marker >= kMarkerSofFirst && marker <= kMarkerSofLast && marker != kMarkerDht &&
           marker != kMarkerJpg && marker != kMarkerDac;
}

// Never throws and never reads outside `jpeg`: a malformed segment simply ends
// the walk, and whatever was found before it is returned.
JpegHeader scan_jpeg_header(Bytes jpeg) {
    JpegHeader header;
    if (!starts_with(jpeg, kJpegMagic)) return header;
    std::size_t pos = 2;  // after SOI
    while (pos < jpeg.size()) {
        if (jpeg[pos] != kMarkerPrefix) break;
        while (pos < jpeg.size() && jpeg[pos] == kMarkerPrefix) ++pos;  // fill bytes
        if (pos >= jpeg.size()) break;
        const std::uint8_t marker = jpeg[pos++];
        if (marker == kMarkerSos || marker == kMarkerEoi) break;
        if (marker == kMarkerTem || (marker >= kMarkerRst0 && marker <= kMarkerRst7)) continue;
        if (!fits(jpeg, pos, kSegmentLengthSize)) break;
        const std::size_t length = read_be(jpeg, pos, kSegmentLengthSize);
        if (length < kSegmentLengthSize || !fits(jpeg, pos, length)) break;
        const Bytes payload = jpeg.subspan(pos + kSegmentLengthSize, length - kSegmentLengthSize);
        pos += length;

        if (marker == kMarkerApp1 && header.exif_tiff.empty() && starts_with(payload, kExifTag)) {
            header.exif_tiff = payload.subspan(kExifTag.size());
        } else if (is_frame_marker(marker) && header.frame_marker == 0 &&
                   payload.size() >= kSofMinSize) {
            header.frame_marker = marker;
            header.height = static_cast<int>(read_be(payload, kSofHeight, 2));
            header.width = static_cast<int>(read_be(payload, kSofWidth, 2));
        }
    }
    return header;
}

// ---------------------------------------------------------------------------
// EXIF (JEITA CP-3451, Exif 2.2: 4.6.2 TIFF structure, 4.6.4 Orientation): a
// TIFF header ("II*\0" little-endian or "MM\0*" big-endian, then the offset of
// IFD0 from the start of that header), IFD0 = count(2) + count x 12-byte
// entries tag(2) type(2) count(4) value-or-offset(4). Orientation is a SHORT
// with count 1, stored left-justified in the 4-byte value field. Only IFD0 is
// read and no offset is followed beyond it, so an IFD chain that loops cannot
// trap us.

constexpr std::size_t kTiffHeaderSize = 8;
constexpr std::uint32_t kTiffMagic = 42;
constexpr std::size_t kIfdCountSize = 2;
constexpr std::size_t kIfdEntrySize = 12;
constexpr std::uint32_t kTagOrientation = 0x0112;
constexpr std::uint32_t kTypeShort = 3;
constexpr int kOrientationUpright = 1;
constexpr int kOrientationMax = 8;

int exif_orientation(Bytes tiff) {
    if (tiff.size() < kTiffHeaderSize) return kOrientationUpright;
    bool little_endian = false;
    if (tiff[0] == 'I' && tiff[1] == 'I') {
        little_endian = true;
    } else if (!(tiff[0] == 'M' && tiff[1] == 'M')) {
        return kOrientationUpright;
    }
    const auto read = [&](std::size_t offset, std::size_t n) {
        return little_endian ? read_le(tiff, offset, n) : read_be(tiff, offset, n);
    };
    if (read(2, 2) != kTiffMagic) return kOrientationUpright;
    const std::size_t ifd = read(4, 4);
    if (ifd < kTiffHeaderSize || !fits(tiff, ifd, kIfdCountSize)) return kOrientationUpright;
    const std::size_t count = read(ifd, kIfdCountSize);
    const std::size_t entries = ifd + kIfdCountSize;
    // A count that claims more entries than the block holds is malformed as a
    // whole: nothing in it is trusted.
    if (count > (tiff.size() - entries) / kIfdEntrySize) return kOrientationUpright;
    for (std::size_t i = 0; i < count; ++i) {
        const std::size_t entry = entries + i * kIfdEntrySize;
        if (read(entry, 2) != kTagOrientation) continue;
        if (read(entry + 2, 2) != kTypeShort || read(entry + 4, 4) != 1) return kOrientationUpright;
        const int value = static_cast<int>(read(entry + 8, 2));
        return value >= kOrientationUpright && value <= kOrientationMax ? value : kOrientationUpright;
    }
    return kOrientationUpright;
}

// ---------------------------------------------------------------------------
// Declared sizes, read without stb. stb's info call gives one reason for every
// failure ("unknown image type": it tries each format in turn and keeps the
// last one's complaint), so a header that declares more than stb will decode
// looks exactly like a corrupt one. We want the former to be ImageTooLarge
// (413), not InvalidImage (400).

struct Size {
    int width;
    int height;
};

constexpr std::size_t kPngIhdrType = 12;  // after signature(8) + length(4)
constexpr std::size_t kPngWidth = 16;
constexpr std::size_t kPngHeight = 20;
constexpr std::string_view kPngIhdr = "IHDR";
constexpr std::size_t kGifWidth = 6;  // logical screen, after "GIF8?a"
constexpr std::size_t kGifHeight = 8;
constexpr std::size_t kBmpDibSize = 14;  // after the 14-byte file header
constexpr std::size_t kBmpWidth = 18;
constexpr std::size_t kBmpHeight = 22;
constexpr std::uint32_t kBmpCoreHeaderSize = 12;  // OS/2 1.x: 16-bit sides
constexpr std::array<std::uint32_t, 4> kBmpInfoHeaderSizes = {40, 56, 108, 124};  // 32-bit sides
constexpr std::size_t kBmpCoreWidth = 18;
constexpr std::size_t kBmpCoreHeight = 20;

std::optional<Size> make_size(std::int64_t width, std::int64_t height) {
    if (width <= 0 || height <= 0 || width > INT_MAX || height > INT_MAX) return std::nullopt;
    return Size{static_cast<int>(width), static_cast<int>(height)};
}

std::optional<Size> declared_size(ImageFormat format, Bytes bytes) {
    switch (format) {
    case ImageFormat::jpeg: {
        const JpegHeader header = scan_jpeg_header(bytes);
        if (header.frame_marker == 0) return std::nullopt;
        return make_size(header.width, header.height);
    }
    case ImageFormat::png:
        if (!fits(bytes, kPngHeight, 4) || !starts_with(bytes.subspan(kPngIhdrType), kPngIhdr)) {
            return std::nullopt;
        }
        return make_size(read_be(bytes, kPngWidth, 4), read_be(bytes, kPngHeight, 4));
    case ImageFormat::gif:
        if (!fits(bytes, kGifHeight, 2)) return std::nullopt;
        return make_size(read_le(bytes, kGifWidth, 2), read_le(bytes, kGifHeight, 2));
    case ImageFormat::bmp: {
        if (!fits(bytes, kBmpDibSize, 4)) return std::nullopt;
        const std::uint32_t dib_size = read_le(bytes, kBmpDibSize, 4);
        if (dib_size == kBmpCoreHeaderSize) {
            if (!fits(bytes, kBmpCoreHeight, 2)) return std::nullopt;
            return make_size(read_le(bytes, kBmpCoreWidth, 2), read_le(bytes, kBmpCoreHeight, 2));
        }
        // Only the info headers stb reads (BITMAPINFOHEADER and its V2-V5
        // successors): in any other the bytes at the size fields are no
        // size, and "BM" + random bytes was answered 413 for a random
        // 1790382136x767828739 (tests/server/hostile_test.py).
        if (std::find(kBmpInfoHeaderSizes.begin(), kBmpInfoHeaderSizes.end(), dib_size) ==
            kBmpInfoHeaderSizes.end()) {
            return std::nullopt;
        }
        if (!fits(bytes, kBmpHeight, 4)) return std::nullopt;
        const auto width = static_cast<std::int32_t>(read_le(bytes, kBmpWidth, 4));
        const auto height = static_cast<std::int32_t>(read_le(bytes, kBmpHeight, 4));
        // A negative height means rows stored top-down.
        return make_size(width, std::abs(static_cast<std::int64_t>(height)));
    }
    }
    return std::nullopt;
}

bool above_hard_limits(std::int64_t width, std::int64_t height) {
    return width > kMaxImageSide || height > kMaxImageSide || width * height > kMaxImagePixels;
}

// ---------------------------------------------------------------------------

constexpr int kRgbChannels = 3;

std::string size_text(const ImageInfo& info) {
    return std::string(image_format_name(info.format)) + " image of " +
           std::to_string(info.width) + "x" + std::to_string(info.height);
}

void check_limits(const ImageInfo& info, const DecodeLimits& limits) {
    if (info.width > kMaxImageSide || info.height > kMaxImageSide) {
        throw ImageTooLarge(size_text(info) + " has a side above the limit of " +
                            std::to_string(kMaxImageSide) + " pixels");
    }
    const std::int64_t pixels = static_cast<std::int64_t>(info.width) * info.height;
    const std::int64_t max_pixels = std::min(limits.max_pixels, kMaxImagePixels);
    if (pixels > max_pixels) {
        throw ImageTooLarge(size_text(info) + " (" + std::to_string(pixels) +
                            " pixels) is above the limit of " + std::to_string(max_pixels) +
                            " pixels");
    }
}

// The format from the magic bytes, after the checks every format shares.
ImageFormat sniff_checked(Bytes bytes) {
    if (bytes.empty()) throw InvalidImage("empty image data");
    const std::optional<ImageFormat> format = sniff_format(bytes);
    if (!format) {
        throw UnsupportedImageFormat("unsupported image format (accepted: JPEG, PNG, BMP, GIF)");
    }
    // stb takes an int length; larger uploads reach no decoder.
    if (bytes.size() > static_cast<std::size_t>(INT_MAX)) {
        throw ImageTooLarge("image data of " + std::to_string(bytes.size()) +
                            " bytes is more than the decoder accepts");
    }
    return *format;
}

// ---------------------------------------------------------------------------
// JPEG through libjpeg-turbo, with the settings of djpeg and of OpenCV's
// imread (what the predecessor decoded with): libjpeg's defaults (JDCT_ISLOW
// integer IDCT, fancy upsampling, no scaling) and RGB output, so that the
// pixels, and with them the known answers of the cascade, are bit-exact.
//
// libjpeg reports a fatal error by calling error_exit, which must not return.
// It is C, built without unwind tables, so no C++ exception may cross it:
// error_exit longjmps back into run_guarded(), and the typed exception is
// thrown once that has returned.

struct JpegErrorManager {
    jpeg_error_mgr pub;  // first member: libjpeg hands &pub back as cinfo->err
    std::jmp_buf jump;
};

// One decompressor over one buffer, destroyed (libjpeg's memory released) on
// every path, errors included. It holds whatever the guarded steps read or
// write, so that they need no locals beyond plain values.
struct JpegSession {
    jpeg_decompress_struct cinfo{};  // zeroed: destroying a never-created one is a no-op
    JpegErrorManager error{};
    Bytes input;
    std::uint8_t* rgb = nullptr;        // output_width x output_height x 3
    std::uint8_t* cmyk_rows = nullptr;  // kJpegRowBatch rows of output_width x 4

    explicit JpegSession(Bytes bytes) : input(bytes) {}
    JpegSession(const JpegSession&) = delete;
    JpegSession& operator=(const JpegSession&) = delete;
    ~JpegSession() { jpeg_destroy_decompress(&cinfo); }
};

[[noreturn]] void jpeg_fail(j_common_ptr cinfo) {
    std::longjmp(reinterpret_cast<JpegErrorManager*>(cinfo->err)->jump, 1);
}

// The warnings that end a decode as errors do, both a file whose data ends
// before its image does (libjpeg would paint the rest grey); a truncated
// upload stays InvalidImage, as it was with stb:
// - the data ends before the end-of-image marker (JWRN_JPEG_EOF);
// - a Huffman-coded scan meets a marker other than a restart marker (the
//   end of the image, the next scan's tables) while at least one whole row
//   of MCUs (8 to 32 pixel rows) is still to come (JWRN_HIT_MARKER with
//   rows left): a file cut and given its end marker back, or a header that
//   declares more rows or columns than the data holds. Without this, a
//   512x384 file whose frame header says 1900x1900 was answered 200 on a
//   photo 95% grey (tests/server/hostile_test.py).
// libjpeg's other corrupt-data warnings are decoded through, as OpenCV did:
// extraneous bytes between segments, a scan that ends a few bits early
// (within its last row of MCUs), a misplaced restart marker (a restart
// interval that ends early loses that interval only), an unknown Adobe
// transform, an unusual progression, even a bad Huffman code
// (libjpeg-turbo's fast path decodes one as 0 without a word, so refusing the
// ones it does report would be arbitrary). Cameras and encoders write such
// files, and the picture is mostly there. Arithmetic-coded scans never warn
// when their data ends early (T.81 lets them end at any marker; libjpeg
// decodes zeros): only the end of the data catches those.
bool is_fatal_warning(j_common_ptr common) {
    const int code = common->err->msg_code;
    if (code == JWRN_JPEG_EOF) return true;
    if (code != JWRN_HIT_MARKER || !common->is_decompressor) return false;
    const auto* cinfo = reinterpret_cast<j_decompress_ptr>(common);
    const int marker = cinfo->unread_marker;
    const bool restart = marker >= kMarkerRst0 && marker <= kMarkerRst7;
    return !restart && cinfo->input_iMCU_row + 1 < cinfo->total_iMCU_rows;
}

void jpeg_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return;  // trace output: never printed
    ++cinfo->err->num_warnings;
    if (is_fatal_warning(cinfo)) jpeg_fail(cinfo);
}

void jpeg_silence(j_common_ptr) {}

using JpegStep = void (*)(JpegSession&);

// Runs one step; false when libjpeg gave up (its message code and parameters
// stay in session.error.pub). longjmp must not skip a non-trivial destructor
// ([csetjmp.syn]): this frame and every step hold only trivially destructible
// locals, and whatever owns memory lives in the caller, outside the jump.
bool run_guarded(JpegSession& session, JpegStep step) {
    if (setjmp(session.error.jump) != 0) return false;
    step(session);
    return true;
}

void step_open(JpegSession& s) {
    s.cinfo.err = jpeg_std_error(&s.error.pub);
    s.error.pub.error_exit = jpeg_fail;
    s.error.pub.emit_message = jpeg_message;
    s.error.pub.output_message = jpeg_silence;
    jpeg_create_decompress(&s.cinfo);
    jpeg_mem_src(&s.cinfo, s.input.data(), static_cast<unsigned long>(s.input.size()));
}

// Every marker up to the first scan; no entropy-coded data is read.
void step_read_header(JpegSession& s) { jpeg_read_header(&s.cinfo, TRUE); }

// For a progressive or multi-scan file this reads the whole file into the
// coefficient buffers.
void step_start(JpegSession& s) { jpeg_start_decompress(&s.cinfo); }

constexpr int kCmykChannels = 4;
constexpr JDIMENSION kJpegRowBatch = 16;

// libjpeg decodes CMYK and YCCK to CMYK only, in Adobe's inverted convention
// (255 = no ink). This is OpenCV's icvCvt_CMYK2BGR_8u_C4C3R, channel by
// channel, so that such photos give the predecessor's pixels:
// k - ((255 - c) k >> 8), so no ink at all (c = k = 255) stays 255.
void cmyk_row_to_rgb(const std::uint8_t* cmyk, std::uint8_t* rgb, std::size_t width) {
    for (std::size_t x = 0; x < width; ++x, cmyk += kCmykChannels, rgb += kRgbChannels) {
        const int k = cmyk[3];
        for (int c = 0; c < kRgbChannels; ++c) {
            rgb[c] = static_cast<std::uint8_t>(k - (((255 - cmyk[c]) * k) >> 8));
        }
    }
}

void step_read_rows(JpegSession& s) {
    jpeg_decompress_struct& cinfo = s.cinfo;
    const std::size_t width = cinfo.output_width;
    const bool cmyk = cinfo.out_color_components == kCmykChannels;
    while (cinfo.output_scanline < cinfo.output_height) {
        const JDIMENSION first = cinfo.output_scanline;
        const JDIMENSION count = std::min(kJpegRowBatch, cinfo.output_height - first);
        JSAMPROW rows[kJpegRowBatch];
        for (JDIMENSION i = 0; i < count; ++i) {
            rows[i] = cmyk ? s.cmyk_rows + i * width * kCmykChannels
                           : s.rgb + (first + i) * width * kRgbChannels;
        }
        // As many rows as libjpeg has ready (a memory source never suspends,
        // so at least one).
        const JDIMENSION done = jpeg_read_scanlines(&cinfo, rows, count);
        if (done == 0) break;  // jpeg_finish_decompress reports the missing rows
        if (cmyk) {
            for (JDIMENSION i = 0; i < done; ++i) {
                cmyk_row_to_rgb(rows[i], s.rgb + (first + i) * width * kRgbChannels, width);
            }
        }
    }
    // Reads the markers after the last scan up to EOI: a file without its
    // end-of-image marker is truncated (JWRN_JPEG_EOF).
    jpeg_finish_decompress(&cinfo);
}

std::string jpeg_reason(JpegSession& s) {
    char text[JMSG_LENGTH_MAX] = {};
    s.error.pub.format_message(reinterpret_cast<j_common_ptr>(&s.cinfo), text);
    return text;
}

bool is_unsupported_variant(int code) {
    switch (code) {
    case JERR_SOF_UNSUPPORTED:      // lossless and hierarchical (SOF3, 5-7, 11, 13-15)
    case JERR_BAD_PRECISION:        // 12- and 16-bit samples: an 8-bit build
    case JERR_ARITH_NOTIMPL:        // arithmetic coding left out (not in Debian's build)
    case JERR_COMPONENT_COUNT:      // more components than libjpeg holds
    case JERR_CONVERSION_NOTIMPL:   // no RGB conversion for this colour space
    case JERR_FRACT_SAMPLE_NOTIMPL: // sampling factors that are not integer ratios
    case JERR_NOT_COMPILED:
    case JERR_NOTIMPL:
        return true;
    default:
        return false;
    }
}

// The typed error for libjpeg's failure; `stage` starts an InvalidImage message.
[[noreturn]] void throw_jpeg_failure(JpegSession& s, const std::string& stage) {
    const int code = s.error.pub.msg_code;
    const std::string reason = jpeg_reason(s);
    if (code == JERR_SOF_UNSUPPORTED) {
        throw UnsupportedImageFormat(
            "lossless or hierarchical JPEG is not supported (baseline, extended, progressive "
            "and arithmetic-coded only): " + reason);
    }
    if (code == JERR_BAD_PRECISION) {
        throw UnsupportedImageFormat(std::to_string(s.error.pub.msg_parm.i[0]) +
                                     "-bit JPEG is not supported (8-bit only)");
    }
    if (is_unsupported_variant(code)) throw UnsupportedImageFormat("unsupported JPEG: " + reason);
    if (code == JERR_OUT_OF_MEMORY || code == JERR_NO_BACKING_STORE) {
        // NO_BACKING_STORE: the whole-image buffers would pass the budget
        // (jpeg_memory_budget) and libjpeg-turbo has no disk to spill to.
        throw ImageTooLarge("JPEG image of " + std::to_string(s.cinfo.image_width) + "x" +
                            std::to_string(s.cinfo.image_height) +
                            " needs more memory than the decoder allows (" + reason + ")");
    }
    throw InvalidImage(stage + ": " + reason);
}

struct JpegProbe {
    ImageInfo info;
    JpegHeader header;     // our own walk: EXIF, and the declared size
    std::string refusal;   // non-empty: libjpeg refused the declared size (info holds it)
};

// Opens `session` and reads the headers. A header that declares more than
// libjpeg (65500 a side) or our hard limits accept is reported with its size,
// so that the caller answers ImageTooLarge rather than InvalidImage.
JpegProbe probe_jpeg(JpegSession& session) {
    JpegProbe result{{ImageFormat::jpeg, 0, 0}, scan_jpeg_header(session.input), {}};
    if (!run_guarded(session, step_open)) throw_jpeg_failure(session, "cannot open a JPEG decoder");
    if (run_guarded(session, step_read_header)) {
        result.info.width = static_cast<int>(session.cinfo.image_width);
        result.info.height = static_cast<int>(session.cinfo.image_height);
        return result;
    }
    const int code = session.error.pub.msg_code;
    if (code == JERR_IMAGE_TOO_BIG) {  // raised once the frame header is read
        result.info.width = static_cast<int>(session.cinfo.image_width);
        result.info.height = static_cast<int>(session.cinfo.image_height);
        result.refusal = jpeg_reason(session);
        return result;
    }
    // Refused for another reason (a missing table, the end of the data) before
    // libjpeg looked at the size: our walk's size, when above the hard limits,
    // is the answer that counts.
    const JpegHeader& header = result.header;
    if (header.frame_marker != 0 && above_hard_limits(header.width, header.height) &&
        !is_unsupported_variant(code)) {
        result.info.width = header.width;
        result.info.height = header.height;
        result.refusal = jpeg_reason(session);
        return result;
    }
    throw_jpeg_failure(session, "corrupt or truncated JPEG header");
}

// libjpeg's memory for one decode (cinfo.mem->max_memory_to_use). A
// progressive or multi-scan file keeps every DCT coefficient until its last
// scan: 64 coefficients of 2 bytes for each 8x8 block of each component (4 at
// most once past the colour checks), so 8 bytes a pixel, the sides padded to
// whole MCUs (32 pixels at most with sampling factors up to 4); plus room for
// the tables and row buffers, which grow with the width alone (libjpeg-turbo
// 2.1 holds 2.3 MB for a baseline file 65500 pixels wide). Sized from the
// header that check_limits accepted, so no header makes libjpeg take more
// than an honest file of its size could: libjpeg checks the budget when it
// sets up the whole-image buffers and, with no disk to spill to, fails
// (JERR_NO_BACKING_STORE: ImageTooLarge) before allocating them.
constexpr std::int64_t kJpegCoefficientBytesPerPixel = 2 * kCmykChannels;
constexpr std::int64_t kJpegMcuPadding = 32;
constexpr std::int64_t kJpegWorkingMemory = std::int64_t{16} << 20;

long jpeg_memory_budget(const ImageInfo& info) {
    const std::int64_t padded = (std::int64_t{info.width} + kJpegMcuPadding) *
                                (std::int64_t{info.height} + kJpegMcuPadding);
    return static_cast<long>(padded * kJpegCoefficientBytesPerPixel + kJpegWorkingMemory);
}

Image decode_jpeg(Bytes bytes, const DecodeLimits& limits) {
    JpegSession session(bytes);
    const JpegProbe probed = probe_jpeg(session);
    check_limits(probed.info, limits);
    if (!probed.refusal.empty()) {
        throw ImageTooLarge(size_text(probed.info) + " is more than the decoder can hold (" +
                            probed.refusal + ")");
    }

    jpeg_decompress_struct& cinfo = session.cinfo;
    switch (cinfo.num_components) {
    case 1:  // gray: R = G = B
    case 3:  // YCbCr, or RGB (Adobe transform 0)
        cinfo.out_color_space = JCS_RGB;
        break;
    case kCmykChannels:  // CMYK, or YCCK, which libjpeg turns into CMYK
        cinfo.out_color_space = JCS_CMYK;
        break;
    default:
        throw UnsupportedImageFormat("JPEG with " + std::to_string(cinfo.num_components) +
                                     " colour components is not supported (1, 3 or 4)");
    }
    cinfo.mem->max_memory_to_use = jpeg_memory_budget(probed.info);
    if (!run_guarded(session, step_start)) throw_jpeg_failure(session, "cannot decode JPEG");

    const int channels = cinfo.out_color_space == JCS_CMYK ? kCmykChannels : kRgbChannels;
    if (cinfo.output_width != cinfo.image_width || cinfo.output_height != cinfo.image_height ||
        cinfo.output_components != channels) {
        throw InvalidImage("inconsistent JPEG: libjpeg's output is not the header's image");
    }
    Image image;
    image.width = probed.info.width;
    image.height = probed.info.height;
    image.pixels.resize(static_cast<std::size_t>(image.width) * image.height * kRgbChannels);
    std::vector<std::uint8_t> cmyk_rows;
    if (channels == kCmykChannels) {
        cmyk_rows.resize(static_cast<std::size_t>(image.width) * kCmykChannels * kJpegRowBatch);
    }
    session.rgb = image.pixels.data();
    session.cmyk_rows = cmyk_rows.data();
    if (!run_guarded(session, step_read_rows)) throw_jpeg_failure(session, "cannot decode JPEG");
    return apply_exif_orientation(std::move(image), exif_orientation(probed.header.exif_tiff));
}

// ---------------------------------------------------------------------------
// PNG, BMP and GIF through stb_image.

constexpr std::string_view kStbTooLarge = "too large";

std::string stb_reason() {
    const char* reason = stbi_failure_reason();
    return reason != nullptr && *reason != '\0' ? reason : "unknown error";
}

struct StbFree {
    void operator()(stbi_uc* pixels) const { stbi_image_free(pixels); }
};

ImageInfo probe_stb(Bytes bytes, ImageFormat format) {
    const std::string name(image_format_name(format));
    ImageInfo info{format, 0, 0};
    int width = 0;
    int height = 0;
    int channels = 0;
    const int length = static_cast<int>(bytes.size());  // sniff_checked: at most INT_MAX
    if (stbi_info_from_memory(bytes.data(), length, &width, &height, &channels)) {
        // stb's info call reports a BMP's height as stored, negative when the
        // rows are stored top-down (which its load call decodes): every such
        // file was refused below as empty (found by tests/fuzz's seeds).
        // INT_MIN has no positive int and stays refused.
        if (format == ImageFormat::bmp && height < 0 && height != INT_MIN) height = -height;
        // stb's GIF header reader reads missing bytes as zeros and accepts a
        // logical screen of 0 pixels.
        if (width <= 0 || height <= 0) {
            throw InvalidImage(name + " header declares an empty or truncated image");
        }
        info.width = width;
        info.height = height;
        return info;
    }
    const std::optional<Size> declared = declared_size(format, bytes);
    if (declared && above_hard_limits(declared->width, declared->height)) {
        info.width = declared->width;
        info.height = declared->height;
        return info;
    }
    throw InvalidImage("corrupt or truncated " + name + " header");
}

// Truncation. stb reads the bytes past the end of a buffer as zeros, so a
// BMP or a GIF cut short decoded, the rest of the picture black, and was
// answered 200 (tests/server/hostile_test.py); a PNG cut anywhere fails for
// want of its IEND chunk. As for JPEG and PNG, a file cut short is
// InvalidImage, never a photo decoded in part: every row of a BMP must be
// there, and the first frame of a GIF must end (later frames are never read,
// so an animation cut after its first frame still decodes).

constexpr std::size_t kBmpDataOffset = 10;    // file header: where the rows start
constexpr std::size_t kBmpBitCount = 28;      // BITMAPINFOHEADER and its successors
constexpr std::size_t kBmpCoreBitCount = 24;  // OS/2 1.x header
constexpr std::size_t kBmpCompression = 30;
constexpr std::uint32_t kBmpUncompressed = 0;  // BI_RGB
constexpr std::uint32_t kBmpBitfields = 3;     // BI_BITFIELDS: uncompressed, masks given
constexpr std::uint64_t kBmpRowAlignBits = 32;  // rows padded to 4 bytes

// The bytes an uncompressed BMP of `info`'s size needs: its data offset plus
// its rows; nullopt for a header this does not judge (RLE and other
// compressions, which stb refuses itself).
std::optional<std::uint64_t> bmp_needed_size(Bytes bytes, const ImageInfo& info) {
    if (!fits(bytes, kBmpDibSize, 4)) return std::nullopt;
    const bool core = read_le(bytes, kBmpDibSize, 4) == kBmpCoreHeaderSize;
    const std::size_t bit_count = core ? kBmpCoreBitCount : kBmpBitCount;
    if (!fits(bytes, bit_count, 2) || (!core && !fits(bytes, kBmpCompression, 4))) return std::nullopt;
    if (!core) {
        const std::uint32_t compression = read_le(bytes, kBmpCompression, 4);
        if (compression != kBmpUncompressed && compression != kBmpBitfields) return std::nullopt;
    }
    // check_limits has passed: at most 65535 x 65535 pixels of 65535 bits.
    const std::uint64_t bits = read_le(bytes, bit_count, 2);
    const std::uint64_t row = (std::uint64_t(info.width) * bits + kBmpRowAlignBits - 1) /
                              kBmpRowAlignBits * (kBmpRowAlignBits / 8);
    return std::uint64_t{read_le(bytes, kBmpDataOffset, 4)} + row * std::uint64_t(info.height);
}

// GIF89a (W3C's copy of the spec, sections 18-23): header and logical screen
// descriptor (13 bytes; flags at 10), an optional global colour table, then
// blocks: extensions (0x21, a label, data sub-blocks) and images (0x2C, a
// 9-byte descriptor whose last byte holds the flags, an optional local
// colour table, the LZW code size, data sub-blocks), up to the trailer
// (0x3B). Sub-blocks are a size byte and that many bytes, ended by a size of
// 0. True once the first image's sub-blocks end within `gif`; a block of
// another kind before it is left to stb to judge.
constexpr std::size_t kGifScreenSize = 13;
constexpr std::size_t kGifScreenFlags = 10;
constexpr std::size_t kGifImageDescriptorSize = 9;  // after the 0x2C
constexpr std::size_t kGifImageFlags = 8;
constexpr std::uint8_t kGifExtension = 0x21;
constexpr std::uint8_t kGifImage = 0x2C;
constexpr std::uint8_t kGifHasColourTable = 0x80;
constexpr std::uint8_t kGifColourTableBits = 0x07;

bool gif_first_frame_complete(Bytes gif) {
    if (gif.size() < kGifScreenSize) return false;
    const auto colour_table = [](std::uint8_t flags) -> std::size_t {
        return (flags & kGifHasColourTable) ? std::size_t{3} << ((flags & kGifColourTableBits) + 1) : 0;
    };
    std::size_t pos = kGifScreenSize + colour_table(gif[kGifScreenFlags]);
    const auto sub_blocks_end = [&] {
        while (pos < gif.size()) {
            const std::size_t size = gif[pos++];
            if (size == 0) return true;
            pos += size;
        }
        return false;
    };
    while (pos < gif.size()) {
        const std::uint8_t block = gif[pos++];
        if (block == kGifExtension) {
            ++pos;  // the label
            if (!sub_blocks_end()) return false;
        } else if (block == kGifImage) {
            if (!fits(gif, pos, kGifImageDescriptorSize)) return false;
            pos += kGifImageDescriptorSize + colour_table(gif[pos + kGifImageFlags]);
            ++pos;  // the LZW minimum code size
            return sub_blocks_end();
        } else {
            return true;
        }
    }
    return false;
}

void check_complete(Bytes bytes, const ImageInfo& info) {
    if (info.format == ImageFormat::bmp) {
        const std::optional<std::uint64_t> needed = bmp_needed_size(bytes, info);
        if (needed && *needed > bytes.size()) {
            throw InvalidImage("truncated BMP: its rows need " + std::to_string(*needed) +
                               " bytes, the file has " + std::to_string(bytes.size()));
        }
    } else if (info.format == ImageFormat::gif && !gif_first_frame_complete(bytes)) {
        throw InvalidImage("truncated GIF: the file ends before its first frame does");
    }
}

Image decode_stb(Bytes bytes, ImageFormat format, const DecodeLimits& limits) {
    const ImageInfo info = probe_stb(bytes, format);
    check_limits(info, limits);
    check_complete(bytes, info);

    int width = 0;
    int height = 0;
    int stored_channels = 0;
    // Three requested channels: stb converts gray, gray+alpha, palette, RGBA
    // and 16-bit data to 8-bit RGB itself (alpha dropped, 16 bits -> high
    // byte). For GIF this is the first frame. Unlike stb's info call, its load
    // call picks the parser from the magic, so the failure reason is that
    // parser's own.
    const std::unique_ptr<stbi_uc, StbFree> decoded(
        stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &width, &height,
                              &stored_channels, kRgbChannels));
    const std::string name(image_format_name(format));
    if (!decoded) {
        const std::string reason = stb_reason();
        if (reason == kStbTooLarge) {
            throw ImageTooLarge(size_text(info) + " is more than the decoder can hold");
        }
        throw InvalidImage("cannot decode " + name + ": " + reason);
    }
    if (width != info.width || height != info.height) {
        throw InvalidImage("inconsistent " + name + ": header says " + std::to_string(info.width) +
                           "x" + std::to_string(info.height) + ", data " +
                           std::to_string(width) + "x" + std::to_string(height));
    }
    Image image;
    image.width = width;
    image.height = height;
    const std::size_t size = static_cast<std::size_t>(width) * height * kRgbChannels;
    image.pixels.assign(decoded.get(), decoded.get() + size);
    return image;
}

// Which stored pixel each output pixel comes from: every orientation is an
// optional transpose followed by optional mirrors of the stored axes.
struct OrientationMap {
    bool transpose;
    bool mirror_x;
    bool mirror_y;
};

// Index = EXIF orientation - 1. Exif 2.2 defines each value by where row 0 and
// column 0 of the stored image are for a viewer; the map is the transform that
// brings them there.
constexpr std::array<OrientationMap, kOrientationMax> kOrientationMaps = {{
    {false, false, false},  // 1 row 0 top,    column 0 left:   as stored
    {false, true, false},   // 2 row 0 top,    column 0 right:  mirror horizontally
    {false, true, true},    // 3 row 0 bottom, column 0 right:  rotate 180
    {false, false, true},   // 4 row 0 bottom, column 0 left:   mirror vertically
    {true, false, false},   // 5 row 0 left,   column 0 top:    transpose
    {true, false, true},    // 6 row 0 right,  column 0 top:    rotate 90 clockwise
    {true, true, true},     // 7 row 0 right,  column 0 bottom: transverse
    {true, true, false},    // 8 row 0 left,   column 0 bottom: rotate 90 counter-clockwise
}};

}  // namespace

std::string_view image_format_name(ImageFormat format) {
    switch (format) {
    case ImageFormat::jpeg: return "JPEG";
    case ImageFormat::png: return "PNG";
    case ImageFormat::bmp: return "BMP";
    case ImageFormat::gif: return "GIF";
    }
    return "unknown";
}

ImageInfo probe_image(std::span<const std::uint8_t> bytes) {
    const ImageFormat format = sniff_checked(bytes);
    if (format != ImageFormat::jpeg) return probe_stb(bytes, format);
    JpegSession session(bytes);
    return probe_jpeg(session).info;
}

Image decode_image(std::span<const std::uint8_t> bytes, const DecodeLimits& limits) {
    const ImageFormat format = sniff_checked(bytes);
    if (format == ImageFormat::jpeg) return decode_jpeg(bytes, limits);
    return decode_stb(bytes, format, limits);
}

Image load_image_file(const std::string& path, const DecodeLimits& limits) {
    // A directory opens as a stream on Linux and reports a meaningless size.
    std::error_code error;
    if (!std::filesystem::is_regular_file(path, error)) {
        throw InvalidImage(path + ": not a readable regular file");
    }
    std::ifstream file(path, std::ios::binary);
    std::vector<std::uint8_t> bytes;
    if (file) {
        file.seekg(0, std::ios::end);
        const std::streamoff end = file.tellg();
        file.seekg(0, std::ios::beg);
        if (end > 0) {
            bytes.resize(static_cast<std::size_t>(end));
            file.read(reinterpret_cast<char*>(bytes.data()), end);
        }
    }
    if (!file) throw InvalidImage(path + ": cannot read the file");
    // The same error types, with the path in front: the caller (the command
    // line) reports which of its files failed.
    try {
        return decode_image(bytes, limits);
    } catch (const InvalidImage& e) {
        throw InvalidImage(path + ": " + e.what());
    } catch (const UnsupportedImageFormat& e) {
        throw UnsupportedImageFormat(path + ": " + e.what());
    } catch (const ImageTooLarge& e) {
        throw ImageTooLarge(path + ": " + e.what());
    }
}

int jpeg_exif_orientation(std::span<const std::uint8_t> jpeg) {
    return exif_orientation(scan_jpeg_header(jpeg).exif_tiff);
}

Image apply_exif_orientation(Image image, int orientation) {
    if (orientation <= kOrientationUpright || orientation > kOrientationMax) return image;
    if (image.width < 0 || image.height < 0 ||
        image.pixels.size() !=
            static_cast<std::size_t>(image.width) * image.height * kRgbChannels) {
        throw std::invalid_argument("apply_exif_orientation: pixels do not match width x height");
    }
    const OrientationMap map = kOrientationMaps[static_cast<std::size_t>(orientation - 1)];
    const int width = image.width;  // as stored
    const int height = image.height;
    Image out;
    out.width = map.transpose ? height : width;
    out.height = map.transpose ? width : height;
    out.pixels.resize(image.pixels.size());
    std::uint8_t* dst = out.pixels.data();
    for (int y = 0; y < out.height; ++y) {
        for (int x = 0; x < out.width; ++x) {
            const int u = map.transpose ? y : x;  // stored column before mirroring
            const int v = map.transpose ? x : y;  // stored row before mirroring
            const int sx = map.mirror_x ? width - 1 - u : u;
            const int sy = map.mirror_y ? height - 1 - v : v;
            const std::uint8_t* src =
                image.pixels.data() + (static_cast<std::size_t>(sy) * width + sx) * kRgbChannels;
            std::memcpy(dst, src, kRgbChannels);
            dst += kRgbChannels;
        }
    }
    return out;
}

}  // namespace mtcnn
