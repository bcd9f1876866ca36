// `run` and `check`, plus the helpers the other subcommands share.
#include <fmt/format.h>

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
  // The exact result holds one 640-bit number per output element.
  const int64_t exact_bytes =
      checked_mul(element_count(output_shape(pr), "output"), static_cast<int64_t>(sizeof(Exact)),
                  "exact result bytes");
  if (exact_bytes > max_bytes) {
    throw Error("--max-bytes",
                fmt::format("exact result: output {} needs {} bytes at {} bytes per exact "
                            "element, more than --max-bytes {}",
                            format_shape(output_shape(pr)), exact_bytes, sizeof(Exact), max_bytes));
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

int run(const RunOptions& o) {
  const Registry registry = builtin_registry();
  if (!o.impl.empty()) registry.get(o.impl);  // an unknown name fails before any file is read
  const Case c = read_case(o.case_dir, o.max_bytes);
  check_problem_bytes(c.problem, o.max_bytes);
  const Implementation& impl = registry.get(
      o.impl.empty() ? (c.dtype() == DType::kFloat64 ? "reference-f64" : "reference") : o.impl);
  if (c.dtype() != impl.input) {
    std::vector<std::string> fitting;
    for (const Implementation& i : registry.all()) {
      if (i.input == c.dtype()) fitting.push_back(i.name);
    }
    throw Error("--impl", fmt::format("--impl {} takes {} inputs, but the case holds {} (use one "
                                      "of: {})",
                                      impl.name, to_string(impl.input), to_string(c.dtype()),
                                      fmt::join(fitting, ", ")));
  }
  const DType out_dtype =
      o.out_dtype.empty() ? impl.output : parse_dtype(o.out_dtype, "--out-dtype");
  AnyTensor y = impl.run(c.problem.params, c.x, c.w, c.b ? &*c.b : nullptr);
  if (dtype_of(y) != out_dtype) {
    y = std::visit(
        [&](const auto& t) -> AnyTensor {
          if (out_dtype == DType::kFloat32) return tensor_cast<float>(t);
          return tensor_cast<double>(t);
        },
        y);
  }
  write_npy(o.out, y);
  return 0;
}

int check(const CheckOptions& o) {
  const Case c = read_case(o.case_dir, o.max_bytes);
  check_problem_bytes(c.problem, o.max_bytes);
  const AnyTensor cand = read_npy(o.candidate, o.max_bytes);
  const DType claimed = o.dtype.empty() ? dtype_of(cand) : parse_dtype(o.dtype, "--dtype");
  if (!(o.lambda > 0)) {
    throw Error("--lambda", fmt::format("--lambda must be > 0, got {}", o.lambda));
  }
  const Truth truth = compute_truth(c);
  const Precision prec = precision_of(claimed);
  const Tensor<double> bound = case_bound(c, prec);
  const Tensor<double> band = case_band(c, truth, prec.u, o.lambda);
  const Report r = compare_outputs(truth, cand, bound, &band, claimed);
  if (o.json) {
    fmt::print("{}\n", report_json(r));
  } else {
    fmt::print("{}", format_report(r));
  }
  return r.passed() ? 0 : 1;
}

}  // namespace convt2d::cli
