#pragma once
// Geometry shared by the backward drivers (backward.cc: bwd_data's direct tiles; bwd_weights.cc:
// bwd_weights' direct tiles; backward_gemm.cc: the channel-major GEMM tiles): dy's column phases
// and the taps that reach them.

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "bwd_kernels.h"
#include "convt2d/checked.h"
#include "convt2d/optimized.h"
#include "kernels.h"

namespace convt2d::optimized::bwd {

inline const BwdKernelTable& table_for(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return avx512_bwd_kernels();
    case Isa::kAvx2:
      return avx2_bwd_kernels();
    case Isa::kScalar:
      break;
  }
  return scalar_bwd_kernels();
}

inline int64_t ceil_div(int64_t a, int64_t b) {
  return a / b + (a % b != 0 ? 1 : 0);
}

/// The share of the lanes of ceil(n / lanes) vectors that n values fill.
inline double lane_use(int64_t n, int64_t lanes) {
  return static_cast<double>(n) / static_cast<double>(ceil_div(n, lanes) * lanes);
}

/// Threads for `macs` multiply-adds when the caller leaves it to us: one per ~8·10^6 (a thread
/// team's wake-up costs more than a smaller share saves).
inline int choose_threads(int threads, double macs) {
  if (threads > 0) return threads;
  const double useful = std::max(1.0, std::floor(macs / 8e6));
  return static_cast<int>(std::min<double>(omp_get_max_threads(), useful));
}

/// One tap column fw that reaches dy: its dy column for input column iw is column j = iw + a of
/// phase `slot` (dy columns j·sw + rx), and it exists for iw in [lo, hi).
struct ColTap {
  int64_t fw, slot, a, lo, hi;
};

/// The column phases of dy that some tap reaches (slot -> rx, len columns each) and the taps.
struct ColPhases {
  std::vector<int64_t> rx, len;
  int64_t jmax = 0;
  std::vector<ColTap> taps;
  int64_t slots() const { return static_cast<int64_t>(rx.size()); }
};

inline ColPhases col_phases(const Params& p, int64_t w, int64_t wout) {
  ColPhases c;
  const int64_t sw = p.stride.w;
  for (int64_t fw = 0; fw < p.kernel_size.w; ++fw) {
    // Both terms are parts of the validated output size, so neither this nor the bounds below
    // overflow.
    const int64_t q = fw * p.dilation.w - p.padding.w;
    int64_t rx = q % sw;
    if (rx < 0) rx += sw;
    if (rx >= wout) continue;  // a phase without columns
    const int64_t len = (wout - rx - 1) / sw + 1;
    const int64_t a = (q - rx) / sw;
    const int64_t lo = std::max<int64_t>(0, -a), hi = std::min<int64_t>(w, len - a);
    if (lo >= hi) continue;  // every column of this tap lies outside dy
    const auto it = std::find(c.rx.begin(), c.rx.end(), rx);
    const int64_t slot = it - c.rx.begin();
    if (it == c.rx.end()) {
      c.rx.push_back(rx);
      c.len.push_back(len);
      c.jmax = std::max(c.jmax, len);
    }
    c.taps.push_back({fw, slot, a, lo, hi});
  }
  return c;
}

/// Copies one dy row into its column-phase rows, `stride` floats apart: slot s's column j at
/// dst + s·stride + pad + j. Only those floats are written: the caller zeroes the buffer once,
/// and every row it holds is written at the same places, so the padding stays zero. Two phases
/// of stride 2 go through the ISA's unzip kernel.
inline void split_phases(const BwdKernelTable& k, const float* src, int64_t wout, int64_t sw,
                         const ColPhases& cp, int64_t pad, int64_t stride, float* dst) {
  if (sw == 2 && cp.slots() == 2) {
    const int64_t even = cp.rx[0] == 0 ? 0 : 1;
    k.unzip2(src, wout, dst + even * stride + pad, dst + (1 - even) * stride + pad);
    return;
  }
  for (int64_t s = 0; s < cp.slots(); ++s, dst += stride) {
    const int64_t rx = cp.rx[static_cast<size_t>(s)], len = cp.len[static_cast<size_t>(s)];
    const float* in = src + rx;
    if (sw == 1) {
      std::copy(in, in + len, dst + pad);
    } else {
      for (int64_t j = 0; j < len; ++j) dst[pad + j] = in[j * sw];
    }
  }
}

