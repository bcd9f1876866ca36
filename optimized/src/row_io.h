#pragma once
// Rows in and out of the forward drivers: zero-padded input rows (so that tiles read whole
// vectors without checks), and column phases interleaved back into output rows (each output
// element written once).

#include <algorithm>
#include <bit>
#include <cstdint>
#include <vector>

#include "blocking.h"
#include "convt2d/tensor.h"
#include "kernels.h"
#include "phases.h"

namespace convt2d::optimized {

/// One input row of wd floats into a zero-padded row of wp floats, pad_l zeros first.
void pad_row(const float* src, int64_t wd, int64_t pad_l, int64_t wp, float* dst);

/// The whole input, every row zero-padded to wp floats (pad_l zeros first), on nt threads, into a
/// buffer of the calling thread that later calls reuse (a fresh allocation would be fresh pages,
/// whose first-touch faults cost as much as the copy). `floats` is in_rows·wp, computed with
/// checked arithmetic by the caller's layout.
float* pad_input(const Tensor<float>& x, int64_t pad_l, int64_t wp, int64_t floats, int nt);

/// True when interleave_phases() can build an output row: a power-of-two stride of at least 4 in
/// W and every one of its phases with outputs and in one phase group.
inline bool interleaves(int64_t sw, int64_t ncx) {
  return sw >= 4 && sw <= blocking::kPhaseGroup && std::has_single_bit(static_cast<uint64_t>(sw)) &&
         ncx == sw;
}

/// One output row from its sw column phases (interleaves(sw, ncx); phase(ai) gives the values of
/// the phase whose outputs are ai, ai + sw, ...): log2(sw) rounds of interleave2, each zipping
/// the outputs o = r and o = r + m (mod 2m) into o = r (mod m), instead of a strided scalar store
/// per element. scratch: 2·ow floats.
template <class PhaseRow>
void interleave_phases(const KernelTable& k, int64_t sw, int64_t ow, const PhaseRow& phase,
                       float* scratch, float* yrow) {
  const float* src[blocking::kPhaseGroup];
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

/// The column phases xs[ax0, ax1) of one output row into yrow, each element written once: whole
/// rows when the group holds every phase of stride 1, 2 or a power of two up to kPhaseGroup, a
/// strided store per element otherwise. phase(ai) gives phase ai's values; scratch: 2·ow floats
/// where interleaves(sw, xs.size()).
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

}  // namespace convt2d::optimized
