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
using bwd::split_phases;
using bwd::table_for;

// The bwd_data tiling of a problem: mr channels × nv vectors of columns (T floats), the phase
// rows of `row` floats with `pad` zeros before their first column and enough after the last.
struct DataLayout {
  ColPhases cp;
  int64_t mr = 1, nv = 1, nvec = 1, tile = 1, row = 1, pad = 0;
  // Narrow images (fewer than two vectors per row) take the column path instead: every tap's dy
  // values gathered per image and group into planes of `plane` floats (H·W rounded up to whole
  // vectors), tiles over the flattened pixels, so that no lane idles past a short row.
  bool col = false;
  int64_t plane = 0;
};

// The column path's gathered dy is at most this large (per image and group).
constexpr int64_t kMaxColBytes = int64_t{32} << 20;

DataLayout data_layout(const Problem& pr, const BwdKernelTable& k) {
  const Params& p = pr.params;
  const Pair out = output_size(pr);
  DataLayout d;
  d.cp = bwd::col_phases(p, pr.iw, out.w);
  d.mr = std::min<int64_t>(k.data_mr, p.in_channels / p.groups);
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t hw = pr.ih * pr.iw;  // parts of the validated input size
  if (pr.iw < 2 * k.lanes && pr.ih > 1 && icg >= 8) {
    // taps·ocg·plane in double: only compared with the cap, never allocated unchecked.
    const double plane = static_cast<double>(ceil_div(hw, k.lanes) * k.lanes);
    const double bytes = 4.0 * plane * static_cast<double>(ocg) *
                         static_cast<double>(p.kernel_size.h) *
                         static_cast<double>(p.kernel_size.w);
    d.col = bytes <= static_cast<double>(kMaxColBytes);
  }
  d.nvec = ceil_div(d.col ? hw : pr.iw, k.lanes);
  if (d.col) d.plane = d.nvec * k.lanes;
  const int64_t nv_max = std::clamp<int64_t>(k.data_acc / d.mr, 1, kMaxBwdDataNv);
  // Balanced: the fewest tiles of at most nv_max vectors, all about as wide.
  d.nv = ceil_div(d.nvec, ceil_div(d.nvec, nv_max));
  d.tile = d.nv * k.lanes;
  // A tile reads its taps' phase rows at iw + a for iw in [iw0, iw0 + nv·lanes): from the
  // smallest a to the last vector's end past the largest, which the padding covers with zeros.
  int64_t amin = 0, amax = 0;
  for (const ColTap& ct : d.cp.taps) {
    amin = std::min(amin, ct.a);
    amax = std::max(amax, ct.a);
  }
  d.pad = -amin;
  const int64_t right = std::max<int64_t>(0, d.nvec * k.lanes + amax - d.cp.jmax);
  d.row = checked_add(checked_add(d.cp.jmax, d.pad, "bwd_data: dy phase row"), right,
                      "bwd_data: dy phase row");
  return d;
}

// Groups per chunk of bwd_data's dy copy (grp floats each): as many as fit in ~256 KB, at least
// one.
int64_t data_group_chunk(int64_t grp, int64_t groups) {
  return std::clamp<int64_t>((int64_t{64} << 10) / std::max<int64_t>(grp, 1), 1, groups);
}

