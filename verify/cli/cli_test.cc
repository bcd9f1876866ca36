// End-to-end tests of the convt2d tool: they run the built binary and inspect exit codes, output
// files and messages.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "convt2d/backward.h"
#include "convt2d/bounds.h"
#include "convt2d/case_dir.h"
#include "convt2d/compare.h"
#include "convt2d/fill.h"
#include "convt2d/implementations.h"
#include "convt2d/npy.h"
#include "convt2d/reference.h"
#include "half_cheats.h"

namespace convt2d {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

struct Result {
  int code;
  std::string out, err;
};

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt_name(::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  // The pid keeps two checkouts' suites running at once on one machine out of each other's way.
  static std::string fmt_name(const std::string& test) {
    return "convt2d_cli_" + test + "_" + std::to_string(::getpid());
  }

  // Runs `convt2d ARGS`, capturing stdout and stderr. `before` is shell code run first in the
  // same shell, which then execs convt2d (so $$ there is convt2d's pid; e.g. AddressSpace(kib)
  // as a memory limit, so that a run which allocates more fails instead of swapping); `wrapper`
  // comes before the binary (e.g. "timeout 20").
  Result Run(const std::string& args, const std::string& before = "",
             const std::string& wrapper = "") {
    const std::string cmd = (before.empty() ? "" : before + "; ") + "exec " + wrapper + " " +
                            std::string(CONVT2D_BINARY) + " " + args + " >" +
                            (dir_ / "stdout").string() + " 2>" + (dir_ / "stderr").string();
    const int status = std::system(cmd.c_str());
    Result r{WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
             Slurp(dir_ / "stdout"), Slurp(dir_ / "stderr")};
    return r;
  }

  // Expects exit code 2 and exactly one line on stderr containing `fragment`.
  void ExpectUnusable(const std::string& args, const std::string& fragment,
                      const std::string& before = "", const std::string& wrapper = "") {
    const Result r = Run(args, before, wrapper);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
    EXPECT_THAT(r.err, HasSubstr(fragment)) << args;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_THAT(r.err, ::testing::StartsWith("convt2d: "));
    // Each message names its file once (the test directory is in every path given).
    size_t paths = 0;
    for (size_t at = r.err.find(dir_.string()); at != std::string::npos;
         at = r.err.find(dir_.string(), at + 1)) {
      ++paths;
    }
    EXPECT_LE(paths, 1u) << r.err;
  }

  // Writes a case for `problem` with data of `regime`, returns its directory.
  fs::path MakeCase(const std::string& name, const std::string& problem,
                    Regime regime = Regime::kReal, uint64_t seed = 1) {
    const Problem pr = parse_problem(problem);
    const auto d = make_data<float>(pr, regime, seed);
    const AnyTensor x = d.x, w = d.w, b = d.b;
    write_case(dir_ / name, pr.params, x, w, pr.params.bias ? &b : nullptr);
    return dir_ / name;
  }

  fs::path dir_;
};

TEST_F(Cli, RunComputesTheHandExample) {
  // The 2x2, k3 s2 p1 op1 example of reference_test.cc (bias 0.5).
  Params p;
  p.kernel_size = 3;
  p.stride = 2;
  p.padding = 1;
  p.output_padding = 1;
  const AnyTensor x = Tensor<float>(Shape{1, 1, 2, 2}, {1, 2, 3, 4});
  const AnyTensor w = Tensor<float>(Shape{1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  const AnyTensor b = Tensor<float>(Shape{1, 1, 1, 1}, {0.5f});
  write_case(dir_ / "hand", p, x, w, &b);
  const std::vector<double> expected = {5.5,  14.5, 10.5, 12.5, 14.5, 36.5, 24.5, 30.5,
                                        15.5, 34.5, 20.5, 24.5, 24.5, 55.5, 32.5, 36.5};
  for (const char* impl : {"reference", "reference-double", "reference-mp"}) {
    const Result r = Run(fmt::format("run --case {} --out {} --impl {}", (dir_ / "hand").string(),
                                     (dir_ / "y.npy").string(), impl));
    ASSERT_EQ(r.code, 0) << r.err;
    const AnyTensor y = read_npy(dir_ / "y.npy");
    ASSERT_EQ(dtype_of(y), DType::kFloat64) << impl;  // higher-precision refs write float64
    EXPECT_EQ(std::get<Tensor<double>>(y).data, expected) << impl;
  }
  // The default implementation is `reference`; float32 output on request.
  ASSERT_EQ(Run(fmt::format("run --case {} --out {} --out-dtype float32", (dir_ / "hand").string(),
                            (dir_ / "y32.npy").string()))
                .code,
            0);
  const AnyTensor y32 = read_npy(dir_ / "y32.npy");
  ASSERT_EQ(dtype_of(y32), DType::kFloat32);
  EXPECT_EQ(std::get<Tensor<float>>(y32).data[5], 36.5f);
  ASSERT_EQ(Run(fmt::format("run --case {} --out {} --impl reference-f32", (dir_ / "hand").string(),
                            (dir_ / "yf.npy").string()))
                .code,
            0);
  EXPECT_EQ(dtype_of(read_npy(dir_ / "yf.npy")), DType::kFloat32);
}

TEST_F(Cli, Float64CasesRunAndCheck) {
  // A float64 case: the default implementation becomes reference-f64, float32-input ones are
  // refused with the names that fit, and check judges float64 output against the float64 bound.
  const Problem pr = parse_problem("mb2ic6ih4oc4kh3sh2ph1oph1g2");
  const auto d = make_data<double>(pr, Regime::kReal, 2);
  const AnyTensor x = d.x, w = d.w, b = d.b;
  write_case(dir_ / "c", pr.params, x, w, &b);
  const std::string c = (dir_ / "c").string(), y = (dir_ / "y.npy").string();
  Result r = Run(fmt::format("run --case {} --out {}", c, y));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(dtype_of(read_npy(y)), DType::kFloat64);
  r = Run(fmt::format("check --case {} --candidate {} --json", c, y));
  EXPECT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["claimed_dtype"], "float64");
  EXPECT_EQ(j["suspicious"], false);
  // The same values rounded to float32 are far outside the float64 bound...
  write_npy(dir_ / "y32.npy", tensor_cast<float>(std::get<Tensor<double>>(read_npy(y))));
  r = Run(fmt::format("check --case {} --candidate {} --dtype float64", c,
                      (dir_ / "y32.npy").string()));
  EXPECT_EQ(r.code, 1) << r.out;
  ExpectUnusable(fmt::format("run --case {} --out {} --impl reference-f32", c, y),
                 "use one of: reference-f64, reference-f64-mp");
}

TEST_F(Cli, ShapePrintsTheOutputShapeOrTheError) {
  Result r = Run("shape --problem mb20ic16ih50iw100oc33kh3kw5sh2sw3ph4pw2oph1opw2");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "20 33 94 300\n");
  r =
      Run("shape --batch 20 --height 50 --width 100 --in-channels 16 --out-channels 33 "
          "--kernel-size 3,5 --stride 2,3 --padding 4,2 --output-padding 1,2");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "20 33 94 300\n");
  ExpectUnusable("shape --problem mb1ic4ih5oc6kh3sh2oph2", "output_padding=(2, 2)");
  ExpectUnusable("shape --problem mb1ic4ih5oc6kh3zz1", "unknown token 'zz'");
  ExpectUnusable("shape --problem mb1ic4ih5oc6kh3 --stride 2", "--problem excludes --stride");
  ExpectUnusable("shape --in-channels 4 --out-channels 4 --kernel-size 3", "--height");
  ExpectUnusable("shape --in-channels 4 --out-channels 4 --kernel-size 3 --height 4 --stride x",
                 "--stride");
}

TEST_F(Cli, CheckPassesTheReferencesOwnFloat32Output) {
  const fs::path c = MakeCase("c", "mb2ic8ih5iw4oc6kh3sh2ph1oph1g2");
  ASSERT_EQ(Run(fmt::format("run --case {} --impl reference-f32 --out {}", c.string(),
                            (dir_ / "y.npy").string()))
                .code,
            0);
  Result r =
      Run(fmt::format("check --case {} --candidate {}", c.string(), (dir_ / "y.npy").string()));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("verdict: PASSED"));
  EXPECT_THAT(r.out, Not(HasSubstr("suspicious")));
  r = Run(
      fmt::format("check --case {} --candidate {} --json", c.string(), (dir_ / "y.npy").string()));
  EXPECT_EQ(r.code, 0);
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["verdict"], "PASSED");
  EXPECT_EQ(j["suspicious"], false);
  EXPECT_EQ(j["over_bound"], 0);
  EXPECT_LE(j["max_err_over_bound"].get<double>(), 1.0);
}

