// The phase-GEMM driver. For group g and phase (ry, rx), the outputs of that phase in every image
// form one dense GEMM: C[oc][pixel] = bias + Σ_{tap, c} W[tap, c][oc] · X[tap, c][pixel], where
// X[tap, c][(n, qy, qx)] = x[n, c, qy - a_h(tap), qx - a_w(tap)] (0 outside the input). The
// images' phase rows are one sequence (image-major), so that small images (a batch of 8x8
// inputs) still fill whole tiles and each weight streamed is used for all of them. Pixels are cut
// into blocks of whole phase rows (the parallel work items); per block, X is packed per tile (3
// vectors of pixels: 48 with AVX-512, 24 with AVX2) and k-chunk into a panel that stays in L1
// while all output-channel blocks stream their packed weights past it.

#include "aligned.h"
#include "blocking.h"
#include "drivers.h"
#include "row_io.h"

namespace convt2d::optimized {
namespace {

using blocking::kPhaseGroup;

struct WorkItem {
  // Rows [qy0, qy1) of active row phase ay, all column phases; row r is phase row r mod count of
  // image r / count.
  int64_t g, ay, qy0, qy1;
};

// Row segments of one tile: pixels [d, d + len) of the tile are phase row iyq of image n,
// columns ixq .. ixq + len - 1.
struct Seg {
  int64_t n, iyq, ixq, len, d;
};

// How the phase GEMM lays out one run, for execute_gemm() and gemm_run_bytes() alike: the row
// and column phases with outputs, blocks of rows_per_block phase rows (ldc floats per output
// channel and column phase in the result buffer), the work items, and the most row segments of a
// tile.
struct GemmLayout {
  std::vector<ActivePhase> ys, xs;
  int64_t nr = 0, qx_max = 1, rows_per_block = 1, ldc = 0, items = 0, max_segs = 0;
  /// A thread's packed input panel and result buffer, in floats.
  int64_t bp_floats = 0, cbuf_floats = 0;
  /// Input planes that pack by permutes (KernelTable::pack_small).
  bool small_planes = false;
};

GemmLayout gemm_layout(const PackedWeights::Impl& pl, const Shape& x, const Shape& y) {
  const int64_t n_batch = x[0], h = x[2], wd = x[3], oh = y[2], ow = y[3];
  const Params& p = pl.p;
  GemmLayout gl;
  gl.nr = pl.kernels->lanes * kGemmNv;  // pixels per tile
  gl.ys = active_phases(oh, p.padding.h, p.stride.h);
  gl.xs = active_phases(ow, p.padding.w, p.stride.w);
  int64_t qx_min = ow, qy_max = 1;
  for (const ActivePhase& a : gl.xs) {
    gl.qx_max = std::max(gl.qx_max, a.count);
    qx_min = std::min(qx_min, a.count);
  }
  for (const ActivePhase& a : gl.ys) qy_max = std::max(qy_max, a.count);
  // A block is whole phase rows (about kTilesPerBlock tiles of pixels per column phase), so that
  // all column phases of an output row are finished together and written as contiguous rows;
  // no more rows than an active row phase has in all images, so that small outputs do not get
  // a result buffer sized for kTilesPerBlock tiles.
  gl.rows_per_block = std::clamp<int64_t>(gl.nr * blocking::kTilesPerBlock / gl.qx_max, 1,
                                          std::max<int64_t>(1, n_batch * qy_max));
  // rows_per_block·qx_max <= max(qx_max, nr·kTilesPerBlock): no overflow.
  gl.ldc = ceil_div(gl.rows_per_block * gl.qx_max, gl.nr) * gl.nr;
  // Items per group: the blocks of every row phase (at most N·OH in all, so G times that fits).
  for (const ActivePhase& a : gl.ys) gl.items += ceil_div(n_batch * a.count, gl.rows_per_block);
  gl.items *= pl.g;
  // A tile's nr pixels (or fewer) span at most this many phase rows of the narrowest phase.
  gl.max_segs = std::min(gl.nr, ceil_div(gl.nr - 1, std::max<int64_t>(1, qx_min)) + 1);
  gl.small_planes = pl.kernels->pack_small != nullptr && h * wd <= kSmallPlane;
  // A k-chunk is whole input channels: at least one channel's taps, even when those alone
  // exceed kc_block (a 13×13 kernel at stride 1 has 169 taps in its one phase).
  gl.bp_floats = checked_mul(std::max(pl.kc_block, pl.max_taps), gl.nr, "GEMM input panel");
  // One result buffer per column phase of a group: [phase in group][o][pixel of the block].
  gl.cbuf_floats =
      checked_mul(checked_mul(std::min<int64_t>(static_cast<int64_t>(gl.xs.size()), kPhaseGroup),
                              pl.ocg, "GEMM results"),
                  gl.ldc, "GEMM results");
  return gl;
}

// Column phases computed together (their rows written at once): at most kPhaseGroup.
int64_t phase_group(const GemmLayout& gl) {
  return std::min<int64_t>(static_cast<int64_t>(gl.xs.size()), kPhaseGroup);
}

// The work items in the order (group, block, row phase): the row phases' blocks with the same
// index read about the same input rows, which then stay in L2 instead of being streamed from
// memory once per phase.
std::vector<WorkItem> work_items(const PackedWeights::Impl& pl, const GemmLayout& gl,
                                 int64_t n_batch) {
  std::vector<WorkItem> items;
  items.reserve(static_cast<size_t>(gl.items));
  for (int64_t gi = 0; gi < pl.g; ++gi) {
    for (int64_t q0 = 0;; q0 += gl.rows_per_block) {
      bool any = false;
      for (int64_t ay = 0; ay < static_cast<int64_t>(gl.ys.size()); ++ay) {
        const int64_t rows = n_batch * gl.ys[static_cast<size_t>(ay)].count;
        if (q0 >= rows) continue;
        items.push_back({gi, ay, q0, std::min(rows, q0 + gl.rows_per_block)});
        any = true;
      }
      if (!any) break;
    }
  }
  return items;
}

// One phase of one work item: row phase sy (position iry in rows, taps rt), column phase sx
// (position irx in cols, taps ct), pixels [p0, p1) of the item's rows, results at cb.
struct Phase {
  const ActivePhase *sy = nullptr, *sx = nullptr;
  int64_t iry = -1, irx = -1, p0 = 0, p1 = 0, taps = 0;
  const PhaseTaps *rt = nullptr, *ct = nullptr;
  float* cb = nullptr;
};

// One tile of a phase: pixels [tp0, tp1) (v0 vectors from the phase's p0), packed `width` wide.
struct Tile {
  int64_t v0 = 0, tp0 = 0, tp1 = 0, width = 0;
};

// One thread's share of a run: its buffers (allocated once at their largest; gemm_run_bytes()
// counts them so) and the work items it takes.
class GemmDriver {
 public:
  GemmDriver(const PackedWeights::Impl& pl, const GemmLayout& gl, const Tensor<float>& x,
             const float* b, Tensor<float>& y, const std::vector<int64_t>& irx_of)
      : pl_(pl),
        gl_(gl),
        x_(x),
        b_(b),
        y_(y),
        irx_of_(irx_of),
        bp_(static_cast<size_t>(gl.bp_floats)),
        cbuf_(static_cast<size_t>(gl.cbuf_floats)),
        scratch_(interleaves(pl.p.stride.w, static_cast<int64_t>(gl.xs.size()))
                     ? static_cast<size_t>(2 * y.shape[3])
                     : 0),
        tap_ops_(static_cast<size_t>(pl.max_taps)) {
    const size_t max_taps = static_cast<size_t>(pl.max_taps);  // <= kh·kw; max_segs, nr <= 48
    segs_.reserve(static_cast<size_t>(gl.max_segs));
    if (!gl.small_planes) ops_.reserve(max_taps * static_cast<size_t>(gl.max_segs));
    if (gl.small_planes) idx_.reserve(max_taps * static_cast<size_t>(gl.nr));
    tiles_.reserve(static_cast<size_t>(gl.ldc / pl.kernels->lanes));
    const size_t group = static_cast<size_t>(phase_group(gl));
    group_.reserve(group);
    shared_.reserve(group);
    done_.reserve(group);
  }

