// AVX2 + FMA kernels (8 floats a vector). Built with -mavx2 -mfma; called only
// when engine/cpu.cpp found both on the CPU.
#include "engine/kernels_impl.h"

namespace engine {

const Kernels& avx2_kernels() {
    return simd::KernelsFor<xsimd::fma3<xsimd::avx2>>::table(Isa::avx2);
}

}  // namespace engine
