#pragma once
// RapidCheck generators that build valid (and, for property 1, deliberately invalid) problems
// directly: groups first, then channels as multiples, padding within what keeps Hout >= 1. No
// RC_PRE filtering anywhere.

#include <rapidcheck.h>

#include <ostream>
#include <string>

#include "convt2d/fill.h"
#include "convt2d/params.h"

namespace convt2d {

/// RapidCheck prints generated problems (and shrunk counterexamples) as problem strings.
inline void showValue(const Problem& pr, std::ostream& os) {
  os << format_problem(pr);
  if (pr.params.output_padding_rule == OutputPaddingRule::kPyTorch) os << " (pytorch rule)";
}

inline void showValue(Regime r, std::ostream& os) {
  os << to_string(r);
}

/// A parameter set with exactly one violation and the parameter the error must name.
struct InvalidProblem {
  Problem problem;
  std::string subject;
};
inline void showValue(const InvalidProblem& v, std::ostream& os) {
  os << "violates " << v.subject << ": mb" << v.problem.mb << " ic" << v.problem.params.in_channels
     << " ih" << v.problem.ih << " iw" << v.problem.iw << " oc" << v.problem.params.out_channels
     << " k(" << v.problem.params.kernel_size.h << "," << v.problem.params.kernel_size.w << ") s("
     << v.problem.params.stride.h << "," << v.problem.params.stride.w << ") p("
     << v.problem.params.padding.h << "," << v.problem.params.padding.w << ") op("
     << v.problem.params.output_padding.h << "," << v.problem.params.output_padding.w << ") d("
     << v.problem.params.dilation.h << "," << v.problem.params.dilation.w << ") g"
     << v.problem.params.groups;
}

}  // namespace convt2d

