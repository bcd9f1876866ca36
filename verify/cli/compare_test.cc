// Unit tests of the compare module: the verdict at the bound, ulps, the suspicious band, NaN/Inf
// rules, shape mismatches and the JSON rendering.
#include "convt2d/compare.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "convt2d/error.h"
#include "convt2d/fill.h"
#include "convt2d/implementations.h"
#include "half_cheats.h"

namespace convt2d {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A 1x1x1xN truth holding `values`.
Truth TruthOf(const std::vector<double>& values) {
  Truth t;
  t.expected = Tensor<Exact>(Shape{1, 1, 1, static_cast<int64_t>(values.size())});
  t.abs_expected = Tensor<double>(t.expected.shape);
  for (size_t i = 0; i < values.size(); ++i) {
    t.expected.data[i] = Exact(values[i]);
    t.abs_expected.data[i] = std::fabs(values[i]);
  }
  return t;
}

// What a result of `dtype` in compute_mode default claims.
Arithmetic ClaimOf(DType dtype) {
  return claimed_arithmetic(dtype, ComputeMode::kDefault);
}

Tensor<double> Filled(const Shape& s, double v) {
  Tensor<double> t(s);
  for (double& e : t.data) e = v;
  return t;
}

TEST(Compare, ZeroBoundDemandsBitEquality) {
  const Truth t = TruthOf({1.5, -2.0, 0.0});
  const Tensor<double> zero(t.expected.shape);
  Tensor<float> y(t.expected.shape, {1.5f, -2.0f, 0.0f});
  Report r = compare_outputs(t, y, zero, nullptr, DType::kFloat32, ClaimOf(DType::kFloat32));
  EXPECT_TRUE(r.passed());
  EXPECT_EQ(r.max_err_over_bound, 0.0);
  y.data[1] = std::nextafter(-2.0f, 0.0f);
  r = compare_outputs(t, y, zero, nullptr, DType::kFloat32, ClaimOf(DType::kFloat32));
  EXPECT_FALSE(r.passed());
  EXPECT_EQ(r.over_bound, 1);
  EXPECT_TRUE(std::isinf(r.max_err_over_bound));
  ASSERT_TRUE(r.worst);
  EXPECT_EQ(r.worst->index, (Shape{0, 0, 0, 1}));
  EXPECT_EQ(r.worst->ulps, 0.5);  // float32 ulp at 2.0 is 2^-22; spacing below 2.0 is 2^-23
}

TEST(Compare, TheVerdictSitsExactlyAtTheBound) {
  // The comparison is exact: an error equal to the bound passes, the next float beyond fails.
  const Truth t = TruthOf({1.0});
  const Tensor<double> bound = Filled(t.expected.shape, 0x1p-20);
  Tensor<float> y(t.expected.shape, {1.0f + 0x1p-20f});
  EXPECT_TRUE(
      compare_outputs(t, y, bound, nullptr, DType::kFloat32, ClaimOf(DType::kFloat32)).passed());
  y.data[0] = std::nextafter(y.data[0], 2.0f);
  const Report r = compare_outputs(t, y, bound, nullptr, DType::kFloat32, ClaimOf(DType::kFloat32));
  EXPECT_FALSE(r.passed());
  EXPECT_NEAR(r.worst->ulps, 9.0, 1e-12);  // 2^-20 + 2^-23 in ulps of 2^-23
  EXPECT_GT(r.max_err_over_bound, 1.0);
}

// compute_truth stores the exact values as double pairs, and compare_outputs decides most
// elements with them in double arithmetic; the verdicts must be those of the 640-bit comparison,
// also where the error equals the bound and one double away from it, and for exact values that
// need more than two doubles (no pair: 640 bits).
TEST(Compare, DoublePairVerdictsEqualThe640BitVerdicts) {
  const std::vector<Exact> exact = {
      Exact(1.0) + Exact(0x1p-60),                    // hi + lo
      Exact(-3.0) - Exact(0x1p-80),                   // hi + lo, negative
      Exact(1.0) + Exact(0x1p-60) + Exact(0x1p-200),  // needs three doubles: no pair
      Exact(0.0),
      Exact(0x1p-300),
  };
  Truth slow;
  slow.expected = Tensor<Exact>(Shape{1, 1, 1, static_cast<int64_t>(exact.size())});
  slow.expected.data = exact;
  slow.abs_expected = Tensor<double>(slow.expected.shape);
  Truth fast = slow;
  fast.expected_hi = Tensor<double>(slow.expected.shape);
  fast.expected_lo = Tensor<double>(slow.expected.shape);
  for (size_t i = 0; i < exact.size(); ++i) {
    const double hi = static_cast<double>(exact[i]);
    const Exact rest = exact[i] - Exact(hi);
    fast.expected_hi.data[i] = hi;
    fast.expected_lo.data[i] =
        Exact(static_cast<double>(rest)) == rest ? static_cast<double>(rest) : NAN;
  }
  EXPECT_TRUE(std::isnan(fast.expected_lo.data[2]));
  EXPECT_FALSE(std::isnan(fast.expected_lo.data[0]));
  int decided = 0, failed = 0;
  for (size_t i = 0; i < exact.size(); ++i) {
    const double hi = fast.expected_hi.data[i];
    for (const double a : {hi, std::nextafter(hi, INFINITY), std::nextafter(hi, -INFINITY),
                           hi + 0x1p-20, hi - 1.0, hi * 1.5 + 1e-7}) {
      // Bounds at the exact error (rounded both ways), one double either side, and far off.
      const double err = static_cast<double>(abs(Exact(a) - exact[i]));
      for (const double bnd : {err, std::nextafter(err, 0.0), std::nextafter(err, INFINITY),
                               err * 0.5, err * 2.0, 0.0}) {
        Tensor<double> y(slow.expected.shape), bound(slow.expected.shape), band(bound.shape);
        y.data[i] = a;
        for (size_t j = 0; j < exact.size(); ++j) {
          if (j != i) y.data[j] = fast.expected_hi.data[j];  // bit-equal where it can be
          bound.data[j] = j == i ? bnd : 1.0;
          band.data[j] = j == i ? bnd * 0.5 : 1.0;
        }
        const Report rs =
            compare_outputs(slow, y, bound, &band, DType::kFloat64, ClaimOf(DType::kFloat64));
        const Report rf =
            compare_outputs(fast, y, bound, &band, DType::kFloat64, ClaimOf(DType::kFloat64));
        const bool over = abs(Exact(a) - exact[i]) > Exact(bnd);
        EXPECT_EQ(rf.over_bound, over ? 1 : 0) << i << " " << a << " " << bnd;
        EXPECT_EQ(rs.over_bound, rf.over_bound) << i << " " << a << " " << bnd;
        EXPECT_EQ(rs.over_band, rf.over_band) << i << " " << a << " " << bnd;
        EXPECT_EQ(rs.passed(), rf.passed()) << i;
        ++decided;
        failed += over ? 1 : 0;
      }
    }
  }
  EXPECT_GT(failed, 0);
  EXPECT_LT(failed, decided);
}

TEST(Compare, UlpsAreInTheClaimedDtype) {
  const Truth t = TruthOf({1.0});
  const Tensor<double> bound = Filled(t.expected.shape, 1.0);
  const Tensor<double> y(t.expected.shape, {1.0 + 0x1p-50});
  EXPECT_DOUBLE_EQ(
      compare_outputs(t, y, bound, nullptr, DType::kFloat64, ClaimOf(DType::kFloat64)).worst->ulps,
      4.0);
  EXPECT_DOUBLE_EQ(
      compare_outputs(t, y, bound, nullptr, DType::kFloat32, ClaimOf(DType::kFloat32)).worst->ulps,
      0x1p-27);
}

TEST(Compare, SuspiciousOnlyInsideTheBoundButOutsideTheBand) {
  const Truth t = TruthOf({1.0, 2.0});
  const Tensor<double> bound = Filled(t.expected.shape, 1e-3);
  const Tensor<double> band = Filled(t.expected.shape, 1e-5);
  Tensor<float> y(t.expected.shape, {1.0f, 2.0f});
  Report r = compare_outputs(t, y, bound, &band, DType::kFloat32, ClaimOf(DType::kFloat32));
  EXPECT_TRUE(r.passed());
  EXPECT_FALSE(r.suspicious);
  EXPECT_THAT(format_report(r), Not(HasSubstr("suspicious")));
  EXPECT_EQ(nlohmann::json::parse(report_json(r))["suspicious"], false);

  y.data[1] = 2.0f + 1e-4f;  // inside the bound, outside the band
  r = compare_outputs(t, y, bound, &band, DType::kFloat32, ClaimOf(DType::kFloat32));
  EXPECT_TRUE(r.passed());
  EXPECT_TRUE(r.suspicious);
  EXPECT_EQ(r.over_band, 1);
  EXPECT_NEAR(r.max_err_over_band, 10.0, 0.1);
  EXPECT_THAT(format_report(r), HasSubstr("suspicious"));
  EXPECT_THAT(format_report(r), HasSubstr("verdict: PASSED"));
  EXPECT_EQ(nlohmann::json::parse(report_json(r))["suspicious"], true);

  y.data[1] = 2.0f + 1e-2f;  // a failure is a failure, not "suspicious"
  r = compare_outputs(t, y, bound, &band, DType::kFloat32, ClaimOf(DType::kFloat32));
  EXPECT_FALSE(r.passed());
  EXPECT_FALSE(r.suspicious);
  EXPECT_THAT(format_report(r), Not(HasSubstr("suspicious")));
}

TEST(Compare, NanAndInfinityRules) {
  const double big = std::numeric_limits<float>::max();
  Truth t = TruthOf({0.0, big, 1.0, 0.0});
  t.expected.data[0] = std::numeric_limits<Exact>::quiet_NaN();
  t.expected.data[3] = -std::numeric_limits<Exact>::infinity();
  const Tensor<double> bound = Filled(t.expected.shape, 0x1p104);  // big + bound reaches overflow
  // Expected NaN -> NaN; a finite value that may overflow -> infinity of its sign; -inf -> -inf.
  Tensor<float> y(t.expected.shape, {NAN, INFINITY, 1.0f, -INFINITY});
  Report r = compare_outputs(t, y, bound, nullptr, DType::kFloat32, ClaimOf(DType::kFloat32));
  EXPECT_TRUE(r.passed()) << format_report(r);
  for (const auto& [i, v] :
       {std::pair{0, 0.0f}, std::pair{1, -INFINITY}, std::pair{2, NAN}, std::pair{3, INFINITY}}) {
    Tensor<float> bad = y;
    bad.data[static_cast<size_t>(i)] = v;
    r = compare_outputs(t, bad, bound, nullptr, DType::kFloat32, ClaimOf(DType::kFloat32));
    EXPECT_FALSE(r.passed()) << i;
    EXPECT_EQ(r.nonfinite_mismatches, 1) << i;
    ASSERT_TRUE(r.first_nonfinite);
    EXPECT_EQ(r.first_nonfinite->index, (Shape{0, 0, 0, i}));
  }
  // In float64 the same finite value is nowhere near overflow.
  const Tensor<double> y64(t.expected.shape, {NAN, INFINITY, 1.0, -INFINITY});
  EXPECT_EQ(compare_outputs(t, y64, bound, nullptr, DType::kFloat64, ClaimOf(DType::kFloat64))
                .nonfinite_mismatches,
            1);
}

TEST(Compare, ShapeMismatchIsAFailedReport) {
  const Truth t = TruthOf({1.0, 2.0});
  const Tensor<double> bound(t.expected.shape);
  const Report r = compare_outputs(t, Tensor<float>(Shape{1, 1, 2, 1}), bound, nullptr,
                                   DType::kFloat32, ClaimOf(DType::kFloat32));
  EXPECT_FALSE(r.passed());
  EXPECT_FALSE(r.shape_ok);
  EXPECT_THAT(format_report(r),
              HasSubstr("shape mismatch: expected (1, 1, 1, 2), got (1, 1, 2, 1)"));
  const auto j = nlohmann::json::parse(report_json(r));
  EXPECT_EQ(j["verdict"], "FAILED");
  EXPECT_EQ(j["shape_ok"], false);
  EXPECT_EQ(j["actual_shape"], (Shape{1, 1, 2, 1}));
}

TEST(Compare, EmptyOutputPassesWithNullWorst) {
  // N = 0: nothing to compare, nothing wrong.
  Truth t;
  t.expected = Tensor<Exact>(Shape{0, 3, 4, 4});
  t.abs_expected = Tensor<double>(Shape{0, 3, 4, 4});
  const Report r =
      compare_outputs(t, Tensor<float>(Shape{0, 3, 4, 4}), Tensor<double>(Shape{0, 3, 4, 4}),
                      nullptr, DType::kFloat32, ClaimOf(DType::kFloat32));
  EXPECT_TRUE(r.passed());
  EXPECT_TRUE(nlohmann::json::parse(report_json(r))["worst"].is_null());
}

TEST(Compare, BoundAndBandOfACaseAreOrdered) {
  // For a large K the band (~ sqrt(K) u) is far inside the certified bound (~ K u), and the
  // float32 reference's own result lies inside both.
  const Problem pr = parse_problem("mb1ic256ih3oc2kh3sh2ph1");
  const auto d = make_data<float>(pr, Regime::kReal, 5);
  const Case c{pr, d.x, d.w, std::optional<AnyTensor>(d.b)};
  const Truth t = compute_truth(c);
  const Tensor<double> bound = case_bound(c, kFloat32Precision);
  const Tensor<double> band = case_band(c, t, kFloat32Precision.u, kDefaultLambda);
  ASSERT_EQ(bound.shape, band.shape);
  int64_t band_smaller = 0;
  for (size_t i = 0; i < bound.data.size(); ++i) band_smaller += band.data[i] < bound.data[i];
  EXPECT_GT(band_smaller, bound.size() / 2);
  const AnyTensor y = conv_transpose2d<float, float>(pr.params, d.x, d.w, d.bias());
  const Report r = compare_outputs(t, y, bound, &band, DType::kFloat32, ClaimOf(DType::kFloat32));
  EXPECT_TRUE(r.passed());
  EXPECT_FALSE(r.suspicious) << r.max_err_over_band;
}

TEST(Compare, AdjointHoldsExactlyOnIntegerData) {
  const Problem pr = parse_problem("mb2ic6ih4iw5oc4kh3kw2sh2ph1oph1g2");
  const auto d = make_data<float>(pr, Regime::kInteger, 3);
  const Tensor<float> y = make_tensor<float>(output_shape(pr), Regime::kInteger, 4, 3);
  AdjointResult r = adjoint_check(pr.params, d.x, d.w, y, /*exact_data=*/true);
  EXPECT_TRUE(r.passed());
  EXPECT_EQ(r.diff, 0.0);
  EXPECT_NE(r.lhs, 0.0);
  // A y of the wrong shape cannot be paired with ConvT(x).
  r = adjoint_check(pr.params, d.x, d.w, Tensor<float>(Shape{2, 4, 3, 3}), true);
  EXPECT_FALSE(r.passed());
}

TEST(Compare, UlpsInTheHalfFormats) {
  const Truth t = TruthOf({1.0, 65504.0});
  const Tensor<double> bound = Filled(t.expected.shape, 1e9);
  const Tensor<double> y(t.expected.shape, {1.0 + 0x1p-10, 65504.0 - 32});
  Report r = compare_outputs(t, y, bound, nullptr, DType::kFloat16, ClaimOf(DType::kFloat16));
  EXPECT_DOUBLE_EQ(r.worst->ulps, 1.0);  // both elements are one float16 ulp off
  ASSERT_EQ(r.worst->index, (Shape{0, 0, 0, 1}));
  r = compare_outputs(t, y, bound, nullptr, DType::kBFloat16, ClaimOf(DType::kBFloat16));
  EXPECT_DOUBLE_EQ(r.worst->ulps, 0.0625);  // 65504 is 65536 in bfloat16, whose spacing is 512
}

// A float16 case: x = (32768, 32768, -32768), w = 1, no bias; exact 32768. Accumulated in float16
// the first partial sum, 65536, overflows to infinity, and the result stays infinite although the
// exact result is finite: possible only because the positive terms, 65536 (plus the bound), reach
// float16's overflow threshold. Such a result is accepted, but not -inf or NaN, which would need
// the negative terms to overflow too; a finite result must still be within the bound.
TEST(Compare, OverflowOnlyThroughAccumulationIsAcceptedWhereItIsPossible) {
  Params p;
  p.in_channels = 3;
  p.bias = false;
  const Problem pr = problem_from_shapes(p, Shape{1, 3, 1, 1}, Shape{3, 1, 1, 1}, nullptr);
  const Tensor<float16> x(Shape{1, 3, 1, 1},
                          {float16(32768.0), float16(32768.0), float16(-32768.0)});
  const Tensor<float16> w(Shape{3, 1, 1, 1}, {float16(1.0), float16(1.0), float16(1.0)});
  const Case c{pr, x, w, std::nullopt};
  const Truth t = compute_truth(c);
  ASSERT_EQ(static_cast<double>(t.expected.data[0]), 32768.0);
  EXPECT_GE(t.positive.data[0], 65536.0L);  // rounded up, barely
  EXPECT_LE(t.positive.data[0], 65536.0L * (1 + 1e-15L));
  EXPECT_GE(t.negative.data[0], 32768.0L);
  EXPECT_EQ(t.largest_positive.data[0], std::nextafter(32768.0L * (1 - 0x1p-64L), 0.0L));
  const Tensor<float16> acc16 = conv_transpose2d<float16, float16>(p, x, w, nullptr);
  ASSERT_TRUE(std::isinf(acc16.data[0].to_float()));
  for (ComputeMode mode : {ComputeMode::kDefault, ComputeMode::kFloat32}) {
    const Arithmetic a = claimed_arithmetic(DType::kFloat16, mode);
    const Tensor<double> bound = case_bound(c, a);
    const auto judge = [&](const Tensor<float16>& y) {
      return compare_outputs(t, y, bound, nullptr, DType::kFloat16, a);
    };
    EXPECT_TRUE(judge(acc16).passed());
    const Tensor<float16> f32acc = conv_transpose2d_rounded<float16, float>(p, x, w, nullptr);
    EXPECT_EQ(f32acc.data[0].to_float(), 32768.0f);
    EXPECT_TRUE(judge(f32acc).passed());
    EXPECT_FALSE(judge(Tensor<float16>(acc16.shape, {float16(65504.0)})).passed());
    // Only the positive terms (65536 in all) can reach float16's overflow threshold, 65520: no
    // order of summation overflows towards -inf, so neither -inf nor NaN (inf - inf) is correct.
    for (const double v : {-static_cast<double>(INFINITY), static_cast<double>(NAN)}) {
      const Report r = judge(Tensor<float16>(acc16.shape, {float16(v)}));
      EXPECT_FALSE(r.passed()) << v;
      EXPECT_EQ(r.nonfinite_mismatches, 1) << v;
    }
  }
  // Far from overflow (x = 1, 1, -1) an infinity or a NaN is a mismatch.
  const Tensor<float16> small(Shape{1, 3, 1, 1}, {float16(1.0), float16(1.0), float16(-1.0)});
  const Case cs{pr, small, w, std::nullopt};
  const Truth ts = compute_truth(cs);
  const Tensor<double> bs =
      case_bound(cs, claimed_arithmetic(DType::kFloat16, ComputeMode::kDefault));
  for (float v : {INFINITY, NAN}) {
    const Report r = compare_outputs(ts, Tensor<float16>(acc16.shape, {float16(v)}), bs, nullptr,
                                     DType::kFloat16, ClaimOf(DType::kFloat16));
    EXPECT_FALSE(r.passed());
    EXPECT_EQ(r.nonfinite_mismatches, 1);
  }
}

// The designed case of docs/oracle.md: float16 cancellation data (the channel-order sum climbs to
// about half of sum|w*x| before it cancels). A float16 accumulator is far outside the bound of a
// float32 claim; the float32 accumulator is inside it and inside the band.
TEST(Compare, AFloat32ClaimFailsAFloat16AccumulatedResult) {
  const Problem pr = parse_problem("mb1ic64ih4oc4kh1");
  const Case c = make_case(pr, DType::kFloat16, Regime::kCancellation, 1);
  const Truth t = compute_truth(c);
  const auto& x = std::get<Tensor<float16>>(c.x);
  const auto& w = std::get<Tensor<float16>>(c.w);
  const auto* b = &std::get<Tensor<float16>>(*c.b);
  const AnyTensor acc16 = conv_transpose2d<float16, float16>(pr.params, x, w, b);
  const AnyTensor acc32 = conv_transpose2d_rounded<float16, float>(pr.params, x, w, b);
  const auto judge = [&](const AnyTensor& y, ComputeMode mode) {
    const Arithmetic a = claimed_arithmetic(DType::kFloat16, mode);
    const Tensor<double> bound = case_bound(c, a), band = case_band(c, t, a, kDefaultLambda);
    return compare_outputs(t, y, bound, &band, DType::kFloat16, a);
  };
  const Report r16 = judge(acc16, ComputeMode::kFloat32);
  EXPECT_FALSE(r16.passed());
  EXPECT_GT(r16.max_err_over_bound, 100.0);          // measured: 361
  EXPECT_GE(r16.over_bound, r16.elements * 9 / 10);  // measured: 62 of 64
  EXPECT_TRUE(judge(acc16, ComputeMode::kDefault).passed());
  const Report r32 = judge(acc32, ComputeMode::kFloat32);
  EXPECT_TRUE(r32.passed());
  EXPECT_FALSE(r32.suspicious) << r32.max_err_over_band;
  EXPECT_LT(r32.max_err_over_bound, 1.0 / 2);  // measured: 0.31
}

// An unusable claim is an Error naming the front end's spelling of the option, before any work;
// a usable one judges the reference's own result as passed.
TEST(Compare, AnUnusableClaimIsAnErrorNamingItsOption) {
  const Problem pr = parse_problem("mb1ic4ih3oc2kh2");
  const Case c = make_case(pr, DType::kFloat32, Regime::kReal, 3);
  const Registry reg = builtin_registry();
  const AnyTensor y = reg.get("reference-f32").run(c.problem.params, c.x, c.w, &*c.b);
  const auto subject = [&](const CheckClaim& claim) -> std::string {
    try {
      check_candidate(c, y, claim);
    } catch (const Error& e) {
      return e.subject();
    }
    return "";
  };
  CheckClaim py;
  py.lambda_option = "lambda_";
  py.max_bytes_option = "max_bytes";
  EXPECT_EQ(subject(py), "");
  EXPECT_TRUE(check_candidate(c, y, py).report.passed());
  for (const double bad : {0.0, -1.0, std::numeric_limits<double>::infinity(),
                           std::numeric_limits<double>::quiet_NaN()}) {
    CheckClaim claim = py;
    claim.lambda = bad;
    EXPECT_EQ(subject(claim), "lambda_") << bad;
  }
  CheckClaim cli;
  cli.max_bytes = 0;
  EXPECT_EQ(subject(cli), "--max-bytes");
}

// float16 products summed in float32 (float16 intermediates) with K = 512: inside the certified
// bound of a float32 claim, outside its band: flagged. The honest float32 accumulator is not.
TEST(Compare, Float16IntermediatesUnderAFloat32ClaimAreSuspicious) {
  const Problem pr = parse_problem("mb1ic512ih4oc4kh1");
  const Case c = make_case(pr, DType::kFloat16, Regime::kReal, 2);
  const Truth t = compute_truth(c);
  const auto& x = std::get<Tensor<float16>>(c.x);
  const auto& w = std::get<Tensor<float16>>(c.w);
  const auto* b = &std::get<Tensor<float16>>(*c.b);
  const Arithmetic a = claimed_arithmetic(DType::kFloat16, ComputeMode::kFloat32);
  const Tensor<double> bound = case_bound(c, a), band = case_band(c, t, a, kDefaultLambda);
  const AnyTensor cheat = testing::float16_products_float32_sums(pr.params, x, w, b);
  const Report r = compare_outputs(t, cheat, bound, &band, DType::kFloat16, a);
  EXPECT_TRUE(r.passed()) << r.max_err_over_bound;
  EXPECT_TRUE(r.suspicious);
  EXPECT_GT(r.max_err_over_band, 1.2);  // measured: 1.45
  const AnyTensor honest = conv_transpose2d_rounded<float16, float>(pr.params, x, w, b);
  const Report rh = compare_outputs(t, honest, bound, &band, DType::kFloat16, a);
  EXPECT_TRUE(rh.passed());
  EXPECT_FALSE(rh.suspicious);
  EXPECT_LT(rh.max_err_over_band, 0.8);  // measured: 0.57
}

}  // namespace
}  // namespace convt2d

