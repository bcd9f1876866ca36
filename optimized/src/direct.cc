// The direct driver: no packing of the input; tiles read the zero-padded input rows in place.
// Used for few output channels per group, where packing would not be reused. Work items are
// (image, group, block of output rows); within one, each row phase's rows form runs of rows that
// read the same row taps, and one tile call covers a whole run.

#include "aligned.h"
#include "blocking.h"
#include "drivers.h"
#include "row_io.h"

namespace convt2d::optimized {
namespace {

using blocking::kMaxPadVectors;
using blocking::kMaxRow2Taps;
using blocking::kPhaseGroup;

// A column phase as the direct driver sees it: its outputs (qlo = first phase unit), its segment
// of the row buffer, the column taps it keeps (positions [iw0, iw1) in its phase's taps: those
// that read some input column for its outputs; the offsets a grow with the position, so they
// form a range), the range of their input offsets, and its position in cols (-1: no tap
// reaches it).
struct ColumnPhase {
  int64_t qlo = 0, count = 0, padded = 0, offset = 0, amin = 0, amax = 0, irx = -1, first = 0;
  int64_t iw0 = 0, iw1 = 0;
  bool has_taps = false;  ///< some tap kept
  /// Every kept tap reads the input for every tile's outputs (ordinary layers): no tile needs
  /// to leave any out.
  bool every_tile = true;
};

// How the direct driver lays out one run, for execute_direct() and direct_run_bytes() alike:
// the column phases with outputs (in groups of kPhaseGroup) with the column taps each keeps, the
// row buffer, and the zero padding of the input rows in W that lets every tile read whole
// vectors without checks.
struct DirectLayout {
  std::vector<ActivePhase> xs;
  std::vector<ColumnPhase> cp;
  int64_t row_len = 0, pad_l = 0, pad_r = 0, wp = 0;
  /// The fused stride-2 row kernel, the zipped stride-2 stores.
  bool row2 = false, zip_layer = false;
  /// Each (image, group) item pads its own group into a buffer of group_floats, or the whole
  /// input (padded_floats) is padded up front.
  bool local_pad = false;
  int64_t group_floats = 0, padded_floats = 0;
  /// A run's rows are rstride floats apart in the row buffer of buf_floats = run_max·rstride.
  int64_t rstride = 0, run_max = 1, buf_floats = 0;
  /// The most taps (valid row taps × kept column taps) of one tile call.
  int64_t max_taps = 0;
};

// The padding for the tiles: a tile of nv vectors at outputs j0.. reads input columns
// qlo - a + j0 .. qlo - a + j0 + nv·lanes - 1 for each tap it keeps (reaches_input), a zipped
// odd phase over the even phase's count. A kept tap reaches the input, so neither side needs
// more than a tile's width, however large the padding or dilation; for ordinary layers this is
// what the tiles at both ends read (grouped-g4: rows of 33 floats for 28 columns).
void pad_for_tiles(const PackedWeights::Impl& pl, int64_t wd, DirectLayout& dl) {
  const int64_t lanes = pl.kernels->lanes;
  // The two tile heights (full channel blocks and the last one) may tile a row differently.
  const int64_t mr_full = std::min(pl.mr_block, pl.ocg);
  const int64_t mr_last = pl.ocg - (pl.ocblocks - 1) * pl.mr_block;
  for (int64_t ai = 0; ai < static_cast<int64_t>(dl.cp.size()); ++ai) {
    ColumnPhase& c = dl.cp[static_cast<size_t>(ai)];
    if (!c.has_taps) continue;
    const PhaseTaps& ct = pl.cols.taps[static_cast<size_t>(c.irx)];
    const int64_t count = dl.zip_layer && ai == 1 ? dl.cp[0].count : c.count;
    const auto pad_tile = [&](int64_t j0, int64_t j1, int nv) {
      for (int64_t iw = c.iw0; iw < c.iw1; ++iw) {
        const int64_t a = ct.a[static_cast<size_t>(iw)];
        c.every_tile = c.every_tile && reaches_input(c.qlo, a, j0, j1, wd);
        if (!reaches_input(c.qlo, a, j0, j1, wd)) continue;
        const int64_t first = c.qlo - a + j0;  // the first input column the tile reads
        dl.pad_l = std::max(dl.pad_l, -first);
        dl.pad_r = std::max(dl.pad_r, first + nv * lanes - 1 - (wd - 1));
      }
    };
    for (const int64_t mr : {mr_full, mr_last})
      for_each_tile(count, lanes, kDirectNv[mr], pad_tile);
  }
}

// The padding for the fused stride-2 row kernel, which reads both column phases over the whole
// row, up to a vector past the longer one's end; {-1, -1} where that is more than
// kMaxPadVectors on a side (a huge dilation or padding): then the tiles run instead.
std::pair<int64_t, int64_t> row2_padding(const PackedWeights::Impl& pl, int64_t wd,
                                         const DirectLayout& dl) {
  const int64_t lanes = pl.kernels->lanes;
  int64_t pad_l = 0, pad_r = 0;
  for (const ColumnPhase& c : dl.cp) {
    const PhaseTaps& ct = pl.cols.taps[static_cast<size_t>(c.irx)];
    for (int64_t iw = c.iw0; iw < c.iw1; ++iw) {
      const int64_t first = c.qlo - ct.a[static_cast<size_t>(iw)];
      pad_l = std::max(pad_l, -first);
      pad_r = std::max(pad_r, first + c.padded + lanes - 1 - (wd - 1));
    }
  }
  const int64_t most = kMaxPadVectors * lanes;
  if (pad_l > most || pad_r > most) return {-1, -1};
  return {pad_l, pad_r};
}

// Column phase ai (with outputs ap, in a phase group whose buffer segments end at group_len):
// its segment and the column taps it keeps. Taps whose input columns for all of the phase's
// outputs lie beside the input (a huge padding or dilation) add nothing anywhere in it: left out
// of every tile. Returns the kept taps' count.
int64_t column_phase(const PackedWeights::Impl& pl, const ActivePhase& ap, int64_t wd,
                     int64_t& group_len, ColumnPhase& c) {
  const int64_t lanes = pl.kernels->lanes;
  c.qlo = ap.lo;
  c.count = ap.count;
  c.first = ap.first;
  c.padded = ceil_div(c.count, lanes) * lanes;
  c.offset = group_len;
  group_len += c.padded;  // <= ow + kPhaseGroup·lanes
  c.irx = pl.cols.find(ap.r);
  if (c.irx < 0) return 0;
  const PhaseTaps& ct = pl.cols.taps[static_cast<size_t>(c.irx)];
  const auto reaches = [&](int64_t iw) {
    return reaches_input(c.qlo, ct.a[static_cast<size_t>(iw)], 0, c.count, wd);
  };
  c.iw0 = 0;
  while (c.iw0 < ct.size() && !reaches(c.iw0)) ++c.iw0;
  c.iw1 = c.iw0;
  while (c.iw1 < ct.size() && reaches(c.iw1)) ++c.iw1;
  c.has_taps = c.iw1 > c.iw0;
  if (c.has_taps) {
    c.amin = ct.a[static_cast<size_t>(c.iw0)];
    c.amax = ct.a[static_cast<size_t>(c.iw1 - 1)];
  }
  return c.iw1 - c.iw0;
}

// The column phases, the row buffer's length and the most taps of a tile call.
void lay_out_columns(const PackedWeights::Impl& pl, int64_t wd, int64_t ow, DirectLayout& dl) {
  dl.xs = active_phases(ow, pl.p.padding.w, pl.p.stride.w);
  const int64_t ncx = static_cast<int64_t>(dl.xs.size());
  dl.cp.resize(static_cast<size_t>(ncx));
  int64_t most_kept = 0;
  for (int64_t ax0 = 0; ax0 < ncx; ax0 += kPhaseGroup) {
    int64_t group_len = 0;
    for (int64_t ai = ax0; ai < std::min(ncx, ax0 + kPhaseGroup); ++ai) {
      const int64_t kept = column_phase(pl, dl.xs[static_cast<size_t>(ai)], wd, group_len,
                                        dl.cp[static_cast<size_t>(ai)]);
      most_kept = std::max(most_kept, kept);
    }
    dl.row_len = std::max(dl.row_len, group_len);
  }
  dl.max_taps = pl.rows.most_taps() * most_kept;  // <= kh·kw
}

// Single-channel layers with stride 2 in W (depthwise upsampling) take the fused row kernel;
// stride 2 with both column phases reached zips its stores; the padding either needs.
void choose_row_kernels(const PackedWeights::Impl& pl, int64_t wd, DirectLayout& dl) {
  const std::vector<ColumnPhase>& cp = dl.cp;
  const bool two_phases = pl.p.stride.w == 2 && cp.size() == 2 && cp[0].has_taps && cp[1].has_taps;
  const bool row2_shape = two_phases && pl.icg == 1 && pl.ocg == 1 && pl.weights_finite &&
                          pl.kh * (cp[0].iw1 - cp[0].iw0) <= kMaxRow2Taps &&
                          pl.kh * (cp[1].iw1 - cp[1].iw0) <= kMaxRow2Taps;
  const auto [row2_l, row2_r] =
      row2_shape ? row2_padding(pl, wd, dl) : std::pair<int64_t, int64_t>{-1, -1};
  dl.row2 = row2_l >= 0;
  dl.zip_layer = two_phases && pl.weights_finite;
  if (dl.row2) {
    dl.pad_l = row2_l;
    dl.pad_r = row2_r;
  } else {
    pad_for_tiles(pl, wd, dl);
  }
}

DirectLayout direct_layout(const PackedWeights::Impl& pl, const Shape& x, const Shape& y, int nt) {
  const int64_t n_batch = x[0], h = x[2], wd = x[3];
  DirectLayout dl;
  lay_out_columns(pl, wd, y[3], dl);
  choose_row_kernels(pl, wd, dl);
  // Both paddings are at most kMaxPadVectors vectors.
  dl.wp = checked_add(wd, dl.pad_l + dl.pad_r, "padded input row");
  // Where the zero-padded input comes from. With many small groups (depthwise, grouped layers),
  // each work item is one (image, group) and pads its own channels into a thread-local buffer
  // that stays in L1/L2; otherwise the whole input is padded once up front and items are blocks
  // of output rows.
  dl.group_floats = checked_mul(pl.icg * h, dl.wp, "padded input group");  // icg·h: input rows
  dl.local_pad = dl.group_floats <= blocking::kLocalPadFloats && n_batch * pl.g >= 4 * nt;
  if (!dl.local_pad) {
    dl.padded_floats = checked_mul(n_batch * x[1] * h, dl.wp, "padded input");
  }
  // Consecutive phase rows of one row phase that read the same row taps form a run of at most
  // run_max rows, and one tile call covers the whole run (each row a fixed step further in the
  // input, the buffer and the output): the set-up of a call is then paid once per run.
  dl.rstride = checked_mul(pl.mr_block, dl.row_len, "direct row buffer");
  dl.run_max =
      std::clamp<int64_t>(blocking::kRunBufferFloats / dl.rstride, 1, blocking::kMaxRunRows);
  dl.buf_floats = dl.run_max * dl.rstride;  // <= max(kRunBufferFloats, rstride)
  return dl;
}

// A run: nrows output rows oy, oy + sh, ... (phase rows qy, qy + 1, ...) of row phase iry (row
// taps rt) of one image and group, that read the same nvalid row taps (valid_ih).
struct Run {
  int64_t n = 0, gi = 0, iry = -1, qy = 0, oy = 0, nrows = 0, nvalid = 0;
  const PhaseTaps* rt = nullptr;
  const float* xg = nullptr;  ///< the group's padded input
};

// One channel block of a run: its first channel o0 (in the group), height mr, and biases.
struct Block {
  int64_t ocb = 0, o0 = 0, mr = 0;
  float bias[kMaxDirectMr] = {};
};

// One thread's share of a run: its buffers (sized once from the layout; direct_run_bytes()
// counts them) and the work items it takes.
class DirectDriver {
 public:
  DirectDriver(const PackedWeights::Impl& pl, const DirectLayout& dl, const Tensor<float>& x,
               const float* b, Tensor<float>& y, const float* xp)
      : pl_(pl),
        dl_(dl),
        x_(x),
        b_(b),
        y_(y),
        xp_(xp),
        buf_(static_cast<size_t>(dl.buf_floats)),
        local_(dl.local_pad ? static_cast<size_t>(dl.group_floats) : 0),
        // 2·ow < 2^61: validate() keeps ow below 2^60.
        scratch_(interleaves(pl.p.stride.w, static_cast<int64_t>(dl.xs.size()))
                     ? static_cast<size_t>(2 * y.shape[3])
                     : 0),
        xoff_(static_cast<size_t>(dl.max_taps)),
        tap_a_(xoff_.size()),
        kxoff_(xoff_.size()),
        ktap_a_(xoff_.size()),
        valid_ih_(static_cast<size_t>(pl.kh)),
        wtap_(xoff_.size()),
        kwtap_(xoff_.size()) {}

