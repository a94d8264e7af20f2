#include "mtcnn/anonymize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace mtcnn {
namespace {

constexpr int kBoxPasses = 3;  // three box filters: close to a Gaussian (anonymize.h)

std::uint8_t* pixel(Image& image, int x, int y) {
    return &image.pixels[(static_cast<std::size_t>(y) * image.width + x) * 3];
}

// The widths (odd) of kBoxPasses box filters whose variances, (w^2 - 1) / 12
// each, add up to about sigma^2: the first `m` passes use the narrower
// width, the rest the wider one (Kovesi 2010, eq. 2-4).
std::vector<int> box_widths(double sigma) {
    const double n = kBoxPasses;
    const double ideal = std::sqrt(12.0 * sigma * sigma / n + 1.0);
    int lower = static_cast<int>(std::floor(ideal));
    if (lower % 2 == 0) --lower;
    lower = std::max(lower, 1);
    const int upper = lower + 2;
    const double m_ideal = (12.0 * sigma * sigma - n * lower * lower - 4.0 * n * lower - 3.0 * n) / (-4.0 * lower - 4.0);
    const int m = std::clamp(static_cast<int>(std::lround(m_ideal)), 0, kBoxPasses);
    std::vector<int> widths;
    for (int i = 0; i < kBoxPasses; ++i) widths.push_back(i < m ? lower : upper);
    return widths;
}

// One box filter of width 2r + 1 along `line` (n values, `stride` apart),
// edges repeated, into `out` (contiguous).
void box_pass(const float* line, int n, int stride, int r, float* out) {
    const auto at = [&](int i) { return line[static_cast<std::ptrdiff_t>(std::clamp(i, 0, n - 1)) * stride]; };
    double sum = 0;
    for (int k = -r; k <= r; ++k) sum += at(k);
    const double scale = 1.0 / (2 * r + 1);
    for (int i = 0; i < n; ++i) {
        out[i] = static_cast<float>(sum * scale);
        sum += at(i + r + 1) - at(i - r);
    }
}

// The three passes along one line of one channel: `values` in, filtered in
// place; `scratch` as long.
void blur_line(std::vector<float>& values, std::vector<float>& scratch, const std::vector<int>& widths) {
    const int n = static_cast<int>(values.size());
    for (int w : widths) {
        box_pass(values.data(), n, 1, (w - 1) / 2, scratch.data());
        values.swap(scratch);
    }
}

std::uint8_t to_byte(float v) { return static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L)); }

void gaussian(Image& image, const FaceRegion& region, double sigma) {
    const std::vector<int> widths = box_widths(sigma);
    const int w = region.x1 - region.x0, h = region.y1 - region.y0;
    // Rows first, into a copy of the rectangle (the photo's pixels outside
    // the shape must stay as they are), then columns back into the photo.
    std::vector<std::uint8_t> rows(static_cast<std::size_t>(w) * h * 3);
    std::vector<float> line(w), scratch(w);
    for (int y = 0; y < h; ++y)
        for (int c = 0; c < 3; ++c) {
            const std::uint8_t* src = pixel(image, region.x0, region.y0 + y) + c;
            for (int x = 0; x < w; ++x) line[x] = src[x * 3];
            blur_line(line, scratch, widths);
            for (int x = 0; x < w; ++x) rows[(static_cast<std::size_t>(y) * w + x) * 3 + c] = to_byte(line[x]);
        }
    // Columns: the three channels of a column gathered in one pass down it.
    std::vector<float> columns[3] = {std::vector<float>(h), std::vector<float>(h), std::vector<float>(h)};
    scratch.assign(h, 0.0f);
    for (int x = 0; x < w; ++x) {
        for (int y = 0; y < h; ++y) {
            const std::uint8_t* p = &rows[(static_cast<std::size_t>(y) * w + x) * 3];
            for (int c = 0; c < 3; ++c) columns[c][y] = p[c];
        }
        for (auto& column : columns) blur_line(column, scratch, widths);
        for (int y = 0; y < h; ++y)
            if (region.contains(region.x0 + x, region.y0 + y)) {
                std::uint8_t* p = pixel(image, region.x0 + x, region.y0 + y);
                for (int c = 0; c < 3; ++c) p[c] = to_byte(columns[c][y]);
            }
    }
}