TEST_F(Cli, ACandidateOfAnotherDtypeThanTheCaseNeedsAnExplicitClaim) {
  // A float32 backend's result saved as float16 used to be judged by float16's bound (2^-9
  // relative errors pass) because the claim defaulted to the file's dtype.
  const fs::path c = MakeCase("c", "mb1ic16ih4oc4kh3sh2ph1");
  const std::string y32 = (dir_ / "y32.npy").string(), y16 = (dir_ / "y16.npy").string();
  ASSERT_EQ(Run(fmt::format("run --case {} --impl reference-f32 --out {}", c.string(), y32)).code,
            0);
  write_npy(y16, tensor_cast<float16>(std::get<Tensor<float>>(read_npy(y32))));
  ExpectUnusable(fmt::format("check --case {} --candidate {}", c.string(), y16),
                 fmt::format("candidate {} holds float16 but the case is float32: pass --dtype "
                             "float16 to claim float16 arithmetic",
                             y16));
  // A float16 claim for float32 inputs that are not float16 values is refused: a float16
  // implementation would round them first, which the bound does not cover (a correctly rounded
  // result failed where an element is the bias alone).
  ExpectUnusable(fmt::format("check --case {} --candidate {} --dtype float16", c.string(), y16),
                 "--dtype float16: x at (0, 0, 0, 0) = ");
  // With inputs that are float16 values (small integers), claimed explicitly, it is judged as
  // claimed: within float16's bound, far outside float32's.
  const fs::path ci = MakeCase("ci", "mb1ic16ih4oc4kh3sh2ph1", Regime::kInteger);
  const std::string i32 = (dir_ / "i32.npy").string(), i16 = (dir_ / "i16.npy").string();
  ASSERT_EQ(Run(fmt::format("run --case {} --impl reference-f32 --out {}", ci.string(), i32)).code,
            0);
  write_npy(i16, tensor_cast<float16>(std::get<Tensor<float>>(read_npy(i32))));
  Result r = Run(fmt::format("check --case {} --candidate {} --dtype float16", ci.string(), i16));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("bound for float16 arithmetic"));
  r = Run(fmt::format("check --case {} --candidate {} --dtype float32", c.string(), y16));
  EXPECT_EQ(r.code, 1) << r.out;
  // `run`'s default output for a float32 case is float64: also a claim to state.
  const std::string y64 = (dir_ / "y64.npy").string();
  ASSERT_EQ(Run(fmt::format("run --case {} --out {}", c.string(), y64)).code, 0);
  ExpectUnusable(fmt::format("check --case {} --candidate {}", c.string(), y64),
                 "holds float64 but the case is float32: pass --dtype float64");
  EXPECT_EQ(
      Run(fmt::format("check --case {} --candidate {} --dtype float64", c.string(), y64)).code, 0);
  // A candidate of the case's dtype still needs no flag.
  r = Run(fmt::format("check --case {} --candidate {}", c.string(), y32));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("bound for float32 arithmetic"));
  // Every pair of dtypes: the claim defaults only where case and candidate agree.
  const Problem pr = parse_problem("mb1ic4ih3oc2kh2sh2");
  const DType dtypes[] = {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16};
  for (const DType case_dt : dtypes) {
    const Case k = make_case(pr, case_dt, Regime::kInteger, 1);
    const fs::path kd = dir_ / fmt::format("case-{}", to_string(case_dt));
    write_case(kd, pr.params, k.x, k.w, &*k.b);
    const auto to_double = [](const AnyTensor& t) {
      return std::visit([](const auto& v) { return tensor_cast<double>(v); }, t);
    };
    const Tensor<double> xd = to_double(k.x), wd = to_double(k.w), bd = to_double(*k.b);
    // Small integers: exact in every dtype.
    const Tensor<double> exact = conv_transpose2d<double, double>(pr.params, xd, wd, &bd);
    for (const DType cand_dt : dtypes) {
      const fs::path y = dir_ / fmt::format("y-{}.npy", to_string(cand_dt));
      switch (cand_dt) {
        case DType::kFloat32:
          write_npy(y, tensor_cast<float>(exact));
          break;
        case DType::kFloat64:
          write_npy(y, exact);
          break;
        case DType::kFloat16:
          write_npy(y, tensor_cast<float16>(exact));
          break;
        case DType::kBFloat16:
          write_npy(y, tensor_cast<bfloat16>(exact));
          break;
      }
      const std::string args =
          fmt::format("check --case {} --candidate {}", kd.string(), y.string());
      if (case_dt == cand_dt) {
        r = Run(args);
        EXPECT_EQ(r.code, 0) << args << "\n" << r.out << r.err;  // small integers: exact
      } else {
        // bfloat16 candidates of other cases fail earlier: '<u2' is bfloat16 only when claimed.
        ExpectUnusable(
            args, cand_dt == DType::kBFloat16
                      ? "is read only as bfloat16 storage"
                      : fmt::format("holds {} but the case is {}: pass --dtype {}",
                                    to_string(cand_dt), to_string(case_dt), to_string(cand_dt)));
        r = Run(fmt::format("{} --dtype {}", args, to_string(cand_dt)));
        EXPECT_EQ(r.code, 0) << args << "\n" << r.out << r.err;
      }
    }
  }
}

TEST_F(Cli, CheckFailsOneUlpBeyondTheBoundAndNamesTheElement) {
  const std::string problem = "mb1ic8ih4oc3kh3sh2ph1";
  const fs::path c = MakeCase("c", problem);
  const Problem pr = parse_problem(problem);
  const auto d = make_data<float>(pr, Regime::kReal, 1);
  const auto exact = conv_transpose2d<float, Exact>(pr.params, d.x, d.w, d.bias());
  const auto bound = certified_bound(pr.params, d.x, d.w, d.bias(), kFloat32Precision);
  Tensor<float> y = round_to<float>(exact);
  // Element (0, 1, 2, 3): the smallest float beyond expected + bound.
  const size_t k = static_cast<size_t>(((0 * 3 + 1) * y.shape[2] + 2) * y.shape[3] + 3);
  const double e = static_cast<double>(exact.data[k]);
  float v = static_cast<float>(e + bound.data[k]);
  while (static_cast<double>(v) <= e + bound.data[k]) v = std::nextafter(v, INFINITY);
  y.data[k] = v;
  write_npy(dir_ / "y.npy", y);
  const Result r =
      Run(fmt::format("check --case {} --candidate {}", c.string(), (dir_ / "y.npy").string()));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("verdict: FAILED"));
  EXPECT_THAT(r.out, HasSubstr("worst element (n, c, h, w) = (0, 1, 2, 3)"));
  EXPECT_THAT(r.out, HasSubstr("elements over the bound: 1\n"));
  // The same candidate one float closer passes: the verdict sits exactly at the bound.
  y.data[k] = std::nextafter(v, -INFINITY);
  if (static_cast<double>(y.data[k]) >= e - bound.data[k]) {
    write_npy(dir_ / "y2.npy", y);
    EXPECT_EQ(
        Run(fmt::format("check --case {} --candidate {}", c.string(), (dir_ / "y2.npy").string()))
            .code,
        0);
  }
}

TEST_F(Cli, CheckReportsNanAndInfMismatches) {
  const std::string problem = "mb1ic3ih3oc2kh2sh2";
  const fs::path c = MakeCase("c", problem);
  const Problem pr = parse_problem(problem);
  const auto d = make_data<float>(pr, Regime::kReal, 1);
  Tensor<float> y = conv_transpose2d<float, float>(pr.params, d.x, d.w, d.bias());
  y.data[5] = NAN;
  y.data[7] = INFINITY;
  write_npy(dir_ / "y.npy", y);
  Result r = Run(
      fmt::format("check --case {} --candidate {} --json", c.string(), (dir_ / "y.npy").string()));
  EXPECT_EQ(r.code, 1);
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["nonfinite_mismatches"], 2);
  EXPECT_EQ(j["over_bound"], 0);  // the finite elements are fine
  EXPECT_EQ(j["first_nonfinite"]["index"], (std::vector<int64_t>{0, 0, 0, 5}));  // 6x6 output
}

TEST_F(Cli, NonFiniteInputsExpectNanWhereTheReferenceHasNan) {
  // Rule: the exact result follows IEEE arithmetic on the inputs (inf * 0 and inf - inf are NaN),
  // and the candidate must reproduce every NaN and infinity of it.
  const std::string problem = "mb1ic2ih3oc2kh2sh2bias0";
  const Problem pr = parse_problem(problem);
  auto d = make_data<float>(pr, Regime::kReal, 1);
  d.x.data[0] = NAN;       // every output element it reaches is NaN
  d.x.data[4] = INFINITY;  // +-inf where it reaches, with the sign of the weight
  const AnyTensor x = d.x, w = d.w;
  write_case(dir_ / "c", pr.params, x, w, nullptr);
  const std::string c = (dir_ / "c").string(), y = (dir_ / "y.npy").string();
  ASSERT_EQ(Run(fmt::format("run --case {} --impl reference-f32 --out {}", c, y)).code, 0);
  Tensor<float> out = std::get<Tensor<float>>(read_npy(y));
  size_t nan_at = out.data.size(), inf_at = out.data.size();
  for (size_t i = 0; i < out.data.size(); ++i) {
    if (std::isnan(out.data[i]) && nan_at == out.data.size()) nan_at = i;
    if (std::isinf(out.data[i]) && inf_at == out.data.size()) inf_at = i;
  }
  ASSERT_LT(nan_at, out.data.size());
  ASSERT_LT(inf_at, out.data.size());
  Result r = Run(fmt::format("check --case {} --candidate {}", c, y));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("NaN/Inf mismatches: 0"));
  // A finite value where the truth is NaN, and a flipped infinity, are both mismatches.
  out.data[nan_at] = 0.0f;
  out.data[inf_at] = -out.data[inf_at];
  write_npy(y, out);
  r = Run(fmt::format("check --case {} --candidate {} --json", c, y));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.out)["nonfinite_mismatches"], 2);
}

TEST_F(Cli, CheckFailsAWrongShape) {
  const fs::path c = MakeCase("c", "mb1ic2ih3oc2kh3sh2");
  write_npy(dir_ / "y.npy", Tensor<float>(Shape{1, 2, 6, 6}));  // the formula gives 7x7
  const Result r =
      Run(fmt::format("check --case {} --candidate {}", c.string(), (dir_ / "y.npy").string()));
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("shape mismatch: expected (1, 2, 7, 7), got (1, 2, 6, 6)"));
}

// Rounds to TF32: 10 explicit mantissa bits, round to nearest even.
float Tf32(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  u = (u + 0xfffu + ((u >> 13) & 1u)) & ~0x1fffu;
  std::memcpy(&v, &u, 4);
  return v;
}

TEST_F(Cli, FlagsATf32ResultAsSuspicious) {
  // K = 512 * 4 = 2048 taps per interior element: large enough that TF32's input rounding stays
  // inside the certified float32 bound, yet far outside the statistical band of a real float32.
  const std::string problem = "mb1ic512ih4oc4kh4sh2ph1";
  const fs::path c = MakeCase("c", problem);
  const Problem pr = parse_problem(problem);
  auto d = make_data<float>(pr, Regime::kReal, 1);
  for (auto* t : {&d.x, &d.w}) {
    for (float& v : t->data) v = Tf32(v);
  }
  // Products of TF32 values are exact in float32's 24 bits; accumulate in float like a GPU would.
  write_npy(dir_ / "tf32.npy", conv_transpose2d<float, float>(pr.params, d.x, d.w, d.bias()));
  Result r =
      Run(fmt::format("check --case {} --candidate {}", c.string(), (dir_ / "tf32.npy").string()));
  EXPECT_EQ(r.code, 0) << r.out;                // within the certified bound...
  EXPECT_THAT(r.out, HasSubstr("suspicious"));  // ...but not what float32 arithmetic produces
  r = Run(fmt::format("check --case {} --candidate {} --json", c.string(),
                      (dir_ / "tf32.npy").string()));
  EXPECT_EQ(nlohmann::json::parse(r.out)["suspicious"], true);
  // The honest float32 result of the same case is not flagged.
  ASSERT_EQ(Run(fmt::format("run --case {} --impl reference-f32 --out {}", c.string(),
                            (dir_ / "f32.npy").string()))
                .code,
            0);
  r = Run(fmt::format("check --case {} --candidate {}", c.string(), (dir_ / "f32.npy").string()));
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, Not(HasSubstr("suspicious")));
}

TEST_F(Cli, RunImplOptimizedPassesCheck) {
  // The optimized implementation through the same door as every backend: run, then check.
  for (const char* problem : {"mb2ic16ih5iw7oc12kh4sh2ph1", "mb1ic3ih6oc3kh3sh3ph2oph1g3"}) {
    const fs::path c = MakeCase(problem, problem);
    const std::string y = (dir_ / "y_opt.npy").string();
    Result r = Run(fmt::format("run --case {} --impl optimized --out {}", c.string(), y));
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(std::get<Tensor<float>>(read_npy(y)).shape.size(), 4u);
    r = Run(fmt::format("check --case {} --candidate {}", c.string(), y));
    EXPECT_EQ(r.code, 0) << problem << "\n" << r.out;
    EXPECT_THAT(r.out, HasSubstr("verdict: PASSED"));
  }
}