  /// Output rows [oy0, oy1) of image n, group gi.
  void item(int64_t n, int64_t gi, int64_t oy0, int64_t oy1) {
    Run run;
    run.n = n;
    run.gi = gi;
    run.xg = padded_group(n, gi);
    // The rows by row phase: rows oys + k·sh for each first row oys (at most oy1 - oy0 of them,
    // whatever the stride).
    for (int64_t oys = oy0; oys < std::min(oy1, oy0 + pl_.p.stride.h); ++oys) {
      row_phase(run, oys, oy1);
    }
  }

 private:
  const float* padded_group(int64_t n, int64_t gi) {
    const int64_t ic = x_.shape[1], h = x_.shape[2], wd = x_.shape[3], wp = dl_.wp;
    if (!dl_.local_pad) return xp_ + (n * ic + gi * pl_.icg) * h * wp;
    const float* group_x = x_.ptr() + (n * ic + gi * pl_.icg) * h * wd;
    for (int64_t r = 0; r < pl_.icg * h; ++r) {
      pad_row(group_x + r * wd, wd, dl_.pad_l, wp, local_.data() + r * wp);
    }
    return local_.data();
  }

  bool valid(const Run& run, int64_t qy, int64_t ih) const {
    const int64_t iy = qy - run.rt->a[static_cast<size_t>(ih)];
    return iy >= 0 && iy < x_.shape[2];
  }

