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

extern template Tensor<double> certified_bound<float>(const Params&, const Tensor<float>&,
                                                      const Tensor<float>&, const Tensor<float>*,
                                                      Precision, double);
extern template Tensor<double> certified_bound<double>(const Params&, const Tensor<double>&,
                                                       const Tensor<double>&, const Tensor<double>*,
                                                       Precision, double);

}  // namespace convt2d
