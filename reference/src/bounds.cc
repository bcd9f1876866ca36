#include "convt2d/bounds.h"

#include <cmath>
#include <limits>

#include "convt2d/reference.h"

namespace convt2d {
namespace {

double up(double v) {
  return std::nextafter(v, std::numeric_limits<double>::infinity());
}

template <class T>
Tensor<T> abs_of(const Tensor<T>& t) {
  Tensor<T> r = t;
  for (T& v : r.data) v = std::fabs(v);
  return r;
}

}  // namespace

template <class T>
Tensor<double> certified_bound(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                               const Tensor<T>* b, Precision prec, double output_u) {
  const Problem pr = problem_from_shapes(params, x.shape, w.shape, b ? &b->shape : nullptr);
  Params no_bias = params;
  no_bias.bias = false;
  // sum|w*x| in long double: K+1 roundings at most (one per product, K-1 additions), so the
  // computed value s satisfies s >= (1 - gamma_ld(K+1)) * exact; s * (1 + 2*gamma_ld) covers the
  // exact value whenever gamma_ld <= 1/2.
  const Tensor<long double> abs_sum =
      conv_transpose2d<T, long double>(no_bias, abs_of(x), abs_of(w), nullptr);
  const double u_ld = std::numeric_limits<long double>::epsilon() / 2;
  const std::vector<int64_t> rows = taps_per_row(pr), cols = taps_per_col(pr);
  Tensor<double> bound(abs_sum.shape);
  const int64_t oc = params.out_channels, oh_size = bound.shape[2], ow_size = bound.shape[3];
  for (int64_t n = 0; n < pr.mb; ++n) {
    for (int64_t c = 0; c < oc; ++c) {
      const double abs_bias =
          params.bias ? std::fabs(static_cast<double>(b->data[static_cast<size_t>(c)])) : 0.0;
      for (int64_t oh = 0; oh < oh_size; ++oh) {
        for (int64_t ow = 0; ow < ow_size; ++ow) {
          const int64_t k = taps_at(pr, rows, cols, oh, ow);
          const double s = up(static_cast<double>(abs_sum.at(n, c, oh, ow)));
          const double g = gamma(k + 1, u_ld);
          const double s_up =
              g <= 0.5 ? up(s * up(1.0 + 2.0 * g)) : std::numeric_limits<double>::infinity();
          double e = element_bound(k, s_up, abs_bias, prec);
          // Final rounding of |y_acc| <= |b| + sum|w*x| + e to the output format.
          if (output_u > 0 && k > 0) e = up(e + up(output_u * up(up(abs_bias + s_up) + e)));
          bound.at(n, c, oh, ow) = e;
        }
      }
    }
  }
  return bound;
}

template Tensor<double> certified_bound<float>(const Params&, const Tensor<float>&,
                                               const Tensor<float>&, const Tensor<float>*,
                                               Precision, double);
template Tensor<double> certified_bound<double>(const Params&, const Tensor<double>&,
                                                const Tensor<double>&, const Tensor<double>*,
                                                Precision, double);

}  // namespace convt2d
