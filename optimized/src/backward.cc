#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
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

// The plane path's geometry: dy split into its (row phase, column phase) planes, each padded
// with zero rows and columns so that tap (fh, fw) reads dx pixel (ih, iw)'s dy value at a fixed
// offset from ih·wp + iw for every pixel. Tiles then run over the flattened pixels of a grid of
// wp >= W columns (the columns past W are computed and dropped), with no copy per tap and no
// lane idling past a short row.
struct PlaneTap {
  int64_t tap;  ///< fh·kw + fw
  int64_t off;  ///< floats from a plane block's start to pixel 0's value
};

struct PlaneLayout {
  ColPhases rp, cp;           ///< row phases (the column geometry along H) and column phases
  int64_t top = 0, left = 0;  ///< zero rows above, zero columns before a plane's phase values
  int64_t wp = 0, rows = 0;   ///< the padded grid
  int64_t pstride = 0;        ///< floats per plane and output channel
  int64_t npix = 0;           ///< H·wp pixels computed per input channel
  int64_t dxs = 0;            ///< floats per input channel of the computed grid (whole vectors)
  std::vector<PlaneTap> taps;
};

// The gather path's geometry: per (row phase, column tap, output channel) a plane of W-wide rows
// holding the dy values that column tap reads for each pixel (zeros where it reads none), with
// `top` zero rows above and the rest below, so that a tap (fh, fw) reads pixel p at p + (ay +
// top)·W of its row phase's plane: rows of a tap are whole rows of the plane, and the taps of one
// column share it whatever their row.
struct GatherLayout {
  ColPhases rp;        ///< row phases
  int64_t top = 0;     ///< zero rows above the phase rows
  int64_t rows = 0;    ///< rows per plane
  int64_t cplane = 0;  ///< floats per plane: rows·W and the last tile's overrun
  double floats = 0;   ///< floats gathered per image and group
};

// The bwd_data tiling of a problem: mr channels × nv vectors of columns (T floats), the phase
// rows of `row` floats with `pad` zeros before their first column and enough after the last.
struct DataLayout {
  ColPhases cp;
  int64_t mr = 1, nv = 1, nvec = 1, tile = 1, row = 1, pad = 0;
  // kRows: tiles along one dx row. Narrow images leave lanes idle past a short row: kPlanes then
  // tiles the flattened pixels of dy's padded phase planes (PlaneLayout); kGather, for many input
  // channels per group, gathers dy per image and group into the GatherLayout planes (one per row
  // phase, column tap and output channel), a copy that the channels amortise.
  BwdDataTiles tiles = BwdDataTiles::kRows;
  PlaneLayout pl;
  GatherLayout gl;
};

// The gather's planes and the plane path's planes are at most this large (per image and group).
constexpr int64_t kMaxColBytes = int64_t{32} << 20;

// dy's row phases: the column geometry of bwd::col_phases along H.
ColPhases row_phases(const Params& p, int64_t h, int64_t hout) {
  Params t = p;
  t.kernel_size.w = p.kernel_size.h;
  t.stride.w = p.stride.h;
  t.padding.w = p.padding.h;
  t.dilation.w = p.dilation.h;
  return bwd::col_phases(t, h, hout);
}

std::pair<int64_t, int64_t> offset_range(const ColPhases& c) {
  int64_t lo = 0, hi = 0;
  for (const ColTap& t : c.taps) {
    lo = std::min(lo, t.a);
    hi = std::max(hi, t.a);
  }
  return {lo, hi};
}

// The plane path's layout, or nothing when no tap reaches dy or the planes would exceed
// kMaxColBytes. Sizes are decided in double before any is formed in int64 (a padding far larger
// than the image makes them huge).
std::optional<PlaneLayout> plane_layout(const Problem& pr, const ColPhases& cp, int64_t lanes) {
  const Params& p = pr.params;
  const Pair out = output_size(pr);
  PlaneLayout pl;
  pl.rp = row_phases(p, pr.ih, out.h);
  pl.cp = cp;
  if (pl.rp.taps.empty() || pl.cp.taps.empty()) return std::nullopt;
  const auto [aymin, aymax] = offset_range(pl.rp);
  const auto [axmin, axmax] = offset_range(pl.cp);
  const auto d = [](int64_t v) { return static_cast<double>(v); };
  // No phase row may spill into the next: wp also holds a whole phase row after `left` zeros.
  const double left = -d(axmin), top = -d(aymin);
  const double wp = std::max(d(pr.iw) + d(axmax) + left, left + d(pl.cp.jmax));
  const double rows = d(pr.ih) + d(aymax) + top;
  // The last tile reads whole vectors up to a grid row past the last (H·wp + lanes floats).
  const double pstride = rows * wp + wp + d(lanes);
  const double planes = d(pl.rp.slots()) * d(pl.cp.slots()) * d(p.out_channels / p.groups);
  if (4.0 * planes * pstride > static_cast<double>(kMaxColBytes)) return std::nullopt;
  pl.left = -axmin;
  pl.top = -aymin;
  pl.wp = static_cast<int64_t>(wp);
  pl.rows = static_cast<int64_t>(rows);
  pl.pstride = static_cast<int64_t>(pstride);
  pl.npix = pr.ih * pl.wp;
  pl.dxs = ceil_div(pl.npix, lanes) * lanes;
  const int64_t ocg = p.out_channels / p.groups;
  for (const ColTap& rt : pl.rp.taps) {
    for (const ColTap& ct : pl.cp.taps) {
      const int64_t plane = rt.slot * pl.cp.slots() + ct.slot;
      pl.taps.push_back({rt.fw * p.kernel_size.w + ct.fw,
                         plane * ocg * pl.pstride + (rt.a + pl.top) * pl.wp + ct.a + pl.left});
    }
  }
  return pl;
}

