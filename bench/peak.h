// The machine's measured fp32 peak on one core: independent AVX-512 FMA
// chains (enough to cover the FMA latency on two ports), the best of five
// timed runs.
#pragma once

namespace bench {

// GFLOP/s of one core; 0 when the CPU has no AVX-512 (then no share of peak
// is reported).
double measured_peak_gflops();

}  // namespace bench
