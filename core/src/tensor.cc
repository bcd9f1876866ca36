#include "convt2d/tensor.h"

#include <fmt/format.h>

#include "convt2d/error.h"

namespace convt2d {

std::string_view to_string(DType t) {
  switch (t) {
    case DType::kFloat32:
      return "float32";
    case DType::kFloat64:
      return "float64";
  }
  return "?";
}

DType parse_dtype(std::string_view s, std::string_view what) {
  if (s == "float32") return DType::kFloat32;
  if (s == "float64") return DType::kFloat64;
  throw Error(std::string(what),
              fmt::format("{}: unknown dtype '{}' (expected float32 or float64)", what, s));
}

int64_t dtype_size(DType t) {
  return t == DType::kFloat32 ? 4 : 8;
}

DType dtype_of(const AnyTensor& t) {
  return std::holds_alternative<Tensor<float>>(t) ? DType::kFloat32 : DType::kFloat64;
}

const Shape& shape_of(const AnyTensor& t) {
  return std::visit([](const auto& v) -> const Shape& { return v.shape; }, t);
}

}  // namespace convt2d
