#pragma once
/// \file
/// Deterministic test data for a problem, in three regimes. The same (problem, regime, seed) gives
/// the same bits on every machine: values come from our own splitmix64 stream, not from the
/// standard library's implementation-defined distributions.

#include <cstdint>
#include <string_view>

#include "convt2d/params.h"
#include "convt2d/tensor.h"

namespace convt2d {

/// integer: small integers, every partial sum exactly representable in float32, so all correct
///   implementations agree bit for bit and identities hold exactly.
/// real: uniform reals in [-1, 1).
/// cancellation: large mixed-sign values whose per-element sums nearly cancel (pairs of input
///   channels carry almost equal x and opposite w), the hardest case for the error bounds.
enum class Regime { kInteger, kReal, kCancellation };

/// "integer" / "real" / "cancellation".
std::string_view to_string(Regime r);
/// Parses a regime name; anything else is an Error naming `--regime`.
Regime parse_regime(std::string_view s);

/// x, w and b (b empty with shape {} when the problem has no bias) for one problem.
template <class T>
struct ProblemData {
  Tensor<T> x, w, b;
  /// &b when the problem has a bias, else nullptr (the form the references take).
  const Tensor<T>* bias() const { return b.shape.empty() ? nullptr : &b; }
};

/// The largest magnitude the integer regime uses for this problem: the biggest R <= 8 with
/// R*R*K + R < 2^24 for K = (IC/G)*kh*kw taps, so every partial sum is an exact float32 integer.
int64_t integer_range(const Problem& pr);

/// Fills x, w and b for `pr`. Validates pr; Error if it is invalid.
template <class T>
ProblemData<T> make_data(const Problem& pr, Regime regime, uint64_t seed);

/// A tensor of `shape` filled like the regime's x (integer: values in [-int_range, int_range];
/// real and cancellation: uniform in [-1, 1)).
template <class T>
Tensor<T> make_tensor(const Shape& shape, Regime regime, uint64_t seed, int64_t int_range);

/// A valid random problem with small sizes (N 0..2, channels <= 16, H, W 1..8, k 1..5, s 1..4,
/// d 1..3, groups first and channels as multiples, padding sometimes beyond the kernel extent),
/// built valid by construction, deterministic for a seed.
Problem random_problem(uint64_t seed);

extern template Tensor<float> make_tensor<float>(const Shape&, Regime, uint64_t, int64_t);
extern template Tensor<double> make_tensor<double>(const Shape&, Regime, uint64_t, int64_t);
extern template ProblemData<float> make_data<float>(const Problem&, Regime, uint64_t);
extern template ProblemData<double> make_data<double>(const Problem&, Regime, uint64_t);

}  // namespace convt2d
