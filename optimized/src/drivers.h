#pragma once
// The forward drivers: each turns a plan into output rows by one algorithm, and counts the
// working memory it allocates from the same layout function it runs with. plan.cc chooses one.
//   direct.cc  few output channels per group: tiles read the zero-padded input in place;
//   fused.cc   one output channel per group with shared tap offsets: all phases in one tile;
//   gemm.cc    many output channels: per phase, a GEMM over a packed input panel.
// Every driver takes x (N, IC, H, W) validated, y (N, OC, OH, OW) preallocated and not empty, b
// null or OC values, and nt >= 1 threads.

#include <cstdint>

#include "byte_count.h"
#include "plan.h"

namespace convt2d::optimized {

void execute_direct(const PackedWeights::Impl& pl, const Tensor<float>& x, const float* b,
                    Tensor<float>& y, int nt);
/// Adds execute_direct()'s buffers: the calling thread's to `shared`, each thread's to `each`.
void direct_run_bytes(const PackedWeights::Impl& pl, const Shape& x, const Shape& y, int nt,
                      ByteCount& shared, ByteCount& each);

/// Whether the fused-phase driver runs this plan on these shapes: pl.fused, and the input padding
/// its tiles need is at most kMaxPadVectors on a side (else the direct driver runs).
bool fused_fits(const PackedWeights::Impl& pl, const Shape& x, const Shape& y);
void execute_fused(const PackedWeights::Impl& pl, const Tensor<float>& x, const float* b,
                   Tensor<float>& y, int nt);
void fused_run_bytes(const PackedWeights::Impl& pl, const Shape& x, const Shape& y,
                     ByteCount& shared, ByteCount& each);

void execute_gemm(const PackedWeights::Impl& pl, const Tensor<float>& x, const float* b,
                  Tensor<float>& y, int nt);
void gemm_run_bytes(const PackedWeights::Impl& pl, const Shape& x, const Shape& y,
                    ByteCount& shared, ByteCount& each);

/// The one non-finite fallback (nonfinite.cc): output element (n, gi·ocg + o, oy, ox) from the
/// definition, summing only the taps whose input exists, as the reference does. For outputs where
/// a tile's zero padding would meet an Inf or NaN weight (0·Inf is NaN).
float exact_element(const PackedWeights::Impl& pl, const Tensor<float>& x, const float* b,
                    int64_t n, int64_t gi, int64_t o, int64_t oy, int64_t ox);

}  // namespace convt2d::optimized
