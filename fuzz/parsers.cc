// Parser fuzz target: the first byte picks a parser — problem strings, case.json, .npy files
// (read with or without '<u2' as bfloat16) — and the rest is its input. Each must parse or raise
// the project error; parsed problem strings must round-trip through format_problem, and parsed .npy
// files through serialize_npy. Every error must be one line of at most 300 characters, and two
// case.json modes build what byte mutations rarely reach: a value nested up to 4095 levels
// deep, and a number token (such as 1e400) under a known or an unknown key, which an unknown key
// must ignore and a known one must name as out of range.
#include <algorithm>
#include <cmath>
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

constexpr const char* kKeys[] = {"in_channels",
                                 "out_channels",
                                 "kernel_size",
                                 "stride",
                                 "padding",
                                 "output_padding",
                                 "dilation",
                                 "groups",
                                 "bias",
                                 "conv_mode",
                                 "compute_mode",
                                 "dtype",
                                 "output_padding_rule",
                                 "input_shape",
                                 "output_shape",
                                 "comment",
                                 "note"};
constexpr size_t kKnownKeys = 15;  // the first 15; the others are ignored by parse_case_json
constexpr const char* kValid = R"({"in_channels": 4, "out_channels": 4, "kernel_size": 3, ")";

void parse_json(std::string_view text) {
  try {
    convt2d::parse_case_json(text, "case.json");
  } catch (const convt2d::Error& e) {
    const std::string msg = e.what();
    if (msg.empty() || msg.find('\n') != std::string::npos || msg.size() > 300) {
      finding("case.json error is not one short line: " + msg.substr(0, 400));
    }
    throw;
  }
}

// Mode 1: bytes 0 (key), 1-2 (depth, up to 4095: far beyond the limit of 64, and cheap enough
// to keep the target fast; the unit tests take 10^5), 3 (a bit per level: '[' or '{"a": '), the
// rest the innermost value.
void deep_json(std::string_view in) {
  if (in.size() < 4) return;
  const auto b = [&](size_t i) { return static_cast<unsigned char>(in[i]); };
  const size_t levels = b(1) | size_t{b(2) % 16u} << 8;
  std::string text = std::string(kValid) + kKeys[b(0) % std::size(kKeys)] + "\": ";
  std::string close;
  for (size_t i = 0; i < levels; ++i) {
    const bool object = (b(3) >> (i % 8)) & 1;
    text += object ? "{\"a\": " : "[";
    close += object ? '}' : ']';
  }
  text.append(in.substr(4));
  text.append(close.rbegin(), close.rend());
  text += '}';
  parse_json(text);
}

// Mode 2: byte 0 (key), byte 1 (flags: sign, fraction, exponent, its sign and letter), byte 2
// (lengths), the rest digits: a JSON number token, often beyond double's range (1e400, 400-digit
// integers). It must be ignored under an unknown key and named out of range under a known one.
void number_json(std::string_view in) {
  if (in.size() < 3) return;
  const auto b = [&](size_t i) { return static_cast<unsigned char>(in[i]); };
  const size_t key = b(0) % std::size(kKeys);
  const unsigned flags = b(1);
  std::string digits;
  for (const char c : in.substr(3)) {
    digits +=
        c >= '0' && c <= '9' ? c : static_cast<char>('0' + static_cast<unsigned char>(c) % 10);
  }
  size_t at = 0;
  const auto take = [&](size_t n) {
    std::string r = digits.substr(std::min(at, digits.size()), n);
    at += r.size();
    return r.append(n - r.size(), '0');
  };
  std::string token = flags & 1 ? "-" : "";
  const size_t int_len = 1 + b(2) % 16 * 32;  // up to 481 digits
  std::string int_part = take(int_len);
  if (int_len > 1 && int_part[0] == '0') int_part[0] = '1';  // no leading zeros in JSON
  token += int_part;
  if (flags & 2) token += "." + take(1 + b(2) / 16);
  if (flags & 4) {
    token += flags & 32 ? 'E' : 'e';
    token += (flags >> 3) % 3 == 1 ? "+" : (flags >> 3) % 3 == 2 ? "-" : "";
    token += at < digits.size() ? digits.substr(at) : "0";
  }
  const bool huge = std::isinf(std::strtod(token.c_str(), nullptr));
  const std::string text = std::string(kValid) + kKeys[key] + "\": " + token + "}";
  try {
    parse_json(text);
  } catch (const convt2d::Error& e) {
    if (huge && key >= kKnownKeys) finding("out-of-range number under an unknown key: " + text);
    if (huge && std::string(e.what()).find("out of range") == std::string::npos) {
      finding("out-of-range number under a known key not named so: " + std::string(e.what()));
    }
    throw;
  }
  if (huge && key < kKnownKeys) finding("out-of-range number accepted: " + text);
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
        // Other first bytes ≡ 1 (mod 3) keep the text as it is (the corpus' 1 and 55 among them).
        if (data[0] / 3 == 1) {
          deep_json(text);
        } else if (data[0] / 3 == 2) {
          number_json(text);
        } else {
          parse_json(text);
        }
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
    // Every parser's message is one line of at most 300 characters, whatever the input holds.
    const std::string msg = e.what();
    if (msg.empty() || msg.find('\n') != std::string::npos || msg.size() > 300) {
      finding("error message is not one short line: " + msg.substr(0, 400));
    }
  }
  return 0;
}
