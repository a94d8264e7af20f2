// Output sizes, weight packing, and the optimised layers' entry points (which
// validate shapes and fill the kernels' job structs).
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "engine/layers.h"

namespace engine {

int conv_output_size(int in, int kernel, int stride, int pad) {
    const int span = in + 2 * pad - kernel;
    return span < 0 ? 0 : span / stride + 1;
}

int pool_output_size(int in, int kernel, int stride, PoolRounding rounding) {
    if (in < kernel) return rounding == PoolRounding::ceil && in > 0 ? 1 : 0;
    const int span = in - kernel;
    const int steps = rounding == PoolRounding::ceil ? (span + stride - 1) / stride : span / stride;
    return steps + 1;
}

Shape conv_output_shape(const Shape& in, const ConvParams& p, int out_channels) {
    return {in.n, conv_output_size(in.h, p.kh, p.stride_h, p.pad_h), conv_output_size(in.w, p.kw, p.stride_w, p.pad_w),
            out_channels};
}

Shape pool_output_shape(const Shape& in, const PoolParams& p) {
    return {in.n, pool_output_size(in.h, p.kernel, p.stride, p.rounding),
            pool_output_size(in.w, p.kernel, p.stride, p.rounding), in.c};
}

PackedWeights pack_weights(const float* rows, int out_c, int k, const float* bias, const float* alpha) {
    PackedWeights pw;
    pw.out_c = out_c;
    pw.k = k;
    const int blocks = (out_c + kPackBlock - 1) / kPackBlock;
    const int padded = blocks * kPackBlock;
    pw.w.assign(static_cast<std::size_t>(padded) * k, 0.0f);
    pw.bias.assign(padded, 0.0f);
    if (alpha) pw.alpha.assign(padded, 0.0f);
    for (int o = 0; o < out_c; ++o) {
        const int block = o / kPackBlock, lane = o % kPackBlock;
        for (int i = 0; i < k; ++i)
            pw.w[(static_cast<std::size_t>(block) * k + i) * kPackBlock + lane] = rows[static_cast<std::size_t>(o) * k + i];
        pw.bias[o] = bias[o];
        if (alpha) pw.alpha[o] = alpha[o];
    }
    return pw;
}

namespace {

// Copies `in` into a zero border of pad_h rows and pad_w columns. Only layers
// with padding pay for it; MTCNN's convolutions have none.
Tensor pad_input(const Tensor& in, int pad_h, int pad_w) {
    Tensor padded({in.n(), in.h() + 2 * pad_h, in.w() + 2 * pad_w, in.c()});
    std::fill(padded.data(), padded.data() + padded.size(), 0.0f);
    for (int n = 0; n < in.n(); ++n)
        for (int y = 0; y < in.h(); ++y)
            std::memcpy(padded.at(n, y + pad_h, pad_w), in.at(n, y, 0), sizeof(float) * in.w() * in.c());
    return padded;
}

ConvJob make_job(const Tensor& in, const PackedWeights& pw, Tensor& out) {
    return ConvJob{in.data(), in.n(), in.h(), in.w(), in.c(), 1, 1, 1, 1,
                   pw.w.data(), pw.bias.data(), pw.alpha.empty() ? nullptr : pw.alpha.data(), pw.out_c,
                   out.data(), out.h(), out.w()};
}

}  // namespace

void conv2d(const Kernels& kernels, const Tensor& in, const ConvParams& p, const PackedWeights& pw, Tensor& out) {
    if (p.kh * p.kw * in.c() != pw.k)
        throw std::invalid_argument("conv2d: input " + in.shape().str() + " does not fit packed weights with k=" +
                                    std::to_string(pw.k));
    out.reshape(conv_output_shape(in.shape(), p, pw.out_c));
    if (out.size() == 0) return;
    Tensor padded;
    const Tensor& src = (p.pad_h || p.pad_w) ? (padded = pad_input(in, p.pad_h, p.pad_w)) : in;
    ConvJob job = make_job(src, pw, out);
    job.kh = p.kh;
    job.kw = p.kw;
    job.stride_h = p.stride_h;
    job.stride_w = p.stride_w;
    kernels.conv(job);
}

void fully_connected(const Kernels& kernels, const Tensor& in, const PackedWeights& pw, Tensor& out) {
    const int features = in.h() * in.w() * in.c();
    if (features != pw.k)
        throw std::invalid_argument("fully_connected: input " + in.shape().str() + " has " + std::to_string(features) +
                                    " features, weights expect " + std::to_string(pw.k));
    out.reshape({in.n(), 1, 1, pw.out_c});
    if (out.size() == 0) return;
    // n items of `features` values are one row of n pixels, each a 1x1
    // receptive field of `features` channels: the convolution kernel serves.
    ConvJob job = make_job(in, pw, out);
    job.batch = 1;
    job.in_h = 1;
    job.in_w = in.n();
    job.in_c = features;
    job.out_h = 1;
    job.out_w = in.n();
    kernels.conv(job);
}

void prelu(const Kernels& kernels, Tensor& t, const float* alpha) {
    if (t.size() == 0) return;
    kernels.prelu(t.data(), t.size() / t.c(), t.c(), alpha);
}

void max_pool(const Kernels& kernels, const Tensor& in, const PoolParams& p, Tensor& out) {
    out.reshape(pool_output_shape(in.shape(), p));
    if (out.size() == 0) return;
    kernels.max_pool(PoolJob{in.data(), in.n(), in.h(), in.w(), in.c(), p.kernel, p.stride, out.data(), out.h(), out.w()});
}

void conv2d_max_pool(const Kernels& kernels, const Tensor& in, const ConvParams& cp, const PackedWeights& pw,
                     const PoolParams& pp, Tensor& scratch, Tensor& out) {
    if (cp.pad_h || cp.pad_w || in.n() <= 1) {  // nothing to gain; MTCNN's convolutions have no padding
        conv2d(kernels, in, cp, pw, scratch);
        max_pool(kernels, scratch, pp, out);
        return;
    }
    if (cp.kh * cp.kw * in.c() != pw.k)
        throw std::invalid_argument("conv2d: input " + in.shape().str() + " does not fit packed weights with k=" +
                                    std::to_string(pw.k));
    Shape item = conv_output_shape(in.shape(), cp, pw.out_c);
    item.n = 1;
    scratch.reshape(item);
    Shape pooled = pool_output_shape(item, pp);
    pooled.n = in.n();
    out.reshape(pooled);
    if (out.size() == 0) return;
    for (int n = 0; n < in.n(); ++n) {
        ConvJob job = make_job(in, pw, scratch);
        job.in = in.at(n, 0, 0);
        job.batch = 1;
        job.kh = cp.kh;
        job.kw = cp.kw;
        job.stride_h = cp.stride_h;
        job.stride_w = cp.stride_w;
        kernels.conv(job);
        kernels.max_pool(PoolJob{scratch.data(), 1, scratch.h(), scratch.w(), scratch.c(), pp.kernel, pp.stride,
                                 out.at(n, 0, 0), out.h(), out.w()});
    }
}

void softmax(const Kernels& kernels, Tensor& t) {
    if (t.size() == 0) return;
    kernels.softmax(t.data(), t.size() / t.c(), t.c());
}

}  // namespace engine
