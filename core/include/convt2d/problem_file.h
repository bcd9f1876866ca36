#pragma once
/// \file
/// Files of named problems ("name problem" lines): `verify --problems` and `bench --layers` read
/// them, and so does the Google Benchmark executable; in core so that cli/ and bench/ share one
/// parser without including each other (cli/ depends on bench/, never the reverse).

#include <string>
#include <vector>

#include "convt2d/params.h"

namespace convt2d {

/// A named problem, from a layers file or the built-in set.
struct NamedProblem {
  std::string name;
  Problem problem;
};

/// Reads "name problem" lines (or bare problem strings); '#' starts a comment. The file must be a
/// regular file of at most kMaxTextFileBytes (16 MiB) holding at least one problem. Errors name
/// `flag` as their subject, and the file (and line number) in their message.
std::vector<NamedProblem> read_problem_file(const std::string& path,
                                            const std::string& flag = "--problems");

}  // namespace convt2d
