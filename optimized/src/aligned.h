#pragma once
// 64-byte aligned storage: a 512-bit load from an unaligned address crosses a cache line, which
// costs a second load.

#include <array>
#include <cstddef>
#include <cstring>
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

/// Scratch slots a run may hold at once (see thread_scratch).
inline constexpr int kScratchSlots = 3;

/// The calling thread's scratch buffers, one per slot.
inline std::array<AlignedVector<float>, kScratchSlots>& scratch_buffers() {
  thread_local std::array<AlignedVector<float>, kScratchSlots> buffers;
  return buffers;
}

/// At least n floats on a cache line, kept by the calling thread between calls, one buffer per
/// slot (distinct slots for buffers a run holds at once). A run's copies of tens of MB, allocated
/// afresh, are mapped and page-faulted in on every call, which in a VM costs more than the
/// kernels (bwd_data's planes for fcn8s: 86 ms a call instead of 13). A buffer grows to the
/// largest request and shrinks only by release_scratch() (optimized.h); its contents are
/// whatever the last run left (`zero` clears the first n floats).
inline float* thread_scratch(int slot, std::size_t n, bool zero) {
  AlignedVector<float>& b = scratch_buffers()[static_cast<std::size_t>(slot)];
  if (b.size() < n) {
    b = AlignedVector<float>();  // released before the larger one is allocated
    b = AlignedVector<float>(n);
    return b.data();  // value-initialised: zeros already
  }
  if (zero && n > 0) std::memset(b.data(), 0, n * sizeof(float));  // data() may be null
  return b.data();
}

}  // namespace convt2d::optimized
