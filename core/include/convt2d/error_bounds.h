#pragma once
/// \file
/// Certified forward-error bounds for ConvTranspose2d (derivation: docs/error-bounds.md).
///
/// An implementation with unit roundoff u that forms each of the K products w*x that land on an
/// output element, and sums them with the bias in any order (FMA allowed), returns y_hat with
///
///   |y_hat - y| <= gamma(K+1) * sum|w*x| + gamma(K) * |b| + K * eta * (1 + gamma(K))
///
/// where gamma(n) = n*u / (1 - n*u) and eta is half the smallest subnormal of the working format
/// (absorbs products that underflow). This is at most the classical gamma(K+1) * (|b| + sum|w*x|)
/// plus the underflow term, and it is exactly 0 when K == 0: the output must equal the bias.

#include <cstdint>
#include <vector>

#include "convt2d/params.h"

namespace convt2d {

/// The arithmetic an implementation claims to use: unit roundoff u = 2^-p for a p-bit significand
/// and eta >= the absolute error of a product that underflows (half the smallest subnormal).
struct Precision {
  double u;
  double eta;
  friend bool operator==(const Precision&, const Precision&) = default;
};

/// IEEE binary32: u = 2^-24, eta = 2^-150.
inline constexpr Precision kFloat32Precision{0x1p-24, 0x1p-150};
/// IEEE binary64: u = 2^-53, eta = 2^-1074 (2^-1075 is not representable; the next value up is).
inline constexpr Precision kFloat64Precision{0x1p-53, 0x1p-1074};
/// IEEE binary16 (float16): u = 2^-11, eta = 2^-25 (half of the smallest subnormal 2^-24).
inline constexpr Precision kFloat16Precision{0x1p-11, 0x1p-25};
/// bfloat16: u = 2^-8, eta = 2^-134 (half of the smallest subnormal 2^-133).
inline constexpr Precision kBFloat16Precision{0x1p-8, 0x1p-134};

/// Everything the certified bound needs to know about an implementation's arithmetic
/// (docs/error-bounds.md): the accumulation, and what happens between the accumulator and the
/// returned value.
struct Arithmetic {
  /// Products and sums (the bias included, in any order) rounded with this precision.
  Precision accumulation = kFloat32Precision;
  /// Roundings, with the accumulation's u and eta, that each term may pass beyond those of the
  /// sum itself. The `default` compute_mode of float16/bfloat16 claims 1: the implementation may
  /// accumulate in the storage type or in anything wider and round the convolution result to the
  /// storage type before it adds the bias.
  int extra_roundings = 0;
  /// Unit roundoff of a final rounding from the accumulator to a narrower output format (0: none).
  double output_u = 0.0;
  /// Absolute error of that rounding when it lands in the output's subnormal range (half its
  /// smallest subnormal; 0 when the output format is at least as wide as the accumulator's range).
  double output_eta = 0.0;
  /// The bias is not in the accumulator: the convolution result is rounded to the output format
  /// and the bias is then added in the output format (MegEngine's float16 order; one more
  /// rounding with output_u). A bound claimed with this flag also covers the bias-in-accumulator
  /// order.
  bool bias_after_rounding = false;
  friend bool operator==(const Arithmetic&, const Arithmetic&) = default;
};

/// gamma(n) = n*u / (1 - n*u), rounded up; +infinity when n*u >= 1 (no bound exists).
double gamma(int64_t n, double u);

/// The bound for one element: gamma(K+1+x)*abs_products + gamma(K+x)*abs_bias +
/// (K+x)*eta*(1 + gamma(K+x)), rounded up, with x = `extra_roundings` (0: the standard bound).
/// `abs_products` must already be an upper bound on sum|w*x|.
double element_bound(int64_t k, double abs_products, double abs_bias, Precision prec,
                     int extra_roundings = 0);

/// Taps that land on each output row: count[oh] = #{(ih, fh) : ih*sh - ph + fh*dh == oh}, with
/// 0 <= ih < H and 0 <= fh < kh. Same for columns with w values.
std::vector<int64_t> taps_per_row(const Problem& pr);
std::vector<int64_t> taps_per_col(const Problem& pr);

/// K for output element (n, c, oh, ow): (IC/G) * taps_per_row[oh] * taps_per_col[ow] (it depends
/// neither on n nor on c).
inline int64_t taps_at(const Problem& pr, const std::vector<int64_t>& rows,
                       const std::vector<int64_t>& cols, int64_t oh, int64_t ow) {
  return pr.params.in_channels / pr.params.groups * rows[static_cast<size_t>(oh)] *
         cols[static_cast<size_t>(ow)];
}

}  // namespace convt2d
