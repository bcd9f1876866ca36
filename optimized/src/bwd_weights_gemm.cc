// bwd_weights as a GEMM over pixel-major copies: per group and tap,
//   dw[i][o] = Σ_pixels x_t[pixel][i] · dy_t[pixel at the tap][o]
// with x and dy copied once to x_t[n][ih][iw][ic] and dy_t[n][oh][ow][oc] (NHWC) by the ISA's
// block transposition, and dw transposed back from c[g][i][tap][o]. For each tap the pixels of an
// input row whose tap lands inside dy form one run, and consecutive pixels of a run are sw·OC
// floats apart in dy_t, so the tile (bwd_wgemm_kernel) reads whole vectors of output channels in
// place and broadcasts x: no split loads, no packing per tap, and only the definition's terms (any
// x).
#include <algorithm>
#include <vector>

#include "aligned.h"
#include "bwd_common.h"
#include "convt2d/checked.h"

namespace convt2d::optimized::bwd {
namespace {

// Rows of the batch (n, ih) per block: x's rows and dy_t's rows of a block should stay in the L2
// cache while every tile of every tap passes over them, and a tile should sum at least ~512
// pixels between loading and storing its accumulators.
int64_t gemm_rows_per_block(const Problem& pr, int64_t wout) {
  const Params& p = pr.params;
  const auto d = [](int64_t v) { return static_cast<double>(v); };
  const double per_row = d(pr.iw) * d(p.in_channels) + d(p.stride.h) * d(wout) * d(p.out_channels);
  const double rows = std::max(128.0 * 1024 / std::max(per_row, 1.0), 512.0 / d(pr.iw));
  const double all = d(pr.mb) * d(pr.ih);
  return static_cast<int64_t>(std::clamp(std::ceil(rows), 1.0, std::max(all, 1.0)));
}

// Floats per row of the accumulator c: the output channels of a group rounded up to whole
// vectors (the last tile's extra columns land there and are dropped).
int64_t padded_ocg(const Params& p, int64_t lanes) {
  return ceil_div(p.out_channels / p.groups, lanes) * lanes;
}

struct PixelGemm {
  const Problem* pr;
  const BwdKernelTable* k;
  const ColPhases* cp;
  const float* xt;   ///< [n][ih][iw][ic]
  const float* dyt;  ///< [n][oh][ow][oc]
  float* c;          ///< [g][i][fh][fw][ocp], summed over the blocks
  int64_t hout, wout, ocp, vectors, nv, mr, nib, njb, ncol;
  RowStrides rows;  ///< of x_t and dy_t
};

// The column tiles: the group's vectors of output channels split evenly into tiles of at most
// kMaxBwdWgemmNv (64 channels on AVX-512: 2 + 2, not 3 + 1), with the widest tile's rows.
void choose_tiles(const Params& p, const BwdKernelTable& k, PixelGemm& g) {
  const int64_t icg = p.in_channels / p.groups;
  g.vectors = ceil_div(p.out_channels / p.groups, k.lanes);
  g.njb = ceil_div(g.vectors, kMaxBwdWgemmNv);
  g.nv = ceil_div(g.vectors, g.njb);  // the widest tile
  // The rows split as evenly: 16 input channels as 8 + 8, not 12 + 4 (grouped-g4 0.152 -> 0.143
  // ms, medians of six alternating runs).
  g.nib = ceil_div(icg, std::min<int64_t>(k.wgemm_mr[g.nv], icg));
  g.mr = ceil_div(icg, g.nib);
}

// One item: input channel tile ib × output channel tile jb of tap (fh, column tap ct) in group
// gi, over the block's rows [r0, r1).
void gemm_item(const PixelGemm& g, int64_t item, int64_t r0, int64_t r1, TapRows& runs,
               bool first) {
  const Params& p = g.pr->params;
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w, lanes = g.k->lanes;
  const WeightsItem it = weights_item(item, g.nib, g.njb, g.ncol, kh);
  const ColTap& ct = g.cp->taps[static_cast<size_t>(it.col)];
  const int64_t jb = it.ob, fh = it.fh, gi = it.g;
  // The rows whose tap row lies inside dy, as offsets of x_t's and dy_t's rows at column 0.
  if (runs.fh != fh) fill_tap_rows(*g.pr, g.hout, g.rows, fh, r0, r1, runs);
  if (runs.count == 0 && !first) return;
  const int64_t i0 = it.ib * g.mr, mb = std::min(g.mr, icg - i0);
  // Tile jb's vectors: the first vectors % njb tiles take one more (16 = 3+3+3+3+2+2).
  const int64_t base = g.vectors / g.njb, extra = g.vectors % g.njb;
  const int64_t j0 = (jb * base + std::min(jb, extra)) * lanes;
  const int64_t nv = base + (jb < extra ? 1 : 0);
  const int64_t ow_lo = (ct.lo + ct.a) * p.stride.w + g.cp->rx[static_cast<size_t>(ct.slot)];
  BwdWgemmArgs a;
  a.x_t = g.xt + ct.lo * p.in_channels + gi * icg + i0;
  a.dy_t = g.dyt + ow_lo * p.out_channels + gi * ocg + j0;
  a.xoff = runs.xoff.data();
  a.dyoff = runs.dyoff.data();
  a.nruns = runs.count;
  a.len = ct.hi - ct.lo;
  a.x_ps = p.in_channels;
  a.dy_ps = p.stride.w * p.out_channels;
  a.c = g.c + ((gi * icg + i0) * kh * kw + fh * kw + ct.fw) * g.ocp + j0;
  a.ldc = kh * kw * g.ocp;
  a.accumulate = !first;
  g.k->wgemm[mb][nv](a);
}

// dst[j·ds + i] = src[i·ss + j] for i < m, j < n, in lanes × lanes blocks by the ISA's kernel
// (the element loops this replaced took half of grouped-g4's time, and as long as the tiles on
// dcgan-4); the last block of each dimension moves back to end at its edge and rewrites a few
// elements with the same values. A dimension under a vector goes element by element.
void transpose_matrix(const BwdKernelTable& k, const float* src, int64_t ss, int64_t m, int64_t n,
                      float* dst, int64_t ds) {
  const int64_t l = k.lanes;
  if (m < l || n < l) {
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) dst[j * ds + i] = src[i * ss + j];
    }
    return;
  }
  for (int64_t i0 = 0; i0 < m; i0 += l) {
    const int64_t i = std::min(i0, m - l);
    for (int64_t j0 = 0; j0 < n; j0 += l) {
      const int64_t j = std::min(j0, n - l);
      k.transpose(src + i * ss + j, ss, dst + j * ds + i, ds);
    }
  }
}

