#pragma once
// The micro-kernel bodies, written once over a tiny vector abstraction V (V::kLanes float lanes)
// and instantiated per ISA in a file compiled with that ISA's flags. Include only from such a
// file.
//
// The accumulator arrays are indexed only by fully unrolled loops (the pragmas) and initialised
// without branches around loops: GCC then keeps every accumulator in a register; otherwise it
// spills them on every iteration, a 2-3x slowdown.

#include <algorithm>
#include <string>
#include <utility>

#include "convt2d/half.h"
#include "kernels.h"

namespace convt2d::optimized {

inline constexpr int64_t kPrefetchChannels = 4;
inline constexpr int64_t kPrefetchFloats = 1024;
inline constexpr int64_t kStreamPrefetchFloats = 1024;

// Two phases' vectors a and b interleaved (a0 b0 a1 b1 ...) into out, of which only the first
// `left` floats exist (none when left <= 0).
template <class V>
void store_zipped(float* out, typename V::type a, typename V::type b, int64_t left) {
  constexpr int kL = V::kLanes;
  typename V::type lo, hi;
  V::zip(a, b, lo, hi);
  if (left >= 2 * kL) {
    V::store(out, lo);
    V::store(out + kL, hi);
  } else if (left > kL) {
    V::store(out, lo);
    V::store_partial(out + kL, hi, left - kL);
  } else if (left > 0) {
    V::store_partial(out, lo, left);
  }
}

// Vector v of channel m of a direct tile: to the row buffer at `dst`, or (Zip) interleaved with
// the even phase's vector from `partner` straight into the output row at `dst`: no second pass.
template <class V, bool Zip>
[[gnu::always_inline]] inline void store_direct(const TileArgs& a, float* dst, const float* partner,
                                                int m, int v, typename V::type res) {
  constexpr int kL = V::kLanes;
  if constexpr (Zip) {
    store_zipped<V>(dst + m * a.y_stride + 2 * kL * v, V::load(partner + m * a.out_stride + kL * v),
                    res, a.y_n - 2 * kL * v);
  } else {
    V::store(dst + m * a.out_stride + kL * v, res);
  }
}

// One input channel of a direct tile: NV input vectors at xp times MR weights at wp into acc.
template <class V, int MR, int NV>
[[gnu::always_inline]] inline void direct_channel(typename V::type (&acc)[MR][NV], const float* xp,
                                                  const float* wp) {
  constexpr int kL = V::kLanes;
  typename V::type xv[NV];
  // Loaded once into a register: GCC would otherwise fold the load into every FMA that uses it,
  // MR loads per vector instead of one (for MR = 1 folding is best).
  _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) {
    xv[v] = MR > 1 ? V::pin(V::load(xp + kL * v)) : V::load(xp + kL * v);
  }
  _Pragma("GCC unroll 8") for (int m = 0; m < MR; ++m) {
    const auto wv = V::broadcast(wp + m);
    _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) {
      acc[m][v] = V::fma(wv, xv[v], acc[m][v]);
    }
  }
}

template <class V, int MR, int NV, bool Zip = false>
void direct_kernel(const TileArgs& a) {
  // Fewer than 8 accumulators cannot hide the FMA latency: then even and odd input channels go
  // to two accumulator sets, summed at the end.
  constexpr int kSets = MR * NV < 8 ? 2 : 1;
  // Locals, not reads through `a`: vector stores may alias anything (__m256 is may_alias).
  const int64_t ntaps = a.ntaps, icg = a.icg, cs = a.chan_stride, rows = a.rows;
  const float* x = a.x;
  float* out = a.out;
  const float* partner = a.partner;
  float* y = a.y;
  for (int64_t r = 0; r < rows; ++r) {
    if (r > 0) {
      // The next row of the run, stepped to before it is used (never past the last row: that
      // pointer could lie outside its buffer). Only the pointers this variant uses: the others
      // may be null.
      x += a.x_row_step;
      if constexpr (Zip) {
        partner += a.out_row_step;
        y += a.y_row_step;
      } else {
        out += a.out_row_step;
      }
    }
    typename V::type acc[kSets][MR][NV];
    _Pragma("GCC unroll 8") for (int m = 0; m < MR; ++m) {
      _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) {
        acc[0][m][v] = V::broadcast(a.bias + m);
        if constexpr (kSets == 2) acc[1][m][v] = V::zero();
      }
    }
    for (int64_t t = 0; t < ntaps; ++t) {
      const float* xp = x + a.xoff[t];
      const float* wp = a.wtap[t];
      // One input channel into accumulator set s.
      const auto step = [&](int s) {
        direct_channel<V, MR, NV>(acc[s], xp, wp);
        xp += cs;
        wp += MR;
      };
      int64_t c = 0;
      if constexpr (kSets == 2) {
        for (; c + 2 <= icg; c += 2) {
          step(0);
          step(1);
        }
      }
      for (; c < icg; ++c) step(0);
    }
    _Pragma("GCC unroll 8") for (int m = 0; m < MR; ++m) {
      _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) {
        auto res = acc[0][m][v];
        if constexpr (kSets == 2) res = V::add(res, acc[1][m][v]);
        store_direct<V, Zip>(a, Zip ? y : out, partner, m, v, res);
      }
    }
  }
}

