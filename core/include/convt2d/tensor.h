#pragma once
/// \file
/// A small dense tensor: a shape and contiguous C-order storage of one element type.

#include <cstdint>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "convt2d/params.h"

namespace convt2d {

/// Element types a tensor can hold in files and at the API boundary.
enum class DType { kFloat32, kFloat64 };

/// "float32" / "float64".
std::string_view to_string(DType t);
/// Parses "float32" or "float64"; anything else is an Error naming `what`.
DType parse_dtype(std::string_view s, std::string_view what = "dtype");
/// Bytes per element.
int64_t dtype_size(DType t);

/// Dense C-order tensor of T. T may be any arithmetic-like type, including Boost.Multiprecision
/// numbers (the exact references return those).
template <class T>
struct Tensor {
  Shape shape;
  std::vector<T> data;

  Tensor() = default;
  /// A zero-filled tensor of the given shape (element count overflow-checked).
  explicit Tensor(Shape s) : shape(std::move(s)), data(static_cast<size_t>(element_count(shape))) {}
  Tensor(Shape s, std::vector<T> d) : shape(std::move(s)), data(std::move(d)) {}

  int64_t size() const { return static_cast<int64_t>(data.size()); }
  T* ptr() { return data.data(); }
  const T* ptr() const { return data.data(); }

  /// Element (i0, i1, i2, i3) of a 4-D tensor; no bounds checks.
  T& at(int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    return data[static_cast<size_t>(((i0 * shape[1] + i1) * shape[2] + i2) * shape[3] + i3)];
  }
  const T& at(int64_t i0, int64_t i1, int64_t i2, int64_t i3) const {
    return data[static_cast<size_t>(((i0 * shape[1] + i1) * shape[2] + i2) * shape[3] + i3)];
  }
  friend bool operator==(const Tensor&, const Tensor&) = default;
};

/// A tensor of any DType, as read from or written to a file.
using AnyTensor = std::variant<Tensor<float>, Tensor<double>>;

/// The dtype held by an AnyTensor.
DType dtype_of(const AnyTensor& t);
/// The shape held by an AnyTensor.
const Shape& shape_of(const AnyTensor& t);

/// Element-wise conversion (static_cast per element).
template <class To, class From>
Tensor<To> tensor_cast(const Tensor<From>& t) {
  Tensor<To> r;
  r.shape = t.shape;
  r.data.reserve(t.data.size());
  for (const From& v : t.data) r.data.push_back(static_cast<To>(v));
  return r;
}

}  // namespace convt2d