// bwd_data over exactly the definition's terms, for weights that are not all finite: a padding
// zero must not meet an infinite weight (0·Inf is NaN where the definition has no term).
void bwd_data_by_definition(const Params& p, const Problem& pr, const float* w,
                            const Tensor<float>& dy, Tensor<float>& dx, int nt) {
  const int64_t g_count = p.groups, icg = p.in_channels / g_count, ocg = p.out_channels / g_count;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w, h = pr.ih, wd = pr.iw;
  const int64_t hout = dy.shape[2], wout = dy.shape[3];
  const int64_t planes = pr.mb * p.in_channels;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
  for (int64_t nc = 0; nc < planes; ++nc) {
    const int64_t n = nc / p.in_channels, c = nc % p.in_channels, g = c / icg;
    const float* wc = w + c * ocg * kh * kw;
    for (int64_t ih = 0; ih < h; ++ih) {
      for (int64_t iw = 0; iw < wd; ++iw) {
        float s = 0.0f;
        for (int64_t o = 0; o < ocg; ++o) {
          const float* plane = dy.ptr() + (n * p.out_channels + g * ocg + o) * hout * wout;
          for (int64_t fh = 0; fh < kh; ++fh) {
            const int64_t oh = ih * p.stride.h - p.padding.h + fh * p.dilation.h;
            if (oh < 0 || oh >= hout) continue;
            for (int64_t fw = 0; fw < kw; ++fw) {
              const int64_t ow = iw * p.stride.w - p.padding.w + fw * p.dilation.w;
              if (ow < 0 || ow >= wout) continue;
              s += wc[(o * kh + fh) * kw + fw] * plane[oh * wout + ow];
            }
          }
        }
        dx.ptr()[((n * p.in_channels + c) * h + ih) * wd + iw] = s;
      }
    }
  }
}

}  // namespace

struct BwdDataWeights::Impl {
  Params p;
  Isa isa = Isa::kScalar;
  const BwdKernelTable* k = nullptr;
  int64_t mr = 1;
  // Per group and block of mr input channels (the last block may be narrower, mb): [tap][o][mb].
  AlignedVector<float> packed;
  bool finite = true;
  // The weights as given, for the definition's loop when they are not all finite.
  std::vector<float> raw;
  // The same weights for the GEMM algorithm (bwd::pack_data_gemm), when finite.
  std::vector<float> wg;
};