  void item(const WorkItem& wi) {
    const int64_t ncx = static_cast<int64_t>(gl_.xs.size());
    for (int64_t ax0 = 0; ax0 < ncx; ax0 += kPhaseGroup) {
      const int64_t ax1 = std::min(ncx, ax0 + kPhaseGroup);
      std::vector<Phase>& group = group_;
      group.clear();
      for (int64_t ai = ax0; ai < ax1; ++ai) group.push_back(phase_of(wi, ai, ax0));
      // Column phases whose input panels are the same (kernel = stride: every phase's one tap
      // reads the pixel under it) share one packing; the others are packed each.
      done_.assign(group.size(), 0);
      for (size_t i = 0; i < group.size(); ++i) {
        if (done_[i]) continue;
        shared_.clear();
        for (size_t j = i; j < group.size(); ++j) {
          if (!done_[j] && same_panel(group[i], group[j])) {
            shared_.push_back(group[j]);
            done_[j] = 1;
          }
        }
        phase(wi, shared_);
      }
      write_rows(wi, ax0, ax1);
    }
  }

 private:
  Phase phase_of(const WorkItem& wi, int64_t ai, int64_t ax0) {
    Phase ph;
    ph.sy = &gl_.ys[static_cast<size_t>(wi.ay)];
    ph.sx = &gl_.xs[static_cast<size_t>(ai)];
    ph.iry = pl_.rows.find(ph.sy->r);
    ph.irx = irx_of_[static_cast<size_t>(ai)];
    ph.rt = &pl_.rows.of(ph.sy->r);
    ph.ct = &pl_.cols.of(ph.sx->r);
    ph.taps = ph.rt->size() * ph.ct->size();
    ph.p0 = wi.qy0 * ph.sx->count;
    ph.p1 = wi.qy1 * ph.sx->count;
    ph.cb = cbuf_.data() + (ai - ax0) * pl_.ocg * gl_.ldc;
    return ph;
  }

