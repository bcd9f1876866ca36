// The convt2d command-line tool: argument parsing and error reporting; the work is in the
// subcommand files.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <limits>
#include <type_traits>

#include "commands.h"
#include "convt2d/error.h"
#include "convt2d/implementations.h"
#include "convt2d/option_values.h"

namespace {

// Messages from libraries may span lines; the CLI prints exactly one.
std::string one_line(std::string msg) {
  for (char& c : msg) {
    if (c == '\n') c = ' ';
  }
  return msg;
}

// Integer and real options are taken as strings and converted by convt2d/option_values.h, never by
// CLI11: its strtoull with base 0 reads "010" as 8 and "0x10" as 16, and it reduces out-of-range
// values.
template <class T>
CLI::Option* add_integer(CLI::App* cmd, const std::string& name, T& target, const std::string& help,
                         T lo = std::numeric_limits<T>::min(),
                         T hi = std::numeric_limits<T>::max()) {
  return cmd->add_option_function<std::string>(
      name,
      [&target, name, lo, hi](const std::string& s) {
        if constexpr (std::is_unsigned_v<T>) {
          target = convt2d::parse_uint(name, s, hi);
        } else {
          target = static_cast<T>(convt2d::parse_int(name, s, lo, hi));
        }
      },
      help);
}

CLI::Option* add_real(CLI::App* cmd, const std::string& name, double& target,
                      const std::string& help, double lo, bool lo_inclusive = false) {
  return cmd->add_option_function<std::string>(
      name,
      [&target, name, lo, lo_inclusive](const std::string& s) {
        target = convt2d::parse_real(name, s, lo, lo_inclusive);
      },
      help);
}

constexpr int64_t kMaxBytesMax = std::numeric_limits<int64_t>::max();
// OpenMP teams beyond this are a typo, not a machine.
constexpr int kMaxThreads = 1024;

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "convt2d: the reference and oracle for ConvTranspose2d (MegEngine semantics).\n"
      "Exit codes: 0 pass, 1 fail, 2 unusable input."};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every subcommand");

  convt2d::cli::RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "compute a case's output with one implementation");
  run_cmd->add_option("--case", run.case_dir, "case directory (case.json, x.npy, w.npy, b.npy)")
      ->required();
  run_cmd->add_option("--out", run.out, "output .npy file")->required();
  run_cmd->add_option("--pass", run.pass,
                      "forward, bwd_data, bwd_weights or bwd_bias: the case's pass (default: what "
                      "its case.json says)");
  run_cmd->add_option("--impl", run.impl,
                      fmt::format("implementation, one of: {} (default: reference for a float32 "
                                  "case, reference-f64 for float64, reference-f16 or "
                                  "reference-f16-f32acc for float16 by the case's compute_mode, "
                                  "bfloat16 alike)",
                                  fmt::join(convt2d::builtin_registry().names(), ", ")));
  run_cmd->add_option("--out-dtype", run.out_dtype,
                      "float32, float64, float16 or bfloat16 (default: the implementation's "
                      "output dtype)");
  add_integer(run_cmd, "--max-bytes", run.max_bytes,
              "cap on the bytes of any tensor (default 4 GiB)", int64_t{1}, kMaxBytesMax);

  convt2d::cli::CheckOptions check;
  auto* check_cmd = app.add_subcommand(
      "check", "judge a backend's output against the exact result and the certified bound");
  check_cmd->add_option("--case", check.case_dir, "case directory")->required();
  check_cmd->add_option("--candidate", check.candidate, "the backend's output (.npy)")->required();
  check_cmd->add_option("--pass", check.pass,
                        "forward, bwd_data, bwd_weights or bwd_bias: the case's pass (default: "
                        "what its case.json says)");
  check_cmd->add_option("--dtype", check.dtype,
                        "precision the backend claims: float32, float64, float16 or bfloat16 "
                        "(default: the case's dtype; a candidate file of another dtype needs "
                        "an explicit --dtype; a uint16 candidate is bfloat16 only with --dtype "
                        "bfloat16 or a bfloat16 case)");
  check_cmd->add_option("--compute-mode", check.compute_mode,
                        "for float16/bfloat16: the compute_mode the backend claims, default "
                        "(no requirement on intermediates) or float32 (float32 accumulator and "
                        "intermediates); default: the case's");
  check_cmd->add_flag("--json", check.json, "machine-readable report");
  add_real(check_cmd, "--lambda", check.lambda, "width of the suspicious band (default 8)", 0.0);
  add_integer(check_cmd, "--max-bytes", check.max_bytes,
              "cap on the bytes of any tensor (default 4 GiB)", int64_t{1}, kMaxBytesMax);

  std::string problem;
  std::string batch = "1", height, width, ic, oc, ks, stride = "1", padding = "0", op = "0",
              dil = "1", groups = "1", rule = "megengine";
  auto* shape_cmd = app.add_subcommand("shape", "print N OC OH OW, or the validation error");
  auto* shape_problem =
      shape_cmd->add_option("--problem", problem, "problem string, e.g. mb1ic64ih32oc64kh4sh2ph1");
  shape_cmd->add_option("--batch", batch, "N");
  shape_cmd->add_option("--height", height, "input H");
  shape_cmd->add_option("--width", width, "input W (default: H)");
  shape_cmd->add_option("--in-channels", ic, "IC");
  shape_cmd->add_option("--out-channels", oc, "OC");
  shape_cmd->add_option("--kernel-size", ks, "k or kh,kw");
  shape_cmd->add_option("--stride", stride, "s or sh,sw");
  shape_cmd->add_option("--padding", padding, "p or ph,pw");
  shape_cmd->add_option("--output-padding", op, "op or oph,opw");
  shape_cmd->add_option("--dilation", dil, "d or dh,dw");
  shape_cmd->add_option("--groups", groups, "G");
  shape_cmd->add_option("--output-padding-rule", rule, "megengine (default) or pytorch");
  // A problem string and the separate flags describe the same thing: one or the other.
  for (CLI::Option* opt : shape_cmd->get_options()) {
    if (opt != shape_problem && opt->get_name().rfind("--help", 0) != 0) {
      shape_problem->excludes(opt);
    }
  }

  convt2d::cli::GenOptions gen;
  auto* gen_cmd = app.add_subcommand(
      "gen", "write case directories with inputs, the exact output and its bound");
  auto* gen_problem = gen_cmd->add_option("--problem", gen.problem, "problem string");
  auto* gen_random = add_integer(gen_cmd, "--random", gen.random, "number of random problems",
                                 int64_t{0}, convt2d::cli::kMaxRandom);
  gen_problem->excludes(gen_random);
  add_integer(gen_cmd, "--seed", gen.seed, "seed (default 1)");
  gen_cmd->add_option("--out", gen.out, "output directory")->required();
  gen_cmd->add_option("--regime", gen.regime, "real (default), integer or cancellation");
  gen_cmd->add_option("--dtype", gen.dtype,
                      "dtype of the case: float32 (default), float64, float16 or bfloat16 "
                      "(stored as uint16, declared in case.json)");
  gen_cmd->add_option("--pass", gen.pass,
                      "forward (default), bwd_data (writes dy.npy, w.npy), bwd_weights (x.npy, "
                      "dy.npy) or bwd_bias (dy.npy)");
  gen_cmd->add_option("--compute-mode", gen.compute_mode,
                      "compute_mode written to case.json and assumed by bound.npy: default "
                      "(default) or float32; only float16/bfloat16 bounds depend on it");
  add_integer(gen_cmd, "--max-bytes", gen.max_bytes,
              "cap on the bytes of any tensor (default 4 GiB)", int64_t{1}, kMaxBytesMax);

  convt2d::cli::VerifyOptions verify;
  auto* verify_cmd = app.add_subcommand(
      "verify", "every implementation against the exact reference, adjointness and bounds");
  verify_cmd->add_option("--pass", verify.pass,
                         "verify only this pass: forward, bwd_data, bwd_weights or bwd_bias "
                         "(default: all four)");
  verify_cmd->add_option("--problems", verify.problems_file,
                         "file of 'name problem' lines (default: the built-in set)");
  add_integer(verify_cmd, "--random", verify.random, "add N random problems", int64_t{0},
              convt2d::cli::kMaxRandom);
  add_integer(verify_cmd, "--seed", verify.seed, "seed for data and random problems (default 1)");
  add_real(verify_cmd, "--max-macs", verify.max_macs,
           "skip problems with more multiply-adds (default 2e6; the exact reference is slow)", 0.0);
  add_integer(verify_cmd, "--max-bytes", verify.max_bytes,
              "cap on the bytes of any tensor (default 4 GiB)", int64_t{1}, kMaxBytesMax);

