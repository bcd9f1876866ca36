// The literal backward passes (convt2d/backward.h): a hand example, exact adjointness with the
// forward pass on integer data, bwd_data against the independent Conv2d, and the shapes.
#include "convt2d/backward.h"

#include <gtest/gtest.h>

#include <random>

#include "convt2d/error.h"
#include "convt2d/fill.h"

namespace convt2d {
namespace {

TEST(Backward, HandExample) {
  // x = (1, 2), w = (3, 5), stride 1: y = (3, 11, 10). With dy = (1, 10, 100):
  //   dx = (3*1 + 5*10, 3*10 + 5*100) = (53, 530), dw = (1*1 + 2*10, 1*10 + 2*100) = (21, 210),
  //   db = 111, and <y, dy> = <x, dx> = <w, dw> = 1113.
  Params p;
  p.kernel_size = {1, 2};
  const Tensor<float> x(Shape{1, 1, 1, 2}, {1, 2});
  const Tensor<float> w(Shape{1, 1, 1, 2}, {3, 5});
  const Tensor<float> dy(Shape{1, 1, 1, 3}, {1, 10, 100});
  EXPECT_EQ((conv_transpose2d_bwd_data<float, float>(p, dy, w).data),
            (std::vector<float>{53, 530}));
  EXPECT_EQ((conv_transpose2d_bwd_weights<float, float>(p, x, dy).data),
            (std::vector<float>{21, 210}));
  EXPECT_EQ((conv_transpose2d_bwd_bias<float, float>(p, dy).data), (std::vector<float>{111}));
  EXPECT_EQ((conv_transpose2d_bwd_data<float, float>(p, dy, w).shape), (Shape{1, 1, 1, 2}));
  EXPECT_EQ((conv_transpose2d_bwd_bias<float, float>(p, dy).shape), (Shape{1, 1, 1, 1}));
}

TEST(Backward, HandExampleWithStridePaddingAndGroups) {
  // Two groups of one channel, kernel 3, stride 2, padding 1, output_padding 1, a 2-pixel row:
  // output columns ow = 2*iw - 1 + fw (0 <= ow < 4). Group 0: w = (1, 2, 4), dy = (1, 10, 100,
  // 1000): dx[0] = w1*dy0 + w2*dy1 = 2 + 40 = 42 (fw = 0 lands at -1), dx[1] = w0*dy1 + w1*dy2 +
  // w2*dy3 = 10 + 200 + 4000 = 4210.
  Params p;
  p.in_channels = p.out_channels = p.groups = 2;
  p.kernel_size = {1, 3};
  p.stride = {1, 2};
  p.padding = {0, 1};
  p.output_padding = {0, 1};
  const Tensor<double> w(Shape{2, 1, 1, 1, 3}, {1, 2, 4, 0, 0, 1});
  const Tensor<double> dy(Shape{1, 2, 1, 4}, {1, 10, 100, 1000, 7, 8, 9, 6});
  const Tensor<double> dx = conv_transpose2d_bwd_data<double, double>(p, dy, w);
  ASSERT_EQ(dx.shape, (Shape{1, 2, 1, 2}));
  EXPECT_EQ(dx.data[0], 42);
  EXPECT_EQ(dx.data[1], 4210);
  EXPECT_EQ(dx.data[2], 8);  // group 1: w = (0, 0, 1): dx[0] = w2*dy1 = 8, dx[1] = w2*dy3 = 6
  EXPECT_EQ(dx.data[3], 6);
  const Tensor<double> x(Shape{1, 2, 1, 2}, {3, 5, 2, 1});
  const Tensor<double> dw = conv_transpose2d_bwd_weights<double, double>(p, x, dy);
  // Group 0, tap fw: sum over iw of x[iw] * dy[2*iw - 1 + fw]: fw = 0: x1*dy1 = 50; fw = 1:
  // x0*dy0 + x1*dy2 = 3 + 500; fw = 2: x0*dy1 + x1*dy3 = 30 + 5000.
  EXPECT_EQ(dw.data[0], 50);
  EXPECT_EQ(dw.data[1], 503);
  EXPECT_EQ(dw.data[2], 5030);
}

// <ConvT(x), dy> = <x, bwd_data(dy)> and, as a function of w, <ConvT_w(x), dy> = <w,
// bwd_weights(x, dy)>; bwd_bias is the spatial sum. Exact on integer data over random problems
// (groups, dilation, padding beyond the kernel, output_padding, stride > kernel).
TEST(Backward, AdjointToTheForwardPassExactly) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    const Problem pr = random_problem(seed);
    Params p = pr.params;
    p.bias = false;
    const auto d = make_data<float>(pr, Regime::kInteger, seed);
    const Tensor<float> dy =
        make_tensor<float>(output_shape(pr), Regime::kInteger, seed + 11, integer_range(pr));
    const Tensor<Exact> y = conv_transpose2d<float, Exact>(p, d.x, d.w, nullptr);
    const Tensor<Exact> dx = conv_transpose2d_bwd_data<float, Exact>(p, dy, d.w);
    const Tensor<Exact> dw = conv_transpose2d_bwd_weights<float, Exact>(p, d.x, dy);
    const Tensor<Exact> db = conv_transpose2d_bwd_bias<float, Exact>(p, dy);
    ASSERT_EQ(dx.shape, d.x.shape) << format_problem(pr);
    ASSERT_EQ(dw.shape, d.w.shape) << format_problem(pr);
    const auto dot = [](const Tensor<Exact>& a, const Tensor<float>& b) {
      Exact s = 0;
      for (size_t i = 0; i < a.data.size(); ++i) s += a.data[i] * Exact(b.data[i]);
      return s;
    };
    const Exact lhs = dot(y, dy);
    EXPECT_EQ(lhs, dot(dx, d.x)) << format_problem(pr);
    EXPECT_EQ(lhs, dot(dw, d.w)) << format_problem(pr);
    // db[oc] = sum of dy over its plane.
    const int64_t plane = dy.shape[2] * dy.shape[3];
    for (int64_t oc = 0; oc < dy.shape[1]; ++oc) {
      Exact s = 0;
      for (int64_t n = 0; n < dy.shape[0]; ++n)
        for (int64_t k = 0; k < plane; ++k) s += Exact(dy.data[(n * dy.shape[1] + oc) * plane + k]);
      EXPECT_EQ(db.data[static_cast<size_t>(oc)], s) << format_problem(pr);
    }
  }
}

