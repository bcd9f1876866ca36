#pragma once
/// \file
/// Per-element certified error bounds for concrete data (formula: convt2d/error_bounds.h,
/// derivation: docs/error-bounds.md).

#include <vector>

#include "convt2d/error_bounds.h"
#include "convt2d/pass.h"
#include "convt2d/tensor.h"

namespace convt2d {

/// The operands of one pass as tensors of T: those it reads (reads_x, reads_w, reads_dy; b for
/// the forward pass when params.bias), the others null.
template <class T>
struct PassInputs {
  Pass pass = Pass::kForward;
  const Tensor<T>* x = nullptr;
  const Tensor<T>* w = nullptr;
  const Tensor<T>* b = nullptr;
  const Tensor<T>* dy = nullptr;
};

/// For every output element, the certified bound on |y_hat - y| for an implementation with
/// arithmetic `a` that computes ConvTranspose2d(x, w, b):
///   acc = g(K+1+x)*sum|w*x| + g(K+x)*|b| + (K+x)*eta*(1 + g(K+x)),  g(n) = (1 + u)^n - 1
/// (x = a.extra_roundings), and when the accumulator is rounded to a narrower output format
/// (a.output_u > 0), with |s| and |y| upper bounds on the exact convolution result without and
/// with the bias:
///   bias in the accumulator:   acc + output_u*(|y| + acc) + output_eta
///   a.bias_after_rounding:     r = acc + output_u*(|s| + acc) + output_eta;  r + output_u*(|y| +
///   r)
/// Every quantity is computed so that it is an upper bound on the exact value (sum|w*x|, |s| and
/// |y| in long double, inflated by their own error bound; every operation rounded up), in long
/// double so that sums of float64 products beyond double's range stay finite; the result is
/// rounded up to double (+infinity only beyond double's range). K == 0 gives 0: the output must
/// be the bias. Output shape: (N, OC, Hout, Wout).
template <class T>
Tensor<double> certified_bound(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                               const Tensor<T>* b, const Arithmetic& a);

/// The same with an accumulation precision and an optional output rounding (bias in the
/// accumulator, no output underflow): certified_bound(..., Arithmetic{prec, 0, output_u}).
template <class T>
Tensor<double> certified_bound(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                               const Tensor<T>* b, Precision prec, double output_u = 0.0);

/// Upper bounds on sum|w*x| (no bias) for every output element, shape (N, OC, Hout, Wout).
template <class T>
Tensor<double> abs_products_upper(const Params& params, const Tensor<T>& x, const Tensor<T>& w);

/// What the bounds and the overflow rules (docs/error-bounds.md#overflow) need to know about the
/// products that each element of a pass's result sums (w*x forward, w*dy for bwd_data, x*dy for
/// bwd_weights, the dy values themselves for bwd_bias), split by sign, in long double (whose
/// range holds every sum of float64 products): upper bounds on the sums of the magnitudes of the
/// positive and of the negative products, lower bounds on the largest magnitude of each sign (0
/// when there is none), and K, their number. The bias is not included; infinite products (of
/// infinite inputs) are left out of the sums, and a NaN product makes both sums infinite. Shapes:
/// the pass's result (result_shape); taps in its element order.
struct ProductSums {
  Tensor<long double> positive, negative;
  Tensor<long double> largest_positive, largest_negative;
  std::vector<int64_t> taps;
};
template <class T>
ProductSums product_sums(const Params& params, const PassInputs<T>& in);
/// The forward pass's.
template <class T>
ProductSums product_sums(const Params& params, const Tensor<T>& x, const Tensor<T>& w);

/// certified_bound (below) for any pass: the same formula with K the element's number of products
/// and, for the backward passes, no bias.
template <class T>
Tensor<double> certified_bound(const Params& params, const PassInputs<T>& in, const Arithmetic& a);
/// suspicious_band (below) for any pass.
template <class T>
Tensor<double> suspicious_band(const Params& params, const PassInputs<T>& in,
                               const Tensor<double>& abs_y, const Arithmetic& a, double lambda);

/// The "suspicious" band of `convt2d check` (docs/oracle.md): for every output element,
///   lambda * sqrt(K+1) * u * (|b| + sum|w*x|) + u * |y|
///   + x * u * (|y| + |b|) + x * eta                       (x = a.extra_roundings)
///   + output_u * |y| + output_eta                          (one output rounding), or
///   + output_u * (2|y| + |b|) + 2 * output_eta             (a.bias_after_rounding)
/// with u, eta those of a.accumulation. A correct implementation with that arithmetic lands
/// inside it with overwhelming probability; one that used a lower precision than claimed (TF32,
/// float16 intermediates) lands outside while possibly still inside the certified bound. `abs_y`
/// holds |y| of the exact result. K == 0 gives 0.
template <class T>
Tensor<double> suspicious_band(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                               const Tensor<T>* b, const Tensor<double>& abs_y, const Arithmetic& a,
                               double lambda);

/// The band for an accumulation with unit roundoff u and no output rounding.
template <class T>
Tensor<double> suspicious_band(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                               const Tensor<T>* b, const Tensor<double>& abs_y, double u,
                               double lambda);

#define CONVT2D_BOUNDS_EXTERN(T)                                                                  \
  extern template Tensor<double> abs_products_upper<T>(const Params&, const Tensor<T>&,           \
                                                       const Tensor<T>&);                         \
  extern template ProductSums product_sums<T>(const Params&, const Tensor<T>&, const Tensor<T>&); \
  extern template ProductSums product_sums<T>(const Params&, const PassInputs<T>&);               \
  extern template Tensor<double> certified_bound<T>(const Params&, const PassInputs<T>&,          \
                                                    const Arithmetic&);                           \
  extern template Tensor<double> suspicious_band<T>(                                              \
      const Params&, const PassInputs<T>&, const Tensor<double>&, const Arithmetic&, double);     \
  extern template Tensor<double> certified_bound<T>(                                              \
      const Params&, const Tensor<T>&, const Tensor<T>&, const Tensor<T>*, const Arithmetic&);    \
  extern template Tensor<double> certified_bound<T>(                                              \
      const Params&, const Tensor<T>&, const Tensor<T>&, const Tensor<T>*, Precision, double);    \
  extern template Tensor<double> suspicious_band<T>(                                              \
      const Params&, const Tensor<T>&, const Tensor<T>&, const Tensor<T>*, const Tensor<double>&, \
      const Arithmetic&, double);                                                                 \
  extern template Tensor<double> suspicious_band<T>(const Params&, const Tensor<T>&,              \
                                                    const Tensor<T>&, const Tensor<T>*,           \
                                                    const Tensor<double>&, double, double);
CONVT2D_BOUNDS_EXTERN(float)
CONVT2D_BOUNDS_EXTERN(double)
CONVT2D_BOUNDS_EXTERN(float16)
CONVT2D_BOUNDS_EXTERN(bfloat16)
#undef CONVT2D_BOUNDS_EXTERN

}  // namespace convt2d
