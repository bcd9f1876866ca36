// AVX-512F micro-kernels: 32 vector registers hold an 8 × 48 tile (24 accumulators), which on
// CPUs with full-width 512-bit FMA units doubles the AVX2 kernels' throughput. This file alone is
// compiled with -mavx512f -mfma; the driver calls it only after detected_isa() found AVX-512F.
#include <immintrin.h>

// GCC 12's own avx512fintrin.h trips -Wmaybe-uninitialized in _mm512_cvtps_ph / _mm512_cvtph_ps
// (its undefined "passthrough" operand); nothing of ours is uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// The same for _mm512_reduce_add_ps (its extract of the upper half).
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <algorithm>

#include "bwd_kernels_impl.h"
#include "kernels_impl.h"

namespace convt2d::optimized {
namespace {

struct Avx512 {
  static constexpr int kLanes = 16;
  static constexpr int kRegisters = 32;  // zmm0-31
  using type = __m512;
  static type broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static void prefetch(const float* p) {
    _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0);
  }
  // lo = a0 b0 a1 b1 ... a7 b7, hi = a8 b8 ... a15 b15.
  static void zip(type a, type b, type& lo, type& hi) {
    const __m512i ilo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ihi =
        _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    lo = _mm512_permutex2var_ps(a, ilo, b);
    hi = _mm512_permutex2var_ps(a, ihi, b);
  }
  // The inverse of zip: even = a0 a2 ... a14 b0 b2 ... b14, odd = a1 a3 ... b15.
  static void unzip(type a, type b, type& even, type& odd) {
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    even = _mm512_permutex2var_ps(a, ie, b);
    odd = _mm512_permutex2var_ps(a, io, b);
  }
  static type add(type a, type b) { return _mm512_add_ps(a, b); }
  // Forces v into a register (an empty asm the compiler cannot see through).
  static type pin(type v) {
    __asm__("" : "+v"(v));
    return v;
  }
  static void widen_f16(const uint16_t* in, float* out) {
    _mm512_storeu_ps(out,
                     _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in))));
  }
  static void narrow_f16(const float* in, uint16_t* out) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),
                        _mm512_cvtps_ph(_mm512_loadu_ps(in), _MM_FROUND_TO_NEAREST_INT));
  }
  static type zero() { return _mm512_setzero_ps(); }
  static type load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, type v) { _mm512_storeu_ps(p, v); }
  static __mmask16 mask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1); }
  static type load_partial(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(mask(n), p); }
  static void store_partial(float* p, type v, int64_t n) { _mm512_mask_storeu_ps(p, mask(n), v); }
  static type fma(type a, type b, type c) { return _mm512_fmadd_ps(a, b, c); }
  static float hsum(type v) { return _mm512_reduce_add_ps(v); }
  // Some lane's exponent is all ones (Inf or NaN).
  static bool any_nonfinite(type v) {
    const __m512i e = _mm512_set1_epi32(0x7f800000);
    return _mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_castps_si512(v), e), e) != 0;
  }
  // out[0..3] = the lane sums of a, b, c, d: pairs of vectors folded into one per step (a third
  // of the shuffles and adds of four hsum).
  static void hsum4(type a, type b, type c, type d, float* out) {
    const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    const __m512d abd = _mm512_castps_pd(ab), cdd = _mm512_castps_pd(cd);
    // Per 128-bit lane: a b c d.
    const __m512 s = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(abd, cdd)),
                                   _mm512_castpd_ps(_mm512_unpackhi_pd(abd, cdd)));
    const __m256 h =
        _mm256_add_ps(_mm512_castps512_ps256(s),
                      _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
  }
};

void pack_small_kernel(const SmallPackArgs& p) {
  const auto part = [&](int64_t from) {
    return Avx512::mask(std::clamp<int64_t>(p.plane_size - from, 0, 16));
  };
  const __mmask16 m0 = part(0), m1 = part(16), m2 = part(32), m3 = part(48);
  const bool wide = p.plane_size > 32;
  const float* plane = p.plane0;
  float* out = p.out;
  const int64_t rows = p.taps * p.nvec;
  const __m512i zero = _mm512_setzero_si512(), bit5 = _mm512_set1_epi32(32);
  const __m512i keep = _mm512_set1_epi32(-1);  // lanes with index -2 are left as they are
  for (int64_t c = 0; c < p.channels; ++c, plane += p.plane_stride) {
    // Masked loads: nothing past the plane is read.
    const __m512 v0 = _mm512_maskz_loadu_ps(m0, plane), v1 = _mm512_maskz_loadu_ps(m1, plane + 16);
    if (!wide) {
      for (int64_t r = 0; r < rows; ++r, out += 16) {
        const __m512i idx = _mm512_loadu_si512(p.idx + 16 * r);
        const __mmask16 valid = _mm512_cmpge_epi32_mask(idx, zero);
        _mm512_mask_storeu_ps(out, _mm512_cmpge_epi32_mask(idx, keep),
                              _mm512_maskz_permutex2var_ps(valid, v0, idx, v1));
      }
      continue;
    }
    // 33 to 64 floats: a permute of each half, and bit 5 of the index picks the half.
    const __m512 v2 = _mm512_maskz_loadu_ps(m2, plane + 32);
    const __m512 v3 = _mm512_maskz_loadu_ps(m3, plane + 48);
    for (int64_t r = 0; r < rows; ++r, out += 16) {
      const __m512i idx = _mm512_loadu_si512(p.idx + 16 * r);
      const __mmask16 valid = _mm512_cmpge_epi32_mask(idx, zero);
      const __mmask16 upper = _mm512_test_epi32_mask(idx, bit5);
      const __m512 lo = _mm512_permutex2var_ps(v0, idx, v1);
      const __m512 hi = _mm512_permutex2var_ps(v2, idx, v3);
      _mm512_mask_storeu_ps(out, _mm512_cmpge_epi32_mask(idx, keep),
                            _mm512_maskz_mov_ps(valid, _mm512_mask_blend_ps(upper, lo, hi)));
    }
  }
}

}  // namespace

const KernelTable& avx512_kernels() {
  static const KernelTable t = [] {
    KernelTable k = make_table<Avx512, 8, 8, 32, 4>("avx512");
    k.pack_small = &pack_small_kernel;
    return k;
  }();
  return t;
}

const BwdKernelTable& avx512_bwd_kernels() {
  // bwd_data: 8 × 3 vectors (24 accumulators, the input vectors and a weight in 32 registers);
  // bwd_weights: 4 × 6 (24 accumulators, 4 x vectors, one dy vector).
  static const BwdKernelTable t = make_bwd_table<Avx512, 8, 24, 4, 6>("avx512");
  return t;
}

}  // namespace convt2d::optimized
