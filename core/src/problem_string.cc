// Problem strings, in the benchdnn style: "mb1ic64ih32oc64kh4sh2ph1".
#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <optional>

#include "convt2d/error.h"
#include "convt2d/params.h"

namespace convt2d {
namespace {

constexpr std::array<std::string_view, 17> kTokens = {"mb",  "ic", "ih", "iw", "oc",  "kh",
                                                      "kw",  "sh", "sw", "ph", "pw",  "oph",
                                                      "opw", "dh", "dw", "g",  "bias"};

[[noreturn]] void bad(std::string_view s, const std::string& why) {
  throw Error("problem string", fmt::format("problem string '{}': {}", excerpt(s, 60), why));
}

}  // namespace

Problem parse_problem(std::string_view s) {
  std::array<std::optional<int64_t>, kTokens.size()> v;
  size_t i = 0;
  if (s.empty()) bad(s, "empty");
  while (i < s.size()) {
    const size_t name_begin = i;
    while (i < s.size() && std::islower(static_cast<unsigned char>(s[i]))) ++i;
    const std::string_view name = s.substr(name_begin, i - name_begin);
    if (name.empty()) {
      bad(s, fmt::format("unexpected character '{}' at position {}", excerpt(s.substr(i, 1)), i));
    }
    size_t slot = kTokens.size();
    for (size_t t = 0; t < kTokens.size(); ++t) {
      if (kTokens[t] == name) slot = t;
    }
    if (slot == kTokens.size()) {
      bad(s, fmt::format("unknown token '{}' at position {} (known: {})", excerpt(name, 20),
                         name_begin, fmt::join(kTokens, " ")));
    }
    const size_t num_begin = i;
    if (i < s.size() && s[i] == '-') ++i;  // negative values parse; validation rejects them
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    const std::string_view num = s.substr(num_begin, i - num_begin);
    int64_t value = 0;
    const auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), value);
    if (num.empty() || num == "-") {
      bad(s, fmt::format("token '{}' at position {} needs an integer", name, name_begin));
    }
    if (ec == std::errc::result_out_of_range || end != num.data() + num.size()) {
      bad(s, fmt::format("token '{}{}' at position {}: integer out of range", name,
                         excerpt(num, 30), name_begin));
    }
    if (v[slot]) bad(s, fmt::format("token '{}' appears more than once", name));
    v[slot] = value;
  }
  const auto get = [&](std::string_view name) -> std::optional<int64_t> {
    for (size_t t = 0; t < kTokens.size(); ++t) {
      if (kTokens[t] == name) return v[t];
    }
    return std::nullopt;
  };
  for (std::string_view req : {"ic", "ih", "oc", "kh"}) {
    if (!get(req)) bad(s, fmt::format("missing required token '{}'", req));
  }
  // A missing w twin equals its h value; the h values have the operator's defaults.
  const auto pair = [&](std::string_view h, std::string_view w, int64_t dflt) {
    const int64_t hv = get(h).value_or(dflt);
    return Pair{hv, get(w).value_or(hv)};
  };
  Problem pr;
  pr.mb = get("mb").value_or(1);
  pr.ih = *get("ih");
  pr.iw = get("iw").value_or(pr.ih);
  Params& p = pr.params;
  p.in_channels = *get("ic");
  p.out_channels = *get("oc");
  p.kernel_size = pair("kh", "kw", 1);
  p.stride = pair("sh", "sw", 1);
  p.padding = pair("ph", "pw", 0);
  p.output_padding = pair("oph", "opw", 0);
  p.dilation = pair("dh", "dw", 1);
  p.groups = get("g").value_or(1);
  const int64_t bias = get("bias").value_or(1);
  if (bias != 0 && bias != 1) bad(s, fmt::format("token 'bias{}' must be bias0 or bias1", bias));
  p.bias = bias == 1;
  validate(pr);
  return pr;
}

std::string format_problem(const Problem& pr) {
  const Params& p = pr.params;
  std::string s = fmt::format("mb{}ic{}ih{}", pr.mb, p.in_channels, pr.ih);
  if (pr.iw != pr.ih) s += fmt::format("iw{}", pr.iw);
  s += fmt::format("oc{}", p.out_channels);
  // Write the h value when it is not the default or the w twin differs (a missing w copies h).
  const auto pair = [&](const char* h, const char* w, Pair v, int64_t dflt) {
    if (v.h != dflt || v.w != v.h) s += fmt::format("{}{}", h, v.h);
    if (v.w != v.h) s += fmt::format("{}{}", w, v.w);
  };
  s += fmt::format("kh{}", p.kernel_size.h);
  if (p.kernel_size.w != p.kernel_size.h) s += fmt::format("kw{}", p.kernel_size.w);
  pair("sh", "sw", p.stride, 1);
  pair("ph", "pw", p.padding, 0);
  pair("oph", "opw", p.output_padding, 0);
  pair("dh", "dw", p.dilation, 1);
  if (p.groups != 1) s += fmt::format("g{}", p.groups);
  if (!p.bias) s += "bias0";
  return s;
}

}  // namespace convt2d
