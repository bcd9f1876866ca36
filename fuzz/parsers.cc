// Parser fuzz target: the first byte picks a parser — problem strings, case.json, .npy files
// (read with or without '<u2' as bfloat16) — and the rest is its input. Each must parse or raise
// the project error; parsed problem strings must round-trip through format_problem, and parsed .npy
// files through serialize_npy.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "convt2d/case_dir.h"
#include "convt2d/error.h"
#include "convt2d/npy.h"
#include "convt2d/params.h"

namespace {

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "convt2d parser finding: %s\n", what.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    switch (data[0] % 3) {
      case 0: {
        const convt2d::Problem pr = convt2d::parse_problem(text);
        if (convt2d::parse_problem(convt2d::format_problem(pr)) != pr) {
          finding("problem string does not round-trip: " + std::string(text));
        }
        break;
      }
      case 1:
        convt2d::parse_case_json(text, "case.json");
        break;
      default: {
        // A small cap keeps a forged shape from allocating much. Every other npy input is read
        // as a bfloat16 case would read it ('<u2' allowed).
        const bool bf16 = data[0] / 3 % 2 == 1;
        const convt2d::AnyTensor t =
            convt2d::parse_npy(std::span(data + 1, size - 1), "fuzz.npy", 1 << 20, bf16);
        // Compare bytes, not values: NaN payloads never compare equal.
        const auto bytes = convt2d::serialize_npy(t);
        if (convt2d::serialize_npy(convt2d::parse_npy(bytes, "again.npy", INT64_MAX, bf16)) !=
            bytes) {
          finding(".npy does not round-trip");
        }
      }
    }
  } catch (const convt2d::Error& e) {
    if (std::string(e.what()).empty()) finding("empty error message");
  }
  return 0;
}