// Issue 14's repros through the tool, on every registered optimized entry (ISAs this CPU lacks
// are not registered), each under a 1 GB address-space limit: a padding of 2^61 with a dilation of
// 2^62 (a wrapped size overran the heap: SIGSEGV), a dilation of 2^62 in both dimensions (a vector
// beyond max_size()), and their neighbour whose middle tap lands on the input. Exit 0 and the
// reference's values exactly (integer data).
constexpr int64_t kOneGigabyteKib = 1 << 20;
// Shell code for Run's `before`: a limit on the address space of the run. None under
// AddressSanitizer, which reserves terabytes of address space for its shadow memory (its own
// allocator then reports what a run allocates beyond the machine).
std::string AddressSpace(int64_t kib) {
#if defined(__SANITIZE_ADDRESS__)
  (void)kib;
  return "";
#else
  return fmt::format("ulimit -v {}", kib);
#endif
}
const char* const kHugeGeometry[] = {
    "mb1ic4ih1iw1oc1kh1kw2pw2305843009213693951dh1dw4611686018427387904",
    "mb1ic1ih1oc1kh2dh4611686018427387904ph2305843009213693951",
    "mb1ic2ih1iw5oc3kh1kw3pw2305843009213693951dw2305843009213693952",
};

// The registered optimized forward entries that read `dtype`.
std::vector<std::string> optimized_entries(DType dtype) {
  std::vector<std::string> names;
  const Registry registry = builtin_registry();  // not a temporary: the loop outlives it
  for (const Implementation& impl : registry.all()) {
    if (impl.name.rfind("optimized", 0) == 0 && impl.input == dtype &&
        impl.pass == Pass::kForward) {
      names.push_back(impl.name);
    }
  }
  return names;
}

// Reads an output as doubles (float32, float16 and bfloat16 values are exact in double).
std::vector<double> values_of(const fs::path& npy, bool bf16 = false) {
  return std::visit(
      [](const auto& t) {
        std::vector<double> v;
        for (const auto& e : t.data) v.push_back(static_cast<double>(e));
        return v;
      },
      read_npy(npy, int64_t{1} << 30, bf16));
}

// The case directory `gen --problem` wrote into `out` (beside its manifest).
fs::path only_case(const fs::path& out) {
  for (const auto& e : fs::directory_iterator(out)) {
    if (e.is_directory()) return e.path();
  }
  return out / "missing";
}

TEST_F(Cli, OptimizedEntriesRunHugePaddingAndDilation) {
  ASSERT_FALSE(optimized_entries(DType::kFloat32).empty());
  for (const char* problem : kHugeGeometry) {
    SCOPED_TRACE(problem);
    for (const auto& [dtype, flags] :
         {std::pair{DType::kFloat32, ""}, std::pair{DType::kFloat16, "--dtype float16"},
          std::pair{DType::kBFloat16, "--dtype bfloat16"}}) {
      const fs::path out = dir_ / fmt::format("{}", to_string(dtype));
      ASSERT_EQ(Run(fmt::format("gen --problem {} --regime integer --compute-mode float32 {} "
                                "--out {}",
                                problem, flags, out.string()))
                    .code,
                0);
      const fs::path c = only_case(out);
      const bool bf16 = dtype == DType::kBFloat16;
      const std::string ref = (dir_ / "ref.npy").string(), y = (dir_ / "y.npy").string();
      ASSERT_EQ(Run(fmt::format("run --case {} --out {}", c.string(), ref)).code, 0);
      for (const std::string& impl : optimized_entries(dtype)) {
        const Result r = Run(fmt::format("run --case {} --impl {} --out {}", c.string(), impl, y),
                             AddressSpace(kOneGigabyteKib));
        ASSERT_EQ(r.code, 0) << impl << "\n" << r.err;
        EXPECT_EQ(values_of(y, bf16), values_of(ref, bf16)) << impl;
      }
    }
  }
}

// A padding of 10^9 and a dilation of 2·10^9 for three outputs once made the optimized path
// allocate 8 GB for 36 s. Now, under a 1 GB limit: the default cap runs it at once (exact
// values), and --max-bytes 1000 refuses exactly the entries whose declared working memory
// exceeds it, with one line naming --max-bytes, the entry and the byte count.
TEST_F(Cli, OptimizedWorkingMemoryCountsAgainstMaxBytes) {
  const char* problem = "mb1ic1ih1iw1oc1kh1kw2pw999999999dh1dw2000000000";
  const Problem pr = parse_problem(problem);
  const Registry registry = builtin_registry();
  for (const auto& [dtype, flags] :
       {std::pair{DType::kFloat32, ""}, std::pair{DType::kFloat16, "--dtype float16"},
        std::pair{DType::kBFloat16, "--dtype bfloat16"}}) {
    const fs::path out = dir_ / fmt::format("{}", to_string(dtype));
    ASSERT_EQ(Run(fmt::format("gen --problem {} --regime integer --compute-mode float32 {} "
                              "--out {}",
                              problem, flags, out.string()))
                  .code,
              0);
    const fs::path c = only_case(out);
    const bool bf16 = dtype == DType::kBFloat16;
    const std::string ref = (dir_ / "ref.npy").string(), y = (dir_ / "y.npy").string();
    ASSERT_EQ(Run(fmt::format("run --case {} --out {}", c.string(), ref)).code, 0);
    for (const std::string& impl : optimized_entries(dtype)) {
      SCOPED_TRACE(impl);
      const auto t0 = std::chrono::steady_clock::now();
      Result r = Run(fmt::format("run --case {} --impl {} --out {}", c.string(), impl, y),
                     AddressSpace(kOneGigabyteKib));
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ASSERT_EQ(r.code, 0) << r.err;
      EXPECT_LT(seconds, 5.0);
      EXPECT_EQ(values_of(y, bf16), values_of(ref, bf16));
      fs::remove(y);
      const int64_t declared = registry.get(impl).working_bytes(pr);
      r = Run(fmt::format("run --case {} --impl {} --out {} --max-bytes 1000", c.string(), impl, y),
              AddressSpace(kOneGigabyteKib));
      if (declared <= 1000) {
        EXPECT_EQ(r.code, 0) << r.err;
        continue;
      }
      EXPECT_EQ(r.code, 2) << r.err;
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
      EXPECT_THAT(r.err, HasSubstr("--max-bytes 1000"));
      EXPECT_THAT(r.err, HasSubstr(fmt::format("--impl {} needs {} bytes", impl, declared)));
      EXPECT_FALSE(fs::exists(y));
    }
  }
}

