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
  for (T& v : r.data) v = T(std::fabs(static_cast<double>(v)));  // exact for every T here
  return r;
}

template <class T>
double abs_bias_at(const Params& params, const Tensor<T>* b, int64_t c) {
  return params.bias ? std::fabs(static_cast<double>(b->data[static_cast<size_t>(c)])) : 0.0;
}

constexpr double kInf = std::numeric_limits<double>::infinity();

// What the per-element formulas read for one output element.
struct Element {
  double abs_products;  // >= sum|w*x|
  double abs_bias;      // |b|
  int64_t k;            // taps
  double abs_conv;      // >= |sum w*x| (only when signed sums were requested, else +inf)
  double abs_y;         // >= |b + sum w*x| (likewise)
};

// Calls f(Element, n, c, oh, ow) for every output element and stores its result. The signed
// sums (abs_conv, abs_y) cost one more long double pass and are computed only when `signed_sums`.
template <class T, class F>
Tensor<double> per_element(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                           const Tensor<T>* b, bool signed_sums, F f) {
  const Problem pr = problem_from_shapes(params, x.shape, w.shape, b ? &b->shape : nullptr);
  const std::vector<int64_t> rows = taps_per_row(pr), cols = taps_per_col(pr);
  Tensor<double> t = abs_products_upper(params, x, w);
  Tensor<long double> s;
  if (signed_sums) {
    Params no_bias = params;
    no_bias.bias = false;
    s = conv_transpose2d<T, long double>(no_bias, x, w, nullptr);
  }
  const double u_ld = std::numeric_limits<long double>::epsilon() / 2;
  for (int64_t n = 0; n < t.shape[0]; ++n)
    for (int64_t c = 0; c < t.shape[1]; ++c)
      for (int64_t oh = 0; oh < t.shape[2]; ++oh)
        for (int64_t ow = 0; ow < t.shape[3]; ++ow) {
          double& e = t.at(n, c, oh, ow);
          Element el{e, abs_bias_at(params, b, c), taps_at(pr, rows, cols, oh, ow), kInf, kInf};
          if (signed_sums) {
            // |s_ld - s| <= gamma_ld(K+1) * sum|w*x| (the same rounding count as sum|w*x|);
            // sd = s_ld rounded to double is within 2^-52 |sd| of it; sd + b rounds once more.
            const double sd = static_cast<double>(s.at(n, c, oh, ow));
            const double g = gamma(el.k + 1, u_ld);
            const double ds = up(up(g * el.abs_products) + up(0x1p-52 * std::fabs(sd)));
            el.abs_conv = up(std::fabs(sd) + ds);
            const double bias =
                params.bias ? static_cast<double>(b->data[static_cast<size_t>(c)]) : 0.0;
            const double t_sum = std::fabs(sd + bias);
            el.abs_y = up(up(t_sum + up(0x1p-52 * t_sum)) + ds);
          }
          e = f(el, n, c, oh, ow);
        }
  return t;
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
          r.at(n, c, oh, ow) = g <= 0.5 ? up(s * up(1.0 + 2.0 * g)) : kInf;
        }
  return r;
}

template <class T>
Tensor<double> certified_bound(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                               const Tensor<T>* b, const Arithmetic& a) {
  const bool output_rounding = a.output_u > 0 || a.output_eta > 0;
  return per_element(
      params, x, w, b, output_rounding, [&](const Element& el, int64_t, int64_t, int64_t, int64_t) {
        double e =
            element_bound(el.k, el.abs_products, el.abs_bias, a.accumulation, a.extra_roundings);
        if (!output_rounding || el.k == 0) return e;  // a lone bias is exact in the output format
        if (a.bias_after_rounding) {
          // r = fl_out(s_hat) with |s_hat| <= |s| + e, then y_hat = fl_out(r + b) with
          // |r + b| <= |y| + |r - s|.
          const double r = up(up(e + up(a.output_u * up(el.abs_conv + e))) + a.output_eta);
          return up(r + up(a.output_u * up(el.abs_y + r)));
        }
        // y_hat = fl_out(y_acc) with |y_acc| <= |y| + e.
        return up(up(e + up(a.output_u * up(el.abs_y + e))) + a.output_eta);
      });
}

template <class T>
Tensor<double> certified_bound(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                               const Tensor<T>* b, Precision prec, double output_u) {
  Arithmetic a;
  a.accumulation = prec;
  a.output_u = output_u;
  return certified_bound(params, x, w, b, a);
}

template <class T>
Tensor<double> suspicious_band(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                               const Tensor<T>* b, const Tensor<double>& abs_y, const Arithmetic& a,
                               double lambda) {
  const double u = a.accumulation.u, x_extra = a.extra_roundings;
  return per_element(
      params, x, w, b, false, [&](const Element& el, int64_t n, int64_t c, int64_t oh, int64_t ow) {
        if (el.k == 0) return 0.0;  // the bias alone: exact
        const double y = abs_y.at(n, c, oh, ow);
        double band = lambda * std::sqrt(static_cast<double>(el.k + 1)) * u *
                          (el.abs_products + el.abs_bias) +
                      u * y;
        band += x_extra * (u * (y + el.abs_bias) + a.accumulation.eta);
        if (a.output_u > 0 || a.output_eta > 0) {
          band += a.bias_after_rounding ? a.output_u * (2 * y + el.abs_bias) + 2 * a.output_eta
                                        : a.output_u * y + a.output_eta;
        }
        return band;
      });
}

template <class T>
Tensor<double> suspicious_band(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                               const Tensor<T>* b, const Tensor<double>& abs_y, double u,
                               double lambda) {
  Arithmetic a;
  a.accumulation = Precision{u, 0.0};
  return suspicious_band(params, x, w, b, abs_y, a, lambda);
}

#define CONVT2D_BOUNDS_INSTANTIATE(T)                                                           \
  template Tensor<double> abs_products_upper<T>(const Params&, const Tensor<T>&,                \
                                                const Tensor<T>&);                              \
  template Tensor<double> certified_bound<T>(const Params&, const Tensor<T>&, const Tensor<T>&, \
                                             const Tensor<T>*, const Arithmetic&);              \
  template Tensor<double> certified_bound<T>(const Params&, const Tensor<T>&, const Tensor<T>&, \
                                             const Tensor<T>*, Precision, double);              \
  template Tensor<double> suspicious_band<T>(const Params&, const Tensor<T>&, const Tensor<T>&, \
                                             const Tensor<T>*, const Tensor<double>&,           \
                                             const Arithmetic&, double);                        \
  template Tensor<double> suspicious_band<T>(const Params&, const Tensor<T>&, const Tensor<T>&, \
                                             const Tensor<T>*, const Tensor<double>&, double,   \
                                             double);
CONVT2D_BOUNDS_INSTANTIATE(float)
CONVT2D_BOUNDS_INSTANTIATE(double)
CONVT2D_BOUNDS_INSTANTIATE(float16)
CONVT2D_BOUNDS_INSTANTIATE(bfloat16)

}  // namespace convt2d
