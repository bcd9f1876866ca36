// The read-bandwidth driver: cache sizes, buffers, calibration and timing. Compiled without ISA
// flags; the AVX2 loop is in bandwidth_avx2.cc.
#include "bandwidth.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
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

// One buffer per thread of up to `bytes` each, allocated by that thread and first-touched by it
// (its pages on its node) only as far as a measurement needs; every measurement streams over a
// prefix, so each page is faulted in once per bench run (page faults are slow under a
// hypervisor) and pages past the largest stream are never touched.
class Buffers {
 public:
  Buffers(int threads, int64_t bytes) : words_(std::max<int64_t>(16, bytes / 8 / 16 * 16)) {
    bufs_.assign(static_cast<size_t>(threads), nullptr);
#pragma omp parallel num_threads(threads)
    bufs_[static_cast<size_t>(omp_get_thread_num())] =
        static_cast<uint64_t*>(std::aligned_alloc(64, static_cast<size_t>(words_) * 8));
  }
  ~Buffers() {
    for (uint64_t* p : bufs_) std::free(p);
  }
  Buffers(const Buffers&) = delete;
  Buffers& operator=(const Buffers&) = delete;
  bool ok() const {
    return std::all_of(bufs_.begin(), bufs_.end(), [](const uint64_t* p) { return p != nullptr; });
  }
  int64_t words() const {
    return words_;
  }
  const std::vector<uint64_t*>& bufs() const {
    return bufs_;
  }
  /// Writes words [touched, n) of every buffer, each from its own thread.
  void touch(int64_t n) {
    if (n <= touched_) return;
    const int threads = static_cast<int>(bufs_.size());
#pragma omp parallel num_threads(threads)
    {
      uint64_t* p = bufs_[static_cast<size_t>(omp_get_thread_num())];
      for (int64_t i = touched_; i < n; ++i) p[i] = static_cast<uint64_t>(i);
    }
    touched_ = n;
  }

 private:
  int64_t words_, touched_ = 0;
  std::vector<uint64_t*> bufs_;
};

// Seconds for every thread to read the first `words` of its buffer `passes` times (the slowest
// thread counts).
double timed_passes(const Buffers& b, int64_t words, int64_t passes, bool avx2) {
  volatile uint64_t sink = 0;
  const int threads = static_cast<int>(b.bufs().size());
  const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
  {
    uint64_t s = 0;
    const uint64_t* p = b.bufs()[static_cast<size_t>(omp_get_thread_num())];
    for (int64_t r = 0; r < passes; ++r) s += read_words(p, words, avx2);
#pragma omp critical
    sink = sink + s;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// GB/s of all threads together, each streaming over the first `bytes` of its buffer: best of 3
// trials of about `seconds` after a calibration (whose first pass brings the bytes into their
// level).
double stream_gbs(Buffers& b, int64_t bytes, double seconds) {
  if (!b.ok()) return 0;
  const bool avx2 = has_avx2();
  const int64_t words = std::clamp<int64_t>(bytes / 8 / 16 * 16, 16, b.words());
  b.touch(words);
  int64_t passes = 1;
  double t = timed_passes(b, words, passes, avx2);
  while (t < 0.2 * seconds) {
    passes *= 2;
    t = timed_passes(b, words, passes, avx2);
  }
  passes = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(passes) * seconds / t));
  double best = 0;
  const double total = static_cast<double>(b.bufs().size()) * static_cast<double>(words) * 8.0;
  for (int trial = 0; trial < 3; ++trial) {
    const double s = timed_passes(b, words, passes, avx2);
    best = std::max(best, total * static_cast<double>(passes) / s * 1e-9);
  }
  return best;
}

// The largest power-of-two working set (of all threads together) that still streams at L3
// speed: doubling from 4x L2 (past L2's share of the stream) up to `most` while the rate stays at
// least 3/4 of the best seen so far. The reported L3 size is only the upper end: under a hypervisor
// CPUID and sysconf give the socket's L3 (508 MiB on an EPYC whose cores share 32 MiB per CCD), and
// a core reads another CCD's L3 no faster than DRAM. 0 when the first size exceeds `most`.
int64_t measured_l3(Buffers& b, int64_t l2, int64_t most, double seconds) {
  const int64_t threads = static_cast<int64_t>(b.bufs().size());
  double best = 0;
  int64_t found = 0;
  for (int64_t s = static_cast<int64_t>(std::bit_ceil(static_cast<uint64_t>(4 * l2))); s <= most;
       s *= 2) {
    const double g = stream_gbs(b, s / threads, seconds);
    if (g < 0.75 * best) break;
    best = std::max(best, g);
    found = s;
  }
  return found;
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
  constexpr int64_t kMinDram = int64_t{256} << 20, kMaxDram = int64_t{1} << 30;
  const int64_t l2 = l2_bytes();
  Buffers b(threads, kMaxDram / threads);
  const int64_t l3 = measured_l3(b, l2, std::min(l3_bytes(), kMaxDram / 8), seconds / 2);
  std::vector<BandwidthLevel> levels = {{"L2", l2, l2 / 2}};
  if (l3 > 0) levels.push_back({"L3", l3, l3 / 2 / threads});
  // DRAM: 8x the L3 a stream gets, at least 256 MiB in all.
  levels.push_back({"DRAM", 0, std::clamp(8 * l3, kMinDram, kMaxDram) / threads});
  for (BandwidthLevel& lv : levels) lv.gbs = stream_gbs(b, lv.bytes, seconds);
  return levels;
}

const BandwidthLevel& level_for(const std::vector<BandwidthLevel>& levels, double bytes) {
  // L2 is private: 3/4 of it holds a working set. L3's capacity is already what a stream was
  // measured to get from it.
  for (const BandwidthLevel& lv : levels) {
    const double share = lv.name == "L2" ? 0.75 : 1.0;
    if (lv.capacity > 0 && bytes <= share * static_cast<double>(lv.capacity)) return lv;
  }
  return levels.back();
}

}  // namespace convt2d::bench
