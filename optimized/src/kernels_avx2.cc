// AVX2 + FMA (+ F16C) micro-kernels. This file alone is compiled with -mavx2 -mfma -mf16c; the
// driver calls it only after detected_isa() has found them on the CPU.
#include <immintrin.h>

#include "bwd_kernels_impl.h"
#include "kernels_impl.h"

namespace convt2d::optimized {
namespace {

struct Avx2 {
  static constexpr int kLanes = 8;
  static constexpr int kRegisters = 16;  // ymm0-15
  using type = __m256;
  static type broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static void prefetch(const float* p) {
    _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0);
  }
  // lo = a0 b0 a1 b1 a2 b2 a3 b3, hi = a4 b4 ... a7 b7.
  static void zip(type a, type b, type& lo, type& hi) {
    const __m256 l = _mm256_unpacklo_ps(a, b);  // a0 b0 a1 b1 | a4 b4 a5 b5
    const __m256 h = _mm256_unpackhi_ps(a, b);  // a2 b2 a3 b3 | a6 b6 a7 b7
    lo = _mm256_permute2f128_ps(l, h, 0x20);
    hi = _mm256_permute2f128_ps(l, h, 0x31);
  }
  // The inverse of zip: even = a0 a2 a4 a6 b0 b2 b4 b6, odd = a1 a3 a5 a7 b1 b3 b5 b7.
  static void unzip(type a, type b, type& even, type& odd) {
    const __m256 e = _mm256_shuffle_ps(a, b, 0x88);  // a0 a2 b0 b2 | a4 a6 b4 b6
    const __m256 o = _mm256_shuffle_ps(a, b, 0xdd);  // a1 a3 b1 b3 | a5 a7 b5 b7
    even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xd8));
    odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xd8));
  }
  static type add(type a, type b) { return _mm256_add_ps(a, b); }
  // Forces v into a register (an empty asm the compiler cannot see through).
  static type pin(type v) {
    __asm__("" : "+x"(v));
    return v;
  }
  // F16C: exact widening; narrowing to nearest even (the MXCSR mode is not consulted).
  static void widen_f16(const uint16_t* in, float* out) {
    _mm256_storeu_ps(out, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in))));
  }
  static void narrow_f16(const float* in, uint16_t* out) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out),
                     _mm256_cvtps_ph(_mm256_loadu_ps(in), _MM_FROUND_TO_NEAREST_INT));
  }
  static type zero() { return _mm256_setzero_ps(); }
  static type load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, type v) { _mm256_storeu_ps(p, v); }
  // Lane i is on when i < n (n < 8).
  static __m256i mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static type load_partial(const float* p, int64_t n) { return _mm256_maskload_ps(p, mask(n)); }
  static void store_partial(float* p, type v, int64_t n) { _mm256_maskstore_ps(p, mask(n), v); }
  static type fma(type a, type b, type c) { return _mm256_fmadd_ps(a, b, c); }
  static float hsum(type v) {
    const __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 d = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(d, _mm_movehdup_ps(d)));
  }
  // Some lane's exponent is all ones (Inf or NaN).
  static bool any_nonfinite(type v) {
    const __m256i e = _mm256_set1_epi32(0x7f800000);
    const __m256i hit = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_castps_si256(v), e), e);
    return _mm256_movemask_ps(_mm256_castsi256_ps(hit)) != 0;
  }
  // out[0..3] = the lane sums of a, b, c, d: pairs of vectors folded into one per step.
  static void hsum4(type a, type b, type c, type d, float* out) {
    const __m256 ab = _mm256_add_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
    const __m256 cd = _mm256_add_ps(_mm256_unpacklo_ps(c, d), _mm256_unpackhi_ps(c, d));
    const __m256d abd = _mm256_castps_pd(ab), cdd = _mm256_castps_pd(cd);
    // Per 128-bit lane: a b c d.
    const __m256 s = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(abd, cdd)),
                                   _mm256_castpd_ps(_mm256_unpackhi_pd(abd, cdd)));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1)));
  }
};

}  // namespace

const KernelTable& avx2_kernels() {
  static const KernelTable t = make_table<Avx2, 4, 4, 16, 2>("avx2");
  return t;
}

const BwdKernelTable& avx2_bwd_kernels() {
  // 16 registers: bwd_data 4 × 3 vectors (12 accumulators), bwd_weights 3 × 3.
  static const BwdKernelTable t = make_bwd_table<Avx2, 4, 12, 3, 3>("avx2");
  return t;
}

}  // namespace convt2d::optimized
