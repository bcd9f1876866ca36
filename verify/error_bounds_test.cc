// Certified error bounds: gamma, tap counts, and the per-element bound on concrete data.
#include "convt2d/error_bounds.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "convt2d/bounds.h"
#include "convt2d/fill.h"
#include "convt2d/reference.h"
#include "convt2d/registry.h"

namespace convt2d {
namespace {

TEST(Gamma, MatchesFormulaAndRoundsUp) {
  const double u = 0x1p-24;
  for (int64_t n : {1, 2, 3, 10, 1000, 123456}) {
    const long double exact = n * (long double)u / (1 - n * (long double)u);
    EXPECT_GE(static_cast<long double>(gamma(n, u)), exact) << n;
    EXPECT_LE(gamma(n, u), static_cast<double>(exact) * (1 + 1e-15)) << n;  // and not loose
  }
  EXPECT_EQ(gamma(0, u), 0.0);
  EXPECT_TRUE(std::isinf(gamma(int64_t{1} << 24, u)));  // n*u >= 1: no bound exists
  EXPECT_TRUE(std::isinf(gamma(std::numeric_limits<int64_t>::max(), 0x1p-53)));
}

// (1 + u)^n - 1 in 640-bit arithmetic (relative error far below 2^-600 for these n).
Exact exact_growth(int64_t n, double u) {
  return boost::multiprecision::pow(Exact(1) + Exact(u), Exact(n)) - 1;
}

TEST(RoundingGrowth, BracketsTheExactPowerAndNeverExceedsGamma) {
  for (const double u : {0x1p-8, 0x1p-11, 0x1p-24, 0x1p-53, 0x1p-64}) {
    for (const int64_t n : {int64_t{1}, int64_t{2}, int64_t{7}, int64_t{255}, int64_t{256},
                            int64_t{2047}, int64_t{100000}, int64_t{1} << 24, int64_t{1} << 40}) {
      const double g = rounding_growth(n, u);
      const Exact want = exact_growth(n, u);
      if (!std::isfinite(g)) {
        EXPECT_GT(want, Exact(std::numeric_limits<double>::max())) << n << " " << u;
        continue;
      }
      EXPECT_GE(Exact(g), want) << n << " " << u;  // an upper bound...
      // ...and a tight one: the series bound is within 1 + z/5000 of it, the power within 1e-9.
      const double slack = 1 + 1e-9 + static_cast<double>(n) * u / 5000;
      EXPECT_LE(Exact(g), want * Exact(slack)) << n << " " << u;
      EXPECT_LE(g, gamma(n, u)) << n << " " << u;  // never looser than the classical gamma
    }
  }
  EXPECT_EQ(rounding_growth(0, 0x1p-24), 0.0);
  // Finite where gamma does not exist (n*u >= 1): bfloat16 over 256 taps, float16 over 2048.
  EXPECT_TRUE(std::isinf(gamma(256, 0x1p-8)));
  EXPECT_NEAR(rounding_growth(256, 0x1p-8), std::expm1(256 * std::log1p(0x1p-8)), 1e-9);
  EXPECT_TRUE(std::isfinite(rounding_growth(int64_t{1} << 62, 0x1p-64)));
  EXPECT_TRUE(std::isinf(rounding_growth(int64_t{1} << 62, 0x1p-24)));  // e^(2^38)
}

TEST(ElementBound, ZeroTapsMeansExactBias) {
  const double u = 0x1p-24;
  EXPECT_EQ(element_bound(0, 0.0, 123.0, kFloat32Precision), 0.0);
  const double b = element_bound(3, 10.0, 2.0, kFloat32Precision);
  const double want =
      rounding_growth(4, u) * 10.0 + rounding_growth(3, u) * 2.0 + 3 * 0x1p-150 * (1 + 3 * u);
  EXPECT_GE(b, want);
  EXPECT_LE(b, want * (1 + 1e-12));
  EXPECT_LE(b, gamma(4, u) * 12.0 * (1 + 1e-12));  // within the classical gamma(K+1)(|b|+S)
}

TEST(ElementBound, ExtraRoundingsActLikeOneMoreTap) {
  // x extra roundings per term: g(K+1+x) S + g(K+x) |b| + (K+x) eta (1 + g(K+x)), which is the
  // standard formula at K + x; and still 0 without taps.
  for (int64_t k : {1, 5, 100}) {
    EXPECT_EQ(element_bound(k, 3.0, 0.5, kFloat16Precision, 1),
              element_bound(k + 1, 3.0, 0.5, kFloat16Precision));
  }
  EXPECT_EQ(element_bound(0, 3.0, 0.5, kFloat16Precision, 1), 0.0);
}

TEST(ElementBound, FiniteForEveryTapCount) {
  // bfloat16 accumulation has no gamma bound beyond 255 terms, float16 beyond 2047; the bound
  // with (1 + u)^n - 1 exists for every K and grows continuously through those counts.
  for (const auto& [prec, k] :
       {std::pair{kBFloat16Precision, int64_t{255}}, std::pair{kBFloat16Precision, int64_t{575}},
        std::pair{kFloat16Precision, int64_t{2047}},
        std::pair{kFloat16Precision, int64_t{16384}}}) {
    const double b = element_bound(k, 1.0, 0.0, prec);
    EXPECT_TRUE(std::isfinite(b)) << k;
    EXPECT_GE(Exact(b), exact_growth(k + 1, prec.u)) << k;
    EXPECT_LT(element_bound(k - 1, 1.0, 0.0, prec), b) << k;
  }
  // Where (1 + u)^(K+1) - 1 passes the format's largest value, a finite result can still be at
  // most that far: the bound is max + sum|w*x| + |b|, for every K (float16 65536 taps: the
  // classical growth is 7.8e13; bfloat16 250000 taps: (1 + 2^-8)^250001 overflows double and
  // the growth times a zero bias made the bound NaN).
  for (const auto& [bias, cap] : {std::pair{0.0, 65505.0}, std::pair{2.0, 65507.0}}) {
    const double b = element_bound(65536, 1.0, bias, kFloat16Precision);  // rounded up a little
    EXPECT_GE(b, cap);
    EXPECT_LE(b, cap * (1 + 0x1p-50));
  }
  for (int64_t k : {int64_t{250000}, int64_t{1} << 40}) {
    const double b = element_bound(k, 1.0, 0.0, kBFloat16Precision);
    EXPECT_TRUE(std::isfinite(b)) << k;
    EXPECT_GE(b, 0x1.fep127) << k;
    EXPECT_LE(b, 0x1.fep127 * (1 + 0x1p-50)) << k;
    EXPECT_FALSE(std::isnan(element_bound(k, 0.0, 0.0, kBFloat16Precision))) << k;
  }
  // K = 576 taps (64 channels, 3x3) in bfloat16: about 8.5 times |sum w*x|, not infinity.
  EXPECT_NEAR(element_bound(576, 1.0, 0.0, kBFloat16Precision), 8.5, 0.1);
  // Sums of float64 products beyond double's range keep a finite bound in long double.
  const long double huge = 1e400L;
  const long double e = element_bound_extended(2, huge, 1.0L, kFloat64Precision);
  EXPECT_TRUE(std::isfinite(e));
  EXPECT_GE(e, huge * 3 * 0x1p-53L);
  EXPECT_LE(e, huge * 3.01L * 0x1p-53L);
}

TEST(Overflow, ThresholdsAreWhereRoundingToNearestOverflows) {
  // float32: the largest float plus half its ulp; float16: 65520; bfloat16: 2^128 - 2^119.
  EXPECT_EQ(overflow_threshold(kFloat32Precision), 0x1.fffffep127L + 0x1p103L);
  EXPECT_EQ(overflow_threshold(kFloat16Precision), 65520.0L);
  EXPECT_EQ(overflow_threshold(kBFloat16Precision), 0x1p128L - 0x1p119L);
  EXPECT_EQ(overflow_threshold(kFloat64Precision), 0x1p1024L - 0x1p970L);
  // Checked against the formats' own rounding: just below rounds to the largest finite value.
  EXPECT_TRUE(std::isinf(static_cast<float>(static_cast<double>(0x1.fffffep127L + 0x1p103L))));
  EXPECT_FALSE(std::isinf(static_cast<float>(static_cast<double>(0x1.fffffep127L + 0x1p102L))));
  EXPECT_TRUE(std::isinf(float16(65520.0).to_float()));
  EXPECT_FALSE(std::isinf(float16(65519.0).to_float()));
  EXPECT_TRUE(std::isinf(static_cast<double>(0x1p1024L - 0x1p970L)));
  EXPECT_FALSE(std::isinf(static_cast<double>(0x1p1024L - 0x1p970L - 0x1p962L)));
  EXPECT_TRUE(std::isinf(overflow_threshold(Precision{0x1p-64, 0x1p-1074})));  // max unknown
}

TEST(Overflow, IntermediateLimitCoversTheRoundingsOfEveryOrder) {
  // m (1 + g(K+1+x)) plus the underflow terms, and one or two output roundings on top.
  Arithmetic f32;
  EXPECT_GE(intermediate_limit(10, 100.0L, f32), 100.0L * (1 + rounding_growth(11, 0x1p-24)));
  EXPECT_LE(intermediate_limit(10, 100.0L, f32),
            100.0L * (1 + rounding_growth(11, 0x1p-24)) * (1 + 1e-15L));
  const Arithmetic h32 = claimed_arithmetic(DType::kFloat16, ComputeMode::kFloat32);
  EXPECT_GE(intermediate_limit(10, 100.0L, h32), 100.0L * (1 + 0x1p-11L) * (1 + 0x1p-11L));
  EXPECT_LE(intermediate_limit(0, 0.0L, f32), 1e-4900L);  // nothing but roundings up of 0
}

TEST(TapCounts, HandExample) {
  // k3 s2 p1 op1 on 2 rows: rows get 1, 2, 1, 1 taps (see reference_test).
  Problem pr;
  pr.ih = 2;
  pr.iw = 3;
  pr.params.in_channels = 6;
  pr.params.out_channels = 4;
  pr.params.groups = 2;
  pr.params.kernel_size = 3;
  pr.params.stride = 2;
  pr.params.padding = 1;
  pr.params.output_padding = 1;
  EXPECT_EQ(taps_per_row(pr), (std::vector<int64_t>{1, 2, 1, 1}));
  EXPECT_EQ(taps_per_col(pr), (std::vector<int64_t>{1, 2, 1, 2, 1, 1}));
  const auto rows = taps_per_row(pr), cols = taps_per_col(pr);
  EXPECT_EQ(taps_at(pr, rows, cols, 1, 3), 3 * 2 * 2);  // (IC/G) * 2 * 2
  // Padding beyond the kernel: rows 0 and 3 receive nothing.
  pr.ih = 3;
  pr.params.kernel_size = {2, 1};
  pr.params.stride = {4, 1};
  pr.params.padding = {3, 0};
  pr.params.output_padding = 0;
  EXPECT_EQ(taps_per_row(pr), (std::vector<int64_t>{0, 1, 1, 0}));
}

TEST(TapCounts, MatchReferenceOnOnes) {
  // K is what the reference counts when every x and w is 1 and there is no bias.
  Params p;
  p.in_channels = 4;
  p.out_channels = 2;
  p.groups = 2;
  p.kernel_size = {3, 4};
  p.stride = {2, 3};
  p.padding = {2, 1};
  p.output_padding = {1, 2};
  p.dilation = {2, 1};
  p.bias = false;
  Tensor<double> x(Shape{1, 4, 5, 4}), w(weight_shape(p));
  std::fill(x.data.begin(), x.data.end(), 1.0);
  std::fill(w.data.begin(), w.data.end(), 1.0);
  const auto y = conv_transpose2d<double, double>(p, x, w, nullptr);
  const Problem pr = problem_from_shapes(p, x.shape, w.shape, nullptr);
  const auto rows = taps_per_row(pr), cols = taps_per_col(pr);
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t oh = 0; oh < y.shape[2]; ++oh)
      for (int64_t ow = 0; ow < y.shape[3]; ++ow)
        EXPECT_EQ(y.at(0, c, oh, ow), static_cast<double>(taps_at(pr, rows, cols, oh, ow)));
}

TEST(CertifiedBound, HoldsForFloatAccumulationAndIsNotVacuous) {
  // Float-accumulated reference vs the exact one on random reals: |err| <= bound everywhere, and
  // the largest err/bound is reported as evidence the bound is not absurdly loose.
  Params p;
  p.in_channels = 32;
  p.out_channels = 8;
  p.kernel_size = 4;
  p.stride = 2;
  p.padding = 1;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  Tensor<float> x(Shape{2, 32, 6, 6}), w(weight_shape(p)), b(bias_shape(p));
  for (auto* t : {&x, &w, &b})
    for (float& v : t->data) v = dist(rng);
  const auto exact = conv_transpose2d<float, Exact>(p, x, w, &b);
  const auto approx = conv_transpose2d<float, float>(p, x, w, &b);
  const auto bound = certified_bound(p, x, w, &b, kFloat32Precision);
  ASSERT_EQ(bound.shape, exact.shape);
  double worst = 0;
  for (size_t i = 0; i < exact.data.size(); ++i) {
    const double err = static_cast<double>(abs(Exact(approx.data[i]) - exact.data[i]));
    ASSERT_LE(err, bound.data[i]) << "element " << i;
    worst = std::max(worst, err / bound.data[i]);
  }
  RecordProperty("max_err_over_bound", std::to_string(worst));
  EXPECT_GT(worst, 1e-4);  // the float sums really do round, and the bound is within 10^4 of it
}

TEST(CertifiedBound, IsZeroWhereNoTapLands) {
  Params p;
  p.kernel_size = {2, 1};
  p.stride = {4, 1};
  p.padding = {3, 0};
  const Tensor<float> x(Shape{1, 1, 3, 1}, {1.5f, 2.5f, 3.5f});
  const Tensor<float> w(Shape{1, 1, 2, 1}, {0.1f, 0.3f});
  const Tensor<float> b(Shape{1, 1, 1, 1}, {0.7f});
  const auto bound = certified_bound(p, x, w, &b, kFloat32Precision);
  EXPECT_EQ(bound.data[0], 0.0);
  EXPECT_EQ(bound.data[3], 0.0);
  // Row 1 has K=1: g(2)*|2.5*0.1| + g(1)*0.7 + eta, g(n) = (1 + u)^n - 1.
  const double u = 0x1p-24;
  const double want = ((1 + u) * (1 + u) - 1) * 2.5 * 0.1f + u * 0.7f;
  EXPECT_GE(bound.data[1], want);
  EXPECT_LE(bound.data[1], 1.01 * want);
}

TEST(CertifiedBound, OutputRoundingWithTheBiasAfterByHand) {
  // One element, one tap, float16 data: x = 1.5, w = -1.25, b = 0.5, so s = -1.875, y = -1.375,
  // sum|w*x| = 1.875. compute_mode float32 (docs/error-bounds.md):
  //   e = g32(2)*1.875 + g32(1)*0.5 + 2^-150*(1 + g32(1))    (the accumulator, g(n) = (1+u)^n - 1)
  //   r = e + 2^-11*(|s| + e) + 2^-25                                    (rounded to float16)
  //   bound = r + 2^-11*(|y| + r)                                          (bias added in float16)
  Params p;
  const Tensor<float16> x(Shape{1, 1, 1, 1}, {float16(1.5)});
  const Tensor<float16> w(Shape{1, 1, 1, 1}, {float16(-1.25)});
  const Tensor<float16> b(Shape{1, 1, 1, 1}, {float16(0.5)});
  const Arithmetic a = {kFloat32Precision, 0, 0x1p-11, 0x1p-25, true};
  const long double u = 0x1p-24L;
  const long double e = ((1 + u) * (1 + u) - 1) * 1.875L + u * 0.5L + 0x1p-150L * (1 + u);
  const long double r = e + 0x1p-11L * (1.875L + e) + 0x1p-25L;
  const long double want = r + 0x1p-11L * (1.375L + r);
  const double got = certified_bound(p, x, w, &b, a).data[0];
  EXPECT_GE(static_cast<long double>(got), want);
  EXPECT_LE(static_cast<long double>(got), want * (1 + 1e-12L));  // |s|, |y| nearly exact here
  // The bias in the accumulator instead: e + 2^-11*(|y| + e) + 2^-25, smaller.
  Arithmetic in_acc = a;
  in_acc.bias_after_rounding = false;
  const long double want_in = e + 0x1p-11L * (1.375L + e) + 0x1p-25L;
  const double got_in = certified_bound(p, x, w, &b, in_acc).data[0];
  EXPECT_GE(static_cast<long double>(got_in), want_in);
  EXPECT_LE(static_cast<long double>(got_in), want_in * (1 + 1e-12L));
  EXPECT_LT(got_in, got);
}

// Every order a float16 backend may use lies within the bound of what it claims: the `float32`
// claim covers the float32 accumulator with the bias added after (MegEngine) or inside it; the
// `default` claim also covers the float16 accumulator. Random problems, real and cancellation data.
TEST(CertifiedBound, ClaimsCoverEveryOrderOfTheirMode) {
  const Arithmetic mode32 = claimed_arithmetic(DType::kFloat16, ComputeMode::kFloat32);
  const Arithmetic any = claimed_arithmetic(DType::kFloat16, ComputeMode::kDefault);
  double worst32 = 0, worst_default = 0;
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    const Problem pr = random_problem(seed);
    for (Regime regime : {Regime::kReal, Regime::kCancellation}) {
      const auto d = make_data<float16>(pr, regime, seed);
      const Params& p = pr.params;
      const auto exact = conv_transpose2d<float16, Exact>(p, d.x, d.w, d.bias());
      const auto megengine32 = conv_transpose2d_rounded<float16, float>(p, d.x, d.w, d.bias());
      const auto bias_in_acc =
          round_to<float16>(conv_transpose2d<float16, float>(p, d.x, d.w, d.bias()));
      const auto acc16 = conv_transpose2d<float16, float16>(p, d.x, d.w, d.bias());
      const auto b32 = certified_bound(p, d.x, d.w, d.bias(), mode32);
      const auto bany = certified_bound(p, d.x, d.w, d.bias(), any);
      for (size_t i = 0; i < exact.data.size(); ++i) {
        const auto err = [&](float16 v) {
          return static_cast<double>(abs(Exact(static_cast<double>(v)) - exact.data[i]));
        };
        for (const auto* y : {&megengine32, &bias_in_acc}) {
          ASSERT_LE(err(y->data[i]), b32.data[i]) << format_problem(pr) << " element " << i;
          ASSERT_LE(err(y->data[i]), bany.data[i]) << format_problem(pr) << " element " << i;
          if (b32.data[i] > 0) worst32 = std::max(worst32, err(y->data[i]) / b32.data[i]);
        }
        ASSERT_LE(err(acc16.data[i]), bany.data[i]) << format_problem(pr) << " element " << i;
        if (bany.data[i] > 0) {
          worst_default = std::max(worst_default, err(acc16.data[i]) / bany.data[i]);
        }
      }
    }
  }
  RecordProperty("max_err_over_bound_float32_mode", std::to_string(worst32));
  RecordProperty("max_err_over_bound_default_claim", std::to_string(worst_default));
  EXPECT_GT(worst32, 0.1);
  EXPECT_GT(worst_default, 0.1);
}

}  // namespace
}  // namespace convt2d
