// Test data regimes and the registry of built-in implementations.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "alloc_counter.h"
#include "convt2d/bounds.h"
#include "convt2d/case_dir.h"
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

TEST(Fill, HalfIntegerRangesKeepEveryPartialSumExact) {
  // K = (IC/G)*kh*kw = 9: float16 (11 bits): 2*(9R^2 + R) < 2048 up to R = 8; bfloat16 (8 bits):
  // 2*(9R^2 + R) < 256 up to R = 3.
  const Problem small = parse_problem("mb1ic1ih4oc2kh3sh2");
  EXPECT_EQ(integer_range(small, 11), 8);
  EXPECT_EQ(integer_range(small, 8), 3);
  EXPECT_TRUE(integer_exact(small, 8));
  // K = 1024: no range keeps float16 or bfloat16 sums exact, float32's still does.
  const Problem big = parse_problem("mb1ic64ih4oc8kh4sh2ph1");
  EXPECT_FALSE(integer_exact(big, 11));
  EXPECT_FALSE(integer_exact(big, 8));
  EXPECT_TRUE(integer_exact(big, 24));
  // Where exact, the storage-type accumulation reproduces the exact result bit for bit.
  const Problem pr = parse_problem("mb2ic6ih4oc4kh3sh2ph1g2");
  ASSERT_TRUE(integer_exact(pr, 8));
  const auto h = make_data<float16>(pr, Regime::kInteger, 5);
  const auto h16 = conv_transpose2d<float16, float16>(pr.params, h.x, h.w, h.bias());
  const auto hex = conv_transpose2d<float16, Exact>(pr.params, h.x, h.w, h.bias());
  EXPECT_EQ(tensor_cast<double>(h16), tensor_cast<double>(hex));
  const auto bf = make_data<bfloat16>(pr, Regime::kInteger, 5);
  const auto b16 = conv_transpose2d<bfloat16, bfloat16>(pr.params, bf.x, bf.w, bf.bias());
  const auto bex = conv_transpose2d<bfloat16, Exact>(pr.params, bf.x, bf.w, bf.bias());
  EXPECT_EQ(tensor_cast<double>(b16), tensor_cast<double>(bex));
  for (const float16 v : h.x.data) EXPECT_LE(std::fabs(v.to_float()), 8.0f);
}

