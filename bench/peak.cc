// Compiled with -mavx2 -mfma (bench/CMakeLists.txt); called only after a run-time CPU check.
#include "peak.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define CONVT2D_PEAK_AVX2 1
#endif

namespace convt2d::bench {
namespace {

#ifdef CONVT2D_PEAK_AVX2
constexpr int kAccumulators = 12;
constexpr double kFlopsPerIteration = kAccumulators * 8 * 2;

// `iters` rounds of 12 independent FMA chains a = a*m + c. m < 1 keeps every value bounded and
// normal (no overflow, no denormal slow path); returning the sum keeps the loop alive.
__attribute__((noinline)) float fma_loop(int64_t iters, float seed) {
  const __m256 m = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(1e-3f);
  __m256 a0 = _mm256_set1_ps(seed + 0.0f), a1 = _mm256_set1_ps(seed + 0.1f);
  __m256 a2 = _mm256_set1_ps(seed + 0.2f), a3 = _mm256_set1_ps(seed + 0.3f);
  __m256 a4 = _mm256_set1_ps(seed + 0.4f), a5 = _mm256_set1_ps(seed + 0.5f);
  __m256 a6 = _mm256_set1_ps(seed + 0.6f), a7 = _mm256_set1_ps(seed + 0.7f);
  __m256 a8 = _mm256_set1_ps(seed + 0.8f), a9 = _mm256_set1_ps(seed + 0.9f);
  __m256 a10 = _mm256_set1_ps(seed + 1.0f), a11 = _mm256_set1_ps(seed + 1.1f);
  for (int64_t i = 0; i < iters; ++i) {
    a0 = _mm256_fmadd_ps(a0, m, c);
    a1 = _mm256_fmadd_ps(a1, m, c);
    a2 = _mm256_fmadd_ps(a2, m, c);
    a3 = _mm256_fmadd_ps(a3, m, c);
    a4 = _mm256_fmadd_ps(a4, m, c);
    a5 = _mm256_fmadd_ps(a5, m, c);
    a6 = _mm256_fmadd_ps(a6, m, c);
    a7 = _mm256_fmadd_ps(a7, m, c);
    a8 = _mm256_fmadd_ps(a8, m, c);
    a9 = _mm256_fmadd_ps(a9, m, c);
    a10 = _mm256_fmadd_ps(a10, m, c);
    a11 = _mm256_fmadd_ps(a11, m, c);
  }
  const __m256 s =
      _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                                  _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7))),
                    _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, s);
  float r = 0;
  for (float v : lanes) r += v;
  return r;
}

// Seconds for `threads` threads to run `iters` iterations each (the slowest thread counts).
double timed_run(int threads, int64_t iters) {
  volatile float sink = 0;
  const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
  {
    const float r = fma_loop(iters, static_cast<float>(omp_get_thread_num()));
#pragma omp critical
    sink = sink + r;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
#endif

}  // namespace

bool fma_peak_available() {
#ifdef CONVT2D_PEAK_AVX2
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

double fma_peak_gflops(int threads, double seconds) {
#ifdef CONVT2D_PEAK_AVX2
  if (!fma_peak_available() || threads < 1) return 0.0;
  // Calibrate: grow the count until one run takes a measurable time, then scale to `seconds`.
  int64_t iters = 1 << 16;
  double t = timed_run(1, iters);
  while (t < 0.01) {
    iters *= 4;
    t = timed_run(1, iters);
  }
  iters = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(iters) * seconds / t));
  double best = 0;
  for (int trial = 0; trial < 3; ++trial) {
    const double s = timed_run(threads, iters);
    best = std::max(best, static_cast<double>(threads) * static_cast<double>(iters) *
                              kFlopsPerIteration / s * 1e-9);
  }
  return best;
#else
  (void)threads;
  (void)seconds;
  return 0.0;
#endif
}

}  // namespace convt2d::bench
