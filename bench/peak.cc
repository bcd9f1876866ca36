// The peak driver: CPU checks, calibration and timing. Compiled without ISA flags; the loops
// themselves are in peak_avx2.cc and peak_avx512.cc.
#include "peak.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <span>

#include "peak_loops.h"

namespace convt2d::bench {
namespace {

using Loop = float (*)(int, int64_t, float);

// Seconds for `threads` threads to run `iters` rounds of `chains` chains each (the slowest thread
// counts).
double timed_run(Loop loop, int chains, int threads, int64_t iters) {
  volatile float sink = 0;
  const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
  {
    const float r = loop(chains, iters, static_cast<float>(omp_get_thread_num()));
#pragma omp critical
    sink = sink + r;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Rounds of `chains` chains that take about `seconds` on one thread: grown until one run takes a
// measurable time, then scaled.
int64_t calibrate(Loop loop, int chains, double seconds) {
  int64_t iters = 1 << 14;
  double t = timed_run(loop, chains, 1, iters);
  while (t < 0.005) {
    iters *= 4;
    t = timed_run(loop, chains, 1, iters);
  }
  return std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(iters) * seconds / t));
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

PeakResult fma_peak(PeakIsa isa, int threads, double seconds) {
  if (!peak_available(isa) || threads < 1) return {};
  const bool avx2 = isa == PeakIsa::kAvx2;
  const Loop loop = avx2 ? detail::fma_loop_avx2 : detail::fma_loop_avx512;
  const std::span<const int> counts = avx2 ? std::span<const int>(detail::kAvx2Chains)
                                           : std::span<const int>(detail::kAvx512Chains);
  const double lanes = avx2 ? 8 : 16;
  const auto gflops = [&](int chains, int64_t iters, double s) {
    return static_cast<double>(threads) * static_cast<double>(iters) * chains * lanes * 2.0 / s *
           1e-9;
  };
  // A short sweep picks the chain count that keeps the FMA units busiest on this core...
  PeakResult r;
  for (const int chains : counts) {
    const int64_t iters = calibrate(loop, chains, 0.1 * seconds);
    const double g = gflops(chains, iters, timed_run(loop, chains, threads, iters));
    if (g > r.gflops) r = {g, chains};
  }
  // ... then the best of 3 trials of about `seconds` with it.
  const int64_t iters = calibrate(loop, r.chains, seconds);
  for (int trial = 0; trial < 3; ++trial) {
    r.gflops =
        std::max(r.gflops, gflops(r.chains, iters, timed_run(loop, r.chains, threads, iters)));
  }
  return r;
}

double fma_peak_gflops(PeakIsa isa, int threads, double seconds) {
  return fma_peak(isa, threads, seconds).gflops;
}

}  // namespace convt2d::bench
