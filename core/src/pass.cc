#include "convt2d/pass.h"

#include <fmt/format.h>

#include "convt2d/error.h"

namespace convt2d {
namespace {

__extension__ typedef __int128 Int128;

// The input extent whose output extent is `out`, or -1 when there is none: (H-1)*s = out - 1 - op
// + 2p - d(k-1), in 128-bit arithmetic (every term fits in int64).
int64_t input_extent(int64_t out, int64_t k, int64_t s, int64_t p, int64_t op, int64_t d) {
  const Int128 num = Int128{out} - 1 - op + Int128{2} * p - Int128{d} * (k - 1);
  if (num < 0 || num % s != 0) return -1;
  const Int128 h = num / s + 1;
  return h > INT64_MAX ? -1 : static_cast<int64_t>(h);
}

}  // namespace

std::string_view to_string(Pass p) {
  switch (p) {
    case Pass::kBwdData:
      return "bwd_data";
    case Pass::kBwdWeights:
      return "bwd_weights";
    case Pass::kBwdBias:
      return "bwd_bias";
    case Pass::kForward:
      break;
  }
  return "forward";
}

Pass parse_pass(std::string_view s, std::string_view what) {
  for (Pass p : kAllPasses) {
    if (s == to_string(p)) return p;
  }
  throw Error(std::string(what),
              fmt::format("{}: unknown pass '{}' (expected forward, bwd_data, bwd_weights or "
                          "bwd_bias)",
                          what, excerpt(s)));
}

Shape result_shape(const Problem& pr, Pass pass) {
  validate(pr);
  switch (pass) {
    case Pass::kBwdData:
      return input_shape(pr);
    case Pass::kBwdWeights:
      return weight_shape(pr.params);
    case Pass::kBwdBias:
      return bias_shape(pr.params);
    case Pass::kForward:
      break;
  }
  return output_shape(pr);
}

void check_pass(const Problem& pr, Pass pass) {
  if (pass == Pass::kBwdBias && !pr.params.bias) {
    throw Error("bias", fmt::format("bias: the bwd_bias pass needs a layer with a bias, and {} "
                                    "has none (bias0)",
                                    format_problem(pr)));
  }
}

Problem problem_from_output(const Params& params, const Shape& dy) {
  validate(params);
  if (dy.size() != 4 || dy[1] != params.out_channels || dy[0] < 0 || dy[2] < 1 || dy[3] < 1) {
    throw Error("dy", fmt::format("dy: expected a 4-D (N, {}, Hout, Wout) tensor, got shape {}",
                                  params.out_channels, format_shape(dy)));
  }
  const Params& p = params;
  const int64_t h = input_extent(dy[2], p.kernel_size.h, p.stride.h, p.padding.h,
                                 p.output_padding.h, p.dilation.h);
  const int64_t w = input_extent(dy[3], p.kernel_size.w, p.stride.w, p.padding.w,
                                 p.output_padding.w, p.dilation.w);
  if (h < 1 || w < 1) {
    throw Error("dy", fmt::format("dy: shape {} is not the output of any input under these "
                                  "parameters (no {} >= 1 gives {} = ({}-1)*s - 2p + d(k-1) + op "
                                  "+ 1 = {})",
                                  format_shape(dy), h < 1 ? "H" : "W", h < 1 ? "Hout" : "Wout",
                                  h < 1 ? "H" : "W", h < 1 ? dy[2] : dy[3]));
  }
  const Problem pr{dy[0], h, w, params};
  validate(pr);
  return pr;
}

std::string_view index_names(Pass pass, size_t rank) {
  if (pass == Pass::kBwdWeights) return rank == 5 ? "(g, ic, oc, fh, fw)" : "(ic, oc, fh, fw)";
  if (pass == Pass::kBwdBias) return "(0, oc, 0, 0)";
  return "(n, c, h, w)";
}

}  // namespace convt2d
