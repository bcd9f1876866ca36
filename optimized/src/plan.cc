#include "plan.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

#include "convt2d/checked.h"

namespace convt2d::optimized {
namespace {

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}  // 0 <= a <= 2^62, 0 < b <= 2^62 at every call: sizes of tensors that fit in memory

// The phases of one dimension that taps reach: tap k reaches phase r = (k·d) mod s, from input
// q - (k·d - r)/s for output q (in units of the stride). At most k phases, however large s is.
// t·d <= (k - 1)·d, which validate() checked fits in int64.
PhaseSet phase_set(int64_t k, int64_t s, int64_t d) {
  PhaseSet ps;
  ps.phase.reserve(static_cast<size_t>(k));
  for (int64_t t = 0; t < k; ++t) ps.phase.push_back((t * d) % s);
  std::sort(ps.phase.begin(), ps.phase.end());
  ps.phase.erase(std::unique(ps.phase.begin(), ps.phase.end()), ps.phase.end());
  ps.taps.resize(ps.phase.size());
  for (int64_t t = 0; t < k; ++t) {
    const int64_t r = (t * d) % s;
    PhaseTaps& pt = ps.taps[static_cast<size_t>(ps.find(r))];
    pt.k.push_back(t);
    pt.a.push_back((t * d - r) / s);
  }
  return ps;
}

// One output phase that has outputs: phase r, outputs first + j·s for j < count, which are
// phase units q = lo + j. Output o belongs to the active phase at position o mod s.
struct ActivePhase {
  int64_t r = 0, lo = 0, count = 0, first = 0;
};

// The phases of one dimension (output size `out`, padding `pad`, stride `s`) that have outputs,
// ordered by their first output: at most min(s, out) of them. o + pad < 2^63: validate() keeps
// out below 2^60 (its bytes fit) and 2·pad in int64.
std::vector<ActivePhase> active_phases(int64_t out, int64_t pad, int64_t s) {
  std::vector<ActivePhase> r;
  r.reserve(static_cast<size_t>(std::min(s, out)));
  for (int64_t o = 0; o < std::min(s, out); ++o) {
    ActivePhase a;
    a.r = (o + pad) % s;
    a.lo = (o + pad) / s;
    a.first = o;
    a.count = (out - 1 - o) / s + 1;
    r.push_back(a);
  }
  return r;
}

// Column phases are processed in groups of at most this many, so that per-thread buffers stay
// small even when the stride is larger than the output (thousands of one-column phases).
constexpr int64_t kPhaseGroup = 16;

// The widest tile of the direct and fused paths, in vectors: no input row is padded by more than
// this many vectors on either side, however large the padding or dilation (tiles leave out the
// taps that read no input column for their outputs; see DirectLayout).
constexpr int64_t kMaxPadVectors = 6;
static_assert(*std::max_element(std::begin(kDirectNv), std::end(kDirectNv)) <= kMaxPadVectors &&
              kMaxFusedNv <= kMaxPadVectors);

// A column phase as the direct path sees it: its outputs (qlo = first phase unit), its segment
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

// Whether the tap of input offset a reads an input column for outputs j0..j1-1 of a column
// phase whose first output is phase unit qlo (output j reads column qlo - a + j). A tap that
// does not adds exactly nothing there (the reference sums only taps whose input exists), so the
// direct path leaves it out. No overflow: qlo < 2^62 + 2^60, j1 <= count < 2^60
// (active_phases()) and 0 <= a < 2^63 (phase_set()).
bool reaches_input(int64_t qlo, int64_t a, int64_t j0, int64_t j1, int64_t wd) {
  return qlo - a + j1 - 1 >= 0 && qlo - a + j0 <= wd - 1;
}

// The direct tiles of a phase row of `count` outputs: at most nv_max vectors each, of as equal a
// width as possible (56 columns: 2 + 2 vectors, not 3 + 1, whose one-vector tile has too few
// accumulators to keep the FMA units busy). f(j0, j1, nv) for each, outputs j0..j1-1.
template <class F>
void for_each_tile(int64_t count, int64_t lanes, int nv_max, const F& f) {
  const int lane_shift = std::countr_zero(static_cast<uint64_t>(lanes));
  const int64_t row_vecs = (count + lanes - 1) >> lane_shift;
  const int64_t ntiles = (row_vecs + nv_max - 1) / nv_max;
  for (int64_t ti = 0, j0 = 0; ti < ntiles; ++ti) {
    const int nv = static_cast<int>(row_vecs / ntiles + (ti < row_vecs % ntiles));
    const int64_t j1 = std::min(count, j0 + lanes * nv);
    f(j0, j1, nv);
    j0 = j1;
  }
}

// The GEMM's packed input panel: about 5/6 of the L1 data cache, the rest for the weights
// streaming past it and the results (Zen 5's 48 KiB: 40 KiB, measured best among 16-44 KiB on
// dcgan-2, dcgan-b16 and pose-head; a 32 KiB L1 gets 26.7 KiB).
int64_t gemm_panel_bytes() {
  static const int64_t bytes = [] {
    const long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE);
    return (l1 >= 16 * 1024 && l1 <= 1024 * 1024 ? int64_t{l1} : int64_t{32 * 1024}) * 5 / 6;
  }();
  return bytes;
}

// The most taps of one phase: its row taps times its column taps.
int64_t max_phase_taps(const PhaseSet& rows, const PhaseSet& cols) {
  const auto most = [](const PhaseSet& ps) {
    int64_t m = 0;
    for (const PhaseTaps& t : ps.taps) m = std::max(m, t.size());
    return m;
  };
  return most(rows) * most(cols);  // <= kh·kw
}

}  // namespace

std::unique_ptr<PackedWeights::Impl> plan_skeleton(const Params& p, Isa isa, Path path) {
  auto pl = std::make_unique<PackedWeights::Impl>();
  pl->p = p;
  pl->isa = isa;
  pl->kernels = isa == Isa::kAvx512 ? &avx512_kernels()
                : isa == Isa::kAvx2 ? &avx2_kernels()
                                    : &scalar_kernels();
  pl->g = p.groups;
  pl->icg = p.in_channels / p.groups;
  pl->ocg = p.out_channels / p.groups;
  pl->kh = p.kernel_size.h;
  pl->kw = p.kernel_size.w;
  pl->rows = phase_set(pl->kh, p.stride.h, p.dilation.h);
  pl->cols = phase_set(pl->kw, p.stride.w, p.dilation.w);
  pl->gemm = path == Path::kGemm;  // kAuto was resolved by pack()
  pl->mr_block = pl->gemm ? pl->kernels->gemm_mr : pl->kernels->direct_mr;
  pl->ocblocks = ceil_div(pl->ocg, pl->mr_block);
  pl->kc_block = gemm_panel_bytes() / (4 * pl->kernels->lanes * kGemmNv);
  pl->max_taps = max_phase_taps(pl->rows, pl->cols);

  // The fused-phase variant of the direct path, where it applies (see Impl::fused); make_plan()
  // turns it off for weights that are not all finite.
  const auto shared_offsets = [](const PhaseSet& ps) {
    return std::all_of(ps.taps.begin(), ps.taps.end(),
                       [&](const PhaseTaps& t) { return t.a == ps.taps[0].a; });
  };
  const int64_t nph = pl->rows.count() * pl->cols.count();
  if (!pl->gemm && pl->ocg == 1 && nph >= 2 && nph <= kMaxFusedP && shared_offsets(pl->rows) &&
      shared_offsets(pl->cols)) {
    pl->fused = true;
    pl->fused_p = nph;
    pl->fused_ah = pl->rows.taps[0].a;
    pl->fused_aw = pl->cols.taps[0].a;
  }
  // Path::kStream: the stream layout (stream.h) instead of the phase panels.
  if (path == Path::kStream) {
    pl->fused = false;
    pl->fused_p = 0;
    pl->fused_ah = {};
    pl->fused_aw = {};
    stream_skeleton(p, *pl->kernels, pl->stream);
  }
  return pl;
}

