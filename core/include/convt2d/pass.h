#pragma once
/// \file
/// The four computations of a ConvTranspose2d layer: the forward pass y = ConvT(x, w, b) and the
/// three backward passes of a loss L, given dy = dL/dy (definitions: convt2d/backward.h,
/// docs/backward.md). A registered implementation computes one of them (convt2d/registry.h).

#include <string_view>

#include "convt2d/params.h"

namespace convt2d {

/// forward: y (N, OC, Hout, Wout) from x, w, b. bwd_data: dx (N, IC, H, W) from dy and w.
/// bwd_weights: dw (the weight's shape) from x and dy. bwd_bias: db (1, OC, 1, 1) from dy.
enum class Pass { kForward, kBwdData, kBwdWeights, kBwdBias };

/// All four, in that order.
inline constexpr Pass kAllPasses[] = {Pass::kForward, Pass::kBwdData, Pass::kBwdWeights,
                                      Pass::kBwdBias};

/// "forward", "bwd_data", "bwd_weights", "bwd_bias".
std::string_view to_string(Pass p);
/// Parses those names; anything else is an Error naming `what`.
Pass parse_pass(std::string_view s, std::string_view what = "pass");

/// What a pass reads: x (forward, bwd_weights), w (forward, bwd_data), dy (the backward passes),
/// b (forward, when params.bias).
constexpr bool reads_x(Pass p) {
  return p == Pass::kForward || p == Pass::kBwdWeights;
}
constexpr bool reads_w(Pass p) {
  return p == Pass::kForward || p == Pass::kBwdData;
}
constexpr bool reads_dy(Pass p) {
  return p != Pass::kForward;
}

/// The names of a result index's parts, e.g. "(n, c, h, w)" for forward and bwd_data,
/// "(g, ic, oc, fh, fw)" for a grouped weight gradient (`rank` 5), "(ic, oc, fh, fw)" for rank 4.
std::string_view index_names(Pass pass, size_t rank);

/// The shape of the pass's result for `pr`: output_shape (forward), input_shape (bwd_data),
/// weight_shape (bwd_weights), bias_shape (bwd_bias). Validates pr.
Shape result_shape(const Problem& pr, Pass pass);

/// Error naming bias when the bias gradient is asked of a layer without a bias (params.bias false).
void check_pass(const Problem& pr, Pass pass);

/// The problem whose output has the shape `dy` (N, OC, Hout, Wout) under `params`: the input size
/// solved from Hout = (H-1)*sh - 2*ph + dh*(kh-1) + oph + 1 (W alike; overflow-free). Error
/// naming `dy` when dy is not 4-D, has other than OC channels, or no input size gives that output.
Problem problem_from_output(const Params& params, const Shape& dy);

}  // namespace convt2d
