// The GEMM form of both backward passes, on the forward pass's packed GEMM micro-kernel
// (kernels.h): c[m][j] (+)= Σ_k a[k][m] · b[k][j] over panels packed per K block.
//   bwd_weights, per group: dw[i][(o, t)] = Σ_pixels x[i][pixel] · col[pixel][(o, t)]
//   bwd_data, per image and group: dx[c][pixel] = Σ_(o, t) w[c][(o, t)] · col[(o, t)][pixel]
// where col holds the dy value tap t of output channel o reads for a pixel, 0 where it lies
// outside dy. Each pass's rows of c are contiguous in the result (dw's (o, t) row of one input
// channel, dx's pixel plane of one channel), so tiles store vectors straight into it. A zero of
// col meets x (bwd_weights) or w (bwd_data): the drivers run this only on finite ones.
#include <algorithm>
#include <vector>

#include "aligned.h"
#include "bwd_common.h"
#include "convt2d/checked.h"
#include "kernels.h"

namespace convt2d::optimized::bwd {
namespace {

// Reduction steps per K block: a B panel of kc·48 floats stays in the L1/L2 caches while every
// row tile passes over it.
constexpr int64_t kKc = 256;

struct Tiling {
  int64_t mr, nv, tile_n;  ///< rows per tile, vectors per column tile, its columns
};

Tiling tiling(const KernelTable& k, int64_t rows) {
  return {std::min<int64_t>(k.gemm_mr, rows), kGemmNv, int64_t{kGemmNv} * k.lanes};
}

// One tile: rows [m0, m0 + mcnt) × columns [j0, j0 + jcnt) of c (row stride ldc), from a (packed
// [k][mcnt]) and b ([k][tile_n]). A tile wider than the columns left goes through a scratch tile,
// so that its full-vector stores never reach columns another tile owns.
void run_tile(const KernelTable& k, int64_t kn, const float* a, const float* b, float* c,
              int64_t ldc, int64_t mcnt, int64_t jcnt, bool accumulate, float* scratch,
              const float* zeros) {
  GemmArgs g;
  g.k = kn;
  g.a = a;
  g.b = b;
  g.accumulate = accumulate;
  g.bias = zeros;
  const int64_t nv = ceil_div(jcnt, k.lanes);
  if (jcnt == nv * k.lanes) {
    g.c = c;
    g.ldc = ldc;
    k.gemm[mcnt][nv](g);
    return;
  }
  const int64_t sld = nv * k.lanes;
  if (accumulate) {
    for (int64_t m = 0; m < mcnt; ++m)
      std::copy(c + m * ldc, c + m * ldc + jcnt, scratch + m * sld);
  }
  g.c = scratch;
  g.ldc = sld;
  k.gemm[mcnt][nv](g);
  for (int64_t m = 0; m < mcnt; ++m)
    std::copy(scratch + m * sld, scratch + m * sld + jcnt, c + m * ldc);
}

// A tap's offsets from a pixel's scaled position: oh = ih·sh + dh, ow = iw·sw + dw.
struct Tap {
  int64_t dh, dw;
};
Tap tap_of(const Params& p, int64_t t) {
  const int64_t kw = p.kernel_size.w;
  return {t / kw * p.dilation.h - p.padding.h, t % kw * p.dilation.w - p.padding.w};
}

// One tap for the pixels iw in [a, b) of one image row whose tap row is oh:
// dst[(iw − a)·ds] = plane[oh·wout + iw·sw + dw] inside dy, 0 outside. The inside columns are
// one interval, found once, so the copy itself has no test.
void tap_run(const float* plane, int64_t hout, int64_t wout, int64_t oh, int64_t sw, int64_t dw,
             int64_t a, int64_t b, float* dst, int64_t ds) {
  int64_t lo = b, hi = b;
  if (oh >= 0 && oh < hout) {
    lo = dw >= 0 ? 0 : ceil_div(-dw, sw);
    hi = wout - 1 - dw < 0 ? 0 : (wout - 1 - dw) / sw + 1;
    lo = std::clamp(lo, a, b);
    hi = std::clamp(hi, lo, b);
  }
  for (int64_t iw = a; iw < lo; ++iw) dst[(iw - a) * ds] = 0.0f;
  if (lo < hi) {
    // Only formed when some column is inside: a pointer outside the plane would be undefined.
    const float* src = plane + oh * wout + (lo * sw + dw);
    if (ds == 1 && sw == 1) {
      std::copy(src, src + (hi - lo), dst + (lo - a));
    } else {
      for (int64_t iw = lo; iw < hi; ++iw) dst[(iw - a) * ds] = src[(iw - lo) * sw];
    }
  }
  for (int64_t iw = hi; iw < b; ++iw) dst[(iw - a) * ds] = 0.0f;
}

// The pixels [k0, k0 + kn) of the batch as runs along image rows: run r starts at pixel
// (n[r], ih[r], iw[r]) and ends at its row's end or the block's. Found once per K block, not per
// panel column (the divisions per run and column were ~40 % of dcgan-4's time).
struct PixelRuns {
  std::vector<int64_t> n, ih, iw;  // kc entries each: weights_gemm_bytes' three index lists
  int64_t count = 0;
};

void pixel_runs(int64_t k0, int64_t kn, int64_t h, int64_t w, PixelRuns& pr) {
  pr.count = 0;
  int64_t px = k0, n = k0 / (h * w), ih = k0 % (h * w) / w, iw = k0 % w;
  while (px < k0 + kn) {
    const size_t i = static_cast<size_t>(pr.count++);
    pr.n[i] = n;
    pr.ih[i] = ih;
    pr.iw[i] = iw;
    px += w - iw;
    iw = 0;
    ih = ih + 1 == h ? 0 : ih + 1;
    n += ih == 0 ? 1 : 0;
  }
}

// One B panel column (o, t) over the block's runs: dst[kk·ld] = the dy value tap t of channel o
// reads for pixel k0 + kk, 0 outside dy. The tap's inside columns [lo, hi) are found once.
void weights_column(const Params& p, const PixelRuns& runs, const float* plane0, int64_t img,
                    int64_t hout, int64_t wout, const Tap& tap, int64_t kn, int64_t w, float* dst,
                    int64_t ld) {
  const int64_t sw = p.stride.w;
  const int64_t lo = tap.dw >= 0 ? 0 : ceil_div(-tap.dw, sw);
  const int64_t hi = wout - 1 - tap.dw < 0 ? 0 : (wout - 1 - tap.dw) / sw + 1;
  for (int64_t r = 0, kk = 0; r < runs.count; ++r) {
    const size_t i = static_cast<size_t>(r);
    const int64_t iw = runs.iw[i], run = std::min(w - iw, kn - kk);
    const int64_t oh = runs.ih[i] * p.stride.h + tap.dh;
    float* out = dst + kk * ld;
    kk += run;
    const int64_t a = std::clamp(lo, iw, iw + run), b = std::clamp(hi, a, iw + run);
    if (oh < 0 || oh >= hout || a == b) {
      for (int64_t j = 0; j < run; ++j) out[j * ld] = 0.0f;
      continue;
    }
    for (int64_t j = iw; j < a; ++j) out[(j - iw) * ld] = 0.0f;
    // Only formed when some column is inside: a pointer outside the plane would be undefined.
    const float* src = plane0 + runs.n[i] * img + oh * wout + (a * sw + tap.dw);
    for (int64_t j = a; j < b; ++j) out[(j - iw) * ld] = src[(j - a) * sw];
    for (int64_t j = b; j < iw + run; ++j) out[(j - iw) * ld] = 0.0f;
  }
}

}  // namespace

void weights_gemm(const Problem& pr, const KernelTable& k, const Tensor<float>& x,
                  const Tensor<float>& dy, Tensor<float>& dw, int nt) {
  const Params& p = pr.params;
  const int64_t g_count = p.groups, icg = p.in_channels / g_count, ocg = p.out_channels / g_count;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w, taps = kh * kw;
  const int64_t h = pr.ih, w = pr.iw, hw = h * w, hout = dy.shape[2], wout = dy.shape[3];
  const int64_t cols = ocg * taps, pixels = pr.mb * hw;
  const Tiling tl = tiling(k, icg);
  const int64_t nmt = ceil_div(icg, tl.mr), nnt = ceil_div(cols, tl.tile_n);
  const int64_t kc = std::min(kKc, pixels);
  AlignedVector<float> ap(static_cast<size_t>(nmt * tl.mr * kc));
  const std::vector<float> zeros(kMaxGemmMr, 0.0f);
  for (int64_t g = 0; g < g_count; ++g) {
    float* dwg = dw.ptr() + g * icg * cols;
    for (int64_t k0 = 0; k0 < pixels; k0 += kc) {
      const int64_t kn = std::min(kc, pixels - k0);
#pragma omp parallel num_threads(nt) if (nt > 1)
      {
        // A: per row tile, [k][mcnt] = x[n, g·icg + m0 + m, pixel k0 + k].
#pragma omp for schedule(static)
        for (int64_t mt = 0; mt < nmt; ++mt) {
          const int64_t m0 = mt * tl.mr, mcnt = std::min(tl.mr, icg - m0);
          float* dst = ap.data() + mt * tl.mr * kc;
          for (int64_t kk = 0; kk < kn; ++kk) {
            const int64_t px = k0 + kk, n = px / hw, q = px % hw;
            const float* src = x.ptr() + (n * p.in_channels + g * icg + m0) * hw + q;
            for (int64_t m = 0; m < mcnt; ++m) dst[kk * mcnt + m] = src[m * hw];
          }
        }
        AlignedVector<float> bp(static_cast<size_t>(kc * tl.tile_n));
        AlignedVector<float> scratch(static_cast<size_t>(kMaxGemmMr * tl.tile_n));
        PixelRuns runs;
        runs.n.resize(static_cast<size_t>(kc));
        runs.ih.resize(static_cast<size_t>(kc));
        runs.iw.resize(static_cast<size_t>(kc));
        pixel_runs(k0, kn, h, w, runs);
#pragma omp for schedule(dynamic, 1)
        for (int64_t ntile = 0; ntile < nnt; ++ntile) {
          const int64_t j0 = ntile * tl.tile_n, jcnt = std::min(tl.tile_n, cols - j0);
          const int64_t ld = ceil_div(jcnt, k.lanes) * k.lanes;  // the kernel's B row
          // B: [k][jj] = dy[n, g·ocg + o, oh, ow] of column j0 + jj = (o, tap), 0 outside.
          for (int64_t jj = 0; jj < ld; ++jj) {
            float* dst = bp.data() + jj;
            if (jj >= jcnt) {
              for (int64_t kk = 0; kk < kn; ++kk) dst[kk * ld] = 0.0f;
              continue;
            }
            const int64_t j = j0 + jj, o = j / taps, t = j % taps;
            weights_column(p, runs, dy.ptr() + (g * ocg + o) * hout * wout,
                           p.out_channels * hout * wout, hout, wout, tap_of(p, t), kn, w, dst, ld);
          }
          for (int64_t mt = 0; mt < nmt; ++mt) {
            const int64_t m0 = mt * tl.mr, mcnt = std::min(tl.mr, icg - m0);
            run_tile(k, kn, ap.data() + mt * tl.mr * kc, bp.data(), dwg + m0 * cols + j0, cols,
                     mcnt, jcnt, k0 > 0, scratch.data(), zeros.data());
          }
        }
      }
    }
  }
}

int64_t weights_gemm_bytes(const Problem& pr, const KernelTable& k, int threads) {
  const Params& p = pr.params;
  const int64_t icg = p.in_channels / p.groups;
  const Tiling tl = tiling(k, icg);
  const char* what = "bwd_weights working memory";
  const int64_t kc = std::min(kKc, checked_mul(pr.mb, pr.ih * pr.iw, what));
  const int64_t a = checked_mul(ceil_div(icg, tl.mr) * tl.mr, kc, what);
  // Per thread: the B panel, the scratch tile, three pixel index lists.
  const int64_t per_thread = kc * tl.tile_n + kMaxGemmMr * tl.tile_n + 6 * kc;
  return checked_mul(checked_add(a, checked_mul(per_thread, threads, what), what), 4, what);
}

std::vector<float> pack_data_gemm(const Params& p, const Tensor<float>& w, const KernelTable& k) {
  const int64_t g_count = p.groups, icg = p.in_channels / g_count, ocg = p.out_channels / g_count;
  const int64_t kn = ocg * p.kernel_size.h * p.kernel_size.w;
  const Tiling tl = tiling(k, icg);
  std::vector<float> wg(w.data.size());
  // Per group and row tile: [k][mcnt] with k = (o, tap), which is w's own order within a row.
  for (int64_t g = 0; g < g_count; ++g) {
    for (int64_t m0 = 0; m0 < icg; m0 += tl.mr) {
      const int64_t mcnt = std::min(tl.mr, icg - m0);
      const float* src = w.ptr() + (g * icg + m0) * kn;
      float* dst = wg.data() + (g * icg + m0) * kn;
      for (int64_t kk = 0; kk < kn; ++kk) {
        for (int64_t m = 0; m < mcnt; ++m) dst[kk * mcnt + m] = src[m * kn + kk];
      }
    }
  }
  return wg;
}

void data_gemm(const Problem& pr, const KernelTable& k, const float* wg, const Tensor<float>& dy,
               Tensor<float>& dx, int nt) {
  const Params& p = pr.params;
  const int64_t g_count = p.groups, icg = p.in_channels / g_count, ocg = p.out_channels / g_count;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w, taps = kh * kw;
  const int64_t h = pr.ih, w = pr.iw, hw = h * w, hout = dy.shape[2], wout = dy.shape[3];
  const int64_t kall = ocg * taps;
  const Tiling tl = tiling(k, icg);
  const int64_t nmt = ceil_div(icg, tl.mr), nnt = ceil_div(hw, tl.tile_n);
  const int64_t kc = std::min(kKc, kall);
  const std::vector<float> zeros(kMaxGemmMr, 0.0f);
  for (int64_t n = 0; n < pr.mb; ++n) {
    for (int64_t g = 0; g < g_count; ++g) {
      const float* dyg = dy.ptr() + (n * p.out_channels + g * ocg) * hout * wout;
      float* dxg = dx.ptr() + (n * p.in_channels + g * icg) * hw;
      const float* wgg = wg + g * icg * kall;
      for (int64_t k0 = 0; k0 < kall; k0 += kc) {
        const int64_t kn = std::min(kc, kall - k0);
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
          AlignedVector<float> bp(static_cast<size_t>(kc * tl.tile_n));
          AlignedVector<float> scratch(static_cast<size_t>(kMaxGemmMr * tl.tile_n));
#pragma omp for schedule(dynamic, 1)
          for (int64_t ntile = 0; ntile < nnt; ++ntile) {
            const int64_t j0 = ntile * tl.tile_n, jcnt = std::min(tl.tile_n, hw - j0);
            const int64_t ld = ceil_div(jcnt, k.lanes) * k.lanes;  // the kernel's B row
            // B: [k][jj] = dy[o, oh, ow] that tap t of channel o reads for pixel j0 + jj.
            for (int64_t kk = 0; kk < kn; ++kk) {
              const int64_t kg = k0 + kk, o = kg / taps;
              const Tap tap = tap_of(p, kg % taps);
              const float* plane = dyg + o * hout * wout;
              float* dst = bp.data() + kk * ld;
              for (int64_t jj = 0; jj < jcnt;) {  // one run per dx row of the tile
                const int64_t px = j0 + jj, ih = px / w, iw = px % w;
                const int64_t run = std::min(w - iw, jcnt - jj);
                tap_run(plane, hout, wout, ih * p.stride.h + tap.dh, p.stride.w, tap.dw, iw,
                        iw + run, dst + jj, 1);
                jj += run;
              }
              std::fill(dst + jcnt, dst + ld, 0.0f);
            }
            for (int64_t mt = 0; mt < nmt; ++mt) {
              const int64_t m0 = mt * tl.mr, mcnt = std::min(tl.mr, icg - m0);
              run_tile(k, kn, wgg + m0 * kall + k0 * mcnt, bp.data(), dxg + m0 * hw + j0, hw, mcnt,
                       jcnt, k0 > 0, scratch.data(), zeros.data());
            }
          }
        }
      }
    }
  }
}

int64_t data_gemm_bytes(const Problem& pr, const KernelTable& k, int threads) {
  const Params& p = pr.params;
  const Tiling tl = tiling(k, p.in_channels / p.groups);
  const char* what = "bwd_data working memory";
  const int64_t kall =
      checked_mul(p.out_channels / p.groups, p.kernel_size.h * p.kernel_size.w, what);
  const int64_t kc = std::min(kKc, kall);
  const int64_t per_thread = kc * tl.tile_n + kMaxGemmMr * tl.tile_n;
  return checked_mul(checked_add(checked_mul(per_thread, threads, what), kMaxGemmMr, what), 4,
                     what);
}

}  // namespace convt2d::optimized::bwd
