#pragma once
/// \file
/// A small dense tensor: a shape and contiguous C-order storage of one element type.

#include <cstdint>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "convt2d/half.h"
#include "convt2d/params.h"
#include "convt2d/storage.h"

namespace convt2d {

/// Element types a tensor can hold in files and at the API boundary. float16 is IEEE binary16
/// (`<f2` in .npy files); bfloat16 is stored in .npy files as its 16 bits, `<u2`, and only read as
/// bfloat16 where the case says so (docs/oracle.md).
enum class DType { kFloat32, kFloat64, kFloat16, kBFloat16 };

/// "float32" / "float64" / "float16" / "bfloat16".
std::string_view to_string(DType t);
/// Parses a dtype name; anything else is an Error naming `what`.
DType parse_dtype(std::string_view s, std::string_view what = "dtype");
/// Bytes per element.
int64_t dtype_size(DType t);
/// Significand bits with the implicit bit: 24, 53, 11, 8.
constexpr int significand_bits(DType t) {
  return t == DType::kFloat32 ? 24 : t == DType::kFloat64 ? 53 : t == DType::kFloat16 ? 11 : 8;
}
/// True for float16 and bfloat16 (the dtypes compute_mode applies to).
constexpr bool is_half(DType t) {
  return t == DType::kFloat16 || t == DType::kBFloat16;
}

/// Dense C-order tensor of T. T may be any arithmetic-like type, including Boost.Multiprecision
/// numbers (the exact references return those) and float16/bfloat16, whose data is then one
/// contiguous array of 16-bit patterns (convt2d/half.h: bulk conversion with SIMD loads).
template <class T>
struct Tensor {
  using value_type = T;
  Shape shape;
  /// The elements: owned, or a view of another runtime's memory (Storage::view, zero-copy input).
  Storage<T> data;

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

/// A tensor of any DType, as read from or written to a file. Alternatives in DType order.
using AnyTensor = std::variant<Tensor<float>, Tensor<double>, Tensor<float16>, Tensor<bfloat16>>;

/// The DType of an element type: dtype_v<float16> == DType::kFloat16, ...
template <class T>
inline constexpr DType dtype_v = std::is_same_v<T, float>     ? DType::kFloat32
                                 : std::is_same_v<T, double>  ? DType::kFloat64
                                 : std::is_same_v<T, float16> ? DType::kFloat16
                                                              : DType::kBFloat16;

/// The Tensor<T> an AnyTensor holds, or an Error naming `what` and both dtypes (instead of
/// std::bad_variant_access) when it holds another dtype.
template <class T>
const Tensor<T>& tensor_as(const AnyTensor& t, std::string_view what);

/// The dtype held by an AnyTensor.
DType dtype_of(const AnyTensor& t);
/// The shape held by an AnyTensor.
const Shape& shape_of(const AnyTensor& t);

/// Element-wise conversion (static_cast per element; to float16/bfloat16: rounded to nearest).
template <class To, class From>
Tensor<To> tensor_cast(const Tensor<From>& t) {
  Tensor<To> r;
  r.shape = t.shape;
  r.data.reserve(t.data.size());
  for (const From& v : t.data) r.data.push_back(static_cast<To>(v));
  return r;
}

}  // namespace convt2d
