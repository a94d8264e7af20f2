#include "engine/cpu.h"

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace engine {

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::scalar: return "scalar";
        case Isa::avx2: return "avx2";
        case Isa::avx512: return "avx512";
    }
    return "unknown";
}

Isa detect_isa() {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return Isa::avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
    return Isa::scalar;
}

std::vector<Isa> supported_isas() {
    std::vector<Isa> isas{Isa::scalar};
    const Isa best = detect_isa();
    if (best >= Isa::avx2) isas.push_back(Isa::avx2);
    if (best >= Isa::avx512) isas.push_back(Isa::avx512);
    return isas;
}

Isa configured_isa() {
    const Isa best = detect_isa();
    const char* wanted = std::getenv("FACE_SERVICE_ISA");
    if (!wanted || !*wanted) return best;
    for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512})
        if (std::string(wanted) == isa_name(isa)) {
            if (isa > best)
                throw std::invalid_argument(std::string("FACE_SERVICE_ISA=") + wanted + ": this CPU supports at most " +
                                            isa_name(best));
            return isa;
        }
    throw std::invalid_argument(std::string("FACE_SERVICE_ISA=") + wanted + ": expected scalar, avx2 or avx512");
}

const Kernels& kernels_for(Isa isa) {
    switch (isa) {
        case Isa::avx512: return avx512_kernels();
        case Isa::avx2: return avx2_kernels();
        case Isa::scalar: break;
    }
    return scalar_kernels();
}

}  // namespace engine
