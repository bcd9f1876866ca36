#pragma once
// The backward micro-kernel bodies over the vector abstraction V of kernels_impl.h (which must
// also provide V::hsum, the sum of a vector's lanes, V::hsum4, four such sums stored, and
// V::any_nonfinite), instantiated per ISA in the file compiled with that ISA's flags. Include only
// from such a file.

#include <algorithm>
#include <string>
#include <utility>

#include "bwd_kernels.h"

namespace convt2d::optimized {

template <class V, int MR, int NV>
void bwd_data_kernel(const BwdDataArgs& a) {
  constexpr int kL = V::kLanes;
  // Fewer than 8 accumulators cannot hide the FMA latency: even and odd output channels (or,
  // for one output channel, taps) then go to two accumulator sets, summed at the end.
  constexpr int kSets = MR * NV < 8 ? 2 : 1;
  // Locals, not reads through `a`: vector stores may alias anything.
  const int64_t ntaps = a.ntaps, ocg = a.ocg, cs = a.chan_stride, n = a.n, rows = a.rows;
  const int64_t* dyoff = a.dyoff;
  const float* const* wtap = a.wtap;
  const float* dy = a.dy;
  float* dx = a.dx;
  for (int64_t row = 0; row < rows; ++row) {
    if (row > 0) {  // stepped before use: never past the last row (that could leave the buffer)
      dy += a.dy_row_step;
      dx += a.dx_row_step;
    }
    typename V::type acc[kSets][MR][NV];
    _Pragma("GCC unroll 8") for (int m = 0; m < MR; ++m) {
      _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) {
        acc[0][m][v] = V::zero();
        if constexpr (kSets == 2) acc[1][m][v] = V::zero();
      }
    }
    // One output channel of a tap into accumulator set s.
    const auto step = [&](int s, const float*& dp, const float*& wp) {
      typename V::type dv[NV];
      // Loaded once into a register (GCC would fold the load into each of the MR FMAs).
      _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) {
        dv[v] = MR > 1 ? V::pin(V::load(dp + kL * v)) : V::load(dp + kL * v);
      }
      _Pragma("GCC unroll 8") for (int m = 0; m < MR; ++m) {
        const auto wv = V::broadcast(wp + m);
        _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) {
          acc[s][m][v] = V::fma(wv, dv[v], acc[s][m][v]);
        }
      }
      dp += cs;
      wp += MR;
    };
    int64_t t = 0;
    if constexpr (kSets == 2) {
      if (ocg == 1) {
        for (; t + 2 <= ntaps; t += 2) {
          const float* d0 = dy + dyoff[t];
          const float* w0 = wtap[t];
          const float* d1 = dy + dyoff[t + 1];
          const float* w1 = wtap[t + 1];
          step(0, d0, w0);
          step(1, d1, w1);
        }
      }
    }
    for (; t < ntaps; ++t) {
      const float* dp = dy + dyoff[t];
      const float* wp = wtap[t];
      int64_t o = 0;
      if constexpr (kSets == 2) {
        for (; o + 2 <= ocg; o += 2) {
          step(0, dp, wp);
          step(1, dp, wp);
        }
      }
      for (; o < ocg; ++o) step(0, dp, wp);
    }
    _Pragma("GCC unroll 8") for (int m = 0; m < MR; ++m) {
      float* out = dx + m * a.dx_stride;
      _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) {
        auto r = acc[0][m][v];
        if constexpr (kSets == 2) r = V::add(r, acc[1][m][v]);
        const int64_t left = n - kL * v;
        if (left >= kL) {
          V::store(out + kL * v, r);
        } else if (left > 0) {
          V::store_partial(out + kL * v, r, left);
        }
      }
    }
  }
}

