// bwd_weights: dw = Σ over the pixels of x · dy at each tap (optimized_backward.h), by the
// direct tiles (bwd_weights_kernel over pixel rows, bwd_kernels.h), the tap blocks (the direct
// tiles with (o, tap) columns, for few output channels per group) or the GEMM (backward_gemm.cc).
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "aligned.h"
#include "bwd_common.h"
#include "bwd_kernels.h"
#include "convt2d/checked.h"
#include "convt2d/error.h"
#include "convt2d/optimized_backward.h"
#include "convt2d/pass.h"
#include "kernels.h"

namespace convt2d::optimized {
namespace {

using bwd::bytes_of;
using bwd::ceil_div;
using bwd::choose_threads;
using bwd::ColPhases;
using bwd::ColTap;
using bwd::kBookkeepingBytes;
using bwd::table_for;

// Rows of the batch (n, ih) per block of the pixel sum: x's and dy's rows of a block should stay
// in the L2 cache while every tile of every tap passes over them, and each tile should sum at
// least ~2048 products per accumulator between two reductions.
int64_t rows_per_block(const Problem& pr) {
  const Params& p = pr.params;
  const double per_row = static_cast<double>(pr.iw) *
                         (static_cast<double>(p.in_channels / p.groups) +
                          static_cast<double>(p.out_channels / p.groups) *
                              static_cast<double>(p.stride.h) * static_cast<double>(p.stride.w));
  const double floats = 128.0 * 1024;
  const double rows =
      std::max(floats / std::max(per_row, 1.0), 2048.0 / static_cast<double>(pr.iw));
  const double all = static_cast<double>(pr.mb) * static_cast<double>(pr.ih);
  return static_cast<int64_t>(std::clamp(std::ceil(rows), 1.0, std::max(all, 1.0)));
}

// Groups with fewer output channels than the bwd_weights tile has columns (dcgan's last layer:
// 3; fsrcnn: 1) would leave most of it idle: for a finite x, the direct tiles then take as their
// columns every (output channel, tap row, tap column) of one column phase, which read the same
// x rows at fixed offsets into a copy of dy padded with zero rows and columns. The zeros meet
// only finite x values, so the sum is the definition's.
struct TapBlocks {
  int64_t top = 0;   ///< zero rows above dy's first
  int64_t rows = 0;  ///< padded rows per channel
  int64_t pad = 0;   ///< zeros before a phase row's first column
  int64_t prow = 0;  ///< floats per padded phase row
};

// Only for pr with weights_blocks_taps (whose bounds keep every sum here inside int64).
TapBlocks tap_blocks(const Problem& pr, const ColPhases& cp) {
  const Params& p = pr.params;
  const Pair out = output_size(pr);
  TapBlocks tb;
  // Tap rows oh = ih·sh − ph + fh·dh over every pixel and tap lie in [−ph, Hout + ph − oph);
  // tap columns of slot rows at iw + a.
  tb.top = p.padding.h;
  tb.rows = tb.top + out.h + std::max<int64_t>(0, p.padding.h - p.output_padding.h);
  int64_t amin = 0, amax = 0;
  for (const ColTap& ct : cp.taps) {
    amin = std::min(amin, ct.a);
    amax = std::max(amax, ct.a);  // < jmax: the tap reaches dy
  }
  tb.pad = -amin;
  tb.prow = tb.pad + std::max(cp.jmax, pr.iw + amax);
  return tb;
}

// Only where the padding stays small beside dy (a padding or dilation far larger than the
// image would make it proportional to them): at most 2·Hout rows of 2·(phase + lanes) floats.
// Decided in double, before any of tap_blocks' sums is formed.
bool weights_blocks_taps(const Problem& pr, const BwdKernelTable& k) {
  const Params& p = pr.params;
  if (p.out_channels / p.groups >= k.weights_nr) return false;
  const Pair out = output_size(pr);
  const ColPhases cp = bwd::col_phases(p, pr.iw, out.w);
  if (cp.slots() == 0) return false;
  const auto d = [](int64_t v) { return static_cast<double>(v); };
  const double rows =
      d(p.padding.h) + d(out.h) + std::max(0.0, d(p.padding.h) - d(p.output_padding.h));
  double amin = 0, amax = 0;
  for (const ColTap& ct : cp.taps) {
    amin = std::min(amin, d(ct.a));
    amax = std::max(amax, d(ct.a));
  }
  const double prow = -amin + std::max(d(cp.jmax), d(pr.iw) + amax);
  return rows <= 2.0 * d(out.h) && prow <= 2.0 * (d(cp.jmax) + k.lanes);
}

// The GEMM tiles of the ISA whose backward tiles are k.
const KernelTable& gemm_table_of(const BwdKernelTable& k) {
  if (&k == &avx512_bwd_kernels()) return avx512_kernels();
  if (&k == &avx2_bwd_kernels()) return avx2_kernels();
  return scalar_kernels();
}

// The automatic choice is a cost model fitted to one measurement of the shared layer suite
// (bench/README.md, "Backward passes"), one thread, AVX-512 and AVX2 alike.

// bwd_weights, in units of the GEMM tile's time per multiply-add: the GEMM pays for its idle
// lanes and for building its panel of dy (~64 such units per element, one element per IC/G
// multiply-adds); the direct tiles sum rows of pixels, which wastes the lanes past a short row,
// reduces every accumulator at the end (fitted: ~0.6 of the GEMM's rate on wide rows) and idles
// the parts of its input × output channel tile that a small group leaves empty.
bool weights_prefers_gemm(const Problem& pr, const BwdKernelTable& k) {
  const Params& p = pr.params;
  const KernelTable& g = gemm_table_of(k);
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const double gemm_use =
      bwd::lane_use(ocg * p.kernel_size.h * p.kernel_size.w, int64_t{kGemmNv} * g.lanes) *
      bwd::lane_use(icg, g.gemm_mr);
  const double gemm = 1.0 / gemm_use + 64.0 / static_cast<double>(icg);
  // Few output channels per group: the tap blocks' columns are (o, fh, tap of a phase).
  double cols_use = bwd::lane_use(ocg, k.weights_nr);
  if (weights_blocks_taps(pr, k)) {
    const ColPhases cp = bwd::col_phases(p, pr.iw, output_size(pr).w);
    const int64_t cols = ocg * p.kernel_size.h * static_cast<int64_t>(cp.taps.size());
    cols_use = bwd::lane_use(ceil_div(cols, cp.slots()), k.weights_nr);
  }
  const double direct_use =
      0.6 * bwd::lane_use(pr.iw, k.lanes) * bwd::lane_use(icg, k.weights_mr) * cols_use;
  return gemm < 1.0 / direct_use;
}

// The pixel GEMM, fitted to one measurement of the suite (bench/README.md, "The pixel-major
// GEMM"; one thread): fastest of the three on every layer with at least a vector of output
// channels per group on AVX-512 (dcgan-4 0.35 ms vs 0.51 packed GEMM, stride1-3x3 1.19 vs 1.81
// direct) but dcgan-2 and pose-head, whose 8 and 32 MB of c and dw go through memory twice more
// than the packed GEMM's one pass over dw (0.75-0.85 vs 0.60-0.63 ms, 7.6 vs 5.6; dcgan-3's 2 MB
// still wins, 0.41 vs 0.48); on AVX2 only at stride 1 (stride1-3x3 2.30 vs 3.02,
// dilated-d2 0.55 vs 0.79), 5-30 % slower than the packed GEMM at stride 2 but on dcgan-4,
// dcgan-b16 and grouped-g4. The difference between the ISAs is, by our reading, that AVX-512's
// FMA takes the broadcast x as a memory operand while AVX2 spends a load µop on each. Fewer
// output channels per group than lanes idle most of its tile (dcgan-out, fsrcnn-x3, depthwise).
bool weights_prefers_pixel_gemm(const Problem& pr, const BwdKernelTable& k) {
  const Params& p = pr.params;
  const int64_t ocg = p.out_channels / p.groups;
  if (ocg < k.lanes) return false;
  const double dw_floats = static_cast<double>(p.in_channels) * static_cast<double>(ocg) *
                           static_cast<double>(p.kernel_size.h) *
                           static_cast<double>(p.kernel_size.w);
  if (dw_floats > 1024.0 * 1024) return false;
  return (p.stride.h == 1 && p.stride.w == 1) || k.lanes >= 16;
}

BwdAlgo resolve_weights_algo(const Problem& pr, const BwdKernelTable& k, BwdAlgo algo) {
  if (algo != BwdAlgo::kAuto) return algo;
  if (weights_prefers_pixel_gemm(pr, k)) return BwdAlgo::kPixelGemm;
  return weights_prefers_gemm(pr, k) ? BwdAlgo::kGemm : BwdAlgo::kDirect;
}

}  // namespace

BwdAlgo chosen_bwd_weights_algo(const Problem& pr, Isa isa) {
  validate(pr);
  return resolve_weights_algo(pr, table_for(isa), BwdAlgo::kAuto);
}

namespace {

// The tap blocks' columns: per slot, its (o, fh, tap of the slot), o-major, as offsets into the
// padded dy copy and into dw; then the (slot, first column) of every block of nr columns.
struct TapColumns {
  std::vector<std::vector<int64_t>> dcols, wcols;
  std::vector<int64_t> cbs, cb0;
};

TapColumns tap_columns(const Params& p, const ColPhases& cp, int64_t chan, int64_t rs, int64_t nr) {
  const int64_t ocg = p.out_channels / p.groups, kh = p.kernel_size.h, kw = p.kernel_size.w;
  const int64_t taps = kh * kw, slots = cp.slots();
  TapColumns tc;
  tc.dcols.resize(static_cast<size_t>(slots));
  tc.wcols.resize(static_cast<size_t>(slots));
  for (int64_t o = 0; o < ocg; ++o) {
    for (int64_t fh = 0; fh < kh; ++fh) {
      for (const ColTap& ct : cp.taps) {
        tc.dcols[static_cast<size_t>(ct.slot)].push_back(o * chan + fh * p.dilation.h * rs + ct.a);
        tc.wcols[static_cast<size_t>(ct.slot)].push_back(o * taps + fh * kw + ct.fw);
      }
    }
  }
  for (int64_t s = 0; s < slots; ++s) {
    const int64_t ncols = static_cast<int64_t>(tc.dcols[static_cast<size_t>(s)].size());
    for (int64_t c0 = 0; c0 < ncols; c0 += nr) {
      tc.cbs.push_back(s);
      tc.cb0.push_back(c0);
    }
  }
  return tc;
}

// The tap blocks' padded copy of dy: [n][oc][padded oh][slot][prow], zeros around dy's values.
struct TapCopy {
  float* dyp = nullptr;               ///< thread_scratch slot 0
  int64_t rs = 0, chan = 0, img = 0;  ///< floats per padded row (all slots), channel, image
};

TapCopy tap_copy(const Problem& pr, const BwdKernelTable& k, const ColPhases& cp,
                 const TapBlocks& tb, const Tensor<float>& dy, int nt) {
  const Params& p = pr.params;
  const int64_t hout = dy.shape[2], wout = dy.shape[3];
  const char* what = "bwd_weights: dy copy";
  TapCopy c;
  c.rs = checked_mul(cp.slots(), tb.prow, what);
  c.chan = checked_mul(tb.rows, c.rs, what);
  c.img = checked_mul(p.out_channels, c.chan, what);
  c.dyp = thread_scratch(0, static_cast<size_t>(checked_mul(pr.mb, c.img, what)), true);
  const int64_t planes = pr.mb * p.out_channels * hout;
  float* dst = c.dyp;
  const int64_t chan = c.chan, rs = c.rs;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < planes; ++r) {
    const int64_t plane = r / hout, oh = r % hout;
    bwd::split_phases(k, dy.ptr() + r * wout, wout, p.stride.w, cp, tb.pad, tb.prow,
                      dst + plane * chan + (oh + tb.top) * rs);
  }
  return c;
}

void weights_tap_blocks(const Problem& pr, const BwdKernelTable& k, const Tensor<float>& x,
                        const Tensor<float>& dy, Tensor<float>& dw, int nt) {
  const Params& p = pr.params;
  const int64_t g_count = p.groups, icg = p.in_channels / g_count, ocg = p.out_channels / g_count;
  const int64_t taps = p.kernel_size.h * p.kernel_size.w, h = pr.ih, w = pr.iw;
  const ColPhases cp = bwd::col_phases(p, w, dy.shape[3]);  // slots() > 0 (weights_blocks_taps)
  const TapBlocks tb = tap_blocks(pr, cp);
  const TapCopy c = tap_copy(pr, k, cp, tb, dy, nt);
  const int64_t mr = std::min<int64_t>(k.weights_mr, icg), nr = k.weights_nr;
  const TapColumns tc = tap_columns(p, cp, c.chan, c.rs, nr);
  const int64_t nib = ceil_div(icg, mr), ncb = static_cast<int64_t>(tc.cbs.size());
  const int64_t items = g_count * ncb * nib;
  const int64_t all_rows = pr.mb * h, block = rows_per_block(pr);
  for (int64_t r0 = 0; r0 < all_rows; r0 += block) {
    const int64_t r1 = std::min(all_rows, r0 + block), nrows = r1 - r0;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      std::vector<int64_t> xoff(static_cast<size_t>(nrows)), dyoff(static_cast<size_t>(nrows));
      // Consecutive items share the columns (dy rows) and walk the input channels (x rows).
#pragma omp for schedule(dynamic, 1)
      for (int64_t item = 0; item < items; ++item) {
        const int64_t ib = item % nib, cb = item / nib % ncb, g = item / nib / ncb;
        const int64_t s = tc.cbs[static_cast<size_t>(cb)], c0 = tc.cb0[static_cast<size_t>(cb)];
        for (int64_t r = r0, n = r0 / h, ih = r0 % h; r < r1; ++r) {
          xoff[static_cast<size_t>(r - r0)] = n * p.in_channels * h * w + ih * w;
          // The padded row of tap row 0; the columns add fh·dh rows.
          dyoff[static_cast<size_t>(r - r0)] =
              n * c.img + (ih * p.stride.h - p.padding.h + tb.top) * c.rs + s * tb.prow + tb.pad;
          ih = ih + 1 == h ? 0 : ih + 1;  // stepped, not divided (see direct_item)
          n += ih == 0 ? 1 : 0;
        }
        const std::vector<int64_t>& dc = tc.dcols[static_cast<size_t>(s)];
        const int64_t i0 = ib * mr, mb = std::min(mr, icg - i0);
        const int64_t nb = std::min(nr, static_cast<int64_t>(dc.size()) - c0);
        BwdWeightsArgs a;
        a.x = x.ptr() + (g * icg + i0) * h * w;
        a.dy = c.dyp + g * ocg * c.chan;
        a.xoff = xoff.data();
        a.dyoff = dyoff.data();
        a.nrows = nrows;
        a.len = w;
        a.x_cs = h * w;
        a.dy_col = dc.data() + c0;
        a.dw = dw.ptr() + (g * icg + i0) * ocg * taps;
        a.ldi = ocg * taps;
        a.dw_col = tc.wcols[static_cast<size_t>(s)].data() + c0;
        k.weights[mb][nb](a);
      }
    }
  }
}