TEST(Fill, HalfCancellationClimbsBeforeItCancels) {
  // First half of each group's channels: sign(w) = sign(x) for every pixel, so the channel-order
  // partial sum climbs to about half of sum|w*x|; the second half mirrors it with w negated and x
  // a few ulps away, so the result is far smaller than sum|w*x|.
  const Problem pr = parse_problem("mb2ic16ih3oc2kh2bias0g2");
  const auto d = make_data<float16>(pr, Regime::kCancellation, 4);
  const int64_t icg = 8, taps = 1 * 2 * 2, plane = 9;
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 16; ++c)
      for (int64_t i = 0; i < plane; ++i) {
        const float xv = d.x.data[static_cast<size_t>((n * 16 + c) * plane + i)].to_float();
        EXPECT_GE(std::fabs(xv), 0.9f);
        for (int64_t t = 0; t < taps; ++t) {
          const float wv = d.w.data[static_cast<size_t>(c * taps + t)].to_float();
          if (c % icg < icg / 2) EXPECT_GE(xv * wv, 0.0f) << c;
          if (c % icg >= icg / 2) {
            EXPECT_EQ(wv, -d.w.data[static_cast<size_t>((c - icg / 2) * taps + t)].to_float());
          }
        }
      }
  Tensor<float16> ax = d.x, aw = d.w;
  for (auto* t : {&ax, &aw})
    for (float16& v : t->data) v = float16(std::fabs(v.to_float()));
  const auto y = conv_transpose2d<float16, Exact>(pr.params, d.x, d.w, nullptr);
  const auto s = conv_transpose2d<float16, Exact>(pr.params, ax, aw, nullptr);
  double ratio = 0;
  for (size_t i = 0; i < y.data.size(); ++i) {
    ratio = std::max(ratio, static_cast<double>(abs(y.data[i]) / s.data[i]));
  }
  EXPECT_LT(ratio, 0.05);
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
  // Every implementation agrees with the exact reference of data in its input dtype, within its
  // certified bound.
  const Problem pr = parse_problem("mb2ic6ih3iw4oc4kh3sh2ph1oph1g2");
  for (const Implementation& impl : r.all()) {
    if (impl.pass != Pass::kForward) continue;  // backward_test.cc and the property suite
    const Case c = make_case(pr, impl.input, Regime::kReal, 9);
    const AnyTensor y = impl.run(pr.params, c.x, c.w, &*c.b);
    ASSERT_EQ(dtype_of(y), impl.output) << impl.name;
    const Tensor<Exact> exact = std::visit(
        [&](const auto& x) {
          using Tn = std::decay_t<decltype(x)>;
          return conv_transpose2d<typename Tn::value_type, Exact>(pr.params, x, std::get<Tn>(c.w),
                                                                  &std::get<Tn>(*c.b));
        },
        c.x);
    const Tensor<double> bound = std::visit(
        [&](const auto& x) {
          using Tn = std::decay_t<decltype(x)>;
          return certified_bound(pr.params, x, std::get<Tn>(c.w), &std::get<Tn>(*c.b),
                                 arithmetic_of(impl));
        },
        c.x);
    std::visit(
        [&](const auto& yt) {
          ASSERT_EQ(yt.shape, exact.shape);
          for (size_t i = 0; i < yt.data.size(); ++i) {
            const double err =
                static_cast<double>(abs(Exact(static_cast<double>(yt.data[i])) - exact.data[i]));
            ASSERT_LE(err, bound.data[i]) << impl.name << " element " << i;
          }
        },
        y);
  }
  // The half implementations are registered with the arithmetic of their compute_mode, and a
  // tensor of another dtype is an Error naming the implementation, not a crash.
  for (const char* name : {"reference-f16", "reference-f16-f32acc", "reference-f16-mp",
                           "reference-bf16", "reference-bf16-f32acc", "reference-bf16-mp"}) {
    ASSERT_NE(r.find(name), nullptr) << name;
  }
  EXPECT_EQ(r.get("reference-f16").input, DType::kFloat16);
  EXPECT_EQ(r.get("reference-f16").accumulation.u, 0x1p-11);
  EXPECT_TRUE(r.get("reference-f16-f32acc").bias_after_rounding);
  EXPECT_EQ(r.get("reference-bf16-f32acc").output_u, 0x1p-8);
  EXPECT_TRUE(r.get("reference-bf16-mp").exact);
  const auto d = make_data<float>(pr, Regime::kReal, 9);
  const AnyTensor x = d.x, w = d.w, b = d.b;
  try {
    r.get("reference-f16").run(pr.params, x, w, &b);
    ADD_FAILURE() << "float32 data accepted by a float16 implementation";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("reference-f16 input x: expected float16 data, "
                                               "got float32"));
  }
}

// An operand of a dtype the implementation does not read is an Error naming the implementation,
// never std::bad_variant_access, whichever entry point a caller uses: invoke() and prepared()
// (which packs, for the optimized kernels), for every registered implementation of every pass.
TEST(Registry, EveryImplementationRefusesAnotherDtypeWithAnError) {
  const Registry r = builtin_registry();
  const Problem pr = parse_problem("mb1ic4ih3oc4kh2sh2");
  int checked = 0;
  for (const Implementation& impl : r.all()) {
    const DType other = impl.input == DType::kFloat64 ? DType::kFloat32 : DType::kFloat64;
    const Case c = make_case(pr, other, Regime::kInteger, 3, impl.pass);
    const Operands o = c.operands();
    EXPECT_THROW(invoke(impl, pr.params, o), Error) << impl.name << " " << to_string(impl.pass);
    EXPECT_THROW(
        {
          Prepared run = prepared(impl, pr.params, o, 1);
          run.execute();
        },
        Error)
        << impl.name << " " << to_string(impl.pass) << " (prepared)";
    ++checked;
  }
  EXPECT_GT(checked, 20);
}

