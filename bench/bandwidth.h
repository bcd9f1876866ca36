#pragma once
/// \file
/// The machine's read bandwidth per level of the memory hierarchy, measured: the yardstick for
/// layers that stream their weights once per run (a 1x1 or 2x2 latent input through a 4x4 kernel
/// to hundreds of channels), which `convt2d bench` judges by GB/s rather than by % of FMA peak.

#include <cstdint>
#include <string>
#include <vector>

namespace convt2d::bench {

/// One level and what a read stream of `bytes` per thread achieves in it.
struct BandwidthLevel {
  std::string name;  ///< "L2", "L3", "DRAM"
  int64_t capacity;  ///< bytes of the level: per core for L2, measured for L3, 0 for DRAM
  int64_t bytes;     ///< bytes each thread streams over (well inside the level)
  double gbs = 0;    ///< GB/s (1e9 bytes) of all threads together, best of 3 trials
};

/// L2 and L3 sizes this machine reports (sysfs, else sysconf, else 512 KiB and 32 MiB). Under a
/// hypervisor the L3 one can be the whole socket's, more than any one core reaches.
int64_t l2_bytes();
int64_t l3_bytes();

/// Streams over a buffer per level with `threads` threads (one OpenMP team), reading every byte
/// with the widest loads the CPU has (AVX2, else 64-bit words), for about `seconds` per trial:
/// half of L2 per thread; half of the measured L3 shared among the threads; 8x the measured L3,
/// at least 256 MiB and at most 1 GiB in all, from DRAM. The L3 capacity is measured, not
/// believed: the largest power-of-two working set from 4x L2 (at most the reported L3) that still
/// streams at 3/4 of the best rate seen above it. No L3 level when that first size (4x L2
/// rounded up to a power of two) exceeds the reported L3.
std::vector<BandwidthLevel> read_bandwidth(int threads, double seconds = 0.05);

/// The level a working set of `bytes`, read again on every run, lives in: L2 up to 3/4 of L2, L3
/// up to its measured capacity, else DRAM. `levels` as read_bandwidth returned them.
const BandwidthLevel& level_for(const std::vector<BandwidthLevel>& levels, double bytes);

namespace detail {
/// Sums `n` 64-bit words from `p` (a multiple of 16 words), with AVX2 loads; call only when the
/// CPU has AVX2 (bandwidth_avx2.cc).
uint64_t read_words_avx2(const uint64_t* p, int64_t n);
}  // namespace detail

}  // namespace convt2d::bench
