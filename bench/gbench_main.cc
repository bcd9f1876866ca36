// convt2d_gbench: every layer x implementation of the bench registry as a Google Benchmark, with
// GFLOP/s as a counter. The same selection and skip rules as `convt2d bench`; Google Benchmark
// does the timing (its own --benchmark_* flags apply).
//
//   convt2d_gbench --layers=FILE | --problem=STR [--impls=a,b] [--threads=N] [--max-ref-macs=M]
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <omp.h>

#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "convt2d/error.h"
#include "convt2d/fill.h"
#include "convt2d/option_values.h"
#include "convt2d/problem_file.h"
#include "runner.h"

namespace {

using convt2d::bench::Layer;

struct Args {
  std::string layers_file, problem, impls;
  int threads = 1;
  double max_ref_macs = convt2d::bench::BenchOptions::kDefaultMaxRefMacs;
};

// Flags left over after benchmark::Initialize took its own.
Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    const auto value = [&](const std::string& flag) -> std::optional<std::string> {
      if (s.rfind(flag + "=", 0) == 0) return s.substr(flag.size() + 1);
      return std::nullopt;
    };
    if (auto v = value("--layers")) {
      a.layers_file = *v;
    } else if (auto v2 = value("--problem")) {
      a.problem = *v2;
    } else if (auto v3 = value("--impls")) {
      a.impls = *v3;
    } else if (auto v4 = value("--threads")) {
      // convt2d/option_values.h, like convt2d bench: stoi took "2x" for 2 and stod "nan" for a
      // limit.
      a.threads = static_cast<int>(convt2d::parse_int("--threads", *v4, 1, 1024));
    } else if (auto v5 = value("--max-ref-macs")) {
      a.max_ref_macs = convt2d::parse_real("--max-ref-macs", *v5, 0.0, true);
    } else {
      throw convt2d::Error(s, fmt::format("unknown argument '{}' (use --layers=FILE or "
                                          "--problem=STR, --impls=a,b, --threads=N, "
                                          "--max-ref-macs=M, --benchmark_*)",
                                          s));
    }
  }
  if (a.layers_file.empty() == a.problem.empty()) {
    throw convt2d::Error("--layers", "give --layers=FILE or --problem=STR (one of them)");
  }
  return a;
}

std::vector<std::string> split_names(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// The prepared implementation, made on the benchmark's first call (Google Benchmark calls the
// function several times while it settles the iteration count).
struct State {
  const convt2d::Implementation* impl;
  Layer layer;
  int threads;
  std::optional<convt2d::Prepared> prepared;
};

void run_one(benchmark::State& st, const std::shared_ptr<State>& s) {
  omp_set_num_threads(s->threads);
  try {
    if (!s->prepared) {
      const convt2d::Problem& pr = s->layer.problem;
      const auto load = [&](const auto& d) {
        const convt2d::AnyTensor x = d.x, w = d.w, b = d.b;
        s->prepared =
            convt2d::prepared(*s->impl, pr.params, w, pr.params.bias ? &b : nullptr, s->threads);
        s->prepared->load(x);
      };
      if (s->impl->input == convt2d::DType::kFloat64) {
        load(convt2d::make_data<double>(pr, convt2d::Regime::kReal, 1));
      } else {
        load(convt2d::make_data<float>(pr, convt2d::Regime::kReal, 1));
      }
      s->prepared->execute();  // warm-up
    }
  } catch (const convt2d::Error& e) {
    st.SkipWithError(e.what());
    return;
  }
  for (auto _ : st) s->prepared->execute();
  // A rate counter: Google Benchmark divides by the time and shows "GFLOP=123.4/s".
  st.counters["GFLOP"] = benchmark::Counter(convt2d::bench::flops(s->layer.problem) * 1e-9,
                                            benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const convt2d::Registry registry = convt2d::bench::bench_registry();
  try {
    const Args a = parse_args(argc, argv);
    std::vector<Layer> layers;
    if (!a.layers_file.empty()) {
      for (const auto& np : convt2d::read_problem_file(a.layers_file, "--layers")) {
        layers.push_back({np.name, np.problem});
      }
    } else {
      layers.push_back({a.problem, convt2d::parse_problem(a.problem)});
    }
    const auto sel = convt2d::bench::select_impls(registry, split_names(a.impls));
    for (const std::string& n : sel.notes) fmt::print(stderr, "note: {}\n", n);
    for (const Layer& layer : layers) {
      for (const convt2d::Implementation* impl : sel.impls) {
        const std::string why = convt2d::bench::skip_reason(*impl, layer.problem, a.max_ref_macs);
        if (!why.empty()) {
          fmt::print(stderr, "note: {}/{} skipped: {}\n", layer.name, impl->name, why);
          continue;
        }
        auto s = std::make_shared<State>(State{impl, layer, a.threads, std::nullopt});
        benchmark::RegisterBenchmark((layer.name + "/" + impl->name).c_str(),
                                     [s](benchmark::State& st) { run_one(st, s); })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
    }
  } catch (const convt2d::Error& e) {
    fmt::print(stderr, "convt2d_gbench: {}\n", e.what());
    return 2;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