// t[n][oh][ow][c] = src[n][c][oh][ow] (x or dy), one (n, oh) row of all channels per step.
void to_pixel_major(const BwdKernelTable& k, const Tensor<float>& t, float* dst, int nt) {
  const int64_t ch = t.shape[1], h = t.shape[2], w = t.shape[3], plane = h * w;
  const int64_t rows = t.shape[0] * h;
  const float* src = t.ptr();
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t n = r / h, oh = r % h;
    transpose_matrix(k, src + (n * ch * h + oh) * w, plane, ch, w, dst + r * w * ch, ch);
  }
}

// dw[g][i][o][fh][fw] from c[g][i][fh][fw][o] (o < ocp): per input channel a taps × ocg
// transposition. A tap column that never reaches dy has no tile: its floats in c are zeroed
// first.
void store_dw(const Problem& pr, const BwdKernelTable& k, const ColPhases& cp, float* c,
              int64_t ocp, Tensor<float>& dw, int nt) {
  const Params& p = pr.params;
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t kw = p.kernel_size.w, taps = p.kernel_size.h * kw;
  std::vector<char> reached(static_cast<size_t>(kw), 0);
  for (const ColTap& ct : cp.taps) reached[static_cast<size_t>(ct.fw)] = 1;
  float* out = dw.ptr();
  const int64_t gi_count = p.groups * icg;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t gi = 0; gi < gi_count; ++gi) {
    float* ci = c + gi * taps * ocp;
    for (int64_t t = 0; t < taps; ++t) {
      if (!reached[static_cast<size_t>(t % kw)]) std::fill(ci + t * ocp, ci + (t + 1) * ocp, 0.0f);
    }
    transpose_matrix(k, ci, ocp, taps, ocg, out + gi * ocg * taps, taps);
  }
}

}  // namespace

