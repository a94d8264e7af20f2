// The kernel table: one set of optimised kernels per ISA, filled once from
// the detected CPU (engine/cpu.h). Kernels take plain structs of pointers and
// sizes, so the ISA-specific translation units (kernels_avx2.cpp,
// kernels_avx512.cpp, built with their own -m flags) share no inline C++
// code with the rest of the program that the linker could mix up.
#pragma once

#include <cstddef>

namespace engine {

enum class Isa { scalar, avx2, avx512 };

const char* isa_name(Isa isa);

inline constexpr int kPackBlock = 16;  // output channels per packed weight block

// A convolution on an NHWC input that is already padded. Also serves the
// fully connected layer (a 1x1 convolution over a row of n pixels).
struct ConvJob {
    const float* in;
    int batch, in_h, in_w, in_c;
    int kh, kw, stride_h, stride_w;
    const float* weights;  // PackedWeights::w
    const float* bias;     // padded to the block
    const float* alpha;    // null: no PReLU
    int out_c;
    float* out;  // [batch][out_h][out_w][out_c]
    int out_h, out_w;
};

// Max pooling, windows starting at 0 and clipped at the far edge.
struct PoolJob {
    const float* in;
    int batch, in_h, in_w, channels;
    int kernel, stride;
    float* out;
    int out_h, out_w;
};

struct Kernels {
    Isa isa;
    void (*conv)(const ConvJob& job);
    void (*max_pool)(const PoolJob& job);
    void (*prelu)(float* data, std::size_t pixels, int channels, const float* alpha);
    void (*softmax)(float* data, std::size_t pixels, int channels);
};

const Kernels& scalar_kernels();
const Kernels& avx2_kernels();
const Kernels& avx512_kernels();

}  // namespace engine