// The dy rows one row tile reads (bytes, as fitted: see data_prefers_gemm).
double data_rows_bytes(const Params& p, const ColPhases& cp, int64_t tile) {
  return 4.0 * static_cast<double>(p.kernel_size.h) *
         static_cast<double>(p.out_channels / p.groups) * static_cast<double>(cp.slots()) *
         static_cast<double>(cp.jmax + 2 * tile);
}

// Vectors per tile for nvec vectors of pixels, mr channels per tile: balanced, the fewest tiles
// of at most data_acc / mr vectors, all about as wide.
int64_t tile_vectors(int64_t nvec, const BwdKernelTable& k, int64_t mr) {
  const int64_t nv_max = std::clamp<int64_t>(k.data_acc / mr, 1, kMaxBwdDataNv);
  return ceil_div(nvec, ceil_div(nvec, nv_max));
}

// Whether the dy rows a row tile reads leave the L2 cache (past ~384 KB, as fitted: see
// data_prefers_gemm).
bool rows_leave_l2(const Problem& pr, const BwdKernelTable& k, const ColPhases& cp, int64_t mr) {
  const int64_t row_tile = tile_vectors(ceil_div(pr.iw, k.lanes), k, mr) * k.lanes;
  return data_rows_bytes(pr.params, cp, row_tile) > 384.0 * 1024;
}

// Which tiles a problem takes, by a cost in units of a full register tile's time per useful
// multiply-add, fitted on the shared suite's narrow layers (bench/README.md, "Backward passes";
// all three forced on each layer, AVX-512, one thread):
// - every path pays for the vectors it computes per useful one, and a tile of one vector per
//   channel (a broadcast per multiply-add vector) ~1.3× more;
// - rows: the lanes past each row's last column;
// - planes: the grid's wp − W extra columns, and ~2 tile steps per computed dx vector for the
//   copy out of the grid, which the group's OC/G·kh·kw steps per vector share (grouped-g4:
//   rows 0.123 ms, planes 0.137 ms; dcgan-4: rows 0.39, planes 0.36);
// - gather: every lane used, but ~3.4 tile steps per gathered float, shared by IC/G input
//   channels (fitted when every tap had its own copy, taps·OC/G·H·W floats: dcgan-4 0.43 ms;
//   dcgan-2, pose-head 0.47 and 5.0 ms, planes 0.64 and 6.3); the floats are now counted as
//   GatherLayout lays them out;
// - rows whose dy rows leave the L2 cache (data_prefers_gemm) cost ~3× (fcn8s).
double tile_cost(int64_t nvec, int64_t useful, const BwdKernelTable& k, int64_t mr) {
  const int64_t nv = tile_vectors(nvec, k, mr);
  const double vectors = static_cast<double>(nvec * k.lanes) / static_cast<double>(useful);
  return vectors * (nv == 1 ? 1.3 : 1.0);
}

BwdDataTiles choose_tiles(const Problem& pr, const BwdKernelTable& k, const ColPhases& cp,
                          int64_t mr, const std::optional<GatherLayout>& gl,
                          const std::optional<PlaneLayout>& pl) {
  const Params& p = pr.params;
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const double lanes = static_cast<double>(k.lanes);
  double best = tile_cost(ceil_div(pr.iw, k.lanes), pr.iw, k, mr);
  // Rows whose dy rows leave the L2 cache stream them from L3 per tile.
  if (rows_leave_l2(pr, k, cp, mr)) best *= 3.0;
  BwdDataTiles tiles = BwdDataTiles::kRows;
  if (pl) {
    const double steps = static_cast<double>(ocg * p.kernel_size.h * p.kernel_size.w);
    const double planes = tile_cost(pl->dxs / k.lanes, pr.ih * pr.iw, k, mr) + 2.0 * lanes / steps;
    if (planes < best) best = planes, tiles = BwdDataTiles::kPlanes;
  }
  if (gl) {
    // Gathered floats per useful multiply-add of one input channel: taps·OC/G·H·W of them in
    // the per-tap copy this cost was fitted with.
    const double per_mac = gl->floats / (static_cast<double>(p.kernel_size.h * p.kernel_size.w) *
                                         static_cast<double>(ocg * pr.ih * pr.iw));
    const double col = tile_cost(ceil_div(pr.ih * pr.iw, k.lanes), pr.ih * pr.iw, k, mr) +
                       3.4 * lanes * per_mac / static_cast<double>(icg);
    if (col < best) best = col, tiles = BwdDataTiles::kGather;
  }
  return tiles;
}