// dy as the direct tiles read it: in place for stride 1 in W; else its column phases, unpadded
// ([n][oc][oh][slot][jmax]).
struct DirectDy {
  const float* src = nullptr;  ///< dy, or its copy in thread_scratch slot 0
  int64_t row = 0, chan = 0;   ///< floats per dy row (all slots) and per channel
};

DirectDy direct_dy(const Problem& pr, const BwdKernelTable& k, const ColPhases& cp,
                   const Tensor<float>& dy, int nt) {
  const Params& p = pr.params;
  const int64_t hout = dy.shape[2], wout = dy.shape[3], sw = p.stride.w;
  DirectDy d;
  d.src = dy.ptr();
  d.row = wout;
  d.chan = hout * wout;
  if (sw == 1 || cp.slots() == 0) return d;
  const char* what = "bwd_weights: dy copy";
  d.row = checked_mul(cp.slots(), cp.jmax, what);
  d.chan = checked_mul(hout, d.row, what);
  // Not cleared: the tiles read only the columns split_phases writes.
  float* const dst = thread_scratch(
      0, static_cast<size_t>(checked_mul(checked_mul(pr.mb, p.out_channels, what), d.chan, what)),
      false);
  const int64_t planes = pr.mb * p.out_channels * hout, row = d.row;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < planes; ++r) {
    bwd::split_phases(k, dy.ptr() + r * wout, wout, sw, cp, 0, cp.jmax, dst + r * row);
  }
  d.src = dst;
  return d;
}