template <class V, int MR, int NV>
void gemm_kernel(const GemmArgs& g) {
  constexpr int kL = V::kLanes;
  // A narrow tile (8 × 1 vector for a 16-pixel phase) has too few accumulators to hide the FMA
  // latency: then even and odd k go to two sets, summed at the end, where both sets, the NV input
  // vectors and the broadcast fit in the registers (AVX2's 4 × 2 tile would spill 3 of 19
  // vectors to the stack every k: dcgan-2 at 56 % of peak).
  constexpr int kSets = MR * NV <= 8 && 2 * MR * NV + NV + 1 <= V::kRegisters ? 2 : 1;
  typename V::type acc[kSets][MR][NV];
  _Pragma("GCC unroll 8") for (int m = 0; m < MR; ++m) {
    _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) {
      acc[0][m][v] = g.accumulate ? V::load(g.c + m * g.ldc + kL * v) : V::broadcast(g.bias + m);
      if constexpr (kSets == 2) acc[1][m][v] = V::zero();
    }
  }
  const float* a = g.a;
  const float* b = g.b;
  const int64_t kn = g.k;
  const auto step = [&](int s) {
    // The weights stream from L3 or memory (each is used for one phase's pixels only); a
    // software prefetch a few cache lines ahead hides that latency.
    V::prefetch(a + kPrefetchFloats);
    typename V::type bv[NV];
    _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) bv[v] = V::pin(V::load(b + kL * v));
    _Pragma("GCC unroll 8") for (int m = 0; m < MR; ++m) {
      const auto av = V::broadcast(a + m);
      _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) {
        acc[s][m][v] = V::fma(av, bv[v], acc[s][m][v]);
      }
    }
    a += MR;
    b += kL * NV;
  };
  int64_t k = 0;
  if constexpr (kSets == 2) {
    for (; k + 2 <= kn; k += 2) {
      step(0);
      step(1);
    }
  }
  for (; k < kn; ++k) step(0);
  _Pragma("GCC unroll 8") for (int m = 0; m < MR; ++m) {
    _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) {
      auto r = acc[0][m][v];
      if constexpr (kSets == 2) r = V::add(r, acc[1][m][v]);
      V::store(g.c + m * g.ldc + kL * v, r);
    }
  }
}

template <class V, int P, int NV>
void fused_kernel(const TileArgs& a) {
  constexpr int kL = V::kLanes;
  typename V::type acc[P][NV];
  const auto bias = V::broadcast(a.bias);
  _Pragma("GCC unroll 9") for (int p = 0; p < P; ++p) {
    _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) acc[p][v] = bias;
  }
  const int64_t ntaps = a.ntaps, icg = a.icg, cs = a.chan_stride;
  const float* const x = a.x;
  for (int64_t t = 0; t < ntaps; ++t) {
    const float* xp = x + a.xoff[t];
    const float* wp = a.wtap[t];
    for (int64_t c = 0; c < icg; ++c, xp += cs, wp += P) {
      typename V::type xv[NV];
      _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) xv[v] = V::pin(V::load(xp + kL * v));
      _Pragma("GCC unroll 9") for (int p = 0; p < P; ++p) {
        const auto wv = V::broadcast(wp + p);
        _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) {
          acc[p][v] = V::fma(wv, xv[v], acc[p][v]);
        }
      }
    }
  }
  _Pragma("GCC unroll 9") for (int p = 0; p < P; ++p) {
    _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) {
      V::store(a.out + p * a.out_stride + kL * v, acc[p][v]);
    }
  }
}

