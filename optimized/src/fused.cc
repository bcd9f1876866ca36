// The fused-phase direct driver (Impl::fused): per phase row qy and block of phase columns qx,
// every phase's outputs of one channel in one tile; then the phase rows into output rows. The
// input is zero-padded in W once so that tiles read full vectors without checks.

#include "aligned.h"
#include "blocking.h"
#include "drivers.h"
#include "row_io.h"

namespace convt2d::optimized {
namespace {

using blocking::kFusedRows;
using blocking::kMaxPadVectors;

// How the fused-phase driver lays out one run, for execute_fused() and fused_run_bytes() alike:
// the phase units covering the output (oy = qy·sh - ph + ry for qy in [qy_lo, qy_hi], ry < sh;
// the same in W), the tiles' row of ld floats per phase, and the zero padding of the input rows:
// the tiles read input columns qx - aw for qx in [qx_lo, qx_lo + ld) and every tap offset aw.
struct FusedLayout {
  int64_t qy_lo = 0, qy_hi = 0, qx_lo = 0, qx_hi = 0, nvec = 0, ld = 0;
  int64_t pad_l = 0, pad_r = 0, wp = 0, padded_floats = 0;
  /// The phase rows' results of a thread: fused_p·ld floats.
  int64_t buf_floats = 0;
  /// False where that padding is more than kMaxPadVectors on a side (a huge padding or dilation
  /// puts whole tap offsets beside the input).
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

// One thread's share of a run: its buffers, and the phase rows of the work items it takes.
class FusedDriver {
 public:
  FusedDriver(const PackedWeights::Impl& pl, const FusedLayout& fl, const Tensor<float>& x,
              const float* b, Tensor<float>& y, const float* xp, const std::vector<int64_t>& src_of)
      : pl_(pl),
        fl_(fl),
        x_(x),
        b_(b),
        y_(y),
        xp_(xp),
        src_of_(src_of),
        buf_(static_cast<size_t>(fl.buf_floats)),
        xoff_(pl.fused_ah.size() * pl.fused_aw.size()),  // <= kh·kw
        wtap_(pl.fused_ah.size() * pl.fused_aw.size()) {}

  /// Work item: phase rows [q0, q0 + kFusedRows) of image n, group gi.
  void item(int64_t n, int64_t gi, int64_t q0) {
    const int64_t h = x_.shape[2];
    const float* xg = xp_ + (n * x_.shape[1] + gi * pl_.icg) * h * fl_.wp;
    const float bias = b_ ? b_[gi] : 0.0f;
    float* yplane = y_.ptr() + (n * y_.shape[1] + gi) * y_.shape[2] * y_.shape[3];
    for (int64_t qy = q0; qy < std::min(fl_.qy_hi + 1, q0 + kFusedRows); ++qy) {
      phase_row(xg, gi, qy, bias);
      store_rows(yplane, qy, bias);
    }
  }

 private:
  // The tap groups whose input row exists (the same rows for every phase) into xoff_, wtap_.
  int64_t tap_groups(int64_t gi, int64_t qy) {
    const int64_t h = x_.shape[2], nah = static_cast<int64_t>(pl_.fused_ah.size());
    const int64_t naw = static_cast<int64_t>(pl_.fused_aw.size());
    int64_t groups = 0;
    for (int64_t gh = 0; gh < nah; ++gh) {
      const int64_t iy = qy - pl_.fused_ah[static_cast<size_t>(gh)];
      if (iy < 0 || iy >= h) continue;
      for (int64_t gw = 0; gw < naw; ++gw) {
        // No overflow: iy·wp is within the padded input, qx_lo < 2^62, and qx_lo - aw is
        // within a padded row (fl.fits).
        xoff_[static_cast<size_t>(groups)] =
            iy * fl_.wp + fl_.pad_l + fl_.qx_lo - pl_.fused_aw[static_cast<size_t>(gw)];
        wtap_[static_cast<size_t>(groups)] = pl_.fused_w.data() + pl_.fused_index(gi, gh, gw);
        ++groups;
      }
    }
    return groups;
  }

  // Every phase's results of phase row qy into buf_, in tiles of as equal a width as possible.
  void phase_row(const float* xg, int64_t gi, int64_t qy, float bias) {
    const int64_t groups = tap_groups(gi, qy);
    if (groups == 0) {
      std::fill(buf_.begin(), buf_.end(), bias);
      return;
    }
    const int64_t lanes = pl_.kernels->lanes, nph = pl_.fused_p, nvec = fl_.nvec;
    const int64_t ntiles = ceil_div(nvec, int64_t{pl_.kernels->fused_nv[nph]});
    TileArgs a{};
    a.xoff = xoff_.data();
    a.wtap = wtap_.data();
    a.ntaps = groups;
    a.icg = pl_.icg;
    a.chan_stride = x_.shape[2] * fl_.wp;
    a.bias = &bias;
    a.out_stride = fl_.ld;
    for (int64_t ti = 0, v0 = 0; ti < ntiles; ++ti) {
      const int64_t tv = nvec / ntiles + (ti < nvec % ntiles ? 1 : 0);
      a.x = xg + v0 * lanes;
      a.out = buf_.data() + v0 * lanes;
      pl_.kernels->fused[nph][tv](a);
      v0 += tv;
    }
  }