  // Whether phases a and b (of one row phase) pack the same input panel: the same column
  // positions and the same column tap offsets (their weights differ).
  static bool same_panel(const Phase& a, const Phase& b) {
    if (a.iry < 0 || a.irx < 0 || b.iry < 0 || b.irx < 0) return &a == &b;
    return a.sx->lo == b.sx->lo && a.sx->count == b.sx->count && a.ct->a == b.ct->a;
  }

  // The results of phases that share one input panel (`phs`, same_panel): per k-chunk of whole
  // channels and tile, pack X once, then run every channel block of every phase over it while it
  // is in L1.
  void phase(const WorkItem& wi, const std::vector<Phase>& phs) {
    const Phase& ph = phs.front();
    if (ph.iry < 0 || ph.irx < 0) {  // no tap reaches this phase: the bias alone
      for (int64_t o = 0; o < pl_.ocg; ++o) {
        std::fill_n(ph.cb + o * gl_.ldc, ph.p1 - ph.p0, b_ ? b_[wi.g * pl_.ocg + o] : 0.0f);
      }
      return;
    }
    balance_tiles(ph);
    const int64_t lanes = pl_.kernels->lanes, cch = pl_.chunk_channels(ph.iry, ph.irx);
    for (int64_t c0 = 0; c0 < pl_.icg; c0 += cch) {
      const int64_t cn = std::min(cch, pl_.icg - c0);
      for (const auto& [v0, tv] : tiles_) {
        Tile t;
        t.v0 = v0;
        t.tp0 = ph.p0 + v0 * lanes;
        t.tp1 = std::min(ph.p1, t.tp0 + tv * lanes);
        t.width = lanes * ceil_div(t.tp1 - t.tp0, lanes);
        pack_tile(wi, ph, t, c0, cn);
        for (const Phase& q : phs) run_blocks(wi, q, t, c0 * q.taps, cn * q.taps);
      }
    }
  }

  // Tiles of as equal a width as possible (7 vectors: 3 + 2 + 2, not 3 + 3 + 1: a narrow last
  // tile has too few independent accumulators to keep the FMA units busy), balanced over the
  // block's pixels, or over each image's pixels where the permute packing would otherwise pack a
  // tile spanning two images twice (images' phase planes a whole number of vectors: dcgan-b16's
  // 64 pixels).
  void balance_tiles(const Phase& ph) {
    const int64_t lanes = pl_.kernels->lanes, plane_px = ph.sy->count * ph.sx->count;
    const bool per_image =
        gl_.small_planes && plane_px % lanes == 0 && ph.p0 % lanes == 0 && ph.p1 - ph.p0 > plane_px;
    const int64_t span = per_image ? plane_px : ph.p1 - ph.p0;
    tiles_.clear();
    for (int64_t s0 = ph.p0; s0 < ph.p1; s0 += span) {
      const int64_t svec = ceil_div(std::min(ph.p1, s0 + span) - s0, lanes);
      const int64_t sn = ceil_div(svec, int64_t{kGemmNv});
      for (int64_t ti = 0, v = (s0 - ph.p0) / lanes; ti < sn; ++ti) {
        const int64_t tv = svec / sn + (ti < svec % sn ? 1 : 0);
        tiles_.push_back({v, tv});
        v += tv;
      }
    }
  }

