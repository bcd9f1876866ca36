// Compiled with -mavx2 -mfma; runs only after a run-time CPU check (peak.cc).
#include <cstdint>

#include "peak_loops.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

namespace convt2d::bench::detail {
namespace {

// a = a*m + c on N independent registers. m < 1 keeps every value bounded and normal (no
// overflow, no denormal slow path). The array lives in registers: the loop is fully unrolled and
// nothing takes its address.
template <int N>
__attribute__((noinline)) float chains(int64_t iters, float seed) {
  const __m256 m = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(1e-3f);
  __m256 a[N];
#pragma GCC unroll 32
  for (int i = 0; i < N; ++i) a[i] = _mm256_set1_ps(seed + 0.1f * static_cast<float>(i));
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 32
    for (int i = 0; i < N; ++i) a[i] = _mm256_fmadd_ps(a[i], m, c);
  }
  __m256 s = a[0];
#pragma GCC unroll 32
  for (int i = 1; i < N; ++i) s = _mm256_add_ps(s, a[i]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, s);
  float r = 0;
  for (float v : lanes) r += v;
  return r;
}

}  // namespace

float fma_loop_avx2(int n, int64_t iters, float seed) {
  switch (n) {
    case 6:
      return chains<6>(iters, seed);
    case 8:
      return chains<8>(iters, seed);
    case 10:
      return chains<10>(iters, seed);
    case 12:
      return chains<12>(iters, seed);
    default:
      return chains<14>(iters, seed);
  }
}

}  // namespace convt2d::bench::detail
#else
namespace convt2d::bench::detail {
float fma_loop_avx2(int, int64_t, float) {
  return 0.0f;
}  // never called: peak_available() is false
}  // namespace convt2d::bench::detail
#endif