BwdDataWeights::BwdDataWeights(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
const Params& BwdDataWeights::params() const {
  return impl_->p;
}
Isa BwdDataWeights::isa() const {
  return impl_->isa;
}
std::string BwdDataWeights::kernel_names() const {
  const Impl& pl = *impl_;
  const int mr = static_cast<int>(pl.mr);
  const int nv = static_cast<int>(std::clamp<int64_t>(pl.k->data_acc / mr, 1, kMaxBwdDataNv));
  return pl.k->data_name[mr][nv];
}

BwdDataWeights pack_bwd_data(const Params& p, const Tensor<float>& w, Isa isa) {
  require_isa(isa);
  check_weight_shape(p, w.shape);  // validates p
  auto pl = std::make_shared<BwdDataWeights::Impl>();
  pl->p = p;
  pl->isa = isa;
  pl->k = &table_for(isa);
  const int64_t g_count = p.groups, icg = p.in_channels / g_count, ocg = p.out_channels / g_count;
  const int64_t taps = p.kernel_size.h * p.kernel_size.w;  // parts of the validated weight size
  pl->mr = std::min<int64_t>(pl->k->data_mr, icg);
  pl->finite = std::all_of(w.data.begin(), w.data.end(), [](float v) { return std::isfinite(v); });
  if (!pl->finite) {
    pl->raw = w.data.to_vector();
    return BwdDataWeights(std::move(pl));
  }
  pl->wg = bwd::pack_data_gemm(p, w, kernel_table(isa));
  pl->packed.resize(w.data.size());
  const float* src = w.ptr();
  for (int64_t g = 0; g < g_count; ++g) {
    for (int64_t c0 = 0; c0 < icg; c0 += pl->mr) {
      const int64_t mb = std::min(pl->mr, icg - c0);
      const int64_t base = (g * icg + c0) * ocg * taps;
      float* dst = pl->packed.data() + base;
      for (int64_t t = 0; t < taps; ++t) {
        for (int64_t o = 0; o < ocg; ++o) {
          for (int64_t m = 0; m < mb; ++m) {
            // w is (IC, OC/G, kh, kw) in memory.
            dst[(t * ocg + o) * mb + m] = src[base + (m * ocg + o) * taps + t];
          }
        }
      }
    }
  }
  return BwdDataWeights(std::move(pl));
}

namespace {

// Whether dx rows a and b have the same tap rows inside dy (then b's taps are a's, shifted).
bool same_tap_rows(const Params& p, int64_t hout, int64_t a, int64_t b) {
  for (int64_t fh = 0; fh < p.kernel_size.h; ++fh) {
    const int64_t oa = a * p.stride.h - p.padding.h + fh * p.dilation.h;
    const int64_t ob = b * p.stride.h - p.padding.h + fh * p.dilation.h;
    if ((oa >= 0 && oa < hout) != (ob >= 0 && ob < hout)) return false;
  }
  return true;
}

// The column path (DataLayout::col): per image and group, col[t][o][pixel] = the dy value tap t
// of output channel o reads for that input pixel, 0 where it lies outside dy (finite weights
// only, so 0·w adds nothing); then dx[c][pixels] = Σ_(t, o) w[c, o, t] · col[t][o][pixels] by
// the same register tiles over flattened pixels.
void run_col_path(const BwdDataWeights::Impl& pl, const DataLayout& d, const Problem& pr,
                  const Tensor<float>& dy, Tensor<float>& dx, int nt) {
  const Params& p = pl.p;
  const BwdKernelTable& k = *pl.k;
  const int64_t g_count = p.groups, icg = p.in_channels / g_count, ocg = p.out_channels / g_count;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w, taps = kh * kw;
  const int64_t h = pr.ih, w = pr.iw, hw = h * w, hout = dy.shape[2], wout = dy.shape[3];
  const int64_t plane = d.plane;
  AlignedVector<float> col(static_cast<size_t>(taps * ocg * plane));  // <= kMaxColBytes
  // One group's dy in column phases: [o][oh][slot][jmax] (counted by bwd_data_working_bytes).
  const int64_t prow = d.cp.slots() * d.cp.jmax;
  AlignedVector<float> ph(static_cast<size_t>(ocg * hout * prow));
  std::vector<int64_t> tap_of_fw(static_cast<size_t>(kw), -1);  // -1: the tap misses dy
  for (size_t i = 0; i < d.cp.taps.size(); ++i) {
    tap_of_fw[static_cast<size_t>(d.cp.taps[i].fw)] = static_cast<int64_t>(i);
  }
  const int64_t ncb = ceil_div(icg, d.mr), ntiles = ceil_div(d.nvec, d.nv);
  for (int64_t n = 0; n < pr.mb; ++n) {
    for (int64_t g = 0; g < g_count; ++g) {
      const float* dyg = dy.ptr() + (n * p.out_channels + g * ocg) * hout * wout;
      float* dxg = dx.ptr() + (n * p.in_channels + g * icg) * hw;
#pragma omp parallel num_threads(nt) if (nt > 1)
      {
        // The group's dy rows split into their column phases first (stride 2: the unzip
        // kernel), so that each tap row below is a contiguous copy with zeros around it.
#pragma omp for schedule(static)
        for (int64_t r = 0; r < ocg * hout; ++r) {
          split_phases(k, dyg + r * wout, wout, p.stride.w, d.cp, 0, d.cp.jmax,
                       ph.data() + r * prow);
        }
#pragma omp for schedule(static)
        for (int64_t to = 0; to < taps * ocg; ++to) {
          const int64_t t = to / ocg, o = to % ocg, fh = t / kw, fw = t % kw;
          float* dst = col.data() + to * plane;
          const int64_t ct_index = tap_of_fw[static_cast<size_t>(fw)];
          for (int64_t ih = 0; ih < h; ++ih) {
            const int64_t oh = ih * p.stride.h - p.padding.h + fh * p.dilation.h;
            float* out = dst + ih * w;
            if (ct_index < 0 || oh < 0 || oh >= hout) {
              std::fill(out, out + w, 0.0f);
              continue;
            }
            const ColTap& ct = d.cp.taps[static_cast<size_t>(ct_index)];
            // Phase column iw + a for iw in [lo, hi): inside the row (lo + a >= 0).
            const float* src = ph.data() + (o * hout + oh) * prow + ct.slot * d.cp.jmax;
            std::fill(out, out + ct.lo, 0.0f);
            std::copy(src + ct.lo + ct.a, src + ct.hi + ct.a, out + ct.lo);
            std::fill(out + ct.hi, out + w, 0.0f);
          }
          std::fill(dst + hw, dst + plane, 0.0f);
        }
        std::vector<int64_t> dyoff(static_cast<size_t>(taps));
        std::vector<const float*> wtap(static_cast<size_t>(taps));
#pragma omp for schedule(dynamic, 1)
        for (int64_t item = 0; item < ncb * ntiles; ++item) {
          const int64_t cb = item / ntiles, ti = item % ntiles, c0 = cb * d.mr;
          const int64_t mb = std::min(d.mr, icg - c0), pix0 = ti * d.tile;
          const float* wblock = pl.packed.data() + (g * icg + c0) * ocg * taps;
          for (int64_t t = 0; t < taps; ++t) {
            dyoff[static_cast<size_t>(t)] = t * ocg * plane + pix0;
            wtap[static_cast<size_t>(t)] = wblock + t * ocg * mb;
          }
          BwdDataArgs a;
          a.dy = col.data();
          a.dyoff = dyoff.data();
          a.wtap = wtap.data();
          a.ntaps = taps;
          a.ocg = ocg;
          a.chan_stride = plane;
          a.dx = dxg + c0 * hw + pix0;
          a.dx_stride = hw;
          a.n = std::min(d.tile, hw - pix0);
          k.data[mb][std::min(d.nv, d.nvec - ti * d.nv)](a);
        }
      }
    }
  }
}

}  // namespace

namespace {

// The automatic choices are cost models fitted to one measurement of the shared layer suite
// (bench/README.md, "Backward passes"), one thread, AVX-512 and AVX2 alike.

// bwd_data's direct tiles read, per dx row tile, one dy row per valid tap row, output channel
// and column phase; past ~384 KB those rows no longer stay in the L2 cache between tiles (fcn8s'
// 16×16 kernel: ~1.8 MB, 25× slower per multiply-add than a layer whose rows fit). A kernel no
// larger than its stride (unet's 2×2 at stride 2) gives each pixel a few taps of distinct phases,
// which the GEMM's packed panels serve better. Groups of fewer than 16 channels keep the direct
// tiles (the GEMM's channel tiles would be mostly empty).
bool data_prefers_gemm(const Problem& pr, const BwdKernelTable& k) {
  const Params& p = pr.params;
  if (p.in_channels / p.groups < 16) return false;
  if (p.kernel_size.h <= p.stride.h && p.kernel_size.w <= p.stride.w) return true;
  const DataLayout d = data_layout(pr, k);
  if (d.col) return false;
  const double rows_bytes = 4.0 * static_cast<double>(p.kernel_size.h) *
                            static_cast<double>(p.out_channels / p.groups) *
                            static_cast<double>(d.cp.slots()) *
                            static_cast<double>(d.cp.jmax + 2 * d.tile);  // rows as fitted
  return rows_bytes > 384.0 * 1024;
}

BwdAlgo resolve_data_algo(const Problem& pr, const BwdKernelTable& k, BwdAlgo algo) {
  if (algo != BwdAlgo::kAuto) return algo;
  return data_prefers_gemm(pr, k) ? BwdAlgo::kGemm : BwdAlgo::kDirect;
}

}  // namespace

BwdAlgo chosen_bwd_data_algo(const Problem& pr, Isa isa) {
  validate(pr);
  return resolve_data_algo(pr, table_for(isa), BwdAlgo::kAuto);
}

void run_bwd_data_into(const BwdDataWeights& packed, const Tensor<float>& dy, Tensor<float>& dx,
                       int threads, BwdAlgo algo) {
  const BwdDataWeights::Impl& pl = packed.impl();
  const Params& p = pl.p;
  const Problem pr = problem_from_output(p, dy.shape);  // validates dy
  const Shape xs = input_shape(pr);
  if (dx.shape != xs) {
    throw Error("dx", fmt::format("dx: shape {} does not match the expected {}",
                                  format_shape(dx.shape), format_shape(xs)));
  }
  if (pr.mb == 0) return;
  const int nt = choose_threads(threads, macs(pr));
  if (!pl.finite) {
    bwd_data_by_definition(p, pr, pl.raw.data(), dy, dx, nt);
    return;
  }
  const BwdKernelTable& k = *pl.k;
  if (resolve_data_algo(pr, k, algo) == BwdAlgo::kGemm) {
    bwd::data_gemm(pr, kernel_table(pl.isa), pl.wg.data(), dy, dx, nt);
    return;
  }
  const DataLayout d = data_layout(pr, k);
  const int64_t g_count = p.groups, icg = p.in_channels / g_count, ocg = p.out_channels / g_count;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w, taps = kh * kw;
  const int64_t h = pr.ih, w = pr.iw, hout = dy.shape[2], wout = dy.shape[3];
  const int64_t ncb = ceil_div(icg, d.mr), ntiles = ceil_div(d.nvec, d.nv);
  if (d.col) {
    run_col_path(pl, d, pr, dy, dx, nt);
    return;
  }
  const int64_t slots = d.cp.slots(), row = d.row;
  // [g][oh][o][slot][row] for a chunk of an image's groups: a tile's output channels for one
  // dy row lie close together (a plane per channel would put hundreds of streams pages apart).
  // Many small groups (depthwise) share one parallel region and chunk of about L2's size.
  const int64_t chan = checked_mul(slots, row, "bwd_data: dy copy");
  const int64_t ohs = checked_mul(ocg, chan, "bwd_data: dy copy");
  const int64_t grp = checked_mul(hout, ohs, "bwd_data: dy copy");
  const int64_t gchunk = data_group_chunk(grp, g_count);
  AlignedVector<float> dyp(static_cast<size_t>(checked_mul(gchunk, grp, "bwd_data: dy copy")));
  const int64_t max_taps = kh * static_cast<int64_t>(d.cp.taps.size());
  // Row chunks: enough items for every thread to take a few.
  const int64_t nchunks =
      std::clamp<int64_t>(ceil_div(4 * int64_t{nt}, std::min(gchunk, g_count) * ncb), 1, h);
  const int64_t chunk = ceil_div(h, nchunks);
  for (int64_t n = 0; n < pr.mb; ++n) {
    const float* dyn = dy.ptr() + n * p.out_channels * hout * wout;
    float* dxn = dx.ptr() + n * p.in_channels * h * w;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      std::vector<int64_t> dyoff(static_cast<size_t>(max_taps));
      std::vector<const float*> wtap(static_cast<size_t>(max_taps));
      for (int64_t g0 = 0; g0 < g_count; g0 += gchunk) {
        const int64_t gn = std::min(gchunk, g_count - g0);
        // Taps' rows reach every dy row of the group unless none reaches a column phase.
#pragma omp for schedule(static)
        for (int64_t c = 0; c < gn * ocg; ++c) {  // a channel's rows in turn, no division
          const float* src = dyn + (g0 * ocg + c) * hout * wout;
          float* dst = dyp.data() + c / ocg * grp + c % ocg * chan;
          for (int64_t oh = 0; oh < hout; ++oh) {
            split_phases(k, src + oh * wout, wout, p.stride.w, d.cp, d.pad, row, dst + oh * ohs);
          }
        }
        // Consecutive items share a channel block's weights; each takes a run of dx rows.
#pragma omp for schedule(dynamic, 1)
        for (int64_t item = 0; item < gn * ncb * nchunks; ++item) {
          const int64_t gl = item / (ncb * nchunks), g = g0 + gl, cb = item / nchunks % ncb;
          const int64_t ih0 = item % nchunks * chunk, ih1 = std::min(h, ih0 + chunk);
          const int64_t c0 = cb * d.mr, mb = std::min(d.mr, icg - c0);
          const float* wblock = pl.packed.data() + (g * icg + c0) * ocg * taps;
          float* dxg = dxn + g * icg * h * w;
          for (int64_t ih = ih0; ih < ih1;) {
            // Rows whose tap rows are all inside dy or outside alike as ih's share its tap
            // list, shifted by sh dy rows per row: one kernel call each.
            int64_t run = 1;
            while (ih + run < ih1 && same_tap_rows(p, hout, ih, ih + run)) ++run;
            for (int64_t ti = 0; ti < ntiles; ++ti) {
              const int64_t iw0 = ti * d.tile, cols = std::min(d.tile, w - iw0);
              int64_t nt_taps = 0;
              for (int64_t fh = 0; fh < kh; ++fh) {
                const int64_t oh = ih * p.stride.h - p.padding.h + fh * p.dilation.h;
                if (oh < 0 || oh >= hout) continue;
                for (const ColTap& ct : d.cp.taps) {
                  if (ct.lo >= iw0 + cols || ct.hi <= iw0) continue;  // no column in this tile
                  dyoff[static_cast<size_t>(nt_taps)] =
                      gl * grp + oh * ohs + ct.slot * row + d.pad + iw0 + ct.a;
                  wtap[static_cast<size_t>(nt_taps)] = wblock + (fh * kw + ct.fw) * ocg * mb;
                  ++nt_taps;
                }
              }
              BwdDataArgs a;
              a.dy = dyp.data();
              a.dyoff = dyoff.data();
              a.wtap = wtap.data();
              a.ntaps = nt_taps;
              a.ocg = ocg;
              a.chan_stride = chan;
              a.dx = dxg + (c0 * h + ih) * w + iw0;
              a.dx_stride = h * w;
              a.n = cols;
              a.rows = run;
              // Rows of a run that read dy have their tap rows sh apart inside dy, so sh·ohs
              // fits; a single row, or rows with no tap inside dy, never step (sh·ohs may then
              // exceed int64: a stride of 2^62).
              a.dy_row_step = run > 1 && nt_taps > 0 ? p.stride.h * ohs : 0;
              a.dx_row_step = w;
              const int64_t nvt = std::min(d.nv, d.nvec - ti * d.nv);
              k.data[mb][nvt](a);
            }
            ih += run;
          }
        }
      }
    }
  }
}

