#pragma once
/// \file
/// ConvTranspose2d parameters (MegEngine's constructor arguments), problems (parameters plus an
/// input size), shapes and validation.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace convt2d {

/// An (h, w) pair; MegEngine accepts an int for both.
struct Pair {
  int64_t h = 0;
  int64_t w = 0;
  constexpr Pair() = default;
  constexpr Pair(int64_t both) : h(both), w(both) {}  // NOLINT: mirrors MegEngine's int-or-pair
  constexpr Pair(int64_t h_, int64_t w_) : h(h_), w(w_) {}
  friend constexpr bool operator==(const Pair&, const Pair&) = default;
};

/// Only cross-correlation exists in MegEngine's ConvTranspose2d.
enum class ConvMode { kCrossCorrelation };

/// `default`: no requirement on intermediate precision. `float32`: float32 accumulator and
/// intermediates; only effective for float16 input/output.
enum class ComputeMode { kDefault, kFloat32 };

/// Which output_padding values are legal. `megengine` (default): op < stride, the rule that makes
/// ConvTranspose2d the exact adjoint of Conv2d. `pytorch`: op < stride or op < dilation.
enum class OutputPaddingRule { kMegEngine, kPyTorch };

/// Parses "cross_correlation"; anything else is an Error naming conv_mode.
ConvMode parse_conv_mode(std::string_view s);
/// Parses "default" or "float32"; anything else is an Error naming compute_mode.
ComputeMode parse_compute_mode(std::string_view s);
/// Parses "megengine" or "pytorch"; anything else is an Error naming output_padding_rule.
OutputPaddingRule parse_output_padding_rule(std::string_view s);
std::string_view to_string(ConvMode m);
std::string_view to_string(ComputeMode m);
std::string_view to_string(OutputPaddingRule r);

/// The constructor arguments of MegEngine's ConvTranspose2d, plus the output_padding rule.
struct Params {
  int64_t in_channels = 1;
  int64_t out_channels = 1;
  Pair kernel_size{1, 1};
  Pair stride{1, 1};
  Pair padding{0, 0};
  Pair output_padding{0, 0};
  Pair dilation{1, 1};
  int64_t groups = 1;
  bool bias = true;
  ConvMode conv_mode = ConvMode::kCrossCorrelation;
  ComputeMode compute_mode = ComputeMode::kDefault;
  OutputPaddingRule output_padding_rule = OutputPaddingRule::kMegEngine;
  friend bool operator==(const Params&, const Params&) = default;
};

/// A tensor shape: dimension sizes, outermost first.
using Shape = std::vector<int64_t>;

/// Formats a shape as "(2, 3, 4, 5)".
std::string format_shape(const Shape& s);

/// Checks everything about `p` that does not depend on the input size: sizes >= 1, padding and
/// output_padding >= 0, channels divisible by groups, the output_padding rule. Throws Error.
void validate(const Params& p);

/// Weight shape: (IC, OC, kh, kw) when groups == 1, else (G, IC/G, OC/G, kh, kw). Validates p.
Shape weight_shape(const Params& p);
/// The one weight-shape check of every pass and implementation: throws Error("weight", ...)
/// naming both shapes unless `w` is weight_shape(p). Validates p.
void check_weight_shape(const Params& p, const Shape& w);
/// Bias shape: (1, OC, 1, 1). Validates p.
Shape bias_shape(const Params& p);

/// Parameters together with the input size: one concrete ConvTranspose2d problem.
struct Problem {
  int64_t mb = 1;  ///< batch N (may be 0)
  int64_t ih = 1;  ///< input height
  int64_t iw = 1;  ///< input width
  Params params;
  friend bool operator==(const Problem&, const Problem&) = default;
};

/// Output spatial size: (H-1)*s - 2*p + d*(k-1) + op + 1 per dimension, overflow-checked.
/// Throws Error if the parameters are invalid or the result is < 1.
Pair output_size(const Problem& pr);

/// Validates params, input sizes (N >= 0, H, W >= 1), the output size (>= 1), and that every
/// tensor's element count and byte size (as float64) fit in int64. Throws Error.
void validate(const Problem& pr);

/// (N, IC, H, W).
Shape input_shape(const Problem& pr);
/// (N, OC, Hout, Wout). Validates pr.
Shape output_shape(const Problem& pr);

/// Product of the dimensions, overflow-checked (Error naming `what`).
int64_t element_count(const Shape& s, std::string_view what = "shape");

/// Builds the problem that `params` describe for an input of shape `x` (must be 4-D), and checks
/// that `w` and (when params.bias) `b` have the shapes the parameters require. `b` is ignored when
/// params.bias is false. Throws Error naming the tensor and both shapes on a mismatch.
Problem problem_from_shapes(const Params& params, const Shape& x, const Shape& w, const Shape* b);

/// Useful multiply-adds: N * IC * (OC/G) * kh * kw * H * W (a FLOP count is twice this).
double macs(const Problem& pr);

/// Parses a problem string such as "mb1ic64ih32oc64kh4sh2ph1" (format: ../shared/bench/layers.txt
/// header): tokens mb ic ih iw oc kh kw sh sw ph pw oph opw dh dw g bias, each followed by an
/// integer, in any order, each at most once. ic, ih, oc and kh are required. A missing w twin
/// equals its h value. The result is validated. Throws Error naming the bad token.
Problem parse_problem(std::string_view s);

/// The canonical problem string; parse_problem(format_problem(p)) == p for every valid p whose
/// compute_mode, conv_mode and output_padding_rule are the defaults.
std::string format_problem(const Problem& pr);

}  // namespace convt2d