// The gather layout, or nothing when no tap reaches dy or its planes exceed kMaxColBytes (decided
// in double before any size is formed in int64).
std::optional<GatherLayout> gather_layout(const Problem& pr, const ColPhases& cp, int64_t lanes) {
  const Params& p = pr.params;
  GatherLayout g;
  g.rp = row_phases(p, pr.ih, output_size(pr).h);
  if (g.rp.taps.empty() || cp.taps.empty() || pr.ih < 2) return std::nullopt;
  const auto [aymin, aymax] = offset_range(g.rp);
  const auto d = [](int64_t v) { return static_cast<double>(v); };
  const double rows = d(pr.ih) + d(aymax) - d(aymin);
  const double planes =
      d(g.rp.slots()) * d(static_cast<int64_t>(cp.taps.size())) * d(p.out_channels / p.groups);
  const double cplane = rows * d(pr.iw) + d(lanes);
  if (4.0 * planes * cplane > static_cast<double>(kMaxColBytes)) return std::nullopt;
  g.top = -aymin;
  g.rows = static_cast<int64_t>(rows);
  g.cplane = static_cast<int64_t>(cplane);
  g.floats = planes * rows * d(pr.iw);
  return g;
}

DataLayout data_layout(const Problem& pr, const BwdKernelTable& k) {
  const Params& p = pr.params;
  const Pair out = output_size(pr);
  DataLayout d;
  d.cp = bwd::col_phases(p, pr.iw, out.w);
  d.mr = std::min<int64_t>(k.data_mr, p.in_channels / p.groups);
  const int64_t hw = pr.ih * pr.iw;  // parts of the validated input size
  std::optional<PlaneLayout> pl;
  if (pr.ih > 1 && !d.cp.taps.empty()) pl = plane_layout(pr, d.cp, k.lanes);
  std::optional<GatherLayout> gl = gather_layout(pr, d.cp, k.lanes);
  d.tiles = choose_tiles(pr, k, d.cp, d.mr, gl, pl);
  switch (d.tiles) {
    case BwdDataTiles::kRows:
      d.nvec = ceil_div(pr.iw, k.lanes);
      break;
    case BwdDataTiles::kGather:
      d.gl = std::move(*gl);
      d.nvec = ceil_div(hw, k.lanes);
      break;
    case BwdDataTiles::kPlanes:
      d.pl = std::move(*pl);
      d.nvec = d.pl.dxs / k.lanes;
      break;
  }
  d.nv = tile_vectors(d.nvec, k, d.mr);
  d.tile = d.nv * k.lanes;
  // A tile reads its taps' phase rows at iw + a for iw in [iw0, iw0 + nv·lanes): from the
  // smallest a to the last vector's end past the largest, which the padding covers with zeros.
  const auto [amin, amax] = offset_range(d.cp);
  d.pad = -amin;
  const int64_t right = std::max<int64_t>(0, d.nvec * k.lanes + amax - d.cp.jmax);
  d.row = checked_add(checked_add(d.cp.jmax, d.pad, "bwd_data: dy phase row"), right,
                      "bwd_data: dy phase row");
  return d;
}

// dx rows per chunk of the row tiles whose dy rows (ohs floats each, all output channels and
// phases of one dy row) fit in ~512 KB, half the L2 cache: a chunk of c rows reads
// (c − 1)·sh + (kh − 1)·dh + 1 dy rows. At least one. unet-up-large (16 MB of dy phases): each
// of its 16 channel blocks streamed the whole copy from L3 before.
int64_t data_rows_in_l2(const Params& p, int64_t h, int64_t ohs) {
  const double budget = 512.0 * 1024 / 4 / static_cast<double>(ohs);  // dy rows
  const double span = static_cast<double>(p.kernel_size.h - 1) * static_cast<double>(p.dilation.h);
  const double rows = std::floor((budget - 1 - span) / static_cast<double>(p.stride.h)) + 1;
  return static_cast<int64_t>(std::clamp(rows, 1.0, static_cast<double>(std::max<int64_t>(h, 1))));
}

// Groups per chunk of bwd_data's dy copy (grp floats each): as many as fit in ~256 KB, at least
// one.
int64_t data_group_chunk(int64_t grp, int64_t groups) {
  return std::clamp<int64_t>((int64_t{64} << 10) / std::max<int64_t>(grp, 1), 1, groups);
}

// bwd_data over exactly the definition's terms, for weights that are not all finite: a padding
// zero must not meet an infinite weight (0·Inf is NaN where the definition has no term).
// dx[n, c, ih, iw] for wc = c's weights and dyn = image n's first channel of c's group.
float definition_term_sum(const Params& p, const float* wc, const float* dyn, int64_t hout,
                          int64_t wout, int64_t ih, int64_t iw) {
  const int64_t ocg = p.out_channels / p.groups, kh = p.kernel_size.h, kw = p.kernel_size.w;
  float s = 0.0f;
  for (int64_t o = 0; o < ocg; ++o) {
    const float* plane = dyn + o * hout * wout;
    for (int64_t fh = 0; fh < kh; ++fh) {
      const int64_t oh = ih * p.stride.h - p.padding.h + fh * p.dilation.h;
      if (oh < 0 || oh >= hout) continue;
      for (int64_t fw = 0; fw < kw; ++fw) {
        const int64_t ow = iw * p.stride.w - p.padding.w + fw * p.dilation.w;
        if (ow >= 0 && ow < wout) s += wc[(o * kh + fh) * kw + fw] * plane[oh * wout + ow];
      }
    }
  }
  return s;
}

