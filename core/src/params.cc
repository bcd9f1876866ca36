#include "convt2d/params.h"

#include <fmt/format.h>

#include "convt2d/checked.h"
#include "convt2d/error.h"

namespace convt2d {
namespace {

std::string pair_str(Pair p) {
  return fmt::format("({}, {})", p.h, p.w);
}

void require_at_least(const char* name, Pair v, int64_t lo) {
  if (v.h < lo || v.w < lo) {
    throw Error(name,
                fmt::format("{} must be >= {} in both dimensions, got {}", name, lo, pair_str(v)));
  }
}

void require_at_least(const char* name, int64_t v, int64_t lo) {
  if (v < lo) throw Error(name, fmt::format("{} must be >= {}, got {}", name, lo, v));
}

// One spatial dimension of the output: (H-1)*s - 2*p + d*(k-1) + op + 1, every step checked.
int64_t output_extent(char dim, int64_t in, int64_t k, int64_t s, int64_t p, int64_t op,
                      int64_t d) {
  const std::string what = fmt::format("output size in {}", dim == 'h' ? "H" : "W");
  int64_t r = checked_mul(in - 1, s, what);
  r = checked_sub(r, checked_mul(2, p, what), what);
  r = checked_add(r, checked_mul(d, k - 1, what), what);
  r = checked_add(r, op, what);
  r = checked_add(r, 1, what);
  if (r < 1) {
    throw Error(
        "padding",
        fmt::format("padding: output {0} = (i{1}-1)*s{1} - 2*p{1} + d{1}*(k{1}-1) + op{1} + 1 "
                    "= ({2}-1)*{3} - 2*{4} + {5}*({6}-1) + {7} + 1 = {8} must be >= 1 "
                    "(padding p{1}={4} is too large)",
                    dim == 'h' ? "height" : "width", dim, in, s, p, d, k, op, r));
  }
  return r;
}

}  // namespace

ConvMode parse_conv_mode(std::string_view s) {
  if (s == "cross_correlation") return ConvMode::kCrossCorrelation;
  throw Error("conv_mode", fmt::format("conv_mode: unknown value '{}' (only 'cross_correlation' "
                                       "exists)",
                                       excerpt(s)));
}

ComputeMode parse_compute_mode(std::string_view s) {
  if (s == "default") return ComputeMode::kDefault;
  if (s == "float32") return ComputeMode::kFloat32;
  throw Error("compute_mode",
              fmt::format("compute_mode: unknown value '{}' (expected 'default' or 'float32')",
                          excerpt(s)));
}

OutputPaddingRule parse_output_padding_rule(std::string_view s) {
  if (s == "megengine") return OutputPaddingRule::kMegEngine;
  if (s == "pytorch") return OutputPaddingRule::kPyTorch;
  throw Error("output_padding_rule",
              fmt::format("output_padding_rule: unknown value '{}' (expected 'megengine' or "
                          "'pytorch')",
                          excerpt(s)));
}

std::string_view to_string(ConvMode) {
  return "cross_correlation";
}
std::string_view to_string(ComputeMode m) {
  return m == ComputeMode::kFloat32 ? "float32" : "default";
}
std::string_view to_string(OutputPaddingRule r) {
  return r == OutputPaddingRule::kPyTorch ? "pytorch" : "megengine";
}

std::string format_shape(const Shape& s) {
  if (s.size() == 1) return fmt::format("({},)", s[0]);
  return fmt::format("({})", fmt::join(s, ", "));
}

void validate(const Params& p) {
  require_at_least("in_channels", p.in_channels, 1);
  require_at_least("out_channels", p.out_channels, 1);
  require_at_least("groups", p.groups, 1);
  require_at_least("kernel_size", p.kernel_size, 1);
  require_at_least("stride", p.stride, 1);
  require_at_least("dilation", p.dilation, 1);
  require_at_least("padding", p.padding, 0);
  require_at_least("output_padding", p.output_padding, 0);
  if (p.in_channels % p.groups != 0) {
    throw Error("groups", fmt::format("groups: in_channels={} is not divisible by groups={}",
                                      p.in_channels, p.groups));
  }
  if (p.out_channels % p.groups != 0) {
    throw Error("groups", fmt::format("groups: out_channels={} is not divisible by groups={}",
                                      p.out_channels, p.groups));
  }
  const auto op_ok = [&](int64_t op, int64_t s, int64_t d) {
    return op < s || (p.output_padding_rule == OutputPaddingRule::kPyTorch && op < d);
  };
  if (!op_ok(p.output_padding.h, p.stride.h, p.dilation.h) ||
      !op_ok(p.output_padding.w, p.stride.w, p.dilation.w)) {
    if (p.output_padding_rule == OutputPaddingRule::kMegEngine) {
      throw Error("output_padding",
                  fmt::format("output_padding={} must be smaller than stride={} in each dimension "
                              "(megengine rule; the pytorch rule also allows < dilation)",
                              pair_str(p.output_padding), pair_str(p.stride)));
    }
    throw Error("output_padding",
                fmt::format("output_padding={} must be smaller than stride={} or dilation={} in "
                            "each dimension (pytorch rule)",
                            pair_str(p.output_padding), pair_str(p.stride), pair_str(p.dilation)));
  }
}

Shape weight_shape(const Params& p) {
  validate(p);
  if (p.groups == 1) return {p.in_channels, p.out_channels, p.kernel_size.h, p.kernel_size.w};
  return {p.groups, p.in_channels / p.groups, p.out_channels / p.groups, p.kernel_size.h,
          p.kernel_size.w};
}

void check_weight_shape(const Params& p, const Shape& w) {
  const Shape ws = weight_shape(p);
  if (w != ws) {
    throw Error("weight", fmt::format("weight: shape {} does not match the parameters, which "
                                      "require {}",
                                      format_shape(w), format_shape(ws)));
  }
}

Shape bias_shape(const Params& p) {
  validate(p);
  return {1, p.out_channels, 1, 1};
}

Pair output_size(const Problem& pr) {
  const Params& p = pr.params;
  validate(p);
  require_at_least("input height", pr.ih, 1);
  require_at_least("input width", pr.iw, 1);
  return {output_extent('h', pr.ih, p.kernel_size.h, p.stride.h, p.padding.h, p.output_padding.h,
                        p.dilation.h),
          output_extent('w', pr.iw, p.kernel_size.w, p.stride.w, p.padding.w, p.output_padding.w,
                        p.dilation.w)};
}

int64_t element_count(const Shape& s, std::string_view what) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) {
      throw Error(std::string(what),
                  fmt::format("{}: negative dimension in {}", what, format_shape(s)));
    }
    if (__builtin_mul_overflow(n, d, &n)) {
      throw Error(std::string(what),
                  fmt::format("{}: element count of {} overflows int64", what, format_shape(s)));
    }
  }
  return n;
}

