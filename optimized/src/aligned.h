#pragma once
// 64-byte aligned storage: a 512-bit load from an unaligned address crosses a cache line, which
// costs a second load.

#include <cstddef>
#include <memory>
#include <new>
#include <vector>

namespace convt2d::optimized {

template <class T>
struct CacheLineAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlign{64};
  CacheLineAllocator() = default;
  template <class U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}  // NOLINT: rebinding
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlign)); }
  void deallocate(T* p, std::size_t) { ::operator delete(p, kAlign); }
  friend bool operator==(const CacheLineAllocator&, const CacheLineAllocator&) { return true; }
};

/// A std::vector whose data starts on a cache line.
template <class T>
using AlignedVector = std::vector<T, CacheLineAllocator<T>>;

/// `n` floats on a cache line, left uninitialized (a vector's zeroing is a second pass over a
/// copy whose every float read is written first).
class UninitFloats {
 public:
  UninitFloats() = default;
  explicit UninitFloats(std::size_t n)
      : p_(n > 0 ? static_cast<float*>(::operator new(n * sizeof(float), kAlign)) : nullptr) {}
  float* data() const { return p_.get(); }

 private:
  static constexpr std::align_val_t kAlign{64};
  struct Free {
    void operator()(float* p) const { ::operator delete(p, kAlign); }
  };
  std::unique_ptr<float, Free> p_;
};

}  // namespace convt2d::optimized
