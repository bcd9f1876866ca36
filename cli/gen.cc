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
  check_random_count(o.random);
  const int64_t count = o.problem.empty() ? o.random : 1;
  const Problem single = o.problem.empty() ? Problem{} : parse_problem(o.problem);
  const auto nth = [&](int64_t i) {
    return o.problem.empty() ? nth_random_problem(o.seed, i) : single;
  };
  // Every size check before the first file is written: a rejected run leaves nothing behind.
  // Problems are drawn again below instead of stored (random_problem is cheap).
  for (int64_t i = 0; i < count; ++i) check_problem_bytes(nth(i), o.max_bytes);
  const std::filesystem::path out(o.out);
  nlohmann::json cases = nlohmann::json::array();
  for (int64_t i = 0; i < count; ++i) {
    const Problem pr = nth(i);
    const std::string name = fmt::format("{:03}-{}", i, format_problem(pr));
    const uint64_t data_seed = o.seed + static_cast<uint64_t>(i);
    auto d = make_data<float>(pr, regime, data_seed);
    const Case c{pr, d.x, d.w, pr.params.bias ? std::optional<AnyTensor>(d.b) : std::nullopt};
    write_case(out / name, pr.params, c.x, c.w, c.b ? &*c.b : nullptr);
    const Truth truth = compute_truth(c);
    Tensor<double> expected(truth.expected.shape);
    for (size_t k = 0; k < expected.data.size(); ++k) {
      expected.data[k] = static_cast<double>(truth.expected.data[k]);
    }
    // The float32 bound, plus the rounding of the exact value to float64 in expected.npy, so that
    // |candidate - expected| <= bound is certified as written.
    Tensor<double> bound = case_bound(c, kFloat32Precision);
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
                     {"dtype", "float32"},
                     {"bound_for", "float32"},
                     {"input_shape", input_shape(pr)},
                     {"weight_shape", weight_shape(pr.params)},
                     {"output_shape", output_shape(pr)}});
  }
  const nlohmann::json manifest = {
      {"generator", "convt2d gen"},
      {"seed", o.seed},
      {"regime", std::string(to_string(regime))},
      {"check", "for every element: |y - expected| <= bound (bound assumes float32 arithmetic)"},
      {"cases", cases}};
  const std::string text = manifest.dump(2) + "\n";
  write_bytes_atomically(out / "manifest.json",
                         std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  fmt::print("gen: wrote {} case(s) to {}\n", count, out.string());
  return 0;
}

}  // namespace convt2d::cli
