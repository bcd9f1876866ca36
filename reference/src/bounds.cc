#include "convt2d/bounds.h"

#include <cmath>
#include <limits>

#include "convt2d/reference.h"

namespace convt2d {
namespace {

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

// Unit roundoff of long double (2^-64 on x86-64).
constexpr long double kULd = std::numeric_limits<long double>::epsilon() / 2;

// A value of T in long double, exactly (float16 and bfloat16 through float).
template <class T>
long double wide(T v) {
  if constexpr (is_half_v<T>) {
    return static_cast<long double>(static_cast<float>(v));
  } else {
    return static_cast<long double>(v);
  }
}

template <class T>
long double abs_bias_at(const Params& params, const Tensor<T>* b, int64_t c) {
  return params.bias ? std::fabs(wide(b->data[static_cast<size_t>(c)])) : 0.0L;
}

constexpr long double kInf = std::numeric_limits<long double>::infinity();

// What the per-element formulas read for one output element (long double: float64 products may
// exceed double's range).
struct Element {
  long double abs_products;  // >= sum|w*x|
  long double abs_bias;      // |b|
  int64_t k;                 // taps
  long double abs_conv;      // >= |sum w*x| (only when signed sums were requested, else +inf)
  long double abs_y;         // >= |b + sum w*x| (likewise)
};

// Calls f(Element, n, c, oh, ow) for every output element and stores its result, rounded up to
// double. The signed sums (abs_conv, abs_y) cost one more long double pass and are computed only
// when `signed_sums`.
template <class T, class F>
Tensor<double> per_element(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                           const Tensor<T>* b, bool signed_sums, F f) {
  const Problem pr = problem_from_shapes(params, x.shape, w.shape, b ? &b->shape : nullptr);
  const std::vector<int64_t> rows = taps_per_row(pr), cols = taps_per_col(pr);
  const ProductSums ps = product_sums(params, x, w);
  Tensor<long double> s;
  if (signed_sums) {
    Params no_bias = params;
    no_bias.bias = false;
    s = conv_transpose2d<T, long double>(no_bias, x, w, nullptr);
  }
  Tensor<double> t(ps.positive.shape);
  for (int64_t n = 0; n < t.shape[0]; ++n)
    for (int64_t c = 0; c < t.shape[1]; ++c)
      for (int64_t oh = 0; oh < t.shape[2]; ++oh)
        for (int64_t ow = 0; ow < t.shape[3]; ++ow) {
          Element el{up_ld(ps.positive.at(n, c, oh, ow) + ps.negative.at(n, c, oh, ow)),
                     abs_bias_at(params, b, c), taps_at(pr, rows, cols, oh, ow), kInf, kInf};
          if (signed_sums) {
            // |s_ld - s| <= g_ld(K+1) * sum|w*x| (K products and K - 1 additions rounded once
            // each); s_ld + b rounds once more.
            const long double sl = s.at(n, c, oh, ow);
            const long double ds =
                up_ld(static_cast<long double>(rounding_growth(el.k + 1, kULd)) * el.abs_products);
            el.abs_conv = up_ld(std::fabs(sl) + ds);
            const long double bias = params.bias ? wide(b->data[static_cast<size_t>(c)]) : 0.0L;
            const long double t_sum = std::fabs(sl + bias);
            el.abs_y = up_ld(up_ld(t_sum + up_ld(kULd * t_sum)) + ds);
          }
          t.at(n, c, oh, ow) = to_double_up(f(el, n, c, oh, ow));
        }
  return t;
}

}  // namespace

template <class T>
ProductSums product_sums(const Params& params, const Tensor<T>& x, const Tensor<T>& w) {
  Params no_bias = params;
  no_bias.bias = false;
  const Problem pr = problem_from_shapes(no_bias, x.shape, w.shape, nullptr);
  const Params& p = pr.params;
  const Shape ys = output_shape(pr);
  ProductSums r{Tensor<long double>(ys), Tensor<long double>(ys), Tensor<long double>(ys),
                Tensor<long double>(ys)};
  const int64_t oh_size = ys[2], ow_size = ys[3];
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w;
  // The scatter definition (reference.cc), summing each sign apart. Every product of float32,
  // float16 or bfloat16 values is exact in long double; a float64 product rounds once.
  for (int64_t n = 0; n < pr.mb; ++n)
    for (int64_t g = 0; g < p.groups; ++g)
      for (int64_t i = 0; i < icg; ++i) {
        const int64_t ic = g * icg + i;
        for (int64_t ih = 0; ih < pr.ih; ++ih)
          for (int64_t iw = 0; iw < pr.iw; ++iw) {
            const long double xv = wide(x.at(n, ic, ih, iw));
            for (int64_t o = 0; o < ocg; ++o)
              for (int64_t fh = 0; fh < kh; ++fh) {
                const int64_t oh = ih * p.stride.h - p.padding.h + fh * p.dilation.h;
                if (oh < 0 || oh >= oh_size) continue;
                for (int64_t fw = 0; fw < kw; ++fw) {
                  const int64_t ow = iw * p.stride.w - p.padding.w + fw * p.dilation.w;
                  if (ow < 0 || ow >= ow_size) continue;
                  const long double v =
                      xv * wide(w.data[static_cast<size_t>(((ic * ocg + o) * kh + fh) * kw + fw)]);
                  const int64_t oc = g * ocg + o;
                  if (std::isinf(v)) continue;  // an infinite input: its own sign, not a sum
                  if (v > 0) {
                    r.positive.at(n, oc, oh, ow) += v;
                    long double& m = r.largest_positive.at(n, oc, oh, ow);
                    m = std::max(m, v);
                  } else if (v < 0) {
                    r.negative.at(n, oc, oh, ow) -= v;
                    long double& m = r.largest_negative.at(n, oc, oh, ow);
                    m = std::max(m, -v);
                  } else if (std::isnan(v)) {
                    // A NaN term: the truth is NaN; no finite sum describes the element.
                    r.positive.at(n, oc, oh, ow) = r.negative.at(n, oc, oh, ow) = kInf;
                  }
                }
              }
          }
      }
  // A sum of K non-negative terms, each passing at most K + 1 roundings (its product, K - 1
  // additions): computed >= exact * (1 - u)^(K+1), so exact <= computed * (1 + 2u)^(K+1). The
  // largest product: computed <= exact * (1 + u), so exact >= computed * (1 - u), rounded down.
  const std::vector<int64_t> rows = taps_per_row(pr), cols = taps_per_col(pr);
  for (int64_t n = 0; n < ys[0]; ++n)
    for (int64_t c = 0; c < ys[1]; ++c)
      for (int64_t oh = 0; oh < oh_size; ++oh)
        for (int64_t ow = 0; ow < ow_size; ++ow) {
          const long double grow =
              up_ld(1.0L + rounding_growth(taps_at(pr, rows, cols, oh, ow) + 1, 2 * kULd));
          for (Tensor<long double>* t : {&r.positive, &r.negative}) {
            long double& v = t->at(n, c, oh, ow);
            v = up_ld(v * grow);
          }
          for (Tensor<long double>* t : {&r.largest_positive, &r.largest_negative}) {
            long double& v = t->at(n, c, oh, ow);
            v = std::nextafter(v * (1.0L - kULd), 0.0L);
          }
        }
  return r;
}

template <class T>
Tensor<double> abs_products_upper(const Params& params, const Tensor<T>& x, const Tensor<T>& w) {
  const ProductSums ps = product_sums(params, x, w);
  Tensor<double> r(ps.positive.shape);
  for (size_t i = 0; i < r.data.size(); ++i) {
    r.data[i] = to_double_up(up_ld(ps.positive.data[i] + ps.negative.data[i]));
  }
  return r;
}

template <class T>
Tensor<double> certified_bound(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                               const Tensor<T>* b, const Arithmetic& a) {
  const bool output_rounding = a.output_u > 0 || a.output_eta > 0;
  return per_element(params, x, w, b, output_rounding,
                     [&](const Element& el, int64_t, int64_t, int64_t, int64_t) {
                       const long double e = element_bound_extended(
                           el.k, el.abs_products, el.abs_bias, a.accumulation, a.extra_roundings);
                       if (!output_rounding || el.k == 0)
                         return e;  // a lone bias is exact in the output format
                       const long double u_out = a.output_u;
                       if (a.bias_after_rounding) {
                         // r = fl_out(s_hat) with |s_hat| <= |s| + e, then y_hat = fl_out(r + b)
                         // with |r + b| <= |y| + |r - s|.
                         const long double r =
                             up_ld(up_ld(e + up_ld(u_out * up_ld(el.abs_conv + e))) + a.output_eta);
                         return up_ld(r + up_ld(u_out * up_ld(el.abs_y + r)));
                       }
                       // y_hat = fl_out(y_acc) with |y_acc| <= |y| + e.
                       return up_ld(up_ld(e + up_ld(u_out * up_ld(el.abs_y + e))) + a.output_eta);
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
        if (el.k == 0) return 0.0L;  // the bias alone: exact
        const long double y = abs_y.at(n, c, oh, ow);
        long double band = lambda * std::sqrt(static_cast<long double>(el.k + 1)) * u *
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
  template ProductSums product_sums<T>(const Params&, const Tensor<T>&, const Tensor<T>&);      \
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
