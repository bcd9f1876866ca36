#include "convt2d/error_bounds.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace convt2d {
namespace {

// One step towards +infinity: each operation below rounds to nearest (error <= half an ulp), so a
// step up after it keeps the result an upper bound on the exact value.
double up(double v) {
  return std::nextafter(v, std::numeric_limits<double>::infinity());
}
long double up_ld(long double v) {
  return std::nextafter(v, std::numeric_limits<long double>::infinity());
}
// v rounded up to a double (+infinity beyond double's range).
double to_double_up(long double v) {
  const double d = static_cast<double>(v);
  return static_cast<long double>(d) < v ? up(d) : d;
}

std::vector<int64_t> taps_per_index(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p,
                                    int64_t d) {
  std::vector<int64_t> count(static_cast<size_t>(out), 0);
  for (int64_t i = 0; i < in; ++i) {
    for (int64_t f = 0; f < k; ++f) {
      const int64_t o = i * s - p + f * d;
      if (o >= 0 && o < out) ++count[static_cast<size_t>(o)];
    }
  }
  return count;
}

}  // namespace

double gamma(int64_t n, double u) {
  if (n <= 0) return 0.0;
  double nd = static_cast<double>(n);
  if (static_cast<long double>(nd) < static_cast<long double>(n)) nd = up(nd);
  const double nu = up(nd * u);
  if (nu >= 1.0) return std::numeric_limits<double>::infinity();
  const double denom = std::nextafter(1.0 - nu, 0.0);  // rounded down, so the quotient is larger
  return up(up(nu / denom));
}

double rounding_growth(int64_t n, double u) {
  if (n <= 0 || u <= 0) return 0.0;
  double nd = static_cast<double>(n);
  if (static_cast<long double>(nd) < static_cast<long double>(n)) nd = up(nd);
  // (1 + u)^n <= e^z with z = n*u (log(1 + u) <= u).
  const double z = up(nd * u);
  if (z <= 0x1p-10) {
    // (1 + u)^n - 1 = sum_k C(n, k) u^k, where each term is at most z/(k+1) times the one before,
    // so everything past n*u is at most C(n, 2) u^2 / (1 - z/3) <= 1.0004 C(n, 2) u^2.
    const double pairs = up(up(nd * up(nd - 1.0)) * (0.5 * u * u));
    return up(z + up(1.0004 * pairs));
  }
  // (1 + u)^n by repeated squaring in long double, whose 64-bit significand holds 1 + u exactly
  // for every u >= 2^-63 (the double above it otherwise), every product rounded up. Beyond double's
  // range the result is +infinity.
  const long double one_u = 1.0L + static_cast<long double>(u);
  const long double base = one_u - 1.0L == u ? one_u : up_ld(one_u);
  long double r = 1.0L, b = base;
  for (uint64_t e = static_cast<uint64_t>(n); e != 0; e >>= 1) {
    if (e & 1) r = up_ld(r * b);
    if (e > 1) b = up_ld(b * b);
    if (std::isinf(r) || std::isinf(b)) return std::numeric_limits<double>::infinity();
  }
  return to_double_up(up_ld(r - 1.0L));
}

namespace {

// g·v rounded up, 0 for v = 0 whatever g is: a term that is absent adds nothing, even where the
// growth of its roundings is +infinity (inf·0 would make the bound NaN, and a NaN bound accepts
// every value).
long double grown(double g, long double v) {
  return v == 0 ? 0.0L : up_ld(static_cast<long double>(g) * v);
}

}  // namespace