  // The rows oys, oys + sh, ... below oy1 of one row phase, run by run.
  void row_phase(Run& run, int64_t oys, int64_t oy1) {
    const int64_t sh = pl_.p.stride.h, ph = pl_.p.padding.h;
    const int64_t ry = (oys + ph) % sh, qys = (oys + ph) / sh;
    const int64_t chain = (oy1 - 1 - oys) / sh + 1;
    run.iry = pl_.rows.find(ry);
    run.rt = &pl_.rows.of(ry);
    for (int64_t k = 0; k < chain; k += run.nrows) {
      run.qy = qys + k;
      run.oy = oys + k * sh;
      run.nvalid = 0;
      for (int64_t ih = 0; ih < run.rt->size(); ++ih) {
        if (valid(run, run.qy, ih)) valid_ih_[static_cast<size_t>(run.nvalid++)] = ih;
      }
      run.nrows = run_length(run, chain - k);
      for (int64_t ocb = 0; ocb < pl_.ocblocks; ++ocb) block(run, ocb);
    }
  }

  // The rows following run.qy (at most `left` and run_max in all) with the same valid row taps.
  int64_t run_length(const Run& run, int64_t left) const {
    int64_t nrows = 1;
    while (nrows < left && nrows < dl_.run_max) {
      for (int64_t ih = 0; ih < run.rt->size(); ++ih) {
        if (valid(run, run.qy + nrows, ih) != valid(run, run.qy, ih)) return nrows;
      }
      ++nrows;
    }
    return nrows;
  }