// One weight-shape check serves every implementation that reads w (forward, bwd_data): a weight
// with the right element count in the wrong shape is refused through invoke() and prepared()
// with the one message, naming both shapes.
TEST(Registry, EveryImplementationRefusesAWrongWeightShapeWithOneMessage) {
  const Registry r = builtin_registry();
  const Problem pr = parse_problem("mb1ic4ih3oc6kh2kw3sh2");
  const std::string want =
      "weight: shape (4, 6, 3, 2) does not match the parameters, which require (4, 6, 2, 3)";
  int checked = 0;
  for (const Implementation& impl : r.all()) {
    if (!reads_w(impl.pass)) continue;
    Case c = make_case(pr, impl.input, Regime::kInteger, 3, impl.pass);
    std::visit([](auto& t) { t.shape = {4, 6, 3, 2}; }, c.w);
    const Operands o = c.operands();
    for (const bool prepare : {false, true}) {
      try {
        if (prepare) {
          prepared(impl, pr.params, o, 1).execute();
        } else {
          invoke(impl, pr.params, o);
        }
        ADD_FAILURE() << impl.name << " " << to_string(impl.pass) << " took the weight";
      } catch (const Error& e) {
        EXPECT_EQ(e.subject(), "weight") << impl.name;
        EXPECT_EQ(std::string(e.what()), want) << impl.name << " " << to_string(impl.pass);
      }
    }
    ++checked;
  }
  EXPECT_GT(checked, 20);
}

TEST(Registry, WorkingBytesBoundWhatEachImplementationAllocates) {
  // Every built-in implementation declares its working memory, and a run (measured through
  // operator new, the returned y excepted) stays within it: the references' accumulator tensors,
  // the optimized kernels' plans and buffers, on ordinary layers and on a padding and dilation of
  // 2^61 with a seven-element output row.
  const Registry r = builtin_registry();
  for (const char* s : {"mb2ic6ih3iw4oc4kh3sh2ph1oph1g2", "mb1ic8ih4oc40kh4sh2ph1",
                        "mb1ic2ih1iw5oc3kh1kw3pw2305843009213693951dw2305843009213693952"}) {
    SCOPED_TRACE(s);
    const Problem pr = parse_problem(s);
    for (const Implementation& impl : r.all()) {
      ASSERT_TRUE(impl.working_bytes) << impl.name;
      const int64_t declared = impl.working_bytes(pr);
      const Case c = make_case(pr, impl.input, Regime::kReal, 3, impl.pass);
      int64_t y_bytes = 0;
      const int64_t peak = testing::peak_allocated_bytes([&] {
        const AnyTensor y = invoke(impl, pr.params, c.operands());
        y_bytes = std::visit(
            [](const auto& t) {
              return static_cast<int64_t>(t.data.size() * sizeof(t.data[0]) +
                                          t.shape.size() * sizeof(int64_t));
            },
            y);
      });
      EXPECT_LE(peak - y_bytes, declared) << impl.name;
      // The references hold one accumulator per element of their result and 1 KiB of
      // bookkeeping.
      const int64_t results = element_count(result_shape(pr, impl.pass));
      if (impl.name.rfind("reference", 0) == 0) {
        EXPECT_GE(declared, results * 2) << impl.name;
        EXPECT_LE(declared, results * kExactBytesPerElement + 1024) << impl.name;
      }
    }
  }
  // A count beyond int64 is an Error naming the quantity, not a wrapped number.
  const Problem huge = parse_problem("mb1ic1ih1iw288230376151711744oc1kh1");  // 2^58 outputs
  try {
    r.get("reference-mp").working_bytes(huge);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("accumulators"));
  }
}

}  // namespace
}  // namespace convt2d
