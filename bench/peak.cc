// The peak driver: CPU checks, calibration and timing. Compiled without ISA flags; the loops
// themselves are in peak_avx2.cc and peak_avx512.cc.
#include "peak.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "peak_loops.h"

namespace convt2d::bench {
namespace {

using Loop = float (*)(int64_t, float);

// Seconds for `threads` threads to run `iters` rounds each (the slowest thread counts).
double timed_run(Loop loop, int threads, int64_t iters) {
  volatile float sink = 0;
  const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
  {
    const float r = loop(iters, static_cast<float>(omp_get_thread_num()));
#pragma omp critical
    sink = sink + r;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

bool peak_available(PeakIsa isa) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  // GCC and clang check the OS's support for the register state too (XGETBV).
  if (isa == PeakIsa::kAvx2) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  return __builtin_cpu_supports("avx512f");
#else
  (void)isa;
  return false;
#endif
}

double fma_peak_gflops(PeakIsa isa, int threads, double seconds) {
  if (!peak_available(isa) || threads < 1) return 0.0;
  const Loop loop = isa == PeakIsa::kAvx2 ? detail::fma_loop_avx2 : detail::fma_loop_avx512;
  const double flops_per_round = detail::kPeakAccumulators * (isa == PeakIsa::kAvx2 ? 8 : 16) * 2.0;
  // Calibrate: grow the count until one run takes a measurable time, then scale to `seconds`.
  int64_t iters = 1 << 16;
  double t = timed_run(loop, 1, iters);
  while (t < 0.01) {
    iters *= 4;
    t = timed_run(loop, 1, iters);
  }
  iters = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(iters) * seconds / t));
  double best = 0;
  for (int trial = 0; trial < 3; ++trial) {
    const double s = timed_run(loop, threads, iters);
    best = std::max(best, static_cast<double>(threads) * static_cast<double>(iters) *
                              flops_per_round / s * 1e-9);
  }
  return best;
}

}  // namespace convt2d::bench