// The direct tiles' constants for one call.
struct DirectRun {
  const Problem* pr;
  const BwdKernelTable* k;
  const ColPhases* cp;
  const DirectDy* dy;
  const float* x;
  float* dw;
  int64_t mr, nr, nib, nob, ncol;
  int64_t dy_col[kMaxBwdWeightsNr], dw_col[kMaxBwdWeightsNr];  // consecutive output channels
  int64_t hout;
  bwd::RowStrides rows;  // x's rows, and dy's rows (all slots) of its copy
};

// One item of the direct tiles over the batch rows [r0, r1): input channel block ib × output
// channel block ob of tap (fh, column tap ct) in group g, over the rows whose tap row is inside.
void direct_item(const DirectRun& d, int64_t item, int64_t r0, int64_t r1, bwd::TapRows& rl) {
  const Params& p = d.pr->params;
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w, taps = kh * kw;
  const int64_t h = d.pr->ih, w = d.pr->iw;
  const bwd::WeightsItem it = bwd::weights_item(item, d.nib, d.nob, d.ncol, kh);
  const ColTap& ct = d.cp->taps[static_cast<size_t>(it.col)];
  const int64_t fh = it.fh, g = it.g;
  if (rl.fh != fh) bwd::fill_tap_rows(*d.pr, d.hout, d.rows, fh, r0, r1, rl);
  if (rl.count == 0) return;
  const int64_t i0 = it.ib * d.mr, o0 = it.ob * d.nr;
  const int64_t mb = std::min(d.mr, icg - i0), nb = std::min(d.nr, ocg - o0);
  BwdWeightsArgs a;
  // The tap column's shift: lo + a >= 0, inside the slot's first row.
  a.x = d.x + (g * icg + i0) * h * w + ct.lo;
  a.dy = d.dy->src + (g * ocg + o0) * d.dy->chan + ct.slot * d.cp->jmax + ct.lo + ct.a;
  a.xoff = rl.xoff.data();
  a.dyoff = rl.dyoff.data();
  a.nrows = rl.count;
  a.len = ct.hi - ct.lo;
  a.x_cs = h * w;
  a.dy_col = d.dy_col;
  a.dw = d.dw + ((g * icg + i0) * ocg + o0) * taps + fh * kw + ct.fw;
  a.ldi = ocg * taps;
  a.dw_col = d.dw_col;
  d.k->weights[mb][nb](a);
}

