#include "phases.h"

namespace convt2d::optimized {

// At most k phases, however large s is. t·d <= (k - 1)·d, which validate() checked fits in int64.
PhaseSet phase_set(int64_t k, int64_t s, int64_t d) {
  PhaseSet ps;
  ps.phase.reserve(static_cast<size_t>(k));
  for (int64_t t = 0; t < k; ++t) ps.phase.push_back((t * d) % s);
  std::sort(ps.phase.begin(), ps.phase.end());
  ps.phase.erase(std::unique(ps.phase.begin(), ps.phase.end()), ps.phase.end());
  ps.taps.resize(ps.phase.size());
  for (int64_t t = 0; t < k; ++t) {
    const int64_t r = (t * d) % s;
    PhaseTaps& pt = ps.taps[static_cast<size_t>(ps.find(r))];
    pt.k.push_back(t);
    pt.a.push_back((t * d - r) / s);
  }
  return ps;
}

// o + pad < 2^63: validate() keeps out below 2^60 (its bytes fit) and 2·pad in int64.
std::vector<ActivePhase> active_phases(int64_t out, int64_t pad, int64_t s) {
  std::vector<ActivePhase> r;
  r.reserve(static_cast<size_t>(std::min(s, out)));
  for (int64_t o = 0; o < std::min(s, out); ++o) {
    ActivePhase a;
    a.r = (o + pad) % s;
    a.lo = (o + pad) / s;
    a.first = o;
    a.count = (out - 1 - o) / s + 1;
    r.push_back(a);
  }
  return r;
}

}  // namespace convt2d::optimized
