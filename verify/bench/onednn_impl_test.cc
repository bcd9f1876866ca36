// oneDNN through the registry, judged by the compare module like any implementation: on integer
// data every partial sum is exact, so onednn-best and onednn-nchw must equal the exact result bit
// for bit (a wrong padding_r, dilation, weight transpose or group offset fails here).
#include "onednn_impl.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <iterator>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "convt2d/compare.h"
#include "convt2d/error.h"
#include "convt2d/fill.h"
#include "runner.h"

namespace convt2d {
namespace {

// Problems covering every parameter the mapping to oneDNN touches.
const char* const kProblems[] = {
    "mb2ic8ih5oc12kh3sh2ph1oph1g4",                     // groups, output_padding, N = 2
    "mb1ic4ih5oc4kh3ph2dh2",                            // dilation
    "mb1ic3ih4iw7oc5kh3kw2sh2sw3ph1pw0oph1opw2dh1dw2",  // asymmetric everything
    "mb2ic6ih4oc6kh3sh2ph1bias0",                       // no bias
    "mb1ic8ih6oc8kh4sh2ph1g8",                          // depthwise
    "mb1ic2ih3oc2kh2kw1sh4sw1ph3pw0",                   // padding beyond the kernel
    "mb1ic3ih3oc2kh3sh2oph1",                           // output_padding > padding
    "mb2ic16ih4oc8kh4sh2ph1",                           // DCGAN-like
    "mb1ic32ih6oc24kh4sh2ph1g2",                        // wider channels, groups
    "mb1ic16ih5oc16kh3sh1ph1dh3dw2",                    // stride 1, dilation, padding
};

Registry onednn_registry() {
  Registry r;
  bench::add_onednn(r);
  return r;
}

Case integer_case(const std::string& problem, uint64_t seed) {
  const Problem pr = parse_problem(problem);
  const auto d = make_data<float>(pr, Regime::kInteger, seed);
  return Case{pr, d.x, d.w, pr.params.bias ? std::optional<AnyTensor>(d.b) : std::nullopt};
}

// Exact equality with the 640-bit truth (a zero bound).
void expect_exact(const Case& c, const AnyTensor& y, const std::string& what) {
  const Truth truth = compute_truth(c);
  const Tensor<double> zero(truth.expected.shape);
  const Report r =
      compare_outputs(truth, y, zero, nullptr, DType::kFloat32, Arithmetic{kFloat32Precision});
  EXPECT_TRUE(r.passed()) << what << " on " << format_problem(c.problem) << "\n"
                          << format_report(r);
}

class OnednnExact : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(OnednnExact, RunAndPreparedEqualTheExactResult) {
  const auto& [name, problem] = GetParam();
  const Registry r = onednn_registry();
  const Implementation& impl = r.get(name);
  EXPECT_EQ(impl.input, DType::kFloat32);
  EXPECT_EQ(impl.accumulation.u, kFloat32Precision.u);
  const Case c = integer_case(problem, 7);
  const AnyTensor* b = c.b ? &*c.b : nullptr;
  expect_exact(c, impl.run(c.problem.params, c.x, c.w, b), name + " run()");