  // X[k0 .. k0 + kc)[the tile's pixels] into bp_, for channels [c0, c0 + cn).
  void pack_tile(const WorkItem& wi, const Phase& ph, const Tile& t, int64_t c0, int64_t cn) {
    segs_.clear();
    for (int64_t q = t.tp0; q < t.tp1;) {
      const int64_t r = q / ph.sx->count, ixq = q % ph.sx->count;
      const int64_t len = std::min(t.tp1 - q, ph.sx->count - ixq);
      segs_.push_back({r / ph.sy->count, r % ph.sy->count, ixq, len, q - t.tp0});
      q += len;
    }
    const float* xg = x_.ptr() + wi.g * pl_.icg * x_.shape[2] * x_.shape[3];  // image 0
    if (gl_.small_planes) {
      for (int64_t n = segs_.front().n; n <= segs_.back().n; ++n) pack_small(ph, t, xg, c0, cn, n);
    } else {
      pack_rows(ph, t, xg, c0, cn);
    }
  }

  // Planes of a few floats (4×4 to 8×8 inputs): each packed vector is a permute of the plane, by
  // index, instead of row copies of a few floats; one call per image the tile's pixels come from
  // (lanes of the others: -2, left alone).
  void pack_small(const Phase& ph, const Tile& t, const float* xg, int64_t c0, int64_t cn,
                  int64_t n) {
    const int64_t h = x_.shape[2], wd = x_.shape[3], ntw = ph.ct->size();
    idx_.assign(static_cast<size_t>(ph.taps * t.width), -2);
    for (int64_t tap = 0; tap < ph.taps; ++tap) {
      const int64_t a_y = ph.rt->a[static_cast<size_t>(tap / ntw)];
      const int64_t a_x = ph.ct->a[static_cast<size_t>(tap % ntw)];
      int32_t* row = idx_.data() + tap * t.width;
      // The lanes past the tile's pixels are zero; the last image's call writes them.
      if (n == segs_.back().n) std::fill(row + (t.tp1 - t.tp0), row + t.width, -1);
      for (const Seg& sg : segs_) {
        if (sg.n != n) continue;
        const int64_t iy = ph.sy->lo + sg.iyq - a_y;
        for (int64_t j = 0; j < sg.len; ++j) {
          const int64_t ix = ph.sx->lo + sg.ixq + j - a_x;
          const bool inside = iy >= 0 && iy < h && ix >= 0 && ix < wd;
          row[sg.d + j] = inside ? static_cast<int32_t>(iy * wd + ix) : -1;
        }
      }
    }
    SmallPackArgs sp{};
    sp.plane0 = xg + n * x_.shape[1] * h * wd + c0 * h * wd;
    sp.plane_stride = h * wd;
    sp.plane_size = h * wd;
    sp.channels = cn;
    sp.taps = ph.taps;
    sp.idx = idx_.data();
    sp.nvec = t.width / pl_.kernels->lanes;
    sp.out = bp_.data();
    pl_.kernels->pack_small(sp);
  }

