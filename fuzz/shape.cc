// Validation/shape fuzz target: arbitrary (huge, negative) parameters and sizes -> either a valid
// shape equal to the formula (computed here independently in 128-bit arithmetic) or the project
// error naming a parameter. Never UB, never an overflow, never an allocation.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "convt2d/case_dir.h"
#include "convt2d/error.h"
#include "convt2d/params.h"
#include "fuzz_input.h"

namespace {

using namespace convt2d;

// Mostly small values, sometimes huge or negative ones.
int64_t value(fuzz::Input& in) {
  switch (in.byte() % 4) {
    case 0:
      return static_cast<int64_t>(in.u64());
    case 1:
      return in.in(-3, 3);
    default:
      return in.in(0, 40);
  }
}

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "convt2d shape finding: %s\n", what.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  Problem pr;
  Params& p = pr.params;
  pr.mb = value(in);
  pr.ih = value(in);
  pr.iw = value(in);
  p.in_channels = value(in);
  p.out_channels = value(in);
  p.kernel_size = {value(in), value(in)};
  p.stride = {value(in), value(in)};
  p.padding = {value(in), value(in)};
  p.output_padding = {value(in), value(in)};
  p.dilation = {value(in), value(in)};
  p.groups = value(in);
  p.output_padding_rule =
      in.byte() % 2 ? OutputPaddingRule::kPyTorch : OutputPaddingRule::kMegEngine;
  Shape shape;
  try {
    shape = output_shape(pr);
    validate(pr);
    weight_shape(p);
    // Sizes that pass validation must also pass the memory cap check without UB.
    check_tensor_bytes(shape, DType::kFloat64, kDefaultMaxBytes, "output");
  } catch (const Error& e) {
    if (e.subject().empty() || std::string(e.what()).empty()) finding("error without a subject");
    if (!shape.empty()) {
      // Only the byte cap may reject a problem whose shape was computed.
      const std::string& s = e.subject();
      const auto starts = [&](const char* prefix) { return s.rfind(prefix, 0) == 0; };
      if (!starts("--max-bytes") && !starts("input") && !starts("weight") && !starts("output")) {
        finding("shape computed but then rejected: " + std::string(e.what()));
      }
    }
    return 0;
  }
  // Accepted: the rules hold and the shape equals the formula in 128-bit arithmetic.
  const auto extent = [](__int128 i, __int128 k, __int128 s, __int128 pad, __int128 op,
                         __int128 d) { return (i - 1) * s - 2 * pad + d * (k - 1) + op + 1; };
  const __int128 oh =
      extent(pr.ih, p.kernel_size.h, p.stride.h, p.padding.h, p.output_padding.h, p.dilation.h);
  const __int128 ow =
      extent(pr.iw, p.kernel_size.w, p.stride.w, p.padding.w, p.output_padding.w, p.dilation.w);
  if (shape != Shape{pr.mb, p.out_channels, static_cast<int64_t>(oh), static_cast<int64_t>(ow)} ||
      oh < 1 || ow < 1 || pr.mb < 0 || p.groups < 1 || p.in_channels % p.groups != 0 ||
      p.out_channels % p.groups != 0 || p.padding.h < 0 || p.padding.w < 0) {
    finding("accepted an invalid problem or computed a wrong shape: " + format_problem(pr));
  }
  const bool op_ok_h =
      p.output_padding.h < p.stride.h ||
      (p.output_padding_rule == OutputPaddingRule::kPyTorch && p.output_padding.h < p.dilation.h);
  const bool op_ok_w =
      p.output_padding.w < p.stride.w ||
      (p.output_padding_rule == OutputPaddingRule::kPyTorch && p.output_padding.w < p.dilation.w);
  if (!op_ok_h || !op_ok_w || p.output_padding.h < 0 || p.output_padding.w < 0) {
    finding("accepted an output_padding that breaks the rule: " + format_problem(pr));
  }
  return 0;
}
