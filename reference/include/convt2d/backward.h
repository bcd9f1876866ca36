#pragma once
/// \file
/// The backward passes of ConvTranspose2d as literal loops, each written from its own definition
/// (docs/backward.md). With y = ConvTranspose2d(x, w, b) and dy = dL/dy for a loss L:
///
///   bwd_data:    dx[n, c, ih, iw] = sum over (o < OC/G, fh, fw) of
///                  w[g, i, o, fh, fw] * dy[n, g*OC/G + o, ih*sh - ph + fh*dh, iw*sw - pw + fw*dw]
///                  (c = g*IC/G + i; terms whose dy position lies outside dy are absent)
///   bwd_weights: dw[g, i, o, fh, fw] = sum over (n, ih, iw) of
///                  x[n, g*IC/G + i, ih, iw] * dy[n, g*OC/G + o, ih*sh - ph + fh*dh, ...]
///   bwd_bias:    db[0, oc, 0, 0] = sum over (n, h, w) of dy[n, oc, h, w]
///
/// Each element is one sum, accumulated in Acc in the order written (o, fh, fw; n, ih, iw; n, h,
/// w). The weight is (IC, OC, kh, kw) when groups == 1, else (G, IC/G, OC/G, kh, kw), as in the
/// forward pass. Shapes are checked (Error naming the tensor). Instantiated for the same (T, Acc)
/// pairs as conv_transpose2d (convt2d/reference.h); with Acc = Exact the sums are exact for
/// float32, float16 and bfloat16 data (fixed point) and 640-bit for float64.

#include "convt2d/pass.h"
#include "convt2d/reference.h"

namespace convt2d {

/// dx, shape (N, IC, H, W) with H, W solved from dy's shape (problem_from_output).
template <class T, class Acc>
Tensor<Acc> conv_transpose2d_bwd_data(const Params& params, const Tensor<T>& dy,
                                      const Tensor<T>& w);

/// dw, shape weight_shape(params); x (N, IC, H, W) and dy (N, OC, Hout, Wout) must agree.
template <class T, class Acc>
Tensor<Acc> conv_transpose2d_bwd_weights(const Params& params, const Tensor<T>& x,
                                         const Tensor<T>& dy);

/// db, shape (1, OC, 1, 1).
template <class T, class Acc>
Tensor<Acc> conv_transpose2d_bwd_bias(const Params& params, const Tensor<T>& dy);

/// The pass's result with Acc, from the operands it reads (reads_x, reads_w, reads_dy; the others
/// may be null). Error naming a missing operand. Forward: conv_transpose2d (with b).
template <class T, class Acc>
Tensor<Acc> conv_transpose2d_pass(Pass pass, const Params& params, const Tensor<T>* x,
                                  const Tensor<T>* w, const Tensor<T>* b, const Tensor<T>* dy);

/// The exact result of a pass with every element as a double pair where that is exact (as
/// conv_transpose2d_exact), for T = float, float16, bfloat16 (fixed point) and double (640 bits;
/// lo is NaN where the 640-bit value is not a double pair).
template <class T>
ExactResult conv_transpose2d_pass_exact(Pass pass, const Params& params, const Tensor<T>* x,
                                        const Tensor<T>* w, const Tensor<T>* b,
                                        const Tensor<T>* dy);

/// The pass with T's arithmetic in a compute mode of MegEngine's: every product and sum rounded
/// to T (Acc = T, compute_mode default), or accumulated in float and rounded once to T (Acc =
/// float, compute_mode float32). The backward passes have no bias. T = float16, bfloat16.
template <class T, class Acc>
Tensor<T> conv_transpose2d_pass_rounded(Pass pass, const Params& params, const Tensor<T>* x,
                                        const Tensor<T>* w, const Tensor<T>* b,
                                        const Tensor<T>* dy);

}  // namespace convt2d
