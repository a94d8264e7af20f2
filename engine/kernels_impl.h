// The optimised kernels, written once over xsimd and instantiated per ISA in
// kernels_avx2.cpp and kernels_avx512.cpp (each compiled with its own -m
// flags). Include only from those files.
//
// Convolution: NHWC input, weights packed in blocks of 16 output channels
// (engine/layers.h, PackedWeights). A tile computes P output pixels of one
// output row times NB blocks, keeping the P x NB x (16 / lanes) accumulators in
// registers: each k step loads NB weight rows and broadcasts one input value
// per pixel. For a stride-1 NHWC input a receptive field row (kw pixels x
// in_c channels) is contiguous, so no im2col copy is made. Bias starts the
// accumulators; PReLU is applied before the store (fused).
#pragma once

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <type_traits>

#include "engine/kernels.h"

namespace engine::simd {

// Pixels per tile for NB blocks, chosen so that accumulators, weight rows and
// the broadcast value fit the register file (32 zmm on AVX-512, 16 ymm on
// AVX2). First figures, to be tuned by bench/ (bench/RESULTS.md).
template <class Arch, int NB>
struct TileShape;
template <> struct TileShape<xsimd::avx512f, 1> { static constexpr int pixels = 12; };
template <> struct TileShape<xsimd::avx512f, 2> { static constexpr int pixels = 8; };
template <> struct TileShape<xsimd::avx512f, 3> { static constexpr int pixels = 8; };
template <> struct TileShape<xsimd::avx512f, 4> { static constexpr int pixels = 6; };
template <> struct TileShape<xsimd::fma3<xsimd::avx2>, 1> { static constexpr int pixels = 6; };

template <class Arch>
struct KernelsFor {
    using Batch = xsimd::batch<float, Arch>;
    static constexpr int lanes = static_cast<int>(Batch::size);
    static constexpr int vectors_per_block = kPackBlock / lanes;
    static constexpr int max_blocks = lanes == kPackBlock ? 4 : 1;

    template <int P, int NB>
    static void conv_tile(const ConvJob& j, const float* in, const float* weights, std::size_t block_stride,
                          int first_channel, float* out) {
        constexpr int Q = NB * vectors_per_block;
        Batch acc[P][Q];
#pragma GCC unroll 16
        for (int q = 0; q < Q; ++q) {
            const Batch bias = Batch::load_aligned(j.bias + first_channel + q * lanes);
#pragma GCC unroll 16
            for (int p = 0; p < P; ++p) acc[p][q] = bias;
        }
        const int row_len = j.kw * j.in_c;
        const std::ptrdiff_t pixel_step = static_cast<std::ptrdiff_t>(j.stride_w) * j.in_c;
        const std::ptrdiff_t row_step = static_cast<std::ptrdiff_t>(j.in_w) * j.in_c;
        const float* w = weights;
        for (int r = 0; r < j.kh; ++r) {
            const float* field = in + r * row_step;
            for (int i = 0; i < row_len; ++i, w += kPackBlock) {
                Batch wv[Q];
#pragma GCC unroll 16
                for (int b = 0; b < NB; ++b)
#pragma GCC unroll 4
                    for (int v = 0; v < vectors_per_block; ++v)
                        wv[b * vectors_per_block + v] = Batch::load_aligned(w + b * block_stride + v * lanes);
#pragma GCC unroll 16
                for (int p = 0; p < P; ++p) {
                    const Batch x(field[p * pixel_step + i]);
#pragma GCC unroll 16
                    for (int q = 0; q < Q; ++q) acc[p][q] = xsimd::fma(x, wv[q], acc[p][q]);
                }
            }
        }
        const Batch zero(0.0f);
#pragma GCC unroll 16
        for (int q = 0; q < Q; ++q) {
            const int channel = first_channel + q * lanes;
            const int valid = j.out_c - channel;  // channels of this vector that exist
            Batch alpha(1.0f);
            if (j.alpha) alpha = Batch::load_aligned(j.alpha + channel);
#pragma GCC unroll 16
            for (int p = 0; p < P; ++p) {
                Batch y = acc[p][q];
                if (j.alpha) y = xsimd::select(y < zero, y * alpha, y);
                float* dst = out + static_cast<std::ptrdiff_t>(p) * j.out_c + channel;
                if (valid >= lanes) {
                    y.store_unaligned(dst);
                } else if (valid > 0) {
                    store_first(y, dst, valid);
                }
            }
        }
    }

    // AVX-512 loads and stores part of a vector under a mask; AVX2 has no
    // masked store of the same speed, and takes the scalar paths.
    static constexpr bool has_masks = std::is_same_v<Arch, xsimd::avx512f>;

