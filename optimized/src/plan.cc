#include "plan.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
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

std::unique_ptr<PackedWeights::Impl> make_plan(const Params& p, const Tensor<float>& w, Isa isa) {
  auto pl = std::make_unique<PackedWeights::Impl>();
  pl->p = p;
  pl->isa = isa;
  pl->kernels = isa == Isa::kAvx2 ? &avx2_kernels() : &scalar_kernels();
  pl->g = p.groups;
  pl->icg = p.in_channels / p.groups;
  pl->ocg = p.out_channels / p.groups;
  pl->kh = p.kernel_size.h;
  pl->kw = p.kernel_size.w;
  pl->rows = phase_taps(pl->kh, p.stride.h, p.dilation.h);
  pl->cols = phase_taps(pl->kw, p.stride.w, p.dilation.w);
  pl->ocblocks = ceil_div(pl->ocg, kMaxMr);

  const int64_t sh = p.stride.h, sw = p.stride.w;
  int64_t total = 0;
  for (int64_t gi = 0; gi < pl->g; ++gi) {
    for (int64_t ry = 0; ry < sh; ++ry) {
      for (int64_t rx = 0; rx < sw; ++rx) {
        const int64_t taps = pl->rows[ry].size() * pl->cols[rx].size();
        for (int64_t ocb = 0; ocb < pl->ocblocks; ++ocb) {
          const int64_t mr = std::min<int64_t>(kMaxMr, pl->ocg - ocb * kMaxMr);
          pl->offsets.push_back(total);
          total += taps * pl->icg * mr;
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
        for (int64_t ocb = 0; ocb < pl->ocblocks; ++ocb) {
          const int64_t mr = std::min<int64_t>(kMaxMr, pl->ocg - ocb * kMaxMr);
          float* dst = const_cast<float*>(pl->panel(gi, ry, rx, ocb));
          for (int64_t ih = 0; ih < rt.size(); ++ih) {
            for (int64_t iw = 0; iw < ct.size(); ++iw) {
              const int64_t t = ih * ct.size() + iw;
              for (int64_t c = 0; c < pl->icg; ++c) {
                for (int64_t m = 0; m < mr; ++m) {
                  const int64_t oc = ocb * kMaxMr + m;
                  const float v =
                      src[(((gi * pl->icg + c) * pl->ocg + oc) * pl->kh + rt.k[ih]) * pl->kw +
                          ct.k[iw]];
                  dst[(t * pl->icg + c) * mr + m] = v;
                }
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

void execute(const PackedWeights::Impl& pl, const Tensor<float>& x, const float* b,
             Tensor<float>& y, int threads) {
  const int64_t n_batch = x.shape[0], ic = x.shape[1], h = x.shape[2], wd = x.shape[3];
  const int64_t oc = y.shape[1], oh = y.shape[2], ow = y.shape[3];
  if (y.size() == 0) return;
  const Params& p = pl.p;
  const int64_t sh = p.stride.h, sw = p.stride.w, ph = p.padding.h, pw = p.padding.w;

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
    c.padded = ceil_div(c.count, 8) * 8;
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
  const int64_t in_rows = n_batch * ic * h;
  std::unique_ptr<float[]> xp(new float[static_cast<size_t>(in_rows * wp)]);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t r = 0; r < in_rows; ++r) {
    float* d = xp.get() + r * wp;
    std::fill(d, d + pad_l, 0.0f);
    std::copy(x.ptr() + r * wd, x.ptr() + (r + 1) * wd, d + pad_l);
    std::fill(d + pad_l + wd, d + wp, 0.0f);
  }

  const int64_t items = n_batch * pl.g * oh;
  const int64_t max_taps = pl.kh * pl.kw;
#pragma omp parallel num_threads(nt)
  {
    std::vector<float> buf(static_cast<size_t>(kMaxMr * row_len));
    std::vector<int64_t> xoff(static_cast<size_t>(max_taps)), tap_a(static_cast<size_t>(max_taps));
    std::vector<const float*> wtap(static_cast<size_t>(max_taps));
    std::vector<int64_t> valid_ih(static_cast<size_t>(pl.kh));
#pragma omp for schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t oy = item % oh, gi = (item / oh) % pl.g, n = item / (oh * pl.g);
      const int64_t ry = (oy + ph) % sh, qy = (oy + ph) / sh;
      const PhaseTaps& rt = pl.rows[static_cast<size_t>(ry)];
      int64_t nvalid = 0;
      for (int64_t ih = 0; ih < rt.size(); ++ih) {
        const int64_t iy = qy - rt.a[ih];
        if (iy >= 0 && iy < h) valid_ih[static_cast<size_t>(nvalid++)] = ih;
      }
      const float* xg = xp.get() + (n * ic + gi * pl.icg) * h * wp;
      for (int64_t ocb = 0; ocb < pl.ocblocks; ++ocb) {
        const int64_t mr = std::min<int64_t>(kMaxMr, pl.ocg - ocb * kMaxMr);
        float bias[kMaxMr] = {};
        for (int64_t m = 0; m < mr; ++m) bias[m] = b ? b[gi * pl.ocg + ocb * kMaxMr + m] : 0.0f;
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
          const int nv_max = kMaxNv[mr];
          for (int64_t j0 = 0; j0 < c.count;) {
            const int nv = static_cast<int>(std::min<int64_t>(nv_max, ceil_div(c.count - j0, 8)));
            const int64_t j1 = std::min(c.count, j0 + 8 * nv);
            a.x = xg + j0;
            a.out = seg + j0;
            // Input columns this tile reads for outputs j0..j1-1: qlo + j - a.
            const bool touches_padding =
                c.qlo + j0 - c.amax < 0 || c.qlo + j1 - 1 - c.amin > wd - 1;
            if (pl.weights_finite || !touches_padding) {
              pl.kernels->k[mr][nv](a);
            } else {
              // 0·Inf is NaN: sum only the taps whose input column exists, as the definition does.
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
          float* yrow = y.ptr() + ((n * oc + gi * pl.ocg + ocb * kMaxMr + m) * oh + oy) * ow;
          const float* bm = buf.data() + m * row_len;
          for (int64_t ox = 0; ox < ow; ++ox) yrow[ox] = bm[src[static_cast<size_t>(ox)]];
        }
      }
    }
  }
}

}  // namespace convt2d::optimized
