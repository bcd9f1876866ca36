// AVX2 + FMA micro-kernels. This file alone is compiled with -mavx2 -mfma; the driver calls it
// only after detected_isa() has found both on the CPU.
#include <immintrin.h>

#include "kernels_impl.h"

namespace convt2d::optimized {
namespace {

struct Avx2 {
  static constexpr int kLanes = 8;
  using type = __m256;
  static type broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static type zero() { return _mm256_setzero_ps(); }
  static type load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, type v) { _mm256_storeu_ps(p, v); }
  static type fma(type a, type b, type c) { return _mm256_fmadd_ps(a, b, c); }
};

}  // namespace

const KernelTable& avx2_kernels() {
  static const KernelTable t = make_table<Avx2, 4>("avx2");
  return t;
}

}  // namespace convt2d::optimized
