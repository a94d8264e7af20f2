// AVX-512 kernels (16 floats a vector, one packed weight block a register).
// Built with -mavx512f and friends; called only when engine/cpu.cpp found
// AVX-512F on the CPU and the OS saving its registers.
#include "engine/kernels_impl.h"

namespace engine {

const Kernels& avx512_kernels() {
    return simd::KernelsFor<xsimd::avx512f>::table(Isa::avx512);
}

}  // namespace engine
