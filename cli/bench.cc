// `bench`: the command-line face of the bench library (bench/runner.h).
#include <fmt/format.h>

#include <sstream>

#include "commands.h"
#include "convt2d/error.h"
#include "runner.h"

namespace convt2d::cli {

static_assert(kDefaultBenchMaxRefMacs == bench::BenchOptions::kDefaultMaxRefMacs);

int bench(const BenchCliOptions& o) {
  if (o.layers_file.empty() == o.problem.empty()) {
    throw Error("bench", "bench: give --layers FILE or --problem STR");
  }
  bench::BenchOptions b;
  if (!o.layers_file.empty()) {
    // read_problem_file refuses a file without problems.
    for (const NamedProblem& np : read_problem_file(o.layers_file, "--layers")) {
      b.layers.push_back({np.name, np.problem});
    }
  } else {
    b.layers.push_back({o.problem, parse_problem(o.problem)});
  }
  std::stringstream ss(o.impls);
  for (std::string name; std::getline(ss, name, ',');) {
    if (!name.empty()) b.impls.push_back(name);
  }
  b.threads = o.threads;
  b.min_time = o.min_time;
  b.max_ref_macs = o.max_ref_macs;
  b.json = o.json;
  b.max_bytes = o.max_bytes;
  if (!o.pass.empty()) b.pass = parse_pass(o.pass, "--pass");
  return bench::run_bench(b);
}

}  // namespace convt2d::cli