  float* yrow(const Run& run, const Block& bk, int64_t r, int64_t m) const {
    const int64_t oc = y_.shape[1], oh = y_.shape[2], ow = y_.shape[3];
    return y_.ptr() +
           ((run.n * oc + run.gi * pl_.ocg + bk.o0 + m) * oh + run.oy + r * pl_.p.stride.h) * ow;
  }

  void block(const Run& run, int64_t ocb) {
    Block bk;
    bk.ocb = ocb;
    bk.o0 = ocb * pl_.mr_block;
    bk.mr = std::min(pl_.mr_block, pl_.ocg - bk.o0);
    for (int64_t m = 0; m < bk.mr; ++m) bk.bias[m] = b_ ? b_[run.gi * pl_.ocg + bk.o0 + m] : 0.0f;
    if (dl_.row2 && run.nvalid > 0) {
      row2_block(run, bk);
      return;
    }
    // Stride 2 with both column phases reached by taps and finite weights: the odd phase's
    // tiles store both phases interleaved into the output rows.
    const bool zip = dl_.zip_layer && run.nvalid > 0;
    const int64_t ncx = static_cast<int64_t>(dl_.xs.size());
    for (int64_t ax0 = 0; ax0 < ncx; ax0 += kPhaseGroup) {
      const int64_t ax1 = std::min(ncx, ax0 + kPhaseGroup);
      for (int64_t ai = ax0; ai < ax1; ++ai) column_tiles(run, bk, ai, zip);
      if (!zip) write_rows(run, bk, ax0, ax1);
    }
  }