template <class V>
void pack_kernel(const PackArgs& p) {
  constexpr int kL = V::kLanes;
  const int64_t channels = p.channels, taps = p.taps, width = p.width, stride = p.plane_stride;
  float* out = p.out;
  const float* plane = p.plane0;
  for (int64_t c = 0; c < channels; ++c, plane += stride) {
    for (int64_t t = 0; t < taps; ++t, out += width) {
      const TapOps& to = p.tap_ops[t];
      if (!to.full) {
        for (int64_t j = 0; j < width; j += kL) V::store(out + j, V::zero());
      }
      for (int64_t o = to.begin; o < to.end; ++o) {
        const float* src = plane + p.ops[o].src;
        float* dst = out + p.ops[o].dst;
        const int64_t len = p.ops[o].len;
        // The rows of 256 channel planes are too many streams for the hardware prefetchers:
        // ask for the same row kPrefetchChannels planes ahead (prefetches never fault).
        if (c + kPrefetchChannels < channels) {
          for (int64_t j = 0; j < len; j += 16) V::prefetch(src + kPrefetchChannels * stride + j);
          V::prefetch(src + kPrefetchChannels * stride + len - 1);
        }
        int64_t j = 0;
        for (; j + kL <= len; j += kL) V::store(dst + j, V::load(src + j));
        // The tail with masked loads and stores: nothing outside [src, src + len) is touched.
        if (j < len) V::store_partial(dst + j, V::load_partial(src + j, len - j), len - j);
      }
    }
  }
}

template <class V>
void interleave2_kernel(const float* even, const float* odd, float* out, int64_t n) {
  constexpr int kL = V::kLanes;
  int64_t j = 0;
  for (; 2 * j + 2 * kL <= n; j += kL) {
    typename V::type lo, hi;
    V::zip(V::load(even + j), V::load(odd + j), lo, hi);
    V::store(out + 2 * j, lo);
    V::store(out + 2 * j + kL, hi);
  }
  // The tail (fewer than 2·kL outputs) with masked loads and stores: a 56-wide row would
  // otherwise write 24 of its outputs one by one.
  const int64_t rem = n - 2 * j;
  if (rem > 0) {
    typename V::type lo, hi;
    V::zip(V::load_partial(even + j, (rem + 1) / 2), V::load_partial(odd + j, rem / 2), lo, hi);
    V::store_partial(out + 2 * j, lo, std::min<int64_t>(rem, kL));
    if (rem > kL) V::store_partial(out + 2 * j + kL, hi, rem - kL);
  }
}

// U vectors of both phases at once: 2·U independent FMA chains hide the FMA latency that a
// depthwise row (a handful of taps per output) would otherwise wait on.
template <class V, int U>
void row2_block(const Row2Args& a, int64_t j) {
  constexpr int kL = V::kLanes;
  const auto bias = V::broadcast(&a.bias);
  typename V::type acc[2][U];
  _Pragma("GCC unroll 8") for (int u = 0; u < U; ++u) acc[0][u] = acc[1][u] = bias;
  _Pragma("GCC unroll 2") for (int p = 0; p < 2; ++p) {
    for (int64_t t = 0; t < a.ntaps[p]; ++t) {
      const auto wv = V::broadcast(a.w[p] + t);
      const float* xp = a.x + a.xoff[p][t] + j;
      _Pragma("GCC unroll 8") for (int u = 0; u < U; ++u) {
        acc[p][u] = V::fma(wv, V::load(xp + kL * u), acc[p][u]);
      }
    }
  }
  _Pragma("GCC unroll 8") for (int u = 0; u < U; ++u) {
    const int64_t o = 2 * (j + kL * u);
    store_zipped<V>(a.out + o, acc[0][u], acc[1][u], a.n - o);
  }
}

template <class V>
void row2_kernel(const Row2Args& a) {
  constexpr int kL = V::kLanes;
  const int64_t nvec = ((a.n + 1) / 2 + kL - 1) / kL;  // vectors of the longer phase
  int64_t v = 0;
  for (; v + 4 <= nvec; v += 4) row2_block<V, 4>(a, v * kL);
  switch (nvec - v) {
    case 3:
      row2_block<V, 3>(a, v * kL);
      break;
    case 2:
      row2_block<V, 2>(a, v * kL);
      break;
    case 1:
      row2_block<V, 1>(a, v * kL);
      break;
    default:
      break;
  }
}

template <class V>
void widen_f16_kernel(const uint16_t* in, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + V::kLanes <= n; i += V::kLanes) V::widen_f16(in + i, out + i);
  for (; i < n; ++i) out[i] = float16::from_bits(in[i]).to_float();
}

