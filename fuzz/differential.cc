// Differential fuzz target: bytes -> a bounded parameter set and data -> every registered
// implementation (float32, float16 and bfloat16 inputs, each on data of its own dtype) against the
// exact reference (bit-equal on integer data, within its certified bound on real data, the same
// NaN/Inf positions on non-finite data) and the adjoint identity; every optimized entry's
// declared working memory within a bound by the real work (input, weights, output). Any
// disagreement aborts (a finding).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "convt2d/compare.h"
#include "convt2d/error.h"
#include "convt2d/fill.h"
#include "convt2d/implementations.h"
#include "fuzz_input.h"

namespace {

using namespace convt2d;

[[noreturn]] void finding(const Problem& pr, const std::string& what) {
  std::fprintf(stderr, "convt2d differential finding: %s for %s\n", what.c_str(),
               format_problem(pr).c_str());
  std::abort();
}

// One dimension of huge geometry: a stride of up to 2^40 and a dilation of up to 2^62 (each
// now and then), and the padding that cancels most of the extent (size - 1)·s + d·(k - 1), so
// that 1 to 12 outputs remain however large the others are (paddings up to about 2^61). Most
// taps then lie beside the input; the optimized kernels must cost only the output, in time and
// in memory. Every term fits in int64: size <= 6, k <= 5.
void huge_dimension(fuzz::Input& in, int64_t size, int64_t k, int64_t op, int64_t& s, int64_t& d,
                    int64_t& p) {
  const uint8_t mode = in.byte();
  if (mode & 1) s = int64_t{1} << in.in(0, 40);
  if ((mode & 2) && k > 1) d = (int64_t{1} << in.in(0, 62)) / (k - 1) + in.in(0, 3);
  const int64_t extent = (size - 1) * s + d * (k - 1) + op + 1;
  const int64_t target = in.in(1, 12);
  p = extent > target ? (extent - target) / 2 : 0;
}

// Every parameter in a small range; padding may exceed the kernel extent (validation then
// decides, and an invalid set is simply skipped: the shape target covers rejections).
Problem problem_from(fuzz::Input& in) {
  Problem pr;
  Params& p = pr.params;
  pr.mb = in.in(0, 2);
  p.groups = in.in(1, 4);
  p.in_channels = p.groups * in.in(1, 3);
  p.out_channels = p.groups * in.in(1, 3);
  pr.ih = in.in(1, 6);
  pr.iw = in.in(1, 6);
  p.kernel_size = {in.in(1, 5), in.in(1, 5)};
  p.stride = {in.in(1, 4), in.in(1, 4)};
  p.dilation = {in.in(1, 3), in.in(1, 3)};
  p.output_padding = {in.in(0, 3), in.in(0, 3)};
  p.padding = {in.in(0, 8), in.in(0, 8)};
  p.bias = in.byte() % 4 != 0;
  // Now and then a huge stride (on a one-pixel dimension, so the output stays small) or a large
  // dilation: almost every stride phase is then empty, which the optimized plan must not pay for.
  switch (in.byte() % 16) {
    case 0:
      p.stride.h = int64_t{1} << in.in(3, 30);
      pr.ih = 1;
      break;
    case 1:
      p.stride.w = int64_t{1} << in.in(3, 30);
      pr.iw = 1;
      break;
    case 2:
      p.dilation = {in.in(4, 40), in.in(4, 40)};
      break;
    case 3:
    case 4:
      huge_dimension(in, pr.ih, p.kernel_size.h, p.output_padding.h, p.stride.h, p.dilation.h,
                     p.padding.h);
      huge_dimension(in, pr.iw, p.kernel_size.w, p.output_padding.w, p.stride.w, p.dilation.w,
                     p.padding.w);
      break;
    case 5:
    case 6: {
      // Padding up to 2^62 cancelled by a stride and a dilation as large, in H or in W: the output
      // stays small (1 to 6), but intermediate terms of the shape formulas exceed int64 (Conv2d's
      // H + 2p in the adjoint check).
      const bool h = in.byte() % 2 == 0;
      int64_t& size = h ? pr.ih : pr.iw;
      int64_t& s = h ? p.stride.h : p.stride.w;
      int64_t& d = h ? p.dilation.h : p.dilation.w;
      int64_t& pad = h ? p.padding.h : p.padding.w;
      const int64_t k = h ? p.kernel_size.h : p.kernel_size.w;
      const int64_t op = h ? p.output_padding.h : p.output_padding.w;
      size = in.in(1, 2);
      s = int64_t{1} << in.in(31, 62);
      d = int64_t{1} << in.in(31, 62);
      // The padding that gives an output of `target` with these, where it fits (validation then
      // rejects what overflows in ConvTranspose2d's own formula).
      const __int128 full = __int128{size - 1} * s + __int128{d} * (k - 1) + op + 1;
      const __int128 want = (full - in.in(1, 6)) / 2;
      pad = want < 0 ? 0 : want > INT64_MAX ? INT64_MAX : static_cast<int64_t>(want);
      break;
    }
    default:
      break;
  }
  return pr;
}

constexpr int64_t kMaxOutputs = 2048;

int64_t input_size(const Problem& pr) {
  return pr.mb * pr.params.in_channels * pr.ih * pr.iw;
}

// What an optimized entry's working memory may be by the real work alone, never by the padding,
// dilation or stride: 64 floats per input, weight and output element (the GEMM's result tiles are
// 48 pixels wide even for a one-pixel output), the zero padding of each input row (two tiles of
// 6 vectors of 16 floats), 2 KiB per kernel tap (tap lists, the GEMM's row copies) and 128 KiB
// (the GEMM's packing panel, the direct path's row buffer), for the calling thread and for each
// thread (verify/optimized's WorkingBytesBoundTheAllocations checks the declared bytes against
// the allocations).
int64_t real_work_bytes(const Problem& pr) {
  const int64_t threads = std::max<int64_t>(1, std::thread::hardware_concurrency());
  const int64_t elements =
      input_size(pr) + element_count(weight_shape(pr.params)) + element_count(output_shape(pr));
  const int64_t input_rows = pr.mb * pr.params.in_channels * pr.ih;
  const int64_t taps = pr.params.kernel_size.h * pr.params.kernel_size.w;
  return (threads + 1) * (256 * elements + 768 * input_rows + 2048 * taps + (128 << 10));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Registry registry = builtin_registry();
  fuzz::Input in(data, size);
  const Problem pr = problem_from(in);
  try {
    validate(pr);
  } catch (const Error&) {
    return 0;  // invalid parameter sets are the shape target's business
  }
  // The exact truth and every implementation's comparison cost per output element: beyond this
  // many (strides times dilations times kernels can make 30 000) one input would take
  // milliseconds. Every parameter still reaches its whole range, with smaller others.
  if (element_count(output_shape(pr)) > kMaxOutputs) return 0;
  const uint8_t mode = in.byte() % 8;
  const Regime regime = mode < 3   ? Regime::kInteger
                        : mode < 6 ? Regime::kReal
                                   : Regime::kCancellation;
  const uint64_t seed = in.u64();
  // Sometimes plant NaN/Inf: then the exact result decides which positions must be non-finite.
  // In the input or in the weights (where the optimized kernels' zero padding must not turn
  // 0·Inf into NaN).
  const uint8_t plant = in.byte() % 16;
  const bool nonfinite = plant <= 1;
  const int64_t weight_size = element_count(weight_shape(pr.params));
  const int64_t plant_size = plant == 0 ? input_size(pr) : plant == 1 ? weight_size : 0;
  const uint64_t special_raw = plant_size > 0 ? in.u64() : 0;
  const double special = plant_size > 0 ? std::array{INFINITY, -INFINITY, NAN}[in.byte() % 3] : 0;
  // The pass, read last so that shorter inputs (every seed before the backward passes) stay
  // forward: mostly forward, whose kernels are the most intricate, else one of the backward
  // passes (bwd_bias only for a layer with a bias).
  const uint8_t pass_byte = in.byte() % 8;
  Pass pass = pass_byte < 5 ? Pass::kForward : kAllPasses[pass_byte - 4];
  if (pass == Pass::kBwdBias && !pr.params.bias) pass = Pass::kForward;
  // One case and exact truth per input dtype (float32, float16, bfloat16), each with its data
  // generated in that dtype and the same special value planted at the same place.
  std::optional<std::pair<Case, Truth>> cases[4];
  // Most implementations share an arithmetic (float32 accumulation): one bound per dtype and
  // arithmetic, not one per implementation.
  std::vector<std::tuple<const Case*, Arithmetic, Tensor<double>>> bounds;
  const auto bound_of = [&](const Case& c, const Arithmetic& a) -> const Tensor<double>& {
    for (const auto& [bc, ba, bt] : bounds) {
      if (bc == &c && ba == a) return bt;
    }
    return std::get<2>(bounds.emplace_back(&c, a, case_bound(c, a)));
  };
  std::optional<Tensor<double>> zero;
  const auto no_error = [&](const Truth& t) -> const Tensor<double>& {
    if (!zero) zero.emplace(t.expected.shape);
    return *zero;
  };
  for (const Implementation& impl : registry.all()) {
    if (impl.name.rfind("optimized", 0) == 0 && impl.working_bytes &&
        impl.working_bytes(pr) > real_work_bytes(pr)) {
      finding(pr, impl.name + ": working_bytes " + std::to_string(impl.working_bytes(pr)) +
                      " exceeds the real work's " + std::to_string(real_work_bytes(pr)));
    }
    if (impl.input == DType::kFloat64 || impl.exact || impl.pass != pass) continue;
    auto& slot = cases[static_cast<size_t>(impl.input)];
    if (!slot) {
      Case c = make_case(pr, impl.input, regime, seed, pass);
      if (plant_size > 0) {
        // In the input or the weights, or where the pass reads neither, in dy.
        AnyTensor& target =
            plant == 0 ? (reads_x(pass) ? c.x : *c.dy) : (reads_w(pass) ? c.w : *c.dy);
        std::visit(
            [&](auto& t) {
              using T = typename std::decay_t<decltype(t)>::value_type;
              if (!t.data.empty()) t.data[special_raw % t.data.size()] = T(special);
            },
            target);
      }
      Truth truth = compute_truth(c);
      slot = std::pair{std::move(c), std::move(truth)};
    }
    const auto& [c, truth] = *slot;
    const AnyTensor y = invoke(impl, pr.params, c.operands());
    // Integer data is exact where every partial sum fits the input dtype (fill.h).
    const bool exact =
        regime == Regime::kInteger && integer_exact(pr, significand_bits(impl.input), pass);
    const Tensor<double>& bound = exact ? no_error(truth) : bound_of(c, arithmetic_of(impl));
    const Report r = compare_outputs(truth, y, bound, nullptr, impl.output, arithmetic_of(impl));
    if (!r.passed()) {
      finding(pr, impl.name + " (" + std::string(to_string(pass)) + "):\n" + format_report(r));
    }
  }
  const auto d = make_data<float>(pr, regime, seed);
  if (!nonfinite && regime != Regime::kCancellation) {
    const Tensor<float> y =
        make_tensor<float>(output_shape(pr), regime, seed ^ 0x9e37u, integer_range(pr));
    const AdjointResult a = adjoint_check(pr.params, d.x, d.w, y, regime == Regime::kInteger);
    if (!a.passed()) finding(pr, "adjoint identity broken");
  }
  return 0;
}
