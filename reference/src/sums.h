#pragma once
// The accumulators the literal loops sum in (forward and backward passes alike): an exact
// fixed-point sum of float32 products, the choice of accumulator for an Acc result, and how a value
// or a product becomes a term of it. Internal to reference/.

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "convt2d/reference.h"

namespace convt2d::detail {

// An exact sum of float32 products (and float32 values) in fixed point: the value is
// sum_i limb[i] * 2^(32 i - 298). Every such product is a double that is a multiple of 2^-298
// below 2^256 (see Exact in reference.h), so it adds exactly as at most three 32-bit digits, each
// into a 64-bit limb with room for 2^31 additions before carries must move. 22 limbs reach
// 2^406, beyond any sum of 2^60 such terms. An addition costs a few integer operations instead of
// a 640-bit floating-point addition; the conversion to Exact at the end is exact. Non-finite
// terms are summed apart in double, with IEEE semantics (Inf + -Inf is NaN), as Exact does.
class FixedSum {
 public:
  FixedSum() = default;
  explicit FixedSum(double v) { *this += v; }

  FixedSum& operator+=(double v) {
    if (v == 0) return *this;
    if (!std::isfinite(v)) {
      special_ += v;
      return *this;
    }
    const uint64_t bits = std::bit_cast<uint64_t>(v);
    const int biased = static_cast<int>(bits >> 52 & 0x7ff);
    uint64_t m = bits & ((uint64_t{1} << 52) - 1);
    const int lsb = biased == 0 ? -1074 : biased - 1075;  // the exponent of m's last bit
    if (biased != 0) m |= uint64_t{1} << 52;
    const int tz = std::countr_zero(m);
    m >>= tz;
    const int pos = lsb + tz + kOffset;  // where m's last bit sits in the limbs
    const int i = pos >> 5, sh = pos & 31;
    if (pos < 0 || i + 2 >= static_cast<int>(kLimbs)) {
      throw std::logic_error("FixedSum: a term outside the range of float32 products");
    }
    const uint64_t lo = (m & kDigit) << sh, hi = (m >> 32) << sh;  // m < 2^53, sh < 32
    const auto d0 = static_cast<int64_t>(lo & kDigit);
    const auto d1 = static_cast<int64_t>((lo >> 32) + (hi & kDigit));
    const auto d2 = static_cast<int64_t>(hi >> 32);
    const size_t k = static_cast<size_t>(i);
    if (std::signbit(v)) {
      limb_[k] -= d0, limb_[k + 1] -= d1, limb_[k + 2] -= d2;
    } else {
      limb_[k] += d0, limb_[k + 1] += d1, limb_[k + 2] += d2;
    }
    if (++adds_ == kAddsPerCarry) carry();
    return *this;
  }

  Exact value() const {
    if (special_ != 0) return Exact(special_);  // Inf or NaN
    FixedSum t = *this;
    const bool negative = t.to_magnitude();
    // In 64-bit pieces from the top: all of one sign, so the additions never cancel, and a sum of
    // small numbers (most sums) takes one or two of them.
    Exact r = 0;
    for (size_t i = kLimbs; i-- > 0;) {
      if (t.limb_[i] == 0) continue;
      uint64_t piece = static_cast<uint64_t>(t.limb_[i]) << 32;
      int low = 32 * static_cast<int>(i) - 32;
      if (i > 0) {
        piece |= static_cast<uint64_t>(t.limb_[i - 1]);
        --i;
      } else {
        piece >>= 32;
        low += 32;
      }
      r += ldexp(Exact(piece), low - kOffset);
    }
    return negative ? -r : r;
  }

  /// The value as hi + lo: hi a double within an ulp of it (two roundings), lo the rest where that
  /// is a double, else NaN. Non-finite: hi is the value, lo NaN.
  void pair(double& hi, double& lo) const {
    lo = std::numeric_limits<double>::quiet_NaN();
    if (special_ != 0) {
      hi = special_;
      return;
    }
    FixedSum t = *this;
    const bool negative = t.to_magnitude();
    size_t top = kLimbs;
    while (top > 0 && t.limb_[top - 1] == 0) --top;
    if (top == 0) {
      hi = lo = 0;
      return;
    }
    --top;
    const auto at = [&](size_t i) {
      return std::ldexp(static_cast<double>(t.limb_[i]), 32 * static_cast<int>(i) - kOffset);
    };
    // The top 96 bits (the 64-bit conversion and the addition round at most once each).
    double h = at(top);
    if (top >= 1) {
      const uint64_t piece =
          static_cast<uint64_t>(t.limb_[top]) << 32 | static_cast<uint64_t>(t.limb_[top - 1]);
      h = std::ldexp(static_cast<double>(piece), 32 * static_cast<int>(top - 1) - kOffset);
      if (top >= 2) h += at(top - 2);
    }
    hi = negative ? -h : h;
    FixedSum rest = *this;
    rest += -hi;  // exact: hi is a multiple of 2^-298 (it rounds a sum of such multiples)
    rest.as_double(lo);
  }

