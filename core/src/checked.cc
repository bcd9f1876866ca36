#include "convt2d/checked.h"

#include <fmt/format.h>

#include "convt2d/error.h"

namespace convt2d {
namespace {

[[noreturn]] void overflow(std::string_view what, char op, int64_t a, int64_t b) {
  throw Error(std::string(what), fmt::format("{}: {} {} {} overflows int64", what, a, op, b));
}

}  // namespace

int64_t checked_add(int64_t a, int64_t b, std::string_view what) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) overflow(what, '+', a, b);
  return r;
}

int64_t checked_sub(int64_t a, int64_t b, std::string_view what) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) overflow(what, '-', a, b);
  return r;
}

int64_t checked_mul(int64_t a, int64_t b, std::string_view what) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) overflow(what, '*', a, b);
  return r;
}

}  // namespace convt2d