template <class V>
void narrow_f16_kernel(const float* in, uint16_t* out, int64_t n) {
  int64_t i = 0;
  for (; i + V::kLanes <= n; i += V::kLanes) V::narrow_f16(in + i, out + i);
  for (; i < n; ++i) out[i] = float16(in[i]).bits();
}

// Stream tile (StreamArgs): every weight is loaded once and feeds P FMAs. Small tiles (P·NV < 8
// accumulators) split the input channels into kSets equal ranges, each with its own
// accumulators, summed at the end: enough independent FMA chains to hide the latency, and kSets
// sequential streams in flight at once (measured faster than one stream of the same bytes).
template <class V, int P, int NV>
void stream_kernel(const StreamArgs& a) {
  constexpr int kL = V::kLanes;
  constexpr int kSets = P * NV >= 8 ? 1 : P * NV >= 4 ? 2 : 4;
  constexpr int64_t kStep = int64_t{NV} * kL;  // floats of one input channel
  typename V::type acc[kSets][P][NV];
  _Pragma("GCC unroll 8") for (int s = 0; s < kSets; ++s) {
    _Pragma("GCC unroll 8") for (int p = 0; p < P; ++p) {
      _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) acc[s][p][v] = V::zero();
    }
  }
  const int64_t icg = a.icg, len = icg / kSets, xs = a.x_stride;
  const float* w = a.w;
  const float* x = a.x;
  int64_t xi[P];
  _Pragma("GCC unroll 8") for (int p = 0; p < P; ++p) xi[p] = a.xidx[p];
  // Input channel c of set s: s·len + c; the last icg - kSets·len channels go to set 0.
  const auto step = [&](int s, const float* wc, const float* xc) {
    // Every cache line of the stream is prefetched, kStreamPrefetchFloats ahead: one prefetch
    // per 16 floats (two AVX2 vectors share a line; measured faster than one per vector).
    constexpr int kPerLine = kL >= 16 ? 1 : 16 / kL;
    _Pragma("GCC unroll 8") for (int v = 0; v < NV; v += kPerLine) {
      V::prefetch(wc + kStreamPrefetchFloats + kL * v);
    }
    typename V::type wv[NV];
    _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) {
      wv[v] = P > 1 ? V::pin(V::load(wc + kL * v)) : V::load(wc + kL * v);
    }
    _Pragma("GCC unroll 8") for (int p = 0; p < P; ++p) {
      const auto xv = V::broadcast(xc + xi[p]);
      _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) {
        acc[s][p][v] = V::fma(wv[v], xv, acc[s][p][v]);
      }
    }
  };
  for (int64_t c = 0; c < len; ++c) {
    _Pragma("GCC unroll 4") for (int s = 0; s < kSets; ++s) {
      step(s, w + (s * len + c) * kStep, x + (s * len + c) * xs);
    }
  }
  for (int64_t c = kSets * len; c < icg; ++c) step(0, w + c * kStep, x + c * xs);
  const int64_t nout = a.nout, os = a.out_stride;
  _Pragma("GCC unroll 8") for (int p = 0; p < P; ++p) {
    alignas(64) float res[NV * kL];
    _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) {
      auto r = acc[0][p][v];
      _Pragma("GCC unroll 4") for (int s = 1; s < kSets; ++s) r = V::add(r, acc[s][p][v]);
      V::store(res + kL * v, r);
    }
    float* y = a.y + a.off[p];
    for (int64_t o = 0; o < nout; ++o) y[o * os] += res[o];
  }
}

template <class V, int P, int NV>
const char* stream_name(const char* isa) {
  static const std::string name =
      "convt2d_f32_stream" + std::to_string(P) + "x" + std::to_string(V::kLanes * NV) + "__" + isa;
  return name.c_str();
}

template <class V, int P, int... NVs>
void fill_stream(KernelTable& t, const char* isa, std::integer_sequence<int, NVs...>) {
  ((t.stream[P][NVs + 1] = &stream_kernel<V, P, NVs + 1>,
    t.stream_name[P][NVs + 1] = stream_name<V, P, NVs + 1>(isa)),
   ...);
}

template <class V, int NV, int... Ps>
void fill_stream_rows(KernelTable& t, const char* isa, std::integer_sequence<int, Ps...>) {
  static_assert(NV <= kMaxStreamNv);
  t.stream_nv = NV;
  (fill_stream<V, Ps + 1>(t, isa, std::make_integer_sequence<int, NV>{}), ...);
}

