// `gen`: case directories with inputs, the exact expected output and its certified bound, so a
// backend's own test suite can check itself without linking convt2d.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "convt2d/compare.h"
#include "convt2d/error.h"
#include "convt2d/fill.h"
#include "convt2d/npy.h"

namespace convt2d::cli {

int gen(const GenOptions& o) {
  const Regime regime = parse_regime(o.regime);
  const DType dtype = parse_dtype(o.dtype, "--dtype");
  const ComputeMode mode = parse_compute_mode(o.compute_mode);
  const Arithmetic arithmetic = claimed_arithmetic(dtype, mode);
  const std::string bound_for =
      is_half(dtype) ? fmt::format("{}, compute_mode {}", to_string(dtype), to_string(mode))
                     : std::string(to_string(dtype));
  check_random_count(o.random);
  const int64_t count = o.problem.empty() ? o.random : 1;
  const Problem single = o.problem.empty() ? Problem{} : parse_problem(o.problem);
  const auto nth = [&](int64_t i) {
    Problem pr = o.problem.empty() ? nth_random_problem(o.seed, i) : single;
    pr.params.compute_mode = mode;
    return pr;
  };
  // Every size check before the first file is written: a rejected run leaves nothing behind.
  // Problems are drawn again below instead of stored (random_problem is cheap).
  for (int64_t i = 0; i < count; ++i) check_truth_bytes(nth(i), o.max_bytes);
  const std::filesystem::path out(o.out);
  nlohmann::json cases = nlohmann::json::array();
  for (int64_t i = 0; i < count; ++i) {
    const Problem pr = nth(i);
    const std::string name = fmt::format("{:03}-{}", i, format_problem(pr));
    const uint64_t data_seed = o.seed + static_cast<uint64_t>(i);
    const Case c = make_case(pr, dtype, regime, data_seed);
    write_case(out / name, pr.params, c.x, c.w, c.b ? &*c.b : nullptr);
    const Truth truth = compute_truth(c);
    Tensor<double> expected(truth.expected.shape);
    for (size_t k = 0; k < expected.data.size(); ++k) {
      expected.data[k] = static_cast<double>(truth.expected.data[k]);
    }
    // The bound for the dtype and mode, plus the rounding of the exact value to float64 in
    // expected.npy, so that |candidate - expected| <= bound is certified as written.
    Tensor<double> bound = case_bound(c, arithmetic);
    for (size_t k = 0; k < bound.data.size(); ++k) {
      if (bound.data[k] > 0) {
        bound.data[k] =
            std::nextafter(bound.data[k] + 0x1p-53 * std::fabs(expected.data[k]), INFINITY);
      }
    }
    write_npy(out / name / "expected.npy", expected);
    write_npy(out / name / "bound.npy", bound);
    cases.push_back({{"name", name},
                     {"problem", format_problem(pr)},
                     {"regime", std::string(to_string(regime))},
                     {"seed", data_seed},
                     {"dtype", std::string(to_string(dtype))},
                     {"compute_mode", std::string(to_string(mode))},
                     {"bound_for", bound_for},
                     {"input_shape", input_shape(pr)},
                     {"weight_shape", weight_shape(pr.params)},
                     {"output_shape", output_shape(pr)}});
  }
  const nlohmann::json manifest = {
      {"generator", "convt2d gen"},
      {"seed", o.seed},
      {"regime", std::string(to_string(regime))},
      {"check", fmt::format("for every element: |y - expected| <= bound (bound assumes {} "
                            "arithmetic)",
                            bound_for)},
      {"cases", cases}};
  const std::string text = manifest.dump(2) + "\n";
  write_bytes_atomically(out / "manifest.json",
                         std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  fmt::print("gen: wrote {} case(s) to {}\n", count, out.string());
  return 0;
}

}  // namespace convt2d::cli
