#include "convt2d/bounds.h"

#include <cmath>
#include <limits>

#include "backward_loops.h"
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

constexpr long double kInf = std::numeric_limits<long double>::infinity();

// One element's products (and, for bwd_bias, values) by sign, as a Sum of the literal loops: the
// sums of the magnitudes, the largest of each sign, and how many there are (K).
struct SignSums {
  long double pos = 0, neg = 0, max_pos = 0, max_neg = 0;
  int64_t count = 0;
  void add(long double v) {
    ++count;
    if (std::isinf(v)) return;  // an infinite input: its own sign, not a sum
    if (v > 0) {
      pos += v;
      max_pos = std::max(max_pos, v);
    } else if (v < 0) {
      neg -= v;
      max_neg = std::max(max_neg, -v);
    } else if (std::isnan(v)) {
      pos = neg = kInf;  // a NaN term: the truth is NaN; no finite sum describes the element
    }
  }
};

// The backward loops (backward_loops.h) add their terms to a SignSums through these, found by
// argument-dependent lookup. Every product of float32, float16 or bfloat16 values is exact in long
// double; a float64 product rounds once.
template <class T>
void add_product(SignSums& s, T a, T b) {
  s.add(wide(a) * wide(b));
}
template <class T>
void add_value(SignSums& s, T v) {
  s.add(wide(v));
}

// The forward pass's scatter definition (reference.cc) into SignSums.
template <class T>
Tensor<SignSums> forward_sums(const Params& params, const Tensor<T>& x, const Tensor<T>& w) {
  Params no_bias = params;
  no_bias.bias = false;
  const Problem pr = problem_from_shapes(no_bias, x.shape, w.shape, nullptr);
  const Params& p = pr.params;
  Tensor<SignSums> r(output_shape(pr));
  const int64_t oh_size = r.shape[2], ow_size = r.shape[3];
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w;
  for (int64_t n = 0; n < pr.mb; ++n)
    for (int64_t g = 0; g < p.groups; ++g)
      for (int64_t i = 0; i < icg; ++i) {
        const int64_t ic = g * icg + i;
        for (int64_t ih = 0; ih < pr.ih; ++ih)
          for (int64_t iw = 0; iw < pr.iw; ++iw)
            for (int64_t o = 0; o < ocg; ++o)
              for (int64_t fh = 0; fh < kh; ++fh) {
                const int64_t oh = ih * p.stride.h - p.padding.h + fh * p.dilation.h;
                if (oh < 0 || oh >= oh_size) continue;
                for (int64_t fw = 0; fw < kw; ++fw) {
                  const int64_t ow = iw * p.stride.w - p.padding.w + fw * p.dilation.w;
                  if (ow < 0 || ow >= ow_size) continue;
                  add_product(r.at(n, g * ocg + o, oh, ow), x.at(n, ic, ih, iw),
                              w.data[static_cast<size_t>(((ic * ocg + o) * kh + fh) * kw + fw)]);
                }
              }
      }
  return r;
}

// The SignSums of every element of a pass's result.
template <class T>
Tensor<SignSums> sign_sums(const Params& params, const PassInputs<T>& in) {
  switch (in.pass) {
    case Pass::kBwdData:
      return detail::bwd_data_sums<SignSums>(params, detail::operand(in.dy, in.pass, "dy"),
                                             detail::operand(in.w, in.pass, "weight"));
    case Pass::kBwdWeights:
      return detail::bwd_weights_sums<SignSums>(params, detail::operand(in.x, in.pass, "input"),
                                                detail::operand(in.dy, in.pass, "dy"));
    case Pass::kBwdBias:
      return detail::bwd_bias_sums<SignSums>(params, detail::operand(in.dy, in.pass, "dy"));
    case Pass::kForward:
      break;
  }
  return forward_sums(params, detail::operand(in.x, in.pass, "input"),
                      detail::operand(in.w, in.pass, "weight"));
}

// |b| of element i of the forward result (shape s): the bias of its channel; 0 for the backward
// passes, which have none.
template <class T>
long double abs_bias_at(const Params& params, const PassInputs<T>& in, const Shape& s, size_t i) {
  if (in.pass != Pass::kForward || !params.bias) return 0.0L;
  const int64_t c = static_cast<int64_t>(i) / (s[2] * s[3]) % s[1];
  return std::fabs(wide(detail::operand(in.b, in.pass, "bias").data[static_cast<size_t>(c)]));
}

// What the per-element formulas read for one element (long double: float64 products may exceed
// double's range).
struct Element {
  long double abs_products;  // >= sum|w*x|
  long double abs_bias;      // |b|
  int64_t k;                 // products
  long double abs_conv;      // >= |sum w*x| (only when signed sums were requested, else +inf)
  long double abs_y;         // >= |b + sum w*x| (likewise)
};