 private:
  // lo = the value if it is exactly a double (at most 53 significant bits); else unchanged.
  void as_double(double& out) const {
    FixedSum t = *this;
    const bool negative = t.to_magnitude();
    size_t bottom = 0;
    while (bottom < kLimbs && t.limb_[bottom] == 0) ++bottom;
    if (bottom == kLimbs) {
      out = 0;
      return;
    }
    size_t top = kLimbs - 1;
    while (t.limb_[top] == 0) --top;
    const auto top_limb = static_cast<uint64_t>(t.limb_[top]);
    const auto bottom_limb = static_cast<uint64_t>(t.limb_[bottom]);
    const int tz = std::countr_zero(bottom_limb);
    const int low = 32 * static_cast<int>(bottom) + tz;
    const int high = 32 * static_cast<int>(top) + 63 - std::countl_zero(top_limb);
    if (high - low >= 53) return;
    uint64_t m = bottom_limb >> tz;
    for (size_t i = bottom + 1, shift = 32 - static_cast<size_t>(tz); i <= top; ++i, shift += 32) {
      m |= static_cast<uint64_t>(t.limb_[i]) << shift;  // shift < 53 here: the span is < 53
    }
    const double v = std::ldexp(static_cast<double>(m), low - kOffset);
    out = negative ? -v : v;
  }

  // Carries moved, then the magnitude as 32-bit digits (two's complement negation when the top
  // limb is negative); returns whether the value is negative.
  bool to_magnitude() {
    carry();
    const bool negative = limb_[kLimbs - 1] < 0;
    if (negative) {
      int64_t borrow = 0;
      for (size_t i = 0; i < kLimbs; ++i) {
        const int64_t d = -limb_[i] - borrow;
        borrow = d < 0 && i + 1 < kLimbs ? 1 : 0;
        limb_[i] = d + borrow * (int64_t{1} << 32);
      }
    }
    return negative;
  }

  static constexpr size_t kLimbs = 22;
  static constexpr int kOffset = 298;
  static constexpr uint64_t kDigit = 0xffffffffu;
  static constexpr int64_t kAddsPerCarry = int64_t{1} << 30;
  // Every limb but the last into [0, 2^32), its carry (the arithmetic shift floors) moved up.
  void carry() {
    for (size_t i = 0; i + 1 < kLimbs; ++i) {
      const int64_t c = limb_[i] >> 32;
      limb_[i] -= c * (int64_t{1} << 32);
      limb_[i + 1] += c;
    }
    adds_ = 0;
  }
  int64_t limb_[kLimbs] = {};
  int64_t adds_ = 0;
  double special_ = 0;  // the sum of the non-finite terms
};

static_assert(sizeof(FixedSum) <= 192, "kExactBytesPerElement counts 192 bytes per sum");

// What the loops sum in for an Acc result: FixedSum for exact sums of float32 products (float16
// and bfloat16 values are float32 values), Acc itself otherwise.
template <class T, class Acc>
using SumOf =
    std::conditional_t<(std::is_same_v<T, float> || is_half_v<T>)&&std::is_same_v<Acc, Exact>,
                       FixedSum, Acc>;

// v as a term of a Sum. float16 and bfloat16 values are float values, so they widen through float
// exactly.
template <class Sum, class T>
auto widen(T v) {
  if constexpr (std::is_same_v<Sum, FixedSum>) {
    return static_cast<double>(static_cast<float>(v));
  } else if constexpr (std::is_same_v<Sum, T>) {
    return v;
  } else if constexpr (is_half_v<T>) {
    return static_cast<Sum>(static_cast<float>(v));
  } else {
    return static_cast<Sum>(v);
  }
}

// x * w as a term of a Sum. A float32 product has 48 significant bits and an exponent within
// double's range, so for FixedSum and Exact it is formed in double, exactly: same value, far
// cheaper than a 640-bit multiplication (the same holds for float16 and bfloat16).
template <class T, class Sum>
auto product(T x, T w) {
  if constexpr (std::is_same_v<Sum, FixedSum>) {
    return static_cast<double>(widen<float>(x)) * static_cast<double>(widen<float>(w));
  } else if constexpr ((std::is_same_v<T, float> || is_half_v<T>)&&std::is_same_v<Sum, Exact>) {
    return Sum(static_cast<double>(x) * static_cast<double>(w));
  } else {
    return widen<Sum>(x) * widen<Sum>(w);
  }
}

template <class Acc, class Sum>
Tensor<Acc> results_of(Tensor<Sum>&& t) {
  if constexpr (std::is_same_v<Acc, Sum>) {
    return std::move(t);
  } else {
    Tensor<Acc> r(t.shape);
    for (size_t i = 0; i < t.data.size(); ++i) r.data[i] = t.data[i].value();
    return r;
  }
}

}  // namespace convt2d::detail
