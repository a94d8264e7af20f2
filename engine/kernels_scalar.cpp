// Portable kernels for CPUs without AVX2: the same packed-weight contract as
// the SIMD kernels, in plain loops (the compiler may still use SSE2).
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "engine/kernels.h"

namespace engine {
namespace {

void conv(const ConvJob& j) {
    const std::size_t k = static_cast<std::size_t>(j.kh) * j.kw * j.in_c;
    const int row_len = j.kw * j.in_c;
    for (int n = 0; n < j.batch; ++n)
        for (int oy = 0; oy < j.out_h; ++oy)
            for (int ox = 0; ox < j.out_w; ++ox) {
                const float* field =
                    j.in + ((static_cast<std::size_t>(n) * j.in_h + static_cast<std::size_t>(oy) * j.stride_h) * j.in_w +
                            static_cast<std::size_t>(ox) * j.stride_w) * j.in_c;
                float* dst = j.out + ((static_cast<std::size_t>(n) * j.out_h + oy) * j.out_w + ox) * j.out_c;
                for (int o = 0; o < j.out_c; ++o) {
                    const float* w = j.weights + (o / kPackBlock) * k * kPackBlock + o % kPackBlock;
                    float sum = j.bias[o];
                    for (int r = 0; r < j.kh; ++r) {
                        const float* row = field + static_cast<std::size_t>(r) * j.in_w * j.in_c;
                        for (int i = 0; i < row_len; ++i, w += kPackBlock) sum += row[i] * *w;
                    }
                    dst[o] = (j.alpha && sum < 0) ? sum * j.alpha[o] : sum;
                }
            }
}

void max_pool(const PoolJob& j) {
    for (int n = 0; n < j.batch; ++n)
        for (int oy = 0; oy < j.out_h; ++oy)
            for (int ox = 0; ox < j.out_w; ++ox)
                for (int c = 0; c < j.channels; ++c) {
                    const int y0 = oy * j.stride, x0 = ox * j.stride;
                    float best = j.in[((static_cast<std::size_t>(n) * j.in_h + y0) * j.in_w + x0) * j.channels + c];
                    for (int y = y0; y < std::min(y0 + j.kernel, j.in_h); ++y)
                        for (int x = x0; x < std::min(x0 + j.kernel, j.in_w); ++x)
                            best = std::max(best, j.in[((static_cast<std::size_t>(n) * j.in_h + y) * j.in_w + x) * j.channels + c]);
                    j.out[((static_cast<std::size_t>(n) * j.out_h + oy) * j.out_w + ox) * j.channels + c] = best;
                }
}

void prelu(float* data, std::size_t pixels, int channels, const float* alpha) {
    for (std::size_t i = 0; i < pixels; ++i)
        for (int c = 0; c < channels; ++c) {
            float& v = data[i * channels + c];
            if (v < 0) v *= alpha[c];
        }
}

void softmax(float* data, std::size_t pixels, int channels) {
    for (std::size_t i = 0; i < pixels; ++i) {
        float* v = data + i * channels;
        const float top = *std::max_element(v, v + channels);
        float sum = 0;
        for (int c = 0; c < channels; ++c) sum += (v[c] = std::exp(v[c] - top));
        for (int c = 0; c < channels; ++c) v[c] /= sum;
    }
}

}  // namespace

const Kernels& scalar_kernels() {
    static const Kernels kernels{Isa::scalar, &conv, &max_pool, &prelu, &softmax};
    return kernels;
}

}  // namespace engine