void bwd_data_by_definition(const Params& p, const Problem& pr, const float* w,
                            const Tensor<float>& dy, Tensor<float>& dx, int nt) {
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t h = pr.ih, wd = pr.iw, hout = dy.shape[2], wout = dy.shape[3];
  const int64_t planes = pr.mb * p.in_channels;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
  for (int64_t nc = 0; nc < planes; ++nc) {
    const int64_t n = nc / p.in_channels, c = nc % p.in_channels, g = c / icg;
    const float* wc = w + c * ocg * p.kernel_size.h * p.kernel_size.w;
    const float* dyn = dy.ptr() + (n * p.out_channels + g * ocg) * hout * wout;
    for (int64_t ih = 0; ih < h; ++ih) {
      for (int64_t iw = 0; iw < wd; ++iw) {
        dx.ptr()[(nc * h + ih) * wd + iw] = definition_term_sum(p, wc, dyn, hout, wout, ih, iw);
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

namespace {

// One block of mb input channels' weights, (mb, OC/G, taps) in memory, as [tap][o][mb].
void pack_data_block(const float* src, int64_t mb, int64_t ocg, int64_t taps, float* dst) {
  for (int64_t t = 0; t < taps; ++t) {
    for (int64_t o = 0; o < ocg; ++o) {
      for (int64_t m = 0; m < mb; ++m) dst[(t * ocg + o) * mb + m] = src[(m * ocg + o) * taps + t];
    }
  }
}

}  // namespace

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
  for (int64_t g = 0; g < g_count; ++g) {
    for (int64_t c0 = 0; c0 < icg; c0 += pl->mr) {
      const int64_t base = (g * icg + c0) * ocg * taps;
      pack_data_block(w.ptr() + base, std::min(pl->mr, icg - c0), ocg, taps,
                      pl->packed.data() + base);
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

// The gather path (BwdDataTiles::kGather): per image and group, dy's rows split into column
// phases, then the GatherLayout planes: plane (row phase sy, column tap c, output channel o) row
// r holds, for pixel column iw, the value column tap c reads in phase row r − top of sy, 0 where
// it reads none (finite weights only, so 0·w adds nothing). dx[c][pixels] = Σ_(tap, o) w[c, o,
// tap] · plane[pixels + (ay + top)·W] by register tiles over flattened pixels.
struct GatherRun {
  const BwdDataWeights::Impl& pl;
  const DataLayout& d;
  const Problem& pr;
  int64_t hout, wout;
  float* col;  ///< the planes: every float written per group
  float* ph;   ///< one group's dy in column phases: [o][oh][slot][jmax], read only where written

  int64_t prow() const { return d.cp.slots() * d.cp.jmax; }
  int64_t ncols() const { return static_cast<int64_t>(d.cp.taps.size()); }

  // The group's dy rows split into their column phases first (stride 2: the unzip kernel), so
  // that each plane row below is a contiguous copy with zeros around it.
  void split(const float* dyg) const {
    const int64_t ocg = pl.p.out_channels / pl.p.groups;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < ocg * hout; ++r) {
      split_phases(*pl.k, dyg + r * wout, wout, pl.p.stride.w, d.cp, 0, d.cp.jmax, ph + r * prow());
    }
  }

  // The plane of row phase sy, column tap c and output channel o.
  void gather_one(int64_t sy, int64_t c, int64_t o) const {
    const int64_t ocg = pl.p.out_channels / pl.p.groups, w = pr.iw;
    const GatherLayout& g = d.gl;
    const ColTap& ct = d.cp.taps[static_cast<size_t>(c)];
    const int64_t ry = g.rp.rx[static_cast<size_t>(sy)], ly = g.rp.len[static_cast<size_t>(sy)];
    float* dst = col + ((sy * ncols() + c) * ocg + o) * g.cplane;
    for (int64_t r = 0; r < g.rows; ++r) {
      const int64_t j = r - g.top;  // the phase row
      float* out = dst + r * w;
      if (j < 0 || j >= ly) {
        std::fill(out, out + w, 0.0f);
        continue;
      }
      // Phase column iw + a for iw in [lo, hi): inside the row (lo + a >= 0).
      const float* src = ph + (o * hout + j * pl.p.stride.h + ry) * prow() + ct.slot * d.cp.jmax;
      for (int64_t iw = 0; iw < ct.lo; ++iw) out[iw] = 0.0f;
      for (int64_t iw = ct.lo; iw < ct.hi; ++iw) out[iw] = src[iw + ct.a];
      for (int64_t iw = ct.hi; iw < w; ++iw) out[iw] = 0.0f;
    }
    std::fill(dst + g.rows * w, dst + g.cplane, 0.0f);
  }

  void gather() const {
    const int64_t ocg = pl.p.out_channels / pl.p.groups, nrs = d.gl.rp.slots();
#pragma omp for schedule(static)
    for (int64_t sco = 0; sco < nrs * ncols() * ocg; ++sco) {
      gather_one(sco / (ncols() * ocg), sco / ocg % ncols(), sco % ocg);
    }
  }

  // The tap list: per (row tap, column tap) its weights and its offset from pixel 0.
  int64_t taps(int64_t mb, const float* wblock, int64_t pix0, int64_t* dyoff,
               const float** wtap) const {
    const Params& p = pl.p;
    const int64_t ocg = p.out_channels / p.groups, w = pr.iw;
    int64_t n = 0;
    for (const ColTap& rt : d.gl.rp.taps) {
      for (int64_t c = 0; c < ncols(); ++c) {
        const ColTap& ct = d.cp.taps[static_cast<size_t>(c)];
        dyoff[n] = (rt.slot * ncols() + c) * ocg * d.gl.cplane + (rt.a + d.gl.top) * w + pix0;
        wtap[n] = wblock + (rt.fw * p.kernel_size.w + ct.fw) * ocg * mb;
        ++n;
      }
    }
    return n;
  }

  void tiles(int64_t g, float* dxg) const {
    const Params& p = pl.p;
    const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
    const int64_t hw = pr.ih * pr.iw;
    const int64_t ncb = ceil_div(icg, d.mr), ntiles = ceil_div(d.nvec, d.nv);
    const size_t max_taps = d.gl.rp.taps.size() * d.cp.taps.size();
    std::vector<int64_t> dyoff(max_taps);
    std::vector<const float*> wtap(max_taps);
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < ncb * ntiles; ++item) {
      const int64_t cb = item / ntiles, ti = item % ntiles, c0 = cb * d.mr;
      const int64_t mb = std::min(d.mr, icg - c0), pix0 = ti * d.tile;
      const float* wblock =
          pl.packed.data() + (g * icg + c0) * ocg * p.kernel_size.h * p.kernel_size.w;
      BwdDataArgs a;
      a.ntaps = taps(mb, wblock, pix0, dyoff.data(), wtap.data());
      a.dy = col;
      a.dyoff = dyoff.data();
      a.wtap = wtap.data();
      a.ocg = ocg;
      a.chan_stride = d.gl.cplane;
      a.dx = dxg + c0 * hw + pix0;
      a.dx_stride = hw;
      a.n = std::min(d.tile, hw - pix0);
      pl.k->data[mb][std::min(d.nv, d.nvec - ti * d.nv)](a);
    }
  }
};

void run_col_path(const BwdDataWeights::Impl& pl, const DataLayout& d, const Problem& pr,
                  const Tensor<float>& dy, Tensor<float>& dx, int nt) {
  const Params& p = pl.p;
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t hout = dy.shape[2], wout = dy.shape[3], hw = pr.ih * pr.iw;
  const int64_t planes = d.gl.rp.slots() * static_cast<int64_t>(d.cp.taps.size()) * ocg;
  // Both counted by bwd_data_working_bytes (the planes within kMaxColBytes).
  const GatherRun run{
      pl,
      d,
      pr,
      hout,
      wout,
      thread_scratch(0, static_cast<size_t>(planes * d.gl.cplane), false),
      thread_scratch(1, static_cast<size_t>(ocg * hout * d.cp.slots() * d.cp.jmax), false)};
  for (int64_t n = 0; n < pr.mb; ++n) {
    for (int64_t g = 0; g < p.groups; ++g) {
#pragma omp parallel num_threads(nt) if (nt > 1)
      {
        run.split(dy.ptr() + (n * p.out_channels + g * ocg) * hout * wout);
        run.gather();
        run.tiles(g, dx.ptr() + (n * p.in_channels + g * icg) * hw);
      }
    }
  }
}

// The plane path (BwdDataTiles::kPlanes), for one image and group inside a parallel region:
// dyg's planes into `planes` (zero where no phase value lies: the same floats are written for
// every group and image), tiles over the flattened grid into dxp, its first W columns of each
// grid row into dxg.
struct PlaneRun {
  const BwdDataWeights::Impl& pl;
  const DataLayout& d;
  const Problem& pr;
  float* planes;
  float* dxp;

  void fill(const float* dyg, int64_t hout, int64_t wout) const {
    const Params& p = pl.p;
    const PlaneLayout& g = d.pl;
    const int64_t ocg = p.out_channels / p.groups, nrs = g.rp.slots();
    const int64_t block = g.cp.slots() * ocg * g.pstride;  // one row phase's planes
#pragma omp for schedule(static)
    for (int64_t os = 0; os < ocg * nrs; ++os) {
      const int64_t o = os / nrs, sy = os % nrs;
      const int64_t ry = g.rp.rx[static_cast<size_t>(sy)];
      const int64_t ly = std::min(g.rp.len[static_cast<size_t>(sy)], g.rows - g.top);
      float* dst = planes + sy * block + o * g.pstride;
      for (int64_t j = 0; j < ly; ++j) {
        split_phases(*pl.k, dyg + (o * hout + j * p.stride.h + ry) * wout, wout, p.stride.w, g.cp,
                     g.left, ocg * g.pstride, dst + (j + g.top) * g.wp);
      }
    }
  }

  void tiles(int64_t g) const {
    const Params& p = pl.p;
    const PlaneLayout& lay = d.pl;
    const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
    const int64_t taps = p.kernel_size.h * p.kernel_size.w;
    const int64_t ncb = ceil_div(icg, d.mr), ntiles = ceil_div(d.nvec, d.nv);
    const int64_t nt = static_cast<int64_t>(lay.taps.size());
    std::vector<int64_t> dyoff(static_cast<size_t>(nt));
    std::vector<const float*> wtap(static_cast<size_t>(nt));
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < ncb * ntiles; ++item) {
      const int64_t cb = item / ntiles, ti = item % ntiles, c0 = cb * d.mr;
      const int64_t mb = std::min(d.mr, icg - c0), pix0 = ti * d.tile;
      const float* wblock = pl.packed.data() + (g * icg + c0) * ocg * taps;
      for (int64_t t = 0; t < nt; ++t) {
        const PlaneTap& pt = lay.taps[static_cast<size_t>(t)];
        dyoff[static_cast<size_t>(t)] = pt.off + pix0;
        wtap[static_cast<size_t>(t)] = wblock + pt.tap * ocg * mb;
      }
      BwdDataArgs a;
      a.dy = planes;
      a.dyoff = dyoff.data();
      a.wtap = wtap.data();
      a.ntaps = nt;
      a.ocg = ocg;
      a.chan_stride = lay.pstride;
      a.dx = dxp + c0 * lay.dxs + pix0;
      a.dx_stride = lay.dxs;
      a.n = std::min(d.tile, lay.npix - pix0);
      pl.k->data[mb][std::min(d.nv, d.nvec - ti * d.nv)](a);
    }
  }

  void store(float* dxg) const {
    const int64_t icg = pl.p.in_channels / pl.p.groups, h = pr.ih, w = pr.iw;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < icg * h; ++r) {
      const float* src = dxp + r / h * d.pl.dxs + r % h * d.pl.wp;
      std::copy(src, src + w, dxg + r * w);
    }
  }
};

// The row path (BwdDataTiles::kRows): dy's phase rows as [g][oh][o][slot][row] for a chunk of
// an image's groups (a tile's output channels for one dy row lie close together: a plane per
// channel would put hundreds of streams pages apart), then tiles of mr channels × nv vectors of
// one dx row, a run of rows per kernel call. Many small groups (depthwise) share one parallel
// region and a chunk of about L2's size.
struct RowRun {
  const BwdDataWeights::Impl& pl;
  const DataLayout& d;
  const Problem& pr;
  int64_t hout, wout;
  int64_t chan, ohs, grp;  ///< floats per channel's row, per dy row, per group of the copy
  float* dyp;
  int64_t nchunks, chunk;  ///< dx row chunks

  // Taps' rows reach every dy row of the group unless none reaches a column phase.
  void fill(const float* dyn, int64_t g0, int64_t gn) const {
    const int64_t ocg = pl.p.out_channels / pl.p.groups;
#pragma omp for schedule(static)
    for (int64_t c = 0; c < gn * ocg; ++c) {  // a channel's rows in turn, no division
      const float* src = dyn + (g0 * ocg + c) * hout * wout;
      float* dst = dyp + c / ocg * grp + c % ocg * chan;
      for (int64_t oh = 0; oh < hout; ++oh) {
        split_phases(*pl.k, src + oh * wout, wout, pl.p.stride.w, d.cp, d.pad, d.row,
                     dst + oh * ohs);
      }
    }
  }

  // The taps of dx row ih that meet tile [iw0, iw0 + cols): their dy offsets in group gl's copy
  // and weights; returns how many.
  int64_t tap_list(int64_t gl, int64_t ih, int64_t iw0, int64_t cols, const float* wblock,
                   int64_t mb, int64_t* dyoff, const float** wtap) const {
    const Params& p = pl.p;
    const int64_t ocg = p.out_channels / p.groups;
    int64_t n = 0;
    for (int64_t fh = 0; fh < p.kernel_size.h; ++fh) {
      const int64_t oh = ih * p.stride.h - p.padding.h + fh * p.dilation.h;
      if (oh < 0 || oh >= hout) continue;
      for (const ColTap& ct : d.cp.taps) {
        if (ct.lo >= iw0 + cols || ct.hi <= iw0) continue;  // no column in this tile
        dyoff[n] = gl * grp + oh * ohs + ct.slot * d.row + d.pad + iw0 + ct.a;
        wtap[n] = wblock + (fh * p.kernel_size.w + ct.fw) * ocg * mb;
        ++n;
      }
    }
    return n;
  }

  // One item: channel block cb of group g0 + gl over dx rows [ih0, ih1) of image dxn.
  void item(int64_t gl, int64_t g, int64_t cb, int64_t ih0, int64_t ih1, float* dxn,
            std::vector<int64_t>& dyoff, std::vector<const float*>& wtap) const {
    const Params& p = pl.p;
    const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
    const int64_t h = pr.ih, w = pr.iw, taps = p.kernel_size.h * p.kernel_size.w;
    const int64_t c0 = cb * d.mr, mb = std::min(d.mr, icg - c0);
    const float* wblock = pl.packed.data() + (g * icg + c0) * ocg * taps;
    for (int64_t ih = ih0; ih < ih1;) {
      // Rows whose tap rows are all inside dy or outside alike as ih's share its tap list,
      // shifted by sh dy rows per row: one kernel call each.
      int64_t run = 1;
      while (ih + run < ih1 && same_tap_rows(p, hout, ih, ih + run)) ++run;
      for (int64_t ti = 0; ti * d.nv < d.nvec; ++ti) {
        const int64_t iw0 = ti * d.tile, cols = std::min(d.tile, w - iw0);
        BwdDataArgs a;
        a.ntaps = tap_list(gl, ih, iw0, cols, wblock, mb, dyoff.data(), wtap.data());
        a.dy = dyp;
        a.dyoff = dyoff.data();
        a.wtap = wtap.data();
        a.ocg = ocg;
        a.chan_stride = chan;
        a.dx = dxn + ((g * icg + c0) * h + ih) * w + iw0;
        a.dx_stride = h * w;
        a.n = cols;
        a.rows = run;
        // Rows of a run that read dy have their tap rows sh apart inside dy, so sh·ohs fits; a
        // single row, or rows with no tap inside dy, never step (sh·ohs may then exceed int64:
        // a stride of 2^62).
        a.dy_row_step = run > 1 && a.ntaps > 0 ? p.stride.h * ohs : 0;
        a.dx_row_step = w;
        pl.k->data[mb][std::min(d.nv, d.nvec - ti * d.nv)](a);
      }
      ih += run;
    }
  }

  // Image n in a parallel region: group chunks of the copy, then their items.
  void image(const float* dyn, float* dxn, int64_t gchunk) const {
    const Params& p = pl.p;
    const int64_t ncb = ceil_div(p.in_channels / p.groups, d.mr);
    const size_t max_taps = static_cast<size_t>(p.kernel_size.h) * d.cp.taps.size();
    std::vector<int64_t> dyoff(max_taps);
    std::vector<const float*> wtap(max_taps);
    for (int64_t g0 = 0; g0 < p.groups; g0 += gchunk) {
      const int64_t gn = std::min(gchunk, p.groups - g0);
      fill(dyn, g0, gn);
      // Consecutive items share a chunk's dy rows; each takes a channel block's run of dx rows.
#pragma omp for schedule(dynamic, 1)
      for (int64_t it = 0; it < gn * ncb * nchunks; ++it) {
        const int64_t gl = it / (ncb * nchunks), ih0 = it / ncb % nchunks * chunk;
        item(gl, g0 + gl, it % ncb, ih0, std::min(pr.ih, ih0 + chunk), dxn, dyoff, wtap);
      }
    }
  }
};

void run_row_path(const BwdDataWeights::Impl& pl, const DataLayout& d, const Problem& pr,
                  const Tensor<float>& dy, Tensor<float>& dx, int nt) {
  const Params& p = pl.p;
  const int64_t ocg = p.out_channels / p.groups, h = pr.ih;
  const int64_t hout = dy.shape[2], wout = dy.shape[3];
  const char* what = "bwd_data: dy copy";
  RowRun run{pl, d, pr, hout, wout, 0, 0, 0, nullptr, 1, h};
  run.chan = checked_mul(d.cp.slots(), d.row, what);
  run.ohs = checked_mul(ocg, run.chan, what);
  run.grp = checked_mul(hout, run.ohs, what);
  const int64_t gchunk = data_group_chunk(run.grp, p.groups);
  run.dyp = thread_scratch(0, static_cast<size_t>(checked_mul(gchunk, run.grp, what)), true);
  // Row chunks: enough items for every thread to take a few, and few enough rows that the dy
  // rows a chunk reads stay in the L2 cache while every channel block passes over them.
  const int64_t ncb = ceil_div(p.in_channels / p.groups, d.mr);
  run.nchunks =
      std::clamp<int64_t>(std::max(ceil_div(4 * int64_t{nt}, std::min(gchunk, p.groups) * ncb),
                                   ceil_div(h, data_rows_in_l2(p, h, run.ohs))),
                          1, h);
  run.chunk = ceil_div(h, run.nchunks);
  for (int64_t n = 0; n < pr.mb; ++n) {
#pragma omp parallel num_threads(nt) if (nt > 1)
    run.image(dy.ptr() + n * p.out_channels * hout * wout, dx.ptr() + n * p.in_channels * h * pr.iw,
              gchunk);
  }
}

void run_plane_path(const BwdDataWeights::Impl& pl, const DataLayout& d, const Problem& pr,
                    const Tensor<float>& dy, Tensor<float>& dx, int nt) {
  const Params& p = pl.p;
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t hout = dy.shape[2], wout = dy.shape[3];
  const int64_t nplanes = d.pl.rp.slots() * d.pl.cp.slots();
  // Both within kMaxColBytes (plane_layout) and a dx group (counted by bwd_data_working_bytes).
  const PlaneRun run{pl, d, pr,
                     thread_scratch(0, static_cast<size_t>(nplanes * ocg * d.pl.pstride), true),
                     thread_scratch(1, static_cast<size_t>(icg * d.pl.dxs), false)};
  for (int64_t n = 0; n < pr.mb; ++n) {
    for (int64_t g = 0; g < p.groups; ++g) {
#pragma omp parallel num_threads(nt) if (nt > 1)
      {
        run.fill(dy.ptr() + (n * p.out_channels + g * ocg) * hout * wout, hout, wout);
        run.tiles(g);
        run.store(dx.ptr() + (n * p.in_channels + g * icg) * pr.ih * pr.iw);
      }
    }
  }
}

}  // namespace

namespace {

// The automatic choices are cost models fitted to one measurement of the shared layer suite
// (bench/README.md, "Backward passes"), one thread, AVX-512 and AVX2 alike.

// bwd_data's row tiles read, per dx row tile, one dy row per valid tap row, output channel and
// column phase; past ~384 KB those rows no longer stay in the L2 cache between tiles (fcn8s'
// 16×16 kernel: ~1.8 MB, 25× slower per multiply-add than a layer whose rows fit). The planes
// stream instead, fast enough with AVX-512's 8 × 3 tiles (fcn8s: planes 12.9 ms, GEMM 23.4 ms)
// but not with AVX2's 4 × 3 (39.7 ms, GEMM 34.3 ms); the gather's copies are small. Groups of
// fewer than 16 channels keep the direct tiles (the GEMM's channel tiles would be mostly empty).
bool data_prefers_gemm(const Problem& pr, const BwdKernelTable& k, const DataLayout& d) {
  const Params& p = pr.params;
  if (p.in_channels / p.groups < 16) return false;
  if (d.tiles == BwdDataTiles::kGather) return false;
  return rows_leave_l2(pr, k, d.cp, d.mr) && (d.tiles == BwdDataTiles::kRows || k.data_acc < 24);
}

// d: data_layout(pr, k), which the direct algorithm then runs.
BwdAlgo resolve_data_algo(const Problem& pr, const BwdKernelTable& k, const DataLayout& d,
                          BwdAlgo algo) {
  if (algo != BwdAlgo::kAuto) return algo;
  return data_prefers_gemm(pr, k, d) ? BwdAlgo::kGemm : BwdAlgo::kDirect;
}

}  // namespace

BwdAlgo chosen_bwd_data_algo(const Problem& pr, Isa isa) {
  validate(pr);
  const BwdKernelTable& k = table_for(isa);
  return resolve_data_algo(pr, k, data_layout(pr, k), BwdAlgo::kAuto);
}

BwdDataTiles chosen_bwd_data_tiles(const Problem& pr, Isa isa) {
  validate(pr);
  return data_layout(pr, table_for(isa)).tiles;
}

void run_bwd_data_into(const BwdDataWeights& packed, const Tensor<float>& dy, Tensor<float>& dx,
                       int threads, BwdAlgo algo) {
  if (algo == BwdAlgo::kPixelGemm) {
    throw Error("algo",
                "algo: the pixel GEMM is a bwd_weights algorithm; bwd_data runs auto, "
                "direct or gemm");
  }
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
  const DataLayout d = data_layout(pr, k);
  if (resolve_data_algo(pr, k, d, algo) == BwdAlgo::kGemm) {
    bwd::data_gemm(pr, kernel_table(pl.isa), pl.wg.data(), dy, dx, nt);
    return;
  }
  switch (d.tiles) {
    case BwdDataTiles::kGather:
      return run_col_path(pl, d, pr, dy, dx, nt);
    case BwdDataTiles::kPlanes:
      return run_plane_path(pl, d, pr, dy, dx, nt);
    case BwdDataTiles::kRows:
      return run_row_path(pl, d, pr, dy, dx, nt);
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
  if (d.tiles == BwdDataTiles::kPlanes) {
    // The planes (within kMaxColBytes), one group's computed dx grid and the tap lists.
    const int64_t planes = d.pl.rp.slots() * d.pl.cp.slots() * ocg * d.pl.pstride;
    const int64_t grid = checked_mul(p.in_channels / p.groups, d.pl.dxs, what);
    bytes = checked_add(bytes, bytes_of(checked_add(planes, grid, what), what), what);
    const int64_t nt = threads > 0 ? threads : omp_get_max_threads();
    const int64_t lists = static_cast<int64_t>(d.pl.taps.size()) * 16 * nt;
    return checked_add(checked_add(bytes, lists, what), kBookkeepingBytes, what);
  }
  if (d.tiles == BwdDataTiles::kGather) {
    // The planes (within kMaxColBytes: gather_layout) and one group's column phases.
    const int64_t planes =
        d.gl.rp.slots() * static_cast<int64_t>(d.cp.taps.size()) * ocg * d.gl.cplane;
    bytes = checked_add(bytes, bytes_of(planes, what), what);
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
