#include "runner.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "bandwidth.h"
#include "convt2d/compare.h"
#include "convt2d/error.h"
#include "convt2d/fill.h"
#include "convt2d/implementations.h"
#include "onednn_impl.h"
#include "peak.h"

namespace convt2d::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Median seconds of execute() after a warm-up (first touches of y, caches, lazy set-up) of about
// a tenth of the budget; then runs until min_time has passed and min_reps runs were made.
double time_execute(const Prepared& pp, double min_time, int min_reps) {
  const auto w0 = Clock::now();
  do {
    pp.execute();
  } while (seconds_since(w0) < 0.1 * min_time);
  std::vector<double> t;
  double total = 0;
  while (total < min_time || static_cast<int>(t.size()) < min_reps) {
    const auto t0 = Clock::now();
    pp.execute();
    t.push_back(seconds_since(t0));
    total += t.back();
  }
  return median(std::move(t));
}

// The operands of one dtype for a layer (dy only for a backward pass).
struct Data {
  AnyTensor x, w, b, dy;
  bool has_b = false;
  Pass pass = Pass::kForward;
  Operands operands() const {
    const bool fwd = pass == Pass::kForward;
    return {reads_x(pass) ? &x : nullptr, reads_w(pass) ? &w : nullptr, fwd && has_b ? &b : nullptr,
            reads_dy(pass) ? &dy : nullptr};
  }
};

Data make_any(const Problem& pr, DType dt, uint64_t seed, Pass pass) {
  const auto pack = [&](const auto& d) {
    return Data{d.x, d.w, d.b, d.dy, pr.params.bias && pass == Pass::kForward, pass};
  };
  return dt == DType::kFloat64 ? pack(make_data<double>(pr, Regime::kReal, seed, pass))
                               : pack(make_data<float>(pr, Regime::kReal, seed, pass));
}

// Bytes of float32 a pass must move at least: its operands read once and its result written once.
double compulsory_bytes(const Problem& pr, Pass pass) {
  const double x = static_cast<double>(element_count(input_shape(pr)));
  const double w = static_cast<double>(element_count(weight_shape(pr.params)));
  const double y = static_cast<double>(element_count(output_shape(pr)));
  switch (pass) {
    case Pass::kBwdData:
      return 4.0 * (y + w + x);
    case Pass::kBwdWeights:
      return 4.0 * (x + y + w);
    case Pass::kBwdBias:
      return 4.0 * (y + static_cast<double>(pr.params.out_channels));
    case Pass::kForward:
      break;
  }
  return 4.0 * (x + w + (pr.params.bias ? static_cast<double>(pr.params.out_channels) : 0) + y);
}

// One timed (or skipped, or failed) implementation on one layer.
struct Row {
  const Implementation* implementation = nullptr;
  std::string impl;
  std::optional<double> seconds;
  std::string why;  // skip reason or error
  bool failed = false;
};

bool is_onednn(const std::string& name) {
  return name.rfind("onednn", 0) == 0;
}

std::string threads_text(int n) {
  return fmt::format("{} thread{}", n, n == 1 ? "" : "s");
}

// About four significant digits, never an exponent: 0.01234, 1.234, 123.4.
std::string ms_text(double ms) {
  const int decimals = ms >= 100 ? 1 : ms >= 10 ? 2 : ms >= 1 ? 3 : ms >= 0.1 ? 4 : 5;
  return fmt::format("{:.{}f}", ms, decimals);
}

// The measured peaks (GFLOP/s on the bench's thread count, by vector_isa name) and bandwidths.
struct Yardsticks {
  std::map<std::string, double> peak;   // "avx2", "avx512"
  std::map<std::string, double> peak1;  // on 1 thread
  std::map<std::string, int> chains;    // the chain count that reached each peak
  std::vector<BandwidthLevel> bandwidth;
  double machine_peak = 0;  // the largest
  std::string machine_isa;

  // The peak an implementation's GFLOP/s are a percentage of: that of the ISA it executes, else
  // the machine's (0: none measured).
  double peak_for(const Implementation& impl) const {
    const auto it = peak.find(impl.vector_isa);
    return it != peak.end() ? it->second : machine_peak;
  }
};

