#include "mtcnn/resize.h"

#include <algorithm>
#include <cmath>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace mtcnn {

std::vector<std::vector<ResizeTap>> area_taps(int source_size, int dest_size, bool shrink_both_axes) {
    std::vector<std::vector<ResizeTap>> taps(dest_size);
    const double scale = static_cast<double>(source_size) / dest_size;
    // OpenCV ignores slivers of a source pixel thinner than this.
    constexpr double kSliver = 1e-3;
    for (int d = 0; d < dest_size; ++d) {
        std::vector<ResizeTap>& t = taps[d];
        if (shrink_both_axes) {
            // Footprint [f1, f2) in source coordinates, weights = overlap / width.
            const double f1 = d * scale, f2 = f1 + scale;
            const double cell = std::min(scale, source_size - f1);
            int s2 = std::min(static_cast<int>(std::floor(f2)), source_size - 1);
            int s1 = std::min(static_cast<int>(std::ceil(f1)), s2);
            if (s1 - f1 > kSliver) t.push_back({s1 - 1, static_cast<float>((s1 - f1) / cell)});
            for (int s = s1; s < s2; ++s) t.push_back({s, static_cast<float>(1.0 / cell)});
            if (f2 - s2 > kSliver) t.push_back({s2, static_cast<float>(std::min(std::min(f2 - s2, 1.0), cell) / cell)});
        } else {
            // Enlarging: blend source pixels s and s+1 by how far output pixel
            // d's right edge reaches past source pixel s's right edge.
            const int s = static_cast<int>(std::floor(d * scale));
            double f = (d + 1) - (s + 1) / scale;
            f = f <= 0 ? 0.0 : f - std::floor(f);
            if (s >= source_size - 1) {
                t.push_back({source_size - 1, 1.0f});
            } else {
                t.push_back({s, static_cast<float>(1.0 - f)});
                if (f > 0) t.push_back({s + 1, static_cast<float>(f)});
            }
        }
    }
    return taps;
}

std::vector<std::vector<ResizeTap>> linear_taps(int source_size, int dest_size) {
    std::vector<std::vector<ResizeTap>> taps(dest_size);
    const double scale = static_cast<double>(source_size) / dest_size;
    for (int d = 0; d < dest_size; ++d) {
        const double x = std::clamp((d + 0.5) * scale - 0.5, 0.0, static_cast<double>(source_size - 1));
        const int s = std::min(static_cast<int>(x), source_size - 1);
        const double f = x - s;
        taps[d].push_back({s, static_cast<float>(1.0 - f)});
        if (f > 0) taps[d].push_back({s + 1, static_cast<float>(f)});
    }
    return taps;
}

std::vector<std::vector<ResizeTap>> resize_taps(int source_size, int dest_size, bool shrink_both_axes,
                                                Enlarge enlarge) {
    if (!shrink_both_axes && enlarge == Enlarge::bilinear) return linear_taps(source_size, dest_size);
    return area_taps(source_size, dest_size, shrink_both_axes);
}

void resize_row_rgb(const float* in, const RowTaps& taps, float* out) {
    const int* start = taps.start.data();
    const int* source = taps.source.data();
    const float* weight = taps.weight.data();
    const int pixels = taps.pixels();
    for (int d = 0; d < pixels; ++d, out += 3) {
#ifdef __SSE2__
        // Lane c sums channel c in the taps' order, as the scalar code would.
        // Lane 3 (the next pixel's R) is stored too and overwritten by the
        // next pixel; the last pixel stores its three lanes only.
        __m128 sum = _mm_setzero_ps();
        for (int t = start[d]; t < start[d + 1]; ++t)
            sum = _mm_add_ps(sum, _mm_mul_ps(_mm_set1_ps(weight[t]), _mm_loadu_ps(in + 3 * source[t])));
        if (d + 1 < pixels) {
            _mm_storeu_ps(out, sum);
        } else {
            alignas(16) float lanes[4];
            _mm_store_ps(lanes, sum);
            std::copy_n(lanes, 3, out);
        }
#else
        float sum[3] = {0.0f, 0.0f, 0.0f};
        for (int t = start[d]; t < start[d + 1]; ++t)
            for (int c = 0; c < 3; ++c) sum[c] += weight[t] * in[3 * source[t] + c];
        std::copy_n(sum, 3, out);
#endif
    }
}