  // One channel, stride 2 in W: both column phases in registers, straight to y.
  void row2_block(const Run& run, const Block& bk) {
    int64_t xo[2][kMaxRow2Taps];
    float wv[2][kMaxRow2Taps];
    Row2Args r2{};
    for (int64_t ai = 0; ai < 2; ++ai) {
      const ColumnPhase& c = dl_.cp[static_cast<size_t>(ai)];
      const PhaseTaps& ct = pl_.cols.taps[static_cast<size_t>(c.irx)];
      const float* panel = pl_.panel(run.gi, run.iry, c.irx, bk.ocb);
      int64_t taps = 0;
      for (int64_t v = 0; v < run.nvalid; ++v) {
        const int64_t ih = valid_ih_[static_cast<size_t>(v)];
        for (int64_t iw = c.iw0; iw < c.iw1; ++iw, ++taps) {
          xo[ai][taps] = (run.qy - run.rt->a[static_cast<size_t>(ih)]) * dl_.wp + dl_.pad_l +
                         c.qlo - ct.a[static_cast<size_t>(iw)];
          wv[ai][taps] = panel[ih * ct.size() + iw];
        }
      }
      r2.xoff[ai] = xo[ai];
      r2.w[ai] = wv[ai];
      r2.ntaps[ai] = taps;
    }
    r2.bias = bk.bias[0];
    r2.n = y_.shape[3];
    for (int64_t r = 0; r < run.nrows; ++r) {
      r2.x = run.xg + r * dl_.wp;
      r2.out = yrow(run, bk, r, 0);
      pl_.kernels->row2(r2);
    }
  }

  // The run's taps for column phase c into xoff_, tap_a_, wtap_: valid row taps × kept column
  // taps. Returns their count.
  int64_t collect_taps(const Run& run, const Block& bk, const ColumnPhase& c) {
    const PhaseTaps& ct = pl_.cols.taps[static_cast<size_t>(c.irx)];
    const float* panel = pl_.panel(run.gi, run.iry, c.irx, bk.ocb);
    int64_t taps = 0;
    for (int64_t v = 0; v < run.nvalid; ++v) {
      const int64_t ih = valid_ih_[static_cast<size_t>(v)];
      const int64_t iy = run.qy - run.rt->a[static_cast<size_t>(ih)];
      for (int64_t iw = c.iw0; iw < c.iw1; ++iw, ++taps) {
        const size_t t = static_cast<size_t>(taps);
        // No overflow: iy·wp is within the padded input, qlo < 2^62 + 2^60 and qlo - a in
        // [1 - count, wd - 1] for a kept tap.
        xoff_[t] = iy * dl_.wp + dl_.pad_l + c.qlo - ct.a[static_cast<size_t>(iw)];
        tap_a_[t] = ct.a[static_cast<size_t>(iw)];
        wtap_[t] = panel + (ih * ct.size() + iw) * pl_.icg * bk.mr;
      }
    }
    return taps;
  }