std::unique_ptr<PackedWeights::Impl> make_plan(const Params& p, const Tensor<float>& w, Isa isa,
                                               Path path) {
  auto pl = plan_skeleton(p, isa, path);
  if (pl->stream.on) {
    stream_pack(p, w, pl->stream);
    return pl;
  }
  const int64_t nry = pl->rows.count(), nrx = pl->cols.count();
  // g·nry·nrx·ocblocks <= OC·kh·kw <= the weight count: it fits.
  pl->offsets.reserve(static_cast<size_t>(pl->g * nry * nrx * pl->ocblocks));
  int64_t total = 0;
  for (int64_t gi = 0; gi < pl->g; ++gi) {
    for (int64_t iry = 0; iry < nry; ++iry) {
      for (int64_t irx = 0; irx < nrx; ++irx) {
        const int64_t k_total = pl->taps(iry, irx) * pl->icg;
        for (int64_t ocb = 0; ocb < pl->ocblocks; ++ocb) {
          const int64_t mr = std::min(pl->mr_block, pl->ocg - ocb * pl->mr_block);
          pl->offsets.push_back(total);
          total += k_total * mr;
        }
      }
    }
  }
  // Every weight lands in exactly one phase, so the packed size equals the weight count.
  pl->packed.resize(static_cast<size_t>(total));
  const float* src = w.ptr();
  for (int64_t gi = 0; gi < pl->g; ++gi) {
    for (int64_t iry = 0; iry < nry; ++iry) {
      for (int64_t irx = 0; irx < nrx; ++irx) {
        const PhaseTaps& rt = pl->rows.taps[static_cast<size_t>(iry)];
        const PhaseTaps& ct = pl->cols.taps[static_cast<size_t>(irx)];
        for (int64_t ih = 0; ih < rt.size(); ++ih) {
          for (int64_t iw = 0; iw < ct.size(); ++iw) {
            const int64_t t = ih * ct.size() + iw;
            for (int64_t c = 0; c < pl->icg; ++c) {
              for (int64_t o = 0; o < pl->ocg; ++o) {
                pl->packed[static_cast<size_t>(pl->index(gi, iry, irx, t, c, o))] =
                    src[(((gi * pl->icg + c) * pl->ocg + o) * pl->kh + rt.k[ih]) * pl->kw +
                        ct.k[iw]];
              }
            }
          }
        }
      }
    }
  }
  pl->weights_finite =
      std::all_of(w.data.begin(), w.data.end(), [](float v) { return std::isfinite(v); });
  if (!pl->weights_finite) {
    pl->fused = false;
    pl->fused_p = 0;
    pl->fused_ah = {};
    pl->fused_aw = {};
  }
  if (pl->fused) {
    const int64_t nph = pl->fused_p;
    const int64_t nah = static_cast<int64_t>(pl->fused_ah.size());
    const int64_t naw = static_cast<int64_t>(pl->fused_aw.size());
    pl->fused_w.resize(static_cast<size_t>(pl->g * nah * naw * pl->icg * nph));  // = weights
    for (int64_t gi = 0; gi < pl->g; ++gi) {
      for (int64_t gh = 0; gh < nah; ++gh) {
        for (int64_t gw = 0; gw < naw; ++gw) {
          float* dst = pl->fused_w.data() + pl->fused_index(gi, gh, gw);
          for (int64_t c = 0; c < pl->icg; ++c) {
            for (int64_t iry = 0; iry < nry; ++iry) {
              for (int64_t irx = 0; irx < nrx; ++irx) {
                const int64_t fh =
                    pl->rows.taps[static_cast<size_t>(iry)].k[static_cast<size_t>(gh)];
                const int64_t fw =
                    pl->cols.taps[static_cast<size_t>(irx)].k[static_cast<size_t>(gw)];
                dst[c * nph + iry * nrx + irx] =
                    src[((gi * pl->icg + c) * pl->kh + fh) * pl->kw + fw];
              }
            }
          }
        }
      }
    }
  }
  return pl;
}

namespace {

// One input row into a zero-padded row of wp floats, pad_l zeros first.
void pad_row(const float* src, int64_t wd, int64_t pad_l, int64_t wp, float* dst) {
  std::fill(dst, dst + pad_l, 0.0f);
  std::copy(src, src + wd, dst + pad_l);
  std::fill(dst + pad_l + wd, dst + wp, 0.0f);
}

// The whole input, every row zero-padded to wp floats (pad_l zeros first), on nt threads. The
// buffer belongs to the calling thread and later runs reuse it: a fresh allocation of this size
// would be fresh pages, whose first-touch faults cost as much as the copy itself. `floats` is
// in_rows·wp, computed with checked arithmetic by the caller's layout.
float* pad_input(const Tensor<float>& x, int64_t pad_l, int64_t wp, int64_t floats, int nt) {
  const int64_t wd = x.shape[3], in_rows = x.shape[0] * x.shape[1] * x.shape[2];
  thread_local AlignedVector<float> padded;
  if (padded.size() < static_cast<size_t>(floats)) {
    padded = AlignedVector<float>(static_cast<size_t>(floats));
  }
  float* const xp = padded.data();
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < in_rows; ++r) pad_row(x.ptr() + r * wd, wd, pad_l, wp, xp + r * wp);
  return xp;
}

// True when interleave_phases() can build an output row: a power-of-two stride of at least 4 in W
// and every one of its phases with outputs and in one phase group.
bool interleaves(int64_t sw, int64_t ncx) {
  return sw >= 4 && sw <= kPhaseGroup && std::has_single_bit(static_cast<uint64_t>(sw)) &&
         ncx == sw;
}

// One output row from its sw column phases (interleaves(sw, ncx); phase(ai) gives the values of
// the phase whose outputs are ai, ai + sw, ...): log2(sw) rounds of interleave2, each zipping the
// outputs o = r and o = r + m (mod 2m) into o = r (mod m), instead of a strided scalar store per
// element. scratch: 2·ow floats.
template <class PhaseRow>
void interleave_phases(const KernelTable& k, int64_t sw, int64_t ow, const PhaseRow& phase,
                       float* scratch, float* yrow) {
  const float* src[kPhaseGroup];
  for (int64_t r = 0; r < sw; ++r) src[r] = phase(r);
  for (int64_t m = sw / 2, level = 0; m >= 1; m /= 2, ++level) {
    float* const out = m == 1 ? yrow : scratch + (level % 2) * ow;
    const int shift = std::countr_zero(static_cast<uint64_t>(m));  // no divisions: 7 per row
    for (int64_t r = 0, off = 0; r < m; ++r) {
      const int64_t len = (ow - r + m - 1) >> shift;  // outputs o = r (mod m)
      k.interleave2(src[r], src[r + m], out + off, len);
      src[r] = out + off;  // src[r + m] is read before it could be overwritten: r + m >= m
      off += len;
    }
  }
}

// The column phases xs[ax0, ax1) of one output row into yrow, each element written once: whole
// rows when the group holds every phase of stride 1, 2 or a power of two up to kPhaseGroup, a
// strided store per element otherwise. phase(ai) gives phase ai's values; scratch: 2·ow floats
// where interleaves(sw, xs.size()).
template <class PhaseRow>
void write_output_row(const KernelTable& k, const std::vector<ActivePhase>& xs, int64_t ax0,
                      int64_t ax1, int64_t sw, int64_t ow, const PhaseRow& phase, float* scratch,
                      float* yrow) {
  const int64_t ncx = static_cast<int64_t>(xs.size());
  if (sw == 1) {
    std::copy_n(phase(0), ow, yrow);
  } else if (sw == 2 && ncx == 2) {
    k.interleave2(phase(0), phase(1), yrow, ow);
  } else if (interleaves(sw, ncx)) {
    interleave_phases(k, sw, ow, phase, scratch, yrow);
  } else {
    for (int64_t ai = ax0; ai < ax1; ++ai) {
      const ActivePhase& sx = xs[static_cast<size_t>(ai)];
      const float* src = phase(ai);
      for (int64_t j = 0; j < sx.count; ++j) yrow[sx.first + j * sw] = src[j];
    }
  }
}

// Most taps per column phase (valid row taps × column taps) the fused stride-2 row kernel takes.
constexpr int64_t kMaxRow2Taps = 64;

// Largest padded group (input channels × rows × padded width) a work item pads for itself.
constexpr int64_t kLocalPadFloats = 64 * 1024;

// Most output rows per direct-path run, and the row buffer a run may fill (16 KiB: it stays in
// L1 between the tiles that write it and the pass that moves it to the output).
constexpr int64_t kMaxRunRows = 8;
constexpr int64_t kRunBufferFloats = 4096;