long double element_bound_extended(int64_t k, long double abs_products, long double abs_bias,
                                   Precision prec, int extra_roundings) {
  if (k == 0) return 0.0L;  // no arithmetic happens: the output must be the bias itself
  const int64_t x = extra_roundings;
  const long double a = grown(rounding_growth(k + 1 + x, prec.u), abs_products);
  const long double b = grown(rounding_growth(k + x, prec.u), abs_bias);
  // Underflowed products (k) and extra roundings (x): k + x etas, each carried through at most
  // k + x later roundings.
  const long double e = up_ld(up_ld(static_cast<long double>(k + x) * prec.eta) *
                              up_ld(1.0L + rounding_growth(k + x, prec.u)));
  const long double classic = up_ld(up_ld(a + b) + e);
  // A finite result never passed through an infinity (IEEE arithmetic does not come back from
  // one), so it is at most the format's largest value: |y_hat - y| <= max + sum|w*x| + |b|. This
  // keeps the bound finite for every K where the classical one grows past the format's range
  // (bfloat16 summed in bfloat16 beyond ~180000 terms).
  if (!std::isfinite(prec.max)) return classic;
  const long double range =
      up_ld(up_ld(static_cast<long double>(prec.max) + abs_products) + abs_bias);
  return std::min(classic, range);
}

double element_bound(int64_t k, double abs_products, double abs_bias, Precision prec,
                     int extra_roundings) {
  return to_double_up(element_bound_extended(k, abs_products, abs_bias, prec, extra_roundings));
}

long double overflow_threshold(double max, double u) {
  if (!std::isfinite(max)) return std::numeric_limits<long double>::infinity();
  // max = (2 - 2u)·2^emax, so max / (2 - 2u) = 2^emax and the threshold (2 - u)·2^emax =
  // max + u·2^emax: every step exact in long double (64-bit significand, 15-bit exponent).
  const long double top = static_cast<long double>(max) / (2.0L - 2.0L * u);
  return static_cast<long double>(max) + u * top;
}

long double overflow_threshold(Precision p) {
  return overflow_threshold(p.max, p.u);
}

long double intermediate_limit(int64_t k, long double m, const Arithmetic& a) {
  // No term of this sign: rounding to nearest keeps every partial sum of terms of the other
  // sign on that side of zero (an underflowing product rounds to zero, never across it).
  if (m == 0) return 0.0L;
  // Every value on the way is a subset of the terms, each multiplied by at most k + 1 + x
  // rounding factors (1 + delta), plus at most k + x underflow errors eta (docs/error-bounds.md).
  const int64_t x = a.extra_roundings;
  const Precision& acc = a.accumulation;
  const long double classic = up_ld(up_ld(m + up_ld(static_cast<long double>(k + x) * acc.eta)) *
                                    up_ld(1.0L + rounding_growth(k + 1 + x, acc.u)));
  // The same values by the size of the sum instead, which stays finite where (1 + u)^K does not:
  // a rounded-to-nearest sum of representable a and b is within min(|a|, |b|) of a + b (each of
  // a, b lies that far from it), so over any tree of n leaves every node's positive part is at
  // most n times the leaves' positive magnitudes (docs/error-bounds.md#overflow). Leaves: the k
  // products, each rounded at most once (|fl(p)| <= |p|(1 + u) + eta; an FMA adds |p| itself),
  // and the bias; then the x extra roundings, each at most 1 + u.
  const long double leaves =
      up_ld(up_ld(m * up_ld(1.0L + acc.u)) + up_ld(static_cast<long double>(k) * acc.eta));
  long double tree = up_ld(static_cast<long double>(k + 1) * leaves);
  for (int64_t i = 0; i < x; ++i) tree = up_ld(tree * up_ld(1.0L + acc.u));
  long double v = std::min(classic, tree);
  if (a.output_u > 0 || a.output_eta > 0) {
    // Rounded to the output format (at most 1 + u_out larger, plus its underflow error), then,
    // with the bias after the rounding, added to the bias and rounded once more.
    const long double grow = up_ld(1.0L + a.output_u);
    v = up_ld(up_ld(up_ld(v * grow) + a.output_eta) * grow);
  }
  return v;
}

std::vector<int64_t> taps_per_row(const Problem& pr) {
  const Params& p = pr.params;
  const Pair o = output_size(pr);
  return taps_per_index(pr.ih, o.h, p.kernel_size.h, p.stride.h, p.padding.h, p.dilation.h);
}

std::vector<int64_t> taps_per_col(const Problem& pr) {
  const Params& p = pr.params;
  const Pair o = output_size(pr);
  return taps_per_index(pr.iw, o.w, p.kernel_size.w, p.stride.w, p.padding.w, p.dilation.w);
}

}  // namespace convt2d
