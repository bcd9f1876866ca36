#pragma once
/// \file
/// The one compare module: an exact expected result, a candidate, certified bounds and the
/// suspicious band in; a verdict and a report out. The CLI (`check`, `verify`), the tests and the
/// fuzzers all judge outputs through it.

#include <optional>
#include <string>
#include <string_view>

#include "convt2d/case_dir.h"
#include "convt2d/error_bounds.h"
#include "convt2d/reference.h"
#include "convt2d/registry.h"

namespace convt2d {

/// The truth for one case: the exact result (640-bit; exact for float32, float16 and bfloat16
/// inputs), |y|, and what decides where a correct result may or must overflow.
struct Truth {
  Pass pass = Pass::kForward;  ///< what the result is (it names the report's index)
  Tensor<Exact> expected;
  Tensor<double> abs_expected;
  /// Per element (long double: float64 products can exceed double's range): upper bounds on the
  /// sums of the magnitudes of the positive and of the negative terms (products and bias), and
  /// lower bounds on the largest positive and negative product (product_sums in bounds.h). With
  /// the claimed arithmetic they decide which of +inf, -inf and NaN a correct implementation may
  /// return, and where every correct result must overflow (compare_outputs). Empty when unknown.
  Tensor<long double> positive, negative, largest_positive, largest_negative;
  /// K of every element, the number of products it sums (ProductSums::taps), which the overflow
  /// rules read. Empty when unknown.
  std::vector<int64_t> taps;
  /// The exact result as a pair of doubles where that is exact: expected = hi + lo, hi the
  /// nearest double. lo is NaN where no such pair exists (then compare_outputs works in 640-bit
  /// arithmetic). Both empty when not computed (the same: every element in 640-bit arithmetic).
  /// They let the comparison decide almost every element in double arithmetic with a rigorous
  /// margin, so that the verdict stays exact but costs a few nanoseconds.
  Tensor<double> expected_hi, expected_lo;
};

/// Computes the exact result of a case, whatever its pass (fixed point for float32, float16 and
/// bfloat16 data, 640 bits for float64), with its per-element term sums and tap counts.
Truth compute_truth(const Case& c);

/// Bytes compute_truth holds per output element: the exact reference's (kExactBytesPerElement),
/// |y|, the four long double term sums and K. What a memory cap on the oracle must count.
inline constexpr int64_t kTruthBytesPerElement =
    kExactBytesPerElement +
    static_cast<int64_t>(sizeof(double) + 4 * sizeof(long double) + sizeof(int64_t));

// precision_of(DType) and claimed_arithmetic(DType, ComputeMode): convt2d/registry.h.

/// The per-element certified bound for an implementation with arithmetic `a` on this case's data.
Tensor<double> case_bound(const Case& c, const Arithmetic& a);
/// The same for `acc` arithmetic rounded once more to an output format with unit roundoff
/// `output_u` (0 if none), the bias in the accumulator.
Tensor<double> case_bound(const Case& c, Precision acc, double output_u = 0.0);

/// The suspicious band (docs/oracle.md) for arithmetic `a` and the exact |y|.
Tensor<double> case_band(const Case& c, const Truth& t, const Arithmetic& a, double lambda);
/// The band for an accumulation with unit roundoff u and no output rounding.
Tensor<double> case_band(const Case& c, const Truth& t, double u, double lambda);

/// The default lambda of the suspicious band: see docs/oracle.md for the false-alarm rate.
inline constexpr double kDefaultLambda = 8.0;

/// One output element, located and measured.
struct ElementReport {
  Shape index;          ///< in the result's shape: index_names(pass, rank) names its parts
  double expected = 0;  ///< exact value, rounded to double for display
  double actual = 0;
  double abs_err = 0;
  double bound = 0;
  double ulps = 0;  ///< |actual - expected| in ulps of the claimed dtype at the expected value
  /// The exact value in decimal where it lies beyond double's range (`expected` is then ±inf).
  std::string expected_text;
};

/// The verdict and its evidence.
struct Report {
  Pass pass = Pass::kForward;  ///< the truth's pass
  bool shape_ok = true;
  Shape expected_shape, actual_shape;
  DType claimed = DType::kFloat32;  ///< the precision the bound assumed
  /// The compute_mode the bound assumed, when it matters (float16/bfloat16 claims; set by the
  /// caller, printed by the report).
  std::optional<ComputeMode> mode;
  int64_t elements = 0;
  int64_t over_bound = 0;            ///< finite elements with |err| > bound
  int64_t nonfinite_mismatches = 0;  ///< NaN/Inf where no correct result has it, or vice versa
  /// Finite elements where every correct result with the claimed arithmetic overflows (a product
  /// beyond twice the overflow threshold of a fixed-format accumulator).
  int64_t overflow_mismatches = 0;
  /// Finite elements within the bound but outside every value a correct result can take: above
  /// the limit of the positive terms, or below minus that of the negative ones
  /// (intermediate_limit): a negative sum of positive terms where the bound is vacuous.
  int64_t out_of_range = 0;
  /// Elements whose certified bound is at least their magnitude |b| + sum|w*x| (the rounding
  /// growth (1 + u)^(K+1+x) - 1 >= 1): the claimed arithmetic cannot be certified there to better
  /// than the data's size (e.g. bfloat16 accumulation of hundreds of terms). Not a failure.
  int64_t vacuous_bound = 0;
  double max_err_over_bound = 0;       ///< largest |err| / bound (inf if a zero bound is missed)
  std::optional<ElementReport> worst;  ///< element with the largest err/bound
  std::optional<ElementReport> first_nonfinite;  ///< first NaN/Inf mismatch
  std::optional<ElementReport> first_overflow;   ///< first finite value where overflow is certain
  std::optional<ElementReport> first_out_of_range;  ///< first finite value no correct result has
  bool band_checked = false;
  int64_t over_band = 0;         ///< elements within the bound but outside the band
  double max_err_over_band = 0;  ///< largest |err| / band
  bool suspicious = false;       ///< passed, but some element lies outside the band

