#pragma once
/// \file
/// The machine's float32 FMA peak, measured: the yardstick for "% of peak" in `convt2d bench`.

namespace convt2d::bench {

/// The vector instruction sets a peak is measured for.
enum class PeakIsa { kAvx2, kAvx512 };

/// True when this CPU (and OS) runs the peak loop of `isa`: AVX2 + FMA, or AVX-512F.
bool peak_available(PeakIsa isa);

/// GFLOP/s of `threads` threads (one OpenMP team) each running a loop of FMAs of `isa` on 12
/// independent accumulators (enough to cover FMA latency x throughput on current x86 cores), for
/// about `seconds` per trial, best of 3 trials; one FMA counts 2 FLOPs per float lane (16 for
/// AVX2, 32 for AVX-512). 0 when !peak_available(isa).
double fma_peak_gflops(PeakIsa isa, int threads, double seconds = 0.1);

}  // namespace convt2d::bench
