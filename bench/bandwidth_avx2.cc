// Compiled with -mavx2; runs only after a run-time CPU check (bandwidth.cc).
#include <cstdint>

#include "bandwidth.h"

#if defined(__AVX2__)
#include <immintrin.h>

namespace convt2d::bench::detail {

// Four independent integer adds per 128 bytes: one-cycle adds never hold back two loads a cycle.
uint64_t read_words_avx2(const uint64_t* p, int64_t n) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t i = 0; i < n; i += 16) {
    a0 = _mm256_add_epi64(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_add_epi64(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 4)));
    a2 = _mm256_add_epi64(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 8)));
    a3 = _mm256_add_epi64(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 12)));
  }
  const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

}  // namespace convt2d::bench::detail
#else
namespace convt2d::bench::detail {
uint64_t read_words_avx2(const uint64_t*, int64_t) {
  return 0;
}  // never called: the CPU check failed
}  // namespace convt2d::bench::detail
#endif