template <class V, int MR, int NR>
void bwd_weights_kernel(const BwdWeightsArgs& a) {
  constexpr int kL = V::kLanes;
  typename V::type acc[MR][NR];
  _Pragma("GCC unroll 8") for (int m = 0; m < MR; ++m) {
    _Pragma("GCC unroll 8") for (int r = 0; r < NR; ++r) acc[m][r] = V::zero();
  }
  const int64_t len = a.len, xcs = a.x_cs, full = len - len % kL;
  int64_t dcol[NR];
  _Pragma("GCC unroll 8") for (int r = 0; r < NR; ++r) dcol[r] = a.dy_col[r];
  const auto step = [&](const float* xp, const float* dp, auto load) {
    typename V::type xv[MR];
    _Pragma("GCC unroll 8") for (int m = 0; m < MR; ++m) xv[m] = V::pin(load(xp + m * xcs));
    _Pragma("GCC unroll 8") for (int r = 0; r < NR; ++r) {
      const auto dv = load(dp + dcol[r]);
      _Pragma("GCC unroll 8") for (int m = 0; m < MR; ++m) {
        acc[m][r] = V::fma(xv[m], dv, acc[m][r]);
      }
    }
  };
  for (int64_t row = 0; row < a.nrows; ++row) {
    const float* xp = a.x + a.xoff[row];
    const float* dp = a.dy + a.dyoff[row];
    for (int64_t k = 0; k < full; k += kL) {
      step(xp + k, dp + k, [](const float* p) { return V::load(p); });
    }
    // The tail: masked loads read zeros past the row on both sides (0·0 adds nothing).
    if (const int64_t rem = len - full; rem > 0) {
      step(xp + full, dp + full, [rem](const float* p) { return V::load_partial(p, rem); });
    }
  }
  // Four accumulators at a time into their lane sums (V::hsum4), the rest one by one: on short
  // items (grouped-g4: ~1300 multiply-adds per tile) 24 separate hsum cost ~10 % of the time.
  constexpr int kAcc = MR * NR, kFour = kAcc - kAcc % 4;
  float sums[kAcc];
  _Pragma("GCC unroll 8") for (int i = 0; i < kFour; i += 4) {
    V::hsum4(acc[i / NR][i % NR], acc[(i + 1) / NR][(i + 1) % NR], acc[(i + 2) / NR][(i + 2) % NR],
             acc[(i + 3) / NR][(i + 3) % NR], sums + i);
  }
  _Pragma("GCC unroll 8") for (int i = kFour; i < kAcc; ++i) sums[i] = V::hsum(acc[i / NR][i % NR]);
  _Pragma("GCC unroll 8") for (int m = 0; m < MR; ++m) {
    _Pragma("GCC unroll 8") for (int r = 0; r < NR; ++r) {
      a.dw[m * a.ldi + a.dw_col[r]] += sums[m * NR + r];
    }
  }
}

template <class V, int MR, int NV>
void bwd_wgemm_kernel(const BwdWgemmArgs& a) {
  constexpr int kL = V::kLanes;
  typename V::type acc[MR][NV];
  _Pragma("GCC unroll 16") for (int m = 0; m < MR; ++m) {
    _Pragma("GCC unroll 16") for (int v = 0; v < NV; ++v) acc[m][v] =
        a.accumulate ? V::load(a.c + m * a.ldc + kL * v) : V::zero();
  }
  const int64_t len = a.len, xps = a.x_ps, ps = a.dy_ps;
  for (int64_t run = 0; run < a.nruns; ++run) {
    const float* xp = a.x_t + a.xoff[run];
    const float* dp = a.dy_t + a.dyoff[run];
    for (int64_t k = 0; k < len; ++k, dp += ps, xp += xps) {
      typename V::type dv[NV];
      _Pragma("GCC unroll 16") for (int v = 0; v < NV; ++v) dv[v] = V::pin(V::load(dp + kL * v));
      _Pragma("GCC unroll 16") for (int m = 0; m < MR; ++m) {
        const auto xv = V::broadcast(xp + m);
        _Pragma("GCC unroll 16") for (int v = 0; v < NV; ++v) acc[m][v] =
            V::fma(xv, dv[v], acc[m][v]);
      }
    }
  }
  _Pragma("GCC unroll 16") for (int m = 0; m < MR; ++m) {
    _Pragma("GCC unroll 16") for (int v = 0; v < NV; ++v)
        V::store(a.c + m * a.ldc + kL * v, acc[m][v]);
  }
}