  // The phase row's results into output rows qy·sh - ph + ry: each element written once. Only
  // the ry whose rows exist are visited (a stride of 10^9 has at most oh of them).
  void store_rows(float* yplane, int64_t qy, float bias) {
    const int64_t sh = pl_.p.stride.h, ph = pl_.p.padding.h, sw = pl_.p.stride.w;
    const int64_t oh = y_.shape[2], ow = y_.shape[3], nrx = pl_.cols.count();
    // Stride 2 with both column phases: even outputs come from one phase, odd from the other.
    const bool interleave = sw == 2 && nrx == 2 && ow >= 2;
    const int64_t ry0 = std::max<int64_t>(0, ph - qy * sh), ry1 = std::min(sh, oh + ph - qy * sh);
    for (int64_t ry = ry0; ry < ry1; ++ry) {
      float* yrow = yplane + (qy * sh - ph + ry) * ow;
      const int64_t iry = pl_.rows.find(ry);
      if (iry < 0) {
        std::fill(yrow, yrow + ow, bias);
        continue;
      }
      const float* row = buf_.data() + iry * nrx * fl_.ld;
      if (interleave) {
        pl_.kernels->interleave2(row + src_of_[0], row + src_of_[1], yrow, ow);
        continue;
      }
      for (int64_t ox = 0; ox < ow; ++ox) {
        const int64_t s = src_of_[static_cast<size_t>(ox)];
        yrow[ox] = s < 0 ? bias : row[s];
      }
    }
  }

  const PackedWeights::Impl& pl_;
  const FusedLayout& fl_;
  const Tensor<float>& x_;
  const float* b_;
  Tensor<float>& y_;
  const float* xp_;
  const std::vector<int64_t>& src_of_;
  AlignedVector<float> buf_;
  std::vector<int64_t> xoff_;
  std::vector<const float*> wtap_;
};

}  // namespace

bool fused_fits(const PackedWeights::Impl& pl, const Shape& x, const Shape& y) {
  return pl.fused && fused_layout(pl, x, y).fits;
}

void execute_fused(const PackedWeights::Impl& pl, const Tensor<float>& x, const float* b,
                   Tensor<float>& y, int nt) {
  const FusedLayout fl = fused_layout(pl, x.shape, y.shape);
  const int64_t ow = y.shape[3], sw = pl.p.stride.w, pw = pl.p.padding.w;
  const float* const xp = pad_input(x, fl.pad_l, fl.wp, fl.padded_floats, nt);
  // Where output column ox comes from in a phase row's results: phase (ox + pw) mod sw at unit
  // (ox + pw) / sw, or -1 when no tap reaches that column phase (the bias alone).
  std::vector<int64_t> src_of(static_cast<size_t>(ow));
  for (int64_t ox = 0; ox < ow; ++ox) {
    const int64_t irx = pl.cols.find((ox + pw) % sw);
    src_of[static_cast<size_t>(ox)] = irx < 0 ? -1 : irx * fl.ld + (ox + pw) / sw - fl.qx_lo;
  }
  const int64_t bands = ceil_div(fl.qy_hi - fl.qy_lo + 1, kFusedRows);
  const int64_t items = x.shape[0] * pl.g * bands;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    FusedDriver driver(pl, fl, x, b, y, xp, src_of);
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t band = item % bands, gi = (item / bands) % pl.g, n = item / (bands * pl.g);
      driver.item(n, gi, fl.qy_lo + band * kFusedRows);
    }
  }
}

void fused_run_bytes(const PackedWeights::Impl& pl, const Shape& x, const Shape& y,
                     ByteCount& shared, ByteCount& each) {
  const FusedLayout fl = fused_layout(pl, x, y);
  const int64_t groups =
      static_cast<int64_t>(pl.fused_ah.size()) * static_cast<int64_t>(pl.fused_aw.size());
  shared.add("working memory: padded input", kFloatBytes, fl.padded_floats)
      .add("working memory: output columns", kInt64Bytes, y[3]);
  each.add("working memory: phase rows", kFloatBytes, fl.buf_floats)
      .add("working memory: tap groups", kInt64Bytes + kPtrBytes, groups);
}

}  // namespace convt2d::optimized
