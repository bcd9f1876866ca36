// Compiled with -mavx512f; runs only after a run-time CPU check (peak.cc).
#include <cstdint>

#include "peak_loops.h"

#if defined(__AVX512F__)
#include <immintrin.h>

namespace convt2d::bench::detail {

// The AVX2 loop (peak_avx2.cc) on 16-float registers.
__attribute__((noinline)) float fma_loop_avx512(int64_t iters, float seed) {
  const __m512 m = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-3f);
  __m512 a0 = _mm512_set1_ps(seed + 0.0f), a1 = _mm512_set1_ps(seed + 0.1f);
  __m512 a2 = _mm512_set1_ps(seed + 0.2f), a3 = _mm512_set1_ps(seed + 0.3f);
  __m512 a4 = _mm512_set1_ps(seed + 0.4f), a5 = _mm512_set1_ps(seed + 0.5f);
  __m512 a6 = _mm512_set1_ps(seed + 0.6f), a7 = _mm512_set1_ps(seed + 0.7f);
  __m512 a8 = _mm512_set1_ps(seed + 0.8f), a9 = _mm512_set1_ps(seed + 0.9f);
  __m512 a10 = _mm512_set1_ps(seed + 1.0f), a11 = _mm512_set1_ps(seed + 1.1f);
  for (int64_t i = 0; i < iters; ++i) {
    a0 = _mm512_fmadd_ps(a0, m, c);
    a1 = _mm512_fmadd_ps(a1, m, c);
    a2 = _mm512_fmadd_ps(a2, m, c);
    a3 = _mm512_fmadd_ps(a3, m, c);
    a4 = _mm512_fmadd_ps(a4, m, c);
    a5 = _mm512_fmadd_ps(a5, m, c);
    a6 = _mm512_fmadd_ps(a6, m, c);
    a7 = _mm512_fmadd_ps(a7, m, c);
    a8 = _mm512_fmadd_ps(a8, m, c);
    a9 = _mm512_fmadd_ps(a9, m, c);
    a10 = _mm512_fmadd_ps(a10, m, c);
    a11 = _mm512_fmadd_ps(a11, m, c);
  }
  const __m512 s =
      _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                                  _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7))),
                    _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
  // Not _mm512_reduce_add_ps: GCC 12's version of it warns about an uninitialized variable.
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  float r = 0;
  for (float v : lanes) r += v;
  return r;
}

}  // namespace convt2d::bench::detail
#else
namespace convt2d::bench::detail {
float fma_loop_avx512(int64_t, float) {
  return 0.0f;
}  // never called: peak_available() is false
}  // namespace convt2d::bench::detail
#endif
