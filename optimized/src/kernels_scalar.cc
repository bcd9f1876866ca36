// Portable micro-kernels for CPUs without AVX2/FMA: the same tiles over an 8-lane array. Compiled
// with the project's default flags (the compiler may still use SSE2 for them).
#include <cmath>
#include <string>
#include <utility>

#include "bwd_kernels_impl.h"
#include "kernels_impl.h"

namespace convt2d::optimized {
namespace {

struct Lanes8 {
  static constexpr int kLanes = 8;
  static constexpr int kRegisters = 16;  // as AVX2, whose tile shapes it shares
  struct type {
    float v[8];
  };
  static type broadcast(const float* p) {
    type r;
    for (float& e : r.v) e = *p;
    return r;
  }
  static void prefetch(const float*) {}
  static void zip(const type& a, const type& b, type& lo, type& hi) {
    for (int i = 0; i < 4; ++i) {
      lo.v[2 * i] = a.v[i];
      lo.v[2 * i + 1] = b.v[i];
      hi.v[2 * i] = a.v[4 + i];
      hi.v[2 * i + 1] = b.v[4 + i];
    }
  }
  static void unzip(const type& a, const type& b, type& even, type& odd) {
    for (int i = 0; i < 4; ++i) {
      even.v[i] = a.v[2 * i];
      odd.v[i] = a.v[2 * i + 1];
      even.v[4 + i] = b.v[2 * i];
      odd.v[4 + i] = b.v[2 * i + 1];
    }
  }
  static type add(type a, const type& b) {
    for (int i = 0; i < 8; ++i) a.v[i] += b.v[i];
    return a;
  }
  static const type& pin(const type& v) { return v; }
  static void widen_f16(const uint16_t* in, float* out) {
    for (int i = 0; i < 8; ++i) out[i] = float16::from_bits(in[i]).to_float();
  }
  static void narrow_f16(const float* in, uint16_t* out) {
    for (int i = 0; i < 8; ++i) out[i] = float16(in[i]).bits();
  }
  static type zero() { return type{}; }
  static type load(const float* p) {
    type r;
    for (int i = 0; i < 8; ++i) r.v[i] = p[i];
    return r;
  }
  static type load_partial(const float* p, int64_t n) {
    type r{};
    for (int64_t i = 0; i < n; ++i) r.v[i] = p[i];
    return r;
  }
  static void store_partial(float* p, const type& v, int64_t n) {
    for (int64_t i = 0; i < n; ++i) p[i] = v.v[i];
  }
  static void store(float* p, const type& v) {
    for (int i = 0; i < 8; ++i) p[i] = v.v[i];
  }
  // Separate multiply and add: a portable build need not have a fast fused multiply-add.
  static type fma(const type& a, const type& b, type c) {
    for (int i = 0; i < 8; ++i) c.v[i] += a.v[i] * b.v[i];
    return c;
  }
  static float hsum(const type& v) {
    float s = 0.0f;
    for (float e : v.v) s += e;
    return s;
  }
  static bool any_nonfinite(const type& v) {
    bool any = false;
    for (float e : v.v) any = any || !std::isfinite(e);
    return any;
  }
  static void hsum4(const type& a, const type& b, const type& c, const type& d, float* out) {
    out[0] = hsum(a);
    out[1] = hsum(b);
    out[2] = hsum(c);
    out[3] = hsum(d);
  }
};

}  // namespace

const KernelTable& scalar_kernels() {
  static const KernelTable t = make_table<Lanes8, 4, 4, 16, 2>("scalar");
  return t;
}

const BwdKernelTable& scalar_bwd_kernels() {
  static const BwdKernelTable t = make_bwd_table<Lanes8, 4, 12, 3, 3>("scalar");
  return t;
}

}  // namespace convt2d::optimized
