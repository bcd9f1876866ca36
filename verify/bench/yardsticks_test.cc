// The bench's yardsticks: which memory level a layer's data is judged against, and that the
// bandwidth and peak measurements return usable numbers (no timing is ever asserted).
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <iterator>
#include <utility>
#include <vector>

#include "bandwidth.h"
#include "peak.h"
#include "peak_loops.h"

namespace convt2d::bench {
namespace {

TEST(Bandwidth, LevelsAreL2L3AndDramWithStreamsInsideTheirLevel) {
  const std::vector<BandwidthLevel> lv = read_bandwidth(1, 0.005);
  // The first L3 size tried: 4x L2 rounded up to a power of two (a 1.25 MiB L2: 8 MiB).
  const auto first = static_cast<int64_t>(std::bit_ceil(static_cast<uint64_t>(4 * l2_bytes())));
  ASSERT_EQ(lv.size(), first <= l3_bytes() ? 3u : 2u);
  EXPECT_EQ(lv.front().name, "L2");
  EXPECT_EQ(lv.back().name, "DRAM");
  EXPECT_EQ(lv.front().capacity, l2_bytes());
  EXPECT_LE(lv.front().bytes, lv.front().capacity);
  if (lv.size() == 3) {
    // The measured L3: a power of two from `first` up to what the machine reports.
    EXPECT_EQ(lv[1].name, "L3");
    EXPECT_GE(lv[1].capacity, first);
    EXPECT_LE(lv[1].capacity, l3_bytes());
    EXPECT_EQ(std::popcount(static_cast<uint64_t>(lv[1].capacity)), 1);
    EXPECT_LE(lv[1].bytes, lv[1].capacity);
    EXPECT_GE(lv.back().bytes, 8 * lv[1].capacity);  // well beyond the last cache
  }
  EXPECT_GE(lv.back().bytes, int64_t{256} << 20);
  for (const BandwidthLevel& l : lv) {
    EXPECT_TRUE(std::isfinite(l.gbs) && l.gbs > 0) << l.name << " " << l.gbs;
  }
}

TEST(Bandwidth, DataIsJudgedAgainstTheSmallestLevelThatHoldsIt) {
  const std::vector<BandwidthLevel> lv = {
      {"L2", 1 << 20, 1 << 19, 100}, {"L3", 16 << 20, 8 << 20, 50}, {"DRAM", 0, 256 << 20, 10}};
  EXPECT_EQ(level_for(lv, 1000).name, "L2");
  EXPECT_EQ(level_for(lv, 0.75 * (1 << 20)).name, "L2");
  EXPECT_EQ(level_for(lv, 0.75 * (1 << 20) + 1).name, "L3");
  EXPECT_EQ(level_for(lv, 8.46e6).name, "L3");    // latent-1x1's 8.46 MB
  EXPECT_EQ(level_for(lv, 16 << 20).name, "L3");  // the measured capacity, all of it
  EXPECT_EQ(level_for(lv, (16 << 20) + 1).name, "DRAM");
  EXPECT_EQ(level_for(lv, 1e12).name, "DRAM");
  // Without an L3 (none measured), past L2 is DRAM.
  const std::vector<BandwidthLevel> no_l3 = {{"L2", 1 << 20, 1 << 19, 100},
                                             {"DRAM", 0, 256 << 20, 10}};
  EXPECT_EQ(level_for(no_l3, 0.75 * (1 << 20) + 1).name, "DRAM");
}

TEST(Peak, EveryChainCountRunsAndTheSweepReportsOneOfThem) {
  for (const auto& [isa, counts] :
       {std::pair{PeakIsa::kAvx2,
                  std::vector<int>(std::begin(detail::kAvx2Chains), std::end(detail::kAvx2Chains))},
        std::pair{PeakIsa::kAvx512, std::vector<int>(std::begin(detail::kAvx512Chains),
                                                     std::end(detail::kAvx512Chains))}}) {
    if (!peak_available(isa)) continue;
    const PeakResult r = fma_peak(isa, 1, 0.002);
    EXPECT_TRUE(std::isfinite(r.gflops) && r.gflops > 0);
    EXPECT_NE(std::find(counts.begin(), counts.end(), r.chains), counts.end()) << r.chains;
    // Each loop computes what its chains say: after one round of a = 0.9999 a + 0.001 from
    // seed + 0.1 i, the lanes sum to lanes * sum_i (0.9999 (seed + 0.1 i) + 0.001).
    const int lanes = isa == PeakIsa::kAvx2 ? 8 : 16;
    for (int n : counts) {
      const float got = isa == PeakIsa::kAvx2 ? detail::fma_loop_avx2(n, 1, 1.0f)
                                              : detail::fma_loop_avx512(n, 1, 1.0f);
      double want = 0;
      for (int i = 0; i < n; ++i) want += 0.9999 * (1.0 + 0.1 * i) + 0.001;
      EXPECT_NEAR(got, lanes * want, 1e-4 * lanes * want) << n << " chains";
    }
  }
}

}  // namespace
}  // namespace convt2d::bench
