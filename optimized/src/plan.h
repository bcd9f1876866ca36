#pragma once
// The stride-phase plan behind PackedWeights: which taps reach which output phase, and the
// weights packed per (group, row phase, column phase, channel block) in the micro-kernels' order.
// pack_weights.cc builds it; plan.cc runs it through one of the drivers (drivers.h).

#include <algorithm>
#include <cstdint>
#include <vector>

#include "aligned.h"
#include "convt2d/optimized.h"
#include "kernels.h"
#include "phases.h"
#include "stream.h"

namespace convt2d::optimized {

struct PackedWeights::Impl {
  Params p;
  Isa isa = Isa::kScalar;
  const KernelTable* kernels = nullptr;
  int64_t g = 1, icg = 1, ocg = 1, kh = 1, kw = 1;
  PhaseSet rows, cols;
  /// Phases are named by their positions in rows and cols (iry, irx) from here on.
  /// Packed weights, one panel per (group, iry, irx) holding K = taps·icg rows (k = tap·icg + c,
  /// tap = ih·ntw + iw) of ocg channels, in channel blocks of mr_block (the last one mr <
  /// mr_block):
  ///   direct path: [block][k][m < mr], the block at offsets[(g, iry, irx, block)];
  ///   GEMM path:   [k-chunk][block][k within the chunk][m < mr], so that one k-chunk
  ///   of
  ///                all blocks, which the kernels read one after the other, is contiguous.
  AlignedVector<float> packed;
  std::vector<int64_t> offsets;
  int64_t ocblocks = 0;
  /// The most taps of one phase (row taps × column taps, at most kh·kw): the per-thread tap
  /// lists' size.
  int64_t max_taps = 0;
  /// The GEMM path (packed input) or the direct path (input read in place).
  bool gemm = false;
  /// Channels per packed block: the ISA's GEMM or direct tile height.
  int64_t mr_block = 4;
  /// False when some weight is Inf or NaN: then 0·w is not 0, and tiles that read the zero
  /// padding are computed tap by tap over the valid columns only.
  bool weights_finite = true;
  /// The fused-phase direct path (KernelTable::fused): one output channel per group, finite
  /// weights, 2 to kMaxFusedP phases with taps, all row phases sharing one list of tap offsets
  /// (fused_ah) and all column phases another (fused_aw). Then one input vector serves the same
  /// tap offset in every phase. fused_w is [g][ah index][aw index][c][phase], phase = iry·nrx +
  /// irx.
  bool fused = false;
  int64_t fused_p = 0;
  std::vector<int64_t> fused_ah, fused_aw;
  AlignedVector<float> fused_w;
  /// Path::kStream (stream.h): its own layout and weights; `packed` and `offsets` stay empty.
  StreamPlan stream;
  /// Offset in fused_w of the [c][phase] weights of group gi and tap offsets (gh, gw).
  int64_t fused_index(int64_t gi, int64_t gh, int64_t gw) const {
    const int64_t naw = static_cast<int64_t>(fused_aw.size());
    const int64_t groups = static_cast<int64_t>(fused_ah.size()) * naw;
    return ((gi * groups + gh * naw + gw) * icg) * fused_p;
  }

  const float* panel(int64_t gi, int64_t iry, int64_t irx, int64_t ocb) const {
    return packed.data() + offsets[static_cast<size_t>(
                               ((gi * rows.count() + iry) * cols.count() + irx) * ocblocks + ocb)];
  }
  int64_t taps(int64_t iry, int64_t irx) const {
    return rows.taps[static_cast<size_t>(iry)].size() * cols.taps[static_cast<size_t>(irx)].size();
  }
  /// The GEMM path's reduction chunk: a [kc][tile pixels] input panel of about 5/6 of L1 stays in
  /// L1 while every channel block's weights stream past it. On the GEMM path k = c·taps + tap
  /// (all taps of one input channel together, so packing reads each input row once for all of
  /// them), and a chunk holds whole channels.
  int64_t kc_block = 256;
  int64_t chunk_channels(int64_t iry, int64_t irx) const {
    return std::max<int64_t>(1, kc_block / std::max<int64_t>(1, taps(iry, irx)));
  }
  /// GEMM path: the [k][mr] operand of block ocb for k in [k0, k0 + kc), a whole chunk.
  const float* gemm_a(int64_t gi, int64_t iry, int64_t irx, int64_t k0, int64_t kc,
                      int64_t ocb) const {
    return panel(gi, iry, irx, 0) + k0 * ocg + ocb * mr_block * kc;
  }
  /// Offset in `packed` of the weight of tap t, input channel c, output channel o (within the
  /// group) of panel (gi, iry, irx), in either layout. Divides: for the non-finite fallback and
  /// tests, never per weight on a hot path (packing walks the panels in order instead).
  int64_t index(int64_t gi, int64_t iry, int64_t irx, int64_t t, int64_t c, int64_t o) const {
    const int64_t ocb = o / mr_block, m = o % mr_block;
    const int64_t mr = std::min(mr_block, ocg - ocb * mr_block);
    if (!gemm) return (panel(gi, iry, irx, ocb) - packed.data()) + (t * icg + c) * mr + m;
    const int64_t nt = taps(iry, irx), cch = chunk_channels(iry, irx);
    const int64_t c0 = c / cch * cch;
    const int64_t k0 = c0 * nt, kc = std::min(cch, icg - c0) * nt;
    return (gemm_a(gi, iry, irx, k0, kc, ocb) - packed.data()) + (c * nt + t - k0) * mr + m;
  }
};

/// Builds the plan and packs `w` (shape already validated) for `isa` and `path`.
std::unique_ptr<PackedWeights::Impl> make_plan(const Params& p, const Tensor<float>& w, Isa isa,
                                               Path path);

/// The plan make_plan() builds, without the weights: phases, tiles and path (`fused` as for
/// finite weights; packed, offsets and fused_w empty). For working_bytes().
std::unique_ptr<PackedWeights::Impl> plan_skeleton(const Params& p, Isa isa, Path path);

/// Runs the plan: x (N, IC, H, W) validated, y (N, OC, OH, OW) preallocated, b null or OC values.
void execute(const PackedWeights::Impl& plan, const Tensor<float>& x, const float* b,
             Tensor<float>& y, int threads);

/// The threads execute() uses for `threads` <= 0 on x_size inputs and y_size outputs.
int default_threads(const PackedWeights::Impl& plan, int64_t x_size, int64_t y_size);

/// The bytes one execute() of `plan` on an input of shape x into an output of shape y with
/// `threads` threads (<= 0: default_threads()) allocates: exactly the buffers execute() sizes
/// (the padded input, per-thread tile and result buffers, phase lists, work items), from the
/// same layout functions. Every zero-padded input row is at most W + 2·6 vectors wide, however
/// large the padding, dilation or stride. Error naming the buffer when a size overflows int64.
int64_t run_bytes(const PackedWeights::Impl& plan, const Shape& x, const Shape& y, int threads);

/// The bytes of the plan itself as make_plan() builds it: the packed weights and their offsets,
/// the phase lists, the fused-phase weights where `fused`.
int64_t plan_bytes(const PackedWeights::Impl& plan);

}  // namespace convt2d::optimized
