#include "plan.h"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <memory>

namespace convt2d::optimized {
namespace {

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}  // a >= 0, b > 0

// Taps of each phase along one dimension: tap k reaches phase r = (k·d) mod s, from input
// q - (k·d - r)/s for output q (in units of the stride).
std::vector<PhaseTaps> phase_taps(int64_t k, int64_t s, int64_t d) {
  std::vector<PhaseTaps> r(static_cast<size_t>(s));
  for (int64_t t = 0; t < k; ++t) {
    const int64_t phase = (t * d) % s;
    r[static_cast<size_t>(phase)].k.push_back(t);
    r[static_cast<size_t>(phase)].a.push_back((t * d - phase) / s);
  }
  return r;
}

// The output columns of one column phase rx: q in [qlo, qlo + count), output column
// x = q·sw + rx - pw.
struct ColumnPhase {
  int64_t qlo = 0, count = 0, padded = 0, offset = 0, amin = 0, amax = 0;
  bool has_taps = false;
};

}  // namespace

std::unique_ptr<PackedWeights::Impl> make_plan(const Params& p, const Tensor<float>& w, Isa isa,
                                               Path path) {
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
  pl->rows = phase_taps(pl->kh, p.stride.h, p.dilation.h);
  pl->cols = phase_taps(pl->kw, p.stride.w, p.dilation.w);
  pl->gemm = path == Path::kGemm;  // kAuto was resolved by pack()
  pl->mr_block = pl->gemm ? pl->kernels->gemm_mr : pl->kernels->direct_mr;
  pl->ocblocks = ceil_div(pl->ocg, pl->mr_block);
  pl->kc_block = 24 * 1024 / (4 * pl->kernels->lanes * kGemmNv);

  const int64_t sh = p.stride.h, sw = p.stride.w;
  int64_t total = 0;
  for (int64_t gi = 0; gi < pl->g; ++gi) {
    for (int64_t ry = 0; ry < sh; ++ry) {
      for (int64_t rx = 0; rx < sw; ++rx) {
        const int64_t k_total = pl->taps(ry, rx) * pl->icg;
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
    for (int64_t ry = 0; ry < sh; ++ry) {
      for (int64_t rx = 0; rx < sw; ++rx) {
        const PhaseTaps& rt = pl->rows[ry];
        const PhaseTaps& ct = pl->cols[rx];
        for (int64_t ih = 0; ih < rt.size(); ++ih) {
          for (int64_t iw = 0; iw < ct.size(); ++iw) {
            const int64_t t = ih * ct.size() + iw;
            for (int64_t c = 0; c < pl->icg; ++c) {
              for (int64_t o = 0; o < pl->ocg; ++o) {
                pl->packed[static_cast<size_t>(pl->index(gi, ry, rx, t, c, o))] =
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
  return pl;
}

namespace {

// One input row into a zero-padded row of wp floats, pad_l zeros first.
void pad_row(const float* src, int64_t wd, int64_t pad_l, int64_t wp, float* dst) {
  std::fill(dst, dst + pad_l, 0.0f);
  std::copy(src, src + wd, dst + pad_l);
  std::fill(dst + pad_l + wd, dst + wp, 0.0f);
}

// Largest padded group (input channels × rows × padded width) a work item pads for itself.
constexpr int64_t kLocalPadFloats = 64 * 1024;

// The direct path: no packing of the input; tiles read the zero-padded input rows in place.
// Used for few output channels per group, where packing would not be reused.
void execute_direct(const PackedWeights::Impl& pl, const Tensor<float>& x, const float* b,
                    Tensor<float>& y, int threads) {
  const int64_t n_batch = x.shape[0], ic = x.shape[1], h = x.shape[2], wd = x.shape[3];
  const int64_t oc = y.shape[1], oh = y.shape[2], ow = y.shape[3];
  if (y.size() == 0) return;
  const Params& p = pl.p;
  const int64_t sh = p.stride.h, sw = p.stride.w, ph = p.padding.h, pw = p.padding.w;
  const int64_t lanes = pl.kernels->lanes;
  const int lane_shift = std::countr_zero(static_cast<uint64_t>(lanes));

  // Column phases, their segments of the row buffer, and the zero padding of the input in W
  // that lets every tile read full vectors without bounds checks.
  std::vector<ColumnPhase> cp(static_cast<size_t>(sw));
  int64_t row_len = 0, pad_l = 0, pad_r = 0;
  for (int64_t rx = 0; rx < sw; ++rx) {
    ColumnPhase& c = cp[static_cast<size_t>(rx)];
    c.qlo = pw >= rx ? ceil_div(pw - rx, sw) : 0;
    const int64_t last = ow - 1 + pw - rx;
    const int64_t qend = last >= 0 ? last / sw + 1 : 0;
    c.count = std::max<int64_t>(0, qend - c.qlo);
    c.padded = ceil_div(c.count, lanes) * lanes;
    c.offset = row_len;
    row_len += c.padded;
    const PhaseTaps& ct = pl.cols[static_cast<size_t>(rx)];
    c.has_taps = ct.size() > 0 && c.count > 0;
    if (c.has_taps) {
      c.amin = *std::min_element(ct.a.begin(), ct.a.end());
      c.amax = *std::max_element(ct.a.begin(), ct.a.end());
      pad_l = std::max(pad_l, c.amax - c.qlo);
      pad_r = std::max(pad_r, c.qlo + c.padded - 1 - c.amin - (wd - 1));
    }
  }
  const int64_t wp = pad_l + wd + pad_r;
  // Where output column x reads the row buffer.
  std::vector<int64_t> src(static_cast<size_t>(ow));
  for (int64_t ox = 0; ox < ow; ++ox) {
    const int64_t rx = (ox + pw) % sw, q = (ox + pw) / sw;
    src[static_cast<size_t>(ox)] =
        cp[static_cast<size_t>(rx)].offset + q - cp[static_cast<size_t>(rx)].qlo;
  }

  const int nt = threads > 0 ? threads : omp_get_max_threads();
  // Where the zero-padded input comes from. With many small groups (depthwise, grouped layers),
  // each work item is one (image, group) and pads its own channels into a thread-local buffer
  // that stays in L1/L2; otherwise the whole input is padded once up front and items are blocks
  // of output rows.
  const int64_t group_floats = pl.icg * h * wp;
  const bool local_pad = group_floats <= kLocalPadFloats && n_batch * pl.g >= 4 * nt;
  float* xp = nullptr;
  if (!local_pad) {
    const int64_t in_rows = n_batch * ic * h;
    // A buffer of the calling thread that later runs reuse: a fresh allocation of this size
    // would be fresh pages, whose first-touch faults cost as much as the copy itself.
    thread_local AlignedVector<float> padded;
    if (padded.size() < static_cast<size_t>(in_rows * wp)) {
      padded = AlignedVector<float>(static_cast<size_t>(in_rows * wp));
    }
    xp = padded.data();
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t r = 0; r < in_rows; ++r) pad_row(x.ptr() + r * wd, wd, pad_l, wp, xp + r * wp);
  }

  // Items of kDirectRows output rows (or whole planes with local padding): the per-item
  // bookkeeping is then small next to the work even for depthwise layers.
  constexpr int64_t kDirectRows = 8;
  const int64_t rows_per_item = local_pad ? oh : kDirectRows;
  const int64_t row_blocks = ceil_div(oh, rows_per_item);
  const int64_t items = n_batch * pl.g * row_blocks;
  const int64_t max_taps = pl.kh * pl.kw;
#pragma omp parallel num_threads(nt)
  {
    AlignedVector<float> buf(static_cast<size_t>(pl.mr_block * row_len));
    std::vector<int64_t> xoff(static_cast<size_t>(max_taps)), tap_a(static_cast<size_t>(max_taps));
    std::vector<const float*> wtap(static_cast<size_t>(max_taps));
    std::vector<int64_t> valid_ih(static_cast<size_t>(pl.kh));
    AlignedVector<float> local(local_pad ? static_cast<size_t>(group_floats) : 0);
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
      const int64_t oy0 = rb * rows_per_item;
      // The row phase and phase row of oy, advanced without divisions.
      int64_t ry = (oy0 + ph) % sh, qy = (oy0 + ph) / sh;
      for (int64_t oy = oy0; oy < std::min(oh, oy0 + rows_per_item);
           ++oy, ry = ry + 1 == sh ? 0 : ry + 1, qy += ry == 0 ? 1 : 0) {
        const PhaseTaps& rt = pl.rows[static_cast<size_t>(ry)];
        int64_t nvalid = 0;
        for (int64_t ih = 0; ih < rt.size(); ++ih) {
          const int64_t iy = qy - rt.a[ih];
          if (iy >= 0 && iy < h) valid_ih[static_cast<size_t>(nvalid++)] = ih;
        }
        for (int64_t ocb = 0; ocb < pl.ocblocks; ++ocb) {
          const int64_t mr = std::min(pl.mr_block, pl.ocg - ocb * pl.mr_block);
          float bias[kMaxDirectMr] = {};
          for (int64_t m = 0; m < mr; ++m)
            bias[m] = b ? b[gi * pl.ocg + ocb * pl.mr_block + m] : 0.0f;
          for (int64_t rx = 0; rx < sw; ++rx) {
            const ColumnPhase& c = cp[static_cast<size_t>(rx)];
            if (c.count == 0) continue;
            float* seg = buf.data() + c.offset;
            const PhaseTaps& ct = pl.cols[static_cast<size_t>(rx)];
            const int64_t ntw = ct.size();
            if (!c.has_taps || nvalid == 0) {
              // No tap reaches these outputs: the bias alone.
              for (int64_t m = 0; m < mr; ++m)
                std::fill(seg + m * row_len, seg + m * row_len + c.count, bias[m]);
              continue;
            }
            const float* panel = pl.panel(gi, ry, rx, ocb);
            int64_t taps = 0;
            for (int64_t v = 0; v < nvalid; ++v) {
              const int64_t ih = valid_ih[static_cast<size_t>(v)];
              const int64_t iy = qy - rt.a[ih];
              for (int64_t iw = 0; iw < ntw; ++iw) {
                xoff[static_cast<size_t>(taps)] = iy * wp + pad_l + c.qlo - ct.a[iw];
                tap_a[static_cast<size_t>(taps)] = ct.a[iw];
                wtap[static_cast<size_t>(taps)] = panel + (ih * ntw + iw) * pl.icg * mr;
                ++taps;
              }
            }
            TileArgs a{};
            a.xoff = xoff.data();
            a.wtap = wtap.data();
            a.ntaps = taps;
            a.icg = pl.icg;
            a.chan_stride = h * wp;
            a.bias = bias;
            a.out_stride = row_len;
            const int nv_max = kDirectNv[mr];
            for (int64_t j0 = 0; j0 < c.count;) {
              const int64_t left = c.count - j0;  // > 0
              // lanes is a power of two: a shift, not a division, per tile.
              const int nv = left >= nv_max * lanes
                                 ? nv_max
                                 : static_cast<int>((left + lanes - 1) >> lane_shift);
              const int64_t j1 = std::min(c.count, j0 + lanes * nv);
              a.x = xg + j0;
              a.out = seg + j0;
              // Input columns this tile reads for outputs j0..j1-1: qlo + j - a.
              const bool touches_padding =
                  c.qlo + j0 - c.amax < 0 || c.qlo + j1 - 1 - c.amin > wd - 1;
              if (pl.weights_finite || !touches_padding) {
                pl.kernels->direct[mr][nv](a);
              } else {
                // 0·Inf is NaN: sum only the taps whose input column exists, as the definition
                // does.
                for (int64_t m = 0; m < mr; ++m) {
                  for (int64_t j = j0; j < j1; ++j) {
                    float acc = bias[m];
                    for (int64_t t = 0; t < taps; ++t) {
                      const int64_t ix = c.qlo + j - tap_a[static_cast<size_t>(t)];
                      if (ix < 0 || ix >= wd) continue;
                      const float* xq = xg + xoff[static_cast<size_t>(t)] + j;
                      const float* wq = wtap[static_cast<size_t>(t)] + m;
                      for (int64_t ci = 0; ci < pl.icg; ++ci) acc += wq[ci * mr] * xq[ci * h * wp];
                    }
                    seg[m * row_len + j] = acc;
                  }
                }
              }
              j0 = j1;
            }
          }
          // Interleave the column phases into the output rows: each element written once.
          for (int64_t m = 0; m < mr; ++m) {
            float* yrow = y.ptr() + ((n * oc + gi * pl.ocg + ocb * pl.mr_block + m) * oh + oy) * ow;
            const float* bm = buf.data() + m * row_len;
            if (sw == 1) {
              std::copy(bm, bm + ow, yrow);
            } else if (sw == 2) {
              const int64_t r0 = pw % 2;  // the phase of column 0
              pl.kernels->interleave2(bm + cp[static_cast<size_t>(r0)].offset,
                                      bm + cp[static_cast<size_t>(1 - r0)].offset, yrow, ow);
            } else {
              for (int64_t ox = 0; ox < ow; ++ox) yrow[ox] = bm[src[static_cast<size_t>(ox)]];
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
  const PhaseTaps& rt = pl.rows[static_cast<size_t>(ry)];
  const PhaseTaps& ct = pl.cols[static_cast<size_t>(rx)];
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
        acc += pl.packed[static_cast<size_t>(pl.index(gi, ry, rx, t, c, o))] * xq[c * h * wd];
      }
    }
  }
  return acc;
}

// The phase-GEMM path. For image n, group g and phase (ry, rx), the outputs of that phase form a
// dense GEMM: C[oc][pixel] = bias + Σ_{tap, c} W[tap, c][oc] · X[tap, c][pixel], where
// X[tap, c][(qy, qx)] = x[c, qy - a_h(tap), qx - a_w(tap)] (0 outside the input). Pixels are cut
// into blocks (the parallel work items); per block, X is packed in k-chunks of pl.kc_block into
// panels of 24 pixels that stay in L1 while all output-channel blocks stream their packed weights
// past them.
constexpr int64_t kTilesPerBlock = 4;

struct Span {
  int64_t lo = 0, count = 0;  // phase outputs q in [lo, lo + count)
};

Span phase_span(int64_t out, int64_t pad, int64_t s, int64_t r) {
  Span sp;
  sp.lo = pad >= r ? ceil_div(pad - r, s) : 0;
  const int64_t last = out - 1 + pad - r;
  const int64_t end = last >= 0 ? last / s + 1 : 0;
  sp.count = std::max<int64_t>(0, end - sp.lo);
  return sp;
}

struct WorkItem {
  int64_t n, g, ry, qy0, qy1;  // phase rows [qy0, qy1) of row phase ry, every column phase
};

void execute_gemm(const PackedWeights::Impl& pl, const Tensor<float>& x, const float* b,
                  Tensor<float>& y, int threads) {
  const int64_t n_batch = x.shape[0], ic = x.shape[1], h = x.shape[2], wd = x.shape[3];
  const int64_t oc = y.shape[1], oh = y.shape[2], ow = y.shape[3];
  const Params& p = pl.p;
  const int64_t sh = p.stride.h, sw = p.stride.w, ph = p.padding.h, pw = p.padding.w;
  const int64_t lanes = pl.kernels->lanes;
  const int64_t nr = lanes * kGemmNv;  // pixels per tile
  std::vector<Span> ys(static_cast<size_t>(sh)), xs(static_cast<size_t>(sw));
  for (int64_t r = 0; r < sh; ++r) ys[static_cast<size_t>(r)] = phase_span(oh, ph, sh, r);
  int64_t qx_max = 1;
  for (int64_t r = 0; r < sw; ++r) {
    xs[static_cast<size_t>(r)] = phase_span(ow, pw, sw, r);
    qx_max = std::max(qx_max, xs[static_cast<size_t>(r)].count);
  }
  // A block is whole phase rows (about kTilesPerBlock tiles of pixels per column phase), so that
  // all column phases of an output row are finished together and written as contiguous rows.
  const int64_t rows_per_block = std::max<int64_t>(1, nr * kTilesPerBlock / qx_max);
  const int64_t ldc = ceil_div(rows_per_block * qx_max, nr) * nr;
  // Output column ox of a row reads column phase rx_of[ox], at col_of[ox] within its phase row.
  std::vector<int64_t> rx_of(static_cast<size_t>(ow)), col_of(static_cast<size_t>(ow));
  for (int64_t ox = 0; ox < ow; ++ox) {
    const int64_t rx = (ox + pw) % sw;
    rx_of[static_cast<size_t>(ox)] = rx;
    col_of[static_cast<size_t>(ox)] = (ox + pw) / sw - xs[static_cast<size_t>(rx)].lo;
  }

  // Items in the order (image, group, block, row phase): the row phases' blocks with the same
  // index read about the same input rows, which then stay in L2 instead of being streamed from
  // memory once per phase.
  std::vector<WorkItem> items;
  for (int64_t n = 0; n < n_batch; ++n) {
    for (int64_t gi = 0; gi < pl.g; ++gi) {
      for (int64_t q0 = 0;; q0 += rows_per_block) {
        bool any = false;
        for (int64_t ry = 0; ry < sh; ++ry) {
          const int64_t qy_count = ys[static_cast<size_t>(ry)].count;
          if (q0 < qy_count) {
            items.push_back({n, gi, ry, q0, std::min(qy_count, q0 + rows_per_block)});
            any = true;
          }
        }
        if (!any) break;
      }
    }
  }
  const int nt = threads > 0 ? threads : omp_get_max_threads();
  const int64_t n_items = static_cast<int64_t>(items.size());
#pragma omp parallel num_threads(nt)
  {
    AlignedVector<float> bp(static_cast<size_t>(pl.kc_block * nr));
    // One result buffer per column phase: [rx][o][pixel of the block].
    AlignedVector<float> cbuf(static_cast<size_t>(sw * pl.ocg * ldc));
    // Row segments of one tile: pixels [d, d + len) of the tile are phase row iyq, columns
    // ixq .. ixq + len - 1.
    struct Seg {
      int64_t iyq, ixq, len, d;
    };
    std::vector<Seg> segs;
    std::vector<CopyOp> ops;
    std::vector<TapOps> tap_ops(static_cast<size_t>(pl.kh * pl.kw));
    std::vector<int64_t> row_base(static_cast<size_t>(sw));
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < n_items; ++it) {
      const WorkItem& wi = items[static_cast<size_t>(it)];
      const Span sy = ys[static_cast<size_t>(wi.ry)];
      const PhaseTaps& rt = pl.rows[static_cast<size_t>(wi.ry)];
      const float* xg = x.ptr() + (wi.n * ic + wi.g * pl.icg) * h * wd;
      for (int64_t rx = 0; rx < sw; ++rx) {
        const Span sx = xs[static_cast<size_t>(rx)];
        if (sx.count == 0) continue;
        const PhaseTaps& ct = pl.cols[static_cast<size_t>(rx)];
        const int64_t ntw = ct.size();
        const int64_t taps = rt.size() * ntw;
        const int64_t p0 = wi.qy0 * sx.count, p1 = wi.qy1 * sx.count;
        float* cb = cbuf.data() + rx * pl.ocg * ldc;
        if (taps == 0) {
          // No tap reaches this phase: the bias alone.
          for (int64_t o = 0; o < pl.ocg; ++o) {
            std::fill(cb + o * ldc, cb + o * ldc + (p1 - p0), b ? b[wi.g * pl.ocg + o] : 0.0f);
          }
          continue;
        }
        // Tiles of as equal a width as possible (7 vectors: 3 + 2 + 2, not 3 + 3 + 1): a narrow
        // last tile has too few independent accumulators to keep the FMA units busy.
        const int64_t nvec = ceil_div(p1 - p0, lanes);
        const int64_t ntiles = ceil_div(nvec, int64_t{kGemmNv});
        const int64_t cch = pl.chunk_channels(wi.ry, rx);
        for (int64_t c0 = 0; c0 < pl.icg; c0 += cch) {
          const int64_t cn = std::min(cch, pl.icg - c0);
          const int64_t k0 = c0 * taps, kc = cn * taps;
          // Per tile: pack X[k0 .. k0 + kc)[the tile's pixels], then run every channel block
          // over it while it is in L1.
          for (int64_t ti = 0, v0 = 0; ti < ntiles; ++ti) {
            const int64_t tv = nvec / ntiles + (ti < nvec % ntiles ? 1 : 0);
            const int64_t tp0 = p0 + v0 * lanes, tp1 = std::min(p1, tp0 + tv * lanes);
            const int64_t width = lanes * ceil_div(tp1 - tp0, lanes);
            segs.clear();
            for (int64_t q = tp0; q < tp1;) {
              const int64_t iyq = q / sx.count, ixq = q % sx.count;
              const int64_t len = std::min(tp1 - q, sx.count - ixq);
              segs.push_back({iyq, ixq, len, q - tp0});
              q += len;
            }
            // The row copies of each tap are the same for every channel (only the plane moves).
            ops.clear();
            for (int64_t t = 0; t < taps; ++t) {
              const int64_t ay = rt.a[t / ntw], ax = ct.a[t % ntw];
              TapOps& to = tap_ops[static_cast<size_t>(t)];
              to.begin = static_cast<int64_t>(ops.size());
              int64_t covered = 0;
              for (const Seg& sg : segs) {
                const int64_t iy = sy.lo + sg.iyq - ay;
                if (iy < 0 || iy >= h) continue;
                const int64_t ix0 = sx.lo + sg.ixq - ax;  // column of the segment's first pixel
                const int64_t j0 = std::max<int64_t>(0, -ix0);
                const int64_t j1 = std::min(sg.len, wd - ix0);
                if (j1 > j0) {
                  ops.push_back({iy * wd + ix0 + j0, sg.d + j0, j1 - j0});
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
            const int nv = static_cast<int>(ceil_div(tp1 - tp0, lanes));
            for (int64_t ocb = 0; ocb < pl.ocblocks; ++ocb) {
              const int64_t mr = std::min(pl.mr_block, pl.ocg - ocb * pl.mr_block);
              GemmArgs ga{};
              ga.k = kc;
              ga.a = pl.gemm_a(wi.g, wi.ry, rx, k0, kc, ocb);
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
            v0 += tv;
          }
        }
      }
      // Interleave the column phases into whole output rows: each element written exactly once.
      for (int64_t o = 0; o < pl.ocg; ++o) {
        float* yplane = y.ptr() + (wi.n * oc + wi.g * pl.ocg + o) * oh * ow;
        for (int64_t iyq = wi.qy0; iyq < wi.qy1; ++iyq) {
          const int64_t qy = sy.lo + iyq;
          const int64_t oy = qy * sh + wi.ry - ph;
          float* yrow = yplane + oy * ow;
          for (int64_t rx = 0; rx < sw; ++rx) {
            row_base[static_cast<size_t>(rx)] =
                (rx * pl.ocg + o) * ldc + (iyq - wi.qy0) * xs[static_cast<size_t>(rx)].count;
          }
          if (sw == 1) {
            std::copy(cbuf.data() + row_base[0], cbuf.data() + row_base[0] + ow, yrow);
          } else if (sw == 2) {
            const int64_t r0 = pw % 2;  // the phase of column 0
            pl.kernels->interleave2(cbuf.data() + row_base[static_cast<size_t>(r0)],
                                    cbuf.data() + row_base[static_cast<size_t>(1 - r0)], yrow, ow);
          } else {
            for (int64_t ox = 0; ox < ow; ++ox) {
              yrow[ox] = cbuf[static_cast<size_t>(
                  row_base[static_cast<size_t>(rx_of[static_cast<size_t>(ox)])] +
                  col_of[static_cast<size_t>(ox)])];
            }
          }
          if (!pl.weights_finite) {
            // Where the zero padding met an Inf or NaN weight: the definition's value.
            for (int64_t ox = 0; ox < ow; ++ox) {
              const int64_t rx = rx_of[static_cast<size_t>(ox)];
              const PhaseTaps& ct = pl.cols[static_cast<size_t>(rx)];
              if (rt.size() == 0 || ct.size() == 0) continue;
              const int64_t qx = xs[static_cast<size_t>(rx)].lo + col_of[static_cast<size_t>(ox)];
              const auto [ay0, ay1] = std::minmax_element(rt.a.begin(), rt.a.end());
              const auto [ax0, ax1] = std::minmax_element(ct.a.begin(), ct.a.end());
              if (qy - *ay1 < 0 || qy - *ay0 >= h || qx - *ax1 < 0 || qx - *ax0 >= wd) {
                yrow[ox] = exact_element(pl, x, b, wi.n, wi.g, o, oy, ox);
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace

void execute(const PackedWeights::Impl& pl, const Tensor<float>& x, const float* b,
             Tensor<float>& y, int threads) {
  if (y.size() == 0) return;
  if (pl.gemm) {
    execute_gemm(pl, x, b, y, threads);
  } else {
    execute_direct(pl, x, b, y, threads);
  }
}

}  // namespace convt2d::optimized