// How the direct path lays out one run, for execute_direct() and run_bytes() alike: the column
// phases with outputs (in groups of kPhaseGroup) with the column taps each keeps, the row buffer,
// and the zero padding of the input rows in W that lets every tile read whole vectors without
// checks.
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
    for (const int64_t mr : {mr_full, mr_last}) {
      for_each_tile(count, lanes, kDirectNv[mr], [&](int64_t j0, int64_t j1, int nv) {
        for (int64_t iw = c.iw0; iw < c.iw1; ++iw) {
          const int64_t a = ct.a[static_cast<size_t>(iw)];
          if (!reaches_input(c.qlo, a, j0, j1, wd)) {
            c.every_tile = false;
            continue;
          }
          const int64_t first = c.qlo - a + j0;  // the first input column the tile reads
          dl.pad_l = std::max(dl.pad_l, -first);
          dl.pad_r = std::max(dl.pad_r, first + nv * lanes - 1 - (wd - 1));
        }
      });
    }
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

DirectLayout direct_layout(const PackedWeights::Impl& pl, const Shape& x, const Shape& y, int nt) {
  const int64_t n_batch = x[0], h = x[2], wd = x[3], ow = y[3];
  const int64_t sw = pl.p.stride.w, lanes = pl.kernels->lanes;
  DirectLayout dl;
  dl.xs = active_phases(ow, pl.p.padding.w, sw);
  const int64_t ncx = static_cast<int64_t>(dl.xs.size());
  dl.cp.resize(static_cast<size_t>(ncx));
  int64_t most_kept = 0;
  for (int64_t ax0 = 0; ax0 < ncx; ax0 += kPhaseGroup) {
    int64_t group_len = 0;
    for (int64_t ai = ax0; ai < std::min(ncx, ax0 + kPhaseGroup); ++ai) {
      const ActivePhase& ap = dl.xs[static_cast<size_t>(ai)];
      ColumnPhase& c = dl.cp[static_cast<size_t>(ai)];
      c.qlo = ap.lo;
      c.count = ap.count;
      c.first = ap.first;
      c.padded = ceil_div(c.count, lanes) * lanes;
      c.offset = group_len;
      group_len += c.padded;  // <= ow + kPhaseGroup·lanes
      c.irx = pl.cols.find(ap.r);
      if (c.irx < 0) continue;
      // Taps whose input columns for all of the phase's outputs lie beside the input (a huge
      // padding or dilation) add nothing anywhere in it: left out of every tile.
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
      most_kept = std::max(most_kept, c.iw1 - c.iw0);
    }
    dl.row_len = std::max(dl.row_len, group_len);
  }
  int64_t most_row_taps = 0;
  for (const PhaseTaps& rt : pl.rows.taps) most_row_taps = std::max(most_row_taps, rt.size());
  dl.max_taps = most_row_taps * most_kept;  // <= kh·kw

  // Single-channel layers with stride 2 in W (depthwise upsampling) take the fused row kernel.
  const std::vector<ColumnPhase>& cp = dl.cp;
  const bool row2_shape = pl.icg == 1 && pl.ocg == 1 && sw == 2 && ncx == 2 && pl.weights_finite &&
                          cp[0].has_taps && cp[1].has_taps &&
                          pl.kh * (cp[0].iw1 - cp[0].iw0) <= kMaxRow2Taps &&
                          pl.kh * (cp[1].iw1 - cp[1].iw0) <= kMaxRow2Taps;
  const auto [row2_l, row2_r] =
      row2_shape ? row2_padding(pl, wd, dl) : std::pair<int64_t, int64_t>{-1, -1};
  dl.row2 = row2_l >= 0;
  dl.zip_layer = sw == 2 && ncx == 2 && cp[0].has_taps && cp[1].has_taps && pl.weights_finite;
  if (dl.row2) {
    dl.pad_l = row2_l;
    dl.pad_r = row2_r;
  } else {
    pad_for_tiles(pl, wd, dl);
  }
  // Both paddings are at most kMaxPadVectors vectors.
  dl.wp = checked_add(wd, dl.pad_l + dl.pad_r, "padded input row");
  // Where the zero-padded input comes from. With many small groups (depthwise, grouped layers),
  // each work item is one (image, group) and pads its own channels into a thread-local buffer
  // that stays in L1/L2; otherwise the whole input is padded once up front and items are blocks
  // of output rows.
  dl.group_floats = checked_mul(pl.icg * h, dl.wp, "padded input group");  // icg·h: input rows
  dl.local_pad = dl.group_floats <= kLocalPadFloats && n_batch * pl.g >= 4 * nt;
  if (!dl.local_pad) {
    dl.padded_floats = checked_mul(n_batch * x[1] * h, dl.wp, "padded input");
  }
  // Consecutive phase rows of one row phase that read the same row taps form a run of at most
  // run_max rows, and one tile call covers the whole run (each row a fixed step further in the
  // input, the buffer and the output): the set-up of a call is then paid once per run, not once
  // per row (grouped-g4: with a call per row, a fifth of the time went outside the kernels).
  dl.rstride = checked_mul(pl.mr_block, dl.row_len, "direct row buffer");
  dl.run_max = std::clamp<int64_t>(kRunBufferFloats / dl.rstride, 1, kMaxRunRows);
  dl.buf_floats = dl.run_max * dl.rstride;  // <= max(kRunBufferFloats, rstride)
  return dl;
}

// The taps of one tile call that reach the input for its outputs j0..j1-1 (reaches_input), out
// of the n of a run whose offsets and weights are xoff, a, wtap, copied into the k* arrays;
// returns their count. For the tiles of a phase far wider than the input (a huge dilation),
// whose taps each reach only some of its tiles.
int64_t tile_taps(int64_t qlo, int64_t j0, int64_t j1, int64_t wd, int64_t n, const int64_t* xoff,
                  const int64_t* a, const float* const* wtap, int64_t* kxoff, int64_t* ka,
                  const float** kwtap) {
  int64_t kept = 0;
  for (int64_t t = 0; t < n; ++t) {
    if (!reaches_input(qlo, a[t], j0, j1, wd)) continue;
    kxoff[kept] = xoff[t];
    ka[kept] = a[t];
    kwtap[kept] = wtap[t];
    ++kept;
  }
  return kept;
}

