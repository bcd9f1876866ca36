// Replacements of every global operator new and delete that keep a count of the bytes live and
// its peak. Each block carries its requested size just before the pointer returned (in a
// header of 16 bytes, or of the alignment for over-aligned new), so that every delete, sized or
// not, subtracts exactly what its new added.
#include "alloc_counter.h"

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <exception>
#include <new>
#include <thread>

namespace {

std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_peak{0};

constexpr size_t kHeader = 16;  // malloc's alignment: blocks stay 16-byte aligned

void note(int64_t delta) {
  const int64_t now = g_live.fetch_add(delta, std::memory_order_relaxed) + delta;
  int64_t peak = g_peak.load(std::memory_order_relaxed);
  while (now > peak && !g_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

void* allocate(size_t n, size_t align) {
  const size_t header = align > kHeader ? align : kHeader;
  void* base = align > kHeader ? std::aligned_alloc(align, header + (n + align - 1) / align * align)
                               : std::malloc(header + n);
  if (base == nullptr) throw std::bad_alloc();
  char* p = static_cast<char*>(base) + header;
  reinterpret_cast<size_t*>(p)[-1] = n;
  note(static_cast<int64_t>(n));
  return p;
}

void release(void* ptr, size_t align) noexcept {
  if (ptr == nullptr) return;
  const size_t header = align > kHeader ? align : kHeader;
  char* p = static_cast<char*>(ptr);
  note(-static_cast<int64_t>(reinterpret_cast<size_t*>(p)[-1]));
  std::free(p - header);
}

void* allocate_nothrow(size_t n, size_t align) noexcept {
  try {
    return allocate(n, align);
  } catch (...) {
    return nullptr;
  }
}

}  // namespace

void* operator new(size_t n) {
  return allocate(n, 0);
}
void* operator new[](size_t n) {
  return allocate(n, 0);
}
void* operator new(size_t n, std::align_val_t a) {
  return allocate(n, static_cast<size_t>(a));
}
void* operator new[](size_t n, std::align_val_t a) {
  return allocate(n, static_cast<size_t>(a));
}
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  return allocate_nothrow(n, 0);
}
void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  return allocate_nothrow(n, 0);
}
void* operator new(size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate_nothrow(n, static_cast<size_t>(a));
}
void* operator new[](size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate_nothrow(n, static_cast<size_t>(a));
}
void operator delete(void* p) noexcept {
  release(p, 0);
}
void operator delete[](void* p) noexcept {
  release(p, 0);
}
void operator delete(void* p, size_t) noexcept {
  release(p, 0);
}
void operator delete[](void* p, size_t) noexcept {
  release(p, 0);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  release(p, 0);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  release(p, 0);
}
void operator delete(void* p, std::align_val_t a) noexcept {
  release(p, static_cast<size_t>(a));
}
void operator delete[](void* p, std::align_val_t a) noexcept {
  release(p, static_cast<size_t>(a));
}
void operator delete(void* p, size_t, std::align_val_t a) noexcept {
  release(p, static_cast<size_t>(a));
}
void operator delete[](void* p, size_t, std::align_val_t a) noexcept {
  release(p, static_cast<size_t>(a));
}
void operator delete(void* p, std::align_val_t a, const std::nothrow_t&) noexcept {
  release(p, static_cast<size_t>(a));
}
void operator delete[](void* p, std::align_val_t a, const std::nothrow_t&) noexcept {
  release(p, static_cast<size_t>(a));
}

namespace convt2d::testing {

int64_t peak_allocated_bytes(const std::function<void()>& f) {
  int64_t peak = 0;
  std::exception_ptr error;
  std::thread t([&] {
    const int64_t base = g_live.load();
    g_peak.store(base);
    try {
      f();
    } catch (...) {
      error = std::current_exception();
    }
    peak = g_peak.load() - base;
  });
  t.join();
  if (error) std::rethrow_exception(error);
  return peak;
}

int64_t live_allocated_bytes() {
  return g_live.load();
}

}  // namespace convt2d::testing