  // Column phase ai of the run's block: its tiles into the row buffer (or, zipped, straight into
  // the output rows with the even phase).
  void column_tiles(const Run& run, const Block& bk, int64_t ai, bool zip) {
    const ColumnPhase& c = dl_.cp[static_cast<size_t>(ai)];
    float* seg = buf_.data() + c.offset;
    if (!c.has_taps || run.nvalid == 0) {  // no tap reaches these outputs: the bias alone
      for (int64_t r = 0; r < run.nrows; ++r) {
        for (int64_t m = 0; m < bk.mr; ++m) {
          std::fill_n(seg + r * dl_.rstride + m * dl_.row_len, c.count, bk.bias[m]);
        }
      }
      return;
    }
    const int64_t taps = collect_taps(run, bk, c);
    TileArgs a{};
    a.icg = pl_.icg;
    a.chan_stride = x_.shape[2] * dl_.wp;
    a.bias = bk.bias;
    a.out_stride = dl_.row_len;
    a.rows = run.nrows;
    a.x_row_step = dl_.wp;
    a.out_row_step = dl_.rstride;
    // A run of several rows has them sh apart inside the output, so sh·ow fits; a single row
    // never steps (sh·ow may then exceed int64: a stride of 2^62).
    a.y_row_step = run.nrows > 1 ? pl_.p.stride.h * y_.shape[3] : 0;
    a.y_stride = y_.shape[2] * y_.shape[3];
    // The odd phase of stride 2 interleaves with the even one in its stores, over the even
    // phase's columns: with an odd width it has one more (the odd phase's extra column is
    // computed from the padding and not stored).
    const bool zip_tile = zip && ai == 1;
    const int64_t count = zip_tile ? dl_.cp[0].count : c.count;
    for_each_tile(count, pl_.kernels->lanes, kDirectNv[bk.mr], [&](int64_t j0, int64_t j1, int nv) {
      a.x = run.xg + j0;
      a.out = seg + j0;
      tile(run, bk, c, taps, zip_tile, j0, j1, nv, a);
    });
  }

  // One tile: outputs j0..j1-1 of column phase c, every tap of the run unless some read no input
  // column for these outputs (a phase much wider than the input): those are left out, and so the
  // padding need not reach them.
  void tile(const Run& run, const Block& bk, const ColumnPhase& c, int64_t taps, bool zip_tile,
            int64_t j0, int64_t j1, int nv, TileArgs& a) {
    const int64_t wd = x_.shape[3], mr = bk.mr;
    a.ntaps = taps;
    a.xoff = xoff_.data();
    a.wtap = wtap_.data();
    if (!c.every_tile) {
      a.ntaps = kept_taps(c.qlo, j0, j1, taps);
      a.xoff = kxoff_.data();
      a.wtap = kwtap_.data();
    }
    // Input columns this tile reads for outputs j0..j1-1: qlo + j - a.
    const bool touches_padding = c.qlo + j0 - c.amax < 0 || c.qlo + j1 - 1 - c.amin > wd - 1;
    if (zip_tile) {
      a.partner = buf_.data() + dl_.cp[0].offset + j0;
      a.y = yrow(run, bk, 0, 0) + 2 * j0;
      a.y_n = y_.shape[3] - 2 * j0;
      pl_.kernels->direct_zip[mr][nv](a);
    } else if (pl_.weights_finite || !touches_padding) {
      pl_.kernels->direct[mr][nv](a);
    } else {
      exact_tile(run, bk, c, j0, j1, a.out);
    }
  }

  // The taps of the run that reach the input for outputs j0..j1-1, into the k* lists.
  int64_t kept_taps(int64_t qlo, int64_t j0, int64_t j1, int64_t taps) {
    int64_t kept = 0;
    for (int64_t t = 0; t < taps; ++t) {
      const size_t ti = static_cast<size_t>(t);
      if (!reaches_input(qlo, tap_a_[ti], j0, j1, x_.shape[3])) continue;
      kxoff_[static_cast<size_t>(kept)] = xoff_[ti];
      ktap_a_[static_cast<size_t>(kept)] = tap_a_[ti];
      kwtap_[static_cast<size_t>(kept)] = wtap_[ti];
      ++kept;
    }
    return kept;
  }

