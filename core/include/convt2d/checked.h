#pragma once
/// \file
/// Overflow-checked int64 arithmetic for shape computations: never undefined behaviour, an Error
/// naming the quantity instead.

#include <cstdint>
#include <string_view>

namespace convt2d {

/// a + b, or Error(what) when the result does not fit in int64.
int64_t checked_add(int64_t a, int64_t b, std::string_view what);
/// a - b, or Error(what) when the result does not fit in int64.
int64_t checked_sub(int64_t a, int64_t b, std::string_view what);
/// a * b, or Error(what) when the result does not fit in int64.
int64_t checked_mul(int64_t a, int64_t b, std::string_view what);

}  // namespace convt2d
