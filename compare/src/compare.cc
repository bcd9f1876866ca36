#include "convt2d/compare.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "convt2d/backward.h"
#include "convt2d/bounds.h"
#include "convt2d/checked.h"
#include "convt2d/error.h"

namespace convt2d {
namespace {

Shape unravel(int64_t i, const Shape& s) {
  Shape idx(s.size());
  for (size_t d = s.size(); d-- > 0;) {
    idx[d] = i % s[d];
    i /= s[d];
  }
  return idx;
}

// The spacing of H (float16 or bfloat16) at |v|: the next representable value above |v| rounded
// to H, minus it. Above the largest finite value the next one is the power of two where the
// infinity sits (2^16, 2^128).
template <class H>
double spacing_half(double v) {
  const double h = static_cast<double>(H(std::fabs(v)));
  if (!std::isfinite(h)) return std::numeric_limits<double>::infinity();
  const double next = static_cast<double>(H::from_bits(static_cast<uint16_t>(H(h).bits() + 1)));
  const double top = std::is_same_v<H, float16> ? 0x1p16 : 0x1p128;
  return (std::isfinite(next) ? next : top) - h;
}

// The spacing of `claimed` floats at magnitude |v| (v rounded to that format first).
double ulp_at(double v, DType claimed) {
  switch (claimed) {
    case DType::kFloat32: {
      const float f = std::fabs(static_cast<float>(v));
      if (!std::isfinite(f)) return std::numeric_limits<double>::infinity();
      return static_cast<double>(std::nextafter(f, std::numeric_limits<float>::infinity())) - f;
    }
    case DType::kFloat16:
      return spacing_half<float16>(v);
    case DType::kBFloat16:
      return spacing_half<bfloat16>(v);
    case DType::kFloat64:
      break;
  }
  const double d = std::fabs(v);
  return std::nextafter(d, std::numeric_limits<double>::infinity()) - d;
}

// |a - e| for a double a and the exact e, and whether it exceeds a limit. Where e = hi + lo
// exactly (Truth::expected_hi/lo) both are decided in double arithmetic: d1 = fl(a - hi) and
// d2 = fl(d1 - lo) are each rounded once, so |d2| is within u(1 + 2u)(|d1| + |d2|) <
// 2^-52 (|d1| + |d2|) of |a - e| (subtractions are exact where the result is subnormal). The
// margin is four times that, which also covers rounding |d2| ± margin. Only an error that close
// to the limit (or no exact pair) is decided in 640-bit arithmetic.
class Distance {
 public:
  Distance(double a, const Exact& e, const double* hi_lo) : a_(a), e_(e) {
    if (hi_lo != nullptr) {
      const double d1 = a - hi_lo[0];
      const double d2 = d1 - hi_lo[1];
      err_ = std::fabs(d2);
      margin_ = 0x1p-50 * (std::fabs(d1) + err_);
      pair_ = std::isfinite(margin_);
    }
    if (!pair_) err_ = static_cast<double>(exact());
  }
  double value() const { return err_; }
  bool exceeds(double limit) const {
    if (pair_) {
      if (err_ - margin_ > limit) return true;
      if (err_ + margin_ <= limit) return false;
    }
    return exact() > Exact(limit);
  }

