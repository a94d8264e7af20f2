// Reference layers: the plainest loops that compute each layer's definition,
// in double precision accumulators, for the optimised kernels to be tested
// against. Not used on the request path.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "engine/layers.h"

namespace engine::ref {

void conv2d(const Tensor& in, const ConvParams& p, int out_c, const float* weights, const float* bias,
            Tensor& out) {
    out.reshape(conv_output_shape(in.shape(), p, out_c));
    const int in_c = in.c();
    for (int n = 0; n < out.n(); ++n)
        for (int oy = 0; oy < out.h(); ++oy)
            for (int ox = 0; ox < out.w(); ++ox)
                for (int o = 0; o < out_c; ++o) {
                    double sum = bias[o];
                    for (int ky = 0; ky < p.kh; ++ky)
                        for (int kx = 0; kx < p.kw; ++kx) {
                            const int y = oy * p.stride_h + ky - p.pad_h;
                            const int x = ox * p.stride_w + kx - p.pad_w;
                            if (y < 0 || y >= in.h() || x < 0 || x >= in.w()) continue;  // zero padding
                            const float* pixel = in.at(n, y, x);
                            const float* w = weights + ((static_cast<std::size_t>(o) * p.kh + ky) * p.kw + kx) * in_c;
                            for (int c = 0; c < in_c; ++c) sum += static_cast<double>(pixel[c]) * w[c];
                        }
                    out.at(n, oy, ox)[o] = static_cast<float>(sum);
                }
}

void fully_connected(const Tensor& in, int out_c, const float* weights, const float* bias, Tensor& out) {
    const std::size_t features = static_cast<std::size_t>(in.h()) * in.w() * in.c();
    out.reshape({in.n(), 1, 1, out_c});
    for (int n = 0; n < in.n(); ++n) {
        const float* x = in.data() + n * features;
        for (int o = 0; o < out_c; ++o) {
            double sum = bias[o];
            for (std::size_t i = 0; i < features; ++i) sum += static_cast<double>(x[i]) * weights[o * features + i];
            out.data()[static_cast<std::size_t>(n) * out_c + o] = static_cast<float>(sum);
        }
    }
}

void prelu(Tensor& t, const float* alpha) {
    const std::size_t pixels = t.size() / t.c();
    for (std::size_t i = 0; i < pixels; ++i)
        for (int c = 0; c < t.c(); ++c) {
            float& v = t.data()[i * t.c() + c];
            if (v < 0) v *= alpha[c];
        }
}

void max_pool(const Tensor& in, const PoolParams& p, Tensor& out) {
    out.reshape(pool_output_shape(in.shape(), p));
    for (int n = 0; n < out.n(); ++n)
        for (int oy = 0; oy < out.h(); ++oy)
            for (int ox = 0; ox < out.w(); ++ox)
                for (int c = 0; c < out.c(); ++c) {
                    float best = -std::numeric_limits<float>::infinity();
                    for (int y = oy * p.stride; y < std::min(oy * p.stride + p.kernel, in.h()); ++y)
                        for (int x = ox * p.stride; x < std::min(ox * p.stride + p.kernel, in.w()); ++x)
                            best = std::max(best, in.at(n, y, x)[c]);
                    out.at(n, oy, ox)[c] = best;
                }
}

void softmax(Tensor& t) {
    const std::size_t pixels = t.size() / t.c();
    for (std::size_t i = 0; i < pixels; ++i) {
        float* v = t.data() + i * t.c();
        double top = v[0];
        for (int c = 1; c < t.c(); ++c) top = std::max(top, static_cast<double>(v[c]));
        double sum = 0;
        for (int c = 0; c < t.c(); ++c) sum += std::exp(v[c] - top);
        for (int c = 0; c < t.c(); ++c) v[c] = static_cast<float>(std::exp(v[c] - top) / sum);
    }
}

}  // namespace engine::ref
