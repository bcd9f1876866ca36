// Compiled with -mavx512f; runs only after a run-time CPU check (peak.cc).
#include <cstdint>

#include "peak_loops.h"

#if defined(__AVX512F__)
#include <immintrin.h>

namespace convt2d::bench::detail {
namespace {

// The AVX2 loop (peak_avx2.cc) on 16-float registers.
template <int N>
__attribute__((noinline)) float chains(int64_t iters, float seed) {
  const __m512 m = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-3f);
  __m512 a[N];
#pragma GCC unroll 32
  for (int i = 0; i < N; ++i) a[i] = _mm512_set1_ps(seed + 0.1f * static_cast<float>(i));
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 32
    for (int i = 0; i < N; ++i) a[i] = _mm512_fmadd_ps(a[i], m, c);
  }
  __m512 s = a[0];
#pragma GCC unroll 32
  for (int i = 1; i < N; ++i) s = _mm512_add_ps(s, a[i]);
  return _mm512_reduce_add_ps(s);
}

}  // namespace

float fma_loop_avx512(int n, int64_t iters, float seed) {
  switch (n) {
    case 8:
      return chains<8>(iters, seed);
    case 12:
      return chains<12>(iters, seed);
    case 16:
      return chains<16>(iters, seed);
    case 20:
      return chains<20>(iters, seed);
    case 24:
      return chains<24>(iters, seed);
    default:
      return chains<28>(iters, seed);
  }
}

}  // namespace convt2d::bench::detail
#else
namespace convt2d::bench::detail {
float fma_loop_avx512(int, int64_t, float) {
  return 0.0f;
}  // never called: peak_available() is false
}  // namespace convt2d::bench::detail
#endif