// The direct tiles: per tap, input × output channel tiles summed over the pixel rows whose tap
// row lies inside dy, over only the definition's terms (any x).
void weights_direct(const Problem& pr, const BwdKernelTable& k, const Tensor<float>& x,
                    const Tensor<float>& dy, Tensor<float>& dw, int nt) {
  const Params& p = pr.params;
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const ColPhases cp = bwd::col_phases(p, pr.iw, dy.shape[3]);
  const DirectDy ddy = direct_dy(pr, k, cp, dy, nt);
  DirectRun d{&pr, &k, &cp, &ddy, x.ptr(), dw.ptr(), 0, 0, 0, 0, 0, {}, {}, 0, {}};
  d.mr = std::min<int64_t>(k.weights_mr, icg);
  d.nr = std::min<int64_t>(k.weights_nr, ocg);
  d.nib = ceil_div(icg, d.mr);
  d.nob = ceil_div(ocg, d.nr);
  d.ncol = static_cast<int64_t>(cp.taps.size());
  d.hout = dy.shape[2];
  d.rows = {p.in_channels * pr.ih * pr.iw, pr.iw, p.out_channels * ddy.chan, ddy.row};
  for (int64_t r = 0; r < kMaxBwdWeightsNr; ++r) {
    d.dy_col[r] = r * ddy.chan;
    d.dw_col[r] = r * p.kernel_size.h * p.kernel_size.w;
  }
  const int64_t items = p.groups * p.kernel_size.h * d.ncol * d.nob * d.nib;
  const int64_t all_rows = pr.mb * pr.ih, block = rows_per_block(pr);
  for (int64_t r0 = 0; r0 < all_rows; r0 += block) {
    const int64_t r1 = std::min(all_rows, r0 + block);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      bwd::TapRows rl;
      rl.xoff.resize(static_cast<size_t>(r1 - r0));
      rl.dyoff.resize(static_cast<size_t>(r1 - r0));
      // Consecutive items share the tap and output channels (dy rows) and walk the input
      // channels (x rows), which the block keeps in the cache.
#pragma omp for schedule(dynamic, 1)
      for (int64_t item = 0; item < items; ++item) direct_item(d, item, r0, r1, rl);
    }
  }
}

}  // namespace

