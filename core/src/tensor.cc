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
    case DType::kFloat16:
      return "float16";
    case DType::kBFloat16:
      return "bfloat16";
  }
  return "?";
}

DType parse_dtype(std::string_view s, std::string_view what) {
  for (DType t : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16}) {
    if (s == to_string(t)) return t;
  }
  throw Error(std::string(what),
              fmt::format("{}: unknown dtype '{}' (expected float32, float64, float16 or bfloat16)",
                          what, excerpt(s)));
}

int64_t dtype_size(DType t) {
  switch (t) {
    case DType::kFloat32:
      return 4;
    case DType::kFloat64:
      return 8;
    case DType::kFloat16:
    case DType::kBFloat16:
      return 2;
  }
  return 8;
}

DType dtype_of(const AnyTensor& t) {
  return std::visit(
      [](const auto& v) { return dtype_v<typename std::decay_t<decltype(v)>::value_type>; }, t);
}

template <class T>
const Tensor<T>& tensor_as(const AnyTensor& t, std::string_view what) {
  if (const auto* p = std::get_if<Tensor<T>>(&t)) return *p;
  throw Error(std::string(what), fmt::format("{}: expected {} data, got {}", what,
                                             to_string(dtype_v<T>), to_string(dtype_of(t))));
}

template const Tensor<float>& tensor_as<float>(const AnyTensor&, std::string_view);
template const Tensor<double>& tensor_as<double>(const AnyTensor&, std::string_view);
template const Tensor<float16>& tensor_as<float16>(const AnyTensor&, std::string_view);
template const Tensor<bfloat16>& tensor_as<bfloat16>(const AnyTensor&, std::string_view);

const Shape& shape_of(const AnyTensor& t) {
  return std::visit([](const auto& v) -> const Shape& { return v.shape; }, t);
}

}  // namespace convt2d
