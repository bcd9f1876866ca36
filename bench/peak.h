#pragma once
/// \file
/// The machine's float32 FMA peak, measured: the yardstick for "% of peak" in `convt2d bench`.

namespace convt2d::bench {

/// The vector instruction sets a peak is measured for.
enum class PeakIsa { kAvx2, kAvx512 };

/// True when this CPU (and OS) runs the peak loop of `isa`: AVX2 + FMA, or AVX-512F.
bool peak_available(PeakIsa isa);

/// A measured peak and the number of independent FMA chains that reached it.
struct PeakResult {
  double gflops = 0;
  int chains = 0;
};

/// GFLOP/s of `threads` threads (one OpenMP team) each running a loop of FMAs of `isa` on
/// independent accumulators: a short sweep over chain counts (6-14 for AVX2, 8-28 for AVX-512,
/// so that latency x FMA units of any current x86 core is covered) picks the best, which then runs
/// about `seconds` per trial, best of 3 trials. One FMA counts 2 FLOPs per float lane (16 for
/// AVX2, 32 for AVX-512). {0, 0} when !peak_available(isa).
PeakResult fma_peak(PeakIsa isa, int threads, double seconds = 0.1);

/// fma_peak(isa, threads, seconds).gflops.
double fma_peak_gflops(PeakIsa isa, int threads, double seconds = 0.1);

}  // namespace convt2d::bench
