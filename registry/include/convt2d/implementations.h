#pragma once
/// \file
/// The implementations convt2d ships, in one Registry (see convt2d/registry.h).

#include <string>

#include "convt2d/registry.h"

namespace convt2d {

/// A fresh registry holding every built-in implementation, in this order:
///   reference          float32 in, long double accumulator, float64 out (the CLI default)
///   reference-f32      float32 in, float32 accumulator, float32 out
///   reference-double   float32 in, double accumulator, float64 out
///   reference-mp       float32 in, exact multiprecision accumulator, float64 out
///   reference-f64      float64 in, long double accumulator, float64 out
///   reference-f64-mp   float64 in, 640-bit multiprecision accumulator, float64 out
///   reference-f16      float16 in and out, float16 accumulator: compute_mode `default` as
///                      MegEngine's naive kernel (every product and sum rounded to float16, the
///                      bias added to the rounded result)
///   reference-f16-f32acc  float16 in and out, compute_mode `float32`: float32 accumulator,
///                      rounded once to float16, then the bias added in float16
///   reference-f16-mp   float16 in, exact 640-bit accumulator, float64 out
///   reference-bf16, reference-bf16-f32acc, reference-bf16-mp   the same for bfloat16
///   optimized          float32 in and out, the best kernels this CPU runs (AVX-512, AVX2, scalar)
///   optimized-direct   the same, always the direct algorithm
///   optimized-gemm     the same, always the phase-GEMM algorithm
///   optimized-stream   the same, always the weight stream (the tiny-input algorithm)
///   optimized-f16      float16 in and out through the optimized kernels, float32 accumulator
///   optimized-bf16     the same for bfloat16
///   optimized-avx2     the same with the AVX2 kernels, when the CPU has AVX2 and a better ISA
///   optimized-scalar   the same with the portable kernels, when the CPU has a better ISA
/// An outside backend's adapter copies it and add()s its own implementation.
Registry builtin_registry();

/// The implementation `convt2d run` and the Python module's reference() use when none is named:
/// `reference` (float32), `reference-f64`, `reference-f16` / `reference-bf16` (compute_mode
/// default), `reference-f16-f32acc` / `reference-bf16-f32acc` (compute_mode float32).
std::string default_implementation(DType dtype, ComputeMode mode);

}  // namespace convt2d