/// bwd_weights' items (the direct tiles and the pixel GEMM): input channel tile ib (fastest, so
/// that consecutive items share the tap and the output channels), output channel tile ob, column
/// tap col, tap row fh, group g.
struct WeightsItem {
  int64_t ib, ob, col, fh, g;
};

inline WeightsItem weights_item(int64_t item, int64_t nib, int64_t nob, int64_t ncol, int64_t kh) {
  WeightsItem it{};
  it.ib = item % nib;
  item /= nib;
  it.ob = item % nob;
  item /= nob;
  it.col = item % ncol;
  item /= ncol;
  it.fh = item % kh;
  it.g = item / kh;
  return it;
}

/// Where rows start, in floats: row r of image n of x at n·x_img + r·x_row, of dy at
/// n·dy_img + r·dy_row.
struct RowStrides {
  int64_t x_img, x_row, dy_img, dy_row;
};

/// A thread's pixel rows of one tap row fh in a block of batch rows: the items of one tap row
/// (consecutive in the item order) share them, their tap columns only shift the base pointers.
/// Rebuilding them per item was ~11 % of grouped-g4's time.
struct TapRows {
  std::vector<int64_t> xoff, dyoff;  ///< sized to the block's rows by the caller
  int64_t fh = -1, count = 0;
};

/// The batch rows [r0, r1) (row r = image r / ih, row r % ih) whose tap row fh lies inside dy's
/// hout rows, as the offsets of their x row and of dy's tap row.
inline void fill_tap_rows(const Problem& pr, int64_t hout, const RowStrides& s, int64_t fh,
                          int64_t r0, int64_t r1, TapRows& t) {
  const Params& p = pr.params;
  const int64_t h = pr.ih;
  t.fh = fh;
  t.count = 0;
  // (n, ih) of row r stepped, not divided: a division per row cost ~15 % of grouped-g4's time.
  int64_t n = r0 / h, ih = r0 % h - 1;
  for (int64_t r = r0; r < r1; ++r) {
    if (++ih == h) {
      ih = 0;
      ++n;
    }
    const int64_t oh = ih * p.stride.h - p.padding.h + fh * p.dilation.h;
    if (oh < 0 || oh >= hout) continue;
    t.xoff[static_cast<size_t>(t.count)] = n * s.x_img + ih * s.x_row;
    t.dyoff[static_cast<size_t>(t.count)] = n * s.dy_img + oh * s.dy_row;
    ++t.count;
  }
}

/// Bytes of the drivers' small per-call state (index lists, counters) beside their buffers.
inline constexpr int64_t kBookkeepingBytes = 1024;

inline int64_t bytes_of(int64_t floats, const char* what) {
  return checked_mul(floats, static_cast<int64_t>(sizeof(float)), what);
}

// The GEMM drivers (backward_gemm.cc), on the forward pass's GEMM micro-kernels.

/// dw = bwd_weights(x, dy) for a finite x (a zero of dy's tap columns meets every x value);
/// dw's every element is written.
void weights_gemm(const Problem& pr, const KernelTable& k, const Tensor<float>& x,
                  const Tensor<float>& dy, Tensor<float>& dw, int nt);
int64_t weights_gemm_bytes(const Problem& pr, const KernelTable& k, int threads);

/// dw = bwd_weights(x, dy) by the pixel-major GEMM (bwd_weights_gemm.cc), any x; dw's every
/// element is written.
void weights_pixel_gemm(const Problem& pr, const BwdKernelTable& k, const Tensor<float>& x,
                        const Tensor<float>& dy, Tensor<float>& dw, int nt);
int64_t weights_pixel_gemm_bytes(const Problem& pr, const BwdKernelTable& k, int threads);

/// The weights for data_gemm: per group and tile of k.gemm_mr input channels, [(o, tap)][m].
std::vector<float> pack_data_gemm(const Params& p, const Tensor<float>& w, const KernelTable& k);
/// dx = bwd_data(dy) with finite weights packed by pack_data_gemm; every element is written.
void data_gemm(const Problem& pr, const KernelTable& k, const float* wg, const Tensor<float>& dy,
               Tensor<float>& dx, int nt);
int64_t data_gemm_bytes(const Problem& pr, const KernelTable& k, int threads);

}  // namespace convt2d::optimized::bwd
