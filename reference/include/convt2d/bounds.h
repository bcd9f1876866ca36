#pragma once
/// \file
/// Per-element certified error bounds for concrete data (formula: convt2d/error_bounds.h).

#include "convt2d/error_bounds.h"
#include "convt2d/tensor.h"

namespace convt2d {

/// For every output element, the certified bound on |y_hat - y| for an implementation with
/// precision `prec` that computes ConvTranspose2d(x, w, b): gamma(K+1)*sum|w*x| + gamma(K)*|b| +
/// K*eta*(1 + gamma(K)). sum|w*x| is computed in long double and inflated so that it is an upper
/// bound on the exact value. When the accumulator is rounded once more to a narrower output format
/// with unit roundoff `output_u`, the bound grows by output_u * (|b| + sum|w*x| + bound). Output
/// shape: (N, OC, Hout, Wout).
template <class T>
Tensor<double> certified_bound(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                               const Tensor<T>* b, Precision prec, double output_u = 0.0);

/// Upper bounds on sum|w*x| (no bias) for every output element, shape (N, OC, Hout, Wout).
template <class T>
Tensor<double> abs_products_upper(const Params& params, const Tensor<T>& x, const Tensor<T>& w);

/// The "suspicious" band of `convt2d check` (docs/oracle.md): for every output element,
///   lambda * sqrt(K+1) * u * (|b| + sum|w*x|) + u * |y|.
/// A correct implementation with unit roundoff u lands inside it with overwhelming probability;
/// one that used a lower precision than claimed (TF32, float16 accumulation) lands outside while
/// still inside the certified bound. `abs_y` holds |y| of the exact result.
template <class T>
Tensor<double> suspicious_band(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                               const Tensor<T>* b, const Tensor<double>& abs_y, double u,
                               double lambda);

extern template Tensor<double> abs_products_upper<float>(const Params&, const Tensor<float>&,
                                                         const Tensor<float>&);
extern template Tensor<double> abs_products_upper<double>(const Params&, const Tensor<double>&,
                                                          const Tensor<double>&);
extern template Tensor<double> suspicious_band<float>(const Params&, const Tensor<float>&,
                                                      const Tensor<float>&, const Tensor<float>*,
                                                      const Tensor<double>&, double, double);
extern template Tensor<double> suspicious_band<double>(const Params&, const Tensor<double>&,
                                                       const Tensor<double>&, const Tensor<double>*,
                                                       const Tensor<double>&, double, double);
extern template Tensor<double> certified_bound<float>(const Params&, const Tensor<float>&,
                                                      const Tensor<float>&, const Tensor<float>*,
                                                      Precision, double);
extern template Tensor<double> certified_bound<double>(const Params&, const Tensor<double>&,
                                                       const Tensor<double>&, const Tensor<double>*,
                                                       Precision, double);

}  // namespace convt2d
