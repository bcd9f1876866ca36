#pragma once
// Stride-phase geometry: a transposed convolution of stride s splits each output dimension into s
// phases, and each phase is an ordinary (stride-1) correlation with the taps that reach it.
// Everything here is shape arithmetic, shared by every forward driver.

#include <algorithm>
#include <bit>
#include <cstdint>
#include <vector>

namespace convt2d::optimized {

/// ceil(a / b) for 0 <= a <= 2^62 and 0 < b <= 2^62: sizes of tensors that fit in memory.
inline int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

/// The taps of one phase along one dimension: tap index k (fh or fw) and its input offset a, so
/// that output q (in phase units) reads input q - a.
struct PhaseTaps {
  std::vector<int64_t> k, a;
  int64_t size() const { return static_cast<int64_t>(k.size()); }
};

/// The phases of one dimension that some tap reaches, with their taps: at most k of the s phases,
/// so that a huge stride costs nothing (phases no tap reaches hold the bias alone).
struct PhaseSet {
  std::vector<int64_t> phase;   ///< sorted
  std::vector<PhaseTaps> taps;  ///< by position in `phase`
  int64_t count() const { return static_cast<int64_t>(phase.size()); }
  /// Position of phase r in `phase`, or -1 when no tap reaches r.
  int64_t find(int64_t r) const {
    const auto it = std::lower_bound(phase.begin(), phase.end(), r);
    return it != phase.end() && *it == r ? it - phase.begin() : -1;
  }
  /// The taps of phase r (none when no tap reaches it).
  const PhaseTaps& of(int64_t r) const {
    static const PhaseTaps kNone;
    const int64_t i = find(r);
    return i < 0 ? kNone : taps[static_cast<size_t>(i)];
  }
  /// The most taps any one phase has.
  int64_t most_taps() const {
    int64_t m = 0;
    for (const PhaseTaps& t : taps) m = std::max(m, t.size());
    return m;
  }
};

/// The phases of one dimension (kernel k, stride s, dilation d) that taps reach: tap t reaches
/// phase r = (t·d) mod s, from input q - (t·d - r)/s for output q (in units of the stride).
PhaseSet phase_set(int64_t k, int64_t s, int64_t d);

/// One output phase that has outputs: phase r, outputs first + j·s for j < count, which are
/// phase units q = lo + j. Output o belongs to the active phase at position o mod s.
struct ActivePhase {
  int64_t r = 0, lo = 0, count = 0, first = 0;
};

/// The phases of one dimension (output size `out`, padding `pad`, stride `s`) that have outputs,
/// ordered by their first output: at most min(s, out) of them.
std::vector<ActivePhase> active_phases(int64_t out, int64_t pad, int64_t s);

/// Whether the tap of input offset a reads an input column for outputs j0..j1-1 of a phase whose
/// first output is phase unit qlo (output j reads column qlo - a + j) of an input wd wide. A tap
/// that does not adds exactly nothing there (the reference sums only taps whose input exists).
/// No overflow: qlo < 2^62 + 2^60, j1 <= count < 2^60 (active_phases()), 0 <= a < 2^63.
inline bool reaches_input(int64_t qlo, int64_t a, int64_t j0, int64_t j1, int64_t wd) {
  return qlo - a + j1 - 1 >= 0 && qlo - a + j0 <= wd - 1;
}

/// The tiles of a phase row of `count` outputs: at most nv_max vectors each, of as equal a width
/// as possible (56 columns: 2 + 2 vectors, not 3 + 1, whose one-vector tile has too few
/// accumulators to keep the FMA units busy). f(j0, j1, nv) for each, outputs j0..j1-1.
template <class F>
void for_each_tile(int64_t count, int64_t lanes, int nv_max, const F& f) {
  const int lane_shift = std::countr_zero(static_cast<uint64_t>(lanes));
  const int64_t row_vecs = (count + lanes - 1) >> lane_shift;
  const int64_t ntiles = (row_vecs + nv_max - 1) / nv_max;
  for (int64_t ti = 0, j0 = 0; ti < ntiles; ++ti) {
    const int nv = static_cast<int>(row_vecs / ntiles + (ti < row_vecs % ntiles));
    const int64_t j1 = std::min(count, j0 + lanes * nv);
    f(j0, j1, nv);
    j0 = j1;
  }
}

}  // namespace convt2d::optimized
