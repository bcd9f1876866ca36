#include "problem_file.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "convt2d/error.h"

namespace convt2d::cli {

std::vector<NamedProblem> read_problem_file(const std::string& path, const std::string& flag) {
  std::ifstream in(path);
  if (!in) throw Error(flag, fmt::format("{}: no such file", path));
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
      throw Error(flag,
                  fmt::format("{}:{}: expected 'name problem', got '{}'", path, line_no, line));
    }
    try {
      out.push_back(b.empty() ? NamedProblem{a, parse_problem(a)}
                              : NamedProblem{a, parse_problem(b)});
    } catch (const Error& e) {
      throw Error(e.subject(), fmt::format("{}:{}: {}", path, line_no, e.what()));
    }
  }
  return out;
}

}  // namespace convt2d::cli