  // The timed path: prepared with 2 threads, executed twice (the second must not accumulate).
  const Prepared pp = prepared(impl, c.problem.params, c.w, b, 2);
  pp.load(c.x);
  pp.execute();
  pp.execute();
  expect_exact(c, pp.store(), name + " prepared()");
}

std::string test_name(const ::testing::TestParamInfo<std::tuple<std::string, std::string>>& param) {
  std::string s = std::get<0>(param.param) + "_" + std::get<1>(param.param);
  for (char& ch : s) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return s;
}

INSTANTIATE_TEST_SUITE_P(
    All, OnednnExact,
    ::testing::Combine(::testing::Values(std::string("onednn-best"), std::string("onednn-nchw")),
                       ::testing::ValuesIn(std::vector<std::string>(std::begin(kProblems),
                                                                    std::end(kProblems)))),
    test_name);

// On real and near-cancelling data, float32 accumulation stays within the certified bound.
TEST(Onednn, RealDataWithinTheCertifiedFloat32Bound) {
  const Registry r = onednn_registry();
  for (const Implementation& impl : r.all()) {
    if (impl.pass != Pass::kForward) continue;  // the backward entries: OnednnBackward
    for (const Regime regime : {Regime::kReal, Regime::kCancellation}) {
      for (const char* problem : {"mb2ic64ih5oc16kh4sh2ph1", "mb1ic16ih6oc16kh3sh2ph1oph1g4"}) {
        const Problem pr = parse_problem(problem);
        const auto d = make_data<float>(pr, regime, 11);
        const Case c{pr, d.x, d.w, std::optional<AnyTensor>(d.b)};
        const Truth truth = compute_truth(c);
        const Tensor<double> bound = case_bound(c, arithmetic_of(impl));
        const Report rep = compare_outputs(truth, impl.run(pr.params, c.x, c.w, &*c.b), bound,
                                           nullptr, DType::kFloat32, arithmetic_of(impl));
        EXPECT_TRUE(rep.passed()) << impl.name << " " << problem << " " << to_string(regime) << "\n"
                                  << format_report(rep);
      }
    }
  }
}

TEST(Onednn, ReloadingAnotherBatchRebuildsThePrimitive) {
  const Registry r = onednn_registry();
  for (const Implementation& impl : r.all()) {
    if (impl.pass != Pass::kForward) continue;  // the backward entries: OnednnBackward
    const Case c3 = integer_case("mb3ic8ih5oc4kh3sh2ph1", 3);
    const Problem p1 = parse_problem("mb1ic8ih5oc4kh3sh2ph1");
    const Case c1{p1, make_tensor<float>(input_shape(p1), Regime::kInteger, 5, integer_range(p1)),
                  c3.w, c3.b};  // the same weights and bias
    const Prepared pp = prepared(impl, c3.problem.params, c3.w, &*c3.b, 0);
    pp.load(c3.x);
    pp.execute();
    expect_exact(c3, pp.store(), impl.name + " N=3");
    pp.load(c1.x);
    pp.execute();
    expect_exact(c1, pp.store(), impl.name + " N=1 after N=3");
  }
}

TEST(Onednn, EmptyBatchGivesAnEmptyOutput) {
  const Registry r = onednn_registry();
  for (const Implementation& impl : r.all()) {
    if (impl.pass != Pass::kForward) continue;  // the backward entries: OnednnBackward
    const Case c = integer_case("mb0ic4ih3oc4kh3sh2", 1);
    const AnyTensor y = impl.run(c.problem.params, c.x, c.w, &*c.b);
    EXPECT_EQ(shape_of(y), (Shape{0, 4, 7, 7})) << impl.name;
  }
}

// The backward entries (bwd_data, bwd_weights) judged like any implementation: bit for bit on
// integer data (exact partial sums), within the certified float32 bound on real and
// cancellation data; through run_pass and through the timed path, prepared() executed twice.
class OnednnBackward : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(OnednnBackward, RunAndPreparedAreCorrect) {
  const auto& [name, problem] = GetParam();
  const Registry r = onednn_registry();
  const Problem pr = parse_problem(problem);
  for (Pass pass : {Pass::kBwdData, Pass::kBwdWeights}) {
    const Implementation& impl = r.get(name, pass);
    EXPECT_EQ(impl.input, DType::kFloat32);
    for (const Regime regime : {Regime::kInteger, Regime::kReal, Regime::kCancellation}) {
      const auto d = make_data<float>(pr, regime, 9, pass);
      const Case c{pr, d.x, d.w, std::nullopt, pass, AnyTensor(d.dy)};
      const Truth truth = compute_truth(c);
      const Tensor<double> bound = regime == Regime::kInteger ? Tensor<double>(truth.expected.shape)
                                                              : case_bound(c, arithmetic_of(impl));
      const auto judge = [&](const AnyTensor& y, const char* how) {
        const Report rep =
            compare_outputs(truth, y, bound, nullptr, DType::kFloat32, arithmetic_of(impl));
        EXPECT_TRUE(rep.passed()) << name << " " << to_string(pass) << " " << how << " " << problem
                                  << " " << to_string(regime) << "\n"
                                  << format_report(rep);
      };
      judge(invoke(impl, pr.params, c.operands()), "run_pass");
      const Prepared pp = prepared(impl, pr.params, c.operands(), 2);
      pp.execute();
      pp.execute();  // the second must not accumulate onto the first
      judge(pp.store(), "prepared");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    All, OnednnBackward,
    ::testing::Combine(::testing::Values(std::string("onednn-best"), std::string("onednn-nchw")),
                       ::testing::ValuesIn(std::vector<std::string>(std::begin(kProblems),
                                                                    std::end(kProblems)))),
    test_name);

TEST(Onednn, BackwardEmptyBatch) {
  const Registry r = onednn_registry();
  const Problem pr = parse_problem("mb0ic4ih3oc6kh3sh2g2");
  for (Pass pass : {Pass::kBwdData, Pass::kBwdWeights}) {
    for (const char* name : {"onednn-best", "onednn-nchw"}) {
      const auto d = make_data<float>(pr, Regime::kInteger, 1, pass);
      const Case c{pr, d.x, d.w, std::nullopt, pass, AnyTensor(d.dy)};
      const AnyTensor y = invoke(r.get(name, pass), pr.params, c.operands());
      EXPECT_EQ(shape_of(y), result_shape(pr, pass)) << name;
      for (float v : std::get<Tensor<float>>(y).data) EXPECT_EQ(v, 0.0f) << name;
    }
  }
}

TEST(Onednn, RejectsWhatItCannotTake) {
  const Registry r = onednn_registry();
  const Implementation& impl = r.get("onednn-best");
  const Case c = integer_case("mb1ic4ih3oc4kh3sh2", 1);
  const Params& p = c.problem.params;
  // float64 input, a weight of the wrong shape, a missing bias, execute() before load().
  const AnyTensor x64 = tensor_cast<double>(std::get<Tensor<float>>(c.x));
  EXPECT_THROW(impl.run(p, x64, c.w, &*c.b), Error);
  const AnyTensor w_bad = Tensor<float>(Shape{4, 4, 3, 2});
  EXPECT_THROW(impl.run(p, c.x, w_bad, &*c.b), Error);
  EXPECT_THROW(impl.run(p, c.x, c.w, nullptr), Error);
  const Prepared pp = prepared(impl, p, c.w, &*c.b, 1);
  EXPECT_THROW(pp.execute(), Error);
  const AnyTensor x_bad = Tensor<float>(Shape{1, 3, 3, 3});  // 3 channels, in_channels = 4
  EXPECT_THROW(pp.load(x_bad), Error);
}

TEST(BenchRegistry, HoldsTheBuiltinsAndBothOnednnVariants) {
  const Registry r = bench::bench_registry();
  EXPECT_NE(r.find("reference"), nullptr);
  EXPECT_NE(r.find("onednn-best"), nullptr);
  EXPECT_NE(r.find("onednn-nchw"), nullptr);
  const bench::Selection s = bench::select_impls(r, {});
  for (const Implementation* i : s.impls) {
    EXPECT_NE(std::find(bench::default_impls().begin(), bench::default_impls().end(), i->name),
              bench::default_impls().end());
  }
  EXPECT_EQ(s.impls.size() + s.notes.size(), bench::default_impls().size());
  EXPECT_THROW(bench::select_impls(r, {"no-such-impl"}), Error);
}

TEST(BenchRegistry, SkipsOnlyReferencesOverTheLimit) {
  const Registry r = bench::bench_registry();
  const Problem big = parse_problem("mb1ic64ih32oc64kh4sh2ph1");  // 67M multiply-adds
  EXPECT_NE(bench::skip_reason(r.get("reference"), big, 5e7), "");
  EXPECT_EQ(bench::skip_reason(r.get("reference"), big, 1e8), "");
  EXPECT_EQ(bench::skip_reason(r.get("onednn-best"), big, 5e7), "");
  EXPECT_DOUBLE_EQ(bench::flops(big), 2 * macs(big));
}

TEST(BenchRegistry, SkipsWhatExceedsMaxBytesBeforeAllocatingIt) {
  const Registry r = bench::bench_registry();
  // As float64: x 512 KiB, w 512 KiB, y 2 MiB.
  const Problem pr = parse_problem("mb1ic64ih32oc64kh4sh2ph1");
  for (const char* impl : {"optimized", "onednn-best", "reference"}) {
    const std::string why = bench::skip_reason(r.get(impl), pr, 1e12, 1 << 20);
    EXPECT_NE(why.find("--max-bytes"), std::string::npos) << impl << ": " << why;
    EXPECT_EQ(bench::skip_reason(r.get(impl), pr, 1e12, 64 << 20), "") << impl;
  }
  // The tensors fit, the declared working memory does not.
  Implementation greedy = r.get("optimized");
  greedy.working_bytes = [](const Problem&) { return int64_t{64} << 20; };
  const std::string why = bench::skip_reason(greedy, pr, 1e12, 32 << 20);
  EXPECT_NE(why.find("working memory"), std::string::npos) << why;
  EXPECT_EQ(bench::skip_reason(greedy, pr, 1e12, 64 << 20), "");
}

}  // namespace
}  // namespace convt2d