// A pass whose exact result exceeds --max-bytes is SKIPPED with the reason; the other passes of the
// problem are still judged and verify succeeds. dW of a 1x1 input through 4x4 taps of 64 x 64
// channels has 65536 elements (26 MB of truth), the forward output 1024 (410 KB).
TEST_F(Cli, VerifySkipsAPassWhoseExactResultExceedsTheCap) {
  std::ofstream(dir_ / "layers.txt") << "latent mb1ic64ih1oc64kh4\n";
  const int64_t cap = 4096 * kTruthBytesPerElement;
  const Result r =
      Run(fmt::format("verify --problems {} --max-bytes {}", (dir_ / "layers.txt").string(), cap));
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, ::testing::ContainsRegex(
                         "latent +all bwd_weights +- .*SKIPPED  exact result: bwd_weights "
                         "\\(64, 64, 4, 4\\) needs [0-9]+ bytes"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("latent +reference +integer .*PASSED"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("latent +reference bwd_data +integer .*PASSED"));
  EXPECT_THAT(r.out, Not(::testing::ContainsRegex("latent +[a-z0-9-]+ bwd_weights +integer")));
  EXPECT_THAT(r.out, Not(HasSubstr("FAILED")));
}

// verify runs what fits in --max-bytes and marks the rest SKIPPED with the reason, never FAILED.
TEST_F(Cli, VerifySkipsImplementationsOverTheMemoryCap) {
  std::ofstream(dir_ / "layers.txt")
      << "huge-pad " << kHugeGeometry[0]
      << "\nhuge-dilation mb1ic1ih1iw1oc1kh1kw2pw999999999dh1dw2000000000\n";
  const Registry registry = builtin_registry();
  const int64_t cap =
      registry.get("optimized-direct").working_bytes(parse_problem(kHugeGeometry[0]));
  ASSERT_GT(registry.get("optimized-gemm").working_bytes(parse_problem(kHugeGeometry[0])), cap);
  const Result r =
      Run(fmt::format("verify --problems {} --max-bytes {}", (dir_ / "layers.txt").string(), cap),
          AddressSpace(kOneGigabyteKib));
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, ::testing::ContainsRegex("huge-pad +optimized-gemm +integer .*SKIPPED  "
                                              "--impl optimized-gemm needs [0-9]+ bytes"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("huge-pad +optimized-direct +integer .*PASSED"));
  EXPECT_THAT(r.out,
              ::testing::ContainsRegex("verify: [0-9]+ passed, 0 failed, [1-9][0-9]* skipped"));
}

TEST_F(Cli, GenThenCheckRoundTrip) {
  const fs::path out = dir_ / "cases";
  Result r = Run(fmt::format("gen --random 4 --seed 7 --out {} --regime real", out.string()));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto manifest = nlohmann::json::parse(Slurp(out / "manifest.json"));
  ASSERT_EQ(manifest["cases"].size(), 4u);
  for (const auto& entry : manifest["cases"]) {
    const fs::path c = out / entry["name"].get<std::string>();
    for (const char* f : {"case.json", "x.npy", "w.npy", "expected.npy", "bound.npy"}) {
      EXPECT_TRUE(fs::exists(c / f)) << c / f;
    }
    ASSERT_EQ(Run(fmt::format("run --case {} --impl reference-f32 --out {}", c.string(),
                              (dir_ / "y.npy").string()))
                  .code,
              0);
    r = Run(fmt::format("check --case {} --candidate {}", c.string(), (dir_ / "y.npy").string()));
    EXPECT_EQ(r.code, 0) << c << r.out;
    // A backend without convt2d: |y - expected| <= bound element by element.
    const auto y = std::get<Tensor<float>>(read_npy(dir_ / "y.npy"));
    const auto e = std::get<Tensor<double>>(read_npy(c / "expected.npy"));
    const auto b = std::get<Tensor<double>>(read_npy(c / "bound.npy"));
    ASSERT_EQ(y.shape, e.shape);
    for (size_t i = 0; i < y.data.size(); ++i) {
      EXPECT_LE(std::fabs(static_cast<double>(y.data[i]) - e.data[i]), b.data[i]) << c << i;
    }
  }
  // Deterministic for a seed.
  ASSERT_EQ(Run(fmt::format("gen --random 4 --seed 7 --out {}", (dir_ / "again").string())).code,
            0);
  for (const auto& entry : manifest["cases"]) {
    const std::string name = entry["name"];
    EXPECT_EQ(Slurp(out / name / "x.npy"), Slurp(dir_ / "again" / name / "x.npy"));
    EXPECT_EQ(Slurp(out / name / "expected.npy"), Slurp(dir_ / "again" / name / "expected.npy"));
  }
  ASSERT_EQ(Run(fmt::format("gen --problem mb1ic4ih3oc2kh3sh2g2 --seed 1 --regime integer --out {}",
                            (dir_ / "one").string()))
                .code,
            0);
  EXPECT_TRUE(fs::exists(dir_ / "one" / "000-mb1ic4ih3oc2kh3sh2g2" / "b.npy"));
}

TEST_F(Cli, GenWritesEachCaseDirectoryWholeOrNotAtAll) {
  const fs::path out = dir_ / "cases";
  const std::string args = fmt::format("gen --problem mb1ic1ih32oc1kh2sh2 --out {}", out.string());
  const fs::path c = out / "000-mb1ic1ih32oc1kh2sh2";
  const auto leftovers = [&] {
    std::vector<std::string> names;
    for (const auto& e : fs::recursive_directory_iterator(out)) {
      names.push_back(e.path().lexically_relative(out).string());
    }
    return names;
  };
  // x.npy (4 KiB) fits under an 8 KiB RLIMIT_FSIZE, expected.npy (64x64 float64, 32 KiB) does
  // not: the write fails with EFBIG (SIGXFSZ ignored) after four files of the case. The old gen
  // left case.json, x.npy, w.npy and b.npy behind in the case directory.
  ExpectUnusable(args, "expected.npy: write failed: File too large", "trap '' XFSZ; ulimit -f 16");
  EXPECT_THAT(leftovers(), ::testing::IsEmpty());
  // Written whole; a second run replaces a directory that holds only gen's files.
  ASSERT_EQ(Run(args).code, 0);
  EXPECT_TRUE(fs::exists(c / "bound.npy"));
  ASSERT_EQ(Run(args).code, 0);
  EXPECT_EQ(leftovers().size(), 8u) << ::testing::PrintToString(leftovers());  // dir, 6, manifest
  // A case directory holding anything else is the user's: refused before anything is written.
  std::ofstream(c / "notes.txt") << "mine";
  const std::string manifest = Slurp(out / "manifest.json");
  ExpectUnusable(args, "holds a regular file 'notes.txt', which gen does not write");
  EXPECT_EQ(Slurp(c / "notes.txt"), "mine");
  EXPECT_EQ(Slurp(out / "manifest.json"), manifest);
  fs::remove(c / "notes.txt");
  fs::create_symlink(dir_ / "elsewhere", c / "w.npy.bak");
  ExpectUnusable(args, "holds a symbolic link 'w.npy.bak'");
  fs::remove(c / "w.npy.bak");
  // So are a case name that is a file, and a manifest.json that is not a regular file.
  fs::remove_all(c);
  std::ofstream(c) << "a file";
  ExpectUnusable(args,
                 "000-mb1ic1ih32oc1kh2sh2: exists and is a regular file, not a case "
                 "directory");
  fs::remove(c);
  fs::remove(out / "manifest.json");
  fs::create_symlink(dir_ / "victim", out / "manifest.json");
  ExpectUnusable(args, "manifest.json: exists and is a symbolic link");
  EXPECT_FALSE(fs::exists(c));
  EXPECT_FALSE(fs::exists(dir_ / "victim"));
}

TEST_F(Cli, GenWritesHalfCasesThatRunAndCheck) {
  // float16: '<f2' arrays and "dtype" in case.json; `run` picks reference-f16 for the default
  // compute_mode; the output is float16, passes `check`, and |y - expected| <= bound.npy.
  const fs::path out = dir_ / "f16";
  Result r = Run(fmt::format("gen --random 3 --seed 4 --dtype float16 --out {}", out.string()));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto manifest = nlohmann::json::parse(Slurp(out / "manifest.json"));
  for (const auto& entry : manifest["cases"]) {
    EXPECT_EQ(entry["dtype"], "float16");
    EXPECT_EQ(entry["bound_for"], "float16, compute_mode default");
    const fs::path c = out / entry["name"].get<std::string>();
    EXPECT_THAT(Slurp(c / "x.npy"), HasSubstr("'descr': '<f2'"));
    EXPECT_EQ(nlohmann::json::parse(Slurp(c / "case.json"))["dtype"], "float16");
    const std::string y = (dir_ / "y16.npy").string();
    ASSERT_EQ(Run(fmt::format("run --case {} --out {}", c.string(), y)).code, 0);
    const AnyTensor yt = read_npy(y);
    ASSERT_EQ(dtype_of(yt), DType::kFloat16);
    r = Run(fmt::format("check --case {} --candidate {}", c.string(), y));
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_THAT(r.out, HasSubstr("bound for float16 arithmetic, compute_mode default"));
    const auto e = std::get<Tensor<double>>(read_npy(c / "expected.npy"));
    const auto b = std::get<Tensor<double>>(read_npy(c / "bound.npy"));
    const auto& yh = std::get<Tensor<float16>>(yt);
    for (size_t i = 0; i < yh.data.size(); ++i) {
      EXPECT_LE(std::fabs(static_cast<double>(yh.data[i]) - e.data[i]), b.data[i]) << c << i;
    }
  }
  // bfloat16 with compute_mode float32: '<u2' arrays declared in case.json; `run` picks
  // reference-bf16-f32acc; `check` reads the uint16 candidate as bfloat16 because the case says so.
  const fs::path bout = dir_ / "bf16";
  r =
      Run(fmt::format("gen --problem mb1ic8ih3oc4kh3sh2 --dtype bfloat16 --compute-mode float32 "
                      "--out {}",
                      bout.string()));
  ASSERT_EQ(r.code, 0) << r.err;
  const fs::path bc = bout / "000-mb1ic8ih3oc4kh3sh2";
  const auto cj = nlohmann::json::parse(Slurp(bc / "case.json"));
  EXPECT_EQ(cj["dtype"], "bfloat16");
  EXPECT_EQ(cj["compute_mode"], "float32");
  EXPECT_THAT(Slurp(bc / "w.npy"), HasSubstr("'descr': '<u2'"));
  const std::string yb = (dir_ / "yb.npy").string();
  ASSERT_EQ(Run(fmt::format("run --case {} --out {}", bc.string(), yb)).code, 0);
  EXPECT_EQ(dtype_of(read_npy(yb, INT64_MAX, true)), DType::kBFloat16);
  r = Run(fmt::format("check --case {} --candidate {} --json", bc.string(), yb));
  EXPECT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["claimed_dtype"], "bfloat16");
  EXPECT_EQ(j["compute_mode"], "float32");
  // --out-dtype converts: float16 from the float64 reference output.
  ASSERT_EQ(Run(fmt::format("run --case {} --impl reference-bf16-mp --out-dtype float16 --out {}",
                            bc.string(), (dir_ / "h.npy").string()))
                .code,
            0);
  EXPECT_EQ(dtype_of(read_npy(dir_ / "h.npy")), DType::kFloat16);
  // A uint16 candidate for a float16 case is not bfloat16 unless claimed: exit 2 naming the file.
  const fs::path fc = out / manifest["cases"][0]["name"].get<std::string>();
  ExpectUnusable(fmt::format("check --case {} --candidate {}", fc.string(), yb), "yb.npy");
  // Claimed, it is read as bfloat16, but the float16 case's inputs are not bfloat16 values.
  ExpectUnusable(fmt::format("check --case {} --candidate {} --dtype bfloat16", fc.string(), yb),
                 "is not a bfloat16 value");
  // A bfloat16 case whose case.json lost its "dtype": its arrays are bare uint16.
  nlohmann::json no_dtype = cj;
  no_dtype.erase("dtype");
  std::ofstream(bc / "case.json") << no_dtype.dump();
  ExpectUnusable(fmt::format("run --case {} --out {}", bc.string(), yb),
                 "x.npy: uint16 data ('<u2') is read only as bfloat16 storage");
  // float16 data through a float32 implementation: refused with the names that fit.
  ExpectUnusable(fmt::format("run --case {} --impl reference-f32 --out {}", fc.string(), yb),
                 "use one of: reference-f16, reference-f16-f32acc, reference-f16-mp");
}

// The designed case (docs/oracle.md): float16 cancellation data, K = 64. The float16-accumulated
// result fails a float32 claim by two orders of magnitude and passes a default claim; the
// float32-accumulated result passes the float32 claim without being flagged.
TEST_F(Cli, CheckTellsTheComputeModesApart) {
  const fs::path out = dir_ / "cases";
  ASSERT_EQ(Run(fmt::format("gen --problem mb1ic64ih4oc4kh1 --dtype float16 --regime "
                            "cancellation --seed 1 --out {}",
                            out.string()))
                .code,
            0);
  const std::string c = (out / "000-mb1ic64ih4oc4kh1").string();
  const std::string y16 = (dir_ / "acc16.npy").string(), y32 = (dir_ / "acc32.npy").string();
  ASSERT_EQ(Run(fmt::format("run --case {} --impl reference-f16 --out {}", c, y16)).code, 0);
  ASSERT_EQ(Run(fmt::format("run --case {} --impl reference-f16-f32acc --out {}", c, y32)).code, 0);
  Result r = Run(fmt::format("check --case {} --candidate {} --compute-mode float32", c, y16));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("verdict: FAILED"));
  EXPECT_THAT(r.out, HasSubstr("compute_mode float32"));
  r = Run(fmt::format("check --case {} --candidate {} --compute-mode float32 --json", c, y16));
  EXPECT_GT(nlohmann::json::parse(r.out)["max_err_over_bound"].get<double>(), 100.0);
  // The case says compute_mode default: that is the claim unless --compute-mode says otherwise.
  r = Run(fmt::format("check --case {} --candidate {}", c, y16));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("compute_mode default"));
  r = Run(fmt::format("check --case {} --candidate {} --compute-mode float32", c, y32));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, Not(HasSubstr("suspicious")));
}

TEST_F(Cli, FlagsFloat16IntermediatesAsSuspicious) {
  // K = 512: float16 products summed in float32 stay inside the float32-mode bound, outside its
  // band. The honest float32 accumulator (the case's own compute_mode) is not flagged.
  const Problem pr = parse_problem("mb1ic512ih4oc4kh1");
  Params p = pr.params;
  p.compute_mode = ComputeMode::kFloat32;
  const auto d = make_data<float16>(pr, Regime::kReal, 2);
  const AnyTensor x = d.x, w = d.w, b = d.b;
  write_case(dir_ / "c", p, x, w, &b);
  const std::string c = (dir_ / "c").string(), cheat = (dir_ / "cheat.npy").string();
  write_npy(cheat, testing::float16_products_float32_sums(p, d.x, d.w, d.bias()));
  Result r = Run(fmt::format("check --case {} --candidate {}", c, cheat));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("suspicious"));
  EXPECT_THAT(r.out, HasSubstr("compute_mode float32"));
  const std::string honest = (dir_ / "honest.npy").string();
  ASSERT_EQ(Run(fmt::format("run --case {} --out {}", c, honest)).code, 0);  // reference-f16-f32acc
  r = Run(fmt::format("check --case {} --candidate {}", c, honest));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, Not(HasSubstr("suspicious")));
}

