// Test data regimes and the registry of built-in implementations.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "convt2d/bounds.h"
#include "convt2d/error.h"
#include "convt2d/fill.h"
#include "convt2d/implementations.h"
#include "convt2d/reference.h"

namespace convt2d {
namespace {

TEST(Fill, DeterministicForASeedAndDifferentAcrossSeeds) {
  const Problem pr = parse_problem("mb2ic4ih3iw5oc6kh3sh2g2");
  for (Regime r : {Regime::kInteger, Regime::kReal, Regime::kCancellation}) {
    const auto a = make_data<float>(pr, r, 42), b = make_data<float>(pr, r, 42);
    const auto c = make_data<float>(pr, r, 43);
    EXPECT_EQ(a.x, b.x);
    EXPECT_EQ(a.w, b.w);
    EXPECT_EQ(a.b, b.b);
    EXPECT_NE(a.x, c.x) << to_string(r);
    EXPECT_EQ(a.x.shape, input_shape(pr));
    EXPECT_EQ(a.w.shape, weight_shape(pr.params));
    EXPECT_EQ(a.b.shape, bias_shape(pr.params));
  }
  // A pinned value: the stream must not change under anyone's feet (gen cases are shared).
  // splitmix64(seed 1) first output >> 11, times 2^-52, minus 1, rounded to float (computed
  // independently in Python).
  const auto d = make_data<float>(parse_problem("ic1ih1oc1kh1"), Regime::kReal, 1);
  EXPECT_EQ(d.x.data[0], 0x1.10a2dep-3f);
  EXPECT_EQ(make_data<float>(parse_problem("ic1ih1oc1kh1bias0"), Regime::kReal, 1).bias(), nullptr);
}

TEST(Fill, IntegerRegimeSumsAreExactInFloat) {
  // The largest K in the bench suite (ic2048 k4): R must shrink so R^2*K + R < 2^24.
  const Problem big = parse_problem("mb1ic2048ih2oc4kh4sh2ph1");
  const int64_t r = integer_range(big);
  EXPECT_LT(r * r * 2048 * 16 + r, int64_t{1} << 24);
  EXPECT_GE(r, 1);
  const Problem pr = parse_problem("mb1ic64ih4oc8kh4sh2ph1");
  const auto d = make_data<float>(pr, Regime::kInteger, 3);
  for (float v : d.x.data) {
    EXPECT_EQ(v, std::round(v));
    EXPECT_LE(std::fabs(v), integer_range(pr));
  }
  // Float accumulation of integer data equals the exact result bit for bit.
  const auto f = conv_transpose2d<float, float>(pr.params, d.x, d.w, d.bias());
  const auto e = conv_transpose2d<float, Exact>(pr.params, d.x, d.w, d.bias());
  EXPECT_EQ(f, round_to<float>(e));
}

TEST(Fill, CancellationRegimeCancels) {
  // |y| is far below sum|w*x|: the regime really produces near-cancelling sums.
  const Problem pr = parse_problem("mb1ic8ih4oc2kh3bias0");
  const auto d = make_data<double>(pr, Regime::kCancellation, 5);
  Params no_bias = pr.params;
  const auto y = conv_transpose2d<double, long double>(no_bias, d.x, d.w, nullptr);
  Tensor<double> ax = d.x, aw = d.w;
  for (double& v : ax.data) v = std::fabs(v);
  for (double& v : aw.data) v = std::fabs(v);
  const auto s = conv_transpose2d<double, long double>(no_bias, ax, aw, nullptr);
  long double ratio = 0;
  for (size_t i = 0; i < y.data.size(); ++i)
    ratio = std::max(ratio, std::fabs(y.data[i]) / s.data[i]);
  EXPECT_LT(ratio, 0.01L);
  EXPECT_THROW(parse_regime("random"), Error);
}

TEST(Registry, BuiltinsAreNamedAndRunnable) {
  const Registry r = builtin_registry();
  for (const char* name : {"reference", "reference-f32", "reference-double", "reference-mp"}) {
    ASSERT_NE(r.find(name), nullptr) << name;
  }
  EXPECT_TRUE(r.get("reference-mp").exact);
  EXPECT_EQ(r.get("reference").output, DType::kFloat64);
  EXPECT_EQ(r.get("reference-f32").output, DType::kFloat32);
  try {
    r.get("cudnn");
    ADD_FAILURE() << "unknown name accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("'cudnn'"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("reference-mp"));
  }
  Registry copy = r;
  EXPECT_THROW(copy.add(r.get("reference")), Error);  // duplicate name
  // Every float32 implementation agrees with the exact reference within its certified bound.
  const Problem pr = parse_problem("mb2ic6ih3iw4oc4kh3sh2ph1oph1g2");
  const auto d = make_data<float>(pr, Regime::kReal, 9);
  const auto exact = conv_transpose2d<float, Exact>(pr.params, d.x, d.w, d.bias());
  const AnyTensor x = d.x, w = d.w, b = d.b;
  for (const Implementation& impl : r.all()) {
    if (impl.input != DType::kFloat32) continue;
    const AnyTensor y = impl.run(pr.params, x, w, &b);
    ASSERT_EQ(dtype_of(y), impl.output) << impl.name;
    const auto bound =
        certified_bound(pr.params, d.x, d.w, d.bias(), impl.accumulation, impl.output_u);
    std::visit(
        [&](const auto& yt) {
          ASSERT_EQ(yt.shape, exact.shape);
          for (size_t i = 0; i < yt.data.size(); ++i) {
            const double err = static_cast<double>(abs(Exact(yt.data[i]) - exact.data[i]));
            ASSERT_LE(err, bound.data[i]) << impl.name << " element " << i;
          }
        },
        y);
  }
}

}  // namespace
}  // namespace convt2d
