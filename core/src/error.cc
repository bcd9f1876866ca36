#include "convt2d/error.h"

#include <fmt/format.h>

namespace convt2d {

std::string excerpt(std::string_view s, size_t max) {
  // `max` bounds what is printed, escapes included: cut at the last whole character that leaves
  // room for "...".
  const size_t room = max < 3 ? 0 : max - 3;
  std::string r;
  size_t fit = 0;  // the length of r at the last character boundary within `room`
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    const std::string piece = c == '\n'                 ? std::string("\\n")
                              : c == '\t'               ? std::string("\\t")
                              : (u < 0x20 || u == 0x7f) ? fmt::format("\\x{:02x}", u)
                                                        : std::string(1, c);
    if (r.size() + piece.size() > max) {
      r.resize(fit);
      return r + "...";
    }
    r += piece;
    if (r.size() <= room) fit = r.size();
  }
  return r;
}

}  // namespace convt2d