TEST_F(Cli, ComputeModeHasNoEffectOnFloat32AndUnknownModesAreErrors) {
  const fs::path c = MakeCase("c", "mb1ic16ih4oc4kh3sh2ph1");
  const std::string y = (dir_ / "y.npy").string();
  ASSERT_EQ(Run(fmt::format("run --case {} --impl reference-f32 --out {}", c.string(), y)).code, 0);
  const Result d = Run(fmt::format("check --case {} --candidate {} --json", c.string(), y));
  const Result f = Run(
      fmt::format("check --case {} --candidate {} --json --compute-mode float32", c.string(), y));
  EXPECT_EQ(d.code, 0);
  EXPECT_EQ(d.out, f.out);  // the same bound, band and report
  EXPECT_TRUE(nlohmann::json::parse(d.out)["compute_mode"].is_null());
  ExpectUnusable(fmt::format("check --case {} --candidate {} --compute-mode tf32", c.string(), y),
                 "compute_mode: unknown value 'tf32'");
  ExpectUnusable(fmt::format("gen --problem mb1ic4ih3oc4kh3 --compute-mode half --out {}",
                             (dir_ / "g").string()),
                 "compute_mode: unknown value 'half'");
  ExpectUnusable(
      fmt::format("gen --problem mb1ic4ih3oc4kh3 --dtype int8 --out {}", (dir_ / "g").string()),
      "--dtype: unknown dtype 'int8'");
  ExpectUnusable(fmt::format("check --case {} --candidate {} --dtype float8", c.string(), y),
                 "--dtype: unknown dtype 'float8'");
  EXPECT_FALSE(fs::exists(dir_ / "g"));
}

TEST_F(Cli, VerifyRunsTheRegistryAndSummarizes) {
  std::ofstream(dir_ / "layers.txt") << "# comment\nsmall mb1ic4ih3oc4kh4sh2ph1\n"
                                        "huge  mb1ic2048ih64oc256kh4sh2ph1\n";
  const Result r =
      Run(fmt::format("verify --problems {} --random 2 --seed 3", (dir_ / "layers.txt").string()));
  EXPECT_EQ(r.code, 0) << r.out;
  for (const char* impl :
       {"reference ", "reference-f32", "reference-double", "optimized", "adjoint"}) {
    EXPECT_THAT(r.out, HasSubstr(impl));
  }
  EXPECT_THAT(r.out, HasSubstr("SKIPPED"));  // the huge layer exceeds --max-macs
  EXPECT_THAT(r.out, ::testing::ContainsRegex("verify: [0-9]+ passed, 0 failed, 1 skipped\n"));
}

TEST_F(Cli, VerifyPassesTheAdjointOfAProblemWhoseConv2dIntermediatesExceedInt64) {
  // Conv2d's H + 2p = 3 + 2^63 - 2 overflows int64 although ConvTranspose2d's output (3x3) and
  // Conv2d's (2x2, the input's shape) are small: `verify` used to stop with exit 2 on this valid
  // problem ("conv2d output height overflows int64") where `run` and `check` accept it.
  const std::string problem =
      "mb1ic1ih2oc1kh2sh4611686018427387904dh4611686018427387904ph4611686018427387903";
  std::ofstream(dir_ / "p.txt") << "extreme " << problem << "\n";
  const Result r = Run(fmt::format("verify --problems {}", (dir_ / "p.txt").string()));
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, ::testing::ContainsRegex("extreme +adjoint +integer .* PASSED"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("extreme +adjoint +cancellation .* PASSED"));
  EXPECT_THAT(r.out, HasSubstr(" 0 failed, 0 skipped"));
}

TEST_F(Cli, OptionValuesAreExactlyWhatWasWrittenOrExit2) {
  const std::string g =
      fmt::format("gen --problem mb1ic1ih2oc1kh1 --out {}", (dir_ / "g").string());
  // --seed is a uint64: its largest value is taken as written...
  ASSERT_EQ(Run(g + " --seed 18446744073709551615").code, 0);
  EXPECT_EQ(nlohmann::json::parse(Slurp(dir_ / "g" / "manifest.json"))["seed"].get<uint64_t>(),
            18446744073709551615u);
  // ...and what CLI11 clamped (2^64), read as 0 (''), as hex (0x10 = 16) or octal (010 = 8) is
  // refused.
  ExpectUnusable(g + " --seed 18446744073709551616",
                 "--seed: must be at most 18446744073709551615, got 18446744073709551616");
  for (const char* v : {"''", "0x10", "010", "+5", "1e3", "' 7'"}) {
    ExpectUnusable(fmt::format("{} --seed {}", g, v), "--seed: expected a plain decimal integer");
  }
  ExpectUnusable(g + " --max-bytes 0x100000", "--max-bytes: expected a plain decimal integer");
  ExpectUnusable(fmt::format("gen --random 1e3 --out {}", (dir_ / "g").string()),
                 "--random: expected a plain decimal integer, got '1e3'");
  // shape --width 3,4 used 3; every shape flag is an integer or, where a pair means something, h,w.
  const std::string shape = "shape --height 3 --in-channels 2 --out-channels 2 --kernel-size 3";
  ExpectUnusable(shape + " --width 3,4", "--width: expected a plain decimal integer, got '3,4'");
  ExpectUnusable(shape + " --groups 1,1", "--groups: expected a plain decimal integer");
  ExpectUnusable(shape + " --batch 0x2", "--batch: expected a plain decimal integer");
  ExpectUnusable(shape + " --stride 2,2,2", "--stride: expected an integer or h,w, got '2,2,2'");
  ExpectUnusable(shape + " --padding 1,", "--padding: expected an integer or h,w");
  ExpectUnusable(shape + " --dilation 99999999999999999999",
                 "--dilation: must be at most 9223372036854775807");
  Result r = Run(shape + " --width 4 --stride 2,3");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "1 2 7 12\n");
  // Reals: finite numbers above their bound.
  for (const char* v : {"nan", "inf", "1e400", "0x1p3", "abc"}) {
    ExpectUnusable(fmt::format("verify --max-macs {}", v), "--max-macs: ");
    ExpectUnusable(fmt::format("check --case c --candidate y --lambda {}", v), "--lambda: ");
  }
  ExpectUnusable("check --case c --candidate y --lambda 0", "--lambda: must be > 0, got 0");
}

