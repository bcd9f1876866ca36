#pragma once
// Path::kStream, for tiny inputs (a 1x1 or 2x2 latent projected by a 4x4 kernel to hundreds of
// channels): every weight is used for only a few input pixels, so the layer is a stream of its
// weights and runs at the bandwidth of the level they live in. pack() lays them out in the
// order the stream tiles read them, [group][channel block][tap][c][block's channels], so that one
// run() reads them once, front to back; each tile computes, for one tap and up to kMaxStreamP
// of the input pixels that tap puts inside the output, the skinny GEMM pixels × icg by
// icg × block, and adds it into y where the tap puts those pixels (a col2im of a few vectors). No
// input padding exists on this path: only taps whose input pixel exists are summed, as in the
// definition, so Inf and NaN weights or inputs give the definition's non-finite values with no
// special case.

#include <cstdint>

#include "aligned.h"
#include "convt2d/params.h"
#include "convt2d/tensor.h"
#include "kernels.h"

namespace convt2d::optimized {

/// The stream layout of one parameter set and ISA.
struct StreamPlan {
  bool on = false;
  int64_t lanes = 8;
  /// Channels per full block: the ISA's stream_nv vectors. A group's last block holds the
  /// remaining channels rounded up to whole vectors (the extra lanes are zero weights whose
  /// results are never stored).
  int64_t block = 16;
  int64_t nblocks = 0;  ///< blocks per group
  int64_t ocp = 0;      ///< channels per group rounded up to a whole vector
  int64_t taps = 0;     ///< kh·kw
  int64_t icg = 0;
  /// The packed weights: per group ocp·taps·icg floats, block after block.
  AlignedVector<float> w;
  /// Offset in w of block bi of group gi: the blocks before it are all full.
  int64_t offset(int64_t gi, int64_t bi) const { return (gi * ocp + bi * block) * taps * icg; }
};

/// The layout without the weights (`on` set): p validated.
void stream_skeleton(const Params& p, const KernelTable& k, StreamPlan& sp);

/// Packs w (shape validated) into sp.w. Loops only, no division per weight.
void stream_pack(const Params& p, const Tensor<float>& w, StreamPlan& sp);

/// y = ConvTranspose2d(x, sp's weights, b): x (N, IC, H, W) and y (N, OC, OH, OW) validated and
/// y nonempty, b null or OC values. Work items are (group, channel block) pairs, each writing its
/// own channels of y only, on `threads` threads: the result does not depend on their number.
void stream_execute(const Params& p, const StreamPlan& sp, const KernelTable& k,
                    const Tensor<float>& x, const float* b, Tensor<float>& y, int threads);

/// The bytes stream_execute() allocates for inputs of shape x on `threads` threads (>= 1): the
/// transposed input, the pixel list and each thread's list of a tap's pixels. Error naming the
/// buffer when a size overflows int64.
int64_t stream_run_bytes(const StreamPlan& sp, const Shape& x, int threads);

/// The floats of sp.w for p: G·ocp·kh·kw·icg. Error naming it when that overflows int64.
int64_t stream_weight_floats(const Params& p, const StreamPlan& sp);

}  // namespace convt2d::optimized
