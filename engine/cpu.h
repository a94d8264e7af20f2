// Which kernels this CPU runs: detected once at start-up, reported by the
// service (log line, readiness output) and overridable for tests and
// benchmarks with FACE_SERVICE_ISA=scalar|avx2|avx512 (never above what the
// CPU supports).
#pragma once

#include <vector>

#include "engine/kernels.h"

namespace engine {

// The widest ISA that the CPU has and the OS enables (GCC's
// __builtin_cpu_supports checks XGETBV, so AVX-512 counts only when the OS
// saves the zmm registers).
Isa detect_isa();

// Every ISA this CPU can run, narrowest first (scalar always).
std::vector<Isa> supported_isas();

// detect_isa(), lowered by FACE_SERVICE_ISA when set; an unknown or
// unsupported value throws std::invalid_argument naming it.
Isa configured_isa();

const Kernels& kernels_for(Isa isa);

}  // namespace engine