void weights_pixel_gemm(const Problem& pr, const BwdKernelTable& k, const Tensor<float>& x,
                        const Tensor<float>& dy, Tensor<float>& dw, int nt) {
  const Params& p = pr.params;
  const int64_t icg = p.in_channels / p.groups;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w, taps = kh * kw;
  const char* what = "bwd_weights: pixel-major dy";
  const int64_t hout = dy.shape[2], wout = dy.shape[3];
  const ColPhases cp = col_phases(p, pr.iw, wout);
  PixelGemm g{};
  g.pr = &pr;
  g.k = &k;
  g.cp = &cp;
  g.hout = hout;
  g.wout = wout;
  g.ocp = padded_ocg(p, k.lanes);
  g.ncol = static_cast<int64_t>(cp.taps.size());
  g.rows = {pr.ih * pr.iw * p.in_channels, pr.iw * p.in_channels, hout * wout * p.out_channels,
            wout * p.out_channels};
  choose_tiles(p, k, g);
  const int64_t dy_floats = static_cast<int64_t>(dy.data.size());
  // The last pixel's tiles read up to a vector of lanes past its channels.
  float* dyt = thread_scratch(0, static_cast<size_t>(checked_add(dy_floats, k.lanes, what)), false);
  std::fill(dyt + dy_floats, dyt + dy_floats + k.lanes, 0.0f);
  to_pixel_major(k, dy, dyt, nt);
  g.dyt = dyt;
  float* xt = thread_scratch(2, x.data.size(), false);
  to_pixel_major(k, x, xt, nt);
  g.xt = xt;
  const int64_t cfloats = checked_mul(checked_mul(p.groups * taps, icg, what), g.ocp, what);
  // Every tile of a tap that reaches dy is written by the first block; the others stay unread.
  g.c = thread_scratch(1, static_cast<size_t>(cfloats), false);
  const int64_t items = p.groups * kh * g.ncol * g.njb * g.nib;
  const int64_t all_rows = pr.mb * pr.ih, block = gemm_rows_per_block(pr, wout);
  const int64_t chunk = std::max<int64_t>(1, items / (16 * int64_t{nt}));
  for (int64_t r0 = 0; r0 < all_rows && items > 0; r0 += block) {
    const int64_t r1 = std::min(all_rows, r0 + block);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      TapRows runs;
      runs.xoff.resize(static_cast<size_t>(r1 - r0));
      runs.dyoff.resize(static_cast<size_t>(r1 - r0));
      // Consecutive items share the tap and the output channels (dy_t's columns) and walk the
      // input channels (x rows), all in the block the cache holds. Chunks of ~1/16 of a thread's
      // share: a tiny image's items are a few dozen multiply-adds, and one per chunk spent ~7 %
      // of dcgan-2's time in the OpenMP runtime.
#pragma omp for schedule(dynamic, chunk)
      for (int64_t item = 0; item < items; ++item) gemm_item(g, item, r0, r1, runs, r0 == 0);
    }
  }
  store_dw(pr, k, cp, g.c, g.ocp, dw, nt);
}

int64_t weights_pixel_gemm_bytes(const Problem& pr, const BwdKernelTable& k, int threads) {
  const Params& p = pr.params;
  const char* what = "bwd_weights working memory";
  const Pair out = output_size(pr);
  const int64_t dy =
      checked_mul(checked_mul(checked_mul(pr.mb, p.out_channels, what), out.h, what), out.w, what);
  const int64_t c =
      checked_mul(checked_mul(checked_mul(p.groups, p.kernel_size.h * p.kernel_size.w, what),
                              p.in_channels / p.groups, what),
                  padded_ocg(p, k.lanes), what);
  const int64_t runs =
      checked_mul(checked_mul(gemm_rows_per_block(pr, out.w), 16, what), threads, what);
  const int64_t x = checked_mul(checked_mul(pr.mb, p.in_channels, what), pr.ih * pr.iw, what);
  return checked_add(checked_add(bytes_of(checked_add(dy, k.lanes, what), what),
                                 bytes_of(checked_add(c, x, what), what), what),
                     runs, what);
}

}  // namespace convt2d::optimized::bwd
