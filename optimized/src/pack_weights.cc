// The plan and its packed weights: phases, path and tile heights, then every weight copied once
// into the panel order the micro-kernels read (see PackedWeights::Impl), walking the panels in
// that order so that no weight pays a division.

#include <cmath>

#include "blocking.h"
#include "plan.h"

namespace convt2d::optimized {
namespace {

// The fused-phase variant of the direct path, where it applies (see Impl::fused).
void plan_fused(PackedWeights::Impl& pl) {
  const auto shared_offsets = [](const PhaseSet& ps) {
    return std::all_of(ps.taps.begin(), ps.taps.end(),
                       [&](const PhaseTaps& t) { return t.a == ps.taps[0].a; });
  };
  const int64_t nph = pl.rows.count() * pl.cols.count();
  if (!pl.gemm && pl.ocg == 1 && nph >= 2 && nph <= kMaxFusedP && shared_offsets(pl.rows) &&
      shared_offsets(pl.cols)) {
    pl.fused = true;
    pl.fused_p = nph;
    pl.fused_ah = pl.rows.taps[0].a;
    pl.fused_aw = pl.cols.taps[0].a;
  }
}

// The panels' offsets: one panel per (group, iry, irx, channel block) of taps·icg rows of mr
// channels. Every weight lands in exactly one phase, so the total is the weight count.
int64_t lay_out_panels(PackedWeights::Impl& pl) {
  const int64_t nry = pl.rows.count(), nrx = pl.cols.count();
  // g·nry·nrx·ocblocks <= OC·kh·kw <= the weight count: it fits.
  pl.offsets.reserve(static_cast<size_t>(pl.g * nry * nrx * pl.ocblocks));
  int64_t total = 0;
  for (int64_t gi = 0; gi < pl.g; ++gi) {
    for (int64_t iry = 0; iry < nry; ++iry) {
      for (int64_t irx = 0; irx < nrx; ++irx) {
        const int64_t k_total = pl.taps(iry, irx) * pl.icg;
        for (int64_t ocb = 0; ocb < pl.ocblocks; ++ocb) {
          pl.offsets.push_back(total);
          total += k_total * std::min(pl.mr_block, pl.ocg - ocb * pl.mr_block);
        }
      }
    }
  }
  return total;
}

// The weights of one phase of one group: w[gi][c][o][fh][fw] for the phase's row taps rt and
// column taps ct.
struct PhaseWeights {
  const float* w;  // group gi's weights
  int64_t ocg, kh, kw;
  const PhaseTaps *rt, *ct;
  float at(int64_t c, int64_t o, int64_t ih, int64_t iw) const {
    return w[((c * ocg + o) * kh + rt->k[static_cast<size_t>(ih)]) * kw +
             ct->k[static_cast<size_t>(iw)]];
  }
};

// Direct layout: per channel block, [k = t·icg + c][m < mr], in write order.
void pack_direct_panel(PackedWeights::Impl& pl, int64_t gi, int64_t iry, int64_t irx,
                       const PhaseWeights& src) {
  for (int64_t ocb = 0; ocb < pl.ocblocks; ++ocb) {
    const int64_t o0 = ocb * pl.mr_block, mr = std::min(pl.mr_block, pl.ocg - o0);
    float* dst = pl.packed.data() + (pl.panel(gi, iry, irx, ocb) - pl.packed.data());
    for (int64_t ih = 0; ih < src.rt->size(); ++ih) {  // t = ih·ntw + iw
      for (int64_t iw = 0; iw < src.ct->size(); ++iw) {
        for (int64_t c = 0; c < pl.icg; ++c) {
          for (int64_t m = 0; m < mr; ++m) *dst++ = src.at(c, o0 + m, ih, iw);
        }
      }
    }
  }
}

// GEMM layout: per k-chunk of whole channels, per channel block, [k = c·taps + t][m < mr].
void pack_gemm_panel(PackedWeights::Impl& pl, int64_t gi, int64_t iry, int64_t irx,
                     const PhaseWeights& src) {
  const int64_t nt = pl.taps(iry, irx), cch = pl.chunk_channels(iry, irx);
  // One block of one chunk: channels [c0, c0 + cn), outputs [o0, o0 + mr), in write order.
  const auto pack_block = [&](float* dst, int64_t c0, int64_t cn, int64_t o0, int64_t mr) {
    for (int64_t c = c0; c < c0 + cn; ++c) {
      for (int64_t ih = 0; ih < src.rt->size(); ++ih) {
        for (int64_t iw = 0; iw < src.ct->size(); ++iw) {
          for (int64_t m = 0; m < mr; ++m) *dst++ = src.at(c, o0 + m, ih, iw);
        }
      }
    }
  };
  for (int64_t c0 = 0; c0 < pl.icg; c0 += cch) {
    const int64_t cn = std::min(cch, pl.icg - c0), k0 = c0 * nt, kc = cn * nt;
    for (int64_t ocb = 0; ocb < pl.ocblocks; ++ocb) {
      const int64_t o0 = ocb * pl.mr_block, mr = std::min(pl.mr_block, pl.ocg - o0);
      pack_block(pl.packed.data() + (pl.gemm_a(gi, iry, irx, k0, kc, ocb) - pl.packed.data()), c0,
                 cn, o0, mr);
    }
  }
}

void pack_panels(PackedWeights::Impl& pl, const Tensor<float>& w) {
  pl.packed.resize(static_cast<size_t>(lay_out_panels(pl)));
  for (int64_t gi = 0; gi < pl.g; ++gi) {
    for (int64_t iry = 0; iry < pl.rows.count(); ++iry) {
      for (int64_t irx = 0; irx < pl.cols.count(); ++irx) {
        const PhaseTaps& rt = pl.rows.taps[static_cast<size_t>(iry)];
        const PhaseTaps& ct = pl.cols.taps[static_cast<size_t>(irx)];
        const PhaseWeights src{
            w.ptr() + gi * pl.icg * pl.ocg * pl.kh * pl.kw, pl.ocg, pl.kh, pl.kw, &rt, &ct};
        if (pl.gemm) {
          pack_gemm_panel(pl, gi, iry, irx, src);
        } else {
          pack_direct_panel(pl, gi, iry, irx, src);
        }
      }
    }
  }
}

// fused_w: [g][ah index][aw index][c][phase], phase = iry·nrx + irx (one output channel).
void pack_fused(PackedWeights::Impl& pl, const Tensor<float>& w) {
  const int64_t nah = static_cast<int64_t>(pl.fused_ah.size());
  const int64_t naw = static_cast<int64_t>(pl.fused_aw.size());
  pl.fused_w.resize(static_cast<size_t>(pl.g * nah * naw * pl.icg * pl.fused_p));  // = weights
  // The [c][phase] weights of group gi and tap offsets (gh, gw), in write order.
  const auto pack_taps = [&](int64_t gi, int64_t gh, int64_t gw) {
    float* dst = pl.fused_w.data() + pl.fused_index(gi, gh, gw);
    for (int64_t c = 0; c < pl.icg; ++c) {
      const float* wc = w.ptr() + (gi * pl.icg + c) * pl.kh * pl.kw;
      for (const PhaseTaps& rt : pl.rows.taps) {
        for (const PhaseTaps& ct : pl.cols.taps) {
          *dst++ = wc[rt.k[static_cast<size_t>(gh)] * pl.kw + ct.k[static_cast<size_t>(gw)]];
        }
      }
    }
  };
  for (int64_t gi = 0; gi < pl.g; ++gi) {
    for (int64_t gh = 0; gh < nah; ++gh) {
      for (int64_t gw = 0; gw < naw; ++gw) pack_taps(gi, gh, gw);
    }
  }
}

}  // namespace

std::unique_ptr<PackedWeights::Impl> plan_skeleton(const Params& p, Isa isa, Path path) {
  auto pl = std::make_unique<PackedWeights::Impl>();
  pl->p = p;
  pl->isa = isa;
  pl->kernels = &kernel_table(isa);
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
  pl->kc_block = blocking::gemm_panel_bytes() / (4 * pl->kernels->lanes * kGemmNv);
  pl->max_taps = pl->rows.most_taps() * pl->cols.most_taps();  // <= kh·kw
  // Path::kStream: the stream layout (stream.h) instead of the phase panels.
  if (path == Path::kStream) {
    stream_skeleton(p, *pl->kernels, pl->stream);
  } else {
    plan_fused(*pl);  // make_plan() turns it off for weights that are not all finite
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
  pack_panels(*pl, w);
  pl->weights_finite =
      std::all_of(w.data.begin(), w.data.end(), [](float v) { return std::isfinite(v); });
  if (!pl->weights_finite) {
    pl->fused = false;
    pl->fused_p = 0;
    pl->fused_ah = {};
    pl->fused_aw = {};
  }
  if (pl->fused) pack_fused(*pl, w);
  return pl;
}

}  // namespace convt2d::optimized
