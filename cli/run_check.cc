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

void check_problem_bytes(const Problem& pr, int64_t max_bytes) {
  check_tensor_bytes(input_shape(pr), DType::kFloat64, max_bytes, "input");
  check_tensor_bytes(weight_shape(pr.params), DType::kFloat64, max_bytes, "weight");
  check_tensor_bytes(output_shape(pr), DType::kFloat64, max_bytes, "output");
}

void check_truth_bytes(const Problem& pr, int64_t max_bytes, Pass pass) {
  check_problem_bytes(pr, max_bytes);
  const Shape result = result_shape(pr, pass);
  // The exact reference holds a fixed-point sum, a 640-bit number and a double pair per output
  // element, the truth its magnitude and term sums.
  const int64_t exact_bytes =
      checked_mul(element_count(result, "result"), kTruthBytesPerElement, "exact result bytes");
  if (exact_bytes > max_bytes) {
    throw Error("--max-bytes",
                fmt::format("exact result: {} {} needs {} bytes at {} bytes per exact "
                            "element, more than --max-bytes {}",
                            pass == Pass::kForward ? "output" : to_string(pass),
                            format_shape(result), exact_bytes, kTruthBytesPerElement, max_bytes));
  }
}

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

std::string default_implementation(DType dtype, ComputeMode mode) {
  const bool f32acc = mode == ComputeMode::kFloat32;
  switch (dtype) {
    case DType::kFloat32:
      return "reference";
    case DType::kFloat64:
      return "reference-f64";
    case DType::kFloat16:
      return f32acc ? "reference-f16-f32acc" : "reference-f16";
    case DType::kBFloat16:
      return f32acc ? "reference-bf16-f32acc" : "reference-bf16";
  }
  return "reference";
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
  const DType claimed_flag = o.dtype.empty() ? DType::kFloat32 : parse_dtype(o.dtype, "--dtype");
  const ComputeMode mode_flag =
      o.compute_mode.empty() ? ComputeMode::kDefault : parse_compute_mode(o.compute_mode);
  if (!(o.lambda > 0)) {
    throw Error("--lambda", fmt::format("--lambda must be > 0, got {}", o.lambda));
  }
  const Case c = read_case(o.case_dir, o.max_bytes);
  case_pass(o.pass, c);
  check_truth_bytes(c.problem, o.max_bytes, c.pass);
  // A uint16 candidate is bfloat16 storage when the claim or the case says bfloat16.
  const bool bf16 =
      (!o.dtype.empty() && claimed_flag == DType::kBFloat16) || c.dtype() == DType::kBFloat16;
  const AnyTensor cand = read_npy(o.candidate, o.max_bytes, bf16);
  // The bound depends on the claimed dtype, and a file's dtype is no claim: a float32 backend's
  // result saved as float16 would be judged by float16's bound. A dtype other than the case's must
  // be claimed explicitly.
  if (o.dtype.empty() && dtype_of(cand) != c.dtype()) {
    throw Error("--dtype", fmt::format("candidate {} holds {} but the case is {}: pass --dtype {} "
                                       "to claim {} arithmetic (or --dtype {} to judge it as {})",
                                       o.candidate, to_string(dtype_of(cand)), to_string(c.dtype()),
                                       to_string(dtype_of(cand)), to_string(dtype_of(cand)),
                                       to_string(c.dtype()), to_string(c.dtype())));
  }
  const DType claimed = o.dtype.empty() ? c.dtype() : claimed_flag;
  const ComputeMode mode = o.compute_mode.empty() ? c.problem.params.compute_mode : mode_flag;
  const Truth truth = compute_truth(c);
  const Arithmetic arithmetic = claimed_arithmetic(claimed, mode);
  const Tensor<double> bound = case_bound(c, arithmetic);
  const Tensor<double> band = case_band(c, truth, arithmetic, o.lambda);
  Report r = compare_outputs(truth, cand, bound, &band, claimed, arithmetic);
  if (is_half(claimed)) r.mode = mode;
  if (o.json) {
    fmt::print("{}\n", report_json(r));
  } else {
    fmt::print("{}", format_report(r));
  }
  return r.passed() ? 0 : 1;
}

}  // namespace convt2d::cli