  // Where the tile's zero padding would meet an Inf or NaN weight: the definition's values.
  void exact_tile(const Run& run, const Block& bk, const ColumnPhase& c, int64_t j0, int64_t j1,
                  float* out) const {
    for (int64_t r = 0; r < run.nrows; ++r) {
      for (int64_t m = 0; m < bk.mr; ++m) {
        for (int64_t j = j0; j < j1; ++j) {
          out[r * dl_.rstride + m * dl_.row_len + (j - j0)] =
              exact_element(pl_, x_, b_, run.n, run.gi, bk.o0 + m, run.oy + r * pl_.p.stride.h,
                            c.first + j * pl_.p.stride.w);
        }
      }
    }
  }

  // The group's column phases [ax0, ax1) into the output rows: each element written once.
  void write_rows(const Run& run, const Block& bk, int64_t ax0, int64_t ax1) {
    for (int64_t r = 0; r < run.nrows; ++r) {
      for (int64_t m = 0; m < bk.mr; ++m) {
        const float* bm = buf_.data() + r * dl_.rstride + m * dl_.row_len;
        const auto phase = [&](int64_t ai) { return bm + dl_.cp[static_cast<size_t>(ai)].offset; };
        write_output_row(*pl_.kernels, dl_.xs, ax0, ax1, pl_.p.stride.w, y_.shape[3], phase,
                         scratch_.data(), yrow(run, bk, r, m));
      }
    }
  }

  const PackedWeights::Impl& pl_;
  const DirectLayout& dl_;
  const Tensor<float>& x_;
  const float* b_;
  Tensor<float>& y_;
  const float* xp_;
  AlignedVector<float> buf_, local_, scratch_;
  std::vector<int64_t> xoff_, tap_a_, kxoff_, ktap_a_, valid_ih_;
  std::vector<const float*> wtap_, kwtap_;
};

}  // namespace

void execute_direct(const PackedWeights::Impl& pl, const Tensor<float>& x, const float* b,
                    Tensor<float>& y, int nt) {
  const int64_t oh = y.shape[2];
  const DirectLayout dl = direct_layout(pl, x.shape, y.shape, nt);
  const float* const xp =
      dl.local_pad ? nullptr : pad_input(x, dl.pad_l, dl.wp, dl.padded_floats, nt);
  // Items of kDirectRows output rows, or whole planes with local padding: at most N·G·OH items,
  // fewer than the output's elements.
  const int64_t rows_per_item = dl.local_pad ? oh : blocking::kDirectRows;
  const int64_t row_blocks = ceil_div(oh, rows_per_item);
  const int64_t items = x.shape[0] * pl.g * row_blocks;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DirectDriver driver(pl, dl, x, b, y, xp);
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t rb = item % row_blocks, gi = (item / row_blocks) % pl.g;
      const int64_t oy0 = rb * rows_per_item;
      driver.item(item / (row_blocks * pl.g), gi, oy0, std::min(oh, oy0 + rows_per_item));
    }
  }
}

void direct_run_bytes(const PackedWeights::Impl& pl, const Shape& x, const Shape& y, int nt,
                      ByteCount& shared, ByteCount& each) {
  const DirectLayout dl = direct_layout(pl, x, y, nt);
  const int64_t ncx = static_cast<int64_t>(dl.xs.size());
  shared.add("working memory: padded input", kFloatBytes, dl.padded_floats)
      .add("working memory: column phases", sizeof(ActivePhase) + sizeof(ColumnPhase), ncx);
  // The tap lists of a run and of a tile: offsets, input offsets a, weight pointers, twice.
  each.add("working memory: row buffer", kFloatBytes, dl.buf_floats)
      .add("working memory: tap lists", 2 * (2 * kInt64Bytes + kPtrBytes), dl.max_taps)
      .add("working memory: valid row taps", kInt64Bytes, pl.kh)
      .add("working memory: padded group", kFloatBytes, dl.local_pad ? dl.group_floats : 0)
      .add("working memory: interleave scratch", kFloatBytes,
           interleaves(pl.p.stride.w, ncx) ? 2 : 0, y[3]);
}

}  // namespace convt2d::optimized
