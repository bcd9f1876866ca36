#include "convt2d/option_values.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <optional>
#include <string>

#include "convt2d/error.h"

namespace convt2d {
namespace {

std::string quoted(std::string_view s) {
  return fmt::format("'{}'", excerpt(s));
}

// A plain decimal's sign and magnitude (nullopt for the magnitude when it exceeds uint64), or an
// Error for anything that is not one.
struct Decimal {
  bool negative = false;
  std::optional<uint64_t> magnitude;
};

Decimal decimal(std::string_view flag, std::string_view s) {
  Decimal d;
  std::string_view digits = s;
  if (!digits.empty() && digits[0] == '-') {
    d.negative = true;
    digits.remove_prefix(1);
  }
  bool plain = !digits.empty() && digits.find_first_not_of("0123456789") == std::string_view::npos;
  // A leading zero is octal to strtol (and so to CLI11); "-0" is no number anyone means.
  if (plain && digits[0] == '0' && (digits.size() > 1 || d.negative)) plain = false;
  if (!plain) {
    throw Error(std::string(flag),
                fmt::format("{}: expected a plain decimal integer, got {}", flag, quoted(s)));
  }
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec == std::errc() && end == digits.data() + digits.size()) d.magnitude = v;
  return d;
}

// `above`: the value is beyond hi (as opposed to below lo).
template <class T>
[[noreturn]] void out_of_range(std::string_view flag, std::string_view s, T lo, T hi, bool above) {
  std::string range;
  if (hi != std::numeric_limits<T>::max()) {
    range = fmt::format("must be in [{}, {}]", lo, hi);
  } else if (above) {
    range = fmt::format("must be at most {}", hi);
  } else {
    range = lo == 1 ? "must be a positive integer" : fmt::format("must be >= {}", lo);
  }
  throw Error(std::string(flag), fmt::format("{}: {}, got {}", flag, range, excerpt(s)));
}

}  // namespace

int64_t parse_int(std::string_view flag, std::string_view s, int64_t lo, int64_t hi) {
  const Decimal d = decimal(flag, s);
  constexpr uint64_t kMaxNegative = uint64_t{1} << 63;  // |INT64_MIN|
  if (!d.magnitude || *d.magnitude > (d.negative ? kMaxNegative : uint64_t{INT64_MAX})) {
    out_of_range(flag, s, lo, hi, !d.negative);
  }
  const int64_t v = d.negative ? static_cast<int64_t>(0 - *d.magnitude)  // wraps to INT64_MIN
                               : static_cast<int64_t>(*d.magnitude);
  if (v < lo || v > hi) out_of_range(flag, s, lo, hi, v > hi);
  return v;
}

uint64_t parse_uint(std::string_view flag, std::string_view s, uint64_t hi) {
  const Decimal d = decimal(flag, s);
  if (d.negative || !d.magnitude || *d.magnitude > hi) {
    out_of_range(flag, s, uint64_t{0}, hi, !d.negative);
  }
  return *d.magnitude;
}

Pair parse_pair(std::string_view flag, std::string_view s) {
  const size_t comma = s.find(',');
  if (comma == std::string_view::npos) {
    const int64_t v = parse_int(flag, s);
    return {v, v};
  }
  const std::string_view h = s.substr(0, comma), w = s.substr(comma + 1);
  if (w.find(',') != std::string_view::npos || h.empty() || w.empty()) {
    throw Error(std::string(flag),
                fmt::format("{}: expected an integer or h,w, got {}", flag, quoted(s)));
  }
  return {parse_int(flag, h), parse_int(flag, w)};
}

double parse_real(std::string_view flag, std::string_view s, double lo, bool lo_inclusive) {
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range) {
    throw Error(std::string(flag), fmt::format("{}: {} is out of range", flag, quoted(s)));
  }
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) {
    throw Error(std::string(flag),
                fmt::format("{}: expected a finite number, got {}", flag, quoted(s)));
  }
  if (lo_inclusive ? !(v >= lo) : !(v > lo)) {
    throw Error(std::string(flag),
                fmt::format("{}: must be {} {}, got {}", flag, lo_inclusive ? ">=" : ">", lo, s));
  }
  return v;
}

}  // namespace convt2d