namespace convt2d {
namespace {

// A case of `pr`'s shape holding the given data (x, w and, when given, b), of element type T.
template <class T>
Case CaseOf(const std::string& problem, const std::vector<double>& x, const std::vector<double>& w,
            std::optional<double> b) {
  Problem pr = parse_problem(problem);
  pr.params.bias = b.has_value();
  const auto tensor = [](const Shape& s, const std::vector<double>& v) {
    Tensor<T> t(s);
    for (size_t i = 0; i < v.size(); ++i) t.data[i] = T(v[i]);
    return t;
  };
  return Case{pr, tensor(input_shape(pr), x), tensor(weight_shape(pr.params), w),
              b ? std::optional<AnyTensor>(tensor(bias_shape(pr.params), {*b})) : std::nullopt};
}

template <class T>
Report Judge(const Case& c, const Truth& t, const std::vector<double>& y, DType claimed,
             ComputeMode mode = ComputeMode::kDefault) {
  const Arithmetic a = claimed_arithmetic(claimed, mode);
  Tensor<T> cand(t.expected.shape);
  for (size_t i = 0; i < y.size(); ++i) cand.data[i] = T(y[i]);
  return compare_outputs(t, cand, case_bound(c, a), nullptr, claimed, a);
}

// Found by an audit (2026-12-04): bfloat16 summed in bfloat16 over 250000 terms with no bias.
// (1 + 2^-8)^250001 is beyond double and times the zero bias made the bound NaN, which accepted
// every candidate (NaN and a negated result included) and wrote NaN into bound.npy. Now the
// bound is finite (at most the format's largest value past the data), a bfloat16 accumulation
// passes, and NaN and -inf fail: the terms' sums cannot reach the overflow threshold in any order
// (a rounded sum is within min(|a|, |b|) of a + b). With only positive terms (float16 too),
// a negative result is no correct result at all.
TEST(CompareRegression, ManyTermsInBfloat16KeepAFiniteBoundAndRejectImpossibleValues) {
  for (const bool positive : {false, true}) {
    SCOPED_TRACE(positive ? "positive terms" : "mixed signs");
    const int64_t k = 250000;
    std::vector<double> x(static_cast<size_t>(k)), w(static_cast<size_t>(k));
    for (int64_t i = 0; i < k; ++i) {
      x[static_cast<size_t>(i)] = 0.25 + static_cast<double>(i % 7) / 32;
      w[static_cast<size_t>(i)] = positive || i % 3 ? 0.5 : -0.75;
    }
    const Case c = CaseOf<bfloat16>("mb1ic" + std::to_string(k) + "ih1oc1kh1", x, w, std::nullopt);
    const Truth t = compute_truth(c);
    const Arithmetic a = claimed_arithmetic(DType::kBFloat16, ComputeMode::kDefault);
    const Tensor<double> bound = case_bound(c, a);
    ASSERT_TRUE(std::isfinite(bound.data[0])) << bound.data[0];
    const auto& xt = std::get<Tensor<bfloat16>>(c.x);
    const auto& wt = std::get<Tensor<bfloat16>>(c.w);
    const Tensor<bfloat16> acc =
        conv_transpose2d_rounded<bfloat16, bfloat16>(c.problem.params, xt, wt, nullptr);
    Report r = compare_outputs(t, acc, bound, nullptr, DType::kBFloat16, a);
    EXPECT_TRUE(r.passed()) << format_report(r);
    EXPECT_EQ(r.vacuous_bound, 1);
    const double e = static_cast<double>(t.expected.data[0]);
    for (double v : {std::nan(""), -std::numeric_limits<double>::infinity(), -e}) {
      r = Judge<bfloat16>(c, t, {v}, DType::kBFloat16);
      // The negated result of mixed signs is within reach of bfloat16 over that many terms.
      EXPECT_EQ(r.passed(), !positive && v == -e) << v << "\n" << format_report(r);
    }
    if (positive) {
      r = Judge<bfloat16>(c, t, {-e}, DType::kBFloat16);
      EXPECT_EQ(r.out_of_range, 1);
      EXPECT_THAT(format_report(r), HasSubstr("outside every correct result: 1"));
    }
  }
  // float16, 62500 positive terms: its bound is 65504 past the data; -exact, -inf, NaN fail.
  const int64_t k = 62500;
  const std::vector<double> x(static_cast<size_t>(k), 0.0015), w(static_cast<size_t>(k), 1.0);
  const Case c = CaseOf<float16>("mb1ic" + std::to_string(k) + "ih1oc1kh1", x, w, std::nullopt);
  const Truth t = compute_truth(c);
  const double e = static_cast<double>(t.expected.data[0]);
  for (double v : {std::nan(""), -std::numeric_limits<double>::infinity(), -e}) {
    EXPECT_FALSE(Judge<float16>(c, t, {v}, DType::kFloat16).passed()) << v;
  }
  EXPECT_TRUE(Judge<float16>(c, t, {e}, DType::kFloat16).passed());
}

// Issue 14, item 1: bfloat16 with 576 taps, compute_mode default. The classical gamma(K) does not
// exist beyond 255 taps and the bound was +inf, so an all-NaN candidate and one off by 1000 both
// passed. The bound (1 + u)^n - 1 is finite: a correct bfloat16 accumulation passes, NaN (no
// overflow is possible) and a far value fail.
TEST(CompareRegression, BFloat16OverManyTapsHasAFiniteBound) {
  const Problem pr = parse_problem("mb1ic64ih8oc8kh3ph1");
  const Case c = make_case(pr, DType::kBFloat16, Regime::kReal, 1);
  const Truth t = compute_truth(c);
  const Arithmetic a = claimed_arithmetic(DType::kBFloat16, ComputeMode::kDefault);
  const Tensor<double> bound = case_bound(c, a);
  for (double v : bound.data) ASSERT_TRUE(std::isfinite(v));
  const auto& x = std::get<Tensor<bfloat16>>(c.x);
  const auto& w = std::get<Tensor<bfloat16>>(c.w);
  const auto* b = &std::get<Tensor<bfloat16>>(*c.b);
  const Tensor<bfloat16> acc = conv_transpose2d_rounded<bfloat16, bfloat16>(pr.params, x, w, b);
  Report r = compare_outputs(t, acc, bound, nullptr, DType::kBFloat16, a);
  EXPECT_TRUE(r.passed()) << format_report(r);
  EXPECT_GT(r.vacuous_bound, 0);  // 576 bfloat16 roundings: g(578) = 8.5, said in the report
  EXPECT_THAT(format_report(r), HasSubstr("vacuous"));
  Tensor<bfloat16> nan = acc;
  for (auto& v : nan.data) v = bfloat16::from_bits(0x7fc0);
  r = compare_outputs(t, nan, bound, nullptr, DType::kBFloat16, a);
  EXPECT_FALSE(r.passed());
  EXPECT_EQ(r.nonfinite_mismatches, r.elements);
  // Off by 1000 (the interior's bound, 8.5 sum|w*x|, is larger: 224 elements fail), and by 10^5.
  for (const auto& [off, over] : {std::pair{1e3, int64_t{200}}, std::pair{1e5, r.elements}}) {
    Tensor<bfloat16> far = acc;
    for (size_t i = 0; i < far.data.size(); ++i) {
      far.data[i] = bfloat16(static_cast<double>(t.expected.data[i]) + off);
    }
    const Report rf = compare_outputs(t, far, bound, nullptr, DType::kBFloat16, a);
    EXPECT_FALSE(rf.passed()) << off;
    EXPECT_GE(rf.over_bound, over) << off;
  }
}

// Issue 14, item 2: float64 products beyond double's range. sum|w*x| overflowed to +inf, so the
// bound was +inf and any finite value passed (and the report printed "-nan"). Both products
// (+-10^400) overflow in every float64 implementation: separate products give NaN (+inf - inf),
// an FMA chain the infinity of its first product (fma(x, w, inf) = inf); no finite value is
// right, not even the exact value 1.
TEST(CompareRegression, Float64ProductsBeyondTheRangeMustOverflow) {
  const Case c = CaseOf<double>("mb1ic2ih1oc1kh1", {1e200, 1e200}, {1e200, -1e200}, 1.0);
  const Truth t = compute_truth(c);
  ASSERT_EQ(static_cast<double>(t.expected.data[0]), 1.0);
  for (double v : {12345.0, 1.0, 0.0}) {
    const Report r = Judge<double>(c, t, {v}, DType::kFloat64);
    EXPECT_FALSE(r.passed()) << v;
    EXPECT_EQ(r.overflow_mismatches, 1) << v;
    EXPECT_THAT(format_report(r), HasSubstr("finite where every correct result overflows"));
    EXPECT_THAT(format_report(r), Not(HasSubstr("nan")));
  }
  EXPECT_TRUE(Judge<double>(c, t, {NAN}, DType::kFloat64).passed());
  EXPECT_TRUE(Judge<double>(c, t, {std::fma(1e200, -1e200, std::fma(1e200, 1e200, 1.0))},
                            DType::kFloat64)
                  .passed());  // +inf
  EXPECT_TRUE(Judge<double>(c, t, {std::fma(1e200, 1e200, std::fma(1e200, -1e200, 1.0))},
                            DType::kFloat64)
                  .passed());  // -inf
  // The literal float64 reference (long double accumulator) is exact here and passes under its
  // own, wider arithmetic; judged as a float64 result it does not.
  const Registry reg = builtin_registry();
  const Implementation& ref = reg.get("reference-f64");
  const AnyTensor y = ref.run(c.problem.params, c.x, c.w, &*c.b);
  EXPECT_TRUE(compare_outputs(t, y, case_bound(c, arithmetic_of(ref)), nullptr, ref.output,
                              arithmetic_of(ref))
                  .passed());
}

TEST(CompareRegression, OneFloat64ProductBeyondTheRangeIsPlusInfinity) {
  // 1e155 * 1e155 = 1e310: exact value beyond double's range, a candidate of 0 passed with
  // "max err/bound: -nan". Now: only +inf is right.
  const Case c = CaseOf<double>("mb1ic1ih1oc1kh1", {1e155}, {1e155}, 1.0);
  const Truth t = compute_truth(c);
  Report r = Judge<double>(c, t, {0.0}, DType::kFloat64);
  EXPECT_FALSE(r.passed());
  EXPECT_EQ(r.overflow_mismatches, 1);
  const std::string text = format_report(r);
  EXPECT_THAT(text, Not(HasSubstr("nan")));
  EXPECT_THAT(text, HasSubstr("expected 1.0000000000000000"));  // the exact value, in decimal
  EXPECT_THAT(text, HasSubstr("e+310"));
  EXPECT_TRUE(Judge<double>(c, t, {INFINITY}, DType::kFloat64).passed());
  EXPECT_FALSE(Judge<double>(c, t, {-INFINITY}, DType::kFloat64).passed());
  EXPECT_FALSE(Judge<double>(c, t, {NAN}, DType::kFloat64).passed());
  // Its bound is finite in long double and rounded up to a double: about 2^-52 * 1e310 > 1e308
  // is beyond double's range, so +inf; a finite bound would be (2^-52 times a smaller sum).
  const Tensor<double> bound =
      case_bound(c, claimed_arithmetic(DType::kFloat64, ComputeMode::kDefault));
  EXPECT_GT(bound.data[0], 1e290);
}

TEST(CompareRegression, Float32ProductsThatMustOverflow) {
  // The same in float32, whose products of finite floats reach 1e77: a float32 accumulator (with
  // or without FMA) returns NaN here, which the float32 reference and the optimized kernels do.
  const Case c = CaseOf<float>("mb1ic2ih1oc1kh1", {1e30, 1e30}, {1e30, -1e30}, 1.0);
  const Truth t = compute_truth(c);
  EXPECT_FALSE(Judge<float>(c, t, {12345.0}, DType::kFloat32).passed());
  EXPECT_TRUE(Judge<float>(c, t, {NAN}, DType::kFloat32).passed());
  const Registry reg = builtin_registry();
  for (const Implementation& impl : reg.all()) {
    if (impl.input != DType::kFloat32 || impl.exact || impl.pass != Pass::kForward) continue;
    const AnyTensor y = impl.run(c.problem.params, c.x, c.w, &*c.b);
    const Arithmetic a = arithmetic_of(impl);
    const Report r = compare_outputs(t, y, case_bound(c, a), nullptr, impl.output, a);
    EXPECT_TRUE(r.passed()) << impl.name << "\n" << format_report(r);
  }
}

// Issue 14, item 3: where only the positive terms can overflow, -inf and NaN were accepted too.
TEST(CompareRegression, OnlyTheSignThatCanOverflowIsAccepted) {
  // float32: 3e38 + 3e38 overflows towards +inf in every order; -1 cannot make it negative.
  const Case c = CaseOf<float>("mb1ic3ih1oc1kh1", {3e38, 3e38, -1.0}, {1.0, 1.0, 1.0}, 0.5);
  const Truth t = compute_truth(c);
  EXPECT_TRUE(Judge<float>(c, t, {INFINITY}, DType::kFloat32).passed());
  EXPECT_FALSE(Judge<float>(c, t, {-INFINITY}, DType::kFloat32).passed());
  EXPECT_FALSE(Judge<float>(c, t, {NAN}, DType::kFloat32).passed());
  EXPECT_FALSE(Judge<float>(c, t, {3.4e38}, DType::kFloat32).passed());  // 6e38 is not finite
  // Both signs large: either infinity and NaN are possible (e.g. (3e38 + 3e38) + (-3e38 - 3e38)).
  const Case both = CaseOf<float>("mb1ic4ih1oc1kh1", {3e38, 3e38, -3e38, -3e38}, {1, 1, 1, 1}, {});
  const Truth tb = compute_truth(both);
  for (double v : {static_cast<double>(INFINITY), -static_cast<double>(INFINITY),
                   static_cast<double>(NAN), 0.0}) {
    EXPECT_TRUE(Judge<float>(both, tb, {v}, DType::kFloat32).passed()) << v;
  }
}

// Found by the verdict fuzzer: an infinite input next to finite terms of the other sign that can
// overflow. Summed in float16, 40000 + 40000 is +inf, which then meets the -inf input: NaN, a
// correct result although the truth is -inf. With small finite terms NaN is impossible.
TEST(CompareRegression, AnInfiniteInputMayMeetAnOverflowOfTheOtherSign) {
  const double inf = std::numeric_limits<double>::infinity();
  const Case big = CaseOf<float16>("mb1ic3ih1oc1kh1", {-inf, 40000, 40000}, {1, 1, 1}, {});
  const Truth tb = compute_truth(big);
  ASSERT_TRUE(boost::multiprecision::isinf(tb.expected.data[0]));
  EXPECT_TRUE(Judge<float16>(big, tb, {-inf}, DType::kFloat16).passed());
  EXPECT_TRUE(Judge<float16>(big, tb, {NAN}, DType::kFloat16).passed());
  EXPECT_FALSE(Judge<float16>(big, tb, {inf}, DType::kFloat16).passed());
  const Case small = CaseOf<float16>("mb1ic3ih1oc1kh1", {-inf, 1, 1}, {1, 1, 1}, {});
  const Truth ts = compute_truth(small);
  EXPECT_TRUE(Judge<float16>(small, ts, {-inf}, DType::kFloat16).passed());
  EXPECT_FALSE(Judge<float16>(small, ts, {NAN}, DType::kFloat16).passed());
}

}  // namespace
}  // namespace convt2d