template <class V>
void bwd_unzip2_kernel(const float* src, int64_t n, float* even, float* odd) {
  constexpr int kL = V::kLanes;
  int64_t j = 0;
  for (; 2 * (j + kL) <= n; j += kL) {
    typename V::type e, o;
    V::unzip(V::load(src + 2 * j), V::load(src + 2 * j + kL), e, o);
    V::store(even + j, e);
    V::store(odd + j, o);
  }
  // The tail (fewer than 2·kL floats) with masked loads and stores: a scalar loop here took
  // most of the copy's time on rows of 56 (grouped-g4's dy).
  if (const int64_t rem = n - 2 * j; rem > 0) {
    const auto a = V::load_partial(src + 2 * j, std::min<int64_t>(rem, kL));
    const auto b = rem > kL ? V::load_partial(src + 2 * j + kL, rem - kL) : V::zero();
    typename V::type e, o;
    V::unzip(a, b, e, o);
    V::store_partial(even + j, e, (rem + 1) / 2);
    V::store_partial(odd + j, o, rem / 2);
  }
}

// bwd_weights' test of x (a non-finite x must not meet the GEMM's or the tap blocks' zeros): a
// vector per step, the tail masked (its zeros are finite). In the ISA's own width, the scan was
// ~15 % of dcgan-out's time as a baseline-x86 loop.
// log2(lanes) perfect shuffles of the rows (row i zipped with row i + lanes/2 into rows 2i and
// 2i + 1) transpose the block: each moves one bit of the row index into the column index.
template <class V>
void bwd_transpose_kernel(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
  constexpr int kL = V::kLanes;
  typename V::type r[kL], t[kL];
  _Pragma("GCC unroll 16") for (int i = 0; i < kL; ++i) r[i] = V::load(src + i * src_stride);
  _Pragma("GCC unroll 4") for (int s = 1; s < kL; s *= 2) {
    _Pragma("GCC unroll 16") for (int i = 0; i < kL / 2; ++i) {
      V::zip(r[i], r[i + kL / 2], t[2 * i], t[2 * i + 1]);
    }
    _Pragma("GCC unroll 16") for (int i = 0; i < kL; ++i) r[i] = t[i];
  }
  _Pragma("GCC unroll 16") for (int i = 0; i < kL; ++i) V::store(dst + i * dst_stride, r[i]);
}

template <class V>
bool bwd_all_finite_kernel(const float* p, int64_t n) {
  constexpr int kL = V::kLanes;
  int64_t i = 0;
  for (; i + 2 * kL <= n; i += 2 * kL) {
    if (V::any_nonfinite(V::load(p + i)) || V::any_nonfinite(V::load(p + i + kL))) return false;
  }
  for (; i < n; i += kL) {
    if (V::any_nonfinite(V::load_partial(p + i, std::min<int64_t>(n - i, kL)))) return false;
  }
  return true;
}

// Names are built once per instantiation and live as long as the program.
template <class V, int MR, int NV>
const char* bwd_data_name(const char* isa) {
  static const std::string name = "convt2d_bwd_data_f32_" + std::to_string(MR) + "x" +
                                  std::to_string(V::kLanes * NV) + "__" + isa;
  return name.c_str();
}

template <class V, int MR, int NR>
const char* bwd_weights_name(const char* isa) {
  static const std::string name =
      "convt2d_bwd_weights_f32_" + std::to_string(MR) + "x" + std::to_string(NR) + "__" + isa;
  return name.c_str();
}

template <class V, int MR, int NV>
const char* bwd_wgemm_name(const char* isa) {
  static const std::string name = "convt2d_bwd_wgemm_f32_" + std::to_string(MR) + "x" +
                                  std::to_string(V::kLanes * NV) + "__" + isa;
  return name.c_str();
}

/// The most input channels of a pixel-major GEMM tile of NV vectors: at most 24 accumulators
/// (AVX-512's 8 × 3, 12 × 2) beside the NV dy vectors and the broadcast, and at most 12.
template <class V, int NV>
constexpr int wgemm_max_mr() {
  return std::min({kMaxBwdWgemmMr, (V::kRegisters - 1 - NV) / NV, 24 / NV});
}

