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

template <class T>
double abs_bias_at(const Params& params, const Tensor<T>* b, int64_t c) {
  return params.bias ? std::fabs(static_cast<double>(b->data[static_cast<size_t>(c)])) : 0.0;
}

}  // namespace

template <class T>
Tensor<double> abs_products_upper(const Params& params, const Tensor<T>& x, const Tensor<T>& w) {
  Params no_bias = params;
  no_bias.bias = false;
  const Problem pr = problem_from_shapes(no_bias, x.shape, w.shape, nullptr);
  // sum|w*x| in long double: K+1 roundings at most (one per product, K-1 additions), so the
  // computed value s satisfies s >= (1 - gamma_ld(K+1)) * exact; s * (1 + 2*gamma_ld) covers the
  // exact value whenever gamma_ld <= 1/2.
  const Tensor<long double> sum =
      conv_transpose2d<T, long double>(no_bias, abs_of(x), abs_of(w), nullptr);
  const double u_ld = std::numeric_limits<long double>::epsilon() / 2;
  const std::vector<int64_t> rows = taps_per_row(pr), cols = taps_per_col(pr);
  Tensor<double> r(sum.shape);
  for (int64_t n = 0; n < r.shape[0]; ++n)
    for (int64_t c = 0; c < r.shape[1]; ++c)
      for (int64_t oh = 0; oh < r.shape[2]; ++oh)
        for (int64_t ow = 0; ow < r.shape[3]; ++ow) {
          const double s = up(static_cast<double>(sum.at(n, c, oh, ow)));
          const double g = gamma(taps_at(pr, rows, cols, oh, ow) + 1, u_ld);
          r.at(n, c, oh, ow) =
              g <= 0.5 ? up(s * up(1.0 + 2.0 * g)) : std::numeric_limits<double>::infinity();
        }
  return r;
}

// Replaces every element of sum|w*x| (from abs_products_upper) by f(sum, |b|, K, n, c, oh, ow).
template <class T, class F>
Tensor<double> per_element(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                           const Tensor<T>* b, F f) {
  const Problem pr = problem_from_shapes(params, x.shape, w.shape, b ? &b->shape : nullptr);
  const std::vector<int64_t> rows = taps_per_row(pr), cols = taps_per_col(pr);
  Tensor<double> t = abs_products_upper(params, x, w);
  for (int64_t n = 0; n < t.shape[0]; ++n)
    for (int64_t c = 0; c < t.shape[1]; ++c)
      for (int64_t oh = 0; oh < t.shape[2]; ++oh)
        for (int64_t ow = 0; ow < t.shape[3]; ++ow) {
          double& e = t.at(n, c, oh, ow);
          e = f(e, abs_bias_at(params, b, c), taps_at(pr, rows, cols, oh, ow), n, c, oh, ow);
        }
  return t;
}

template <class T>
Tensor<double> certified_bound(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                               const Tensor<T>* b, Precision prec, double output_u) {
  return per_element(params, x, w, b,
                     [&](double s, double abs_bias, int64_t k, int64_t, int64_t, int64_t, int64_t) {
                       double e = element_bound(k, s, abs_bias, prec);
                       // Final rounding of |y_acc| <= |b| + sum|w*x| + e to the output format.
                       if (output_u > 0 && k > 0) {
                         e = up(e + up(output_u * up(up(abs_bias + s) + e)));
                       }
                       return e;
                     });
}

template <class T>
Tensor<double> suspicious_band(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                               const Tensor<T>* b, const Tensor<double>& abs_y, double u,
                               double lambda) {
  return per_element(
      params, x, w, b,
      [&](double s, double abs_bias, int64_t k, int64_t n, int64_t c, int64_t oh, int64_t ow) {
        if (k == 0) return 0.0;  // the bias alone: exact
        return lambda * std::sqrt(static_cast<double>(k + 1)) * u * (s + abs_bias) +
               u * abs_y.at(n, c, oh, ow);
      });
}

template Tensor<double> abs_products_upper<float>(const Params&, const Tensor<float>&,
                                                  const Tensor<float>&);
template Tensor<double> abs_products_upper<double>(const Params&, const Tensor<double>&,
                                                   const Tensor<double>&);
template Tensor<double> certified_bound<float>(const Params&, const Tensor<float>&,
                                               const Tensor<float>&, const Tensor<float>*,
                                               Precision, double);
template Tensor<double> certified_bound<double>(const Params&, const Tensor<double>&,
                                                const Tensor<double>&, const Tensor<double>*,
                                                Precision, double);
template Tensor<double> suspicious_band<float>(const Params&, const Tensor<float>&,
                                               const Tensor<float>&, const Tensor<float>*,
                                               const Tensor<double>&, double, double);
template Tensor<double> suspicious_band<double>(const Params&, const Tensor<double>&,
                                                const Tensor<double>&, const Tensor<double>*,
                                                const Tensor<double>&, double, double);

}  // namespace convt2d
