#pragma once
/// \file
/// The elements of a Tensor: a std::vector it owns or, for zero-copy input from another runtime
/// (a C-contiguous numpy array handed to the Python module), a read-only view of memory that
/// outlives the tensor. Both read through one vector-like interface. A view is copy-on-write: any
/// non-const access (data(), operator[], begin(), resize, ...) first copies the elements into a
/// vector the Storage owns, so another runtime's memory is never written, reallocated or freed
/// here. A copy of a Storage always owns its elements.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <initializer_list>
#include <utility>
#include <vector>

namespace convt2d {

/// How many views have been turned into owned copies (copy-on-write), process-wide. Zero-copy
/// paths are tested by this count staying put.
inline std::atomic<unsigned long long>& storage_view_copies() {
  static std::atomic<unsigned long long> count{0};
  return count;
}

template <class T>
class Storage {
 public:
  using value_type = T;
  using size_type = size_t;
  using iterator = T*;
  using const_iterator = const T*;

  Storage() = default;
  /// n value-initialized elements (zeros for arithmetic types), owned.
  explicit Storage(size_t n) : own_(n) { sync(); }
  Storage(size_t n, const T& v) : own_(n, v) { sync(); }
  Storage(std::vector<T> v) : own_(std::move(v)) { sync(); }  // NOLINT: a vector converts
  Storage(std::initializer_list<T> l) : own_(l) { sync(); }
  template <class It>
  Storage(It first, It last) : own_(first, last) {
    sync();
  }

  /// A read-only view of n elements at p, which the caller keeps alive and unchanged for the
  /// view's lifetime and that of its moved-to successors.
  static Storage view(const T* p, size_t n) {
    Storage s;
    s.ptr_ = const_cast<T*>(p);  // never written: non-const access copies first
    s.n_ = n;
    s.viewing_ = true;
    return s;
  }

  Storage(const Storage& o) : own_(o.begin(), o.end()) { sync(); }
  Storage(Storage&& o) noexcept { take(std::move(o)); }
  Storage& operator=(const Storage& o) {
    if (this != &o) {
      own_.assign(o.begin(), o.end());
      viewing_ = false;
      sync();
    }
    return *this;
  }
  Storage& operator=(Storage&& o) noexcept {
    if (this != &o) take(std::move(o));
    return *this;
  }
  Storage& operator=(std::vector<T> v) {
    own_ = std::move(v);
    viewing_ = false;
    sync();
    return *this;
  }

  /// True when the elements are another owner's memory.
  bool is_view() const { return viewing_; }

  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  T* data() {
    own();
    return ptr_;
  }
  const T* data() const { return ptr_; }
  T& operator[](size_t i) {
    own();
    return ptr_[i];
  }
  const T& operator[](size_t i) const { return ptr_[i]; }
  T& front() { return (*this)[0]; }
  const T& front() const { return ptr_[0]; }
  T& back() { return (*this)[n_ - 1]; }
  const T& back() const { return ptr_[n_ - 1]; }
  T* begin() { return data(); }
  T* end() { return data() + n_; }
  const T* begin() const { return ptr_; }
  const T* end() const { return ptr_ + n_; }

  void resize(size_t n) {
    own();
    own_.resize(n);
    sync();
  }
  void resize(size_t n, const T& v) {
    own();
    own_.resize(n, v);
    sync();
  }
  void reserve(size_t n) {
    own();
    own_.reserve(n);
    sync();
  }
  void push_back(const T& v) {
    own();
    own_.push_back(v);
    sync();
  }
  void push_back(T&& v) {
    own();
    own_.push_back(std::move(v));
    sync();
  }
  void clear() {
    own_.clear();  // a view is dropped, not copied first
    viewing_ = false;
    sync();
  }
  void assign(size_t n, const T& v) {
    own_.assign(n, v);  // replaces a view's elements without copying them
    viewing_ = false;
    sync();
  }

  /// The elements as a vector: the owned one moved out, or a copy of a view. Leaves this empty.
  std::vector<T> release() && {
    own();
    std::vector<T> v = std::move(own_);
    own_.clear();
    sync();
    return v;
  }
  /// A copy as a vector.
  std::vector<T> to_vector() const { return std::vector<T>(begin(), end()); }

  friend bool operator==(const Storage& a, const Storage& b) {
    return a.n_ == b.n_ && std::equal(a.begin(), a.end(), b.begin());
  }

 private:
  void sync() {
    ptr_ = own_.data();
    n_ = own_.size();
  }
  // A view becomes a copy it owns. The test is all that stays on the hot path (every non-const
  // element access): the copy is out of line so that the accessors still inline into loops.
  void own() {
    if (viewing_) [[unlikely]]
      make_owned();
  }
  [[gnu::cold, gnu::noinline]] void make_owned() {
    storage_view_copies().fetch_add(1, std::memory_order_relaxed);
    own_.assign(ptr_, ptr_ + n_);
    viewing_ = false;
    sync();
  }
  void take(Storage&& o) {
    viewing_ = o.viewing_;
    if (viewing_) {
      own_.clear();
      ptr_ = o.ptr_;
      n_ = o.n_;
    } else {
      own_ = std::move(o.own_);  // the buffer moves with its address
      sync();
    }
    o.own_.clear();
    o.viewing_ = false;
    o.sync();
  }

  std::vector<T> own_;
  T* ptr_ = nullptr;
  size_t n_ = 0;
  bool viewing_ = false;
};

}  // namespace convt2d
