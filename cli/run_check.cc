// `run` and `check`, plus the helpers the other subcommands share.
#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "commands.h"
#include "convt2d/checked.h"
#include "convt2d/compare.h"
#include "convt2d/error.h"
#include "convt2d/fill.h"
#include "convt2d/implementations.h"
#include "convt2d/npy.h"

namespace convt2d::cli {

int64_t working_bytes(const Implementation& impl, const Problem& pr) {
  return impl.working_bytes ? impl.working_bytes(pr) : 0;
}

void check_working_bytes(const Implementation& impl, const Problem& pr, int64_t max_bytes) {
  const int64_t bytes = working_bytes(impl, pr);
  if (bytes > max_bytes) {
    throw Error("--max-bytes",
                fmt::format("--impl {} needs {} bytes of working memory for {}, more than "
                            "--max-bytes {}",
                            impl.name, bytes, format_problem(pr), max_bytes));
  }
}

void check_random_count(int64_t count) {
  if (count < 0 || count > kMaxRandom) {
    throw Error("--random", fmt::format("--random must be in [0, {}], got {}", kMaxRandom, count));
  }
}

Problem nth_random_problem(uint64_t seed, int64_t i) {
  // Golden-ratio spacing keeps the streams of nearby seeds apart.
  return random_problem(seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(i));
}

Pass case_pass(const std::string& flag, const Case& c) {
  if (flag.empty()) return c.pass;
  const Pass p = parse_pass(flag, "--pass");
  if (p != c.pass) {
    throw Error("--pass", fmt::format("--pass {}: the case is a {} case (case.json's \"pass\"; "
                                      "gen --pass writes a case for each pass)",
                                      to_string(p), to_string(c.pass)));
  }
  return p;
}

int run(const RunOptions& o) {
  const Registry registry = builtin_registry();
  // An unknown name fails before any file is read (of the pass --pass names, or of any pass).
  if (!o.impl.empty()) {
    if (!o.pass.empty()) {
      registry.get(o.impl, parse_pass(o.pass, "--pass"));
    } else if (std::none_of(std::begin(kAllPasses), std::end(kAllPasses),
                            [&](Pass p) { return registry.find(o.impl, p) != nullptr; })) {
      registry.get(o.impl);
    }
  }
  if (!o.out_dtype.empty()) parse_dtype(o.out_dtype, "--out-dtype");
  const Case c = read_case(o.case_dir, o.max_bytes);
  const Pass pass = case_pass(o.pass, c);
  check_problem_bytes(c.problem, o.max_bytes);
  const Implementation& impl = registry.get(
      o.impl.empty() ? default_implementation(c.dtype(), c.problem.params.compute_mode) : o.impl,
      pass);
  if (c.dtype() != impl.input) {
    std::vector<std::string> fitting;
    for (const Implementation& i : registry.all()) {
      if (i.input == c.dtype() && i.pass == pass) fitting.push_back(i.name);
    }
    throw Error("--impl", fmt::format("--impl {} takes {} inputs, but the case holds {} (use one "
                                      "of: {})",
                                      impl.name, to_string(impl.input), to_string(c.dtype()),
                                      fmt::join(fitting, ", ")));
  }
  const DType out_dtype =
      o.out_dtype.empty() ? impl.output : parse_dtype(o.out_dtype, "--out-dtype");
  check_working_bytes(impl, c.problem, o.max_bytes);
  AnyTensor y = invoke(impl, c.problem.params, c.operands());
  if (dtype_of(y) != out_dtype) {
    // Through double: exact from every output dtype, then rounded once to the requested one.
    const Tensor<double> yd = std::visit([](const auto& t) { return tensor_cast<double>(t); }, y);
    switch (out_dtype) {
      case DType::kFloat32:
        y = tensor_cast<float>(yd);
        break;
      case DType::kFloat64:
        y = yd;
        break;
      case DType::kFloat16:
        y = tensor_cast<float16>(yd);
        break;
      case DType::kBFloat16:
        y = tensor_cast<bfloat16>(yd);
        break;
    }
  }
  write_npy(o.out, y);
  return 0;
}

int check(const CheckOptions& o) {
  // Flags first: a typo fails before any file is read.
  CheckClaim claim;
  if (!o.dtype.empty()) claim.dtype = parse_dtype(o.dtype, "--dtype");
  if (!o.compute_mode.empty()) claim.compute_mode = parse_compute_mode(o.compute_mode);
  claim.lambda = o.lambda;
  claim.max_bytes = o.max_bytes;
  validate_claim(claim);
  claim.candidate_name = fmt::format("candidate {}", o.candidate);
  const Case c = read_case(o.case_dir, o.max_bytes);
  case_pass(o.pass, c);
  check_truth_bytes(c.problem, o.max_bytes, c.pass);  // before the candidate is read
  // A uint16 candidate is bfloat16 storage when the claim or the case says bfloat16.
  const bool bf16 = claim.dtype == DType::kBFloat16 || c.dtype() == DType::kBFloat16;
  const AnyTensor cand = read_npy(o.candidate, o.max_bytes, bf16);
  const Report r = check_candidate(c, cand, claim).report;
  if (o.json) {
    fmt::print("{}\n", report_json(r));
  } else {
    fmt::print("{}", format_report(r));
  }
  return r.passed() ? 0 : 1;
}

}  // namespace convt2d::cli