// Names are built once per instantiation and live as long as the program.
template <class V, bool Gemm, int MR, int NV>
const char* kernel_name(const char* isa) {
  static const std::string name = std::string("convt2d_f32_") + (Gemm ? "gemm_" : "") +
                                  std::to_string(MR) + "x" + std::to_string(V::kLanes * NV) + "__" +
                                  isa;
  return name.c_str();
}

template <class V, int P, int NV>
const char* fused_name(const char* isa) {
  static const std::string name =
      "convt2d_f32_phases" + std::to_string(P) + "x" + std::to_string(V::kLanes * NV) + "__" + isa;
  return name.c_str();
}

template <class V, int MR, int... NVs>
void fill_direct(KernelTable& t, const char* isa, std::integer_sequence<int, NVs...>) {
  ((t.direct[MR][NVs + 1] = &direct_kernel<V, MR, NVs + 1>,
    t.direct_zip[MR][NVs + 1] = &direct_kernel<V, MR, NVs + 1, true>,
    t.direct_name[MR][NVs + 1] = kernel_name<V, false, MR, NVs + 1>(isa)),
   ...);
}

// The vectors per fused tile: as many as `regs` registers hold with the P·nv accumulators, the
// nv input vectors and one broadcast weight.
constexpr int fused_nv(int p, int regs) {
  return std::clamp((regs - 1) / (p + 1), 1, kMaxFusedNv);
}

template <class V, int P, int... NVs>
void fill_fused(KernelTable& t, const char* isa, std::integer_sequence<int, NVs...>) {
  ((t.fused[P][NVs + 1] = &fused_kernel<V, P, NVs + 1>,
    t.fused_name[P][NVs + 1] = fused_name<V, P, NVs + 1>(isa)),
   ...);
}

template <class V, int Regs, int... Ps>
void fill_fused_rows(KernelTable& t, const char* isa, std::integer_sequence<int, Ps...>) {
  ((fill_fused<V, Ps + 2>(t, isa, std::make_integer_sequence<int, fused_nv(Ps + 2, Regs)>{}),
    t.fused_nv[Ps + 2] = fused_nv(Ps + 2, Regs)),
   ...);
}

template <class V, int MR, int... NVs>
void fill_gemm(KernelTable& t, const char* isa, std::integer_sequence<int, NVs...>) {
  ((t.gemm[MR][NVs + 1] = &gemm_kernel<V, MR, NVs + 1>,
    t.gemm_name[MR][NVs + 1] = kernel_name<V, true, MR, NVs + 1>(isa)),
   ...);
}

template <class V, int... MRs>
void fill_gemm_rows(KernelTable& t, const char* isa, std::integer_sequence<int, MRs...>) {
  (fill_gemm<V, MRs + 1>(t, isa, std::make_integer_sequence<int, kGemmNv>{}), ...);
}

template <class V, int... MRs>
void fill_direct_rows(KernelTable& t, const char* isa, std::integer_sequence<int, MRs...>) {
  (fill_direct<V, MRs + 1>(t, isa, std::make_integer_sequence<int, kDirectNv[MRs + 1]>{}), ...);
}

/// The table of one ISA: direct tiles up to DirectMr channels, GEMM tiles up to GemmMr, fused
/// tiles sized for Regs vector registers, stream tiles of StreamNv vectors of channels.
template <class V, int GemmMr, int DirectMr, int Regs, int StreamNv>
KernelTable make_table(const char* isa) {
  KernelTable t;
  t.lanes = V::kLanes;
  t.gemm_mr = GemmMr;
  t.direct_mr = DirectMr;
  fill_direct_rows<V>(t, isa, std::make_integer_sequence<int, DirectMr>{});
  fill_gemm_rows<V>(t, isa, std::make_integer_sequence<int, GemmMr>{});
  fill_fused_rows<V, Regs>(t, isa, std::make_integer_sequence<int, kMaxFusedP - 1>{});
  fill_stream_rows<V, StreamNv>(t, isa, std::make_integer_sequence<int, kMaxStreamP>{});
  t.pack = &pack_kernel<V>;
  t.interleave2 = &interleave2_kernel<V>;
  t.row2 = &row2_kernel<V>;
  t.widen_f16 = &widen_f16_kernel<V>;
  t.narrow_f16 = &narrow_f16_kernel<V>;
  return t;
}

}  // namespace convt2d::optimized