ResizePlan::ResizePlan(int src_w_, int src_h_, int dst_w_, int dst_h_, Enlarge enlarge)
    : src_w(src_w_), src_h(src_h_), dst_w(dst_w_), dst_h(dst_h_) {
    const bool shrink = src_w >= dst_w && src_h >= dst_h;
    x_taps = resize_taps(src_w, dst_w, shrink, enlarge);
    y_taps = resize_taps(src_h, dst_h, shrink, enlarge);
    for (const auto& taps : x_taps) {
        for (const ResizeTap& t : taps) rgb_x_taps.add(t.source, t.weight);
        rgb_x_taps.end_pixel();
    }
    for (const auto& taps : y_taps)
        if (!taps.empty()) span = std::max(span, taps.back().source - taps.front().source + 1);
}

namespace {

// Separable: rows first, then columns. Output row y sums the source rows of
// its taps, resized horizontally; those are kept in a ring of `span` rows,
// each row resized once when first needed (the taps move down the image),
// so the buffer is a few rows, not the whole image. Output rows
// [first_row, first_row + rows) only, each computed as in the whole image:
// store(y - first_row, ...).
template <class T, class Store>
void resize_separable(const ResizePlan& plan, const T* src, int channels, int first_row, int rows, Store store) {
    const int src_w = plan.src_w, dst_w = plan.dst_w, span = plan.span;
    const auto& y_taps = plan.y_taps;
    const std::size_t row_len = static_cast<std::size_t>(dst_w) * channels;
    std::vector<float> ring(static_cast<std::size_t>(span) * row_len);
    // Source rows below `resized` have been resized (or are not needed: the
    // taps only move down the image).
    int resized = first_row < plan.dst_h && !y_taps[first_row].empty() ? y_taps[first_row].front().source : 0;
    auto row = [&](int y) { return ring.data() + static_cast<std::size_t>(y % span) * row_len; };
    std::vector<float> acc(row_len);
    // Three channels (every image): a source row as floats with a float of
    // slack (resize_row_rgb).
    const bool rgb = channels == 3;
    std::vector<float> line(rgb ? static_cast<std::size_t>(src_w) * 3 + 1 : 0);
    for (int y = first_row; y < first_row + rows; ++y) {
        for (const ResizeTap& tap : y_taps[y])
            for (; resized <= tap.source; ++resized) {
                const T* in = src + static_cast<std::size_t>(resized) * src_w * channels;
                float* out = row(resized);
                if (rgb) {
                    std::copy(in, in + static_cast<std::size_t>(src_w) * 3, line.begin());
                    resize_row_rgb(line.data(), plan.rgb_x_taps, out);
                    continue;
                }
                std::fill(out, out + row_len, 0.0f);
                for (int x = 0; x < dst_w; ++x)
                    for (const ResizeTap& t : plan.x_taps[x])
                        for (int c = 0; c < channels; ++c)
                            out[x * channels + c] += t.weight * static_cast<float>(in[t.source * channels + c]);
            }
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (const ResizeTap& tap : y_taps[y]) {
            const float* in = row(tap.source);
            for (std::size_t i = 0; i < row_len; ++i) acc[i] += tap.weight * in[i];
        }
        store(y - first_row, acc.data(), row_len);
    }
}

}  // namespace

void resize(const float* src, int src_w, int src_h, int channels, float* dst, int dst_w, int dst_h, Enlarge enlarge) {
    const ResizePlan plan(src_w, src_h, dst_w, dst_h, enlarge);
    resize_separable(plan, src, channels, 0, dst_h,
                     [&](int y, const float* row, std::size_t n) { std::copy(row, row + n, dst + y * n); });
}

void resize_rows(const ResizePlan& plan, const std::uint8_t* src, int channels, std::uint8_t* dst, int first_row,
                 int rows) {
    rows = std::clamp(rows, 0, std::max(plan.dst_h - first_row, 0));
    resize_separable(plan, src, channels, first_row, rows, [&](int y, const float* row, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i)
            dst[y * n + i] = static_cast<std::uint8_t>(std::clamp(std::lrint(row[i]), 0L, 255L));
    });
}

void resize(const std::uint8_t* src, int src_w, int src_h, int channels, std::uint8_t* dst, int dst_w, int dst_h,
            Enlarge enlarge) {
    resize_rows(ResizePlan(src_w, src_h, dst_w, dst_h, enlarge), src, channels, dst, 0, dst_h);
}

}  // namespace mtcnn