TEST_F(Cli, AVerifyThatWouldTestNothingIsExit2) {
  const fs::path file = dir_ / "problems.txt";
  const std::string verify = fmt::format("verify --problems {}", file.string());
  // Each of these exited 0 after "verify: 0 passed, 0 failed, 0 skipped" (or after testing only
  // what --max-macs 0 let through).
  std::ofstream(file) << "";
  ExpectUnusable(verify, "problems.txt: no problems in the file");
  std::ofstream(file) << "# a comment\n\n   \n";
  ExpectUnusable(verify, "problems.txt: no problems in the file");
  std::ofstream(file) << "huge mb1ic2048ih64oc256kh4sh2ph1\n";
  ExpectUnusable(verify,
                 "verify: nothing to test: all 1 problem(s) have more multiply-adds than "
                 "--max-macs 2e+06");
  std::ofstream(file) << "small mb1ic4ih3oc4kh4sh2ph1\n";
  for (const char* m : {"0", "-1", "nan", "inf"}) {
    ExpectUnusable(fmt::format("{} --max-macs {}", verify, m), "--max-macs: ");
  }
  ExpectUnusable(fmt::format("verify --problems {}", dir_.string()),
                 "not a regular file (it is a directory)");
  ASSERT_EQ(mkfifo((dir_ / "fifo").c_str(), 0600), 0);
  ExpectUnusable(fmt::format("verify --problems {}", (dir_ / "fifo").string()),
                 "fifo: not a regular file (it is a FIFO)", "", "timeout 20");
  // /dev/zero was read without limit; a regular file is capped at 16 MiB.
  ExpectUnusable("verify --problems /dev/zero", "/dev/zero: not a regular file", "", "timeout 20");
  std::ofstream(file) << std::string((16 << 20) + 1, '#');
  ExpectUnusable(verify,
                 "problems.txt: file of 16777217 bytes exceeds the limit of 16777216 bytes");
  std::ofstream(file) << "tiny mb1ic1ih1oc1kh1 " << std::string(100'000, 'x') << "\n";
  ExpectUnusable(verify,
                 "problems.txt:1: expected 'name problem', got 'tiny mb1ic1ih1oc1kh1 "
                 "xxxxxxxxxxxxxxxx...'");
}

TEST_F(Cli, EveryBadInputIsExitCode2WithOneLine) {
  const fs::path c = MakeCase("c", "mb1ic2ih3oc2kh3sh2");
  const std::string y = (dir_ / "y.npy").string();
  const auto copy_case = [&](const std::string& name) {
    fs::copy(c, dir_ / name, fs::copy_options::recursive);
    return dir_ / name;
  };
  // Missing directory and missing file.
  ExpectUnusable(fmt::format("run --case {} --out {}", (dir_ / "nope").string(), y), "nope");
  fs::path m = copy_case("missing");
  fs::remove(m / "w.npy");
  ExpectUnusable(fmt::format("run --case {} --out {}", m.string(), y), "w.npy: no such file");
  // Malformed and truncated .npy.
  m = copy_case("garbage");
  std::ofstream(m / "x.npy") << "this is not numpy";
  ExpectUnusable(fmt::format("run --case {} --out {}", m.string(), y), "bad magic");
  m = copy_case("truncated");
  {
    const std::string bytes = Slurp(c / "x.npy");
    std::ofstream(m / "x.npy", std::ios::binary) << bytes.substr(0, bytes.size() - 3);
  }
  ExpectUnusable(fmt::format("run --case {} --out {}", m.string(), y), "truncated");
  // Wrong dtype, Fortran order.
  m = copy_case("int32");
  {
    std::string bytes = Slurp(c / "x.npy");
    bytes.replace(bytes.find("<f4"), 3, "<i4");
    std::ofstream(m / "x.npy", std::ios::binary) << bytes;
  }
  ExpectUnusable(fmt::format("run --case {} --out {}", m.string(), y), "unsupported dtype '<i4'");
  m = copy_case("fortran");
  {
    std::string bytes = Slurp(c / "x.npy");
    bytes.replace(bytes.find("False"), 5, "True ");
    std::ofstream(m / "x.npy", std::ios::binary) << bytes;
  }
  ExpectUnusable(fmt::format("run --case {} --out {}", m.string(), y), "fortran_order");
  // Arrays of different dtypes.
  m = copy_case("mixed");
  write_npy(m / "w.npy", tensor_cast<double>(std::get<Tensor<float>>(read_npy(c / "w.npy"))));
  ExpectUnusable(fmt::format("run --case {} --out {}", m.string(), y), "one dtype");
  // Shapes that disagree with the parameters.
  m = copy_case("shape");
  write_npy(m / "x.npy", Tensor<float>(Shape{1, 3, 3, 3}));
  ExpectUnusable(fmt::format("run --case {} --out {}", m.string(), y),
                 "input_shape (1, 2, 3, 3) disagrees with x.npy's shape (1, 3, 3, 3)");
  std::ofstream(m / "case.json") << R"({"in_channels": 2, "out_channels": 2, "kernel_size": 3,
                                        "stride": 2})";
  ExpectUnusable(fmt::format("run --case {} --out {}", m.string(), y), "in_channels=2");
  m = copy_case("declared");
  std::ofstream(m / "case.json")
      << R"({"in_channels": 2, "out_channels": 2, "kernel_size": 3, "stride": 2,
             "output_shape": [1, 2, 8, 8]})";
  ExpectUnusable(fmt::format("run --case {} --out {}", m.string(), y), "output_shape");
  // Invalid parameters and a JSON syntax error.
  m = copy_case("params");
  std::ofstream(m / "case.json") << R"({"in_channels": 2, "out_channels": 2, "kernel_size": 3,
                                        "stride": 2, "groups": 4})";
  ExpectUnusable(fmt::format("run --case {} --out {}", m.string(), y), "groups");
  m = copy_case("mode");
  std::ofstream(m / "case.json") << R"({"in_channels": 2, "out_channels": 2, "kernel_size": 3,
                                        "stride": 2, "compute_mode": "float16"})";
  ExpectUnusable(fmt::format("run --case {} --out {}", m.string(), y), "compute_mode");
  m = copy_case("syntax");
  std::ofstream(m / "case.json") << R"({"in_channels": 2, "out_channels": 2,)";
  ExpectUnusable(fmt::format("run --case {} --out {}", m.string(), y), "JSON syntax error");
  m = copy_case("required");
  std::ofstream(m / "case.json") << R"({"in_channels": 2, "kernel_size": 3})";
  ExpectUnusable(fmt::format("run --case {} --out {}", m.string(), y), "out_channels");
  // A bad problem string, sizes that overflow, sizes over the memory cap.
  ExpectUnusable(fmt::format("gen --problem mb1ic4ihxoc2kh3 --out {}", (dir_ / "g").string()),
                 "problem string");
  ExpectUnusable("shape --problem mb1ic1ih4611686018427387904oc1kh1sh4", "overflows int64");
  ExpectUnusable(
      fmt::format("gen --problem mb64ic1024ih512oc1024kh4sh2 --out {}", (dir_ / "g").string()),
      "--max-bytes");
  ExpectUnusable(fmt::format("run --case {} --out {} --max-bytes 16", c.string(), y),
                 "exceeds the limit of 16 bytes");
  // The oracle's own memory counts: 100 outputs need 800 bytes in float64 but 100 times
  // kTruthBytesPerElement (fixed-point sums, 640-bit values, double pairs, term sums) for the
  // truth.
  ExpectUnusable(fmt::format("gen --problem mb1ic1ih10oc1kh1 --max-bytes {} --out {}",
                             100 * kTruthBytesPerElement - 1, (dir_ / "g").string()),
                 fmt::format("at {} bytes per exact element", kTruthBytesPerElement));
  EXPECT_FALSE(fs::exists(dir_ / "g"));
  // A candidate that is not a float array.
  {
    std::string bytes = Slurp(c / "x.npy");
    bytes.replace(bytes.find("<f4"), 3, "<i4");
    std::ofstream(dir_ / "int.npy", std::ios::binary) << bytes;
  }
  ExpectUnusable(
      fmt::format("check --case {} --candidate {}", c.string(), (dir_ / "int.npy").string()),
      "unsupported dtype");
  // Counts and caps that make no sense.
  ExpectUnusable(fmt::format("gen --random 1000000000000 --out {}", (dir_ / "g").string()),
                 "--random: must be in [0, 1000000]");
  ExpectUnusable(fmt::format("run --case {} --out {} --max-bytes 0", c.string(), y),
                 "--max-bytes: must be a positive integer");
  ExpectUnusable(fmt::format("gen --random 2 --seed -1 --out {}", (dir_ / "g").string()),
                 "--seed: must be >= 0");
  // A tiny cap is checked for every problem before the first file is written.
  ExpectUnusable(
      fmt::format("gen --random 3 --seed 5 --max-bytes 100 --out {}", (dir_ / "g").string()),
      "more than --max-bytes 100");
  EXPECT_FALSE(fs::exists(dir_ / "g"));
  // An input that is not a regular file (a FIFO would block a naive reader forever).
  m = copy_case("fifo");
  fs::remove(m / "x.npy");
  ASSERT_EQ(mkfifo((m / "x.npy").c_str(), 0600), 0);
  ExpectUnusable(fmt::format("run --case {} --out {}", m.string(), y), "not a regular file");
  ExpectUnusable(fmt::format("check --case {} --candidate {}", c.string(), (m / "x.npy").string()),
                 "not a regular file");
  fs::remove(m / "x.npy");
  // Unknown implementation and unknown flags.
  ExpectUnusable(fmt::format("run --case {} --out {} --impl cudnn", c.string(), y), "'cudnn'");
  ExpectUnusable(fmt::format("run --case {} --out {} --frobnicate", c.string(), y), "frobnicate");
  ExpectUnusable("gen --random 2 --seed 1 --out x --regime chaotic", "chaotic");
  // No failed command left an output file behind, partial or whole.
  EXPECT_FALSE(fs::exists(y));
  for (const auto& e : fs::recursive_directory_iterator(dir_)) {
    EXPECT_THAT(e.path().filename().string(), Not(HasSubstr(".tmp."))) << e.path();
  }
}

TEST_F(Cli, CaseJsonProblemsAreNamedInOneShortLine) {
  const fs::path c = MakeCase("c", "mb1ic2ih3oc2kh3sh2");
  const std::string valid = R"("in_channels": 2, "out_channels": 2, "kernel_size": 3, "stride": 2)";
  const std::string run =
      fmt::format("run --case {} --out {}", c.string(), (dir_ / "y.npy").string());
  const auto with = [&](const std::string& members) {
    std::ofstream(c / "case.json") << "{" << valid << members << "}";
  };
  // 10^5 levels in a known key crashed convt2d (stack overflow, signal 11); 5*10^4 printed a
  // 100 KB line; in an unknown key they were accepted.
  for (const auto& [key, levels] : {std::pair{"groups", 100'000}, std::pair{"groups", 50'000},
                                    std::pair{"comment", 100'000}, std::pair{"comment", 50'000}}) {
    with(fmt::format(R"(, "{}": {}{})", key, std::string(levels, '['), std::string(levels, ']')));
    ExpectUnusable(run, fmt::format("case.json: {}: JSON nested deeper than 64 levels", key));
    EXPECT_LT(Run(run).err.size(), 300u);
  }
  // A number beyond double's range: ignored under an unknown key (it was "a JSON syntax error"),
  // named under a known one.
  with(R"(, "note": 1e400)");
  EXPECT_EQ(Run(run).code, 0) << Run(run).err;
  with(R"(, "groups": 1e400)");
  ExpectUnusable(run, "case.json: groups: number 1e400 is out of range");
  // Wrong-typed strings named the file twice.
  with(R"(, "compute_mode": 5)");
  ExpectUnusable(run, "case.json: compute_mode: expected a string, got 5");
  // Arrays of two dtypes: the one that differs is named.
  with("");
  write_npy(c / "b.npy", Tensor<double>(Shape{1, 2, 1, 1}));
  ExpectUnusable(run, "b.npy holds float64 but x.npy holds float32: all arrays of a case");
  // A FIFO case.json was "no such file" (and must not block the reader).
  fs::remove(c / "case.json");
  ASSERT_EQ(mkfifo((c / "case.json").c_str(), 0600), 0);
  ExpectUnusable(run, "case.json: not a regular file (it is a FIFO)", "", "timeout 20");
  fs::remove(c / "case.json");
  ExpectUnusable(run, "case.json: no such file");
}

TEST_F(Cli, OutputsReplaceOnlyRegularFilesAndNeverFollowALink) {
  const fs::path c = MakeCase("c", "mb1ic2ih3oc2kh3sh2");
  const fs::path victim = dir_ / "victim", out = dir_ / "y.npy";
  std::ofstream(victim) << "precious";
  const auto run_to = [&](const fs::path& o) {
    return fmt::format("run --case {} --out {}", c.string(), o.string());
  };
  // Symbolic links at the temporary names the old code used, OUT.tmp.<pid>.<n>, opened with
  // O_TRUNC and followed: the victim was overwritten. ($$ is the pid that execs convt2d.)
  Result r = Run(run_to(out), fmt::format("for n in 0 1 2 3; do ln -s {} {}.tmp.$$.$n; done",
                                          victim.string(), out.string()));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Slurp(victim), "precious");
  EXPECT_NO_THROW(read_npy(out));
  for (const auto& e : fs::directory_iterator(dir_)) {
    if (fs::is_symlink(e.symlink_status())) fs::remove(e.path());
  }
  // OUT a symbolic link: refused, the link and its target untouched.
  const fs::path link = dir_ / "link.npy";
  fs::create_symlink(victim, link);
  ExpectUnusable(run_to(link), "link.npy: exists and is a symbolic link, not a regular file");
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(link)));
  EXPECT_EQ(Slurp(victim), "precious");
  // A directory, and a FIFO (refused without opening it: a blocked run would end by timeout).
  fs::create_directory(dir_ / "adir");
  ExpectUnusable(run_to(dir_ / "adir"), "adir: exists and is a directory");
  ASSERT_EQ(mkfifo((dir_ / "fifo").c_str(), 0600), 0);
  ExpectUnusable(run_to(dir_ / "fifo"), "fifo: exists and is a FIFO", "", "timeout 20");
  // Device nodes: renamed over, they were replaced by regular files (as root: --out /dev/null), and
  // --out /dev/full exited 0. As root the test uses null and full devices of its own, since a
  // regression would otherwise damage /dev; other users cannot replace /dev's nodes anyway.
  for (const auto& [name, minor] : {std::pair{"null", 3u}, std::pair{"full", 7u}}) {
    fs::path dev = fs::path("/dev") / name;
    if (::geteuid() == 0) {
      dev = dir_ / name;
      ASSERT_EQ(::mknod(dev.c_str(), S_IFCHR | 0666, makedev(1, minor)), 0) << dev;
    }
    ExpectUnusable(run_to(dev), fmt::format("{}: exists and is a character device", dev.string()));
    struct stat st;
    ASSERT_EQ(::lstat(dev.c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode)) << dev;
  }
  // A write that fails half-way (RLIMIT_FSIZE at 1 KiB, SIGXFSZ ignored: EFBIG, as a full disk
  // gives ENOSPC) leaves the previous OUT as it was and no temporary file.
  const fs::path big = MakeCase("big", "mb1ic1ih16oc1kh2sh2");  // 32x32 float64 output: 8 KiB
  const std::string before = Slurp(out);
  ExpectUnusable(fmt::format("run --case {} --out {}", big.string(), out.string()),
                 "y.npy: write failed: File too large", "trap '' XFSZ; ulimit -f 2");
  EXPECT_EQ(Slurp(out), before);
  for (const auto& e : fs::recursive_directory_iterator(dir_)) {
    EXPECT_THAT(e.path().filename().string(), Not(HasSubstr(".tmp."))) << e.path();
  }
}