#ifdef CONVT2D_HAVE_BENCH
  convt2d::cli::BenchCliOptions bench;
  auto* bench_cmd = app.add_subcommand(
      "bench", "time the implementations against oneDNN on a list of layers, beside the FMA peak");
  auto* bench_layers =
      bench_cmd->add_option("--layers", bench.layers_file, "file of 'name problem' lines");
  auto* bench_problem = bench_cmd->add_option("--problem", bench.problem, "one problem string");
  bench_layers->excludes(bench_problem);
  add_integer(bench_cmd, "--threads", bench.threads, "OpenMP threads (default 1)", 1, kMaxThreads);
  add_real(bench_cmd, "--min-time", bench.min_time,
           "seconds of timed runs per implementation and layer (default 0.5; at least 5 runs; the "
           "median is reported)",
           0.0);
  bench_cmd->add_option("--impls", bench.impls,
                        "comma-separated implementations (default: optimized, reference, "
                        "onednn-best, onednn-nchw)");
  add_real(bench_cmd, "--max-ref-macs", bench.max_ref_macs,
           fmt::format("skip reference* implementations on layers with more multiply-adds "
                       "(default {:g})",
                       convt2d::cli::kDefaultBenchMaxRefMacs),
           0.0, /*lo_inclusive=*/true);
  bench_cmd->add_flag("--json", bench.json,
                      "one JSON array of {name, problem, impl, threads, median_ms, gflops} (and "
                      "pass, for a backward pass)");
  bench_cmd->add_option("--pass", bench.pass,
                        "time this pass's implementations: forward (default), bwd_data, "
                        "bwd_weights or bwd_bias");
  add_integer(bench_cmd, "--max-bytes", bench.max_bytes,
              "skip a layer whose tensors, or an implementation whose working memory, exceed "
              "this many bytes (default 4 GiB)",
              int64_t{1}, kMaxBytesMax);