Yardsticks measure_yardsticks(int threads) {
  Yardsticks y;
  for (const auto& [isa, name] :
       {std::pair{PeakIsa::kAvx2, "avx2"}, std::pair{PeakIsa::kAvx512, "avx512"}}) {
    if (!peak_available(isa)) continue;
    const PeakResult one = fma_peak(isa, 1);
    const PeakResult team = threads == 1 ? one : fma_peak(isa, threads);
    y.peak1[name] = one.gflops;
    y.peak[name] = team.gflops;
    y.chains[name] = team.chains;
    if (team.gflops > y.machine_peak) {
      y.machine_peak = team.gflops;
      y.machine_isa = name;
    }
  }
  y.bandwidth = read_bandwidth(threads);
  return y;
}

std::string isa_label(const std::string& isa) {
  return isa == "avx512" ? "AVX-512" : isa == "avx2" ? "AVX2" : isa;
}

void print_yardsticks(std::FILE* info, const Yardsticks& y, int threads,
                      const std::vector<const Implementation*>& impls) {
  if (y.machine_peak > 0) {
    std::vector<std::string> parts;
    for (const auto& [isa, g] : y.peak) {
      parts.push_back(
          threads == 1
              ? fmt::format("{} {:.1f} ({} chains)", isa_label(isa), g, y.chains.at(isa))
              : fmt::format("{} {:.1f} on 1 thread, {:.1f} on {} ({} chains)", isa_label(isa),
                            y.peak1.at(isa), g, threads_text(threads), y.chains.at(isa)));
    }
    fmt::print(info, "FMA peak (float32, measured), GFLOP/s: {}\n", fmt::join(parts, ", "));
    std::vector<std::string> whose;
    for (const Implementation* i : impls) {
      const bool own = y.peak.count(i->vector_isa) != 0;
      whose.push_back(
          fmt::format("{} {}", i->name, own ? isa_label(i->vector_isa) : isa_label(y.machine_isa)));
    }
    fmt::print(info, "% peak is of the ISA each implementation runs: {}\n", fmt::join(whose, ", "));
  } else {
    fmt::print(info, "FMA peak: not measured (this CPU lacks AVX2 + FMA); % of peak left blank\n");
  }
  std::vector<std::string> bw;
  for (const BandwidthLevel& lv : y.bandwidth) {
    // L3's capacity is measured (bandwidth.h), so it is printed beside its stream.
    const std::string of =
        lv.name == "L3" ? fmt::format(" of {:.3g} MB", static_cast<double>(lv.capacity) * 1e-6)
                        : "";
    bw.push_back(fmt::format("{} {:.1f} ({:.3g} MB{})", lv.name, lv.gbs,
                             static_cast<double>(lv.bytes) * 1e-6, of));
  }
  fmt::print(info,
             "read bandwidth (measured, {}), GB/s: {}; % bw is of the level a layer's data "
             "fits in\n",
             threads_text(threads), fmt::join(bw, ", "));
}
}  // namespace

Registry bench_registry() {
  Registry r = builtin_registry();
  add_onednn(r);
  return r;
}

std::vector<std::string> default_impls() {
  return {"optimized", "reference", "onednn-best", "onednn-nchw"};
}

Selection select_impls(const Registry& r, const std::vector<std::string>& names, Pass pass) {
  Selection s;
  if (names.empty()) {
    for (const std::string& n : default_impls()) {
      if (const Implementation* i = r.find(n, pass)) {
        s.impls.push_back(i);
      } else {
        s.notes.push_back(
            fmt::format("no '{}' implementation in this build; timing the others", n));
      }
    }
    return s;
  }
  for (const std::string& n : names) {
    const Implementation* i = r.find(n, pass);
    if (i == nullptr) {
      throw Error("--impls", fmt::format("--impls: unknown implementation '{}'{} (known: {})", n,
                                         pass == Pass::kForward
                                             ? ""
                                             : " of the " + std::string(to_string(pass)) + " pass",
                                         fmt::join(r.names(pass), ", ")));
    }
    if (std::find(s.impls.begin(), s.impls.end(), i) == s.impls.end()) s.impls.push_back(i);
  }
  return s;
}

