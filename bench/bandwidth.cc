// The read-bandwidth driver: cache sizes, buffers, calibration and timing. Compiled without ISA
// flags; the AVX2 loop is in bandwidth_avx2.cc.
#include "bandwidth.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>

namespace convt2d::bench {
namespace {

// A cache's size from sysfs ("32768K"), 0 when absent. glibc's sysconf reports 256 MiB of L3 for
// a 32 MiB Zen 3 under KVM, so sysfs comes first.
int64_t sysfs_cache_bytes(int level) {
  for (int index = 0; index < 8; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index);
    int lv = 0;
    std::string type, size;
    if (!(std::ifstream(dir + "/level") >> lv) || lv != level) continue;
    if (!(std::ifstream(dir + "/type") >> type) || type == "Instruction") continue;
    if (!(std::ifstream(dir + "/size") >> size) || size.empty()) continue;
    int64_t scale = 1;
    if (size.back() == 'K') scale = 1024;
    if (size.back() == 'M') scale = 1024 * 1024;
    const int64_t n = std::strtoll(size.c_str(), nullptr, 10);
    if (n > 0) return n * scale;
  }
  return 0;
}

int64_t cache_bytes(int level, int sysconf_name, int64_t fallback) {
  if (const int64_t s = sysfs_cache_bytes(level); s > 0) return s;
  if (const long s = sysconf(sysconf_name); s > 0) return s;
  return fallback;
}

bool has_avx2() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  return __builtin_cpu_supports("avx2");
#else
  return false;
#endif
}

uint64_t read_words(const uint64_t* p, int64_t n, bool avx2) {
  if (avx2) return detail::read_words_avx2(p, n);
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (int64_t i = 0; i < n; i += 4) {
    a0 += p[i];
    a1 += p[i + 1];
    a2 += p[i + 2];
    a3 += p[i + 3];
  }
  return a0 + a1 + a2 + a3;
}

// Seconds for every thread to read its buffer `passes` times (the slowest thread counts).
double timed_passes(const std::vector<uint64_t*>& bufs, int64_t words, int64_t passes, bool avx2) {
  volatile uint64_t sink = 0;
  const int threads = static_cast<int>(bufs.size());
  const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
  {
    uint64_t s = 0;
    const uint64_t* p = bufs[static_cast<size_t>(omp_get_thread_num())];
    for (int64_t r = 0; r < passes; ++r) s += read_words(p, words, avx2);
#pragma omp critical
    sink = sink + s;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// GB/s of `threads` threads each streaming over its own `bytes`, best of 3 trials of about
// `seconds` after a calibration (and a first pass that brings the buffer into its level).
double stream_gbs(int64_t bytes, int threads, double seconds) {
  const bool avx2 = has_avx2();
  const int64_t words = std::max<int64_t>(16, bytes / 8 / 16 * 16);
  std::vector<uint64_t*> bufs(static_cast<size_t>(threads), nullptr);
  // Each thread allocates and first-touches its own buffer (its pages on its node).
#pragma omp parallel num_threads(threads)
  {
    auto* p = static_cast<uint64_t*>(std::aligned_alloc(64, static_cast<size_t>(words) * 8));
    if (p != nullptr) {
      for (int64_t i = 0; i < words; ++i) p[i] = static_cast<uint64_t>(i);
    }
    bufs[static_cast<size_t>(omp_get_thread_num())] = p;
  }
  double best = 0;
  if (std::all_of(bufs.begin(), bufs.end(), [](const uint64_t* p) { return p != nullptr; })) {
    int64_t passes = 1;
    double t = timed_passes(bufs, words, passes, avx2);
    while (t < 0.2 * seconds) {
      passes *= 2;
      t = timed_passes(bufs, words, passes, avx2);
    }
    passes = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(passes) * seconds / t));
    for (int trial = 0; trial < 3; ++trial) {
      const double s = timed_passes(bufs, words, passes, avx2);
      best = std::max(best, static_cast<double>(threads) * static_cast<double>(words) * 8.0 *
                                static_cast<double>(passes) / s * 1e-9);
    }
  }
  for (uint64_t* p : bufs) std::free(p);
  return best;
}

}  // namespace

int64_t l2_bytes() {
  return cache_bytes(2, _SC_LEVEL2_CACHE_SIZE, int64_t{512} << 10);
}

int64_t l3_bytes() {
  return cache_bytes(3, _SC_LEVEL3_CACHE_SIZE, int64_t{32} << 20);
}

std::vector<BandwidthLevel> read_bandwidth(int threads, double seconds) {
  threads = std::max(1, threads);
  const int64_t l2 = l2_bytes(), l3 = l3_bytes();
  std::vector<BandwidthLevel> levels = {
      {"L2", l2, l2 / 2},
      {"L3", l3, std::max<int64_t>(l2 * 2, l3 / 4 / threads)},
      {"DRAM", 0, std::max<int64_t>(8 * l3, int64_t{256} << 20) / threads},
  };
  for (BandwidthLevel& lv : levels) lv.gbs = stream_gbs(lv.bytes, threads, seconds);
  return levels;
}

const BandwidthLevel& level_for(const std::vector<BandwidthLevel>& levels, double bytes) {
  // L2 is private: 3/4 of it holds a working set. L3 is shared with the other cores (and, under
  // a hypervisor, with other machines): half of it.
  for (const BandwidthLevel& lv : levels) {
    const double share = lv.name == "L2" ? 0.75 : 0.5;
    if (lv.capacity > 0 && bytes <= share * static_cast<double>(lv.capacity)) return lv;
  }
  return levels.back();
}

}  // namespace convt2d::bench
