// Shape formula, validation errors and tensor/problem shape checks.
#include "convt2d/params.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>

#include "convt2d/error.h"
#include "convt2d/fill.h"
#include "convt2d/pass.h"
#include "convt2d/tensor.h"

namespace convt2d {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// Runs f, expects convt2d::Error whose subject is `subject` and whose message contains every
// fragment.
void ExpectError(const std::function<void()>& f, const std::string& subject,
                 std::initializer_list<std::string> fragments) {
  try {
    f();
    ADD_FAILURE() << "no error thrown; expected one about " << subject;
  } catch (const Error& e) {
    EXPECT_EQ(e.subject(), subject) << e.what();
    for (const auto& frag : fragments) EXPECT_THAT(e.what(), HasSubstr(frag));
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "message must be one line";
  }
}

Problem MakeProblem(int64_t mb, int64_t ic, int64_t h, int64_t w, int64_t oc, Pair k, Pair s = 1,
                    Pair p = 0, Pair op = 0, Pair d = 1, int64_t g = 1) {
  Problem pr;
  pr.mb = mb;
  pr.ih = h;
  pr.iw = w;
  pr.params.in_channels = ic;
  pr.params.out_channels = oc;
  pr.params.kernel_size = k;
  pr.params.stride = s;
  pr.params.padding = p;
  pr.params.output_padding = op;
  pr.params.dilation = d;
  pr.params.groups = g;
  return pr;
}

struct ShapeCase {
  Problem pr;
  Shape expected;
};

TEST(OutputShape, FormulaTable) {
  const ShapeCase cases[] = {
      // MegEngine's own test: N 20, IC 16, OC 33, k (3,5), s (2,3), p (4,2), op (1,2), 50x100.
      {MakeProblem(20, 16, 50, 100, 33, {3, 5}, {2, 3}, {4, 2}, {1, 2}), {20, 33, 94, 300}},
      // DCGAN up-sampling layer: 4 -> 8.
      {MakeProblem(1, 512, 4, 4, 256, 4, 2, 1), {1, 256, 8, 8}},
      // Hand example of reference_test: 2x2, k3 s2 p1 op1 -> 4x4.
      {MakeProblem(1, 1, 2, 2, 1, 3, 2, 1, 1), {1, 1, 4, 4}},
      // Dilation: (H-1)*1 + 2*(3-1) + 1 = H + 4.
      {MakeProblem(2, 3, 5, 7, 6, 3, 1, 0, 0, 2, 3), {2, 6, 9, 11}},
      // Stride larger than kernel: (2-1)*3 + 0 + 1 = 4.
      {MakeProblem(1, 1, 2, 2, 1, 1, 3), {1, 1, 4, 4}},
      // N = 0 is valid.
      {MakeProblem(0, 4, 3, 3, 2, 2, 2), {0, 2, 6, 6}},
      // op in W only, with op in H = 0 (MegEngine's functional drops it; we do not).
      {MakeProblem(1, 2, 3, 3, 2, 3, 2, 1, {0, 1}), {1, 2, 5, 6}},
      // groups > 1 with output_padding: the shape does not depend on groups.
      {MakeProblem(1, 4, 3, 3, 8, 3, 2, 1, 1, 1, 4), {1, 8, 6, 6}},
      // Padding so large only one row survives: (3-1)*1 - 2*1 + 0 + 0 + 1 = 1.
      {MakeProblem(1, 1, 3, 3, 1, 1, 1, 1), {1, 1, 1, 1}},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(output_shape(c.pr), c.expected) << format_problem(c.pr);
  }
}

TEST(Shapes, WeightAndBias) {
  Params p;
  p.in_channels = 6;
  p.out_channels = 4;
  p.kernel_size = {3, 5};
  EXPECT_EQ(weight_shape(p), (Shape{6, 4, 3, 5}));
  EXPECT_EQ(bias_shape(p), (Shape{1, 4, 1, 1}));
  p.groups = 2;
  EXPECT_EQ(weight_shape(p), (Shape{2, 3, 2, 3, 5}));
  EXPECT_EQ(input_shape(MakeProblem(7, 6, 8, 9, 4, 1)), (Shape{7, 6, 8, 9}));
}

TEST(Validate, SizesBelowOne) {
  auto pr = MakeProblem(1, 4, 5, 5, 4, 3);
  ExpectError(
      [&] {
        auto q = pr;
        q.params.in_channels = 0;
        validate(q);
      },
      "in_channels", {"in_channels", ">= 1", "got 0"});
  ExpectError(
      [&] {
        auto q = pr;
        q.params.out_channels = -2;
        validate(q);
      },
      "out_channels", {"out_channels", "got -2"});
  ExpectError(
      [&] {
        auto q = pr;
        q.params.groups = 0;
        validate(q);
      },
      "groups", {"got 0"});
  ExpectError(
      [&] {
        auto q = pr;
        q.params.kernel_size = {3, 0};
        validate(q);
      },
      "kernel_size", {"kernel_size", "(3, 0)"});
  ExpectError(
      [&] {
        auto q = pr;
        q.params.stride = {0, 1};
        validate(q);
      },
      "stride", {"stride", "(0, 1)"});
  ExpectError(
      [&] {
        auto q = pr;
        q.params.dilation = {1, 0};
        validate(q);
      },
      "dilation", {"dilation", "(1, 0)"});
  ExpectError(
      [&] {
        auto q = pr;
        q.ih = 0;
        validate(q);
      },
      "input height", {"got 0"});
  ExpectError(
      [&] {
        auto q = pr;
        q.iw = -1;
        validate(q);
      },
      "input width", {"got -1"});
  ExpectError(
      [&] {
        auto q = pr;
        q.mb = -1;
        validate(q);
      },
      "batch (mb)", {"got -1"});
}

TEST(Validate, NegativePadding) {
  auto pr = MakeProblem(1, 4, 5, 5, 4, 3);
  ExpectError(
      [&] {
        auto q = pr;
        q.params.padding = {-1, 0};
        validate(q);
      },
      "padding", {"padding", ">= 0", "(-1, 0)"});
  ExpectError(
      [&] {
        auto q = pr;
        q.params.output_padding = {0, -1};
        validate(q);
      },
      "output_padding", {"output_padding", "(0, -1)"});
}

TEST(Validate, GroupsDivisibility) {
  ExpectError([] { validate(MakeProblem(1, 10, 5, 5, 6, 3, 1, 0, 0, 1, 3)); }, "groups",
              {"in_channels=10", "groups=3"});
  ExpectError([] { validate(MakeProblem(1, 6, 5, 5, 10, 3, 1, 0, 0, 1, 3)); }, "groups",
              {"out_channels=10", "groups=3"});
}

TEST(Validate, OutputPaddingRule) {
  // MegEngine: op < stride in each dimension.
  EXPECT_NO_THROW(validate(MakeProblem(1, 1, 4, 4, 1, 3, 2, 1, 1)));
  ExpectError(
      [] {
        validate(MakeProblem(1, 1, 4, 4, 1, 3, 2, 1, {2, 1}));
      },
      "output_padding", {"output_padding=(2, 1)", "stride=(2, 2)", "megengine"});
  ExpectError(
      [] {
        validate(MakeProblem(1, 1, 4, 4, 1, 3, 1, 1, {0, 1}, 2));
      },
      "output_padding", {"(0, 1)", "megengine"});
  // PyTorch also allows op < dilation, only when asked for.
  auto pr = MakeProblem(1, 1, 4, 4, 1, 3, 1, 1, {0, 1}, 2);
  pr.params.output_padding_rule = OutputPaddingRule::kPyTorch;
  EXPECT_NO_THROW(validate(pr));
  EXPECT_EQ(output_shape(pr), (Shape{1, 1, 6, 7}));
  pr.params.output_padding = {2, 0};  // not < stride 1, not < dilation 2
  ExpectError([&] { validate(pr); }, "output_padding", {"(2, 0)", "dilation=(2, 2)", "pytorch"});
}

TEST(Validate, OutputSmallerThanOne) {
  // (3-1)*1 - 2*2 + 0 + 0 + 1 = -1.
  ExpectError([] { validate(MakeProblem(1, 1, 3, 3, 1, 1, 1, 2)); }, "padding",
              {"output height", "= -1", "padding ph=2"});
}

TEST(Validate, ModeStrings) {
  EXPECT_EQ(parse_conv_mode("cross_correlation"), ConvMode::kCrossCorrelation);
  EXPECT_EQ(parse_compute_mode("default"), ComputeMode::kDefault);
  EXPECT_EQ(parse_compute_mode("float32"), ComputeMode::kFloat32);
  EXPECT_EQ(parse_output_padding_rule("pytorch"), OutputPaddingRule::kPyTorch);
  ExpectError([] { parse_conv_mode("convolution"); }, "conv_mode", {"'convolution'"});
  ExpectError([] { parse_compute_mode("float16"); }, "compute_mode", {"'float16'"});
  ExpectError([] { parse_output_padding_rule("tf"); }, "output_padding_rule", {"'tf'"});
}

TEST(Validate, Int64Overflow) {
  constexpr int64_t kBig = std::numeric_limits<int64_t>::max() / 2;
  // (H-1)*s overflows.
  ExpectError([] { validate(MakeProblem(1, 1, kBig, 1, 1, 1, 4)); }, "output size in H",
              {"overflows int64"});
  // d*(k-1) overflows in W.
  ExpectError(
      [] {
        validate(MakeProblem(1, 1, 1, 1, 1, {1, 3}, 1, 0, 0, {1, kBig + 1}));
      },
      "output size in W", {"overflows int64"});
  // Every size fits, but the element count of the output does not.
  ExpectError([] { validate(MakeProblem(1 << 20, 1 << 20, 1 << 20, 1 << 20, 1, 1)); }, "input",
              {"overflows int64"});
  // 2*p overflows.
  ExpectError([] { validate(MakeProblem(1, 1, 3, 3, 1, 1, 1, kBig + 1)); }, "output size in H",
              {"overflows int64"});
}

TEST(ProblemFromShapes, AcceptsMatchingTensors) {
  Params p;
  p.in_channels = 4;
  p.out_channels = 6;
  p.kernel_size = {3, 2};
  p.groups = 2;
  const Shape b = {1, 6, 1, 1};
  const Problem pr = problem_from_shapes(p, {0, 4, 5, 7}, {2, 2, 3, 3, 2}, &b);
  EXPECT_EQ(pr.mb, 0);
  EXPECT_EQ(pr.ih, 5);
  EXPECT_EQ(pr.iw, 7);
  EXPECT_EQ(output_shape(pr), (Shape{0, 6, 7, 8}));
}

TEST(ProblemFromShapes, RejectsMismatches) {
  Params p;
  p.in_channels = 4;
  p.out_channels = 6;
  p.kernel_size = {3, 2};
  const Shape b = {1, 6, 1, 1};
  ExpectError(
      [&] {
        problem_from_shapes(p, {4, 5, 7}, {4, 6, 3, 2}, &b);
      },
      "input", {"4-D", "(4, 5, 7)"});
  ExpectError(
      [&] {
        problem_from_shapes(p, {1, 3, 5, 7}, {4, 6, 3, 2}, &b);
      },
      "input", {"in_channels=4"});
  ExpectError(
      [&] {
        problem_from_shapes(p, {1, 4, 5, 7}, {4, 6, 2, 3}, &b);
      },
      "weight", {"(4, 6, 2, 3)", "(4, 6, 3, 2)"});
  // groups == 2 needs the 5-D weight.
  auto pg = p;
  pg.groups = 2;
  ExpectError(
      [&] {
        problem_from_shapes(pg, {1, 4, 5, 7}, {4, 3, 3, 2}, &b);
      },
      "weight", {"(2, 2, 3, 3, 2)"});
  const Shape bad_b = {6};
  ExpectError(
      [&] {
        problem_from_shapes(p, {1, 4, 5, 7}, {4, 6, 3, 2}, &bad_b);
      },
      "bias", {"(6,)", "(1, 6, 1, 1)"});
  ExpectError(
      [&] {
        problem_from_shapes(p, {1, 4, 5, 7}, {4, 6, 3, 2}, nullptr);
      },
      "bias", {"no bias"});
  p.bias = false;
  EXPECT_NO_THROW(problem_from_shapes(p, {1, 4, 5, 7}, {4, 6, 3, 2}, nullptr));
}

TEST(Macs, CountsUsefulMultiplyAdds) {
  // 2 * 8 * (6/2) * 3*3 * 5*4
  EXPECT_DOUBLE_EQ(macs(MakeProblem(2, 8, 5, 4, 6, 3, 2, 1, 0, 1, 2)), 2.0 * 8 * 3 * 9 * 20);
}

// An unknown value of a named setting is quoted in part: the message stays one short line
// whatever the value's length (the parser fuzzer found a 400-byte conv_mode message).
TEST(Params, UnknownSettingValuesAreQuotedShortly) {
  const std::string huge(10000, 'x');
  const std::function<void()> parsers[] = {
      [&] { parse_conv_mode(huge); },
      [&] { parse_compute_mode(huge); },
      [&] { parse_output_padding_rule(huge); },
      [&] { parse_regime(huge); },
      [&] { parse_pass(huge); },
      [&] { parse_dtype(huge); },
  };
  for (const auto& parse : parsers) {
    try {
      parse();
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_LT(msg.size(), 200u) << msg.substr(0, 300);
      EXPECT_THAT(msg, HasSubstr("xxxxxxxxxx"));  // still shows the start of the value
      EXPECT_EQ(msg.find('\n'), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace convt2d