 private:
  const Exact& exact() const {
    if (!diff_) diff_ = abs(Exact(a_) - e_);  // a_ is the candidate's value exactly
    return *diff_;
  }
  double a_;
  const Exact& e_;
  double err_ = 0, margin_ = 0;
  bool pair_ = false;
  mutable std::optional<Exact> diff_;
};

// Which non-finite results a correct implementation may return for one element whose exact
// value is finite (docs/error-bounds.md#overflow). A product that must overflow does not exclude
// the other infinity: an FMA adds it to an accumulator that may already be that infinity.
struct OverflowRules {
  bool plus = false, minus = false;  // may overflow towards +inf / -inf
  bool accepts(double v) const {
    if (std::isnan(v)) return plus && minus;  // inf - inf: both signs must be able to overflow
    return v > 0 ? plus : minus;
  }
};

// The rules for the elements of one comparison: the claimed arithmetic's overflow thresholds, and
// the truth's term sums and tap counts.
class Overflow {
 public:
  Overflow(const Truth& t, DType claimed, const Arithmetic& a)
      : t_(t),
        a_(a),
        known_(!t.positive.data.empty() && t.taps.size() == t.positive.data.size()),
        // The lowest threshold of the formats involved: the accumulator's and the output's.
        threshold_(std::min(overflow_threshold(a.accumulation),
                            overflow_threshold(precision_of(claimed)))),
        // A product beyond twice the accumulator's threshold overflows even in an FMA, whose
        // addend is finite and so below the threshold; where wider intermediates are allowed no
        // product is certain to overflow.
        certain_(a.wider_intermediates ? std::numeric_limits<long double>::infinity()
                                       : 2 * overflow_threshold(a.accumulation)) {}

  bool known() const { return known_; }
  long double threshold() const { return threshold_; }

  // Whether some product of element i must overflow (only with the term sums).
  bool certain(size_t i) const {
    return known_ &&
           (t_.largest_positive.data[i] >= certain_ || t_.largest_negative.data[i] >= certain_);
  }
  OverflowRules rules(size_t i) const {
    OverflowRules r;
    r.plus = plus_limit(i) >= threshold_;
    r.minus = minus_limit(i) >= threshold_;
    return r;
  }
  // Whether the finite value v lies outside what any correct result can be: above the limit of
  // the positive terms or below minus that of the negative ones (only with the term sums). With
  // a vacuous bound (bfloat16 summed in bfloat16 over ~180000 terms) this is what still tells a
  // negative sum of positive terms from a correct one.
  bool outside(size_t i, double v) const {
    if (!known_) return false;
    const long double lv = static_cast<long double>(v);
    return lv > plus_limit(i) || -lv > minus_limit(i);
  }

 private:
  const Truth& t_;
  const Arithmetic& a_;
  long double plus_limit(size_t i) const {
    return intermediate_limit(t_.taps[i], t_.positive.data[i], a_);
  }
  long double minus_limit(size_t i) const {
    return intermediate_limit(t_.taps[i], t_.negative.data[i], a_);
  }

