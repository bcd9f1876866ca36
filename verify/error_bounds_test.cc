// Certified error bounds: gamma, tap counts, and the per-element bound on concrete data.
#include "convt2d/error_bounds.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "convt2d/bounds.h"
#include "convt2d/reference.h"

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

TEST(ElementBound, ZeroTapsMeansExactBias) {
  EXPECT_EQ(element_bound(0, 0.0, 123.0, kFloat32Precision), 0.0);
  const double b = element_bound(3, 10.0, 2.0, kFloat32Precision);
  EXPECT_GE(b, gamma(4, 0x1p-24) * 10.0 + gamma(3, 0x1p-24) * 2.0 + 3 * 0x1p-150);
  EXPECT_LE(b, gamma(4, 0x1p-24) * 12.0 * (1 + 1e-12));  // within the classical gamma(K+1)(|b|+S)
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
  // Row 1 has K=1: gamma(2)*|2.5*0.1| + gamma(1)*0.7 + eta.
  EXPECT_GE(bound.data[1], gamma(2, 0x1p-24) * 2.5 * 0.1f + gamma(1, 0x1p-24) * 0.7f);
  EXPECT_LE(bound.data[1], 1.01 * (gamma(2, 0x1p-24) * 2.5 * 0.1f + gamma(1, 0x1p-24) * 0.7f));
}

}  // namespace
}  // namespace convt2d