template <class V, int NV, int... MRs>
void fill_bwd_wgemm(BwdKernelTable& t, const char* isa, std::integer_sequence<int, MRs...>) {
  t.wgemm_mr[NV] = wgemm_max_mr<V, NV>();
  ((t.wgemm[MRs + 1][NV] = &bwd_wgemm_kernel<V, MRs + 1, NV>,
    t.wgemm_name[MRs + 1][NV] = bwd_wgemm_name<V, MRs + 1, NV>(isa)),
   ...);
}

template <class V, int... NVs>
void fill_bwd_wgemm_cols(BwdKernelTable& t, const char* isa, std::integer_sequence<int, NVs...>) {
  (fill_bwd_wgemm<V, NVs + 1>(t, isa,
                              std::make_integer_sequence<int, wgemm_max_mr<V, NVs + 1>()>{}),
   ...);
}

template <class V, int MR, int... NVs>
void fill_bwd_data(BwdKernelTable& t, const char* isa, std::integer_sequence<int, NVs...>) {
  ((t.data[MR][NVs + 1] = &bwd_data_kernel<V, MR, NVs + 1>,
    t.data_name[MR][NVs + 1] = bwd_data_name<V, MR, NVs + 1>(isa)),
   ...);
}

template <class V, int MR, int... NRs>
void fill_bwd_weights(BwdKernelTable& t, const char* isa, std::integer_sequence<int, NRs...>) {
  ((t.weights[MR][NRs + 1] = &bwd_weights_kernel<V, MR, NRs + 1>,
    t.weights_name[MR][NRs + 1] = bwd_weights_name<V, MR, NRs + 1>(isa)),
   ...);
}

template <class V, int... MRs>
void fill_bwd_rows(BwdKernelTable& t, const char* isa, std::integer_sequence<int, MRs...>) {
  (fill_bwd_data<V, MRs + 1>(t, isa, std::make_integer_sequence<int, kMaxBwdDataNv>{}), ...);
}

template <class V, int... MRs>
void fill_bwd_weights_rows(BwdKernelTable& t, const char* isa, std::integer_sequence<int, MRs...>) {
  (fill_bwd_weights<V, MRs + 1>(t, isa, std::make_integer_sequence<int, kMaxBwdWeightsNr>{}), ...);
}

/// The table of one ISA: bwd_data tiles up to DataMr channels with at most DataAcc accumulators,
/// bwd_weights tiles WMr × WNr and pixel-major GEMM tiles of 1 to kMaxBwdWgemmNv vectors (every
/// smaller one for the remainders).
template <class V, int DataMr, int DataAcc, int WMr, int WNr>
BwdKernelTable make_bwd_table(const char* isa) {
  BwdKernelTable t;
  t.lanes = V::kLanes;
  t.data_mr = DataMr;
  t.data_acc = DataAcc;
  t.weights_mr = WMr;
  t.weights_nr = WNr;
  fill_bwd_rows<V>(t, isa, std::make_integer_sequence<int, kMaxBwdDataMr>{});
  fill_bwd_weights_rows<V>(t, isa, std::make_integer_sequence<int, kMaxBwdWeightsMr>{});
  fill_bwd_wgemm_cols<V>(t, isa, std::make_integer_sequence<int, kMaxBwdWgemmNv>{});
  t.unzip2 = &bwd_unzip2_kernel<V>;
  static const std::string unzip_name = std::string("convt2d_bwd_unzip2_f32__") + isa;
  t.unzip2_name = unzip_name.c_str();
  t.transpose = &bwd_transpose_kernel<V>;
  static const std::string transpose_name = "convt2d_bwd_transpose_f32_" +
                                            std::to_string(V::kLanes) + "x" +
                                            std::to_string(V::kLanes) + "__" + isa;
  t.transpose_name = transpose_name.c_str();
  t.all_finite = &bwd_all_finite_kernel<V>;
  static const std::string finite_name = std::string("convt2d_bwd_all_finite_f32__") + isa;
  t.all_finite_name = finite_name.c_str();
  return t;
}

}  // namespace convt2d::optimized
