#pragma once
// The micro-kernel bodies, written once over a tiny vector abstraction V (8 float lanes) and
// instantiated per ISA in a file compiled with that ISA's flags. Include only from such a file.

#include <string>
#include <utility>

#include "kernels.h"

namespace convt2d::optimized {

template <class V, int MR, int NV>
void tile_kernel(const TileArgs& a) {
  typename V::type acc[MR][NV];
  for (int m = 0; m < MR; ++m) {
    const auto b = V::broadcast(a.bias + m);
    for (int v = 0; v < NV; ++v) acc[m][v] = b;
  }
  for (int64_t t = 0; t < a.ntaps; ++t) {
    const float* xp = a.x + a.xoff[t];
    const float* wp = a.wtap[t];
    for (int64_t c = 0; c < a.icg; ++c) {
      typename V::type xv[NV];
      for (int v = 0; v < NV; ++v) xv[v] = V::load(xp + 8 * v);
      for (int m = 0; m < MR; ++m) {
        const auto wv = V::broadcast(wp + m);
        for (int v = 0; v < NV; ++v) acc[m][v] = V::fma(wv, xv[v], acc[m][v]);
      }
      xp += a.chan_stride;
      wp += MR;
    }
  }
  for (int m = 0; m < MR; ++m) {
    for (int v = 0; v < NV; ++v) V::store(a.out + m * a.out_stride + 8 * v, acc[m][v]);
  }
}

template <class V, int MR, int NV>
void fill_entry(KernelTable& t, const char* isa) {
  t.k[MR][NV] = &tile_kernel<V, MR, NV>;
  // Static storage: names live as long as the table.
  static const std::string name =
      "convt2d_f32_" + std::to_string(MR) + "x" + std::to_string(8 * NV) + "__" + isa;
  t.name[MR][NV] = name.c_str();
}

template <class V, int MR, int... NVs>
void fill_row(KernelTable& t, const char* isa, std::integer_sequence<int, NVs...>) {
  (fill_entry<V, MR, NVs + 1>(t, isa), ...);
}

template <class V>
KernelTable make_table(const char* isa) {
  KernelTable t;
  fill_row<V, 1>(t, isa, std::make_integer_sequence<int, kMaxNv[1]>{});
  fill_row<V, 2>(t, isa, std::make_integer_sequence<int, kMaxNv[2]>{});
  fill_row<V, 3>(t, isa, std::make_integer_sequence<int, kMaxNv[3]>{});
  fill_row<V, 4>(t, isa, std::make_integer_sequence<int, kMaxNv[4]>{});
  return t;
}

}  // namespace convt2d::optimized