void pixelate(Image& image, const FaceRegion& region, int block) {
    for (int by = region.y0; by < region.y1; by += block)
        for (int bx = region.x0; bx < region.x1; bx += block) {
            const int ex = std::min(bx + block, region.x1), ey = std::min(by + block, region.y1);
            std::uint64_t sum[3] = {0, 0, 0};
            for (int y = by; y < ey; ++y)
                for (int x = bx; x < ex; ++x)
                    for (int c = 0; c < 3; ++c) sum[c] += pixel(image, x, y)[c];
            const std::uint64_t count = static_cast<std::uint64_t>(ex - bx) * (ey - by);
            std::uint8_t mean[3];
            for (int c = 0; c < 3; ++c) mean[c] = static_cast<std::uint8_t>((sum[c] + count / 2) / count);
            for (int y = by; y < ey; ++y)
                for (int x = bx; x < ex; ++x)
                    if (region.contains(x, y)) std::copy(mean, mean + 3, pixel(image, x, y));
        }
}

void fill(Image& image, const FaceRegion& region) {
    for (int y = region.y0; y < region.y1; ++y)
        for (int x = region.x0; x < region.x1; ++x)
            if (region.contains(x, y)) std::fill_n(pixel(image, x, y), 3, std::uint8_t{0});
}

void validate(const AnonymizeOptions& options) {
    if (!(options.strength > 0.0 && options.strength <= kMaxStrength))  // NaN fails too
        throw InvalidAnonymizeOptions("strength must be a number in (0, 1], got " + std::to_string(options.strength));
    for (double p : {options.padding.left, options.padding.right, options.padding.top, options.padding.bottom})
        if (!std::isfinite(p) || p < 0.0) throw InvalidAnonymizeOptions("padding must be finite and not negative");
}

}  // namespace

std::string_view blur_method_name(BlurMethod method) {
    switch (method) {
        case BlurMethod::gaussian: return "gaussian";
        case BlurMethod::pixelate: return "pixelate";
        case BlurMethod::solid: return "solid";
    }
    return "gaussian";
}

BlurMethod blur_method_from_name(std::string_view name) {
    for (BlurMethod m : {BlurMethod::gaussian, BlurMethod::pixelate, BlurMethod::solid})
        if (blur_method_name(m) == name) return m;
    throw std::invalid_argument("unknown method '" + std::string(name) + "'; the methods are " +
                                std::string(kBlurMethodNames));
}

bool FaceRegion::contains(int x, int y) const {
    if (x < x0 || x >= x1 || y < y0 || y >= y1) return false;
    if (shape == RegionShape::rectangle) return true;
    const double dx = (x + 0.5 - cx) / rx, dy = (y + 0.5 - cy) / ry;
    return dx * dx + dy * dy <= 1.0;
}

FaceRegion face_region(const Face& face, const Padding& padding, RegionShape shape, int width, int height) {
    FaceRegion r;
    r.shape = shape;
    if (face.width <= 0 || face.height <= 0) return r;  // empty
    const double left = face.x - padding.left * face.width;
    const double right = face.x + face.width + padding.right * face.width;
    const double top = face.y - padding.top * face.height;
    const double bottom = face.y + face.height + padding.bottom * face.height;
    r.cx = (left + right) / 2;
    r.cy = (top + bottom) / 2;
    r.rx = (right - left) / 2;
    r.ry = (bottom - top) / 2;
    r.x0 = static_cast<int>(std::clamp(std::floor(left), 0.0, static_cast<double>(width)));
    r.x1 = static_cast<int>(std::clamp(std::ceil(right), 0.0, static_cast<double>(width)));
    r.y0 = static_cast<int>(std::clamp(std::floor(top), 0.0, static_cast<double>(height)));
    r.y1 = static_cast<int>(std::clamp(std::ceil(bottom), 0.0, static_cast<double>(height)));
    return r;
}

void anonymize(Image& image, std::span<const Face> faces, const AnonymizeOptions& options,
               const Deadline& deadline) {
    validate(options);
    for (const Face& face : faces) {
        deadline.check();
        const FaceRegion region = face_region(face, options.padding, options.shape, image.width, image.height);
        if (region.empty()) continue;
        const double size = std::max(1.0, options.strength * face.width);
        switch (options.method) {
            case BlurMethod::gaussian: gaussian(image, region, size); break;
            case BlurMethod::pixelate: pixelate(image, region, static_cast<int>(std::lround(size))); break;
            case BlurMethod::solid: fill(image, region); break;
        }
    }
}

Image anonymized(const Image& image, std::span<const Face> faces, const AnonymizeOptions& options,
                 const Deadline& deadline) {
    Image copy = image;
    anonymize(copy, faces, options, deadline);
    return copy;
}

}  // namespace mtcnn
