#pragma once
/// \file
/// `convt2d bench`: times implementations from the one registry on a list of layers, beside the
/// machine's measured FMA peak. The Google Benchmark executable shares the selection and timing
/// rules declared here.

#include <cstdint>
#include <string>
#include <vector>

#include "convt2d/case_dir.h"
#include "convt2d/params.h"
#include "convt2d/registry.h"

namespace convt2d::bench {

/// A named layer to time.
struct Layer {
  std::string name;
  Problem problem;
};

/// What to time and how.
struct BenchOptions {
  std::vector<Layer> layers;
  /// OpenMP threads for every implementation (and for the second peak figure).
  int threads = 1;
  /// Each implementation repeats execute() until this many seconds have passed...
  double min_time = 0.5;
  /// ... and at least this many times; the median is reported.
  int min_reps = 5;
  /// Implementation names; empty: default_impls().
  std::vector<std::string> impls;
  /// The `reference*` implementations are skipped on layers with more multiply-adds.
  double max_ref_macs = kDefaultMaxRefMacs;
  /// One JSON array on stdout instead of the tables.
  bool json = false;
  /// Seed of the (real-regime) input data.
  uint64_t seed = 1;
  /// The pass timed: its implementations from the registry, beside oneDNN's of the same pass.
  Pass pass = Pass::kForward;
  /// A layer whose tensors (input, weight, output, as float64) exceed this many bytes is skipped
  /// before anything is allocated for it, and so is an implementation whose declared working
  /// memory does: every row SKIPPED with the reason, as `verify` does.
  int64_t max_bytes = kDefaultMaxBytes;

  static constexpr double kDefaultMaxRefMacs = 5e7;
};

/// The registry the bench iterates: builtin_registry() plus add_onednn().
Registry bench_registry();

/// optimized, reference, onednn-best, onednn-nchw (for every pass).
std::vector<std::string> default_impls();

/// The implementations of `pass` to time, in order. With `names` empty, default_impls() that `r`
/// holds for the pass, and a note for each that it lacks (e.g. `optimized` before it is built). A
/// name given explicitly that `r` lacks for the pass is an Error naming `--impls`.
struct Selection {
  std::vector<const Implementation*> impls;
  std::vector<std::string> notes;
};
Selection select_impls(const Registry& r, const std::vector<std::string>& names,
                       Pass pass = Pass::kForward);

/// Why `impl` is not timed on `pr`, or "": a reference* implementation over max_ref_macs, a
/// tensor of pr over max_bytes (checked before anything is allocated), or impl's declared working
/// memory over max_bytes.
std::string skip_reason(const Implementation& impl, const Problem& pr, double max_ref_macs,
                        int64_t max_bytes = kDefaultMaxBytes);

/// 2 * macs(pr): the multiply-adds of the definition, the same count for each pass (the bwd_data
/// and bwd_weights sums have exactly the forward pass's products).
double flops(const Problem& pr);

/// Runs the bench; prints tables (or JSON) on stdout and notes on stderr. Returns 0, or 1 when an
/// implementation failed on some layer (its row says why). Throws Error on unusable options.
int run_bench(const BenchOptions& o);

}  // namespace convt2d::bench