#ifdef CONVT2D_HAVE_BENCH
TEST_F(Cli, BenchJsonIsOneArrayOfRowsWithTheRightKeys) {
  const Result r = Run("bench --problem mb1ic4ih4oc4kh2sh2 --json --min-time 0.01");
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json j;
  ASSERT_NO_THROW(j = nlohmann::json::parse(r.out)) << r.out;  // the whole stdout, nothing else
  ASSERT_TRUE(j.is_array());
  // pct_peak and pct_bw are there when the CPU has a measured peak and bandwidth (AVX2 + FMA).
  const std::set<std::string> keys{"name",      "problem", "impl", "threads",
                                   "median_ms", "gflops",  "gbs",  "bw_level"};
  const std::set<std::string> optional{"pct_peak", "pct_bw"};
  const std::set<std::string> allowed{"optimized", "reference", "onednn-best", "onednn-nchw"};
  std::set<std::string> impls;
  for (const auto& row : j) {
    ASSERT_TRUE(row.is_object());
    std::set<std::string> got;
    for (const auto& [k, v] : row.items()) {
      if (!optional.count(k)) got.insert(k);
    }
    EXPECT_EQ(got, keys) << row.dump();
    // x 1x4x4x4, w 4x4x2x2, the bias 4 and y 1x4x8x8: 64 + 64 + 4 + 256 floats move at least.
    EXPECT_NEAR(row["gbs"].get<double>() * row["median_ms"].get<double>() * 1e6,
                4.0 * (64 + 64 + 4 + 256), 1e-6 * 4.0 * (64 + 64 + 4 + 256))
        << row.dump();
    EXPECT_EQ(row["bw_level"], "L2") << row.dump();
    EXPECT_EQ(row["name"], "mb1ic4ih4oc4kh2sh2");
    EXPECT_EQ(row["problem"], "mb1ic4ih4oc4kh2sh2");
    EXPECT_EQ(row["threads"], 1);
    EXPECT_TRUE(row["median_ms"].is_number() && row["median_ms"].get<double>() > 0);
    EXPECT_TRUE(row["gflops"].is_number() && row["gflops"].get<double>() > 0);
    EXPECT_TRUE(allowed.count(row["impl"].get<std::string>())) << row.dump();
    impls.insert(row["impl"].get<std::string>());
  }
  EXPECT_EQ(impls.size(), j.size());  // one row per implementation
  for (const char* impl : {"reference", "onednn-best", "onednn-nchw"}) {
    EXPECT_TRUE(impls.count(impl)) << impl;
  }
  // optimized is timed exactly when the build has it; otherwise a note says so (on stderr).
  EXPECT_EQ(impls.count("optimized") == 0, r.err.find("no 'optimized'") != std::string::npos)
      << r.err;
}

// Each row's % peak is of the peak of the ISA the header names for its implementation, and the
// header names one for every implementation timed.
TEST_F(Cli, BenchPercentOfPeakIsOfEachImplementationsOwnIsa) {
  const Result r = Run("bench --problem mb1ic8ih6oc8kh3sh2 --json --min-time 0.01");
  ASSERT_EQ(r.code, 0) << r.err;
  std::smatch m;
  if (!std::regex_search(r.err, m,
                         std::regex("% peak is of the ISA each implementation runs: "
                                    "([^\\n]*)"))) {
    GTEST_SKIP() << "no FMA peak measured on this CPU: " << r.err;
  }
  std::map<std::string, std::string> isa_of;  // "optimized AVX2, onednn-best AVX2, ..."
  const std::string list = m[1];
  for (size_t at = 0; at < list.size();) {
    const size_t end = std::min(list.find(", ", at), list.size());
    const std::string item = list.substr(at, end - at);
    isa_of[item.substr(0, item.find(' '))] = item.substr(item.find(' ') + 1);
    at = end + 2;
  }
  const nlohmann::json j = nlohmann::json::parse(r.out);
  std::map<std::string, double> peak_of_isa;  // GFLOP/s per % implied by each row
  for (const auto& row : j) {
    const std::string impl = row["impl"];
    ASSERT_TRUE(isa_of.count(impl)) << impl << " not in the header: " << r.err;
    ASSERT_TRUE(row.contains("pct_peak")) << row.dump();
    const double peak = 100 * row["gflops"].get<double>() / row["pct_peak"].get<double>();
    auto [it, fresh] = peak_of_isa.emplace(isa_of[impl], peak);
    if (!fresh) EXPECT_NEAR(it->second, peak, 1e-9 * peak) << impl;
  }
  // The peaks in the header line are those of the rows.
  for (const auto& [isa, peak] : peak_of_isa) {
    EXPECT_THAT(r.err, HasSubstr(fmt::format("{} {:.1f}", isa, peak))) << isa;
  }
}

TEST_F(Cli, BenchTablesNameEveryLayerAndSkipTheReferenceOverTheLimit) {
  std::ofstream(dir_ / "layers.txt") << "# two tiny layers\nfirst mb1ic4ih4oc4kh2sh2\n"
                                        "second mb2ic4ih3oc8kh3sh2ph1oph1g2\n";
  const Result r = Run(fmt::format("bench --layers {} --min-time 0.01 --max-ref-macs 2000",
                                   (dir_ / "layers.txt").string()));
  EXPECT_EQ(r.code, 0) << r.err;
  for (const char* s : {"FMA peak", "first", "second", "onednn-best", "onednn-nchw", "% peak"}) {
    EXPECT_THAT(r.out, HasSubstr(s));
  }
  // first has 1024 multiply-adds, second 2592: only the second skips the reference.
  EXPECT_THAT(r.out, ::testing::ContainsRegex("reference +SKIPPED +2.59e\\+03 multiply-adds"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("reference +[0-9]+\\.[0-9]+ "));
}

TEST_F(Cli, BenchJsonOfABackwardPassTimesThatPassBesideOnednn) {
  for (const char* pass : {"bwd_data", "bwd_weights"}) {
    const Result r = Run(fmt::format(
        "bench --problem mb2ic4ih5oc6kh3sh2ph1g2 --pass {} --json --min-time 0.01", pass));
    ASSERT_EQ(r.code, 0) << r.err;
    nlohmann::json j;
    ASSERT_NO_THROW(j = nlohmann::json::parse(r.out)) << r.out;
    ASSERT_TRUE(j.is_array());
    const std::set<std::string> keys{"name",   "problem", "impl",     "threads", "median_ms",
                                     "gflops", "gbs",     "bw_level", "pass"};
    std::set<std::string> impls;
    for (const auto& row : j) {
      std::set<std::string> got;
      for (const auto& [k, v] : row.items()) {
        if (k != "pct_peak" && k != "pct_bw") got.insert(k);
      }
      EXPECT_EQ(got, keys) << row.dump();
      EXPECT_EQ(row["pass"], pass);
      EXPECT_TRUE(row["median_ms"].get<double>() > 0);
      impls.insert(row["impl"].get<std::string>());
    }
    for (const char* impl : {"reference", "onednn-best", "onednn-nchw"}) {
      EXPECT_TRUE(impls.count(impl)) << pass << " " << impl;
    }
    EXPECT_EQ(impls.count("optimized") == 0, r.err.find("no 'optimized'") != std::string::npos)
        << r.err;
  }
}

TEST_F(Cli, BenchTablesOfABackwardPassSayThePassAndTheRatios) {
  const Result r =
      Run("bench --problem mb1ic8ih6oc8kh4sh2ph1 --pass bwd_weights --min-time 0.01 --impls "
          "reference,onednn-best,onednn-nchw");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* s :
       {"--pass bwd_weights", "onednn-best", "onednn-nchw", "reference", "GFLOP/s"}) {
    EXPECT_THAT(r.out, HasSubstr(s));
  }
  ExpectUnusable("bench --problem mb1ic4ih4oc4kh2sh2 --pass backward", "--pass");
  // optimized-f16 is a forward-only entry: no such implementation of bwd_data.
  ExpectUnusable("bench --problem mb1ic4ih4oc4kh2sh2 --pass bwd_data --impls optimized-f16",
                 "of the bwd_data pass");
}

TEST_F(Cli, BenchBadInputIsExitCode2WithOneLine) {
  const std::string layers = (dir_ / "layers.txt").string();
  std::ofstream(layers) << "good mb1ic4ih4oc4kh2sh2\nbad mb1ic4ih4oc4kh2sh2zz9\n";
  ExpectUnusable(fmt::format("bench --layers {}", layers), "layers.txt:2:");
  std::ofstream(layers) << "too many words here\n";
  ExpectUnusable(fmt::format("bench --layers {}", layers), "layers.txt:1: expected 'name problem'");
  std::ofstream(layers) << "# only a comment\n";
  ExpectUnusable(fmt::format("bench --layers {}", layers), "layers.txt: no problems in the file");
  // The same reader as verify --problems: regular files only.
  ExpectUnusable(fmt::format("bench --layers {}", dir_.string()),
                 "not a regular file (it is a directory)");
  ExpectUnusable("bench --layers /dev/zero", "/dev/zero: not a regular file", "", "timeout 20");
  ExpectUnusable(fmt::format("bench --layers {}", (dir_ / "nope.txt").string()),
                 "nope.txt: no such file");
  ExpectUnusable("bench", "give --layers FILE or --problem STR");
  ExpectUnusable("bench --problem mb1ic4ih4oc4kh2sh2 --impls onednn-best,cudnn", "'cudnn'");
  ExpectUnusable("bench --problem mb1ic4ih4oc4kh2sh2 --min-time 0", "--min-time");
  ExpectUnusable("bench --problem mb1ic4ih4oc4kh2sh2 --threads 0", "--threads");
  ExpectUnusable("bench --problem mb1ic4ih4ocxkh2", "problem string");
}
#else
TEST_F(Cli, BenchWithoutOnednnSaysSoInOneLine) {
  ExpectUnusable("bench --layers whatever.txt --json", "bench: not built");
}
#endif

