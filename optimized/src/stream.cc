#include "stream.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "byte_count.h"
#include "convt2d/checked.h"

namespace convt2d::optimized {
namespace {

// One input pixel: its image, that image's offset in y, its row and column.
struct Pixel {
  int64_t n, ybase, ih, iw;
};

// Output coordinate of input coordinate i through tap k: i·s - pad + k·d, or -1 when it lies
// outside [0, out). In 128 bits: i·s and pad may each approach 2^63 (validate() bounds the
// output size, not i·s alone).
__extension__ using Wide = __int128;
int64_t tap_output(int64_t i, int64_t s, int64_t pad, int64_t k, int64_t d, int64_t out) {
  const Wide o = static_cast<Wide>(i) * s - pad + static_cast<Wide>(k) * d;
  return o >= 0 && o < out ? static_cast<int64_t>(o) : -1;
}

// A tap's valid pixels are processed in chunks of at most kMaxStreamP, as equal as possible
// (8: 4 + 4).
struct Chunks {
  int64_t count = 0, base = 0, rem = 0;
  explicit Chunks(int64_t npix)
      : count((npix + kMaxStreamP - 1) / kMaxStreamP),
        base(count ? npix / count : 0),
        rem(count ? npix % count : 0) {}
  int64_t start(int64_t k) const { return k * base + std::min(k, rem); }
  int64_t size(int64_t k) const { return base + (k < rem ? 1 : 0); }
};

// A sum of byte counts, overflow-checked.
}  // namespace

void stream_skeleton(const Params& p, const KernelTable& k, StreamPlan& sp) {
  sp.on = true;
  sp.lanes = k.lanes;
  sp.block = int64_t{k.stream_nv} * k.lanes;
  const int64_t ocg = p.out_channels / p.groups;
  sp.nblocks = (ocg + sp.block - 1) / sp.block;
  sp.ocp = (ocg + sp.lanes - 1) / sp.lanes * sp.lanes;
  sp.taps = p.kernel_size.h * p.kernel_size.w;
  sp.icg = p.in_channels / p.groups;
}

int64_t stream_weight_floats(const Params& p, const StreamPlan& sp) {
  const char* what = "plan: stream weights";
  return checked_mul(checked_mul(checked_mul(p.groups, sp.ocp, what), sp.taps, what), sp.icg, what);
}

void stream_pack(const Params& p, const Tensor<float>& w, StreamPlan& sp) {
  const int64_t ocg = p.out_channels / p.groups, icg = sp.icg, taps = sp.taps;
  sp.w = AlignedVector<float>(static_cast<size_t>(stream_weight_floats(p, sp)));
  const float* src = w.ptr();  // [G·icg][ocg][kh][kw]
  // Input channel c of one block: its nout·taps weights are one contiguous run at s, spread to
  // dst's [tap][c][width] (the lanes past nout zero).
  const auto pack_channel = [&](const float* s, float* dst, int64_t c, int64_t nout,
                                int64_t width) {
    for (int64_t o = 0; o < width; ++o) {
      for (int64_t t = 0; t < taps; ++t) {
        dst[(t * icg + c) * width + o] = o < nout ? s[o * taps + t] : 0.0f;
      }
    }
  };
  for (int64_t gi = 0; gi < p.groups; ++gi) {
    for (int64_t bi = 0; bi < sp.nblocks; ++bi) {
      const int64_t o0 = bi * sp.block;
      const int64_t nout = std::min(sp.block, ocg - o0);
      const int64_t width = std::min(sp.block, sp.ocp - o0);  // whole vectors
      for (int64_t c = 0; c < icg; ++c) {
        pack_channel(src + ((gi * icg + c) * ocg + o0) * taps, sp.w.data() + sp.offset(gi, bi), c,
                     nout, width);
      }
    }
  }
}

int64_t stream_run_bytes(const StreamPlan&, const Shape& x, int threads) {
  const char* what = "working memory: stream input";
  const int64_t npix = checked_mul(checked_mul(x[0], x[2], what), x[3], what);
  const int64_t xt = checked_mul(checked_mul(npix, x[1], what), sizeof(float), what);
  return ByteCount()
      .add(what, xt)
      .add("working memory: stream pixels", sizeof(Pixel), npix)
      .add("working memory: stream tap lists", 2 * kInt64Bytes, threads, npix)
      .total();
}

void stream_execute(const Params& p, const StreamPlan& sp, const KernelTable& k,
                    const Tensor<float>& x, const float* b, Tensor<float>& y, int threads) {
  const int64_t n_img = x.shape[0], ic = x.shape[1], h = x.shape[2], wd = x.shape[3];
  const int64_t oc = y.shape[1], oh = y.shape[2], ow = y.shape[3];
  const int64_t ohw = oh * ow, icg = sp.icg, ocg = oc / p.groups;
  const int64_t npix = n_img * h * wd, hw = h * wd;

  // The pixels in order (n, ih, iw), and the input transposed to xt[channel][pixel].
  std::vector<Pixel> pix(static_cast<size_t>(npix));
  for (int64_t n = 0, q = 0; n < n_img; ++n) {
    for (int64_t ih = 0; ih < h; ++ih) {
      for (int64_t iw = 0; iw < wd; ++iw, ++q) {
        pix[static_cast<size_t>(q)] = {n, n * oc * ohw, ih, iw};
      }
    }
  }
  std::vector<float> xt(static_cast<size_t>(npix * ic));
  for (int64_t n = 0; n < n_img; ++n) {
    for (int64_t c = 0; c < ic; ++c) {
      std::copy_n(x.ptr() + (n * ic + c) * hw, hw, xt.data() + c * npix + n * hw);
    }
  }
  // Per thread: the valid pixels of one tap (index and output offset).
  std::vector<int64_t> lists(static_cast<size_t>(std::max(threads, 1) * 2 * npix));

  const int64_t items = p.groups * sp.nblocks;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int64_t it = 0; it < items; ++it) {
    int64_t* const qs = lists.data() + 2 * npix * (threads > 1 ? omp_get_thread_num() : 0);
    int64_t* const offs = qs + npix;
    const int64_t gi = it / sp.nblocks, bi = it % sp.nblocks;
    const int64_t o0 = bi * sp.block;
    const int64_t nout = std::min(sp.block, ocg - o0);
    const int64_t width = std::min(sp.block, sp.ocp - o0);
    const int nv = static_cast<int>(width / sp.lanes);
    // The block's channels of every image start at the bias; the taps add into them.
    for (int64_t n = 0; n < n_img; ++n) {
      for (int64_t o = 0; o < nout; ++o) {
        const int64_t ch = gi * ocg + o0 + o;
        float* plane = y.ptr() + (n * oc + ch) * ohw;
        std::fill(plane, plane + ohw, b ? b[ch] : 0.0f);
      }
    }
    float* yb = y.ptr() + (gi * ocg + o0) * ohw;
    const float* wb = sp.w.data() + sp.offset(gi, bi);
    const float* xg = xt.data() + gi * icg * npix;
    for (int64_t fh = 0; fh < kh; ++fh) {
      for (int64_t fw = 0; fw < kw; ++fw) {
        // The pixels this tap puts inside the output: the others (in the cropped padding)
        // are neither computed nor stored.
        int64_t m = 0;
        for (int64_t q = 0; q < npix; ++q) {
          const Pixel& px = pix[static_cast<size_t>(q)];
          const int64_t oy = tap_output(px.ih, p.stride.h, p.padding.h, fh, p.dilation.h, oh);
          const int64_t ox = tap_output(px.iw, p.stride.w, p.padding.w, fw, p.dilation.w, ow);
          if (oy < 0 || ox < 0) continue;
          qs[m] = q;
          offs[m] = px.ybase + oy * ow + ox;
          ++m;
        }
        const float* wt = wb + (fh * kw + fw) * icg * width;
        const Chunks chunks(m);
        for (int64_t kc = 0; kc < chunks.count; ++kc) {
          const int64_t j0 = chunks.start(kc);
          StreamArgs a{};
          a.w = wt;
          a.x = xg;
          a.x_stride = npix;
          a.xidx = qs + j0;
          a.icg = icg;
          a.y = yb;
          a.off = offs + j0;
          a.out_stride = ohw;
          a.nout = nout;
          k.stream[chunks.size(kc)][nv](a);
        }
      }
    }
  }
}

}  // namespace convt2d::optimized
