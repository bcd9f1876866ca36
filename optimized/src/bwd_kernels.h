#pragma once
// Micro-kernel interface of the backward passes, shared by the ISA files and the drivers
// (backward.cc, bwd_weights.cc).

#include <cstdint>

namespace convt2d::optimized {

/// One bwd_data register tile: mr input channels × nv vectors of consecutive columns of one dx
/// row, for `rows` dx rows in turn (row r reads dy + r·dy_row_step and writes dx + r·dx_row_step).
/// Per row, acc starts at 0, then for every tap t and every output channel o of the group:
///   acc[m][j] += w_t[o·mr + m] · dy[dyoff[t] + o·chan_stride + j],
/// and dx[m·dx_stride + j] = acc[m][j] for j < n. The caller lists only taps whose dy columns
/// meet the tile; the reads a partly outside tap makes are zeros of the padded dy.
struct BwdDataArgs {
  const float* dy;
  const int64_t* dyoff;
  const float* const* wtap;
  int64_t ntaps;
  int64_t ocg;          ///< output channels per group (the reduction per tap)
  int64_t chan_stride;  ///< floats between two output channels' planes of the padded dy
  float* dx;
  int64_t dx_stride;  ///< floats between two input channels of dx
  int64_t n;          ///< columns to store, <= nv·lanes
  int64_t rows = 1;
  int64_t dy_row_step = 0;
  int64_t dx_row_step = 0;
};

using BwdDataKernel = void (*)(const BwdDataArgs&);

/// One bwd_weights register tile: mr input channels × nr columns (an output channel of a tap),
/// summed over `nrows` pixel rows of `len` floats each:
///   dw[m·ldi + dw_col[r]] += Σ_rows Σ_k<len x[xoff[row] + m·x_cs + k] · dy[dyoff[row] + dy_col[r]
///   + k].
/// Only the floats named are read (the tail with masked loads), so where the caller lists only
/// the pixels of the definition a non-finite input never meets a padding zero.
struct BwdWeightsArgs {
  const float* x;
  const float* dy;
  const int64_t* xoff;
  const int64_t* dyoff;
  int64_t nrows;
  int64_t len;
  int64_t x_cs;
  const int64_t* dy_col;  ///< nr offsets into dy, one per column
  float* dw;
  int64_t ldi;
  const int64_t* dw_col;  ///< nr offsets into dw, one per column
};

using BwdWeightsKernel = void (*)(const BwdWeightsArgs&);

/// One tile of bwd_weights' GEMM over x and dy in pixel-major order (x_t[pixel][channel],
/// dy_t[pixel][channel]): mr input channels × nv vectors of output channels, summed over `nruns`
/// runs of `len` pixels each:
///   c[m·ldc + j] (+)= Σ_runs Σ_k<len x_t[xoff[run] + k·x_ps + m] · dy_t[dyoff[run] + k·dy_ps + j]
/// for j < nv·lanes (+= when `accumulate`, else = : the tile is written even for no run). x
/// values are broadcast, from one pointer (a pointer per channel row would spill); dy_t's vectors
/// are whole, so the caller keeps nv·lanes floats readable past each pixel's first column (the
/// columns past its channels are summed into c's padding, which it drops).
struct BwdWgemmArgs {
  const float* x_t;
  const float* dy_t;
  const int64_t* xoff;
  const int64_t* dyoff;
  int64_t nruns;
  int64_t len;
  int64_t x_ps;
  int64_t dy_ps;
  float* c;
  int64_t ldc;
  bool accumulate;
};

using BwdWgemmKernel = void (*)(const BwdWgemmArgs&);

/// dy's two column phases of one row at stride 2: even[j] = src[2j] for 2j < n and
/// odd[j] = src[2j + 1] for 2j + 1 < n; nothing else is read or written.
using BwdUnzipKernel = void (*)(const float* src, int64_t n, float* even, float* odd);

/// One lanes × lanes block transposed: dst[j·dst_stride + i] = src[i·src_stride + j] for
/// i, j < lanes (a block of channel rows to a block of pixel rows, for the pixel-major copies).
using BwdTransposeKernel = void (*)(const float* src, int64_t src_stride, float* dst,
                                    int64_t dst_stride);

/// Whether all n floats at p are finite (exponent not all ones); only those n are read.
using BwdAllFiniteKernel = bool (*)(const float* p, int64_t n);

inline constexpr int kMaxBwdDataMr = 8;
inline constexpr int kMaxBwdDataNv = 4;
inline constexpr int kMaxBwdWeightsMr = 4;
inline constexpr int kMaxBwdWeightsNr = 6;
inline constexpr int kMaxBwdWgemmMr = 12;
inline constexpr int kMaxBwdWgemmNv = 3;

/// The backward kernels of one ISA. Names say pass, type, tile and ISA:
/// "convt2d_bwd_data_f32_8x48__avx512" (8 channels × 48 columns),
/// "convt2d_bwd_weights_f32_4x6__avx512" (4 input × 6 output channels),
/// "convt2d_bwd_wgemm_f32_8x48__avx512" (8 input × 48 output channels, pixel-major dy).
struct BwdKernelTable {
  int lanes = 8;
  int data_mr = 4;    ///< the full bwd_data channel tile
  int data_acc = 12;  ///< the most accumulators a bwd_data tile may hold (mr·nv)
  int weights_mr = 3;
  int weights_nr = 3;
  BwdDataKernel data[kMaxBwdDataMr + 1][kMaxBwdDataNv + 1] = {};
  const char* data_name[kMaxBwdDataMr + 1][kMaxBwdDataNv + 1] = {};
  BwdWeightsKernel weights[kMaxBwdWeightsMr + 1][kMaxBwdWeightsNr + 1] = {};
  const char* weights_name[kMaxBwdWeightsMr + 1][kMaxBwdWeightsNr + 1] = {};
  /// The pixel-major GEMM's full tiles: wgemm_mr[nv] input channels × nv vectors.
  int wgemm_mr[kMaxBwdWgemmNv + 1] = {};
  BwdWgemmKernel wgemm[kMaxBwdWgemmMr + 1][kMaxBwdWgemmNv + 1] = {};
  const char* wgemm_name[kMaxBwdWgemmMr + 1][kMaxBwdWgemmNv + 1] = {};
  BwdUnzipKernel unzip2 = nullptr;
  const char* unzip2_name = nullptr;  ///< "convt2d_bwd_unzip2_f32__avx512"
  BwdTransposeKernel transpose = nullptr;
  const char* transpose_name = nullptr;  ///< "convt2d_bwd_transpose_f32_16x16__avx512"
  BwdAllFiniteKernel all_finite = nullptr;
  const char* all_finite_name = nullptr;  ///< "convt2d_bwd_all_finite_f32__avx512"
};

const BwdKernelTable& scalar_bwd_kernels();
const BwdKernelTable& avx2_bwd_kernels();
const BwdKernelTable& avx512_bwd_kernels();

}  // namespace convt2d::optimized
