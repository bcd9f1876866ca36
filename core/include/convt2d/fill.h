#pragma once
/// \file
/// Deterministic test data for a problem, in three regimes. The same (problem, regime, seed) gives
/// the same bits on every machine: values come from our own splitmix64 stream, not from the
/// standard library's implementation-defined distributions.

#include <cstdint>
#include <string_view>

#include "convt2d/params.h"
#include "convt2d/pass.h"
#include "convt2d/tensor.h"

namespace convt2d {

/// integer: small integers, every partial sum (and every partial sum of the sum of two such data
///   sets) exactly representable in the storage type where integer_exact() says so, so all
///   correct implementations agree bit for bit and identities hold exactly.
/// real: uniform reals in [-1, 1), rounded to the storage type.
/// cancellation: large mixed-sign values whose per-element sums nearly cancel, the hardest case
///   for the error bounds. float32/float64: adjacent input channels (2i, 2i+1) carry almost equal
///   x and opposite w. float16/bfloat16: channel i of the first half of a group pairs with
///   channel i + IC/(2G), and in the first half sign(w) = sign(x), so a sum taken in channel order
///   climbs to about half of sum|w*x| before the second half cancels it: what separates an
///   accumulation in the storage type from a float32 one (docs/oracle.md). Magnitudes stay far
///   below float16's overflow (|x| in [1, 2), |w| < 8).
enum class Regime { kInteger, kReal, kCancellation };

/// "integer" / "real" / "cancellation".
std::string_view to_string(Regime r);
/// Parses a regime name; anything else is an Error naming `--regime`.
Regime parse_regime(std::string_view s);

/// x, w and b (b empty with shape {} when the problem has no bias) for one problem, and dy (the
/// output's shape) for a backward pass (empty with shape {} for the forward pass).
template <class T>
struct ProblemData {
  Tensor<T> x, w, b, dy;
  /// &b when the problem has a bias, else nullptr (the form the references take).
  const Tensor<T>* bias() const { return b.shape.empty() ? nullptr : &b; }
};

/// The most products an element of the pass's result sums: (IC/G)*kh*kw (forward), (OC/G)*kh*kw
/// (bwd_data), N*H*W (bwd_weights), N*Hout*Wout (bwd_bias).
double max_taps(const Problem& pr, Pass pass = Pass::kForward);

/// The largest magnitude the integer regime uses for this problem in a storage type with
/// `significand_bits` (24 float32, 11 float16, 8 bfloat16): the biggest R <= 8 with
/// 2*(R*R*K + R) < 2^significand_bits for K = max_taps(pr, pass), so every partial sum, and every
/// partial sum for the element-wise sum of two such data sets, is an exact integer in that type.
/// 1 when no R >= 1 satisfies it (see integer_exact).
int64_t integer_range(const Problem& pr, int significand_bits = 24, Pass pass = Pass::kForward);

/// Whether integer_range(pr, significand_bits, pass) satisfies its condition, i.e. integer data
/// of that range is computed exactly by every correct implementation of the pass. Always true for
/// float32 with fewer than 2^22 taps; for bfloat16 it needs K < 127.
bool integer_exact(const Problem& pr, int significand_bits, Pass pass = Pass::kForward);

/// Fills x, w and b for `pr`, and for a backward pass also dy (after them, so that x, w and b are
/// the forward pass's data of the same seed except in the integer regime, whose range is the
/// pass's). The cancellation regime's dy is large, mixed in sign: ±[512, 1024). Validates pr;
/// Error if it is invalid.
template <class T>
ProblemData<T> make_data(const Problem& pr, Regime regime, uint64_t seed,
                         Pass pass = Pass::kForward);

/// A tensor of `shape` filled like the regime's x (integer: values in [-int_range, int_range];
/// real and cancellation: uniform in [-1, 1), rounded to T).
template <class T>
Tensor<T> make_tensor(const Shape& shape, Regime regime, uint64_t seed, int64_t int_range);

/// A valid random problem with small sizes (N 0..2, channels <= 16, H, W 1..8, k 1..5, s 1..4,
/// d 1..3, groups first and channels as multiples, padding sometimes beyond the kernel extent),
/// built valid by construction, deterministic for a seed.
Problem random_problem(uint64_t seed);

extern template Tensor<float> make_tensor<float>(const Shape&, Regime, uint64_t, int64_t);
extern template Tensor<double> make_tensor<double>(const Shape&, Regime, uint64_t, int64_t);
extern template Tensor<float16> make_tensor<float16>(const Shape&, Regime, uint64_t, int64_t);
extern template Tensor<bfloat16> make_tensor<bfloat16>(const Shape&, Regime, uint64_t, int64_t);
extern template ProblemData<float> make_data<float>(const Problem&, Regime, uint64_t, Pass);
extern template ProblemData<double> make_data<double>(const Problem&, Regime, uint64_t, Pass);
extern template ProblemData<float16> make_data<float16>(const Problem&, Regime, uint64_t, Pass);
extern template ProblemData<bfloat16> make_data<bfloat16>(const Problem&, Regime, uint64_t, Pass);

}  // namespace convt2d
