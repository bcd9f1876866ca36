// `verify`: the main job. For each problem and data regime, every registered implementation
// against the exact reference (bit for bit on integer data, within the certified bound otherwise),
// and the adjoint identity <ConvT(x), y> = <x, Conv2d(y)>.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <utility>

#include "commands.h"
#include "convt2d/compare.h"
#include "convt2d/error.h"
#include "convt2d/fill.h"
#include "convt2d/implementations.h"

namespace convt2d::cli {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct Tally {
  int passed = 0, failed = 0, skipped = 0;
  void row(const std::string& problem, const std::string& check, const std::string& regime,
           const char* verdict, const std::string& ratio, double ms, const std::string& note = "") {
    fmt::print("{:<16} {:<33} {:<13} {:>12} {:>10.1f}  {}{}\n", problem, check, regime, ratio, ms,
               verdict, note.empty() ? "" : "  " + note);
    std::fflush(stdout);
    const std::string_view v = verdict;
    if (v == "PASSED") ++passed;
    if (v == "FAILED") ++failed;
    if (v == "SKIPPED") ++skipped;
  }
};

// <ConvT(x), y> against <x, Conv2d(y)> (compare.h: exact on integer data, 2^-640-level otherwise).
void adjoint_row(const std::string& name, const Problem& pr, Regime regime, uint64_t seed,
                 Tally& t) {
  const auto t0 = Clock::now();
  const auto d = make_data<float>(pr, regime, seed);
  const Tensor<float> y = make_tensor<float>(output_shape(pr), regime, seed + 7, integer_range(pr));
  AdjointResult r;
  try {
    r = adjoint_check(pr.params, d.x, d.w, y, regime == Regime::kInteger);
  } catch (const Error& e) {
    // The problem was valid (it was parsed and validated): a Conv2d that cannot handle it is the
    // oracle's failure, reported in its row like an implementation's, not unusable input (exit 2).
    t.row(name, "adjoint", std::string(to_string(regime)), "FAILED", "-", ms_since(t0), e.what());
    return;
  }
  std::string note;
  if (!r.shape_ok) note = "Conv2d does not map the output shape back to the input shape";
  if (r.shape_ok && !r.passed()) {
    note = fmt::format("<T(x),y> = {:.17g}, <x,C(y)> = {:.17g}", r.lhs, r.rhs);
  }
  t.row(name, "adjoint", std::string(to_string(regime)), r.passed() ? "PASSED" : "FAILED",
        fmt::format("{:.3g}", r.tolerance > 0 ? r.diff / r.tolerance : r.diff), ms_since(t0), note);
}

// Exact integer data must match exactly; otherwise the largest err/bound is the evidence.
std::string ratio_text(bool exact, const Report& r) {
  if (exact) return r.passed() ? "exact" : "inexact";
  return fmt::format("{:.3g}", r.max_err_over_bound);
}

}  // namespace

std::vector<NamedProblem> builtin_problems() {
  const std::pair<const char*, const char*> list[] = {
      {"hand-s2p1op1", "mb1ic1ih2oc1kh3sh2ph1oph1"},
      {"dcgan-small", "mb2ic16ih4oc8kh4sh2ph1"},
      {"unet-k2s2", "mb1ic16ih6oc8kh2sh2"},
      {"groups-g4-op1", "mb1ic8ih5oc12kh3sh2ph1oph1g4"},
      {"depthwise", "mb1ic8ih6oc8kh4sh2ph1g8"},
      {"dilated-d2", "mb1ic4ih5oc4kh3ph2dh2"},
      {"asymmetric", "mb1ic3ih4iw7oc5kh3kw2sh2sw3ph1pw0oph1opw2dh1dw2"},
      {"pad-beyond-k", "mb1ic2ih3oc2kh2kw1sh4sw1ph3pw0"},
      {"stride-gt-k", "mb1ic4ih3oc4kh2sh3"},
      {"batch-0", "mb0ic4ih3oc4kh3sh2"},
      {"input-1x1", "mb2ic8ih1oc4kh4sh2"},
      {"no-bias", "mb1ic6ih4oc6kh3sh2ph1bias0"},
      {"fsrcnn-small", "mb1ic8ih6oc1kh9sh3ph4oph2"},
      {"fcn-small", "mb1ic3ih4oc3kh16sh8"},
      {"large-k", "mb1ic64ih4oc8kh4sh2ph1"},
  };
  std::vector<NamedProblem> out;
  for (const auto& [name, s] : list) out.push_back({name, parse_problem(s)});
  return out;
}

