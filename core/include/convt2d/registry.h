#pragma once
/// \file
/// The registry of ConvTranspose2d implementations: the one seam that the CLI (`--impl`, `verify`,
/// `bench`), the property suite, the differential fuzz target and an outside backend's adapter all
/// iterate. There is no second dispatch table anywhere in convt2d.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "convt2d/error_bounds.h"
#include "convt2d/pass.h"
#include "convt2d/tensor.h"

namespace convt2d {

/// The tensors of one computation, by role. A pass reads the ones it needs (reads_x, reads_w,
/// reads_dy in convt2d/pass.h; b for the forward pass when params.bias): forward x, w, b;
/// bwd_data dy, w; bwd_weights x, dy; bwd_bias dy. The others may be null.
struct Operands {
  const AnyTensor* x = nullptr;
  const AnyTensor* w = nullptr;
  const AnyTensor* b = nullptr;
  const AnyTensor* dy = nullptr;
};

/// An implementation made ready for one parameter set, weights and bias (weights packed,
/// primitives created): what `bench` times. load() and store() move data between NCHW tensors and
/// the implementation's own layout and are not timed; execute() is the timed computation.
struct Prepared {
  /// Takes x (NCHW, the implementation's input dtype); may reorder or copy it.
  std::function<void(const AnyTensor& x)> load;
  /// y = ConvTranspose2d(the loaded x).
  std::function<void()> execute;
  /// Returns the last result as an NCHW tensor of the implementation's output dtype.
  std::function<AnyTensor()> store;
};

/// One implementation: a name, the pass it computes, what it reads and writes, and the arithmetic
/// it claims.
struct Implementation {
  /// Stable, used on the command line: "reference", "reference-f32", "optimized", ... Unique per
  /// pass: the backward passes of an implementation carry its forward pass's name.
  std::string name;
  /// One line for `convt2d verify` and `--help`.
  std::string description;
  /// What it computes (convt2d/pass.h).
  Pass pass = Pass::kForward;
  /// dtype of the tensors it reads (x, w, b, dy).
  DType input = DType::kFloat32;
  /// dtype of the returned result.
  DType output = DType::kFloat32;
  /// The accumulation precision it claims; its certified bound uses this.
  Precision accumulation = kFloat32Precision;
  /// Unit roundoff of the final rounding from the accumulator to `output` (0 when the accumulator
  /// already is the output format); added to the certified bound.
  double output_u = 0.0;
  /// Absolute error of that final rounding where it lands in the output's subnormal range (half
  /// the output's smallest subnormal; 0 when the output's range covers the accumulator's).
  double output_eta = 0.0;
  /// The bias is added in the output format after the rounded convolution result (MegEngine's
  /// float16/bfloat16 order: one more rounding with output_u), not in the accumulator.
  bool bias_after_rounding = false;
  /// Roundings with `accumulation`'s precision each term may pass beyond those of the sum (see
  /// Arithmetic; 1 for a claim of float16/bfloat16 compute_mode `default`).
  int extra_roundings = 0;
  /// Intermediates may be held in any format at least as precise and wide as `accumulation`
  /// (Arithmetic::wider_intermediates; set by a claim of float16/bfloat16 compute_mode `default`).
  bool wider_intermediates = false;
  /// True for the multiprecision references the oracle itself uses as the truth (exact for
  /// float32 inputs); `verify` does not judge them against themselves.
  bool exact = false;
  /// The vector instruction set it executes on this machine: "avx2", "avx512" or "scalar" (empty:
  /// not said). `bench` reads its % of peak against the measured FMA peak of that instruction set
  /// (the machine's largest when empty or unmeasured).
  std::string vector_isa;
  /// The forward pass: y = ConvTranspose2d(x, w, b). `b` is null when params.bias is false. x, w,
  /// b hold `input`; the result holds `output`. Throws Error on invalid parameters or shapes.
  std::function<AnyTensor(const Params&, const AnyTensor& x, const AnyTensor& w,
                          const AnyTensor* b)>
      run;
  /// Any pass (required for the backward passes; a forward implementation may set this instead
  /// of `run`): the result from the operands the pass reads. Throws Error like `run`.
  std::function<AnyTensor(const Params&, const Operands&)> run_pass;
  /// Optional: prepares repeated runs with `threads` threads (<= 0: the default). When empty,
  /// prepared() builds a Prepared around `run`.
  std::function<Prepared(const Params&, const AnyTensor& w, const AnyTensor* b, int threads)>
      prepare;
  /// Optional: prepares repeated runs of its pass (any pass) on `operands`, the ones the pass
  /// reads, with `threads` threads (<= 0: the default). Everything done once (weights packed,
  /// primitives made, operands copied or reordered into the implementation's layouts) happens
  /// here, untimed; execute() computes the result from them and store() returns it as an NCHW
  /// (or weight-shaped) tensor; load() is not set. When empty, prepared(impl, p, operands,
  /// threads) builds one from `prepare` (forward) or around run_pass.
  std::function<Prepared(const Params&, const Operands& operands, int threads)> prepare_pass;
  /// Optional: an upper bound on the bytes one `run` on `problem`'s shapes allocates beyond x, w,
  /// b and the returned y (accumulators, packed weights, padded copies, per-thread buffers), for
  /// any data. Throws Error naming the quantity when the count overflows int64. The CLI holds it
  /// against `--max-bytes` before running (`run`: exit code 2; `verify`: SKIPPED). Empty: the
  /// implementation allocates a negligible amount.
  std::function<int64_t(const Problem& problem)> working_bytes;
};

/// Unit roundoff and underflow unit of a dtype's arithmetic.
Precision precision_of(DType t);

/// The arithmetic a result of `dtype` computed in compute_mode `mode` claims
/// (docs/error-bounds.md). float32 and float64: that precision throughout (compute_mode has no
/// effect). float16/bfloat16, `default`: no requirement on intermediate precision, so the storage
/// precision with one extra rounding (accumulation in the storage type or anything wider, the
/// convolution result possibly rounded to the storage type before the bias is added).
/// float16/bfloat16, `float32`: float32 accumulation, the result rounded to the storage type, the
/// bias added in the storage type (the bound also covers the bias in the accumulator).
Arithmetic claimed_arithmetic(DType dtype, ComputeMode mode);

/// The arithmetic `impl` claims, as the certified bound reads it.
Arithmetic arithmetic_of(const Implementation& impl);

/// Sets impl's accumulation, output_u, output_eta, bias_after_rounding, extra_roundings and
/// wider_intermediates to `a`.
/// E.g. a float16 kernel with a float32 accumulator:
/// `set_arithmetic(impl, claimed_arithmetic(DType::kFloat16, ComputeMode::kFloat32))`.
void set_arithmetic(Implementation& impl, const Arithmetic& a);

/// Runs `impl` on the operands of its pass: impl.run_pass when set, else impl.run with x, w and b.
/// Error naming a missing operand. What every consumer of the registry calls.
AnyTensor invoke(const Implementation& impl, const Params& params, const Operands& operands);

/// impl.prepare(...) when set, else a Prepared whose execute() calls impl.run (load() keeps a
/// copy of x; threads is ignored). Forward implementations only.
Prepared prepared(const Implementation& impl, const Params& p, const AnyTensor& w,
                  const AnyTensor* b, int threads);

/// A Prepared for `impl`'s pass with its operands already in place, ready to execute(): the
/// pass-neutral form of the above. impl.prepare_pass when set; for the forward pass otherwise
/// prepared(impl, p, *w, b, threads) followed by load(*x); else one whose execute() calls
/// invoke() on copies of the operands. Error naming an operand the pass reads that is missing.
Prepared prepared(const Implementation& impl, const Params& p, const Operands& operands,
                  int threads);

/// An ordered list of implementations, looked up by name and pass.
class Registry {
 public:
  /// Adds `impl`; Error if (name, pass) is taken, or it has no function for its pass (a backward
  /// pass needs run_pass, the forward pass run or run_pass).
  void add(Implementation impl);
  /// The implementation of `pass` called `name`; Error naming `--impl` and listing the names
  /// known for that pass.
  const Implementation& get(const std::string& name, Pass pass = Pass::kForward) const;
  /// Null when absent.
  const Implementation* find(const std::string& name, Pass pass = Pass::kForward) const;
  const std::vector<Implementation>& all() const { return impls_; }
  /// The names of the implementations of `pass`, in order.
  std::vector<std::string> names(Pass pass = Pass::kForward) const;

 private:
  std::vector<Implementation> impls_;
};

}  // namespace convt2d