TEST(Backward, DataGradientEqualsTheIndependentConv2d) {
  // With op < stride, Conv2d with the same parameters maps dy back to x's shape and is the same
  // sum (reference.cc's gather, written separately).
  for (uint64_t seed = 100; seed < 130; ++seed) {
    const Problem pr = random_problem(seed);
    if (pr.params.output_padding_rule != OutputPaddingRule::kMegEngine) continue;
    Params p = pr.params;
    p.bias = false;
    const auto d = make_data<float>(pr, Regime::kReal, seed);
    const Tensor<float> dy = make_tensor<float>(output_shape(pr), Regime::kReal, seed + 1, 3);
    EXPECT_EQ((conv_transpose2d_bwd_data<float, Exact>(p, dy, d.w)),
              (conv2d<float, Exact>(p, dy, d.w, nullptr)))
        << format_problem(pr);
  }
}

TEST(Backward, ExactResultsMatchTheMultiprecisionSums) {
  // The fixed-point sums of conv_transpose2d_pass_exact against 640-bit ones, with double pairs.
  const Problem pr = parse_problem("mb2ic4ih3oc6kh3sh2ph1oph1g2");
  const auto d = make_data<float>(pr, Regime::kCancellation, 3);
  const Tensor<float> dy = make_tensor<float>(output_shape(pr), Regime::kReal, 4, 3);
  Params p = pr.params;
  for (Pass pass : {Pass::kBwdData, Pass::kBwdWeights, Pass::kBwdBias}) {
    const ExactResult e = conv_transpose2d_pass_exact<float>(pass, p, &d.x, &d.w, nullptr, &dy);
    const Tensor<Exact> slow =
        conv_transpose2d_pass<float, Exact>(pass, p, &d.x, &d.w, nullptr, &dy);
    EXPECT_EQ(e.value, slow) << to_string(pass);
    for (size_t i = 0; i < e.value.data.size(); ++i) {
      if (!std::isnan(e.lo.data[i])) {
        EXPECT_EQ(Exact(e.hi.data[i]) + Exact(e.lo.data[i]), e.value.data[i]) << to_string(pass);
      }
    }
  }
}

TEST(Backward, ShapesAndErrors) {
  const Problem pr = parse_problem("mb2ic6ih5iw4oc4kh3kw2sh2sw3ph1oph1opw2g2");
  EXPECT_EQ(result_shape(pr, Pass::kForward), output_shape(pr));
  EXPECT_EQ(result_shape(pr, Pass::kBwdData), input_shape(pr));
  EXPECT_EQ(result_shape(pr, Pass::kBwdWeights), weight_shape(pr.params));
  EXPECT_EQ(result_shape(pr, Pass::kBwdBias), (Shape{1, 4, 1, 1}));
  // The input size is solved from the output's.
  const Problem back = problem_from_output(pr.params, output_shape(pr));
  EXPECT_EQ(back.mb, 2);
  EXPECT_EQ(back.ih, 5);
  EXPECT_EQ(back.iw, 4);
  // An output size no input gives, a wrong channel count, a 3-D dy.
  Shape bad = output_shape(pr);
  bad[2] += 1;  // stride 2: odd offsets are not outputs of any H
  EXPECT_THROW(problem_from_output(pr.params, bad), Error);
  try {
    problem_from_output(pr.params, Shape{2, 5, 10, 10});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.subject(), "dy");
  }
  EXPECT_THROW(problem_from_output(pr.params, Shape{2, 4, 10}), Error);
  // Missing operands and mismatched shapes name the tensor.
  const auto d = make_data<float>(pr, Regime::kInteger, 1);
  try {
    conv_transpose2d_pass<float, float>(Pass::kBwdWeights, pr.params, &d.x, nullptr, nullptr,
                                        nullptr);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.subject(), "dy");
  }
  const Tensor<float> dy_wrong(Shape{2, 4, 3, 3});
  EXPECT_THROW((conv_transpose2d_bwd_weights<float, float>(pr.params, d.x, dy_wrong)), Error);
  EXPECT_EQ(parse_pass("bwd_weights"), Pass::kBwdWeights);
  EXPECT_THROW(parse_pass("backward"), Error);
}

}  // namespace
}  // namespace convt2d
