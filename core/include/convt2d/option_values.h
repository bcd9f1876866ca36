#pragma once
/// \file
/// Option values: every integer and real option of `convt2d` and `convt2d_gbench` is parsed here,
/// strictly, so that a value is either exactly what was written or an Error naming the flag. In
/// core (no CLI11) because the CLI, the Google Benchmark executable and the fuzz build share it.

#include <cstdint>
#include <limits>
#include <string_view>

#include "convt2d/params.h"

namespace convt2d {

/// `s` as an integer in [lo, hi]. Accepted: a plain decimal, i.e. digits without a leading zero
/// ("0" itself is fine), with a leading '-' for a negative number. Anything else — empty, '+',
/// spaces, "-0", "0x10", "010" (octal to strtol), "1e3", "3,4" — and values outside [lo, hi] are
/// an Error(flag) naming the flag and the value; nothing is clamped or reinterpreted. Accepted
/// strings are exactly std::to_string of the result.
int64_t parse_int(std::string_view flag, std::string_view s,
                  int64_t lo = std::numeric_limits<int64_t>::min(),
                  int64_t hi = std::numeric_limits<int64_t>::max());

/// As parse_int, for the full uint64 range (a seed): "18446744073709551615" is accepted,
/// "18446744073709551616" and "-1" are range errors.
uint64_t parse_uint(std::string_view flag, std::string_view s,
                    uint64_t hi = std::numeric_limits<uint64_t>::max());

/// "3" (both dimensions) or "3,5" (h, w), each part as parse_int.
Pair parse_pair(std::string_view flag, std::string_view s);

/// `s` as a finite real number (decimal, as std::from_chars reads it: "2e6", "0.5"; no '+', no
/// spaces, no hexadecimal) above `lo` (at least `lo` when `lo_inclusive`). "inf", "nan", 1e400,
/// garbage and values below the bound are an Error(flag).
double parse_real(std::string_view flag, std::string_view s, double lo, bool lo_inclusive = false);

}  // namespace convt2d
