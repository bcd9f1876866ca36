#pragma once
// Working-memory accounting for run_bytes(): every product and sum overflow-checked.

#include <cstdint>
#include <string_view>

#include "convt2d/checked.h"

namespace convt2d::optimized {

/// A sum of buffer sizes in bytes: an Error naming the buffer instead of a wrapped size.
class ByteCount {
 public:
  /// Adds a buffer of `size`-byte elements, as many as the product of `counts`.
  template <class... N>
  ByteCount& add(std::string_view what, int64_t size, N... counts) {
    int64_t n = size;
    ((n = checked_mul(n, static_cast<int64_t>(counts), what)), ...);
    total_ = checked_add(total_, n, what);
    return *this;
  }
  int64_t total() const { return total_; }

 private:
  int64_t total_ = 0;
};

inline constexpr int64_t kFloatBytes = sizeof(float), kInt64Bytes = sizeof(int64_t),
                         kPtrBytes = sizeof(void*);

}  // namespace convt2d::optimized
