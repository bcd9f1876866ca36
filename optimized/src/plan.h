#pragma once
// The stride-phase plan behind PackedWeights: which taps reach which output phase, and the
// weights packed per (group, row phase, column phase, channel block) in the micro-kernels' order.

#include <cstdint>
#include <vector>

#include "convt2d/optimized.h"
#include "kernels.h"

namespace convt2d::optimized {

/// The taps of one phase along one dimension: tap index k (fh or fw) and its input offset a, so
/// that output q (in phase units) reads input q - a.
struct PhaseTaps {
  std::vector<int64_t> k, a;
  int64_t size() const { return static_cast<int64_t>(k.size()); }
};

struct PackedWeights::Impl {
  Params p;
  Isa isa = Isa::kScalar;
  const KernelTable* kernels = nullptr;
  int64_t g = 1, icg = 1, ocg = 1, kh = 1, kw = 1;
  std::vector<PhaseTaps> rows, cols;  ///< by row phase ry < sh, column phase rx < sw
  /// Packed weights; panel(g, ry, rx, ocb) starts at offsets[...] and holds
  /// [tap ih·ntw + iw][c < icg][m < mr] for the channel block starting at oc = ocb·mr_block.
  std::vector<float> packed;
  std::vector<int64_t> offsets;
  int64_t ocblocks = 0;
  /// The GEMM path (packed input) or the direct path (input read in place).
  bool gemm = false;
  /// Channels per packed block: the ISA's GEMM tile on the GEMM path, kDirectMr on the direct one.
  int64_t mr_block = kDirectMr;
  /// False when some weight is Inf or NaN: then 0·w is not 0, and tiles that read the zero
  /// padding are computed tap by tap over the valid columns only.
  bool weights_finite = true;

  const float* panel(int64_t gi, int64_t ry, int64_t rx, int64_t ocb) const {
    const int64_t sw = p.stride.w;
    return packed.data() +
           offsets[static_cast<size_t>(((gi * p.stride.h + ry) * sw + rx) * ocblocks + ocb)];
  }
};

/// Output channels per group from which the phase-GEMM path (packed input) is used; below it the
/// direct path reads the input in place.
inline constexpr int64_t kGemmMinOcg = 8;

/// Builds the plan and packs `w` (shape already validated) for `isa`.
std::unique_ptr<PackedWeights::Impl> make_plan(const Params& p, const Tensor<float>& w, Isa isa);

/// Runs the plan: x (N, IC, H, W) validated, y (N, OC, OH, OW) preallocated, b null or OC values.
void execute(const PackedWeights::Impl& plan, const Tensor<float>& x, const float* b,
             Tensor<float>& y, int threads);

}  // namespace convt2d::optimized