  bool known_;
  long double threshold_, certain_;
};

// err / bound for the report: infinite when a zero bound is missed, 0 where the bound is infinite.
double ratio_of(double err, double bnd) {
  if (bnd > 0) return std::isinf(bnd) ? 0.0 : err / bnd;
  return err > 0 ? std::numeric_limits<double>::infinity() : 0.0;
}

template <class T>
void compare_elements(const Truth& truth, const Tensor<T>& cand, const Tensor<double>& bound,
                      const Tensor<double>* band, const Arithmetic& arith, Report& r) {
  const Shape& shape = truth.expected.shape;
  const bool pairs = truth.expected_hi.size() == truth.expected.size() &&
                     truth.expected_lo.size() == truth.expected.size();
  const Overflow overflow(truth, r.claimed, arith);
  for (int64_t i = 0; i < cand.size(); ++i) {
    const size_t k = static_cast<size_t>(i);
    const Exact& e = truth.expected.data[k];
    const double a = static_cast<double>(cand.data[k]);
    // An exact pair exists only for a finite truth (compute_truth).
    const bool pair = pairs && !std::isnan(truth.expected_lo.data[k]);
    const double hi_lo[2] = {pair ? truth.expected_hi.data[k] : 0.0,
                             pair ? truth.expected_lo.data[k] : 0.0};
    const double ed = pair ? hi_lo[0] : static_cast<double>(e);
    const bool e_finite = pair || boost::multiprecision::isfinite(e);
    const auto element = [&](double err, double bnd) {
      ElementReport el{unravel(i, shape),
                       ed,
                       a,
                       err,
                       bnd,
                       std::isfinite(err) ? err / ulp_at(ed, r.claimed) : err,
                       {}};
      if (e_finite && !std::isfinite(ed)) el.expected_text = e.str(17, std::ios::scientific);
      return el;
    };
    if (!e_finite || !std::isfinite(a)) {
      bool ok;
      if (boost::multiprecision::isnan(e)) {
        ok = std::isnan(a);
      } else if (!e_finite) {
        // The same infinity, or NaN where the finite terms of the other sign can overflow before
        // they meet it (inf - inf).
        ok = a == ed || (std::isnan(a) && overflow.known() && overflow.rules(k).accepts(-ed));
      } else if (overflow.known()) {
        ok = overflow.rules(k).accepts(a);
      } else {
        // Without the term sums: the final result may overflow to the infinity of its sign.
        ok = std::isinf(a) && std::signbit(a) == std::signbit(ed) &&
             static_cast<long double>(std::fabs(ed)) + bound.data[k] >= overflow.threshold();
      }
      if (!ok) {
        ++r.nonfinite_mismatches;
        if (!r.first_nonfinite) r.first_nonfinite = element(std::fabs(a - ed), bound.data[k]);
      }
      continue;
    }
    const Distance diff(a, e, pair ? hi_lo : nullptr);
    const double err = diff.value();
    const double bnd = bound.data[k];
    if (overflow.certain(k)) {
      // A finite value where every correct result is infinite or NaN.
      ++r.overflow_mismatches;
      if (!r.first_overflow) r.first_overflow = element(err, bnd);
      continue;
    }
    const bool over = diff.exceeds(bnd);
    if (!over && overflow.outside(k, a)) {
      // Within the bound (a vacuous one), but a value no correct result can take: a sign no
      // term has, or beyond what the terms reach.
      ++r.out_of_range;
      if (!r.first_out_of_range) r.first_out_of_range = element(err, bnd);
      continue;
    }
    const double ratio = ratio_of(err, bnd);
    if (over) ++r.over_bound;
    if (!r.worst || ratio > r.max_err_over_bound) {
      r.max_err_over_bound = ratio;
      r.worst = element(err, bnd);
    }
    if (band && !over) {
      const double bd = band->data[k];
      if (diff.exceeds(bd)) ++r.over_band;
      r.max_err_over_band = std::max(r.max_err_over_band, ratio_of(err, bd));
    }
  }
}

// The smallest n with rounding_growth(n, u) >= 1, by bisection (growth increases with n), cached
// per thread for the few u there are.
int64_t first_vacuous_rounding(double u) {
  thread_local std::vector<std::pair<double, int64_t>> cache;
  for (const auto& [cu, n] : cache) {
    if (cu == u) return n;
  }
  int64_t lo = 1, hi = int64_t{1} << 62;
  if (rounding_growth(hi, u) < 1) {
    lo = std::numeric_limits<int64_t>::max();  // never (u below 2^-62)
  } else {
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (rounding_growth(mid, u) >= 1) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
  }
  cache.emplace_back(u, lo);
  return lo;
}

// Elements whose bound is vacuous: rounding_growth(K + 1 + x) >= 1 for the claimed accumulation.
int64_t count_vacuous(const Truth& t, const Arithmetic& a) {
  if (t.taps.empty()) return 0;
  const int64_t first = first_vacuous_rounding(a.accumulation.u);
  if (first == std::numeric_limits<int64_t>::max()) return 0;
  return std::count_if(t.taps.begin(), t.taps.end(),
                       [&](int64_t k) { return k > 0 && k + 1 + a.extra_roundings >= first; });
}

std::string idx_str(const Shape& s) {
  return fmt::format("({})", fmt::join(s, ", "));
}

// The expected value, in decimal even where it lies beyond double's range.
std::string expected_str(const ElementReport& e) {
  return e.expected_text.empty() ? fmt::format("{:.17g}", e.expected) : e.expected_text;
}

}  // namespace

namespace {

// The case's operands as tensors of T, for the literal loops and the bounds.
template <class T>
PassInputs<T> pass_inputs(const Case& c) {
  const Operands o = c.operands();
  const auto as = [](const AnyTensor* t) { return t ? &std::get<Tensor<T>>(*t) : nullptr; };
  return {c.pass, as(o.x), as(o.w), as(o.b), as(o.dy)};
}

}  // namespace

Truth compute_truth(const Case& c) {
  Truth t;
  t.pass = c.pass;
  std::visit(
      [&](const auto& any) {
        using T = typename std::decay_t<decltype(any)>::value_type;
        const PassInputs<T> in = pass_inputs<T>(c);
        ExactResult r =
            conv_transpose2d_pass_exact<T>(c.pass, c.problem.params, in.x, in.w, in.b, in.dy);
        t.expected = std::move(r.value);
        t.expected_hi = std::move(r.hi);
        t.expected_lo = std::move(r.lo);
        ProductSums ps = product_sums(c.problem.params, in);
        if (in.b != nullptr) {
          // The bias is one more term, of its own sign.
          const int64_t plane = ps.positive.shape[2] * ps.positive.shape[3];
          for (size_t i = 0; i < ps.positive.data.size(); ++i) {
            const int64_t ch = static_cast<int64_t>(i) / plane % ps.positive.shape[1];
            const double bias = static_cast<double>(in.b->data[static_cast<size_t>(ch)]);
            // An infinite bias is like an infinite product: not part of the sums; a zero bias
            // is no term of either sign.
            if (std::isinf(bias) || bias == 0) continue;
            long double& sum = bias > 0 ? ps.positive.data[i] : ps.negative.data[i];
            sum =
                std::nextafter(sum + std::fabs(bias), std::numeric_limits<long double>::infinity());
          }
        }
        t.positive = std::move(ps.positive);
        t.negative = std::move(ps.negative);
        t.largest_positive = std::move(ps.largest_positive);
        t.largest_negative = std::move(ps.largest_negative);
        t.taps = std::move(ps.taps);
      },
      c.x);
  t.abs_expected = Tensor<double>(t.expected.shape);
  for (size_t i = 0; i < t.expected.data.size(); ++i) {
    t.abs_expected.data[i] = std::fabs(t.expected_hi.data[i]);
  }
  return t;
}

Tensor<double> case_bound(const Case& c, const Arithmetic& a) {
  return std::visit(
      [&](const auto& any) {
        using T = typename std::decay_t<decltype(any)>::value_type;
        return certified_bound(c.problem.params, pass_inputs<T>(c), a);
      },
      c.x);
}

Tensor<double> case_bound(const Case& c, Precision acc, double output_u) {
  Arithmetic a;
  a.accumulation = acc;
  a.output_u = output_u;
  return case_bound(c, a);
}

Tensor<double> case_band(const Case& c, const Truth& t, const Arithmetic& a, double lambda) {
  return std::visit(
      [&](const auto& any) {
        using T = typename std::decay_t<decltype(any)>::value_type;
        return suspicious_band(c.problem.params, pass_inputs<T>(c), t.abs_expected, a, lambda);
      },
      c.x);
}

Tensor<double> case_band(const Case& c, const Truth& t, double u, double lambda) {
  Arithmetic a;
  a.accumulation = Precision{u, 0.0};
  return case_band(c, t, a, lambda);
}

Report compare_outputs(const Truth& truth, const AnyTensor& candidate, const Tensor<double>& bound,
                       const Tensor<double>* band, DType claimed, const Arithmetic& a) {
  Report r;
  r.claimed = claimed;
  r.pass = truth.pass;
  r.expected_shape = truth.expected.shape;
  r.actual_shape = shape_of(candidate);
  r.shape_ok = r.expected_shape == r.actual_shape;
  if (!r.shape_ok) return r;
  r.elements = truth.expected.size();
  r.band_checked = band != nullptr;
  std::visit([&](const auto& cand) { compare_elements(truth, cand, bound, band, a, r); },
             candidate);
  r.vacuous_bound = count_vacuous(truth, a);
  r.suspicious = r.passed() && r.over_band > 0;
  return r;
}

namespace {

template <class T>
Exact dot(const Tensor<Exact>& a, const Tensor<T>& b, double& abs_sum) {
  Exact s = 0;
  for (size_t i = 0; i < a.data.size(); ++i) {
    const Exact t = a.data[i] * Exact(b.data[i]);
    s += t;
    abs_sum += std::fabs(static_cast<double>(t));
  }
  return s;
}

}  // namespace

AdjointResult adjoint_check(const Params& params, const Tensor<float>& x, const Tensor<float>& w,
                            const Tensor<float>& y, bool exact_data) {
  Params p = params;
  p.bias = false;
  AdjointResult r;
  const Tensor<Exact> tx = conv_transpose2d<float, Exact>(p, x, w, nullptr);
  const Tensor<Exact> ty = conv2d<float, Exact>(p, y, w, nullptr);
  r.shape_ok = ty.shape == x.shape && tx.shape == y.shape;
  if (!r.shape_ok) return r;
  double a = 0, b = 0;
  const Exact lhs = dot(tx, y, a), rhs = dot(ty, x, b);
  r.lhs = static_cast<double>(lhs);
  r.rhs = static_cast<double>(rhs);
  r.diff = static_cast<double>(abs(lhs - rhs));
  const double n = static_cast<double>(tx.data.size() + ty.data.size());
  r.tolerance =
      exact_data ? 0.0 : 2.0 * gamma(static_cast<int64_t>(n) + 1, 0x1p-640) * (a + b) * 2.0;
  return r;
}

void check_problem_bytes(const Problem& pr, int64_t max_bytes, std::string_view option) {
  check_tensor_bytes(input_shape(pr), DType::kFloat64, max_bytes, "input", option);
  check_tensor_bytes(weight_shape(pr.params), DType::kFloat64, max_bytes, "weight", option);
  check_tensor_bytes(output_shape(pr), DType::kFloat64, max_bytes, "output", option);
}

void check_truth_bytes(const Problem& pr, int64_t max_bytes, Pass pass, std::string_view option) {
  check_problem_bytes(pr, max_bytes, option);
  const Shape result = result_shape(pr, pass);
  // The exact reference holds a fixed-point sum, a 640-bit number and a double pair per output
  // element, the truth its magnitude and term sums.
  const int64_t exact_bytes =
      checked_mul(element_count(result, "result"), kTruthBytesPerElement, "exact result bytes");
  if (exact_bytes > max_bytes) {
    throw Error(
        std::string(option),
        fmt::format("exact result: {} {} needs {} bytes at {} bytes per exact "
                    "element, more than {} {}",
                    pass == Pass::kForward ? "output" : to_string(pass), format_shape(result),
                    exact_bytes, kTruthBytesPerElement, option, max_bytes));
  }
}

namespace {

// Whether v is a value of dtype d (NaN counts as one).
bool representable(double v, DType d) {
  if (std::isnan(v)) return true;
  switch (d) {
    case DType::kFloat64:
      return true;
    case DType::kFloat32:
      return static_cast<double>(static_cast<float>(v)) == v;
    case DType::kFloat16:
      return static_cast<double>(float16(v)) == v;
    case DType::kBFloat16:
      return static_cast<double>(bfloat16(v)) == v;
  }
  return false;
}

// A claim of `claimed` arithmetic for a case whose data is in another dtype: the bound models
// the arithmetic on the case's input values, so every input the pass reads must be a value of
// the claimed dtype (an implementation in it would round the others first, an error the bound
// does not cover: a correctly rounded float32 result of float64 data fails where an output
// element is the bias alone). Error naming the option and the first such value otherwise.
void require_inputs_in(const Case& c, DType claimed, const std::string& option) {
  const auto scan = [&](const AnyTensor& t, const char* name) {
    std::visit(
        [&](const auto& tensor) {
          for (int64_t i = 0; i < tensor.size(); ++i) {
            const double v = static_cast<double>(tensor.data[static_cast<size_t>(i)]);
            if (representable(v, claimed)) continue;
            throw Error(
                option.substr(0, option.find_first_of(" =")),
                fmt::format("{}{}: {} at {} = {:.17g} is not a {} value, and the bound does "
                            "not cover rounding the inputs: give the case's inputs in "
                            "{} (gen --dtype {}), or claim {}",
                            option, to_string(claimed), name, idx_str(unravel(i, tensor.shape)), v,
                            to_string(claimed), to_string(claimed), to_string(claimed),
                            to_string(c.dtype())));
          }
        },
        t);
  };
  const Operands ops = c.operands();
  if (ops.x) scan(*ops.x, "x");
  if (ops.w) scan(*ops.w, "w");
  if (ops.b) scan(*ops.b, "b");
  if (ops.dy) scan(*ops.dy, "dy");
}

}  // namespace

void validate_claim(const CheckClaim& claim) {
  // An infinite lambda would make every band inf (or NaN where a bound is 0): no verdict change,
  // but "suspicious" would mean nothing.
  if (!(claim.lambda > 0) || !std::isfinite(claim.lambda)) {
    throw Error(claim.lambda_option, fmt::format("{} must be finite and > 0, got {}",
                                                 claim.lambda_option, claim.lambda));
  }
  if (claim.max_bytes < 1) {
    throw Error(claim.max_bytes_option,
                fmt::format("{} must be >= 1, got {}", claim.max_bytes_option, claim.max_bytes));
  }
}

CheckResult check_candidate(const Case& c, const AnyTensor& candidate, const CheckClaim& claim) {
  validate_claim(claim);
  check_truth_bytes(c.problem, claim.max_bytes, c.pass);
  const DType cand = dtype_of(candidate);
  if (!claim.dtype && cand != c.dtype()) {
    const std::string& o = claim.dtype_option;
    const std::string subject = o.substr(0, o.find_first_of(" ="));
    throw Error(subject, fmt::format("{} holds {} but the case is {}: pass {}{} to claim {} "
                                     "arithmetic (or {}{} to judge it as {})",
                                     claim.candidate_name, to_string(cand), to_string(c.dtype()), o,
                                     to_string(cand), to_string(cand), o, to_string(c.dtype()),
                                     to_string(c.dtype())));
  }
  const DType claimed = claim.dtype.value_or(c.dtype());
  if (claimed != c.dtype()) require_inputs_in(c, claimed, claim.dtype_option);
  const ComputeMode mode = claim.compute_mode.value_or(c.problem.params.compute_mode);
  const Truth truth = compute_truth(c);
  const Arithmetic arithmetic = claimed_arithmetic(claimed, mode);
  CheckResult r;
  r.bound = case_bound(c, arithmetic);
  r.band = case_band(c, truth, arithmetic, claim.lambda);
  r.report = compare_outputs(truth, candidate, r.bound, &r.band, claimed, arithmetic);
  if (is_half(claimed)) r.report.mode = mode;
  return r;
}

std::string format_report(const Report& r) {
  std::string s;
  if (!r.shape_ok) {
    return fmt::format("verdict: FAILED\nshape mismatch: expected {}, got {}\n",
                       format_shape(r.expected_shape), format_shape(r.actual_shape));
  }
  s += fmt::format("verdict: {}\n", r.passed() ? "PASSED" : "FAILED");
  s += fmt::format("elements: {} (shape {}), bound for {} arithmetic{}\n", r.elements,
                   format_shape(r.expected_shape), to_string(r.claimed),
                   r.mode ? fmt::format(", compute_mode {}", to_string(*r.mode)) : "");
  s += fmt::format("max err/bound: {:.3g}\n", r.max_err_over_bound);
  if (r.worst) {
    const ElementReport& w = *r.worst;
    s += fmt::format(
        "worst element {} = {}: expected {}, actual {:.17g}, |err| {:.3g}, "
        "bound {:.3g}, {:.3g} ulp\n",
        index_names(r.pass, w.index.size()), idx_str(w.index), expected_str(w), w.actual, w.abs_err,
        w.bound, w.ulps);
  }
  s += fmt::format("elements over the bound: {}\n", r.over_bound);
  s += fmt::format("NaN/Inf mismatches: {}\n", r.nonfinite_mismatches);
  if (r.first_nonfinite) {
    s += fmt::format("first NaN/Inf mismatch at {}: expected {}, actual {}\n",
                     idx_str(r.first_nonfinite->index), expected_str(*r.first_nonfinite),
                     r.first_nonfinite->actual);
  }
  if (r.overflow_mismatches > 0) {
    s += fmt::format(
        "finite where every correct result overflows: {} (first at {}: expected {}, actual {}: a "
        "product exceeds twice the {} overflow threshold, so every correct {} result is "
        "infinite or NaN there)\n",
        r.overflow_mismatches, idx_str(r.first_overflow->index), expected_str(*r.first_overflow),
        r.first_overflow->actual, to_string(r.claimed), to_string(r.claimed));
  }
  if (r.out_of_range > 0) {
    s += fmt::format(
        "outside every correct result: {} (first at {}: expected {}, actual {}: the terms of that "
        "sign cannot reach it in {} arithmetic)\n",
        r.out_of_range, idx_str(r.first_out_of_range->index), expected_str(*r.first_out_of_range),
        r.first_out_of_range->actual, to_string(r.claimed));
  }
  if (r.vacuous_bound > 0) {
    s += fmt::format(
        "warning: the bound is vacuous for {} element(s): the claimed {} arithmetic over that "
        "many taps is certified only to about |b| + sum|w*x| (claim compute_mode float32, or a "
        "wider accumulator, to be judged tightly)\n",
        r.vacuous_bound, to_string(r.claimed));
  }
  if (r.suspicious) {
    s += fmt::format(
        "suspicious: {} element(s) within the certified bound but beyond the {}-precision band "
        "(max err/band {:.3g}): the result most likely used lower precision than claimed (e.g. "
        "TF32, or float16 accumulation or intermediates)\n",
        r.over_band, to_string(r.claimed), r.max_err_over_band);
  } else if (r.band_checked) {
    s += fmt::format("precision band: max err/band {:.3g}\n", r.max_err_over_band);
  }
  return s;
}

std::string report_json(const Report& r) {
  nlohmann::json j = {{"verdict", r.passed() ? "PASSED" : "FAILED"},
                      {"passed", r.passed()},
                      {"shape_ok", r.shape_ok},
                      {"expected_shape", r.expected_shape},
                      {"actual_shape", r.actual_shape},
                      {"claimed_dtype", std::string(to_string(r.claimed))},
                      {"compute_mode", r.mode ? nlohmann::json(std::string(to_string(*r.mode)))
                                              : nlohmann::json(nullptr)},
                      {"elements", r.elements},
                      {"over_bound", r.over_bound},
                      {"nonfinite_mismatches", r.nonfinite_mismatches},
                      {"overflow_mismatches", r.overflow_mismatches},
                      {"out_of_range", r.out_of_range},
                      {"vacuous_bound", r.vacuous_bound},
                      {"max_err_over_bound", r.max_err_over_bound},
                      {"suspicious", r.suspicious},
                      {"over_band", r.over_band},
                      {"max_err_over_band", r.max_err_over_band}};
  const auto el = [](const ElementReport& e) {
    nlohmann::json o{{"index", e.index},     {"expected", e.expected}, {"actual", e.actual},
                     {"abs_err", e.abs_err}, {"bound", e.bound},       {"ulps", e.ulps}};
    if (!e.expected_text.empty()) o["expected_exact"] = e.expected_text;
    return o;
  };
  j["worst"] = r.worst ? el(*r.worst) : nlohmann::json(nullptr);
  j["first_nonfinite"] = r.first_nonfinite ? el(*r.first_nonfinite) : nlohmann::json(nullptr);
  j["first_overflow"] = r.first_overflow ? el(*r.first_overflow) : nlohmann::json(nullptr);
  j["first_out_of_range"] =
      r.first_out_of_range ? el(*r.first_out_of_range) : nlohmann::json(nullptr);
  // JSON has no infinity: nlohmann writes null for non-finite numbers, which is what we want.
  return j.dump(2);
}

}  // namespace convt2d