int verify(const VerifyOptions& o) {
  const std::vector<NamedProblem> listed =
      o.problems_file.empty() ? builtin_problems() : read_problem_file(o.problems_file);
  check_random_count(o.random);
  if (!(o.max_macs > 0) || !std::isfinite(o.max_macs)) {
    throw Error("--max-macs",
                fmt::format("--max-macs: must be a finite number > 0, got {}", o.max_macs));
  }
  const int64_t total = static_cast<int64_t>(listed.size()) + o.random;
  const auto problem_at = [&](int64_t i) {
    // Random problems are drawn when their turn comes, never stored.
    const int64_t listed_n = static_cast<int64_t>(listed.size());
    return i < listed_n ? listed[static_cast<size_t>(i)]
                        : NamedProblem{fmt::format("random-{}", i - listed_n),
                                       nth_random_problem(o.seed, i - listed_n)};
  };
  // A run that would test nothing is unusable input, not a pass.
  double fewest = INFINITY;
  for (int64_t i = 0; i < total && fewest > o.max_macs; ++i) {
    fewest = std::min(fewest, macs(problem_at(i).problem));
  }
  if (total == 0 || fewest > o.max_macs) {
    throw Error("--max-macs",
                fmt::format("verify: nothing to test: all {} problem(s) have more multiply-adds "
                            "than --max-macs {:g} (the smallest {:g})",
                            total, o.max_macs, fewest));
  }
  const Registry registry = builtin_registry();
  std::vector<Pass> passes(std::begin(kAllPasses), std::end(kAllPasses));
  if (!o.pass.empty()) passes = {parse_pass(o.pass, "--pass")};
  Tally t;
  fmt::print("{:<16} {:<33} {:<13} {:>12} {:>10}  {}\n", "problem", "check", "regime", "err/bound",
             "ms", "result");
  const auto total0 = Clock::now();
  for (int64_t i = 0; i < total; ++i) {
    const NamedProblem np = problem_at(i);
    const Problem& pr = np.problem;
    if (macs(pr) > o.max_macs) {
      t.row(np.name, "all", "-", "SKIPPED", "-", 0.0,
            fmt::format("{:.3g} multiply-adds > --max-macs {:.3g} ({})", macs(pr), o.max_macs,
                        format_problem(pr)));
      continue;
    }
    // A pass whose exact result does not fit in the cap is not judged (SKIPPED, never an abort of
    // the whole run): its result can be far larger than the forward output (dW of a tiny image).
    std::vector<Pass> fitting;
    for (Pass pass : passes) {
      try {
        check_truth_bytes(pr, o.max_bytes, pass);
        fitting.push_back(pass);
      } catch (const Error& e) {
        t.row(np.name, pass == Pass::kForward ? "all" : "all " + std::string(to_string(pass)), "-",
              "SKIPPED", "-", 0.0, e.what());
      }
    }
    for (Regime regime : {Regime::kInteger, Regime::kReal, Regime::kCancellation}) {
      const std::string rname(to_string(regime));
      for (Pass pass : fitting) {
        if (pass == Pass::kBwdBias && !pr.params.bias) continue;  // no bias, no bias gradient
        // Each implementation is judged on data of its own input dtype; a dtype's case and its
        // truth are built only when some implementation reads that dtype.
        std::optional<std::pair<Case, Truth>> cases[4];
        const auto case_for = [&](DType dt) -> const std::pair<Case, Truth>& {
          auto& slot = cases[static_cast<size_t>(dt)];
          if (!slot) {
            Case c = make_case(pr, dt, regime, o.seed, pass);
            Truth truth = compute_truth(c);
            slot = std::pair{std::move(c), std::move(truth)};
          }
          return *slot;
        };
        for (const Implementation& impl : registry.all()) {
          if (impl.exact || impl.pass != pass) continue;  // the truth itself; another pass
          const std::string check =
              pass == Pass::kForward ? impl.name : impl.name + " " + std::string(to_string(pass));
          // An implementation whose working memory exceeds the cap is not run (nor judged).
          try {
            check_working_bytes(impl, pr, o.max_bytes);
          } catch (const Error& e) {
            t.row(np.name, check, rname, "SKIPPED", "-", 0.0, e.what());
            continue;
          }
          const auto& [c, truth] = case_for(impl.input);
          const auto t0 = Clock::now();
          AnyTensor y;
          try {
            y = invoke(impl, pr.params, c.operands());
          } catch (const Error& e) {
            t.row(np.name, check, rname, "FAILED", "-", ms_since(t0), e.what());
            continue;
          }
          // Integer data whose partial sums are all exact in the input dtype (fill.h): the bound is
          // zero (bit-equality). Beyond that range (a bfloat16 problem with 127 taps or more) the
          // certified bound judges it like real data.
          const bool exact =
              regime == Regime::kInteger && integer_exact(pr, significand_bits(impl.input), pass);
          const Tensor<double> bound =
              exact ? Tensor<double>(truth.expected.shape) : case_bound(c, arithmetic_of(impl));
          const Report r =
              compare_outputs(truth, y, bound, nullptr, impl.output, arithmetic_of(impl));
          std::string note;
          if (!r.shape_ok) {
            note = fmt::format("shape mismatch: expected {}, got {}",
                               format_shape(r.expected_shape), format_shape(r.actual_shape));
          } else if (r.nonfinite_mismatches > 0) {
            note = fmt::format("{} NaN/Inf mismatch(es), first at ({})", r.nonfinite_mismatches,
                               fmt::join(r.first_nonfinite->index, ", "));
          } else if (!r.passed() && r.worst) {
            note = fmt::format("worst at ({}): expected {:.9g}, got {:.9g}",
                               fmt::join(r.worst->index, ", "), r.worst->expected, r.worst->actual);
          }
          t.row(np.name, check, rname, r.passed() ? "PASSED" : "FAILED", ratio_text(exact, r),
                ms_since(t0), note);
        }
      }
      if (std::find(passes.begin(), passes.end(), Pass::kForward) != passes.end()) {
        adjoint_row(np.name, pr, regime, o.seed, t);
      }
    }
  }
  fmt::print("time: {:.1f} s for {} problem(s)\n", ms_since(total0) / 1000, total);
  fmt::print("verify: {} passed, {} failed, {} skipped\n", t.passed, t.failed, t.skipped);
  return t.failed == 0 ? 0 : 1;
}

}  // namespace convt2d::cli
