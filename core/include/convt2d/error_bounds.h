#pragma once
/// \file
/// Certified forward-error bounds for ConvTranspose2d (derivation: docs/error-bounds.md).
///
/// An implementation with unit roundoff u that forms each of the K products w*x that land on an
/// output element, and sums them with the bias in any order (FMA allowed), returns y_hat with
///
///   |y_hat - y| <= g(K+1) * sum|w*x| + g(K) * |b| + K * eta * (1 + g(K))
///
/// where g(n) = (1+u)^n - 1 bounds the relative effect of n roundings (it never exceeds the
/// classical gamma(n) = n*u / (1 - n*u) and, unlike gamma, exists for every n) and eta is half the
/// smallest subnormal of the working format (absorbs products that underflow). The bound is
/// exactly 0 when K == 0: the output must equal the bias.

#include <cstdint>
#include <limits>
#include <vector>

#include "convt2d/params.h"

namespace convt2d {

/// The arithmetic an implementation claims to use: unit roundoff u = 2^-p for a p-bit significand,
/// eta >= the absolute error of a product that underflows (half the smallest subnormal), and the
/// largest finite value of the format (where overflow begins: docs/error-bounds.md#overflow).
struct Precision {
  double u;
  double eta;
  /// Largest finite value; +infinity for formats whose range exceeds double's (long double, the
  /// 640-bit accumulator) and by default: such a format is never certain to overflow.
  double max = std::numeric_limits<double>::infinity();
  friend bool operator==(const Precision&, const Precision&) = default;
};

/// IEEE binary32: u = 2^-24, eta = 2^-150, largest (2 - 2^-23)·2^127.
inline constexpr Precision kFloat32Precision{0x1p-24, 0x1p-150, 0x1.fffffep127};
/// IEEE binary64: u = 2^-53, eta = 2^-1074 (2^-1075 is not representable; the next value up is).
inline constexpr Precision kFloat64Precision{0x1p-53, 0x1p-1074,
                                             std::numeric_limits<double>::max()};
/// IEEE binary16 (float16): u = 2^-11, eta = 2^-25 (half of the smallest subnormal 2^-24),
/// largest 65504.
inline constexpr Precision kFloat16Precision{0x1p-11, 0x1p-25, 65504.0};
/// bfloat16: u = 2^-8, eta = 2^-134 (half of the smallest subnormal 2^-133), largest
/// (2 - 2^-7)·2^127.
inline constexpr Precision kBFloat16Precision{0x1p-8, 0x1p-134, 0x1.fep127};

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
  /// Intermediates may be held in any format at least as precise and as wide as `accumulation`
  /// (compute_mode `default` of float16/bfloat16: float32 accumulators are allowed). Then no
  /// product is certain to overflow; with a fixed format (false) a product beyond twice its
  /// overflow threshold makes every correct result non-finite (docs/error-bounds.md#overflow).
  bool wider_intermediates = false;
  friend bool operator==(const Arithmetic&, const Arithmetic&) = default;
};

/// The classical gamma(n) = n*u / (1 - n*u), rounded up; +infinity when n*u >= 1, where it does
/// not exist. The bounds use rounding_growth() instead, which is never larger.
double gamma(int64_t n, double u);

/// An upper bound on |prod_{j=1..n} (1 + delta_j) - 1| for |delta_j| <= u: (1 + u)^n - 1,
/// rounded up. Never larger than gamma(n, u), and finite for every n for which the value fits in
/// a double (n*u up to about 709); 0 for n <= 0.
double rounding_growth(int64_t n, double u);

/// The bound for one element: g(K+1+x)*abs_products + g(K+x)*abs_bias + (K+x)*eta*(1 + g(K+x)),
/// g = rounding_growth with prec.u, rounded up, with x = `extra_roundings` (0: the standard
/// bound); a term whose magnitude is 0 adds 0 whatever its g. At most prec.max + abs_products +
/// abs_bias (a finite result is at most the format's largest value), so the bound is finite for
/// every K in a format of finite range, and never NaN. `abs_products` must already be an upper
/// bound on sum|w*x|.
double element_bound(int64_t k, double abs_products, double abs_bias, Precision prec,
                     int extra_roundings = 0);
/// The same in long double, whose range (about 10^4932) holds sums of float64 products that
/// overflow double (element_bound rounds this up to a double, +infinity beyond double's range).
long double element_bound_extended(int64_t k, long double abs_products, long double abs_bias,
                                   Precision prec, int extra_roundings = 0);

/// Where rounding to nearest in a format of largest finite value `max` and unit roundoff u
/// overflows: values of magnitude >= (2 - u)·2^emax = max + ulp(max)/2 become infinite. Exact in
/// long double for every format here (+infinity when max is).
long double overflow_threshold(double max, double u);
/// overflow_threshold(p.max, p.u).
long double overflow_threshold(Precision p);

/// An upper bound on the magnitude of every value that a correct implementation with arithmetic
/// `a` computes or rounds on the way to one output element with k taps (partial sums of any
/// order, FMA results, the rounded convolution result, the sum with the bias), counting only the
/// terms of one sign: `m` bounds the sum of the magnitudes of the products and bias of that sign.
/// If it stays below an operation's overflow threshold, that operation cannot overflow towards
/// that sign (docs/error-bounds.md#overflow); and every correct result lies in [-limit(negative
/// terms), +limit(positive terms)]. 0 when m is 0: no value of that sign can arise.
long double intermediate_limit(int64_t k, long double m, const Arithmetic& a);

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
