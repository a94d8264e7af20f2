// Memory bandwidth: STREAM's four kernels (McCalpin's stream.c) on one
// thread and on two, each thread over its own contiguous slice.
//
//   copy   c = a            scale  b = s * c
//   add    c = a + b        triad  a = b + s * c
//
// Three float arrays of 128 Mi elements (512 MiB each, 1.5 GiB in all), far
// past the last-level cache (105 MiB and 480 MiB on the VMs of
// bench/RESULTS.md), so every pass streams from memory. bytes_per_second
// counts what STREAM counts: the arrays read and written (2 or 3 x 4 bytes an
// element), not the reads a cache does to allocate the written lines.
// Plain loops at the build's baseline ISA: a memory-bound loop needs no
// wider vectors.
//
//   build/release/bench/bench_stream
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace {

constexpr std::size_t kElements = std::size_t{128} << 20;
constexpr float kScalar = 3.0f;

struct Arrays {
    std::vector<float> a, b, c;
};

// Written once, before any benchmark runs, so that the threads of a
// two-thread case share the pages and nothing is allocated while timed.
Arrays* arrays = nullptr;

enum class Kernel { copy, scale, add, triad };

void run(Kernel kernel, std::size_t begin, std::size_t end) {
    float* a = arrays->a.data();
    float* b = arrays->b.data();
    float* c = arrays->c.data();
    switch (kernel) {
        case Kernel::copy: for (std::size_t i = begin; i < end; ++i) c[i] = a[i]; break;
        case Kernel::scale: for (std::size_t i = begin; i < end; ++i) b[i] = kScalar * c[i]; break;
        case Kernel::add: for (std::size_t i = begin; i < end; ++i) c[i] = a[i] + b[i]; break;
        case Kernel::triad: for (std::size_t i = begin; i < end; ++i) a[i] = b[i] + kScalar * c[i]; break;
    }
}

void BM_stream(benchmark::State& state, Kernel kernel, int arrays_touched) {
    const std::size_t slice = kElements / static_cast<std::size_t>(state.threads());
    const std::size_t begin = slice * static_cast<std::size_t>(state.thread_index());
    for (auto _ : state) {
        run(kernel, begin, begin + slice);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * arrays_touched *
                            static_cast<std::int64_t>(slice * sizeof(float)));
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    Arrays storage{std::vector<float>(kElements, 1.0f), std::vector<float>(kElements, 2.0f),
                   std::vector<float>(kElements, 0.0f)};
    arrays = &storage;
    const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    std::printf("3 arrays of %zu MiB; last-level cache %ld MiB (sysconf)\n", kElements * sizeof(float) >> 20,
                l3 > 0 ? l3 >> 20 : 0L);
    const struct {
        const char* name;
        Kernel kernel;
        int arrays_touched;
    } kernels[] = {{"copy", Kernel::copy, 2}, {"scale", Kernel::scale, 2}, {"add", Kernel::add, 3},
                   {"triad", Kernel::triad, 3}};
    for (int threads : {1, 2})
        for (const auto& k : kernels)
            benchmark::RegisterBenchmark((std::string("stream_") + k.name).c_str(), BM_stream, k.kernel,
                                         k.arrays_touched)
                ->Threads(threads)
                ->UseRealTime()
                ->MinTime(1.0)
                ->Unit(benchmark::kMillisecond);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
}