// The direct path: no packing of the input; tiles read the zero-padded input rows in place.
// Used for few output channels per group, where packing would not be reused.
void execute_direct(const PackedWeights::Impl& pl, const Tensor<float>& x, const float* b,
                    Tensor<float>& y, int nt) {
  const int64_t n_batch = x.shape[0], ic = x.shape[1], h = x.shape[2], wd = x.shape[3];
  const int64_t oc = y.shape[1], oh = y.shape[2], ow = y.shape[3];
  if (y.size() == 0) return;
  const Params& p = pl.p;
  const int64_t sh = p.stride.h, sw = p.stride.w, ph = p.padding.h;
  const int64_t lanes = pl.kernels->lanes;

  const DirectLayout dl = direct_layout(pl, x.shape, y.shape, nt);
  const std::vector<ActivePhase>& xs = dl.xs;
  const std::vector<ColumnPhase>& cp = dl.cp;
  const int64_t ncx = static_cast<int64_t>(xs.size());
  const int64_t row_len = dl.row_len, pad_l = dl.pad_l, wp = dl.wp;
  const bool row2 = dl.row2, zip_layer = dl.zip_layer, local_pad = dl.local_pad;
  const float* const xp = local_pad ? nullptr : pad_input(x, pad_l, wp, dl.padded_floats, nt);

  // Items of kDirectRows output rows (or whole planes with local padding): the per-item
  // bookkeeping is then small next to the work even for depthwise layers. At most N·G·OH items,
  // fewer than the output's elements.
  constexpr int64_t kDirectRows = 8;
  const int64_t rows_per_item = local_pad ? oh : kDirectRows;
  const int64_t row_blocks = ceil_div(oh, rows_per_item);
  const int64_t items = n_batch * pl.g * row_blocks;
  const int64_t rstride = dl.rstride, run_max = dl.run_max;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    AlignedVector<float> buf(static_cast<size_t>(dl.buf_floats));
    const size_t max_taps = static_cast<size_t>(dl.max_taps);
    std::vector<int64_t> xoff(max_taps), tap_a(max_taps), kxoff(max_taps), ktap_a(max_taps);
    std::vector<const float*> wtap(max_taps), kwtap(max_taps);
    std::vector<int64_t> valid_ih(static_cast<size_t>(pl.kh));
    AlignedVector<float> local(local_pad ? static_cast<size_t>(dl.group_floats) : 0);
    // 2·ow < 2^61: validate() keeps ow below 2^60.
    AlignedVector<float> scratch(interleaves(sw, ncx) ? static_cast<size_t>(2 * ow) : 0);
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t rb = item % row_blocks, gi = (item / row_blocks) % pl.g;
      const int64_t n = item / (row_blocks * pl.g);
      if (local_pad) {
        const float* group_x = x.ptr() + (n * ic + gi * pl.icg) * h * wd;
        for (int64_t r = 0; r < pl.icg * h; ++r) {
          pad_row(group_x + r * wd, wd, pad_l, wp, local.data() + r * wp);
        }
      }
      const float* xg = local_pad ? local.data() : xp + (n * ic + gi * pl.icg) * h * wp;
      const int64_t oy0 = rb * rows_per_item, oy1 = std::min(oh, oy0 + rows_per_item);
      // The item's rows by row phase: rows oys + k·sh for each first row oys (at most
      // rows_per_item of them, whatever the stride).
      for (int64_t oys = oy0; oys < std::min(oy1, oy0 + sh); ++oys) {
        const int64_t ry = (oys + ph) % sh, qys = (oys + ph) / sh;
        const int64_t chain = (oy1 - 1 - oys) / sh + 1;
        const int64_t iry = pl.rows.find(ry);
        const PhaseTaps& rt = pl.rows.of(ry);
        const auto valid = [&](int64_t qy, int64_t ih) {
          const int64_t iy = qy - rt.a[static_cast<size_t>(ih)];
          return iy >= 0 && iy < h;
        };
        for (int64_t k = 0, nrows = 0; k < chain; k += nrows) {
          const int64_t qy = qys + k, oy = oys + k * sh;
          int64_t nvalid = 0;
          for (int64_t ih = 0; ih < rt.size(); ++ih) {
            if (valid(qy, ih)) valid_ih[static_cast<size_t>(nvalid++)] = ih;
          }
          // The run: following rows with the same valid row taps.
          nrows = 1;
          while (k + nrows < chain && nrows < run_max) {
            bool same = true;
            for (int64_t ih = 0; ih < rt.size() && same; ++ih) {
              same = valid(qy + nrows, ih) == valid(qy, ih);
            }
            if (!same) break;
            ++nrows;
          }
          // Stride 2 with both column phases reached by taps and finite weights: the odd phase's
          // tiles store both phases interleaved into the output rows.
          const bool zip = zip_layer && nvalid > 0;
          for (int64_t ocb = 0; ocb < pl.ocblocks; ++ocb) {
            const int64_t mr = std::min(pl.mr_block, pl.ocg - ocb * pl.mr_block);
            float bias[kMaxDirectMr] = {};
            for (int64_t m = 0; m < mr; ++m)
              bias[m] = b ? b[gi * pl.ocg + ocb * pl.mr_block + m] : 0.0f;
            // Output row oy of channel m of the block, for the run's row r.
            const auto yrow_of = [&](int64_t r, int64_t m) {
              return y.ptr() +
                     ((n * oc + gi * pl.ocg + ocb * pl.mr_block + m) * oh + oy + r * sh) * ow;
            };
            if (row2 && nvalid > 0) {
              // One channel, stride 2 in W: both column phases in registers, straight to y.
              int64_t xo[2][kMaxRow2Taps];
              float wv[2][kMaxRow2Taps];
              Row2Args r2{};
              for (int64_t ai = 0; ai < 2; ++ai) {
                const ColumnPhase& c = cp[static_cast<size_t>(ai)];
                const PhaseTaps& ct = pl.cols.taps[static_cast<size_t>(c.irx)];
                const float* panel = pl.panel(gi, iry, c.irx, ocb);
                int64_t taps = 0;
                for (int64_t v = 0; v < nvalid; ++v) {
                  const int64_t ih = valid_ih[static_cast<size_t>(v)];
                  for (int64_t iw = c.iw0; iw < c.iw1; ++iw) {
                    xo[ai][taps] = (qy - rt.a[ih]) * wp + pad_l + c.qlo - ct.a[iw];
                    wv[ai][taps] = panel[ih * ct.size() + iw];
                    ++taps;
                  }
                }
                r2.xoff[ai] = xo[ai];
                r2.w[ai] = wv[ai];
                r2.ntaps[ai] = taps;
              }
              r2.bias = bias[0];
              r2.n = ow;
              for (int64_t r = 0; r < nrows; ++r) {
                r2.x = xg + r * wp;
                r2.out = yrow_of(r, 0);
                pl.kernels->row2(r2);
              }
              continue;
            }
            for (int64_t ax0 = 0; ax0 < ncx; ax0 += kPhaseGroup) {
              const int64_t ax1 = std::min(ncx, ax0 + kPhaseGroup);
              for (int64_t ai = ax0; ai < ax1; ++ai) {
                const ColumnPhase& c = cp[static_cast<size_t>(ai)];
                float* seg = buf.data() + c.offset;
                if (!c.has_taps || nvalid == 0) {
                  // No tap reaches these outputs: the bias alone.
                  for (int64_t r = 0; r < nrows; ++r) {
                    for (int64_t m = 0; m < mr; ++m) {
                      float* s = seg + r * rstride + m * row_len;
                      std::fill(s, s + c.count, bias[m]);
                    }
                  }
                  continue;
                }
                const PhaseTaps& ct = pl.cols.taps[static_cast<size_t>(c.irx)];
                const int64_t ntw = ct.size();
                const float* panel = pl.panel(gi, iry, c.irx, ocb);
                int64_t taps = 0;
                for (int64_t v = 0; v < nvalid; ++v) {
                  const int64_t ih = valid_ih[static_cast<size_t>(v)];
                  const int64_t iy = qy - rt.a[ih];
                  for (int64_t iw = c.iw0; iw < c.iw1; ++iw) {
                    // No overflow: iy·wp is within the padded input, qlo < 2^62 + 2^60 and
                    // qlo - a in [1 - count, wd - 1] for a kept tap.
                    xoff[static_cast<size_t>(taps)] = iy * wp + pad_l + c.qlo - ct.a[iw];
                    tap_a[static_cast<size_t>(taps)] = ct.a[iw];
                    wtap[static_cast<size_t>(taps)] = panel + (ih * ntw + iw) * pl.icg * mr;
                    ++taps;
                  }
                }
                TileArgs a{};
                a.icg = pl.icg;
                a.chan_stride = h * wp;
                a.bias = bias;
                a.out_stride = row_len;
                a.rows = nrows;
                a.x_row_step = wp;
                a.out_row_step = rstride;
                // A run of several rows has them sh apart inside the output, so sh·ow fits; a
                // single row never steps (sh·ow may then exceed int64: a stride of 2^62).
                a.y_row_step = nrows > 1 ? sh * ow : 0;
                const int nv_max = kDirectNv[mr];
                // The odd phase of stride 2 interleaves with the even one in its stores.
                const bool zip_tile = zip && ai == 1;
                float* const yrow0 = yrow_of(0, 0);
                a.y_stride = oh * ow;
                // Zipped tiles run over the even phase's columns: with an odd width it has one
                // more (the odd phase's extra column is computed from the padding and not stored).
                const int64_t count = zip_tile ? cp[0].count : c.count;
                for_each_tile(count, lanes, nv_max, [&](int64_t j0, int64_t j1, int nv) {
                  a.x = xg + j0;
                  a.out = seg + j0;
                  // Every tap of the run, unless some read no input column for these outputs
                  // (a phase much wider than the input): those are left out, and so the
                  // padding need not reach them.
                  a.ntaps = taps;
                  a.xoff = xoff.data();
                  a.wtap = wtap.data();
                  const int64_t* ta = tap_a.data();
                  if (!c.every_tile) {
                    a.ntaps = tile_taps(c.qlo, j0, j1, wd, taps, xoff.data(), tap_a.data(),
                                        wtap.data(), kxoff.data(), ktap_a.data(), kwtap.data());
                    a.xoff = kxoff.data();
                    a.wtap = kwtap.data();
                    ta = ktap_a.data();
                  }
                  // Input columns this tile reads for outputs j0..j1-1: qlo + j - a.
                  const bool touches_padding =
                      c.qlo + j0 - c.amax < 0 || c.qlo + j1 - 1 - c.amin > wd - 1;
                  if (zip_tile) {
                    a.partner = buf.data() + cp[0].offset + j0;
                    a.y = yrow0 + 2 * j0;
                    a.y_n = ow - 2 * j0;
                    pl.kernels->direct_zip[mr][nv](a);
                  } else if (pl.weights_finite || !touches_padding) {
                    pl.kernels->direct[mr][nv](a);
                  } else {
                    // 0·Inf is NaN: sum only the taps whose input column exists, as the
                    // definition does.
                    for (int64_t r = 0; r < nrows; ++r) {
                      for (int64_t m = 0; m < mr; ++m) {
                        for (int64_t j = j0; j < j1; ++j) {
                          float acc = bias[m];
                          for (int64_t t = 0; t < a.ntaps; ++t) {
                            const int64_t ix = c.qlo + j - ta[t];
                            if (ix < 0 || ix >= wd) continue;
                            const float* xq = xg + r * wp + a.xoff[t] + j;
                            const float* wq = a.wtap[t] + m;
                            for (int64_t ci = 0; ci < pl.icg; ++ci) {
                              acc += wq[ci * mr] * xq[ci * h * wp];
                            }
                          }
                          seg[r * rstride + m * row_len + j] = acc;
                        }
                      }
                    }
                  }
                });
              }
              // The group's column phases into the output rows: each element written once.
              for (int64_t r = 0; r < nrows && !zip; ++r) {
                for (int64_t m = 0; m < mr; ++m) {
                  const float* bm = buf.data() + r * rstride + m * row_len;
                  const auto phase = [&](int64_t ai) {
                    return bm + cp[static_cast<size_t>(ai)].offset;
                  };
                  write_output_row(*pl.kernels, xs, ax0, ax1, sw, ow, phase, scratch.data(),
                                   yrow_of(r, m));
                }
              }
            }
          }
        }
      }
    }
  }
}

