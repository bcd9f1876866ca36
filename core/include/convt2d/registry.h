#pragma once
/// \file
/// The registry of ConvTranspose2d implementations: the one seam that the CLI (`--impl`, `verify`,
/// `bench`), the property suite, the differential fuzz target and an outside backend's adapter all
/// iterate. There is no second dispatch table anywhere in convt2d.

#include <functional>
#include <string>
#include <vector>

#include "convt2d/error_bounds.h"
#include "convt2d/tensor.h"

namespace convt2d {

/// One implementation: a name, what it reads and writes, and the arithmetic it claims.
struct Implementation {
  /// Unique, stable, used on the command line: "reference", "reference-f32", "optimized", ...
  std::string name;
  /// One line for `convt2d verify` and `--help`.
  std::string description;
  /// dtype of x, w and b.
  DType input = DType::kFloat32;
  /// dtype of the returned y.
  DType output = DType::kFloat32;
  /// The accumulation precision it claims; its certified bound uses this.
  Precision accumulation = kFloat32Precision;
  /// Unit roundoff of the final rounding from the accumulator to `output` (0 when the accumulator
  /// already is the output format); added to the certified bound.
  double output_u = 0.0;
  /// True for the multiprecision references the oracle itself uses as the truth (exact for
  /// float32 inputs); `verify` does not judge them against themselves.
  bool exact = false;
  /// Computes y = ConvTranspose2d(x, w, b). `b` is null when params.bias is false. x, w, b hold
  /// `input`; the result holds `output`. Throws Error on invalid parameters or shapes.
  std::function<AnyTensor(const Params&, const AnyTensor& x, const AnyTensor& w,
                          const AnyTensor* b)>
      run;
};

/// An ordered list of implementations, looked up by name.
class Registry {
 public:
  /// Adds `impl`; Error if the name is taken or run is empty.
  void add(Implementation impl);
  /// The implementation called `name`; Error naming `--impl` and listing the known names.
  const Implementation& get(const std::string& name) const;
  /// Null when absent.
  const Implementation* find(const std::string& name) const;
  const std::vector<Implementation>& all() const { return impls_; }
  std::vector<std::string> names() const;

 private:
  std::vector<Implementation> impls_;
};

}  // namespace convt2d
