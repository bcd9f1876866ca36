#pragma once
/// \file
/// The machine's float32 FMA peak, measured: the yardstick for "% of peak" in `convt2d bench`.

namespace convt2d::bench {

/// True when this CPU runs AVX2 and FMA (the peak loop needs both).
bool fma_peak_available();

/// GFLOP/s of `threads` threads (OpenMP) each running a loop of AVX2 FMAs on 12 independent
/// accumulators (enough to cover FMA latency x throughput on current x86 cores), for about
/// `seconds` per trial, best of 3 trials; one FMA on 8 floats counts 16 FLOPs. 0 when
/// !fma_peak_available().
double fma_peak_gflops(int threads, double seconds = 0.1);

}  // namespace convt2d::bench
