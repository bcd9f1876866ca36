// Differential fuzz target: bytes -> a bounded parameter set and data -> every registered
// implementation against the exact reference (bit-equal on integer data, within the certified
// bound on real data, the same NaN/Inf positions on non-finite data) and the adjoint identity.
// Any disagreement aborts (a finding).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

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
    default:
      break;
  }
  return pr;
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
  const uint8_t mode = in.byte() % 8;
  const Regime regime = mode < 3   ? Regime::kInteger
                        : mode < 6 ? Regime::kReal
                                   : Regime::kCancellation;
  const uint64_t seed = in.u64();
  auto d = make_data<float>(pr, regime, seed);
  // Sometimes plant NaN/Inf: then the exact result decides which positions must be non-finite.
  // In the input or in the weights (where the optimized kernels' zero padding must not turn
  // 0·Inf into NaN).
  const float special[] = {std::numeric_limits<float>::infinity(),
                           -std::numeric_limits<float>::infinity(),
                           std::numeric_limits<float>::quiet_NaN()};
  const uint8_t plant = in.byte() % 16;
  const bool nonfinite = plant <= 1;
  if (plant == 0 && !d.x.data.empty()) {
    d.x.data[in.u64() % d.x.data.size()] = special[in.byte() % 3];
  } else if (plant == 1 && !d.w.data.empty()) {
    d.w.data[in.u64() % d.w.data.size()] = special[in.byte() % 3];
  }
  const Case c{pr, d.x, d.w, pr.params.bias ? std::optional<AnyTensor>(d.b) : std::nullopt};
  const Truth truth = compute_truth(c);
  for (const Implementation& impl : registry.all()) {
    if (impl.input != DType::kFloat32 || impl.exact) continue;
    const AnyTensor y = impl.run(pr.params, c.x, c.w, c.b ? &*c.b : nullptr);
    const Tensor<double> bound = regime == Regime::kInteger
                                     ? Tensor<double>(truth.expected.shape)
                                     : case_bound(c, impl.accumulation, impl.output_u);
    const Report r = compare_outputs(truth, y, bound, nullptr, impl.output);
    if (!r.passed()) finding(pr, impl.name + ":\n" + format_report(r));
  }
  if (!nonfinite && regime != Regime::kCancellation) {
    const Tensor<float> y =
        make_tensor<float>(output_shape(pr), regime, seed ^ 0x9e37u, integer_range(pr));
    const AdjointResult a = adjoint_check(pr.params, d.x, d.w, y, regime == Regime::kInteger);
    if (!a.passed()) finding(pr, "adjoint identity broken");
  }
  return 0;
}
