#include "drivers.h"

namespace convt2d::optimized {

float exact_element(const PackedWeights::Impl& pl, const Tensor<float>& x, const float* b,
                    int64_t n, int64_t gi, int64_t o, int64_t oy, int64_t ox) {
  const Params& p = pl.p;
  const int64_t ic = x.shape[1], h = x.shape[2], wd = x.shape[3];
  // The packed weights of phase (ry, rx) hold every tap of that phase.
  const int64_t ry = (oy + p.padding.h) % p.stride.h, qy = (oy + p.padding.h) / p.stride.h;
  const int64_t rx = (ox + p.padding.w) % p.stride.w, qx = (ox + p.padding.w) / p.stride.w;
  const int64_t iry = pl.rows.find(ry), irx = pl.cols.find(rx);
  const PhaseTaps& rt = pl.rows.of(ry);
  const PhaseTaps& ct = pl.cols.of(rx);
  float acc = b ? b[gi * pl.ocg + o] : 0.0f;
  for (int64_t ih = 0; ih < rt.size(); ++ih) {
    const int64_t iy = qy - rt.a[static_cast<size_t>(ih)];
    if (iy < 0 || iy >= h) continue;
    for (int64_t iw = 0; iw < ct.size(); ++iw) {
      const int64_t ix = qx - ct.a[static_cast<size_t>(iw)];
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

}  // namespace convt2d::optimized
