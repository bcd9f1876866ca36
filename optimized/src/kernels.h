#pragma once
// Micro-kernel interface shared by the ISA-specific kernel files and the driver (plan.cc).

#include <cstdint>

namespace convt2d::optimized {

/// One register tile: `mr` output channels × `nv`·8 consecutive outputs of one output row and one
/// column phase. acc starts at the bias, then for every valid tap t and every input channel c:
///   acc[m][j] += w_t[c·mr + m] · x[xoff[t] + c·chan_stride + j].
/// All reads are in bounds by construction (the input is zero-padded in W).
struct TileArgs {
  const float* x;            ///< channel 0 of the group, at the tile's first column
  const int64_t* xoff;       ///< per tap: offset from x of the tap's input row and column
  const float* const* wtap;  ///< per tap: packed weights [c][mr]
  int64_t ntaps;
  int64_t icg;          ///< input channels per group
  int64_t chan_stride;  ///< floats between two input channels in the padded input
  const float* bias;    ///< mr values
  float* out;           ///< mr rows of nv·8 floats
  int64_t out_stride;   ///< floats between two output rows of the tile
};

using TileKernel = void (*)(const TileArgs&);

/// The largest channel tile, and the largest vector count per tile for each mr (so that mr·nv
/// accumulators plus the loaded vectors fit in 16 ymm registers, with at least 8 independent FMA
/// chains where mr allows).
inline constexpr int kMaxMr = 4;
inline constexpr int kMaxNv[kMaxMr + 1] = {0, 6, 4, 3, 3};

/// Kernels by [mr][nv] (nv <= kMaxNv[mr]), and their names ("convt2d_f32_4x24__avx2").
struct KernelTable {
  TileKernel k[kMaxMr + 1][7] = {};
  const char* name[kMaxMr + 1][7] = {};
};

const KernelTable& scalar_kernels();
const KernelTable& avx2_kernels();

}  // namespace convt2d::optimized
