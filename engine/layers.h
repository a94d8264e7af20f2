// The layers MTCNN needs, each in two forms:
//  - engine::ref::*  plain scalar loops on the weights as stored, the
//    reference every optimised kernel is tested against;
//  - engine::Kernels  the optimised kernels of one ISA (scalar, AVX2,
//    AVX-512), chosen once at start-up (engine/cpu.h) and run on weights
//    repacked at load time (PackedWeights).
#pragma once

#include <cstddef>

#include "engine/kernels.h"
#include "engine/tensor.h"

namespace engine {

struct ConvParams {
    int kh = 1, kw = 1;
    int stride_h = 1, stride_w = 1;
    int pad_h = 0, pad_w = 0;  // zeros on both sides
};

// How a pooling output size is rounded. `floor` is TensorFlow's VALID;
// `ceil` is Caffe's ceil mode, windows starting at 0 and clipped at the far
// edge. TensorFlow's SAME equals ceil mode whenever it pads only at the far
// end: always for 2x2/2, and for 3x3/2 on even sizes, which is every SAME
// pooling in MTCNN (RNet and ONet feed them 22 and 46; weights/README.md).
enum class PoolRounding { floor, ceil };

struct PoolParams {
    int kernel = 2;
    int stride = 2;
    PoolRounding rounding = PoolRounding::ceil;
};

int conv_output_size(int in, int kernel, int stride, int pad);
int pool_output_size(int in, int kernel, int stride, PoolRounding rounding);
Shape conv_output_shape(const Shape& in, const ConvParams& p, int out_channels);
Shape pool_output_shape(const Shape& in, const PoolParams& p);

namespace ref {

// weights: [out_c][kh][kw][in_c] (OHWI); bias: [out_c]. `out` is reshaped.
void conv2d(const Tensor& in, const ConvParams& p, int out_c, const float* weights, const float* bias,
            Tensor& out);
// Flattens each batch item (h*w*c values, NHWC order); weights: [out_c][in];
// `out` becomes [n,1,1,out_c].
void fully_connected(const Tensor& in, int out_c, const float* weights, const float* bias, Tensor& out);
// y = x for x > 0, alpha[c] * x otherwise; in place.
void prelu(Tensor& t, const float* alpha);
void max_pool(const Tensor& in, const PoolParams& p, Tensor& out);
// Over the channels of each pixel, in place.
void softmax(Tensor& t);

}  // namespace ref

// Weights of a convolution or fully connected layer, packed for the kernels:
// the [out_c][k] weight matrix (k = kh*kw*in_c in OHWI order, or in for fully
// connected) cut into blocks of kPackBlock output channels, each block stored
// k-major: w[block][k][kPackBlock], so one k step loads one contiguous,
// 64-byte aligned row of 16 weights. Output channels past out_c (MTCNN's 10,
// 28, 2, 4 ...) are zero-padded up to the block; bias and alpha likewise.
struct PackedWeights {
    int out_c = 0;
    int k = 0;
    AlignedFloats w;
    AlignedFloats bias;
    AlignedFloats alpha;  // empty: no fused PReLU
};

// `rows`: [out_c][k]; `alpha` may be null.
PackedWeights pack_weights(const float* rows, int out_c, int k, const float* bias, const float* alpha);

// Optimised layers on one kernel table; `out` is reshaped.
void conv2d(const Kernels& kernels, const Tensor& in, const ConvParams& p, const PackedWeights& pw,
            Tensor& out);
void fully_connected(const Kernels& kernels, const Tensor& in, const PackedWeights& pw, Tensor& out);
void prelu(const Kernels& kernels, Tensor& t, const float* alpha);
void max_pool(const Kernels& kernels, const Tensor& in, const PoolParams& p, Tensor& out);
// conv2d then max_pool, one batch item at a time through `scratch` (which
// ends up holding the last item's convolution output): an item's
// convolution output is pooled while it is still in the core's cache (ONet's
// first convolution makes 270 KB a window, 4.3 MB for a batch of 16). The
// same values as the two layers one after the other.
void conv2d_max_pool(const Kernels& kernels, const Tensor& in, const ConvParams& cp, const PackedWeights& pw,
                     const PoolParams& pp, Tensor& scratch, Tensor& out);
void softmax(const Kernels& kernels, Tensor& t);

}  // namespace engine
