// Shared helpers of the property suite (support.h).
#include "support.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>

namespace convt2d::props {
namespace {

// $CONVT2D_DUMP_DIR/<Suite.Property>, cleared, or nothing when the variable is unset.
std::optional<std::filesystem::path> dump_path() {
  const char* dir = std::getenv("CONVT2D_DUMP_DIR");
  if (dir == nullptr || *dir == '\0') return std::nullopt;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::filesystem::path path =
      std::filesystem::path(dir) /
      (info ? std::string(info->test_suite_name()) + "." + info->name() : "case");
  std::filesystem::remove_all(path);
  return path;
}

}  // namespace

// Shortest round-trip text of a double (std::to_string prints 6 decimals: 1e-9 shows as 0).
std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// The coverage labels of the issue, reported by RapidCheck at the end of each property.
void tag(const Problem& pr) {
  const Params& p = pr.params;
  RC_CLASSIFY(p.stride.h > p.kernel_size.h || p.stride.w > p.kernel_size.w, "stride > kernel");
  RC_CLASSIFY(p.groups > 1, "groups > 1");
  RC_CLASSIFY(p.groups > 1 && p.in_channels == p.groups && p.out_channels == p.groups, "depthwise");
  RC_CLASSIFY(p.output_padding.h > 0 || p.output_padding.w > 0, "output_padding > 0");
  RC_CLASSIFY(p.padding.h > p.dilation.h * (p.kernel_size.h - 1) ||
                  p.padding.w > p.dilation.w * (p.kernel_size.w - 1),
              "padding > dilation*(k-1)");
  RC_CLASSIFY(pr.ih == 1 && pr.iw == 1, "1x1 input");
  RC_CLASSIFY(pr.mb == 0, "N = 0");
  RC_CLASSIFY(pr.ih != pr.iw || p.kernel_size.h != p.kernel_size.w || p.stride.h != p.stride.w ||
                  p.padding.h != p.padding.w || p.dilation.h != p.dilation.w ||
                  p.output_padding.h != p.output_padding.w,
              "asymmetric h/w");
}

// A float tensor as `dtype`; the values must be representable (data_for makes sure), else the
// property fails rather than run on rounded data.
AnyTensor as_dtype(const Tensor<float>& t, DType dtype) {
  const auto exact = [&](const auto& h) -> AnyTensor {
    if (tensor_cast<float>(h) != t) {
      RC_FAIL("test data not representable in " + std::string(to_string(dtype)));
    }
    return h;
  };
  switch (dtype) {
    case DType::kFloat16:
      return exact(tensor_cast<float16>(t));
    case DType::kBFloat16:
      return exact(tensor_cast<bfloat16>(t));
    case DType::kFloat64:
      return tensor_cast<double>(t);
    case DType::kFloat32:
      break;
  }
  return t;
}

// The regime's data for an implementation, generated in its input dtype (so the integer range
// keeps every partial sum exact in that dtype, fill.h) and held as float, exactly.
ProblemData<float> data_for(const Implementation& impl, const Problem& pr, Regime regime,
                            uint64_t seed, Pass pass) {
  const auto widen = [](const auto& d) {
    return ProblemData<float>{tensor_cast<float>(d.x), tensor_cast<float>(d.w),
                              tensor_cast<float>(d.b), tensor_cast<float>(d.dy)};
  };
  switch (impl.input) {
    case DType::kFloat16:
      return widen(make_data<float16>(pr, regime, seed, pass));
    case DType::kBFloat16:
      return widen(make_data<bfloat16>(pr, regime, seed, pass));
    default:
      return make_data<float>(pr, regime, seed, pass);
  }
}

// On failure: fail with the problem string and, when CONVT2D_DUMP_DIR is set, write the case
// (x, w, b and case.json) to $CONVT2D_DUMP_DIR/<Suite.Property>, which the CLI replays
// (`convt2d run --case ...`, `convt2d check`). Shrinking calls this for every smaller failing
// case; each overwrites the directory, so the last one written is the shrunk counterexample.
// Data of a half implementation is generated in its own dtype and held here as float (exactly);
// `dtype` is the dtype the dump is written in.
[[noreturn]] void fail_case(const Problem& pr, const ProblemData<float>& d, const std::string& what,
                            DType dtype) {
  std::string where;
  if (const auto path = dump_path()) {
    const AnyTensor x = as_dtype(d.x, dtype), w = as_dtype(d.w, dtype), b = as_dtype(d.b, dtype);
    write_case(*path, pr.params, x, w, pr.params.bias ? &b : nullptr);
    where = " (case written to " + path->string() + ")";
  }
  RC_FAIL(what + " for problem " + format_problem(pr) + where);
}

Case case_of(const Problem& pr, Pass pass, DType dtype, const ProblemData<float>& d) {
  Case c{pr, Tensor<float>(), Tensor<float>(), std::nullopt, pass, std::nullopt};
  c.x = as_dtype(reads_x(pass) ? d.x : Tensor<float>(), dtype);
  c.w = as_dtype(reads_w(pass) ? d.w : Tensor<float>(), dtype);
  if (pass == Pass::kForward && pr.params.bias) c.b = as_dtype(d.b, dtype);
  if (reads_dy(pass)) c.dy = as_dtype(d.dy, dtype);
  return c;
}

[[noreturn]] void fail_case(const Case& c, const std::string& what) {
  std::string where;
  if (const auto path = dump_path()) {
    write_case(*path, c);
    where = " (case written to " + path->string() + ")";
  }
  RC_FAIL(what + " for " + std::string(to_string(c.pass)) + " of problem " +
          format_problem(c.problem) + where);
}

}  // namespace convt2d::props