  bool passed() const {
    return shape_ok && over_bound == 0 && nonfinite_mismatches == 0 && overflow_mismatches == 0 &&
           out_of_range == 0;
  }
};

/// Compares `candidate` (any dtype) with `truth` element by element, for a result that claims
/// dtype `claimed` computed with arithmetic `a` (claimed_arithmetic(), arithmetic_of()). `bound`
/// must have the truth's shape; `band` may be null (no suspicious check). A shape mismatch is a
/// failed report, not an exception. The rules (docs/error-bounds.md#overflow):
///
/// - Where the truth is NaN or infinite (non-finite inputs), the candidate must be the same, or,
///   for an infinite truth, NaN where the finite terms of the other sign can overflow.
/// - Where the truth is finite, a finite candidate must lie within the bound, unless every
///   correct result overflows there (a product beyond twice the overflow threshold of a
///   fixed-format accumulator): then no finite value is right.
/// - +inf is accepted only where some intermediate of a correct implementation can reach the
///   overflow threshold from the positive terms; -inf likewise; NaN only where both signs can
///   overflow. Without the truth's term sums (a Truth
///   built by hand): an infinity of the truth's sign where |truth| + bound reaches the threshold.
Report compare_outputs(const Truth& truth, const AnyTensor& candidate, const Tensor<double>& bound,
                       const Tensor<double>* band, DType claimed, const Arithmetic& a);

/// The adjoint identity <ConvT(x), y> = <x, Conv2d(y)> for one weight (bias ignored), with both
/// operators computed exactly (640-bit accumulation of float32 data).
struct AdjointResult {
  bool shape_ok = true;  ///< Conv2d mapped the output shape back to the input shape
  double lhs = 0, rhs = 0;
  double diff = 0;       ///< |lhs - rhs|
  double tolerance = 0;  ///< 0 for integer data; see adjoint_check
  bool passed() const { return shape_ok && diff <= tolerance; }
};

/// Checks adjointness for x, w (shapes of `params`) and y (the output shape). When `exact_data`
/// (small integers) every product and sum is an exact integer and the identity must hold exactly;
/// otherwise the two n-term inner-product sums may round at 2^-640 and the tolerance is
/// 2 * gamma_640(n) * (sum of |terms| of both), with a factor 2 for computing those sums in double.
AdjointResult adjoint_check(const Params& params, const Tensor<float>& x, const Tensor<float>& w,
                            const Tensor<float>& y, bool exact_data);

/// Error naming `option` (--max-bytes; Python: max_bytes) when one of a problem's tensors (input,
/// weight, output, as float64) exceeds max_bytes. Call before allocating anything for it.
void check_problem_bytes(const Problem& pr, int64_t max_bytes,
                         std::string_view option = "--max-bytes");
/// The same, and also when the exact truth of `pass` (kTruthBytesPerElement per element of its
/// result) exceeds it: for everything that computes the truth (gen, check, verify, Python).
void check_truth_bytes(const Problem& pr, int64_t max_bytes, Pass pass = Pass::kForward,
                       std::string_view option = "--max-bytes");

/// What a candidate claims and the limits of judging it: the options of `convt2d check`.
struct CheckClaim {
  /// The claimed dtype. Empty: the case's, and then a candidate of another dtype is an Error
  /// (a file's dtype is no claim: a float32 result saved as float16 would get float16's bound).
  std::optional<DType> dtype;
  /// The claimed compute_mode (float16/bfloat16). Empty: the case's params.compute_mode.
  std::optional<ComputeMode> compute_mode;
  double lambda = kDefaultLambda;  ///< width of the suspicious band, > 0
  int64_t max_bytes = kDefaultMaxBytes;
  /// How errors name the candidate (the CLI: its path) and the dtype option ("--dtype " in the
  /// CLI, "dtype=" in Python), so that each front end's message tells its own spelling.
  std::string candidate_name = "candidate";
  std::string dtype_option = "--dtype ";
  std::string lambda_option = "--lambda";
  std::string max_bytes_option = "--max-bytes";
};

/// Error naming the option when a claim's limits are unusable: lambda not finite or not > 0,
/// max_bytes < 1. check_candidate calls it; a front end may call it before reading any file.
void validate_claim(const CheckClaim& claim);

/// A judgement and what it was made against.
struct CheckResult {
  Report report;
  Tensor<double> bound;  ///< the certified bound per element of the result
  Tensor<double> band;   ///< the suspicious band per element
};

/// Judges `candidate` for case `c` as `convt2d check` does: the claim resolved against the case,
/// the memory cap on the truth, the exact result, the bound and band of the claimed arithmetic,
/// compare_outputs, and Report::mode set for a float16/bfloat16 claim. The one implementation of
/// the check, shared by the CLI and the Python module. Error for an unusable claim (validate_claim,
/// a candidate dtype that is not claimed, the cap).
CheckResult check_candidate(const Case& c, const AnyTensor& candidate, const CheckClaim& claim);

/// Human-readable multi-line report. The word "suspicious" appears only when flagged.
std::string format_report(const Report& r);
/// The same report as a JSON object (text), with a boolean "suspicious".
std::string report_json(const Report& r);

}  // namespace convt2d