  // Row copies: those of each tap are the same for every channel (only the plane moves).
  void pack_rows(const Phase& ph, const Tile& t, const float* xg, int64_t c0, int64_t cn) {
    const int64_t h = x_.shape[2], wd = x_.shape[3], ntw = ph.ct->size();
    const int64_t image = x_.shape[1] * h * wd;
    ops_.clear();
    for (int64_t tap = 0; tap < ph.taps; ++tap) {
      const int64_t a_y = ph.rt->a[static_cast<size_t>(tap / ntw)];
      const int64_t a_x = ph.ct->a[static_cast<size_t>(tap % ntw)];
      TapOps& to = tap_ops_[static_cast<size_t>(tap)];
      to.begin = static_cast<int64_t>(ops_.size());
      int64_t covered = 0;
      for (const Seg& sg : segs_) {
        const int64_t iy = ph.sy->lo + sg.iyq - a_y;
        const int64_t ix0 = ph.sx->lo + sg.ixq - a_x;  // column of the first pixel
        const int64_t j0 = std::max<int64_t>(0, -ix0), j1 = std::min(sg.len, wd - ix0);
        if (iy < 0 || iy >= h || j1 <= j0) continue;
        ops_.push_back({sg.n * image + iy * wd + ix0 + j0, sg.d + j0, j1 - j0});
        covered += j1 - j0;
      }
      to.end = static_cast<int64_t>(ops_.size());
      to.full = covered == t.width;
    }
    PackArgs pa{};
    pa.plane0 = xg + c0 * h * wd;
    pa.plane_stride = h * wd;
    pa.channels = cn;
    pa.taps = ph.taps;
    pa.tap_ops = tap_ops_.data();
    pa.ops = ops_.data();
    pa.width = t.width;
    pa.out = bp_.data();
    pl_.kernels->pack(pa);
  }

  // Every channel block's GEMM over the packed tile, k in [k0, k0 + kc).
  void run_blocks(const WorkItem& wi, const Phase& ph, const Tile& t, int64_t k0, int64_t kc) {
    const int64_t lanes = pl_.kernels->lanes;
    const int nv = static_cast<int>(ceil_div(t.tp1 - t.tp0, lanes));
    for (int64_t ocb = 0; ocb < pl_.ocblocks; ++ocb) {
      const int64_t o0 = ocb * pl_.mr_block, mr = std::min(pl_.mr_block, pl_.ocg - o0);
      float bias[kMaxGemmMr] = {};
      for (int64_t m = 0; m < mr; ++m) bias[m] = b_ ? b_[wi.g * pl_.ocg + o0 + m] : 0.0f;
      GemmArgs ga{};
      ga.k = kc;
      ga.a = pl_.gemm_a(wi.g, ph.iry, ph.irx, k0, kc, ocb);
      ga.b = bp_.data();
      ga.c = ph.cb + o0 * gl_.ldc + t.v0 * lanes;
      ga.ldc = gl_.ldc;
      ga.accumulate = k0 > 0;
      ga.bias = bias;
      pl_.kernels->gemm[mr][nv](ga);
    }
  }

  // The group's column phases [ax0, ax1) into the output rows (write_output_row).
  void write_rows(const WorkItem& wi, int64_t ax0, int64_t ax1) {
    const ActivePhase& sy = gl_.ys[static_cast<size_t>(wi.ay)];
    const int64_t oc = y_.shape[1], oh = y_.shape[2], ow = y_.shape[3];
    for (int64_t o = 0; o < pl_.ocg; ++o) {
      for (int64_t r = wi.qy0; r < wi.qy1; ++r) {
        const int64_t n = r / sy.count, qy = sy.lo + r % sy.count;
        const int64_t oy = qy * pl_.p.stride.h + sy.r - pl_.p.padding.h;
        float* yrow = y_.ptr() + ((n * oc + wi.g * pl_.ocg + o) * oh + oy) * ow;
        const auto row_of = [&](int64_t ai) {
          return cbuf_.data() + ((ai - ax0) * pl_.ocg + o) * gl_.ldc +
                 (r - wi.qy0) * gl_.xs[static_cast<size_t>(ai)].count;
        };
        write_output_row(*pl_.kernels, gl_.xs, ax0, ax1, pl_.p.stride.w, ow, row_of,
                         scratch_.data(), yrow);
        if (!pl_.weights_finite) fix_nonfinite(wi, ax0, ax1, n, o, qy, oy, yrow);
      }
    }
  }

