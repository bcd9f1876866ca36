// The backward passes' properties (issue 15): for every implementation under test of each pass,
// the gradients agree with the forward pass they differentiate, and each result lies within its
// certified bound of the exact one.
//
// L(x, w, b) = <ConvT(x, w, b), dy> is linear in each argument, so its gradients are exactly
// dx = bwd_data(dy, w), dW = bwd_weights(x, dy), db = bwd_bias(dy), and its finite differences
// with step 1 are exact. The forward side is always the exact reference (fixed point); the
// backward side is the implementation. On integer data whose every partial sum the input dtype
// holds (integer_exact of the pass) the identities are exact; otherwise each element may be off
// by its certified bound, which bounds the inner products' difference by sum |t_i| bound_i.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "convt2d/backward.h"
#include "convt2d/compare.h"
#include "convt2d/property_suite.h"
#include "generators.h"
#include "support.h"

namespace convt2d {
namespace {

using namespace props;
using testing::implementations_under_test;

constexpr Pass kBackwardPasses[] = {Pass::kBwdData, Pass::kBwdWeights, Pass::kBwdBias};

// bwd_bias exists only for a layer with a bias: its problems get one (valid by construction).
Problem for_pass(Problem pr, Pass pass) {
  if (pass == Pass::kBwdBias) pr.params.bias = true;
  return pr;
}

std::string text(const Exact& v) {
  return num(static_cast<double>(v));
}

// The implementation's result on the case, as double (exact for every output dtype). Fails on a
// result shape other than the pass's, before anyone indexes into it.
Tensor<double> run_case(const Implementation& impl, const Case& c) {
  const AnyTensor y = invoke(impl, c.problem.params, c.operands());
  const Shape want = result_shape(c.problem, c.pass);
  if (shape_of(y) != want) {
    fail_case(c, impl.name + ": result shape " + format_shape(shape_of(y)) + ", expected " +
                     format_shape(want));
  }
  return std::visit([](const auto& t) { return tensor_cast<double>(t); }, y);
}

// Whether the implementation must be exact: integer data of a problem whose partial sums of the
// pass are all integers its input dtype holds.
bool exact_on(const Implementation& impl, const Problem& pr, Regime regime) {
  return regime == Regime::kInteger && integer_exact(pr, significand_bits(impl.input), impl.pass);
}

// The certified bound of impl's result on c, per element (zero where it must be exact).
Tensor<double> bound_of(const Implementation& impl, const Case& c, Regime regime) {
  if (exact_on(impl, c.problem, regime)) return Tensor<double>(result_shape(c.problem, c.pass));
  return case_bound(c, arithmetic_of(impl));
}

// Inner products in exact arithmetic (a double times a float is exact in 640 bits, and so are
// these short sums of small-exponent terms).
template <class A>
Exact dot(const Tensor<A>& a, const Tensor<float>& b) {
  RC_ASSERT(a.data.size() == b.data.size());
  Exact s = 0;
  for (size_t i = 0; i < a.data.size(); ++i) s += Exact(a.data[i]) * Exact(b.data[i]);
  return s;
}
Exact abs_dot(const Tensor<double>& bound, const Tensor<float>& b) {
  Exact s = 0;
  for (size_t i = 0; i < b.data.size(); ++i) s += Exact(bound.data[i]) * abs(Exact(b.data[i]));
  return s;
}

// L = <ConvT(x, w, b), dy> with the exact forward reference (b ignored when null).
Exact loss(const Params& params, const ProblemData<float>& d, const Tensor<float>* b) {
  Params p = params;
  p.bias = b != nullptr;
  return dot(conv_transpose2d_pass_exact<float>(Pass::kForward, p, &d.x, &d.w, b, nullptr).value,
             d.dy);
}

// The operand a pass's result is the gradient of: x (bwd_data), w (bwd_weights), b (bwd_bias).
Tensor<float>& wrt(ProblemData<float>& d, Pass pass) {
  return pass == Pass::kBwdData ? d.x : pass == Pass::kBwdWeights ? d.w : d.b;
}

// <ConvT(x), dy> = <x, bwd_data(dy)>, or <ConvT_w(x), dy> = <w, bwd_weights(x, dy)> as a function
// of w, or <ConvT(x, w, b) - ConvT(x, w, 0), dy> = <b, bwd_bias(dy)>, for every implementation
// of `pass`, on integer or real data.
void check_adjoint(const Problem& base, Pass pass) {
  tag(base);
  Problem pr = for_pass(base, pass);
  if (pass != Pass::kBwdBias) pr.params.bias = false;
  const Regime regime = *rc::gen::element(Regime::kInteger, Regime::kReal);
  RC_TAG(to_string(regime));
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  for (const Implementation* impl : implementations_under_test(pass)) {
    ProblemData<float> d = data_for(*impl, pr, regime, seed, pass);
    const Case c = case_of(pr, pass, impl->input, d);
    const Tensor<double> g = run_case(*impl, c);
    const Tensor<float>& t = wrt(d, pass);
    const Exact lhs = pass == Pass::kBwdBias
                          ? loss(pr.params, d, &d.b) - loss(pr.params, d, nullptr)
                          : loss(pr.params, d, nullptr);
    const Exact rhs = dot(g, t);
    const Exact allowed = abs_dot(bound_of(*impl, c, regime), t);
    if (abs(lhs - rhs) > allowed) {
      fail_case(c, impl->name + ": the exact forward pass gives <y, dy> = " + text(lhs) +
                       " but the gradient gives " + text(rhs) + " (allowed difference " +
                       text(allowed) + ")");
    }
  }
}

RC_GTEST_PROP(Backward, DataGradientIsTheAdjointOfTheForwardPass, (const Problem& pr)) {
  check_adjoint(pr, Pass::kBwdData);
}

RC_GTEST_PROP(Backward, WeightGradientIsTheAdjointOfTheForwardPassInTheWeights,
              (const Problem& pr)) {
  check_adjoint(pr, Pass::kBwdWeights);
}

// db[oc] = sum over (n, h, w) of dy[n, oc, h, w], element by element, and <b, db> is the bias's
// share of <y, dy> (check_adjoint).
RC_GTEST_PROP(Backward, BiasGradientIsTheSumOfDyOverBatchAndSpace, (const Problem& base)) {
  check_adjoint(base, Pass::kBwdBias);
  const Problem pr = for_pass(base, Pass::kBwdBias);
  const Regime regime = *rc::gen::element(Regime::kInteger, Regime::kReal);
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  for (const Implementation* impl : implementations_under_test(Pass::kBwdBias)) {
    const ProblemData<float> d = data_for(*impl, pr, regime, seed, Pass::kBwdBias);
    const Case c = case_of(pr, Pass::kBwdBias, impl->input, d);
    const Tensor<double> db = run_case(*impl, c);
    const Tensor<double> bound = bound_of(*impl, c, regime);
    const Shape& s = d.dy.shape;
    for (int64_t oc = 0; oc < s[1]; ++oc) {
      Exact sum = 0;
      for (int64_t n = 0; n < s[0]; ++n)
        for (int64_t h = 0; h < s[2]; ++h)
          for (int64_t w = 0; w < s[3]; ++w) sum += Exact(d.dy.at(n, oc, h, w));
      const size_t k = static_cast<size_t>(oc);
      if (abs(Exact(db.data[k]) - sum) > Exact(bound.data[k])) {
        fail_case(c, impl->name + ": db[" + std::to_string(oc) + "] = " + num(db.data[k]) +
                         ", the sum of dy over its channel is " + text(sum) + " (bound " +
                         num(bound.data[k]) + ")");
      }
    }
  }
}

// Finite differences of the exact forward reference: L(t + e_k) - L(t) is exactly the gradient's
// element k (L is linear in t), for a few random k of x, w or b, on integer data.
RC_GTEST_PROP(Backward, FiniteDifferencesOfTheExactForwardPassEqualTheGradients,
              (const Problem& base)) {
  tag(base);
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  for (Pass pass : kBackwardPasses) {
    const Problem pr = for_pass(base, pass);
    // Per input dtype: the data and the differences at the drawn elements.
    struct Slot {
      ProblemData<float> d;
      std::vector<std::pair<size_t, Exact>> diffs;
    };
    std::map<DType, Slot> slots;
    for (const Implementation* impl : implementations_under_test(pass)) {
      auto it = slots.find(impl->input);
      if (it == slots.end()) {
        Slot s{data_for(*impl, pr, Regime::kInteger, seed, pass), {}};
        const Tensor<float>* b = pr.params.bias ? &s.d.b : nullptr;
        const Exact l0 = loss(pr.params, s.d, b);
        const size_t size = wrt(s.d, pass).data.size();
        for (int i = 0; i < 3 && size > 0; ++i) {
          const size_t k = *rc::gen::inRange<size_t>(0, size);
          ProblemData<float> e = s.d;
          wrt(e, pass).data[k] += 1.0f;  // small integers: exact
          s.diffs.emplace_back(k, loss(pr.params, e, pr.params.bias ? &e.b : nullptr) - l0);
        }
        RC_CLASSIFY(size == 0, "empty gradient");
        it = slots.emplace(impl->input, std::move(s)).first;
      }
      const Slot& s = it->second;
      const Case c = case_of(pr, pass, impl->input, s.d);
      const Tensor<double> g = run_case(*impl, c);
      const Tensor<double> bound = bound_of(*impl, c, Regime::kInteger);
      for (const auto& [k, diff] : s.diffs) {
        if (abs(Exact(g.data[k]) - diff) > Exact(bound.data[k])) {
          fail_case(c, impl->name + ": element " + std::to_string(k) + " of the gradient is " +
                           num(g.data[k]) + ", the exact forward pass's finite difference " +
                           text(diff) + " (bound " + num(bound.data[k]) + ")");
        }
      }
    }
  }
}

// Every implementation of every backward pass within its certified bound of the exact result
// (bit for bit on exact integer data), on the three data regimes.
RC_GTEST_PROP(Backward, EveryImplementationMatchesTheExactResult, (const Problem& base)) {
  tag(base);
  const Regime regime = *rc::gen::element(Regime::kInteger, Regime::kReal, Regime::kCancellation);
  RC_TAG(to_string(regime));
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  for (Pass pass : kBackwardPasses) {
    const Problem pr = for_pass(base, pass);
    std::map<DType, std::pair<Case, Truth>> cases;
    for (const Implementation* impl : implementations_under_test(pass)) {
      auto it = cases.find(impl->input);
      if (it == cases.end()) {
        Case c = make_case(pr, impl->input, regime, seed, pass);
        Truth truth = compute_truth(c);
        it = cases.emplace(impl->input, std::pair{std::move(c), std::move(truth)}).first;
      }
      const auto& [c, truth] = it->second;
      const AnyTensor y = invoke(*impl, pr.params, c.operands());
      const Report r = compare_outputs(truth, y, bound_of(*impl, c, regime), nullptr, impl->output,
                                       arithmetic_of(*impl));
      if (!r.passed()) fail_case(c, impl->name + ": " + format_report(r));
    }
  }
}

}  // namespace
}  // namespace convt2d