void bwd_weights_into(const Params& p, const Tensor<float>& x, const Tensor<float>& dy,
                      Tensor<float>& dw, int threads, Isa isa, BwdAlgo algo) {
  require_isa(isa);
  const Shape ws = weight_shape(p);  // validates p
  if (x.shape.size() != 4 || x.shape[1] != p.in_channels) {
    throw Error("x", fmt::format("x: expected a 4-D (N, {}, H, W) tensor, got shape {}",
                                 p.in_channels, format_shape(x.shape)));
  }
  const Problem pr{x.shape[0], x.shape[2], x.shape[3], p};
  const Shape ys = output_shape(pr);  // validates pr
  if (dy.shape != ys) {
    throw Error("dy", fmt::format("dy: shape {} does not match the expected {}",
                                  format_shape(dy.shape), format_shape(ys)));
  }
  if (dw.shape != ws) {
    throw Error("dw", fmt::format("dw: shape {} does not match the expected {}",
                                  format_shape(dw.shape), format_shape(ws)));
  }
  const BwdKernelTable& k = table_for(isa);
  const int nt = choose_threads(threads, macs(pr));
  const BwdAlgo chosen = resolve_weights_algo(pr, k, algo);
  if (chosen == BwdAlgo::kPixelGemm && pr.mb > 0) {  // writes every element, sums only the
    bwd::weights_pixel_gemm(pr, k, x, dy, dw, nt);   // definition's terms: any x
    return;
  }
  std::fill(dw.data.begin(), dw.data.end(), 0.0f);  // the others add to dw
  if (pr.mb == 0) return;
  // The GEMM tiles' zeros of dy's tap columns would meet every x value (0·Inf is NaN where the
  // definition has no term): a non-finite x takes the direct tiles, which read only its terms.
  // Only the GEMM and the tap blocks ask (the scan was ~4 % of grouped-g4's direct tiles).
  const bool gemm = chosen == BwdAlgo::kGemm;
  const bool blocks = weights_blocks_taps(pr, k);
  const bool finite_x =
      (gemm || blocks) && k.all_finite(x.ptr(), static_cast<int64_t>(x.data.size()));
  if (gemm && finite_x) {
    bwd::weights_gemm(pr, kernel_table(isa), x, dy, dw, nt);
    return;
  }
  if (finite_x && blocks) {
    weights_tap_blocks(pr, k, x, dy, dw, nt);
    return;
  }
  weights_direct(pr, k, x, dy, dw, nt);
}

