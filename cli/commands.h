#pragma once
// The convt2d subcommands. Each returns the process exit code (0 pass, 1 fail) and throws
// convt2d::Error for unusable input (main turns that into exit code 2 and one line on stderr).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "convt2d/case_dir.h"
#include "convt2d/compare.h"
#include "convt2d/params.h"
#include "convt2d/problem_file.h"
#include "convt2d/registry.h"

namespace convt2d::cli {

struct RunOptions {
  /// pass: must be the case's when given (empty: the case's).
  std::string case_dir, out, out_dtype, pass;
  /// Empty: default_implementation() for the case's dtype and compute_mode.
  std::string impl;
  int64_t max_bytes = kDefaultMaxBytes;
};
int run(const RunOptions& o);

struct CheckOptions {
  /// dtype: the claimed precision (empty: the case's dtype, and then a candidate of another
  /// dtype is an Error); compute_mode: the claimed mode (empty: the case's).
  std::string case_dir, candidate, dtype, compute_mode, pass;
  bool json = false;
  double lambda = 8.0;
  int64_t max_bytes = kDefaultMaxBytes;
};
int check(const CheckOptions& o);

struct GenOptions {
  std::string problem, out, regime = "real", dtype = "float32", compute_mode = "default",
                            pass = "forward";
  int64_t random = 0;
  uint64_t seed = 1;
  int64_t max_bytes = kDefaultMaxBytes;
};
int gen(const GenOptions& o);

struct VerifyOptions {
  /// pass: the one pass to verify (empty: all four).
  std::string problems_file, pass;
  int64_t random = 0;
  uint64_t seed = 1;
  double max_macs = 2e6;
  int64_t max_bytes = kDefaultMaxBytes;
};
int verify(const VerifyOptions& o);

// default_implementation: convt2d/implementations.h.

/// The problems `convt2d verify` runs by default.
std::vector<NamedProblem> builtin_problems();

/// `bench` skips the slow reference* implementations above this many multiply-adds (the same as
/// bench::BenchOptions::kDefaultMaxRefMacs; cli/bench.cc checks).
inline constexpr double kDefaultBenchMaxRefMacs = 5e7;
struct BenchCliOptions {
  std::string layers_file, problem, impls;
  /// forward, bwd_data, bwd_weights or bwd_bias (empty: forward).
  std::string pass;
  int threads = 1;
  double min_time = 0.5;
  double max_ref_macs = kDefaultBenchMaxRefMacs;
  bool json = false;
  int64_t max_bytes = kDefaultMaxBytes;
};
/// `convt2d bench` (cli/bench.cc, built only with CONVT2D_BUILD_BENCH).
int bench(const BenchCliOptions& o);

/// The most random problems `gen` and `verify` draw: a typo such as `--random 1e12` becomes a clear
/// error instead of hours of work.
inline constexpr int64_t kMaxRandom = 1'000'000;

/// The i-th random problem of a seed (the same for `gen` and `verify`). Error when `count` is
/// negative or above kMaxRandom.
void check_random_count(int64_t count);
Problem nth_random_problem(uint64_t seed, int64_t i);

// check_problem_bytes and check_truth_bytes: convt2d/compare.h.

/// The pass a command works on: the case's, which `flag` (--pass), when given, must equal.
Pass case_pass(const std::string& flag, const Case& c);

/// impl.working_bytes(pr), 0 where the implementation declares none.
int64_t working_bytes(const Implementation& impl, const Problem& pr);

/// Error naming --max-bytes, the implementation and the byte count when impl's working memory
/// for pr exceeds max_bytes (or its count overflows). Call before impl.run.
void check_working_bytes(const Implementation& impl, const Problem& pr, int64_t max_bytes);

}  // namespace convt2d::cli
