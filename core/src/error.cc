#include "convt2d/error.h"

#include <fmt/format.h>

namespace convt2d {

std::string excerpt(std::string_view s, size_t max) {
  const bool cut = s.size() > max;
  if (cut) s = s.substr(0, max < 3 ? 0 : max - 3);
  std::string r;
  r.reserve(s.size() + 3);
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      r += "\\n";
    } else if (c == '\t') {
      r += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      r += fmt::format("\\x{:02x}", u);
    } else {
      r += c;
    }
  }
  if (cut) r += "...";
  return r;
}

}  // namespace convt2d