#else
  // Without oneDNN there is nothing to compare with: any arguments, one clear line, exit 2.
  auto* bench_cmd =
      app.add_subcommand("bench", "not built: needs oneDNN (CONVT2D_BUILD_BENCH=ON); exits 2");
  bench_cmd->allow_extras();
#endif

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "convt2d: {}\n", one_line(e.what()));
    return 2;
  } catch (const convt2d::Error& e) {  // from an option's value (add_integer, add_real)
    fmt::print(stderr, "convt2d: {}\n", one_line(e.what()));
    return 2;
  }

  try {
    if (*run_cmd) return convt2d::cli::run(run);
    if (*check_cmd) return convt2d::cli::check(check);
    if (*gen_cmd) {
      if (gen.problem.empty() && gen.random == 0) {
        throw convt2d::Error("gen", "gen: give --problem STR or --random N");
      }
      return convt2d::cli::gen(gen);
    }
    if (*verify_cmd) return convt2d::cli::verify(verify);
    if (*shape_cmd) {
      convt2d::Problem pr;
      if (!problem.empty()) {
        pr = convt2d::parse_problem(problem);
      } else {
        for (const auto& [flag, value] :
             {std::pair{"--height", &height}, std::pair{"--in-channels", &ic},
              std::pair{"--out-channels", &oc}, std::pair{"--kernel-size", &ks}}) {
          if (value->empty()) {
            throw convt2d::Error(flag, fmt::format("shape: give --problem STR or {}", flag));
          }
        }
        using convt2d::parse_int, convt2d::parse_pair;
        pr.mb = parse_int("--batch", batch);
        pr.ih = parse_int("--height", height);
        pr.iw = width.empty() ? pr.ih : parse_int("--width", width);
        convt2d::Params& p = pr.params;
        p.in_channels = parse_int("--in-channels", ic);
        p.out_channels = parse_int("--out-channels", oc);
        p.kernel_size = parse_pair("--kernel-size", ks);
        p.stride = parse_pair("--stride", stride);
        p.padding = parse_pair("--padding", padding);
        p.output_padding = parse_pair("--output-padding", op);
        p.dilation = parse_pair("--dilation", dil);
        p.groups = parse_int("--groups", groups);
        p.output_padding_rule = convt2d::parse_output_padding_rule(rule);
      }
      const convt2d::Shape s = convt2d::output_shape(pr);
      fmt::print("{} {} {} {}\n", s[0], s[1], s[2], s[3]);
      return 0;
    }
#ifdef CONVT2D_HAVE_BENCH
    if (*bench_cmd) return convt2d::cli::bench(bench);
#endif
    throw convt2d::Error("bench",
                         "bench: not built in this convt2d (configure with oneDNN and Google "
                         "Benchmark installed, or -DCONVT2D_BUILD_BENCH=ON)");
  } catch (const convt2d::Error& e) {
    fmt::print(stderr, "convt2d: {}\n", one_line(e.what()));
    return 2;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "convt2d: out of memory (lower the problem size or --max-bytes)\n");
    return 2;
  } catch (const std::exception& e) {
    // Not a convt2d::Error: a bug in convt2d, but still one line and no signal.
    fmt::print(stderr, "convt2d: internal error (please report): {}\n", one_line(e.what()));
    return 2;
  }
}
