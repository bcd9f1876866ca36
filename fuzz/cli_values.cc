// Fuzz target for the CLI's option values (convt2d/option_values.h): the first byte picks a parser, the rest
// is the value as typed. Each must return exactly the value written or raise the project error
// (one line): an accepted integer prints back as the same string, an accepted pair as the same
// "h" or "h,w", an accepted real is finite and equal to what glibc's strtod reads from it.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

#include "convt2d/error.h"
#include "convt2d/option_values.h"

namespace {

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "convt2d cli value finding: %s\n", what.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace convt2d;
  if (size == 0) return 0;
  const std::string s(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    switch (data[0] % 5) {
      case 0: {
        const int64_t v = parse_int("--x", s);
        if (std::to_string(v) != s) finding("parse_int('" + s + "') = " + std::to_string(v));
        break;
      }
      case 1: {
        const uint64_t v = parse_uint("--x", s);
        if (std::to_string(v) != s) finding("parse_uint('" + s + "') = " + std::to_string(v));
        break;
      }
      case 2: {
        // A range from the first byte: [-k, k] with k up to 2^63 - 1.
        const int64_t k = std::numeric_limits<int64_t>::max() >> (data[0] / 5 % 64);
        const int64_t v = parse_int("--x", s, -k, k);
        if (std::to_string(v) != s || v < -k || v > k) finding("ranged parse_int('" + s + "')");
        break;
      }
      case 3: {
        const convt2d::Pair p = parse_pair("--x", s);
        const std::string back = s.find(',') == std::string::npos
                                     ? std::to_string(p.h)
                                     : std::to_string(p.h) + "," + std::to_string(p.w);
        if (back != s || (s.find(',') == std::string::npos && p.h != p.w)) {
          finding("parse_pair('" + s + "') = " + back);
        }
        break;
      }
      default: {
        const double v = parse_real("--x", s, -std::numeric_limits<double>::max(), true);
        if (!std::isfinite(v) || s.find('\0') != std::string::npos)
          finding("parse_real('" + s + "')");
        char* end = nullptr;
        const double ref = std::strtod(s.c_str(), &end);
        if (ref != v || end != s.c_str() + s.size()) {
          finding("parse_real('" + s + "') differs from strtod");
        }
      }
    }
  } catch (const convt2d::Error& e) {
    const std::string msg = e.what();
    if (msg.empty() || msg.find('\n') != std::string::npos || msg.size() > 200 ||
        e.subject() != "--x") {
      finding("bad error message: " + msg.substr(0, 300));
    }
  }
  return 0;
}