namespace rc {

template <>
struct Arbitrary<convt2d::Problem> {
  static Gen<convt2d::Problem> arbitrary() {
    return gen::exec([] {
      using convt2d::Pair;
      convt2d::Problem pr;
      convt2d::Params& p = pr.params;
      pr.mb = *gen::weightedOneOf<int64_t>(
          {{1, gen::just<int64_t>(0)}, {9, gen::inRange<int64_t>(1, 4)}});
      // One case in eight is "wide": up to 8 channels per group and 12x12 inputs, the sizes at
      // which a blocked or vectorized kernel's channel tiles and row tails show up (kernels of at
      // most 3x3 there keep the exact reference fast).
      const bool wide = *gen::weightedOneOf<bool>({{7, gen::just(false)}, {1, gen::just(true)}});
      // Groups first, then channels as multiples of it (depthwise: one channel per group).
      p.groups = *gen::weightedOneOf<int64_t>(
          {{3, gen::just<int64_t>(1)}, {2, gen::inRange<int64_t>(2, 5)}});
      const bool depthwise = p.groups > 1 && *gen::arbitrary<bool>();
      p.in_channels = p.groups * (depthwise ? 1 : *gen::inRange<int64_t>(1, wide ? 9 : 5));
      p.out_channels = p.groups * (depthwise ? 1 : *gen::inRange<int64_t>(1, wide ? 9 : 5));
      const bool square = *gen::arbitrary<bool>();
      const auto pair = [&](int64_t lo, int64_t hi) {
        const int64_t h = *gen::inRange<int64_t>(lo, hi);
        return Pair{h, square ? h : *gen::inRange<int64_t>(lo, hi)};
      };
      const Pair in = pair(1, wide ? 13 : 8);
      pr.ih = in.h;
      pr.iw = in.w;
      p.kernel_size = pair(1, wide ? 4 : 6);
      p.stride = pair(1, 5);
      // (No nested gen::exec capturing locals: shrinking re-runs it after this frame is gone.)
      const bool dilated = *gen::weightedOneOf<bool>({{2, gen::just(false)}, {1, gen::just(true)}});
      p.dilation = dilated ? pair(1, 4) : Pair{1, 1};
      p.output_padding = {*gen::inRange<int64_t>(0, p.stride.h),
                          *gen::inRange<int64_t>(0, p.stride.w)};
      // Any padding that keeps the output >= 1: 2p <= (H-1)s + d(k-1) + op. This reaches beyond
      // the kernel extent d(k-1) whenever the input has more than one row.
      const auto max_pad = [](int64_t in_size, int64_t k, int64_t s, int64_t d, int64_t op) {
        return ((in_size - 1) * s + d * (k - 1) + op) / 2;
      };
      p.padding = {
          *gen::inRange<int64_t>(
              0, max_pad(pr.ih, p.kernel_size.h, p.stride.h, p.dilation.h, p.output_padding.h) + 1),
          *gen::inRange<int64_t>(
              0,
              max_pad(pr.iw, p.kernel_size.w, p.stride.w, p.dilation.w, p.output_padding.w) + 1)};
      p.bias = *gen::weightedOneOf<bool>({{4, gen::just(true)}, {1, gen::just(false)}});
      return pr;
    });
  }
};

template <>
struct Arbitrary<convt2d::InvalidProblem> {
  static Gen<convt2d::InvalidProblem> arbitrary() {
    return gen::exec([] {
      convt2d::InvalidProblem v{*gen::arbitrary<convt2d::Problem>(), ""};
      convt2d::Problem& pr = v.problem;
      convt2d::Params& p = pr.params;
      const int64_t nonpositive = *gen::inRange<int64_t>(-3, 1);
      const int64_t negative = *gen::inRange<int64_t>(-3, 0);
      const bool in_w = *gen::arbitrary<bool>();
      const auto set = [&](convt2d::Pair& pair, int64_t value) {
        (in_w ? pair.w : pair.h) = value;
      };
      switch (*gen::inRange(0, 13)) {
        case 0:
          p.in_channels = nonpositive;
          v.subject = "in_channels";
          break;
        case 1:
          p.out_channels = nonpositive;
          v.subject = "out_channels";
          break;
        case 2:
          p.groups = nonpositive;
          v.subject = "groups";
          break;
        case 3:
          set(p.kernel_size, nonpositive);
          v.subject = "kernel_size";
          break;
        case 4:
          set(p.stride, nonpositive);
          p.output_padding = 0;
          v.subject = "stride";
          break;
        case 5:
          set(p.dilation, nonpositive);
          v.subject = "dilation";
          break;
        case 6:
          set(p.padding, negative);
          v.subject = "padding";
          break;
        case 7:
          set(p.output_padding, negative);
          v.subject = "output_padding";
          break;
        case 8:  // IC not divisible by G
          p.groups = *gen::inRange<int64_t>(2, 5);
          p.in_channels =
              p.groups * *gen::inRange<int64_t>(1, 4) + *gen::inRange<int64_t>(1, p.groups);
          p.out_channels = p.groups;
          v.subject = "groups";
          break;
        case 9:  // OC not divisible by G
          p.groups = *gen::inRange<int64_t>(2, 5);
          p.in_channels = p.groups;
          p.out_channels =
              p.groups * *gen::inRange<int64_t>(1, 4) + *gen::inRange<int64_t>(1, p.groups);
          v.subject = "groups";
          break;
        case 10:  // output_padding >= stride (megengine rule)
          set(p.output_padding, (in_w ? p.stride.w : p.stride.h) + *gen::inRange<int64_t>(0, 3));
          v.subject = "output_padding";
          break;
        case 11: {  // padding so large that the output is empty
          const int64_t extent =
              in_w ? (pr.iw - 1) * p.stride.w + p.dilation.w * (p.kernel_size.w - 1) +
                         p.output_padding.w
                   : (pr.ih - 1) * p.stride.h + p.dilation.h * (p.kernel_size.h - 1) +
                         p.output_padding.h;
          set(p.padding, extent / 2 + 1 + *gen::inRange<int64_t>(0, 3));
          v.subject = "padding";
          break;
        }
        default:
          if (*gen::arbitrary<bool>()) {
            pr.mb = negative;
            v.subject = "batch (mb)";
          } else {
            (in_w ? pr.iw : pr.ih) = nonpositive;
            v.subject = in_w ? "input width" : "input height";
          }
      }
      return v;
    });
  }
};

}  // namespace rc