  // Where the zero padding met an Inf or NaN weight (some tap of the phase reads beside the
  // input): the definition's value.
  void fix_nonfinite(const WorkItem& wi, int64_t ax0, int64_t ax1, int64_t n, int64_t o, int64_t qy,
                     int64_t oy, float* yrow) {
    const ActivePhase& sy = gl_.ys[static_cast<size_t>(wi.ay)];
    if (pl_.rows.find(sy.r) < 0) return;
    const int64_t h = x_.shape[2], wd = x_.shape[3];
    const PhaseTaps& rt = pl_.rows.of(sy.r);
    const auto [ay0, ay1] = std::minmax_element(rt.a.begin(), rt.a.end());
    for (int64_t ai = ax0; ai < ax1; ++ai) {
      const ActivePhase& sx = gl_.xs[static_cast<size_t>(ai)];
      if (irx_of_[static_cast<size_t>(ai)] < 0) continue;
      const PhaseTaps& ct = pl_.cols.of(sx.r);
      const auto [ax_lo, ax_hi] = std::minmax_element(ct.a.begin(), ct.a.end());
      for (int64_t j = 0; j < sx.count; ++j) {
        const int64_t qx = sx.lo + j;
        if (qy - *ay1 < 0 || qy - *ay0 >= h || qx - *ax_hi < 0 || qx - *ax_lo >= wd) {
          const int64_t ox = sx.first + j * pl_.p.stride.w;
          yrow[ox] = exact_element(pl_, x_, b_, n, wi.g, o, oy, ox);
        }
      }
    }
  }

  const PackedWeights::Impl& pl_;
  const GemmLayout& gl_;
  const Tensor<float>& x_;
  const float* b_;
  Tensor<float>& y_;
  const std::vector<int64_t>& irx_of_;
  AlignedVector<float> bp_, cbuf_, scratch_;
  std::vector<Seg> segs_;
  std::vector<CopyOp> ops_;
  std::vector<int32_t> idx_;
  std::vector<std::pair<int64_t, int64_t>> tiles_;  // (first vector, vectors) from the block's p0
  std::vector<TapOps> tap_ops_;
  std::vector<Phase> group_, shared_;  // an item's column phases; those sharing a panel
  std::vector<char> done_;             // group_'s phases already computed
};

}  // namespace

void execute_gemm(const PackedWeights::Impl& pl, const Tensor<float>& x, const float* b,
                  Tensor<float>& y, int nt) {
  const GemmLayout gl = gemm_layout(pl, x.shape, y.shape);
  const int64_t ncx = static_cast<int64_t>(gl.xs.size());
  std::vector<int64_t> irx_of(static_cast<size_t>(ncx));
  for (int64_t ai = 0; ai < ncx; ++ai) {
    irx_of[static_cast<size_t>(ai)] = pl.cols.find(gl.xs[static_cast<size_t>(ai)].r);
  }
  const std::vector<WorkItem> items = work_items(pl, gl, x.shape[0]);
  const int64_t n_items = static_cast<int64_t>(items.size());
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    GemmDriver driver(pl, gl, x, b, y, irx_of);
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < n_items; ++it) driver.item(items[static_cast<size_t>(it)]);
  }
}

void gemm_run_bytes(const PackedWeights::Impl& pl, const Shape& x, const Shape& y,
                    ByteCount& shared, ByteCount& each) {
  const GemmLayout gl = gemm_layout(pl, x, y);
  const int64_t ncx = static_cast<int64_t>(gl.xs.size());
  const int64_t lanes = pl.kernels->lanes;
  shared
      .add("working memory: row and column phases", sizeof(ActivePhase),
           static_cast<int64_t>(gl.ys.size()) + ncx)
      .add("working memory: column phase positions", kInt64Bytes, ncx)
      .add("working memory: work items", sizeof(WorkItem), gl.items);
  each.add("working memory: packed input panel", kFloatBytes, gl.bp_floats)
      .add("working memory: GEMM results", kFloatBytes, gl.cbuf_floats)
      .add("working memory: interleave scratch", kFloatBytes,
           interleaves(pl.p.stride.w, ncx) ? 2 : 0, y[3])
      .add("working memory: tile segments", sizeof(Seg), gl.max_segs)
      .add("working memory: row copies", sizeof(CopyOp), gl.small_planes ? 0 : pl.max_taps,
           gl.max_segs)
      .add("working memory: permute indices", sizeof(int32_t), gl.small_planes ? pl.max_taps : 0,
           gl.nr)
      .add("working memory: tiles", sizeof(std::pair<int64_t, int64_t>), gl.ldc / lanes)
      .add("working memory: tap copies", sizeof(TapOps), pl.max_taps)
      .add("working memory: column phase groups", 2 * sizeof(Phase) + 1, phase_group(gl));
}

}  // namespace convt2d::optimized