// Calls f(Element, i) for every element i of the pass's result and stores its result, rounded up
// to double. The signed sums (abs_conv, abs_y) cost one more long double pass and are computed
// only when `signed_sums`.
template <class T, class F>
Tensor<double> per_element(const Params& params, const PassInputs<T>& in, bool signed_sums, F f) {
  const ProductSums ps = product_sums(params, in);
  Tensor<long double> s;
  if (signed_sums) {
    Params no_bias = params;
    no_bias.bias = false;
    s = conv_transpose2d_pass<T, long double>(in.pass, no_bias, in.x, in.w, nullptr, in.dy);
  }
  const Shape& shape = ps.positive.shape;
  Tensor<double> t(shape);
  for (size_t i = 0; i < t.data.size(); ++i) {
    Element el{up_ld(ps.positive.data[i] + ps.negative.data[i]), abs_bias_at(params, in, shape, i),
               ps.taps[i], kInf, kInf};
    if (signed_sums) {
      // |s_ld - s| <= g_ld(K+1) * sum|w*x| (K products and K - 1 additions rounded once each);
      // s_ld + b rounds once more.
      const long double sl = s.data[i];
      const long double ds =
          up_ld(static_cast<long double>(rounding_growth(el.k + 1, kULd)) * el.abs_products);
      el.abs_conv = up_ld(std::fabs(sl) + ds);
      const long double bias =
          in.pass == Pass::kForward && params.bias
              ? wide(in.b->data[static_cast<size_t>(static_cast<int64_t>(i) /
                                                    (shape[2] * shape[3]) % shape[1])])
              : 0.0L;
      const long double t_sum = std::fabs(sl + bias);
      el.abs_y = up_ld(up_ld(t_sum + up_ld(kULd * t_sum)) + ds);
    }
    t.data[i] = to_double_up(f(el, i));
  }
  return t;
}

}  // namespace

template <class T>
ProductSums product_sums(const Params& params, const PassInputs<T>& in) {
  const Tensor<SignSums> raw = sign_sums(params, in);
  ProductSums r{Tensor<long double>(raw.shape),
                Tensor<long double>(raw.shape),
                Tensor<long double>(raw.shape),
                Tensor<long double>(raw.shape),
                {}};
  r.taps.resize(raw.data.size());
  for (size_t i = 0; i < raw.data.size(); ++i) {
    const SignSums& e = raw.data[i];
    // A sum of K non-negative terms, each passing at most K + 1 roundings (its product, K - 1
    // additions): computed >= exact * (1 - u)^(K+1), so exact <= computed * (1 + 2u)^(K+1). The
    // largest product: computed <= exact * (1 + u), so exact >= computed * (1 - u), rounded down.
    const long double grow = up_ld(1.0L + rounding_growth(e.count + 1, 2 * kULd));
    // A sign with no term keeps an exact 0 (intermediate_limit: no value of that sign arises).
    r.positive.data[i] = e.pos == 0 ? 0.0L : up_ld(e.pos * grow);
    r.negative.data[i] = e.neg == 0 ? 0.0L : up_ld(e.neg * grow);
    r.largest_positive.data[i] = std::nextafter(e.max_pos * (1.0L - kULd), 0.0L);
    r.largest_negative.data[i] = std::nextafter(e.max_neg * (1.0L - kULd), 0.0L);
    r.taps[i] = e.count;
  }
  return r;
}

template <class T>
ProductSums product_sums(const Params& params, const Tensor<T>& x, const Tensor<T>& w) {
  return product_sums(params, PassInputs<T>{Pass::kForward, &x, &w, nullptr, nullptr});
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
Tensor<double> certified_bound(const Params& params, const PassInputs<T>& in, const Arithmetic& a) {
  const bool output_rounding = a.output_u > 0 || a.output_eta > 0;
  return per_element(params, in, output_rounding, [&](const Element& el, size_t) {
    const long double e = element_bound_extended(el.k, el.abs_products, el.abs_bias, a.accumulation,
                                                 a.extra_roundings);
    if (!output_rounding || el.k == 0) return e;  // a lone bias is exact in the output format
    const long double u_out = a.output_u;
    if (a.bias_after_rounding) {
      // r = fl_out(s_hat) with |s_hat| <= |s| + e, then y_hat = fl_out(r + b)
      // with |r + b| <= |y| + |r - s|.
      const long double r = up_ld(up_ld(e + up_ld(u_out * up_ld(el.abs_conv + e))) + a.output_eta);
      return up_ld(r + up_ld(u_out * up_ld(el.abs_y + r)));
    }
    // y_hat = fl_out(y_acc) with |y_acc| <= |y| + e.
    return up_ld(up_ld(e + up_ld(u_out * up_ld(el.abs_y + e))) + a.output_eta);
  });
}

template <class T>
Tensor<double> certified_bound(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                               const Tensor<T>* b, const Arithmetic& a) {
  return certified_bound(params, PassInputs<T>{Pass::kForward, &x, &w, b, nullptr}, a);
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
Tensor<double> suspicious_band(const Params& params, const PassInputs<T>& in,
                               const Tensor<double>& abs_y, const Arithmetic& a, double lambda) {
  const double u = a.accumulation.u, x_extra = a.extra_roundings;
  return per_element(params, in, false, [&](const Element& el, size_t i) {
    if (el.k == 0) return 0.0L;  // the bias alone: exact
    const long double y = abs_y.data[i];
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
                               const Tensor<T>* b, const Tensor<double>& abs_y, const Arithmetic& a,
                               double lambda) {
  return suspicious_band(params, PassInputs<T>{Pass::kForward, &x, &w, b, nullptr}, abs_y, a,
                         lambda);
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
  template ProductSums product_sums<T>(const Params&, const PassInputs<T>&);                    \
  template Tensor<double> certified_bound<T>(const Params&, const PassInputs<T>&,               \
                                             const Arithmetic&);                                \
  template Tensor<double> suspicious_band<T>(const Params&, const PassInputs<T>&,               \
                                             const Tensor<double>&, const Arithmetic&, double); \
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