    // The first `count` (< lanes) floats at src, zeros after (AVX-512 only).
    static Batch load_first(const float* src, int count) {
        if constexpr (has_masks) return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << count) - 1), src);
        return Batch(0.0f);
    }

    // Stores the first `count` (< lanes) floats of y: a masked store where
    // the ISA has one (PNet's 10-, 2- and 4-channel layers store every
    // pixel this way).
    static void store_first(const Batch& y, float* dst, int count) {
        if constexpr (has_masks) {
            _mm512_mask_storeu_ps(dst, static_cast<__mmask16>((1u << count) - 1), y);
        } else {
            alignas(64) float tail[lanes];
            y.store_aligned(tail);
            std::memcpy(dst, tail, sizeof(float) * count);
        }
    }

    template <int NB>
    static void conv_row(const ConvJob& j, const float* in_row, std::size_t block_stride, int block, float* out_row) {
        constexpr int P = TileShape<Arch, NB>::pixels;
        const float* weights = j.weights + block * block_stride;
        const int first_channel = block * kPackBlock;
        const std::ptrdiff_t in_step = static_cast<std::ptrdiff_t>(j.stride_w) * j.in_c;
        int x = 0;
        for (; x + P <= j.out_w; x += P)
            conv_tile<P, NB>(j, in_row + x * in_step, weights, block_stride, first_channel,
                             out_row + static_cast<std::ptrdiff_t>(x) * j.out_c);
        if (x < j.out_w)
            conv_tail<NB, P - 1>(j.out_w - x, j, in_row + x * in_step, weights, block_stride, first_channel,
                                 out_row + static_cast<std::ptrdiff_t>(x) * j.out_c);
    }

    // The last `pixels` (< P) of a row as one tile of that many pixels: rows
    // as short as RNet's and ONet's (3 to 22 pixels) would otherwise spend
    // most of their time in one-pixel tiles.
    template <int NB, int R>
    static void conv_tail(int pixels, const ConvJob& j, const float* in, const float* weights,
                          std::size_t block_stride, int first_channel, float* out) {
        if constexpr (R >= 1) {
            if (pixels == R)
                conv_tile<R, NB>(j, in, weights, block_stride, first_channel, out);
            else
                conv_tail<NB, R - 1>(pixels, j, in, weights, block_stride, first_channel, out);
        }
    }

    static void conv(const ConvJob& j) {
        const int blocks = (j.out_c + kPackBlock - 1) / kPackBlock;
        const std::size_t block_stride = static_cast<std::size_t>(j.kh) * j.kw * j.in_c * kPackBlock;
        for (int n = 0; n < j.batch; ++n)
            for (int oy = 0; oy < j.out_h; ++oy) {
                const float* in_row =
                    j.in + (static_cast<std::size_t>(n) * j.in_h + static_cast<std::size_t>(oy) * j.stride_h) * j.in_w * j.in_c;
                float* out_row = j.out + (static_cast<std::size_t>(n) * j.out_h + oy) * j.out_w * j.out_c;
                int b = 0;
                if constexpr (max_blocks >= 4) {
                    for (; b + 4 <= blocks; b += 4) conv_row<4>(j, in_row, block_stride, b, out_row);
                    // Three blocks left (RNet conv2's 48 channels): one pass,
                    // not two and one, so each broadcast feeds three FMAs.
                    if (b + 3 == blocks) {
                        conv_row<3>(j, in_row, block_stride, b, out_row);
                        b += 3;
                    }
                }
                if constexpr (max_blocks >= 2)
                    for (; b + 2 <= blocks; b += 2) conv_row<2>(j, in_row, block_stride, b, out_row);
                for (; b < blocks; ++b) conv_row<1>(j, in_row, block_stride, b, out_row);
            }
    }

    // The max over one output pixel's window: `rows` x `cols` input pixels
    // from `corner`, every channel. R and C, when not 0, fix rows and cols at
    // compile time (the full 2x2 and 3x3 windows of MTCNN's pools), so the
    // window's loads unroll.
    template <int R, int C>
    static void pool_pixel(const float* corner, int rows, int cols, std::ptrdiff_t row_step, int c, float* dst) {
        if constexpr (R > 0) rows = R;
        if constexpr (C > 0) cols = C;
        int ch = 0;
        for (; ch + lanes <= c; ch += lanes) {
            Batch best = Batch::load_unaligned(corner + ch);
#pragma GCC unroll 3
            for (int y = 0; y < rows; ++y)
#pragma GCC unroll 3
                for (int x = 0; x < cols; ++x)
                    best = xsimd::max(best, Batch::load_unaligned(corner + y * row_step + x * c + ch));
            best.store_unaligned(dst + ch);
        }
        if constexpr (has_masks) {
            if (ch < c) {
                Batch best = load_first(corner + ch, c - ch);
#pragma GCC unroll 3
                for (int y = 0; y < rows; ++y)
#pragma GCC unroll 3
                    for (int x = 0; x < cols; ++x)
                        best = xsimd::max(best, load_first(corner + y * row_step + x * c + ch, c - ch));
                store_first(best, dst + ch, c - ch);
                ch = c;
            }
        }
        for (; ch < c; ++ch) {
            float best = corner[ch];
            for (int y = 0; y < rows; ++y)
                for (int x = 0; x < cols; ++x) {
                    const float v = corner[y * row_step + x * c + ch];
                    best = best < v ? v : best;
                }
            dst[ch] = best;
        }
    }

    static void max_pool(const PoolJob& j) {
        const int c = j.channels, k = j.kernel;
        const std::ptrdiff_t row_step = static_cast<std::ptrdiff_t>(j.in_w) * c;
        for (int n = 0; n < j.batch; ++n)
            for (int oy = 0; oy < j.out_h; ++oy) {
                const int y0 = oy * j.stride, rows = std::min(k, j.in_h - y0);
                const float* in_row = j.in + (static_cast<std::size_t>(n) * j.in_h + y0) * row_step;
                float* dst = j.out + (static_cast<std::size_t>(n) * j.out_h + oy) * j.out_w * c;
                for (int ox = 0; ox < j.out_w; ++ox, dst += c) {
                    const int x0 = ox * j.stride, cols = std::min(k, j.in_w - x0);
                    const float* corner = in_row + static_cast<std::ptrdiff_t>(x0) * c;
                    if (rows == 3 && cols == 3)
                        pool_pixel<3, 3>(corner, rows, cols, row_step, c, dst);
                    else if (rows == 2 && cols == 2)
                        pool_pixel<2, 2>(corner, rows, cols, row_step, c, dst);
                    else
                        pool_pixel<0, 0>(corner, rows, cols, row_step, c, dst);
                }
            }
    }

    static void prelu(float* data, std::size_t pixels, int channels, const float* alpha) {
        const Batch zero(0.0f);
        for (std::size_t i = 0; i < pixels; ++i) {
            float* v = data + i * channels;
            int ch = 0;
            for (; ch + lanes <= channels; ch += lanes) {
                const Batch x = Batch::load_unaligned(v + ch);
                xsimd::select(x < zero, x * Batch::load_unaligned(alpha + ch), x).store_unaligned(v + ch);
            }
            for (; ch < channels; ++ch)
                if (v[ch] < 0) v[ch] *= alpha[ch];
        }
    }

    // Vectorised across pixels: `lanes` pixels at a time are transposed into
    // one vector per channel, so max, exp and sum run on full vectors.
    static void softmax(float* data, std::size_t pixels, int channels) {
        constexpr int max_channels = 16;
        std::size_t i = 0;
        if (channels <= max_channels) {
            alignas(64) float lanes_buf[max_channels][lanes];
            for (; i + lanes <= pixels; i += lanes) {
                float* base = data + i * channels;
                for (int l = 0; l < lanes; ++l)
                    for (int c = 0; c < channels; ++c) lanes_buf[c][l] = base[l * channels + c];
                Batch top = Batch::load_aligned(lanes_buf[0]);
                for (int c = 1; c < channels; ++c) top = xsimd::max(top, Batch::load_aligned(lanes_buf[c]));
                Batch sum(0.0f);
                for (int c = 0; c < channels; ++c) {
                    const Batch e = xsimd::exp(Batch::load_aligned(lanes_buf[c]) - top);
                    e.store_aligned(lanes_buf[c]);
                    sum += e;
                }
                for (int c = 0; c < channels; ++c) (Batch::load_aligned(lanes_buf[c]) / sum).store_aligned(lanes_buf[c]);
                for (int l = 0; l < lanes; ++l)
                    for (int c = 0; c < channels; ++c) base[l * channels + c] = lanes_buf[c][l];
            }
        }
        for (; i < pixels; ++i) {
            float* v = data + i * channels;
            float top = v[0];
            for (int c = 1; c < channels; ++c) top = v[c] > top ? v[c] : top;
            float sum = 0;
            for (int c = 0; c < channels; ++c) sum += (v[c] = std::exp(v[c] - top));
            for (int c = 0; c < channels; ++c) v[c] /= sum;
        }
    }

    static const Kernels& table(Isa isa) {
        static const Kernels kernels{isa, &conv, &max_pool, &prelu, &softmax};
        return kernels;
    }
};

}  // namespace engine::simd
