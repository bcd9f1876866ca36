#include "convt2d/problem_file.h"

#include <fmt/format.h>

#include <sstream>

#include "convt2d/error.h"
#include "convt2d/files.h"

namespace convt2d {
std::vector<NamedProblem> read_problem_file(const std::string& path, const std::string& flag) {
  std::string text;
  try {
    // A regular file of at most 16 MiB: a directory, FIFO or /dev/zero is refused unread.
    text = read_regular_file(path, kMaxTextFileBytes);
  } catch (const Error& e) {
    throw Error(flag, e.what());
  }
  std::istringstream in(text);
  std::vector<NamedProblem> out;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (const auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::istringstream ss(line);
    std::string a, b, extra;
    if (!(ss >> a)) continue;
    ss >> b;
    if (ss >> extra) {
      throw Error(flag, fmt::format("{}:{}: expected 'name problem', got '{}'", path, line_no,
                                    excerpt(line)));
    }
    try {
      out.push_back(b.empty() ? NamedProblem{a, parse_problem(a)}
                              : NamedProblem{a, parse_problem(b)});
    } catch (const Error& e) {
      throw Error(e.subject(), fmt::format("{}:{}: {}", path, line_no, e.what()));
    }
  }
  // An empty file is a wrong path or a truncated file, never a run that should pass.
  if (out.empty()) {
    throw Error(flag,
                fmt::format("{}: no problems in the file (expected 'name problem' lines)", path));
  }
  return out;
}

}  // namespace convt2d