// The fused-phase direct path (Impl::fused): per phase row qy and block of phase columns qx,
// every phase's outputs of one channel in one tile; then the phase rows into output rows. The
// input is zero-padded in W once so that tiles read full vectors without checks.
constexpr int64_t kFusedRows = 4;  // phase rows per work item

// How the fused-phase path lays out one run, for execute_fused() and run_bytes() alike: the
// phase units covering the output (oy = qy·sh - ph + ry for qy in [qy_lo, qy_hi], ry < sh; the
// same in W), the tiles' row of ld floats per phase, and the zero padding of the input rows: the
// tiles read input columns qx - aw for qx in [qx_lo, qx_lo + ld) and every tap offset aw.
struct FusedLayout {
  int64_t qy_lo = 0, qy_hi = 0, qx_lo = 0, qx_hi = 0, nvec = 0, ld = 0;
  int64_t pad_l = 0, pad_r = 0, wp = 0, padded_floats = 0;
  /// The phase rows' results of a thread: fused_p·ld floats.
  int64_t buf_floats = 0;
  /// False where that padding is more than kMaxPadVectors on a side (a huge padding or dilation
  /// puts whole tap offsets beside the input): the direct path, whose tiles leave such taps out,
  /// runs instead.
  bool fits = false;
};

FusedLayout fused_layout(const PackedWeights::Impl& pl, const Shape& x, const Shape& y) {
  const int64_t wd = x[3], oh = y[2], ow = y[3];
  const Params& p = pl.p;
  const int64_t lanes = pl.kernels->lanes;
  FusedLayout fl;
  // oh - 1 + ph < 2^63 (see active_phases()).
  fl.qy_lo = p.padding.h / p.stride.h;
  fl.qy_hi = (oh - 1 + p.padding.h) / p.stride.h;
  fl.qx_lo = p.padding.w / p.stride.w;
  fl.qx_hi = (ow - 1 + p.padding.w) / p.stride.w;
  fl.nvec = ceil_div(fl.qx_hi - fl.qx_lo + 1, lanes);  // <= ow / sw + 1 units
  fl.ld = fl.nvec * lanes;
  const auto [aw_min, aw_max] = std::minmax_element(pl.fused_aw.begin(), pl.fused_aw.end());
  fl.pad_l = std::max<int64_t>(0, *aw_max - fl.qx_lo);
  fl.pad_r = std::max<int64_t>(0, fl.qx_lo + fl.ld - 1 - *aw_min - (wd - 1));
  fl.fits = fl.pad_l <= kMaxPadVectors * lanes && fl.pad_r <= kMaxPadVectors * lanes;
  if (fl.fits) {
    fl.wp = wd + fl.pad_l + fl.pad_r;
    fl.padded_floats = checked_mul(x[0] * x[1] * x[2], fl.wp, "padded input");
  }
  fl.buf_floats = checked_mul(pl.fused_p, fl.ld, "fused phase rows");
  return fl;
}

void execute_fused(const PackedWeights::Impl& pl, const FusedLayout& fl, const Tensor<float>& x,
                   const float* b, Tensor<float>& y, int nt) {
  const int64_t n_batch = x.shape[0], ic = x.shape[1], h = x.shape[2];
  const int64_t oc = y.shape[1], oh = y.shape[2], ow = y.shape[3];
  const Params& p = pl.p;
  const int64_t sh = p.stride.h, sw = p.stride.w, ph = p.padding.h, pw = p.padding.w;
  const int64_t lanes = pl.kernels->lanes;
  const int64_t nrx = pl.cols.count(), nph = pl.fused_p;
  const int64_t nah = static_cast<int64_t>(pl.fused_ah.size());
  const int64_t naw = static_cast<int64_t>(pl.fused_aw.size());
  const int64_t qy_lo = fl.qy_lo, qy_hi = fl.qy_hi, qx_lo = fl.qx_lo;
  const int64_t nvec = fl.nvec, ld = fl.ld, pad_l = fl.pad_l, wp = fl.wp;
  const float* const xp = pad_input(x, pad_l, wp, fl.padded_floats, nt);

  // Where output column ox comes from in a phase row's results: phase (ox + pw) mod sw at unit
  // (ox + pw) / sw, or -1 when no tap reaches that column phase (the bias alone).
  std::vector<int64_t> src_of(static_cast<size_t>(ow));
  for (int64_t ox = 0; ox < ow; ++ox) {
    const int64_t irx = pl.cols.find((ox + pw) % sw);
    src_of[static_cast<size_t>(ox)] = irx < 0 ? -1 : irx * ld + (ox + pw) / sw - qx_lo;
  }
  // Stride 2 with both column phases: even outputs come from one phase, odd from the other.
  const bool interleave = sw == 2 && nrx == 2 && ow >= 2;
  const int nv_max = pl.kernels->fused_nv[nph];
  const int64_t ntiles = ceil_div(nvec, int64_t{nv_max});
  const int64_t bands = ceil_div(qy_hi - qy_lo + 1, kFusedRows);
  const int64_t items = n_batch * pl.g * bands;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    AlignedVector<float> buf(static_cast<size_t>(fl.buf_floats));
    std::vector<int64_t> xoff(static_cast<size_t>(nah * naw));  // <= kh·kw
    std::vector<const float*> wtap(static_cast<size_t>(nah * naw));
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t band = item % bands, gi = (item / bands) % pl.g, n = item / (bands * pl.g);
      const float* xg = xp + (n * ic + gi * pl.icg) * h * wp;
      const float bias = b ? b[gi] : 0.0f;
      float* yplane = y.ptr() + (n * oc + gi) * oh * ow;
      const int64_t q0 = qy_lo + band * kFusedRows;
      for (int64_t qy = q0; qy < std::min(qy_hi + 1, q0 + kFusedRows); ++qy) {
        // The tap groups whose input row exists: the same rows for every phase.
        int64_t groups = 0;
        for (int64_t gh = 0; gh < nah; ++gh) {
          const int64_t iy = qy - pl.fused_ah[static_cast<size_t>(gh)];
          if (iy < 0 || iy >= h) continue;
          for (int64_t gw = 0; gw < naw; ++gw) {
            // No overflow: iy·wp is within the padded input, qx_lo < 2^62, and qx_lo - aw is
            // within a padded row (fl.fits).
            xoff[static_cast<size_t>(groups)] =
                iy * wp + pad_l + qx_lo - pl.fused_aw[static_cast<size_t>(gw)];
            wtap[static_cast<size_t>(groups)] = pl.fused_w.data() + pl.fused_index(gi, gh, gw);
            ++groups;
          }
        }
        if (groups == 0) {
          std::fill(buf.begin(), buf.end(), bias);
        } else {
          TileArgs a{};
          a.xoff = xoff.data();
          a.wtap = wtap.data();
          a.ntaps = groups;
          a.icg = pl.icg;
          a.chan_stride = h * wp;
          a.bias = &bias;
          a.out_stride = ld;
          // Tiles of as equal a width as possible (see execute_gemm).
          for (int64_t ti = 0, v0 = 0; ti < ntiles; ++ti) {
            const int64_t tv = nvec / ntiles + (ti < nvec % ntiles ? 1 : 0);
            a.x = xg + v0 * lanes;
            a.out = buf.data() + v0 * lanes;
            pl.kernels->fused[nph][tv](a);
            v0 += tv;
          }
        }
        // The phase row's results into output rows qy·sh - ph + ry: each element written once.
        // Only the ry whose rows exist are visited (a stride of 10^9 has at most oh of them).
        const int64_t ry0 = std::max<int64_t>(0, ph - qy * sh);
        const int64_t ry1 = std::min(sh, oh + ph - qy * sh);
        for (int64_t ry = ry0; ry < ry1; ++ry) {
          const int64_t oy = qy * sh - ph + ry;
          float* yrow = yplane + oy * ow;
          const int64_t iry = pl.rows.find(ry);
          if (iry < 0) {
            std::fill(yrow, yrow + ow, bias);
            continue;
          }
          const float* row = buf.data() + iry * nrx * ld;
          if (interleave) {
            pl.kernels->interleave2(row + src_of[0], row + src_of[1], yrow, ow);
          } else {
            for (int64_t ox = 0; ox < ow; ++ox) {
              const int64_t s = src_of[static_cast<size_t>(ox)];
              yrow[ox] = s < 0 ? bias : row[s];
            }
          }
        }
      }
    }
  }
}

