// `gen`: case directories with inputs, the exact expected output and its certified bound, so a
// backend's own test suite can check itself without linking convt2d.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "convt2d/compare.h"
#include "convt2d/error.h"
#include "convt2d/files.h"
#include "convt2d/fill.h"
#include "convt2d/npy.h"

namespace convt2d::cli {
namespace {

namespace fs = std::filesystem;

// A case directory gen may replace: one holding nothing but regular files of the names gen writes
// (a previous gen's output). Anything else under that name is the user's, and is refused.
void check_replaceable(const fs::path& dir) {
  const std::string kind = file_kind(dir);
  if (kind == "missing") return;
  if (kind != "a directory") {
    throw Error("--out", fmt::format("{}: exists and is {}, not a case directory: refusing to "
                                     "replace it",
                                     dir.string(), kind));
  }
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    const bool ours = name == "case.json" || name == "x.npy" || name == "w.npy" ||
                      name == "b.npy" || name == "dy.npy" || name == "expected.npy" ||
                      name == "bound.npy";
    if (!ours || !e.is_regular_file() || e.is_symlink()) {
      throw Error("--out", fmt::format("{}: exists and holds {} '{}', which gen does not write: "
                                       "refusing to replace it (remove it or choose another --out)",
                                       dir.string(), file_kind(e.path()), name));
    }
  }
}

}  // namespace

int gen(const GenOptions& o) {
  const Regime regime = parse_regime(o.regime);
  const DType dtype = parse_dtype(o.dtype, "--dtype");
  const ComputeMode mode = parse_compute_mode(o.compute_mode);
  const Pass pass = parse_pass(o.pass, "--pass");
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
    // The bias gradient needs a bias: random problems get one (a given problem without one is
    // an error, below).
    if (pass == Pass::kBwdBias && o.problem.empty()) pr.params.bias = true;
    return pr;
  };
  // Every size check before the first file is written: a rejected run leaves nothing behind.
  // Problems are drawn again below instead of stored (random_problem is cheap).
  // So are the names: a case directory that gen may not replace, or a manifest.json that is not a
  // regular file, is refused before anything is written.
  const fs::path out(o.out);
  const auto name_of = [](int64_t i, const Problem& pr) {
    return fmt::format("{:03}-{}", i, format_problem(pr));
  };
  for (int64_t i = 0; i < count; ++i) {
    const Problem pr = nth(i);
    check_truth_bytes(pr, o.max_bytes, pass);
    check_pass(pr, pass);
    check_replaceable(out / name_of(i, pr));
  }
  if (const std::string kind = file_kind(out / "manifest.json");
      kind != "missing" && kind != "a regular file") {
    throw Error("--out", fmt::format("{}: exists and is {}, not a regular file: refusing to "
                                     "replace it",
                                     (out / "manifest.json").string(), kind));
  }
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) {
    throw Error("--out",
                fmt::format("{}: cannot create directory: {}", out.string(), ec.message()));
  }
  nlohmann::json cases = nlohmann::json::array();
  for (int64_t i = 0; i < count; ++i) {
    const Problem pr = nth(i);
    const std::string name = name_of(i, pr);
    const uint64_t data_seed = o.seed + static_cast<uint64_t>(i);
    const Case c = make_case(pr, dtype, regime, data_seed, pass);
    // Written under a temporary name and renamed into place whole: a failure half-way (a full
    // disk, out of memory) leaves no partial case directory.
    StagedDirectory staged(out / name);
    write_case(staged.path(), c);
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
    write_npy(staged.path() / "expected.npy", expected);
    write_npy(staged.path() / "bound.npy", bound);
    staged.commit();
    cases.push_back({{"name", name},
                     {"problem", format_problem(pr)},
                     {"regime", std::string(to_string(regime))},
                     {"seed", data_seed},
                     {"dtype", std::string(to_string(dtype))},
                     {"pass", std::string(to_string(pass))},
                     {"compute_mode", std::string(to_string(mode))},
                     {"bound_for", bound_for},
                     {"input_shape", input_shape(pr)},
                     {"weight_shape", weight_shape(pr.params)},
                     {"output_shape", output_shape(pr)},
                     {"result_shape", result_shape(pr, pass)}});
  }
  const nlohmann::json manifest = {
      {"generator", "convt2d gen"},
      {"seed", o.seed},
      {"regime", std::string(to_string(regime))},
      {"check", fmt::format("for every element: |y - expected| <= bound (bound assumes {} "
                            "arithmetic)",
                            bound_for)},
      {"cases", cases}};
  // Last, so that it lists only complete cases.
  const std::string text = manifest.dump(2) + "\n";
  write_bytes_atomically(out / "manifest.json",
                         std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  fmt::print("gen: wrote {} case(s) to {}\n", count, out.string());
  return 0;
}

}  // namespace convt2d::cli
