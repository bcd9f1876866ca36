#pragma once
// Micro-kernel interface shared by the ISA-specific kernel files and the forward drivers
// (drivers.h).

#include <cstdint>

namespace convt2d::optimized {

/// One register tile of the direct path: `mr` output channels × nv vectors of consecutive outputs
/// of one output row and one column phase. acc starts at the bias, then for every valid tap t and
/// every input channel c:  acc[m][j] += w_t[c·mr + m] · x[xoff[t] + c·chan_stride + j].
/// All reads are in bounds by construction (the input is zero-padded in W).
struct TileArgs {
  const float* x;            ///< channel 0 of the group, at the tile's first column
  const int64_t* xoff;       ///< per tap: offset from x of the tap's input row and column
  const float* const* wtap;  ///< per tap: packed weights [c][mr]
  int64_t ntaps;
  int64_t icg;          ///< input channels per group
  int64_t chan_stride;  ///< floats between two input channels in the padded input
  const float* bias;    ///< mr values
  float* out;           ///< mr rows of nv vectors
  int64_t out_stride;   ///< floats between two output rows of the tile
  /// The zip variant (stride 2 in W) stores to the output rows instead of `out`: this tile is
  /// the odd column phase, `partner` (rows out_stride apart) the even phase's results for the same
  /// columns j, and y[m·y_stride + 2j + e] = (e ? this : partner)[m][j] for 2j + e < y_n.
  const float* partner;
  float* y;
  int64_t y_stride;
  int64_t y_n;
  /// Direct tiles compute `rows` output rows with the same taps (fused tiles: one, these are
  /// not read): row r reads x + r·x_row_step and writes out + r·out_row_step (the zip variant:
  /// partner + r·out_row_step and y + r·y_row_step).
  int64_t rows = 1;
  int64_t x_row_step = 0;
  int64_t out_row_step = 0;
  int64_t y_row_step = 0;
};

using TileKernel = void (*)(const TileArgs&);

/// One GEMM register tile over packed operands: mr rows (output channels) × nv vectors of
/// columns (pixels of one phase). a is [k][mr] (weights), b is [k][nv·lanes] (packed input);
/// c[m·ldc + j] = (accumulate ? c[m·ldc + j] : bias[m]) + Σ_k a[k·mr + m] · b[k·nv·lanes + j].
struct GemmArgs {
  int64_t k;
  const float* a;
  const float* b;
  float* c;
  int64_t ldc;
  bool accumulate;
  const float* bias;
};

using GemmKernel = void (*)(const GemmArgs&);

/// One copy of a packing row: `len` floats from `src` (offset in an input channel plane) to `dst`
/// (offset in the packed row).
struct CopyOp {
  int64_t src, dst, len;
};

/// The copies of one tap: ops[begin, end); `full` when they cover the whole row.
struct TapOps {
  int64_t begin = 0, end = 0;
  bool full = false;
};

/// Packs `channels` input channels × `taps` taps: row (c·taps + t), at out + (c·taps + t)·width,
/// is zero where no op of tap t writes, and holds tap t's copies from plane0 + c·plane_stride.
struct PackArgs {
  const float* plane0;
  int64_t plane_stride;
  int64_t channels;
  int64_t taps;
  const TapOps* tap_ops;
  const CopyOp* ops;
  int64_t width;
  float* out;
};

using PackKernel = void (*)(const PackArgs&);

/// Packing from channel planes of at most kSmallPlane floats (4×4 to 8×8 inputs: dcgan's first
/// layers), where PackArgs' row copies would be a few floats each: the plane is loaded into two
/// or four registers once per channel, and each packed vector is a permute of them. Row
/// (c·taps + t), vector v of `out` gets plane_c[idx[(t·nvec + v)·16 + i]] in lane i, 0 where
/// that index is -1, and keeps its value where it is -2 (lanes of another image, packed by
/// another call).
inline constexpr int64_t kSmallPlane = 64;
struct SmallPackArgs {
  const float* plane0;
  int64_t plane_stride;
  int64_t plane_size;  ///< floats per plane, <= kSmallPlane
  int64_t channels;
  int64_t taps;
  const int32_t* idx;  ///< [taps][nvec][16]
  int64_t nvec;        ///< vectors per packed row (its width is nvec·16)
  float* out;
};

using SmallPackKernel = void (*)(const SmallPackArgs&);

/// One output row of a single-channel layer (depthwise) with stride 2 in W, both column phases
/// computed and interleaved in registers and stored straight to the output row:
///   phase p's output j = bias + Σ_t w[p][t] · x[xoff[p][t] + j],  out[2j + p] = that.
/// x is the zero-padded input plane; reads may run up to one vector past a phase's last output
/// (the padding covers them); writes stop at n.
struct Row2Args {
  const float* x;
  const int64_t* xoff[2];
  const float* w[2];
  int64_t ntaps[2];
  float bias;
  float* out;
  int64_t n;
};

/// Direct-path tiles: at most the ISA's direct_mr channels (4 for 16 registers, 8 for AVX-512's
/// 32); per mr the largest vector count, so that the accumulators plus the loaded vectors fit in
/// the registers with as many independent FMA chains as mr allows.
inline constexpr int kMaxDirectMr = 8;
inline constexpr int kDirectNv[kMaxDirectMr + 1] = {0, 6, 4, 3, 3, 3, 3, 3, 3};
/// GEMM tiles: at most kMaxGemmMr channels × kGemmNv vectors (AVX2: 4 × 3 ymm = 12 accumulators
/// of 16 registers; AVX-512: 8 × 3 zmm = 24 of 32).
inline constexpr int kMaxGemmMr = 8;
inline constexpr int kGemmNv = 3;

/// Fused-phase tiles, for one output channel per group and phases that all share the same tap
/// offsets (kernel a multiple of the stride: fsrcnn's 9×9 at stride 3): P phases × nv vectors of
/// consecutive phase units qx, all P phases of one phase row qy at once, so that every input
/// vector loaded feeds P FMAs instead of one. TileArgs are read as: per tap group t (one input row
/// and column offset shared by all phases), wtap[t] = [c][P] weights; acc[p][j] starts at
/// bias[0], then acc[p][j] += w_t[c·P + p] · x[xoff[t] + c·chan_stride + j]; phase p's vectors go
/// to out + p·out_stride.
inline constexpr int kMaxFusedP = 9;
inline constexpr int kMaxFusedNv = 6;

/// One stream tile (Path::kStream, tiny inputs): for P input pixels and one block of nv·lanes
/// output channels of one tap, acc[p][o] = Σ_c x[c·x_stride + xidx[p]] · w[c·nv·lanes + o] over
/// the group's icg input channels, each weight read once, in order (w is the block's
/// [c][nv·lanes] panel, x the group's channels transposed to [c][pixel]); then
/// y[off[p] + o·out_stride] += acc[p][o] for o < nout. Lanes at and past nout (the zero-padded
/// weights of a last block) are never stored.
struct StreamArgs {
  const float* w;
  const float* x;
  int64_t x_stride;     ///< floats between two input channels of x
  const int64_t* xidx;  ///< P pixel indices into each channel of x
  int64_t icg;
  float* y;
  const int64_t* off;  ///< P offsets from y
  int64_t out_stride;  ///< floats between two output channels (OH·OW)
  int64_t nout;        ///< channels of the block, 1 to nv·lanes
};

using StreamKernel = void (*)(const StreamArgs&);

/// Stream tiles: P <= kMaxStreamP pixels × nv <= KernelTable::stream_nv vectors of channels.
inline constexpr int kMaxStreamP = 6;
inline constexpr int kMaxStreamNv = 4;

/// The kernels of one ISA. Names say type, tile and ISA: "convt2d_f32_gemm_8x48__avx512".
struct KernelTable {
  int lanes = 8;      ///< floats per vector
  int gemm_mr = 4;    ///< the full GEMM channel tile of this ISA (<= kMaxGemmMr)
  int direct_mr = 4;  ///< the full direct channel tile of this ISA (<= kMaxDirectMr)
  TileKernel direct[kMaxDirectMr + 1][7] = {};
  TileKernel direct_zip[kMaxDirectMr + 1][7] = {};
  const char* direct_name[kMaxDirectMr + 1][7] = {};
  GemmKernel gemm[kMaxGemmMr + 1][kGemmNv + 1] = {};
  PackKernel pack = nullptr;
  /// Only where two-register permutes exist (AVX-512); null otherwise.
  SmallPackKernel pack_small = nullptr;
  /// out[2j] = even[j], out[2j + 1] = odd[j] for 2j, 2j + 1 < n: two column phases of stride 2
  /// into one output row.
  void (*interleave2)(const float* even, const float* odd, float* out, int64_t n) = nullptr;
  void (*row2)(const Row2Args&) = nullptr;
  /// float16 bits <-> float32, n elements: exact widening; narrowing rounds to nearest even.
  void (*widen_f16)(const uint16_t* in, float* out, int64_t n) = nullptr;
  void (*narrow_f16)(const float* in, uint16_t* out, int64_t n) = nullptr;
  const char* gemm_name[kMaxGemmMr + 1][kGemmNv + 1] = {};
  /// fused[P][nv] for 2 <= P <= kMaxFusedP, 1 <= nv <= fused_nv[P] (as many vectors as the
  /// registers hold next to the P·nv accumulators).
  TileKernel fused[kMaxFusedP + 1][kMaxFusedNv + 1] = {};
  const char* fused_name[kMaxFusedP + 1][kMaxFusedNv + 1] = {};
  int fused_nv[kMaxFusedP + 1] = {};
  /// stream[P][nv] for 1 <= P <= kMaxStreamP, 1 <= nv <= stream_nv: the channel block of the
  /// stream path is stream_nv vectors (its last block of a group fewer).
  int stream_nv = 2;
  StreamKernel stream[kMaxStreamP + 1][kMaxStreamNv + 1] = {};
  const char* stream_name[kMaxStreamP + 1][kMaxStreamNv + 1] = {};
};

const KernelTable& scalar_kernels();
const KernelTable& avx2_kernels();
const KernelTable& avx512_kernels();

enum class Isa;  // convt2d/optimized.h
/// The table of `isa`: the forward kernels, whose GEMM tiles also serve both backward passes.
const KernelTable& kernel_table(Isa isa);

}  // namespace convt2d::optimized
