#include "convt2d/backward.h"

#include <cmath>
#include <limits>

#include "backward_loops.h"

namespace convt2d {

using detail::operand;
using detail::results_of;
using detail::SumOf;

template <class T, class Acc>
Tensor<Acc> conv_transpose2d_bwd_data(const Params& params, const Tensor<T>& dy,
                                      const Tensor<T>& w) {
  return results_of<Acc>(detail::bwd_data_sums<SumOf<T, Acc>>(params, dy, w));
}

template <class T, class Acc>
Tensor<Acc> conv_transpose2d_bwd_weights(const Params& params, const Tensor<T>& x,
                                         const Tensor<T>& dy) {
  return results_of<Acc>(detail::bwd_weights_sums<SumOf<T, Acc>>(params, x, dy));
}

template <class T, class Acc>
Tensor<Acc> conv_transpose2d_bwd_bias(const Params& params, const Tensor<T>& dy) {
  return results_of<Acc>(detail::bwd_bias_sums<SumOf<T, Acc>>(params, dy));
}

template <class T, class Acc>
Tensor<Acc> conv_transpose2d_pass(Pass pass, const Params& params, const Tensor<T>* x,
                                  const Tensor<T>* w, const Tensor<T>* b, const Tensor<T>* dy) {
  switch (pass) {
    case Pass::kBwdData:
      return conv_transpose2d_bwd_data<T, Acc>(params, operand(dy, pass, "dy"),
                                               operand(w, pass, "weight"));
    case Pass::kBwdWeights:
      return conv_transpose2d_bwd_weights<T, Acc>(params, operand(x, pass, "input"),
                                                  operand(dy, pass, "dy"));
    case Pass::kBwdBias:
      return conv_transpose2d_bwd_bias<T, Acc>(params, operand(dy, pass, "dy"));
    case Pass::kForward:
      break;
  }
  return conv_transpose2d<T, Acc>(params, operand(x, pass, "input"), operand(w, pass, "weight"), b);
}

namespace {

// hi + lo = the exact value, where that is two doubles; lo NaN otherwise.
ExactResult pairs_of(Tensor<Exact>&& value) {
  ExactResult r{std::move(value), {}, {}};
  r.hi = Tensor<double>(r.value.shape);
  r.lo = Tensor<double>(r.value.shape);
  for (size_t i = 0; i < r.value.data.size(); ++i) {
    const Exact& e = r.value.data[i];
    const double hi = static_cast<double>(e);
    double lo = std::numeric_limits<double>::quiet_NaN();
    if (std::isfinite(hi)) {
      const Exact rest = e - Exact(hi);
      const double l = static_cast<double>(rest);
      if (Exact(l) == rest) lo = l;
    }
    r.hi.data[i] = hi;
    r.lo.data[i] = lo;
  }
  return r;
}

// Fixed-point sums into their exact values and double pairs.
ExactResult exact_of(const Tensor<detail::FixedSum>& s) {
  ExactResult r{Tensor<Exact>(s.shape), Tensor<double>(s.shape), Tensor<double>(s.shape)};
  for (size_t i = 0; i < s.data.size(); ++i) {
    r.value.data[i] = s.data[i].value();
    s.data[i].pair(r.hi.data[i], r.lo.data[i]);
  }
  return r;
}

}  // namespace

template <class T>
ExactResult conv_transpose2d_pass_exact(Pass pass, const Params& params, const Tensor<T>* x,
                                        const Tensor<T>* w, const Tensor<T>* b,
                                        const Tensor<T>* dy) {
  if constexpr (std::is_same_v<T, double>) {
    return pairs_of(conv_transpose2d_pass<double, Exact>(pass, params, x, w, b, dy));
  } else {
    using detail::FixedSum;
    switch (pass) {
      case Pass::kBwdData:
        return exact_of(detail::bwd_data_sums<FixedSum>(params, operand(dy, pass, "dy"),
                                                        operand(w, pass, "weight")));
      case Pass::kBwdWeights:
        return exact_of(detail::bwd_weights_sums<FixedSum>(params, operand(x, pass, "input"),
                                                           operand(dy, pass, "dy")));
      case Pass::kBwdBias:
        return exact_of(detail::bwd_bias_sums<FixedSum>(params, operand(dy, pass, "dy")));
      case Pass::kForward:
        break;
    }
    return conv_transpose2d_exact<T>(params, operand(x, pass, "input"), operand(w, pass, "weight"),
                                     b);
  }
}

template <class T, class Acc>
Tensor<T> conv_transpose2d_pass_rounded(Pass pass, const Params& params, const Tensor<T>* x,
                                        const Tensor<T>* w, const Tensor<T>* b,
                                        const Tensor<T>* dy) {
  if (pass == Pass::kForward) {
    return conv_transpose2d_rounded<T, Acc>(params, operand(x, pass, "input"),
                                            operand(w, pass, "weight"), b);
  }
  return round_to<T>(conv_transpose2d_pass<T, Acc>(pass, params, x, w, b, dy));
}

#define CONVT2D_BACKWARD_INSTANTIATE(T, Acc)                                                 \
  template Tensor<Acc> conv_transpose2d_bwd_data<T, Acc>(const Params&, const Tensor<T>&,    \
                                                         const Tensor<T>&);                  \
  template Tensor<Acc> conv_transpose2d_bwd_weights<T, Acc>(const Params&, const Tensor<T>&, \
                                                            const Tensor<T>&);               \
  template Tensor<Acc> conv_transpose2d_bwd_bias<T, Acc>(const Params&, const Tensor<T>&);   \
  template Tensor<Acc> conv_transpose2d_pass<T, Acc>(Pass, const Params&, const Tensor<T>*,  \
                                                     const Tensor<T>*, const Tensor<T>*,     \
                                                     const Tensor<T>*);
CONVT2D_BACKWARD_INSTANTIATE(float, float)
CONVT2D_BACKWARD_INSTANTIATE(float, double)
CONVT2D_BACKWARD_INSTANTIATE(float, long double)
CONVT2D_BACKWARD_INSTANTIATE(float, Exact)
CONVT2D_BACKWARD_INSTANTIATE(double, double)
CONVT2D_BACKWARD_INSTANTIATE(double, long double)
CONVT2D_BACKWARD_INSTANTIATE(double, Exact)
CONVT2D_BACKWARD_INSTANTIATE(float16, float16)
CONVT2D_BACKWARD_INSTANTIATE(float16, float)
CONVT2D_BACKWARD_INSTANTIATE(float16, long double)
CONVT2D_BACKWARD_INSTANTIATE(float16, Exact)
CONVT2D_BACKWARD_INSTANTIATE(bfloat16, bfloat16)
CONVT2D_BACKWARD_INSTANTIATE(bfloat16, float)
CONVT2D_BACKWARD_INSTANTIATE(bfloat16, long double)
CONVT2D_BACKWARD_INSTANTIATE(bfloat16, Exact)
#undef CONVT2D_BACKWARD_INSTANTIATE

#define CONVT2D_BACKWARD_EXACT_INSTANTIATE(T)                                                \
  template ExactResult conv_transpose2d_pass_exact<T>(Pass, const Params&, const Tensor<T>*, \
                                                      const Tensor<T>*, const Tensor<T>*,    \
                                                      const Tensor<T>*);
CONVT2D_BACKWARD_EXACT_INSTANTIATE(float)
CONVT2D_BACKWARD_EXACT_INSTANTIATE(double)
CONVT2D_BACKWARD_EXACT_INSTANTIATE(float16)
CONVT2D_BACKWARD_EXACT_INSTANTIATE(bfloat16)
#undef CONVT2D_BACKWARD_EXACT_INSTANTIATE

#define CONVT2D_BACKWARD_ROUNDED_INSTANTIATE(T, Acc)                                              \
  template Tensor<T> conv_transpose2d_pass_rounded<T, Acc>(Pass, const Params&, const Tensor<T>*, \
                                                           const Tensor<T>*, const Tensor<T>*,    \
                                                           const Tensor<T>*);
CONVT2D_BACKWARD_ROUNDED_INSTANTIATE(float16, float16)
CONVT2D_BACKWARD_ROUNDED_INSTANTIATE(float16, float)
CONVT2D_BACKWARD_ROUNDED_INSTANTIATE(bfloat16, bfloat16)
CONVT2D_BACKWARD_ROUNDED_INSTANTIATE(bfloat16, float)
#undef CONVT2D_BACKWARD_ROUNDED_INSTANTIATE

}  // namespace convt2d