Tensor<float> conv_transpose2d_bwd_data(const Params& p, const Tensor<float>& dy,
                                        const Tensor<float>& w, int threads, Isa isa,
                                        BwdAlgo algo) {
  const BwdDataWeights packed = pack_bwd_data(p, w, isa);
  Tensor<float> dx(input_shape(problem_from_output(p, dy.shape)));
  run_bwd_data_into(packed, dy, dx, threads, algo);
  return dx;
}

int64_t bwd_data_working_bytes(const Problem& pr, Isa isa, int threads) {
  validate(pr);
  const Params& p = pr.params;
  const DataLayout d = data_layout(pr, table_for(isa));
  const Pair out = output_size(pr);
  const int64_t wsize = element_count(weight_shape(p));
  const char* what = "bwd_data working memory";
  // Packed weights in both algorithms' layouts, or the raw copy when they are not all finite.
  int64_t bytes = bytes_of(checked_mul(wsize, 2, what), what);
  // Plus both algorithms' panels and copies of dy (a sum: an upper bound whichever runs).
  const int nthreads = threads > 0 ? threads : omp_get_max_threads();
  bytes = checked_add(bytes, bwd::data_gemm_bytes(pr, kernel_table(isa), nthreads), what);
  const int64_t ocg = p.out_channels / p.groups;
  if (d.col) {
    bytes = checked_add(bytes, kMaxColBytes, what);
    const int64_t phases = checked_mul(
        checked_mul(checked_mul(ocg, out.h, what), d.cp.slots(), what), d.cp.jmax, what);
    bytes = checked_add(bytes, bytes_of(phases, what), what);
  } else {
    const int64_t grp =
        checked_mul(checked_mul(checked_mul(ocg, out.h, what), d.cp.slots(), what), d.row, what);
    const int64_t dyp = checked_mul(grp, data_group_chunk(grp, p.groups), what);
    bytes = checked_add(bytes, bytes_of(dyp, what), what);
  }
  const int nt = threads > 0 ? threads : omp_get_max_threads();
  const int64_t lists = checked_mul(
      checked_mul(p.kernel_size.h, static_cast<int64_t>(d.cp.taps.size()), what), 16, what);
  bytes = checked_add(bytes, checked_mul(lists, nt, what), what);
  return checked_add(bytes, kBookkeepingBytes, what);
}

}  // namespace convt2d::optimized