std::string skip_reason(const Implementation& impl, const Problem& pr, double max_ref_macs,
                        int64_t max_bytes) {
  if (impl.name.rfind("reference", 0) == 0 && macs(pr) > max_ref_macs) {
    return fmt::format("{:.3g} multiply-adds > --max-ref-macs {:.3g}", macs(pr), max_ref_macs);
  }
  try {
    check_problem_bytes(pr, max_bytes);  // the tensors, before any is allocated
  } catch (const Error& e) {
    return e.what();
  }
  if (impl.working_bytes) {
    const int64_t bytes = impl.working_bytes(pr);
    if (bytes > max_bytes) {
      return fmt::format("needs {} bytes of working memory, more than --max-bytes {}", bytes,
                         max_bytes);
    }
  }
  return "";
}

double flops(const Problem& pr) {
  return 2.0 * macs(pr);
}

int run_bench(const BenchOptions& o) {
  if (o.layers.empty()) throw Error("--layers", "bench: no layers to time");
  if (o.threads < 1) {
    throw Error("--threads", fmt::format("--threads must be >= 1, got {}", o.threads));
  }
  if (!(o.min_time > 0) || !std::isfinite(o.min_time)) {
    throw Error("--min-time", fmt::format("--min-time must be > 0 seconds, got {}", o.min_time));
  }
  const Registry registry = bench_registry();
  const Selection sel = select_impls(registry, o.impls, o.pass);
  std::FILE* info = o.json ? stderr : stdout;  // stdout carries only the JSON array then

  // The yardsticks come first: the FMA peak of AVX2 + FMA, and of AVX-512 where the CPU has it,
  // and the read bandwidth per memory level, on o.threads.
  omp_set_num_threads(o.threads);
  const Yardsticks ys = measure_yardsticks(o.threads);
  fmt::print(info, "convt2d bench{}: {}, min-time {} s, median of >= {} runs; {}\n",
             o.pass == Pass::kForward ? "" : " --pass " + std::string(to_string(o.pass)),
             threads_text(o.threads), o.min_time, o.min_reps, onednn_summary());
  print_yardsticks(info, ys, o.threads, sel.impls);
  for (const Implementation* i : sel.impls) {
    if (i == registry.find("optimized", o.pass)) {
      fmt::print(info, "optimized: {}\n", i->description);
    }
  }
  for (const std::string& n : sel.notes) fmt::print(info, "note: {}\n", n);
  std::fflush(info);

  const Implementation* optimized = registry.find("optimized", o.pass);
  if (std::find(sel.impls.begin(), sel.impls.end(), optimized) == sel.impls.end()) {
    optimized = nullptr;
  }
  std::map<std::string, std::vector<double>> speedups;  // oneDNN variant -> per-layer ratios
  nlohmann::json rows = nlohmann::json::array();
  bool any_failed = false;

  for (const Layer& layer : o.layers) {
    const Problem& pr = layer.problem;
    std::optional<Data> data[2];
    std::vector<Row> results;
    for (const Implementation* impl : sel.impls) {
      Row row{impl, impl->name, std::nullopt, skip_reason(*impl, pr, o.max_ref_macs, o.max_bytes)};
      if (row.why.empty()) {
        auto& d = data[impl->input == DType::kFloat64 ? 1 : 0];
        if (!d) d = make_any(pr, impl->input, o.seed, o.pass);
        try {
          omp_set_num_threads(o.threads);
          // Forward: prepared(w, b) then load(x), as before; a backward pass: its operands.
          const Prepared pp = prepared(*impl, pr.params, d->operands(), o.threads);
          row.seconds = time_execute(pp, o.min_time, o.min_reps);
        } catch (const Error& e) {
          row.failed = true;
          row.why = e.what();
          any_failed = true;
        }
      }
      results.push_back(std::move(row));
    }

    const double fl = flops(pr);
    const Row* opt = nullptr;
    for (const Row& r : results) {
      if (optimized != nullptr && r.impl == optimized->name && r.seconds) opt = &r;
    }
    // Compulsory memory traffic: the pass's operands read once, its result written once
    // (float32). Memory-bound layers (depthwise, few channels, a tiny input streaming its weights)
    // are judged by this GB/s against the read bandwidth of the level the data fits in (it is read
    // again on every run) rather than by GFLOP/s.
    const double bytes = compulsory_bytes(pr, o.pass);
    const BandwidthLevel& level = level_for(ys.bandwidth, bytes);
    if (o.json) {
      for (const Row& r : results) {
        if (r.failed) fmt::print(stderr, "{} {}: FAILED: {}\n", layer.name, r.impl, r.why);
        if (!r.seconds) continue;
        const double gf = fl / *r.seconds * 1e-9, gbs = bytes / *r.seconds * 1e-9;
        nlohmann::json row = {
            {"name", layer.name},   {"problem", format_problem(pr)}, {"impl", r.impl},
            {"threads", o.threads}, {"median_ms", *r.seconds * 1e3}, {"gflops", gf},
            {"gbs", gbs},           {"bw_level", level.name}};
        if (const double pk = ys.peak_for(*r.implementation); pk > 0)
          row["pct_peak"] = 100 * gf / pk;
        if (level.gbs > 0) row["pct_bw"] = 100 * gbs / level.gbs;
        // A backward pass's rows say which pass they time.
        if (o.pass != Pass::kForward) row["pass"] = std::string(to_string(o.pass));
        rows.push_back(std::move(row));
      }
    } else {
      fmt::print("\n{}  {}  ({:.4g} MFLOP, {:.3g} MB moved at least: {})\n", layer.name,
                 format_problem(pr), fl * 1e-6, bytes * 1e-6, level.name);
      fmt::print("  {:<18} {:>10} {:>9} {:>7} {:>7} {:>6}\n", "implementation", "median ms",
                 "GFLOP/s", "% peak", "GB/s", "% bw");
      for (const Row& r : results) {
        if (!r.seconds) {
          fmt::print("  {:<18} {:>10}  {}\n", r.impl, r.failed ? "FAILED" : "SKIPPED", r.why);
          continue;
        }
        const double gf = fl / *r.seconds * 1e-9, gbs = bytes / *r.seconds * 1e-9;
        const double pk = ys.peak_for(*r.implementation);
        fmt::print("  {:<18} {:>10} {:>9.1f} {:>7} {:>7.1f} {:>6}\n", r.impl,
                   ms_text(*r.seconds * 1e3), gf,
                   pk > 0 ? fmt::format("{:.1f}%", 100 * gf / pk) : "", gbs,
                   level.gbs > 0 ? fmt::format("{:.0f}%", 100 * gbs / level.gbs) : "");
      }
    }
    if (opt != nullptr) {
      std::vector<std::string> parts;
      for (const Row& r : results) {
        if (!is_onednn(r.impl) || !r.seconds) continue;
        const double s = *r.seconds / *opt->seconds;
        speedups[r.impl].push_back(s);
        parts.push_back(fmt::format("{:.2f}x vs {}", s, r.impl));
      }
      if (!o.json && !parts.empty()) {
        fmt::print("  speed-up of optimized: {}\n", fmt::join(parts, ", "));
      }
    }
    std::fflush(stdout);
  }

  if (o.json) {
    fmt::print("{}\n", rows.dump(2));
  } else if (!speedups.empty()) {
    fmt::print("\ngeometric mean speed-up of optimized:");
    const char* sep = " ";
    for (const auto& [name, v] : speedups) {
      double log_sum = 0;
      for (double s : v) log_sum += std::log(s);
      fmt::print("{}{:.2f}x vs {} ({} layer{})", sep,
                 std::exp(log_sum / static_cast<double>(v.size())), name, v.size(),
                 v.size() == 1 ? "" : "s");
      sep = ", ";
    }
    fmt::print("\n");
  } else if (optimized == nullptr) {
    fmt::print("\nno speed-ups: the optimized implementation was not timed\n");
  }
  return any_failed ? 1 : 0;
}

}  // namespace convt2d::bench
