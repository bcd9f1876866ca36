// The property suite (issue 4). Properties 1-3 check the library's definitions (shapes,
// validation, the adjoint pair, the precision ladder); 4-10 hold for *any* correct
// implementation and run against every implementation under test (property_suite.h).
//
// Integer data: every partial sum is an exact float32 integer, so implementations and identities
// must agree bit for bit, with no tolerance at all. Real and cancellation data: the certified
// bounds of core/error_bounds.h against the exact 640-bit result.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <limits>
#include <optional>
#include <utility>

#include "convt2d/bounds.h"
#include "convt2d/case_dir.h"
#include "convt2d/compare.h"
#include "convt2d/error.h"
#include "convt2d/fill.h"
#include "convt2d/implementations.h"
#include "convt2d/property_suite.h"
#include "convt2d/reference.h"
#include "generators.h"
#include "support.h"

namespace convt2d {
namespace testing {
namespace {

Registry& mutable_registry() {
  static Registry r = builtin_registry();
  return r;
}

}  // namespace

void register_implementation(Implementation impl) {
  mutable_registry().add(std::move(impl));
}

const Registry& suite_registry() {
  return mutable_registry();
}

std::vector<const Implementation*> implementations_under_test(Pass pass) {
  const char* only = std::getenv("CONVT2D_IMPL");
  std::vector<const Implementation*> r;
  for (const Implementation& impl : suite_registry().all()) {
    if (impl.input == DType::kFloat64 || impl.exact || impl.pass != pass) continue;
    if (only != nullptr && *only != '\0' && impl.name != only) continue;
    r.push_back(&impl);
  }
  return r;
}

}  // namespace testing

namespace {

using namespace props;
using testing::implementations_under_test;

// ---- helpers --------------------------------------------------------------------------------

// Shared helpers (num, tag, as_dtype, data_for, fail_case): support.h.

// Runs an implementation on float data converted (exactly) to its input dtype; the result as
// double (exact for every output dtype). Fails when the output shape is not the one the
// parameters give, before anyone indexes into it.
Tensor<double> run_impl(const Implementation& impl, const Params& p, const Tensor<float>& x,
                        const Tensor<float>& w, const Tensor<float>* b) {
  const AnyTensor xa = as_dtype(x, impl.input), wa = as_dtype(w, impl.input);
  const AnyTensor ba = as_dtype(b ? *b : Tensor<float>(), impl.input);
  const AnyTensor y = impl.run(p, xa, wa, b ? &ba : nullptr);
  const Problem pr = problem_from_shapes(p, x.shape, w.shape, b ? &b->shape : nullptr);
  if (shape_of(y) != output_shape(pr)) {
    RC_FAIL(impl.name + ": output shape " + format_shape(shape_of(y)) + ", expected " +
            format_shape(output_shape(pr)) + " for problem " + format_problem(pr));
  }
  return std::visit([](const auto& t) { return tensor_cast<double>(t); }, y);
}

Tensor<double> run_impl(const Implementation& impl, const Params& p, const ProblemData<float>& d) {
  return run_impl(impl, p, d.x, d.w, p.bias ? &d.b : nullptr);
}

// Exact equality, or fail naming the first differing element.
void expect_identical(const Implementation& impl, const Problem& pr, const ProblemData<float>& d,
                      const Tensor<double>& got, const Tensor<double>& want, const char* what) {
  if (got.shape != want.shape) {
    fail_case(pr, d,
              impl.name + ": " + what + ": shape " + format_shape(got.shape) + " vs " +
                  format_shape(want.shape),
              impl.input);
  }
  for (size_t i = 0; i < got.data.size(); ++i) {
    if (!(got.data[i] == want.data[i])) {
      fail_case(pr, d,
                impl.name + ": " + what + ": element " + std::to_string(i) + " is " +
                    num(got.data[i]) + ", expected " + num(want.data[i]),
                impl.input);
    }
  }
}

Tensor<float> slice_channels(const Tensor<float>& t, int64_t c0, int64_t count) {
  Tensor<float> r(Shape{t.shape[0], count, t.shape[2], t.shape[3]});
  for (int64_t n = 0; n < t.shape[0]; ++n)
    for (int64_t c = 0; c < count; ++c)
      for (int64_t h = 0; h < t.shape[2]; ++h)
        for (int64_t w = 0; w < t.shape[3]; ++w) r.at(n, c, h, w) = t.at(n, c0 + c, h, w);
  return r;
}

// ---- 1. shape rules ---------------------------------------------------------------------------

RC_GTEST_PROP(Shapes, OutputShapeFollowsTheFormula, (const Problem& pr)) {
  tag(pr);
  const Params& p = pr.params;
  const int64_t oh = (pr.ih - 1) * p.stride.h - 2 * p.padding.h +
                     p.dilation.h * (p.kernel_size.h - 1) + p.output_padding.h + 1;
  const int64_t ow = (pr.iw - 1) * p.stride.w - 2 * p.padding.w +
                     p.dilation.w * (p.kernel_size.w - 1) + p.output_padding.w + 1;
  RC_ASSERT(output_shape(pr) == (Shape{pr.mb, p.out_channels, oh, ow}));
  RC_ASSERT(oh >= 1);
  RC_ASSERT(ow >= 1);
}

RC_GTEST_PROP(Shapes, Conv2dMapsTheOutputShapeBackExactlyWhenOutputPaddingBelowStride,
              (const Problem& base)) {
  tag(base);
  Problem pr = base;
  Params& p = pr.params;
  p.bias = false;
  // Half the cases keep the generated op < s; the other half pick op up to 2s and make it legal
  // under the pytorch rule (op < d), so "exactly when" is tested in both directions.
  if (*rc::gen::arbitrary<bool>()) {
    p.output_padding_rule = OutputPaddingRule::kPyTorch;
    p.output_padding = {*rc::gen::inRange<int64_t>(0, 2 * p.stride.h + 1),
                        *rc::gen::inRange<int64_t>(0, 2 * p.stride.w + 1)};
    p.dilation = {std::max(p.dilation.h, p.output_padding.h + 1),
                  std::max(p.dilation.w, p.output_padding.w + 1)};
    // Keep the output size >= 1 with the new op: 2p <= (H-1)s + d(k-1) + op.
    const auto max_pad = [](int64_t in, int64_t k, int64_t s, int64_t d, int64_t op) {
      return ((in - 1) * s + d * (k - 1) + op) / 2;
    };
    p.padding = {std::min(p.padding.h, max_pad(pr.ih, p.kernel_size.h, p.stride.h, p.dilation.h,
                                               p.output_padding.h)),
                 std::min(p.padding.w, max_pad(pr.iw, p.kernel_size.w, p.stride.w, p.dilation.w,
                                               p.output_padding.w))};
  }
  const bool below = p.output_padding.h < p.stride.h && p.output_padding.w < p.stride.w;
  RC_CLASSIFY(!below, "output_padding >= stride");
  // The library's Conv2d (its own size formula) on a zero tensor of the output shape.
  const Tensor<float> y(output_shape(pr)), w(weight_shape(p));
  const bool maps_back = conv2d<float, float>(p, y, w, nullptr).shape == input_shape(pr);
  RC_ASSERT(maps_back == below);
}

RC_GTEST_PROP(Shapes, EveryInvalidParameterRaisesANamedError, (const InvalidProblem& v)) {
  RC_TAG(v.subject);
  try {
    validate(v.problem);
  } catch (const Error& e) {
    RC_LOG() << e.what() << "\n";
    RC_ASSERT(e.subject() == v.subject);
    RC_ASSERT(std::string(e.what()).find(v.subject) != std::string::npos);
    return;
  }
  RC_FAIL("accepted a problem that violates " + v.subject);
}

RC_GTEST_PROP(Shapes, PytorchRuleAcceptsExactlyTheDocumentedSuperset, (const Problem& base)) {
  Problem pr = base;
  Params& p = pr.params;
  p.dilation.h = *rc::gen::inRange<int64_t>(1, 5);
  p.output_padding.h = *rc::gen::inRange<int64_t>(0, std::max(p.stride.h, p.dilation.h) + 2);
  p.padding = 0;  // keep the output size valid whatever op is
  const bool megengine_ok = p.output_padding.h < p.stride.h;
  const bool pytorch_ok = megengine_ok || p.output_padding.h < p.dilation.h;
  RC_CLASSIFY(pytorch_ok && !megengine_ok, "only the pytorch rule accepts");
  const auto accepts = [&](OutputPaddingRule rule) {
    p.output_padding_rule = rule;
    try {
      validate(pr);
      return true;
    } catch (const Error& e) {
      RC_ASSERT(e.subject() == std::string("output_padding"));
      return false;
    }
  };
  RC_ASSERT(accepts(OutputPaddingRule::kMegEngine) == megengine_ok);
  RC_ASSERT(accepts(OutputPaddingRule::kPyTorch) == pytorch_ok);
}

// ---- 2. adjointness ---------------------------------------------------------------------------

RC_GTEST_PROP(Adjoint, TransposedConvolutionIsTheAdjointOfConv2d, (const Problem& pr)) {
  tag(pr);
  const bool integer = *rc::gen::arbitrary<bool>();
  const Regime regime = integer ? Regime::kInteger : Regime::kReal;
  RC_TAG(to_string(regime));
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  const auto d = make_data<float>(pr, regime, seed);
  const Tensor<float> y =
      make_tensor<float>(output_shape(pr), regime, seed ^ 0x5bd1e995u, integer_range(pr));
  const AdjointResult r = adjoint_check(pr.params, d.x, d.w, y, integer);
  RC_ASSERT(r.shape_ok);
  if (!r.passed()) {
    fail_case(pr, d, "<T(x), y> = " + num(r.lhs) + " but <x, C(y)> = " + num(r.rhs));
  }
}

// For every implementation under test, with Conv2d accumulated in float32 (reference):
//   integer data: <impl(x), y> == <x, conv2d_f32(y)> exactly (every value is an exact integer);
//   real data:    |<impl(x), y> - <x, conv2d_f32(y)>| <= E1 + E2, where
//     E1 = sum_i bound_i |y_i|,  bound_i = the certified bound of impl on output element i,
//     E2 = sum_j |x_j| bound'_j, bound'_j = gamma(K'+1) sum|w*y| + K' eta (1 + gamma(K')) for
//          Conv2d element j, K' = OC/G*kh*kw >= its term count (element_bound is monotone in K),
//   because <T(x), y> = <x, C(y)> exactly (the other Adjoint property) and each rounded output
//   element is off by at most its bound. Both inner products are summed in Exact (products of
//   a double and a float are exact; the sums round at most at 2^-640 relative, covered by the
//   2^-600 term); E1 + E2 is summed in double, hence the (1 + 2 gamma_53(n+1)) factor.
RC_GTEST_PROP(Adjoint, FloatAccumulatedResultsWithinTheDerivedBound, (const Problem& base)) {
  tag(base);
  Problem pr = base;
  pr.params.bias = false;
  const Params& p = pr.params;
  const bool integer = *rc::gen::arbitrary<bool>();
  const Regime regime = integer ? Regime::kInteger : Regime::kReal;
  RC_TAG(to_string(regime));
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  for (const Implementation* impl : implementations_under_test()) {
    // Data in the implementation's own dtype (for float16/bfloat16 the integer range is smaller);
    // y and Conv2d stay float32.
    const auto d = data_for(*impl, pr, regime, seed);
    const int64_t range = integer_range(pr, significand_bits(impl->input));
    const Tensor<float> y = make_tensor<float>(output_shape(pr), regime, seed ^ 0x9e3779b9u, range);
    const Tensor<float> c = conv2d<float, float>(p, y, d.w, nullptr);
    RC_ASSERT(c.shape == d.x.shape);
    Exact rhs = 0, abs_terms = 0;
    for (size_t j = 0; j < c.data.size(); ++j) {
      const Exact t = Exact(d.x.data[j]) * Exact(c.data[j]);
      rhs += t;
      abs_terms += abs(t);
    }
    // bound'_j for Conv2d: sum|w*y| exactly, rounded up to double.
    Tensor<float> abs_y = y, abs_w = d.w;
    for (float& v : abs_y.data) v = std::fabs(v);
    for (float& v : abs_w.data) v = std::fabs(v);
    const Tensor<Exact> abs_c = conv2d<float, Exact>(p, abs_y, abs_w, nullptr);
    const int64_t k_conv = p.out_channels / p.groups * p.kernel_size.h * p.kernel_size.w;
    double e2 = 0;
    for (size_t j = 0; j < c.data.size(); ++j) {
      const double a = static_cast<double>(abs_c.data[j]) * (1 + 0x1p-52);
      e2 += std::fabs(d.x.data[j]) * element_bound(k_conv, a, 0, kFloat32Precision);
    }
    const Tensor<double> yhat = run_impl(*impl, p, d.x, d.w, nullptr);
    Exact lhs = 0, abs_lhs = 0;
    for (size_t i = 0; i < y.data.size(); ++i) {
      const Exact t = Exact(yhat.data[i]) * Exact(y.data[i]);
      lhs += t;
      abs_lhs += abs(t);
    }
    // Integer data: exact where every partial sum fits the input dtype (fill.h).
    if (integer && integer_exact(pr, significand_bits(impl->input))) {
      if (lhs != rhs) {
        fail_case(pr, d,
                  impl->name + ": <impl(x), y> = " + lhs.str() + " but <x, C(y)> = " + rhs.str() +
                      " (integer data: must be equal)",
                  impl->input);
      }
      continue;
    }
    const Tensor<double> bound = certified_bound<float>(p, d.x, d.w, nullptr, arithmetic_of(*impl));
    double e1 = 0;
    for (size_t i = 0; i < y.data.size(); ++i) e1 += bound.data[i] * std::fabs(y.data[i]);
    const auto n = static_cast<int64_t>(y.data.size() + c.data.size());
    const double tol = (e1 + e2) * (1 + 2 * gamma(n + 1, 0x1p-53)) +
                       0x1p-600 * static_cast<double>(abs_terms + abs_lhs);
    const double diff = static_cast<double>(abs(lhs - rhs));
    RC_TAG(diff <= tol / 1024 ? "diff <= tol/1024" : "diff > tol/1024");
    if (!(diff <= tol)) {
      fail_case(pr, d,
                impl->name + ": |<impl(x), y> - <x, C(y)>| = " + num(diff) +
                    " exceeds the derived bound " + num(tol),
                impl->input);
    }
  }
}

// ---- 3. precision ladder ----------------------------------------------------------------------

// The rungs: float accumulated in float, double and long double, and double inputs in long
// double; float16 and bfloat16 accumulated in their own type (compute_mode default, MegEngine's
// naive kernel) and in float32 with the rounded result plus the bias rounded again (compute_mode
// float32), each with the bound of its arithmetic; and the float16 float32-mode result against
// the bound of a `default` claim, which must cover it too. Each against the exact (640-bit)
// result of the same data.
constexpr int kRungs = 9;
constexpr const char* kRungNames[kRungs] = {"float in/float acc",
                                            "float in/double acc",
                                            "float in/long double acc",
                                            "double in/long double acc",
                                            "float16 in/float16 acc",
                                            "float16 in/float32 acc (compute_mode float32)",
                                            "float16 float32 acc vs the default claim",
                                            "bfloat16 in/bfloat16 acc",
                                            "bfloat16 in/float32 acc (compute_mode float32)"};
constexpr Precision kLongDouble{std::numeric_limits<long double>::epsilon() / 2, 0x1p-1074};

// The largest err/bound of a result against the exact one, or +inf when some element exceeds its
// bound.
template <class Y>
double ratio(const Tensor<Y>& y, const Tensor<Exact>& exact, const Tensor<double>& bound) {
  double worst = 0;
  for (size_t i = 0; i < y.data.size(); ++i) {
    Exact yi;
    if constexpr (is_half_v<Y>) {
      yi = Exact(static_cast<double>(y.data[i]));  // exact
    } else {
      yi = Exact(y.data[i]);  // float, double, long double: exact
    }
    const Exact err = abs(yi - exact.data[i]);
    if (err > Exact(bound.data[i])) return std::numeric_limits<double>::infinity();
    if (bound.data[i] > 0) worst = std::max(worst, static_cast<double>(err) / bound.data[i]);
  }
  return worst;
}

template <class T, class Acc>
double rung_ratio(const Problem& pr, const ProblemData<T>& d, const Tensor<Exact>& exact,
                  Precision prec) {
  return ratio(conv_transpose2d<T, Acc>(pr.params, d.x, d.w, d.bias()), exact,
               certified_bound(pr.params, d.x, d.w, d.bias(), prec));
}

template <class T>
Tensor<Exact> exact_of(const Problem& pr, const ProblemData<T>& d) {
  return conv_transpose2d<T, Exact>(pr.params, d.x, d.w, d.bias());
}

std::array<double, kRungs> ladder_ratios(const Problem& pr, Regime regime, uint64_t seed) {
  const auto f = make_data<float>(pr, regime, seed);
  const Tensor<Exact> exact_f = exact_of(pr, f);
  const auto dd = make_data<double>(pr, regime, seed);
  const Tensor<Exact> exact_d = exact_of(pr, dd);
  const auto h = make_data<float16>(pr, regime, seed);
  const Tensor<Exact> exact_h = exact_of(pr, h);
  const auto bf = make_data<bfloat16>(pr, regime, seed);
  const Tensor<Exact> exact_bf = exact_of(pr, bf);
  const Params& p = pr.params;
  const Tensor<float16> h32 = conv_transpose2d_rounded<float16, float>(p, h.x, h.w, h.bias());
  const Arithmetic h_mode32 = claimed_arithmetic(DType::kFloat16, ComputeMode::kFloat32);
  const Arithmetic h_default = claimed_arithmetic(DType::kFloat16, ComputeMode::kDefault);
  const Arithmetic bf_mode32 = claimed_arithmetic(DType::kBFloat16, ComputeMode::kFloat32);
  return {rung_ratio<float, float>(pr, f, exact_f, kFloat32Precision),
          rung_ratio<float, double>(pr, f, exact_f, kFloat64Precision),
          rung_ratio<float, long double>(pr, f, exact_f, kLongDouble),
          rung_ratio<double, long double>(pr, dd, exact_d, kLongDouble),
          rung_ratio<float16, float16>(pr, h, exact_h, kFloat16Precision),
          ratio(h32, exact_h, certified_bound(p, h.x, h.w, h.bias(), h_mode32)),
          ratio(h32, exact_h, certified_bound(p, h.x, h.w, h.bias(), h_default)),
          rung_ratio<bfloat16, bfloat16>(pr, bf, exact_bf, kBFloat16Precision),
          ratio(conv_transpose2d_rounded<bfloat16, float>(p, bf.x, bf.w, bf.bias()), exact_bf,
                certified_bound(p, bf.x, bf.w, bf.bias(), bf_mode32))};
}

RC_GTEST_PROP(PrecisionLadder, EveryAccumulatorStaysWithinItsCertifiedBound, (const Problem& pr)) {
  tag(pr);
  const Regime regime = *rc::gen::element(Regime::kReal, Regime::kCancellation);
  RC_TAG(to_string(regime));
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  const auto r = ladder_ratios(pr, regime, seed);
  for (int i = 0; i < kRungs; ++i) {
    if (!(r[static_cast<size_t>(i)] <= 1)) {
      const auto d = make_data<float>(pr, regime, seed);
      fail_case(pr, d, std::string(kRungNames[i]) + " reference outside its certified bound");
    }
  }
}

// Not vacuous: over a fixed sample of random problems (fill.h's random_problem, both real
// regimes), each rung's largest err/bound must reach a fair fraction of 1. Measured (Release,
// x86-64): about 0.9 for every rung that rounds at all; the floors below leave a margin of 10x
// while still failing any bound that is 10x looser than needed for the float and double rungs.
TEST(PrecisionLadder, BoundsAreNotVacuous) {
  std::array<double, kRungs> worst{};
  for (uint64_t seed = 1; seed <= 400; ++seed) {
    const Problem pr = random_problem(seed);
    for (const Regime regime : {Regime::kReal, Regime::kCancellation}) {
      const auto r = ladder_ratios(pr, regime, seed);
      for (size_t i = 0; i < kRungs; ++i) worst[i] = std::max(worst[i], r[i]);
    }
  }
  std::cout << "precision ladder, largest err/bound seen:\n";
  for (size_t i = 0; i < kRungs; ++i) {
    std::cout << "  " << kRungNames[i] << ": " << worst[i] << "\n";
    ::testing::Test::RecordProperty(std::string("max_err_over_bound ") + kRungNames[i],
                                    num(worst[i]));
    EXPECT_LE(worst[i], 1.0) << kRungNames[i];
  }
  EXPECT_GE(worst[0], 0.1) << "float accumulation never comes near its bound";
  EXPECT_GE(worst[1], 0.1) << "double accumulation never comes near its bound";
  EXPECT_GE(worst[3], 0.1) << "long double accumulation never comes near its bound";
  for (size_t i : {4, 5, 7, 8}) {
    EXPECT_GE(worst[i], 0.1) << kRungNames[i] << " never comes near its bound";
  }
}

// ---- 4. linearity -----------------------------------------------------------------------------

RC_GTEST_PROP(Linearity, LinearInXAndInWAndBiasIsAdditive, (const Problem& pr)) {
  tag(pr);
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  Params nb = pr.params;
  nb.bias = false;
  for (const Implementation* impl : implementations_under_test()) {
    // Integer data in the implementation's dtype: the sums of two data sets stay exact (fill.h).
    const auto d1 = data_for(*impl, pr, Regime::kInteger, seed);
    const auto d2 = data_for(*impl, pr, Regime::kInteger, seed + 1);
    Tensor<float> xs = d1.x, ws = d1.w;
    for (size_t i = 0; i < xs.data.size(); ++i) xs.data[i] += d2.x.data[i];
    for (size_t i = 0; i < ws.data.size(); ++i) ws.data[i] += d2.w.data[i];
    // In x: T(x1 + x2) = T(x1) + T(x2).
    Tensor<double> sum = run_impl(*impl, nb, d1.x, d1.w, nullptr);
    const Tensor<double> t2 = run_impl(*impl, nb, d2.x, d1.w, nullptr);
    for (size_t i = 0; i < sum.data.size(); ++i) sum.data[i] += t2.data[i];
    expect_identical(*impl, pr, d1, run_impl(*impl, nb, xs, d1.w, nullptr), sum, "linearity in x");
    // In w: T_{w1 + w2}(x) = T_{w1}(x) + T_{w2}(x).
    Tensor<double> wsum = run_impl(*impl, nb, d1.x, d1.w, nullptr);
    const Tensor<double> tw2 = run_impl(*impl, nb, d1.x, d2.w, nullptr);
    for (size_t i = 0; i < wsum.data.size(); ++i) wsum.data[i] += tw2.data[i];
    expect_identical(*impl, pr, d1, run_impl(*impl, nb, d1.x, ws, nullptr), wsum, "linearity in w");
    // Bias: T(x; b) = T(x; 0) + b, exactly, on every element (taps or not).
    if (pr.params.bias) {
      Tensor<double> plus_b = run_impl(*impl, nb, d1.x, d1.w, nullptr);
      for (int64_t n = 0; n < plus_b.shape[0]; ++n)
        for (int64_t c = 0; c < plus_b.shape[1]; ++c)
          for (int64_t h = 0; h < plus_b.shape[2]; ++h)
            for (int64_t w = 0; w < plus_b.shape[3]; ++w)
              plus_b.at(n, c, h, w) += d1.b.data[static_cast<size_t>(c)];
      expect_identical(*impl, pr, d1, run_impl(*impl, pr.params, d1), plus_b, "bias additivity");
    }
  }
}

// ---- 5. groups --------------------------------------------------------------------------------

RC_GTEST_PROP(Groups, GroupedEqualsConcatenatedUngroupedGroups, (const Problem& pr)) {
  tag(pr);
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  const Params& p = pr.params;
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t taps = ocg * p.kernel_size.h * p.kernel_size.w;
  for (const Implementation* impl : implementations_under_test()) {
    const auto d = data_for(*impl, pr, Regime::kInteger, seed);
    const Tensor<double> grouped = run_impl(*impl, p, d);
    Tensor<double> concat(grouped.shape);
    for (int64_t g = 0; g < p.groups; ++g) {
      Params one = p;
      one.groups = 1;
      one.in_channels = icg;
      one.out_channels = ocg;
      // Group g's weight block (IC/G, OC/G, kh, kw) is contiguous in (G, IC/G, OC/G, kh, kw).
      Tensor<float> wg(Shape{icg, ocg, p.kernel_size.h, p.kernel_size.w});
      std::copy_n(d.w.data.begin() + g * icg * taps, icg * taps, wg.data.begin());
      Tensor<float> bg(Shape{1, ocg, 1, 1});
      if (p.bias) std::copy_n(d.b.data.begin() + g * ocg, ocg, bg.data.begin());
      const Tensor<double> yg =
          run_impl(*impl, one, slice_channels(d.x, g * icg, icg), wg, p.bias ? &bg : nullptr);
      for (int64_t n = 0; n < yg.shape[0]; ++n)
        for (int64_t c = 0; c < ocg; ++c)
          for (int64_t h = 0; h < yg.shape[2]; ++h)
            for (int64_t w = 0; w < yg.shape[3]; ++w)
              concat.at(n, g * ocg + c, h, w) = yg.at(n, c, h, w);
    }
    expect_identical(*impl, pr, d, grouped, concat, "groups vs concatenated groups");
  }
}

// ---- 6. zero insertion ------------------------------------------------------------------------

// Written from the textbook construction, independently of the library's loops: upsample x by
// inserting s-1 zeros between pixels, pad by d(k-1)-p on each side (+op at the end; crop where
// negative), and correlate at stride 1 with the spatially flipped, channel-transposed, dilated
// kernel.
Tensor<float> zero_insertion(const Problem& pr, const ProblemData<float>& d) {
  const Params& p = pr.params;
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w;
  const int64_t uh = (pr.ih - 1) * p.stride.h + 1, uw = (pr.iw - 1) * p.stride.w + 1;
  // Upsampled input, with zeros between the pixels.
  Tensor<float> up(Shape{pr.mb, p.in_channels, uh, uw});
  for (int64_t n = 0; n < pr.mb; ++n)
    for (int64_t c = 0; c < p.in_channels; ++c)
      for (int64_t i = 0; i < pr.ih; ++i)
        for (int64_t j = 0; j < pr.iw; ++j)
          up.at(n, c, i * p.stride.h, j * p.stride.w) = d.x.at(n, c, i, j);
  const int64_t lead_h = p.dilation.h * (kh - 1) - p.padding.h;  // may be negative: crop
  const int64_t lead_w = p.dilation.w * (kw - 1) - p.padding.w;
  const Shape os = output_shape(pr);
  Tensor<float> y(os);
  for (int64_t n = 0; n < pr.mb; ++n)
    for (int64_t g = 0; g < p.groups; ++g)
      for (int64_t o = 0; o < ocg; ++o)
        for (int64_t oh = 0; oh < os[2]; ++oh)
          for (int64_t ow = 0; ow < os[3]; ++ow) {
            float acc = 0;
            for (int64_t i = 0; i < icg; ++i)
              for (int64_t a = 0; a < kh; ++a)
                for (int64_t b = 0; b < kw; ++b) {
                  // Window position in the padded upsampled image, then back to `up`.
                  const int64_t r = oh + a * p.dilation.h - lead_h;
                  const int64_t c = ow + b * p.dilation.w - lead_w;
                  if (r < 0 || r >= uh || c < 0 || c >= uw) continue;
                  // Flipped kernel, channels transposed: w[g][i][o][kh-1-a][kw-1-b].
                  const float wv = d.w.data[static_cast<size_t>(
                      (((g * icg + i) * ocg + o) * kh + (kh - 1 - a)) * kw + (kw - 1 - b))];
                  acc += wv * up.at(n, g * icg + i, r, c);
                }
            y.at(n, g * ocg + o, oh, ow) =
                acc + (p.bias ? d.b.data[static_cast<size_t>(g * ocg + o)] : 0.f);
          }
  return y;
}

RC_GTEST_PROP(ZeroInsertion, StridedEqualsStride1OnTheUpsampledInput, (const Problem& pr)) {
  tag(pr);
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  for (const Implementation* impl : implementations_under_test()) {
    const auto d = data_for(*impl, pr, Regime::kInteger, seed);
    const Tensor<double> want = tensor_cast<double>(zero_insertion(pr, d));
    expect_identical(*impl, pr, d, run_impl(*impl, pr.params, d), want, "zero insertion");
  }
}

// ---- 7. dilation ------------------------------------------------------------------------------

RC_GTEST_PROP(Dilation, EqualsUndilatedRunWithMaterializedZeros, (const Problem& pr)) {
  tag(pr);
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  const Params& p = pr.params;
  Params dense = p;
  dense.dilation = {1, 1};
  dense.kernel_size = {p.dilation.h * (p.kernel_size.h - 1) + 1,
                       p.dilation.w * (p.kernel_size.w - 1) + 1};
  dense.output_padding_rule = OutputPaddingRule::kMegEngine;
  for (const Implementation* impl : implementations_under_test()) {
    const auto d = data_for(*impl, pr, Regime::kInteger, seed);
    Tensor<float> wd(weight_shape(dense));
    const int64_t planes = d.w.size() / (p.kernel_size.h * p.kernel_size.w);
    for (int64_t q = 0; q < planes; ++q)
      for (int64_t a = 0; a < p.kernel_size.h; ++a)
        for (int64_t b = 0; b < p.kernel_size.w; ++b)
          wd.data[static_cast<size_t>((q * dense.kernel_size.h + a * p.dilation.h) *
                                          dense.kernel_size.w +
                                      b * p.dilation.w)] =
              d.w.data[static_cast<size_t>((q * p.kernel_size.h + a) * p.kernel_size.w + b)];
    expect_identical(*impl, pr, d, run_impl(*impl, p, d),
                     run_impl(*impl, dense, d.x, wd, p.bias ? &d.b : nullptr),
                     "dilation vs materialized zeros");
  }
}

// ---- 8. padding and output_padding ------------------------------------------------------------

RC_GTEST_PROP(Padding, EqualsUnpaddedResultCropped, (const Problem& pr)) {
  tag(pr);
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  const Params& p = pr.params;
  Params full = p;
  full.padding = 0;
  full.output_padding = 0;
  for (const Implementation* impl : implementations_under_test()) {
    const auto d = data_for(*impl, pr, Regime::kInteger, seed);
    const Tensor<double> y = run_impl(*impl, p, d);
    const Tensor<double> y0 = run_impl(*impl, full, d);
    // y[oh] = y0[oh + p]; rows past y0's end (output_padding beyond the padding) get the bias.
    Tensor<double> want(y.shape);
    for (int64_t n = 0; n < y.shape[0]; ++n)
      for (int64_t c = 0; c < y.shape[1]; ++c)
        for (int64_t h = 0; h < y.shape[2]; ++h)
          for (int64_t w = 0; w < y.shape[3]; ++w) {
            const int64_t h0 = h + p.padding.h, w0 = w + p.padding.w;
            want.at(n, c, h, w) = h0 < y0.shape[2] && w0 < y0.shape[3]
                                      ? y0.at(n, c, h0, w0)
                                      : (p.bias ? d.b.data[static_cast<size_t>(c)] : 0.f);
          }
    expect_identical(*impl, pr, d, y, want, "padding vs cropped unpadded result");
  }
}

// ---- 9. batch independence and translation ----------------------------------------------------

RC_GTEST_PROP(Batch, EachSampleIsIndependent, (const Problem& pr)) {
  tag(pr);
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  for (const Implementation* impl : implementations_under_test()) {
    const auto d = data_for(*impl, pr, Regime::kInteger, seed);
    const Tensor<double> y = run_impl(*impl, pr.params, d);
    for (int64_t n = 0; n < pr.mb; ++n) {
      Tensor<float> xn(Shape{1, d.x.shape[1], d.x.shape[2], d.x.shape[3]});
      const int64_t per_x = xn.size();
      std::copy_n(d.x.data.begin() + n * per_x, per_x, xn.data.begin());
      const Tensor<double> yn =
          run_impl(*impl, pr.params, xn, d.w, pr.params.bias ? &d.b : nullptr);
      Tensor<double> slice(yn.shape);
      std::copy_n(y.data.begin() + n * yn.size(), yn.size(), slice.data.begin());
      expect_identical(*impl, pr, d, slice, yn, "batch sample vs its own run");
    }
  }
}

RC_GTEST_PROP(Translation, ShiftingTheInputShiftsTheOutputByTheStride, (const Problem& pr)) {
  tag(pr);
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  const bool along_w = *rc::gen::arbitrary<bool>();
  RC_TAG(along_w ? "shift in w" : "shift in h");
  const Params& p = pr.params;
  for (const Implementation* impl : implementations_under_test()) {
    const auto d = data_for(*impl, pr, Regime::kInteger, seed);
    // x' has one extra leading zero row (column): x'[i + 1] = x[i]. Then y'[o + s] = y[o].
    Tensor<float> xs(
        Shape{pr.mb, p.in_channels, pr.ih + (along_w ? 0 : 1), pr.iw + (along_w ? 1 : 0)});
    for (int64_t n = 0; n < pr.mb; ++n)
      for (int64_t c = 0; c < p.in_channels; ++c)
        for (int64_t h = 0; h < pr.ih; ++h)
          for (int64_t w = 0; w < pr.iw; ++w)
            xs.at(n, c, h + (along_w ? 0 : 1), w + (along_w ? 1 : 0)) = d.x.at(n, c, h, w);
    const Tensor<double> y = run_impl(*impl, p, d);
    const Tensor<double> ys = run_impl(*impl, p, xs, d.w, p.bias ? &d.b : nullptr);
    Tensor<double> shifted(y.shape);
    for (int64_t n = 0; n < y.shape[0]; ++n)
      for (int64_t c = 0; c < y.shape[1]; ++c)
        for (int64_t h = 0; h < y.shape[2]; ++h)
          for (int64_t w = 0; w < y.shape[3]; ++w)
            shifted.at(n, c, h, w) =
                ys.at(n, c, h + (along_w ? 0 : p.stride.h), w + (along_w ? p.stride.w : 0));
    expect_identical(*impl, pr, d, shifted, y, "shifted output vs output");
  }
}

// ---- 10. every registered implementation against the exact reference -------------------------

RC_GTEST_PROP(Registry, EveryImplementationMatchesTheExactReference, (const Problem& pr)) {
  tag(pr);
  const Regime regime = *rc::gen::element(Regime::kInteger, Regime::kReal, Regime::kCancellation);
  RC_TAG(to_string(regime));
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  // One case and exact truth per input dtype, the data generated in that dtype.
  std::optional<std::pair<Case, Truth>> cases[4];
  for (const Implementation* impl : implementations_under_test()) {
    auto& slot = cases[static_cast<size_t>(impl->input)];
    if (!slot) {
      Case c = make_case(pr, impl->input, regime, seed);
      Truth truth = compute_truth(c);
      slot = std::pair{std::move(c), std::move(truth)};
    }
    const auto& [c, truth] = *slot;
    const AnyTensor y = impl->run(pr.params, c.x, c.w, c.b ? &*c.b : nullptr);
    // Integer data exact in the input dtype: zero bound, i.e. bit for bit.
    const bool exact =
        regime == Regime::kInteger && integer_exact(pr, significand_bits(impl->input));
    const Tensor<double> bound =
        exact ? Tensor<double>(truth.expected.shape) : case_bound(c, arithmetic_of(*impl));
    const Report r = compare_outputs(truth, y, bound, nullptr, impl->output, arithmetic_of(*impl));
    if (!r.passed()) {
      fail_case(pr, data_for(*impl, pr, regime, seed), impl->name + ": " + format_report(r),
                impl->input);
    }
  }
}

// Prints which implementations the run checks (not while gtest only lists the tests).
class ListImplementations : public ::testing::Environment {
 public:
  void SetUp() override {
    for (Pass pass : kAllPasses) {
      std::cout << "implementations under test (" << to_string(pass) << "):";
      for (const Implementation* impl : implementations_under_test(pass)) {
        std::cout << " " << impl->name;
      }
      std::cout << "\n";
    }
  }
};

}  // namespace

int testing::run_property_suite(int argc, char** argv) {
  // 300 cases per property unless RC_PARAMS sets max_success (RC_PARAMS="max_success=10000" for a
  // long campaign); its other settings (seed, reproduce, ...) are kept.
  const char* rc = std::getenv("RC_PARAMS");
  const std::string params = rc ? rc : "";
  if (params.find("max_success") == std::string::npos) {
    setenv("RC_PARAMS", ("max_success=300 " + params).c_str(), 1);
  }
  ::testing::InitGoogleTest(&argc, argv);
  // A misspelt CONVT2D_IMPL must not turn properties 4-10 into loops over nothing.
  bool any = false;
  for (Pass pass : kAllPasses) any = any || !implementations_under_test(pass).empty();
  if (!any) {
    const char* only = std::getenv("CONVT2D_IMPL");
    std::cerr << "convt2d property suite: no implementation under test"
              << (only && *only ? std::string(" named '") + only + "'" : std::string())
              << " (the suite checks non-exact implementations with float32, float16 or "
                 "bfloat16 inputs); registered:";
    for (const std::string& name : suite_registry().names()) std::cerr << " " << name;
    std::cerr << "\n";
    return 2;
  }
  ::testing::AddGlobalTestEnvironment(new ListImplementations);
  return RUN_ALL_TESTS();
}

}  // namespace convt2d
