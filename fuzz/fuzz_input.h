#pragma once
// A little reader over a fuzzer's bytes: integers in chosen ranges, zero once exhausted (so every
// input, however short, maps to a valid value and libFuzzer's mutations stay meaningful).

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace convt2d::fuzz {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  uint64_t u64() {
    uint64_t v = 0;
    const size_t n = remaining() < 8 ? remaining() : 8;
    std::memcpy(&v, p_, n);
    p_ += n;
    return v;
  }
  uint8_t byte() { return p_ < end_ ? *p_++ : 0; }
  /// Uniform-ish integer in [lo, hi] from one byte.
  int64_t in(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(byte() % static_cast<uint64_t>(hi - lo + 1));
  }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  const uint8_t* rest() const { return p_; }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

}  // namespace convt2d::fuzz