Tensor<float> conv_transpose2d_bwd_weights(const Params& p, const Tensor<float>& x,
                                           const Tensor<float>& dy, int threads, Isa isa,
                                           BwdAlgo algo) {
  Tensor<float> dw(weight_shape(p));
  bwd_weights_into(p, x, dy, dw, threads, isa, algo);
  return dw;
}

std::string bwd_weights_kernel_names(Isa isa) {
  const BwdKernelTable& k = table_for(isa);
  return k.weights_name[k.weights_mr][k.weights_nr];
}

int64_t bwd_weights_working_bytes(const Problem& pr, Isa isa, int threads) {
  validate(pr);
  const Params& p = pr.params;
  const Pair out = output_size(pr);
  const char* what = "bwd_weights working memory";
  // The GEMM algorithms' copies, then the direct one's (a sum: an upper bound for any).
  const int nthreads = threads > 0 ? threads : omp_get_max_threads();
  int64_t bytes = checked_add(kBookkeepingBytes,
                              bwd::weights_gemm_bytes(pr, kernel_table(isa), nthreads), what);
  bytes = checked_add(bytes, bwd::weights_pixel_gemm_bytes(pr, table_for(isa), nthreads), what);
  if (p.stride.w > 1) {
    const ColPhases cp = bwd::col_phases(p, pr.iw, out.w);
    const int64_t copy =
        checked_mul(checked_mul(checked_mul(checked_mul(pr.mb, p.out_channels, what), out.h, what),
                                cp.slots(), what),
                    cp.jmax, what);
    bytes = checked_add(bytes, bytes_of(copy, what), what);
  }
  if (weights_blocks_taps(pr, table_for(isa))) {
    // The tap blocks' padded copy (at most 2·Hout rows of 2·(phase + lanes) floats each) and
    // their column lists.
    const ColPhases cp = bwd::col_phases(p, pr.iw, out.w);
    const TapBlocks tb = tap_blocks(pr, cp);
    const int64_t copy = checked_mul(
        checked_mul(checked_mul(checked_mul(pr.mb, p.out_channels, what), tb.rows, what),
                    cp.slots(), what),
        tb.prow, what);
    bytes = checked_add(bytes, bytes_of(copy, what), what);
    const int64_t cols = checked_mul(p.out_channels / p.groups,
                                     checked_mul(p.kernel_size.h, p.kernel_size.w, what), what);
    bytes = checked_add(bytes, checked_mul(cols, 32, what), what);
  }
  const int nt = threads > 0 ? threads : omp_get_max_threads();
  bytes =
      checked_add(bytes, checked_mul(checked_mul(rows_per_block(pr), 16, what), nt, what), what);
  return bytes;
}

}  // namespace convt2d::optimized
