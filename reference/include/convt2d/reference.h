#pragma once
/// \file
/// Literal, definition-shaped ConvTranspose2d and Conv2d. They are deliberately naive: the loops
/// are the definitions, so that a reader can check them against the formulas by eye. Each is
/// written from its own definition (scatter for the transposed operator, gather for Conv2d); the
/// verification suite tests one against the other (adjointness).

#include <boost/multiprecision/cpp_bin_float.hpp>

#include "convt2d/params.h"
#include "convt2d/tensor.h"

namespace convt2d {

/// A binary floating-point type wide enough that every sum of float32 products is exact (and so
/// every sum of float16 and bfloat16 products, whose values are float32 values).
///
/// Why 640 bits: a float32 is an integer multiple of 2^-149 below 2^128, so a product of two is a
/// multiple of 2^-298 below 2^256 (and is computed exactly: 24+24 significand bits fit in double's
/// 53, and double's exponent range covers it). A sum of at most 2^60 such products plus a float32
/// bias is a multiple of 2^-298 below 2^316, i.e. an integer times 2^-298 with at most 614
/// significant bits. Every partial sum has the same property, so with a 640-bit significand no
/// addition ever rounds. For float64 inputs the products (106 bits) are still exact, the sums are
/// rounded with unit roundoff 2^-640.
using Exact = boost::multiprecision::number<
    boost::multiprecision::cpp_bin_float<640, boost::multiprecision::digit_base_2>,
    boost::multiprecision::et_off>;

/// ConvTranspose2d by its scatter definition: for every n, group g, input channel, input pixel
/// (ih, iw), output channel of the group and tap (fh, fw), add x * w into the output element
/// (ih*sh - ph + fh*dh, iw*sw - pw + fw*dw) when it lies inside; then add the bias.
///
/// Products are formed in Acc and accumulated in Acc, in the order of the loops above; the bias is
/// added last. `b` is read only when pr.params.bias (and must then be non-null). Shapes are checked
/// (Error on mismatch). Instantiated for (T, Acc) = (float, float), (float, double),
/// (float, long double), (float, Exact), (double, double), (double, long double), (double, Exact),
/// and for T = float16 and T = bfloat16 with Acc = T, float, long double and Exact.
///
/// With Acc = T = float16 (or bfloat16) every product and every addition is rounded to T: the
/// `default` compute_mode as MegEngine's naive kernel computes it (accumulate in the storage type;
/// the bias, added last, is added to the rounded convolution result).
template <class T, class Acc>
Tensor<Acc> conv_transpose2d(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                             const Tensor<T>* b);

/// MegEngine's order for a narrow storage type T: the sum of products is accumulated in Acc
/// (without the bias), rounded once to T, and then the bias is added in T's arithmetic (rounded
/// once more). With T = float16 and Acc = float this is the `float32` compute_mode; with Acc = T
/// it equals conv_transpose2d<T, T>. Instantiated for T = float16 and bfloat16, Acc = T and float.
template <class T, class Acc>
Tensor<T> conv_transpose2d_rounded(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                                   const Tensor<T>* b);

/// Conv2d (cross-correlation) by its gather definition, with the weight in ConvTranspose2d layout:
/// it maps a tensor of shape (N, OC, H, W) to (N, IC, H', W') with
/// H' = floor((H + 2*ph - dh*(kh-1) - 1) / sh) + 1, and
///   out[n, g*ICg + i, oh, ow] = sum over o < OCg, fh, fw of
///       w[g, i, o, fh, fw] * in[n, g*OCg + o, oh*sh - ph + fh*dh, ow*sw - pw + fw*dw]
/// (terms whose input position is outside are zero), plus bias[i] when `b` is non-null (shape
/// (1, IC, 1, 1)). With the same parameters this is the adjoint of conv_transpose2d.
/// output_padding does not exist for Conv2d and is ignored. Same instantiations as above.
template <class T, class Acc>
Tensor<Acc> conv2d(const Params& params, const Tensor<T>& in, const Tensor<T>& w,
                   const Tensor<T>* b);

/// The exact result of conv_transpose2d<T, Exact> (T = float, float16, bfloat16), with every
/// element also as a pair of doubles: value == hi + lo exactly, hi within one ulp of the value;
/// lo is NaN where no such pair exists (the value needs more than two doubles, or is not finite;
/// hi is then the value rounded). For comparisons in double arithmetic (compare.h).
struct ExactResult {
  Tensor<Exact> value;
  Tensor<double> hi, lo;
};
/// Bytes the exact reference holds per output element while it runs: the fixed-point sum (192),
/// the Exact result and its double pair. What a memory cap on the oracle must count.
inline constexpr int64_t kExactBytesPerElement =
    192 + static_cast<int64_t>(sizeof(Exact)) + 2 * static_cast<int64_t>(sizeof(double));
template <class T>
ExactResult conv_transpose2d_exact(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                                   const Tensor<T>* b);

/// The exact results of conv_transpose2d<T, Exact> and conv2d<T, Exact> for T = float, float16
/// and bfloat16, but accumulated term by term in 640-bit arithmetic. Those sum in an exact
/// fixed-point accumulator instead, about 25 times faster (4.6·10^7 against 1.8·10^6
/// multiply-adds per second on mb1ic64ih8oc32kh4sh2ph1); these slow twins exist so that the tests
/// can check one against the other.
template <class T>
Tensor<Exact> conv_transpose2d_mp(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                                  const Tensor<T>* b);
template <class T>
Tensor<Exact> conv2d_mp(const Params& params, const Tensor<T>& in, const Tensor<T>& w,
                        const Tensor<T>* b);

/// Rounds every element to T (round to nearest even).
template <class T, class Acc>
Tensor<T> round_to(const Tensor<Acc>& t) {
  return tensor_cast<T>(t);
}

#define CONVT2D_REFERENCE_EXTERN(T, Acc)                                                        \
  extern template Tensor<Acc> conv_transpose2d<T, Acc>(const Params&, const Tensor<T>&,         \
                                                       const Tensor<T>&, const Tensor<T>*);     \
  extern template Tensor<Acc> conv2d<T, Acc>(const Params&, const Tensor<T>&, const Tensor<T>&, \
                                             const Tensor<T>*);
CONVT2D_REFERENCE_EXTERN(float, float)
CONVT2D_REFERENCE_EXTERN(float, double)
CONVT2D_REFERENCE_EXTERN(float, long double)
CONVT2D_REFERENCE_EXTERN(float, Exact)
CONVT2D_REFERENCE_EXTERN(double, double)
CONVT2D_REFERENCE_EXTERN(double, long double)
CONVT2D_REFERENCE_EXTERN(double, Exact)
CONVT2D_REFERENCE_EXTERN(float16, float16)
CONVT2D_REFERENCE_EXTERN(float16, float)
CONVT2D_REFERENCE_EXTERN(float16, long double)
CONVT2D_REFERENCE_EXTERN(float16, Exact)
CONVT2D_REFERENCE_EXTERN(bfloat16, bfloat16)
CONVT2D_REFERENCE_EXTERN(bfloat16, float)
CONVT2D_REFERENCE_EXTERN(bfloat16, long double)
CONVT2D_REFERENCE_EXTERN(bfloat16, Exact)
#undef CONVT2D_REFERENCE_EXTERN
#define CONVT2D_REFERENCE_ROUNDED_EXTERN(T, Acc)                                              \
  extern template Tensor<T> conv_transpose2d_rounded<T, Acc>(const Params&, const Tensor<T>&, \
                                                             const Tensor<T>&, const Tensor<T>*);
CONVT2D_REFERENCE_ROUNDED_EXTERN(float16, float16)
CONVT2D_REFERENCE_ROUNDED_EXTERN(float16, float)
CONVT2D_REFERENCE_ROUNDED_EXTERN(bfloat16, bfloat16)
CONVT2D_REFERENCE_ROUNDED_EXTERN(bfloat16, float)
#undef CONVT2D_REFERENCE_ROUNDED_EXTERN

}  // namespace convt2d