// One output element from the definition, summing only the taps whose input exists (as the
// reference does). For the rare tiles where zero padding would meet an Inf or NaN weight.
float exact_element(const PackedWeights::Impl& pl, const Tensor<float>& x, const float* b,
                    int64_t n, int64_t gi, int64_t o, int64_t oy, int64_t ox) {
  const Params& p = pl.p;
  const int64_t ic = x.shape[1], h = x.shape[2], wd = x.shape[3];
  const int64_t ocg = pl.ocg;
  // The packed weights of phase (ry, rx) hold every tap of that phase.
  const int64_t ry = (oy + p.padding.h) % p.stride.h, qy = (oy + p.padding.h) / p.stride.h;
  const int64_t rx = (ox + p.padding.w) % p.stride.w, qx = (ox + p.padding.w) / p.stride.w;
  const int64_t iry = pl.rows.find(ry), irx = pl.cols.find(rx);
  const PhaseTaps& rt = pl.rows.of(ry);
  const PhaseTaps& ct = pl.cols.of(rx);
  float acc = b ? b[gi * ocg + o] : 0.0f;
  for (int64_t ih = 0; ih < rt.size(); ++ih) {
    const int64_t iy = qy - rt.a[ih];
    if (iy < 0 || iy >= h) continue;
    for (int64_t iw = 0; iw < ct.size(); ++iw) {
      const int64_t ix = qx - ct.a[iw];
      if (ix < 0 || ix >= wd) continue;
      const int64_t t = ih * ct.size() + iw;
      const float* xq = x.ptr() + ((n * ic + gi * pl.icg) * h + iy) * wd + ix;
      for (int64_t c = 0; c < pl.icg; ++c) {
        acc += pl.packed[static_cast<size_t>(pl.index(gi, iry, irx, t, c, o))] * xq[c * h * wd];
      }
    }
  }
  return acc;
}

// The phase-GEMM path. For group g and phase (ry, rx), the outputs of that phase in every image
// form one dense GEMM: C[oc][pixel] = bias + Σ_{tap, c} W[tap, c][oc] · X[tap, c][pixel], where
// X[tap, c][(n, qy, qx)] = x[n, c, qy - a_h(tap), qx - a_w(tap)] (0 outside the input). The
// images' phase rows are one sequence (image-major), so that small images (a batch of 8x8
// inputs) still fill whole tiles and each weight streamed is used for all of them. Pixels are cut
// into blocks of whole phase rows (the parallel work items); per block, X is packed per tile (3
// vectors of pixels: 48 with AVX-512, 24 with AVX2) and k-chunk into a panel that stays in L1
// while all output-channel blocks stream their packed weights past it.
constexpr int64_t kTilesPerBlock = 4;

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

