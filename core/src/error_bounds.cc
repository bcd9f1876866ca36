#include "convt2d/error_bounds.h"

#include <cmath>
#include <limits>

namespace convt2d {
namespace {

// One step towards +infinity: each operation below rounds to nearest (error <= half an ulp), so a
// step up after it keeps the result an upper bound on the exact value.
double up(double v) {
  return std::nextafter(v, std::numeric_limits<double>::infinity());
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

double element_bound(int64_t k, double abs_products, double abs_bias, Precision prec,
                     int extra_roundings) {
  if (k == 0) return 0.0;  // no arithmetic happens: the output must be the bias itself
  const int64_t x = extra_roundings;
  const double a = up(gamma(k + 1 + x, prec.u) * abs_products);
  const double b = up(gamma(k + x, prec.u) * abs_bias);
  // Underflowed products (k) and extra roundings (x): k + x etas, each carried through at most
  // k + x later roundings.
  const double e = up(up(static_cast<double>(k + x) * prec.eta) * up(1.0 + gamma(k + x, prec.u)));
  return up(up(a + b) + e);
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