// Issue 14, items 1-3, end to end: the repros of the trust-hardening issue give the contracted
// verdicts (exit 1 for a wrong result, 0 for a correct one).
TEST_F(Cli, BFloat16CaseOverManyTapsRejectsNaN) {
  // Item 1: 576 taps in bfloat16, compute_mode default: an all-NaN candidate passed (the bound
  // was +inf). gen's bound.npy is finite now, and check fails the NaN.
  const fs::path out = dir_ / "c";
  ASSERT_EQ(
      Run(fmt::format("gen --problem mb1ic64ih8oc8kh3ph1 --dtype bfloat16 --out {}", out.string()))
          .code,
      0);
  const fs::path c = out / "000-mb1ic64ih8oc8kh3ph1";
  const auto bound = std::get<Tensor<double>>(read_npy(c / "bound.npy"));
  for (double v : bound.data) ASSERT_TRUE(std::isfinite(v));
  Tensor<bfloat16> nan(std::get<Tensor<double>>(read_npy(c / "expected.npy")).shape);
  for (auto& v : nan.data) v = bfloat16::from_bits(0x7fc0);
  write_npy(dir_ / "nan.npy", nan);
  const Result r = Run(fmt::format("check --case {} --candidate {} --dtype bfloat16", c.string(),
                                   (dir_ / "nan.npy").string()));
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("NaN/Inf mismatches: 512"));
  EXPECT_THAT(r.out, HasSubstr("vacuous"));
  // The bfloat16 reference (bfloat16 accumulator) passes the same claim.
  ASSERT_EQ(Run(fmt::format("run --case {} --impl reference-bf16 --out {}", c.string(),
                            (dir_ / "y.npy").string()))
                .code,
            0);
  EXPECT_EQ(Run(fmt::format("check --case {} --candidate {} --dtype bfloat16", c.string(),
                            (dir_ / "y.npy").string()))
                .code,
            0);
}

TEST_F(Cli, Float64ProductsBeyondTheRangeDecideByOverflow) {
  // Item 2: x = (1e200, 1e200), w = (1e200, -1e200), b = 1 (exact 1): 12345 passed. And a single
  // product 1e155 * 1e155: 0 passed with "max err/bound: -nan".
  Params p;
  p.in_channels = 2;
  const AnyTensor b1 = Tensor<double>(Shape{1, 1, 1, 1}, {1.0});
  write_case(dir_ / "two", p, Tensor<double>(Shape{1, 2, 1, 1}, {1e200, 1e200}),
             Tensor<double>(Shape{2, 1, 1, 1}, {1e200, -1e200}), &b1);
  write_case(dir_ / "one", Params{}, Tensor<double>(Shape{1, 1, 1, 1}, {1e155}),
             Tensor<double>(Shape{1, 1, 1, 1}, {1e155}), &b1);
  const auto check = [&](const char* c, double v) {
    write_npy(dir_ / "y.npy", Tensor<double>(Shape{1, 1, 1, 1}, {v}));
    return Run(fmt::format("check --case {} --candidate {}", (dir_ / c).string(),
                           (dir_ / "y.npy").string()));
  };
  Result r = check("two", 12345.0);
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("finite where every correct result overflows: 1"));
  EXPECT_EQ(check("two", NAN).code, 0);
  EXPECT_EQ(check("two", INFINITY).code, 0);  // an FMA chain's result
  r = check("one", 0.0);
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, Not(HasSubstr("nan")));
  EXPECT_EQ(check("one", INFINITY).code, 0);
  EXPECT_EQ(check("one", -INFINITY).code, 1);
}

TEST_F(Cli, OverflowIsAcceptedOnlyTowardsTheSignThatCanOverflow) {
  // Item 3: float16 x = (32768, 32768, -32768), w = 1: +inf (float16 accumulation) is correct,
  // -inf and NaN are not (the negative terms cannot overflow).
  Params p;
  p.in_channels = 3;
  p.bias = false;
  write_case(
      dir_ / "h", p,
      Tensor<float16>(Shape{1, 3, 1, 1}, {float16(32768.0), float16(32768.0), float16(-32768.0)}),
      Tensor<float16>(Shape{3, 1, 1, 1}, {float16(1.0), float16(1.0), float16(1.0)}), nullptr);
  for (const auto& [v, code] : {std::pair{65536.0, 0}, std::pair{-65536.0, 1},
                                std::pair{static_cast<double>(NAN), 1}, std::pair{32768.0, 0}}) {
    write_npy(dir_ / "y.npy", Tensor<float16>(Shape{1, 1, 1, 1}, {float16(v)}));
    const Result r = Run(fmt::format("check --case {} --candidate {}", (dir_ / "h").string(),
                                     (dir_ / "y.npy").string()));
    EXPECT_EQ(r.code, code) << v << "\n" << r.out;
  }
}

TEST_F(Cli, BackwardCasesGenRunAndCheck) {
  const std::string problem = "mb2ic4ih3oc6kh3sh2ph1g2";
  const Problem pr = parse_problem(problem);
  for (Pass pass : {Pass::kBwdData, Pass::kBwdWeights, Pass::kBwdBias}) {
    const std::string name(to_string(pass));
    const fs::path out = dir_ / name;
    ASSERT_EQ(Run(fmt::format("gen --problem {} --pass {} --seed 5 --out {}", problem, name,
                              out.string()))
                  .code,
              0);
    const auto manifest = nlohmann::json::parse(Slurp(out / "manifest.json"));
    EXPECT_EQ(manifest["cases"][0]["pass"], name);
    const fs::path c = out / ("000-" + problem);
    // Exactly the operands the pass reads, beside dy, the expected result and its bound.
    EXPECT_TRUE(fs::exists(c / "dy.npy"));
    EXPECT_EQ(fs::exists(c / "x.npy"), pass == Pass::kBwdWeights);
    EXPECT_EQ(fs::exists(c / "w.npy"), pass == Pass::kBwdData);
    EXPECT_FALSE(fs::exists(c / "b.npy"));
    // expected.npy is the pass's exact result, computed here from the files gen wrote.
    const auto dy = std::get<Tensor<float>>(read_npy(c / "dy.npy"));
    Tensor<Exact> exact;
    if (pass == Pass::kBwdData) {
      exact = conv_transpose2d_bwd_data<float, Exact>(
          pr.params, dy, std::get<Tensor<float>>(read_npy(c / "w.npy")));
    } else if (pass == Pass::kBwdWeights) {
      exact = conv_transpose2d_bwd_weights<float, Exact>(
          pr.params, std::get<Tensor<float>>(read_npy(c / "x.npy")), dy);
    } else {
      exact = conv_transpose2d_bwd_bias<float, Exact>(pr.params, dy);
    }
    const auto expected = std::get<Tensor<double>>(read_npy(c / "expected.npy"));
    ASSERT_EQ(expected.shape, result_shape(pr, pass)) << name;
    ASSERT_EQ(expected.shape, exact.shape) << name;
    for (size_t i = 0; i < exact.data.size(); ++i) {
      EXPECT_EQ(expected.data[i], static_cast<double>(exact.data[i])) << name << " " << i;
    }
    // The float32 reference of the pass passes check; the same result with one element moved
    // past its bound fails and is located in the pass's own index names.
    ASSERT_EQ(Run(fmt::format("run --case {} --pass {} --impl reference-f32 --out {}", c.string(),
                              name, (dir_ / "y.npy").string()))
                  .code,
              0);
    Result r = Run(fmt::format("check --case {} --pass {} --candidate {}", c.string(), name,
                               (dir_ / "y.npy").string()));
    EXPECT_EQ(r.code, 0) << name << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr(format_shape(result_shape(pr, pass))));
    auto y = std::get<Tensor<float>>(read_npy(dir_ / "y.npy"));
    const auto bound = std::get<Tensor<double>>(read_npy(c / "bound.npy"));
    const size_t k = y.data.size() - 1;
    y.data[k] = static_cast<float>(expected.data[k] + 2 * bound.data[k] + 1e-3);
    write_npy(dir_ / "bad.npy", y);
    r = Run(fmt::format("check --case {} --candidate {}", c.string(), (dir_ / "bad.npy").string()));
    EXPECT_EQ(r.code, 1) << name << r.out;
    EXPECT_THAT(r.out, HasSubstr("elements over the bound: 1\n")) << name;
    EXPECT_THAT(r.out,
                HasSubstr(fmt::format("worst element {} =", index_names(pass, y.shape.size()))))
        << name << r.out;
    // A --pass that is not the case's is refused, so is a forward implementation name absent
    // from the pass.
    ExpectUnusable(fmt::format("check --case {} --pass forward --candidate {}", c.string(),
                               (dir_ / "y.npy").string()),
                   "--pass forward: the case is a " + name + " case");
    ExpectUnusable(fmt::format("run --case {} --impl optimized-f16 --out {}", c.string(),
                               (dir_ / "z.npy").string()),
                   "unknown implementation 'optimized-f16' of the " + name + " pass");
  }
  // bwd_bias of a layer without bias is not a case, neither written nor read.
  const fs::path db_case = dir_ / "bwd_bias" / ("000-" + problem);
  std::string json = Slurp(db_case / "case.json");
  json.replace(json.find("\"bias\": true"), 12, "\"bias\": false");
  std::ofstream(db_case / "case.json") << json;
  ExpectUnusable(
      fmt::format("check --case {} --candidate {}", db_case.string(), (dir_ / "y.npy").string()),
      "the bwd_bias pass needs a layer with a bias");
  ExpectUnusable(fmt::format("gen --problem mb1ic2ih3oc2kh3bias0 --pass bwd_bias --out {}",
                             (dir_ / "nb").string()),
                 "bias");
}

TEST_F(Cli, VerifyRunsEachPassOrTheOneNamed) {
  std::ofstream(dir_ / "p.txt") << "small mb2ic4ih3oc6kh3sh2ph1g2\n";
  Result r = Run(fmt::format("verify --problems {}", (dir_ / "p.txt").string()));
  EXPECT_EQ(r.code, 0) << r.out;
  for (const char* row : {"reference-f32 bwd_data", "reference-f32 bwd_weights",
                          "reference-f32 bwd_bias", "adjoint"}) {
    EXPECT_THAT(r.out, HasSubstr(row));
  }
  r = Run(fmt::format("verify --problems {} --pass bwd_weights", (dir_ / "p.txt").string()));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("reference-f32 bwd_weights"));
  EXPECT_THAT(r.out, Not(HasSubstr("bwd_data")));
  // No forward rows (optimized-f16 is forward only), but each backward algorithm's.
  EXPECT_THAT(r.out, Not(HasSubstr("optimized-f16")));
  EXPECT_THAT(r.out, HasSubstr("optimized-gemm"));
  EXPECT_THAT(r.out, HasSubstr("optimized-direct"));
  ExpectUnusable(fmt::format("verify --problems {} --pass backward", (dir_ / "p.txt").string()),
                 "backward");
}

}  // namespace
}  // namespace convt2d