// How the phase GEMM lays out one run, for execute_gemm() and run_bytes() alike: the row and
// column phases with outputs, blocks of rows_per_block phase rows (ldc floats per output channel
// and column phase in the result buffer), the work items, and the most row segments of a tile.
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
  gl.rows_per_block = std::clamp<int64_t>(gl.nr * kTilesPerBlock / gl.qx_max, 1,
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

void execute_gemm(const PackedWeights::Impl& pl, const Tensor<float>& x, const float* b,
                  Tensor<float>& y, int nt) {
  const int64_t n_batch = x.shape[0], ic = x.shape[1], h = x.shape[2], wd = x.shape[3];
  const int64_t oc = y.shape[1], oh = y.shape[2], ow = y.shape[3];
  const Params& p = pl.p;
  const int64_t sh = p.stride.h, sw = p.stride.w, ph = p.padding.h;
  const int64_t lanes = pl.kernels->lanes;
  const GemmLayout gl = gemm_layout(pl, x.shape, y.shape);
  const int64_t nr = gl.nr;
  const std::vector<ActivePhase>& ys = gl.ys;
  const std::vector<ActivePhase>& xs = gl.xs;
  const int64_t ncx = static_cast<int64_t>(xs.size());
  std::vector<int64_t> irx_of(static_cast<size_t>(ncx));
  for (int64_t ai = 0; ai < ncx; ++ai) {
    irx_of[static_cast<size_t>(ai)] = pl.cols.find(xs[static_cast<size_t>(ai)].r);
  }
  const int64_t rows_per_block = gl.rows_per_block, ldc = gl.ldc;

  // Items in the order (group, block, row phase): the row phases' blocks with the same index read
  // about the same input rows, which then stay in L2 instead of being streamed from memory once
  // per phase.
  std::vector<WorkItem> items;
  items.reserve(static_cast<size_t>(gl.items));
  for (int64_t gi = 0; gi < pl.g; ++gi) {
    for (int64_t q0 = 0;; q0 += rows_per_block) {
      bool any = false;
      for (int64_t ay = 0; ay < static_cast<int64_t>(ys.size()); ++ay) {
        const int64_t rows = n_batch * ys[static_cast<size_t>(ay)].count;
        if (q0 < rows) {
          items.push_back({gi, ay, q0, std::min(rows, q0 + rows_per_block)});
          any = true;
        }
      }
      if (!any) break;
    }
  }
  const int64_t n_items = static_cast<int64_t>(items.size());
  const size_t max_taps = static_cast<size_t>(pl.max_taps);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    AlignedVector<float> bp(static_cast<size_t>(gl.bp_floats));
    AlignedVector<float> cbuf(static_cast<size_t>(gl.cbuf_floats));
    AlignedVector<float> scratch(interleaves(sw, ncx) ? static_cast<size_t>(2 * ow) : 0);
    // Allocated once at their largest (run_bytes() counts them so): a tile's segments, the row
    // copies of its taps, or the permute indices of its taps' lanes.
    std::vector<Seg> segs;
    segs.reserve(static_cast<size_t>(gl.max_segs));
    std::vector<CopyOp> ops;
    // max_taps <= kh·kw, max_segs and nr <= 48.
    if (!gl.small_planes) ops.reserve(max_taps * static_cast<size_t>(gl.max_segs));
    std::vector<int32_t> idx;
    if (gl.small_planes) idx.reserve(max_taps * static_cast<size_t>(nr));
    std::vector<std::pair<int64_t, int64_t>> tiles;  // (first vector, vectors) from the block's p0
    tiles.reserve(static_cast<size_t>(ldc / lanes));
    std::vector<TapOps> tap_ops(max_taps);
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < n_items; ++it) {
      const WorkItem& wi = items[static_cast<size_t>(it)];
      const ActivePhase& sy = ys[static_cast<size_t>(wi.ay)];
      const int64_t iry = pl.rows.find(sy.r);
      const PhaseTaps& rt = pl.rows.of(sy.r);
      const float* xg = x.ptr() + wi.g * pl.icg * h * wd;  // image 0 of the group
      const int64_t image = ic * h * wd;
      for (int64_t ax0 = 0; ax0 < ncx; ax0 += kPhaseGroup) {
        const int64_t ax1 = std::min(ncx, ax0 + kPhaseGroup);
        for (int64_t ai = ax0; ai < ax1; ++ai) {
          const ActivePhase& sx = xs[static_cast<size_t>(ai)];
          const int64_t irx = irx_of[static_cast<size_t>(ai)];
          const int64_t p0 = wi.qy0 * sx.count, p1 = wi.qy1 * sx.count;
          float* cb = cbuf.data() + (ai - ax0) * pl.ocg * ldc;
          if (iry < 0 || irx < 0) {
            // No tap reaches this phase: the bias alone.
            for (int64_t o = 0; o < pl.ocg; ++o) {
              std::fill(cb + o * ldc, cb + o * ldc + (p1 - p0), b ? b[wi.g * pl.ocg + o] : 0.0f);
            }
            continue;
          }
          const PhaseTaps& ct = pl.cols.taps[static_cast<size_t>(irx)];
          const int64_t ntw = ct.size();
          const int64_t taps = rt.size() * ntw;
          // Tiles of as equal a width as possible (7 vectors: 3 + 2 + 2, not 3 + 3 + 1): a
          // narrow last tile has too few independent accumulators to keep the FMA units busy.
          // The tiles: balanced in width over the block's pixels, or over each image's pixels
          // where the permute packing would otherwise pack a tile spanning two images twice
          // (images' phase planes a whole number of vectors: dcgan-b16's 64 pixels).
          const int64_t plane_px = sy.count * sx.count;
          const bool per_image = pl.kernels->pack_small != nullptr && h * wd <= kSmallPlane &&
                                 plane_px % lanes == 0 && p0 % lanes == 0 && p1 - p0 > plane_px;
          const int64_t span = per_image ? plane_px : p1 - p0;
          tiles.clear();
          for (int64_t s0 = p0; s0 < p1; s0 += span) {
            const int64_t svec = ceil_div(std::min(p1, s0 + span) - s0, lanes);
            const int64_t sn = ceil_div(svec, int64_t{kGemmNv});
            for (int64_t ti = 0, v = (s0 - p0) / lanes; ti < sn; ++ti) {
              const int64_t tv = svec / sn + (ti < svec % sn ? 1 : 0);
              tiles.push_back({v, tv});
              v += tv;
            }
          }
          const int64_t cch = pl.chunk_channels(iry, irx);
          for (int64_t c0 = 0; c0 < pl.icg; c0 += cch) {
            const int64_t cn = std::min(cch, pl.icg - c0);
            const int64_t k0 = c0 * taps, kc = cn * taps;
            // Per tile: pack X[k0 .. k0 + kc)[the tile's pixels], then run every channel block
            // over it while it is in L1.
            for (const auto& [v0, tv] : tiles) {
              const int64_t tp0 = p0 + v0 * lanes, tp1 = std::min(p1, tp0 + tv * lanes);
              const int64_t width = lanes * ceil_div(tp1 - tp0, lanes);
              segs.clear();
              for (int64_t q = tp0; q < tp1;) {
                const int64_t r = q / sx.count, ixq = q % sx.count;
                const int64_t len = std::min(tp1 - q, sx.count - ixq);
                segs.push_back({r / sy.count, r % sy.count, ixq, len, q - tp0});
                q += len;
              }
              // Planes of a few floats (4×4 to 8×8 inputs): each packed vector is a permute of
              // the plane, by index, instead of row copies of a few floats; one call per image
              // the tile's pixels come from (lanes of the others: -2, left alone).
              if (pl.kernels->pack_small != nullptr && h * wd <= kSmallPlane) {
                for (int64_t n = segs.front().n; n <= segs.back().n; ++n) {
                  idx.assign(static_cast<size_t>(taps * width), -2);
                  for (int64_t t = 0; t < taps; ++t) {
                    const int64_t a_y = rt.a[t / ntw], a_x = ct.a[t % ntw];
                    int32_t* row = idx.data() + t * width;
                    // The lanes past the tile's pixels are zero; the last image's call writes them.
                    if (n == segs.back().n) std::fill(row + (tp1 - tp0), row + width, -1);
                    for (const Seg& sg : segs) {
                      if (sg.n != n) continue;
                      const int64_t iy = sy.lo + sg.iyq - a_y;
                      for (int64_t j = 0; j < sg.len; ++j) {
                        const int64_t ix = sx.lo + sg.ixq + j - a_x;
                        row[sg.d + j] = iy >= 0 && iy < h && ix >= 0 && ix < wd
                                            ? static_cast<int32_t>(iy * wd + ix)
                                            : -1;
                      }
                    }
                  }
                  SmallPackArgs sp{};
                  sp.plane0 = xg + n * image + c0 * h * wd;
                  sp.plane_stride = h * wd;
                  sp.plane_size = h * wd;
                  sp.channels = cn;
                  sp.taps = taps;
                  sp.idx = idx.data();
                  sp.nvec = width / lanes;
                  sp.out = bp.data();
                  pl.kernels->pack_small(sp);
                }
              } else {
                // The row copies of each tap are the same for every channel (only the plane
                // moves).
                ops.clear();
                for (int64_t t = 0; t < taps; ++t) {
                  const int64_t a_y = rt.a[t / ntw], a_x = ct.a[t % ntw];
                  TapOps& to = tap_ops[static_cast<size_t>(t)];
                  to.begin = static_cast<int64_t>(ops.size());
                  int64_t covered = 0;
                  for (const Seg& sg : segs) {
                    const int64_t iy = sy.lo + sg.iyq - a_y;
                    if (iy < 0 || iy >= h) continue;
                    const int64_t ix0 = sx.lo + sg.ixq - a_x;  // column of the first pixel
                    const int64_t j0 = std::max<int64_t>(0, -ix0);
                    const int64_t j1 = std::min(sg.len, wd - ix0);
                    if (j1 > j0) {
                      ops.push_back({sg.n * image + iy * wd + ix0 + j0, sg.d + j0, j1 - j0});
                      covered += j1 - j0;
                    }
                  }
                  to.end = static_cast<int64_t>(ops.size());
                  to.full = covered == width;
                }
                PackArgs pa{};
                pa.plane0 = xg + c0 * h * wd;
                pa.plane_stride = h * wd;
                pa.channels = cn;
                pa.taps = taps;
                pa.tap_ops = tap_ops.data();
                pa.ops = ops.data();
                pa.width = width;
                pa.out = bp.data();
                pl.kernels->pack(pa);
              }
              const int nv = static_cast<int>(ceil_div(tp1 - tp0, lanes));
              for (int64_t ocb = 0; ocb < pl.ocblocks; ++ocb) {
                const int64_t mr = std::min(pl.mr_block, pl.ocg - ocb * pl.mr_block);
                GemmArgs ga{};
                ga.k = kc;
                ga.a = pl.gemm_a(wi.g, iry, irx, k0, kc, ocb);
                ga.b = bp.data();
                ga.c = cb + ocb * pl.mr_block * ldc + v0 * lanes;
                ga.ldc = ldc;
                ga.accumulate = k0 > 0;
                float bias[kMaxGemmMr] = {};
                for (int64_t m = 0; m < mr; ++m) {
                  bias[m] = b ? b[wi.g * pl.ocg + ocb * pl.mr_block + m] : 0.0f;
                }
                ga.bias = bias;
                pl.kernels->gemm[mr][nv](ga);
              }
            }
          }
        }
        // The group's column phases into the output rows (write_output_row).
        for (int64_t o = 0; o < pl.ocg; ++o) {
          for (int64_t r = wi.qy0; r < wi.qy1; ++r) {
            const int64_t n = r / sy.count, qy = sy.lo + r % sy.count;
            float* yplane = y.ptr() + (n * oc + wi.g * pl.ocg + o) * oh * ow;
            const int64_t oy = qy * sh + sy.r - ph;
            float* yrow = yplane + oy * ow;
            const auto row_of = [&](int64_t ai) {
              return cbuf.data() + ((ai - ax0) * pl.ocg + o) * ldc +
                     (r - wi.qy0) * xs[static_cast<size_t>(ai)].count;
            };
            write_output_row(*pl.kernels, xs, ax0, ax1, sw, ow, row_of, scratch.data(), yrow);
            if (!pl.weights_finite && iry >= 0) {
              // Where the zero padding met an Inf or NaN weight: the definition's value.
              const auto [ay0, ay1] = std::minmax_element(rt.a.begin(), rt.a.end());
              for (int64_t ai = ax0; ai < ax1; ++ai) {
                const ActivePhase& sx = xs[static_cast<size_t>(ai)];
                const int64_t irx = irx_of[static_cast<size_t>(ai)];
                if (irx < 0) continue;
                const PhaseTaps& ct = pl.cols.taps[static_cast<size_t>(irx)];
                const auto [ax_lo, ax_hi] = std::minmax_element(ct.a.begin(), ct.a.end());
                for (int64_t j = 0; j < sx.count; ++j) {
                  const int64_t qx = sx.lo + j;
                  if (qy - *ay1 < 0 || qy - *ay0 >= h || qx - *ax_hi < 0 || qx - *ax_lo >= wd) {
                    const int64_t ox = sx.first + j * sw;
                    yrow[ox] = exact_element(pl, x, b, n, wi.g, o, oy, ox);
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace

int default_threads(const PackedWeights::Impl& pl, int64_t x_size, int64_t y_size) {
  // Waking a thread team costs tens of microseconds, more than a small layer's whole run
  // (dcgan-out, 0.05 ms, took 0.08 ms on two threads): a thread only for every kWorkPerThread
  // units of work, counting a multiply-add as one unit and a float moved as 16 (memory-bound
  // layers such as depthwise still split).
  constexpr double kWorkPerThread = 8e6;
  const double macs = static_cast<double>(x_size) * static_cast<double>(pl.ocg * pl.kh * pl.kw);
  const double work = macs + 16.0 * (static_cast<double>(x_size) + static_cast<double>(y_size));
  const double useful = std::max(1.0, std::floor(work / kWorkPerThread));
  return static_cast<int>(std::min<double>(omp_get_max_threads(), useful));
}

void execute(const PackedWeights::Impl& pl, const Tensor<float>& x, const float* b,
             Tensor<float>& y, int threads) {
  if (y.size() == 0) return;
  if (threads <= 0) threads = default_threads(pl, x.size(), y.size());
  if (pl.stream.on) {
    stream_execute(pl.p, pl.stream, *pl.kernels, x, b, y, threads);
    return;
  }
  if (pl.gemm) {
    execute_gemm(pl, x, b, y, threads);
  } else if (const FusedLayout fl = pl.fused ? fused_layout(pl, x.shape, y.shape) : FusedLayout{};
             fl.fits) {
    execute_fused(pl, fl, x, b, y, threads);
  } else {
    execute_direct(pl, x, b, y, threads);
  }
}

namespace {

// A sum of buffer sizes in bytes: every product and sum overflow-checked, an Error naming the
// buffer instead of a wrapped size.
class ByteCount {
 public:
  /// Adds a buffer of `size`-byte elements, as many as the product of `counts`.
  template <class... N>
  ByteCount& add(std::string_view what, int64_t size, N... counts) {
    int64_t n = size;
    ((n = checked_mul(n, static_cast<int64_t>(counts), what)), ...);
    total_ = checked_add(total_, n, what);
    return *this;
  }
  int64_t total() const { return total_; }

 private:
  int64_t total_ = 0;
};

constexpr int64_t kFloat = sizeof(float), kInt64 = sizeof(int64_t), kPtr = sizeof(void*);

}  // namespace

int64_t run_bytes(const PackedWeights::Impl& pl, const Shape& x, const Shape& y, int threads) {
  const int64_t x_size = element_count(x, "input"), y_size = element_count(y, "output");
  if (y_size == 0) return 0;  // execute() returns at once
  const int nt = threads > 0 ? threads : default_threads(pl, x_size, y_size);
  if (pl.stream.on) return stream_run_bytes(pl.stream, x, nt);
  const int64_t ow = y[3], sw = pl.p.stride.w;
  ByteCount shared, each;  // the calling thread's buffers; each OpenMP thread's
  if (pl.gemm) {
    const GemmLayout gl = gemm_layout(pl, x, y);
    const int64_t ncx = static_cast<int64_t>(gl.xs.size());
    const int64_t lanes = pl.kernels->lanes;
    shared
        .add("working memory: row and column phases", sizeof(ActivePhase),
             static_cast<int64_t>(gl.ys.size()) + ncx)
        .add("working memory: column phase positions", kInt64, ncx)
        .add("working memory: work items", sizeof(WorkItem), gl.items);
    each.add("working memory: packed input panel", kFloat, gl.bp_floats)
        .add("working memory: GEMM results", kFloat, gl.cbuf_floats)
        .add("working memory: interleave scratch", kFloat, interleaves(sw, ncx) ? 2 : 0, ow)
        .add("working memory: tile segments", sizeof(Seg), gl.max_segs)
        .add("working memory: row copies", sizeof(CopyOp), gl.small_planes ? 0 : pl.max_taps,
             gl.max_segs)
        .add("working memory: permute indices", sizeof(int32_t), gl.small_planes ? pl.max_taps : 0,
             gl.nr)
        .add("working memory: tiles", sizeof(std::pair<int64_t, int64_t>), gl.ldc / lanes)
        .add("working memory: tap copies", sizeof(TapOps), pl.max_taps);
  } else if (const FusedLayout fl = pl.fused ? fused_layout(pl, x, y) : FusedLayout{}; fl.fits) {
    const int64_t groups =
        static_cast<int64_t>(pl.fused_ah.size()) * static_cast<int64_t>(pl.fused_aw.size());
    shared.add("working memory: padded input", kFloat, fl.padded_floats)
        .add("working memory: output columns", kInt64, ow);
    each.add("working memory: phase rows", kFloat, fl.buf_floats)
        .add("working memory: tap groups", kInt64 + kPtr, groups);
  } else {
    const DirectLayout dl = direct_layout(pl, x, y, nt);
    const int64_t ncx = static_cast<int64_t>(dl.xs.size());
    shared.add("working memory: padded input", kFloat, dl.padded_floats)
        .add("working memory: column phases", sizeof(ActivePhase) + sizeof(ColumnPhase), ncx);
    // The tap lists of a run and of a tile: offsets, input offsets a, weight pointers, twice.
    each.add("working memory: row buffer", kFloat, dl.buf_floats)
        .add("working memory: tap lists", 2 * (2 * kInt64 + kPtr), dl.max_taps)
        .add("working memory: valid row taps", kInt64, pl.kh)
        .add("working memory: padded group", kFloat, dl.local_pad ? dl.group_floats : 0)
        .add("working memory: interleave scratch", kFloat, interleaves(sw, ncx) ? 2 : 0, ow);
  }
  return shared.add("working memory: threads", each.total(), nt).total();
}

int64_t plan_bytes(const PackedWeights::Impl& pl) {
  ByteCount b;
  b.add("plan", sizeof(PackedWeights::Impl), 1);
  for (const auto& [ps, k] : {std::pair{&pl.rows, pl.kh}, std::pair{&pl.cols, pl.kw}}) {
    // The sorted phases (k reserved), the phases' tap lists (k taps in all, two numbers each,
    // grown by doubling: at most 3 times their size while one grows).
    b.add("plan: phases", kInt64, k)
        .add("plan: phases", sizeof(PhaseTaps), ps->count())
        .add("plan: phase taps", 2 * 3 * kInt64, k);
  }
  if (pl.stream.on) {
    return b.add("plan: stream weights", kFloat, stream_weight_floats(pl.p, pl.stream)).total();
  }
  const int64_t weights = element_count(weight_shape(pl.p), "weight");
  b.add("plan: packed weights", kFloat, weights)
      .add("plan: weight offsets", kInt64, pl.g, pl.rows.count(), pl.cols.count(), pl.ocblocks);
  if (pl.fused) {
    b.add("plan: fused tap offsets", kInt64,
          static_cast<int64_t>(pl.fused_ah.size() + pl.fused_aw.size()))
        .add("plan: fused weights", kFloat, weights);
  }
  return b.total();
}

}  // namespace convt2d::optimized
