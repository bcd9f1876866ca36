#pragma once
/// \file
/// Case directories: `case.json` (MegEngine's argument names) plus `x.npy`, `w.npy` and, when
/// bias is true, `b.npy`. The format every convt2d tool reads and writes, so a backend in any
/// language can exchange problems with the oracle.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "convt2d/fill.h"
#include "convt2d/params.h"
#include "convt2d/pass.h"
#include "convt2d/registry.h"
#include "convt2d/tensor.h"

namespace convt2d {

/// The default cap on the bytes of any one tensor (input, weight, bias, output): 4 GiB.
inline constexpr int64_t kDefaultMaxBytes = int64_t{4} << 30;

/// What case.json says: the parameters plus the optional declared shapes, dtype and pass.
struct CaseSpec {
  Params params;
  /// The computation the case is about ("pass"; default forward): which arrays it holds.
  Pass pass = Pass::kForward;
  std::optional<Shape> input_shape;
  std::optional<Shape> output_shape;
  /// The arrays' dtype when declared. Required for bfloat16, whose arrays are stored as uint16.
  std::optional<DType> dtype;
};

/// Parses case.json text. Keys: in_channels, out_channels, kernel_size (required); stride,
/// padding, output_padding, dilation (int or [h, w]), groups, bias, conv_mode, compute_mode,
/// output_padding_rule (optional, defaults as in MegEngine); input_shape, output_shape (optional
/// lists of 4 ints); dtype (optional: float32, float64, float16 or bfloat16); pass (optional:
/// forward, bwd_data, bwd_weights or bwd_bias). Unknown keys are
/// ignored. `name` labels errors. Throws Error on a JSON syntax error, a wrong type, or an invalid
/// parameter (naming the key). Does not check shapes.
CaseSpec parse_case_json(std::string_view text, const std::string& name = "case.json");

/// case.json text for `params` (all keys written) and, when given, the input and output shapes
/// and the dtype; "pass" when it is not the forward pass.
std::string case_json(const Params& params, const std::optional<Shape>& input_shape = {},
                      const std::optional<Shape>& output_shape = {},
                      const std::optional<DType>& dtype = {}, Pass pass = Pass::kForward);

/// A loaded, fully checked case: a problem, the computation it is about, and the tensors that
/// computation reads (convt2d/pass.h). x and w hold empty tensors of the case's dtype where the
/// pass does not read them.
struct Case {
  Problem problem;
  AnyTensor x, w;
  std::optional<AnyTensor> b;  ///< present iff the forward pass of a problem with a bias
  Pass pass = Pass::kForward;
  std::optional<AnyTensor> dy;  ///< present iff a backward pass
  DType dtype() const { return dtype_of(x); }
  /// The tensors by role, for invoke() (null where the pass does not read them).
  Operands operands() const;
};

/// Reads and checks a case directory: case.json and the arrays its pass reads (x.npy, w.npy,
/// b.npy for the forward pass with a bias, dy.npy for a backward pass), of one dtype (the
/// declared one when case.json has "dtype"; '<u2' arrays only with "dtype": "bfloat16"), shapes
/// consistent with the parameters (and with input_shape/output_shape when case.json declares
/// them), every tensor (output included) within `max_bytes`. Throws Error naming the file and the
/// problem.
Case read_case(const std::filesystem::path& dir, int64_t max_bytes = kDefaultMaxBytes);

/// A checked case from tensors in memory (what the Python module builds): `params` (whose bias
/// says whether the forward pass reads `b`), the pass, and the tensors it reads; the others are
/// ignored (x and w may then be empty tensors, b and dy nullopt). The checks are read_case's: one
/// dtype, shapes consistent with the parameters, every tensor (output included) within
/// `max_bytes` (an error then names `max_bytes_option`, the front end's spelling of the limit).
/// Throws Error naming the tensor (x, w, b, dy, weight, ...) or the parameter.
Case assemble_case(const Params& params, Pass pass, AnyTensor x, AnyTensor w,
                   std::optional<AnyTensor> b, std::optional<AnyTensor> dy,
                   int64_t max_bytes = kDefaultMaxBytes,
                   std::string_view max_bytes_option = "--max-bytes");

/// A case for `pr` and `pass` whose data is make_data<T>(pr, regime, seed, pass) (core/fill.h)
/// for the element type T of `dtype`, holding what the pass reads. Error naming bias when the
/// bias gradient is asked of a problem without a bias.
Case make_case(const Problem& pr, DType dtype, Regime regime, uint64_t seed,
               Pass pass = Pass::kForward);

/// Writes case.json (with "dtype": x's dtype), x.npy, w.npy and (when params.bias) b.npy into
/// `dir` (created if needed), each file atomically: a forward case.
void write_case(const std::filesystem::path& dir, const Params& params, const AnyTensor& x,
                const AnyTensor& w, const AnyTensor* b);
/// Writes any case: case.json (with "dtype" and, for a backward pass, "pass") and the arrays its
/// pass reads.
void write_case(const std::filesystem::path& dir, const Case& c);

/// Error (naming `what`) when a tensor of `shape` in `dtype` would exceed `max_bytes`, or when its
/// size overflows int64. Call before allocating. The error's subject and message name the limit
/// as `option` (the CLI's --max-bytes, Python's max_bytes).
void check_tensor_bytes(const Shape& shape, DType dtype, int64_t max_bytes, std::string_view what,
                        std::string_view option = "--max-bytes");

}  // namespace convt2d