void validate(const Problem& pr) {
  require_at_least("batch (mb)", pr.mb, 0);
  output_size(pr);  // validates params, input size and output size
  // Every tensor must be addressable in bytes as float64 (8 bytes) without int64 overflow.
  for (const auto& [name, shape] :
       {std::pair{"input", input_shape(pr)}, std::pair{"weight", weight_shape(pr.params)},
        std::pair{"output", output_shape(pr)}}) {
    checked_mul(element_count(shape, name), 8, fmt::format("{} byte size", name));
  }
}

Shape input_shape(const Problem& pr) {
  require_at_least("batch (mb)", pr.mb, 0);
  return {pr.mb, pr.params.in_channels, pr.ih, pr.iw};
}

Shape output_shape(const Problem& pr) {
  require_at_least("batch (mb)", pr.mb, 0);
  const Pair o = output_size(pr);
  return {pr.mb, pr.params.out_channels, o.h, o.w};
}

Problem problem_from_shapes(const Params& params, const Shape& x, const Shape& w, const Shape* b) {
  validate(params);
  if (x.size() != 4) {
    throw Error("input", fmt::format("input: expected a 4-D (N, IC, H, W) tensor, got shape {}",
                                     format_shape(x)));
  }
  if (x[1] != params.in_channels) {
    throw Error("input", fmt::format("input: shape {} has {} channels but in_channels={}",
                                     format_shape(x), x[1], params.in_channels));
  }
  Problem pr{x[0], x[2], x[3], params};
  validate(pr);
  check_weight_shape(params, w);
  if (params.bias) {
    if (b == nullptr) throw Error("bias", "bias: parameters have bias=true but no bias was given");
    const Shape bs = bias_shape(params);
    if (*b != bs) {
      throw Error("bias", fmt::format("bias: shape {} does not match the parameters, which "
                                      "require {}",
                                      format_shape(*b), format_shape(bs)));
    }
  }
  return pr;
}

double macs(const Problem& pr) {
  const Params& p = pr.params;
  return static_cast<double>(pr.mb) * static_cast<double>(p.in_channels) *
         static_cast<double>(p.out_channels / p.groups) * static_cast<double>(p.kernel_size.h) *
         static_cast<double>(p.kernel_size.w) * static_cast<double>(pr.ih) *
         static_cast<double>(pr.iw);
}

}  // namespace convt2d
