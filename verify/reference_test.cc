// Worked-by-hand examples for the literal references (every expected number below was computed
// by hand from the scatter definition; the derivations are in the comments).
#include "convt2d/reference.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "convt2d/error.h"
#include "convt2d/params.h"

namespace convt2d {
namespace {

Tensor<double> T(Shape s, std::vector<double> v) {
  return Tensor<double>(std::move(s), std::move(v));
}

// Runs every instantiation of the reference on `x, w, b` (given as doubles holding small integers
// or dyadic values, so that every precision computes the same exact result) and checks it.
void ExpectAllReferences(const Params& p, const Tensor<double>& x, const Tensor<double>& w,
                         const Tensor<double>* b, const Tensor<double>& expected) {
  const auto xf = tensor_cast<float>(x), wf = tensor_cast<float>(w);
  const Tensor<float> bf = b ? tensor_cast<float>(*b) : Tensor<float>();
  const Tensor<float>* bfp = b ? &bf : nullptr;
  EXPECT_EQ((tensor_cast<double>(conv_transpose2d<float, float>(p, xf, wf, bfp))), expected);
  EXPECT_EQ((tensor_cast<double>(conv_transpose2d<float, double>(p, xf, wf, bfp))), expected);
  EXPECT_EQ((tensor_cast<double>(conv_transpose2d<float, long double>(p, xf, wf, bfp))), expected);
  EXPECT_EQ((tensor_cast<double>(conv_transpose2d<float, Exact>(p, xf, wf, bfp))), expected);
  EXPECT_EQ((conv_transpose2d<double, double>(p, x, w, b)), expected);
  EXPECT_EQ((tensor_cast<double>(conv_transpose2d<double, long double>(p, x, w, b))), expected);
  EXPECT_EQ((tensor_cast<double>(conv_transpose2d<double, Exact>(p, x, w, b))), expected);
}

// The float16/bfloat16 references on data whose every partial sum is exact in T (both compute
// modes and the exact accumulator must give `expected`).
template <class T>
void ExpectHalfReferences(const Params& p, const Tensor<double>& x, const Tensor<double>& w,
                          const Tensor<double>* b, const Tensor<double>& expected) {
  const auto xh = tensor_cast<T>(x), wh = tensor_cast<T>(w);
  const Tensor<T> bh = b ? tensor_cast<T>(*b) : Tensor<T>();
  const Tensor<T>* bp = b ? &bh : nullptr;
  EXPECT_EQ((tensor_cast<double>(conv_transpose2d<T, T>(p, xh, wh, bp))), expected);
  EXPECT_EQ((tensor_cast<double>(conv_transpose2d_rounded<T, T>(p, xh, wh, bp))), expected);
  EXPECT_EQ((tensor_cast<double>(conv_transpose2d_rounded<T, float>(p, xh, wh, bp))), expected);
  EXPECT_EQ((tensor_cast<double>(conv_transpose2d<T, Exact>(p, xh, wh, bp))), expected);
}

TEST(ReferenceByHand, Stride2Padding1OutputPadding1) {
  // 2x2 input, 3x3 kernel, s2 p1 op1 -> 4x4. Output row oh gets (ih, fh) with oh = 2*ih - 1 + fh:
  // row 0: (0,1); row 1: (0,2), (1,0); row 2: (1,1); row 3 (the output_padding row): (1,2).
  // Columns alike. With x = [[1,2],[3,4]] and w[fh][fw] = 3*fh + fw + 1:
  //   y00 = 1*5 = 5, y01 = 1*6 + 2*4 = 14, y11 = 1*9 + 2*7 + 3*3 + 4*1 = 36, y33 = 4*9 = 36, ...
  Params p;
  p.kernel_size = 3;
  p.stride = 2;
  p.padding = 1;
  p.output_padding = 1;
  const auto x = T({1, 1, 2, 2}, {1, 2, 3, 4});
  const auto w = T({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  const auto b = T({1, 1, 1, 1}, {0.5});
  const auto y = T({1, 1, 4, 4}, {5.5, 14.5, 10.5, 12.5,   //
                                  14.5, 36.5, 24.5, 30.5,  //
                                  15.5, 34.5, 20.5, 24.5,  //
                                  24.5, 55.5, 32.5, 36.5});
  ExpectAllReferences(p, x, w, &b, y);
  // Every value and partial sum here has at most 7 significant bits: exact in both half types.
  ExpectHalfReferences<float16>(p, x, w, &b, y);
  ExpectHalfReferences<bfloat16>(p, x, w, &b, y);
}

// MegEngine's two compute modes for narrow storage, by hand. One output element, three taps
// (1x1 kernel, IC = 3): x = (2048, 1, 1), w = (1, 1, 1), bias 1. Exact: 2051. In float16 the
// spacing between 2048 and 4096 is 2, ties go to an even significand (2048 = 1024*2, 2052 =
// 1026*2 are even; 2050 = 1025*2 is odd).
//   default (float16 accumulator, bias added last): 2048 + 1 = 2049 -> 2048; 2048 + 1 -> 2048;
//     bias: 2048 + 1 -> 2048.
//   float32 (float32 accumulator): 2048 + 1 + 1 = 2050, rounded to float16: 2050; bias:
//     2050 + 1 = 2051 -> 2052.
// And with x = (2048, 1, 0): the float32 accumulator holds 2049 -> 2048 (tie to even), plus the
// bias 2049 -> 2048, where a bias inside the float32 accumulator would give 2050 -> 2050.
template <class T>
void ExpectComputeModesByHand(double big) {
  Params p;
  p.in_channels = 3;
  const Tensor<T> w(Shape{3, 1, 1, 1}, {T(1.0), T(1.0), T(1.0)});
  const Tensor<T> b(Shape{1, 1, 1, 1}, {T(1.0)});
  Tensor<T> x(Shape{1, 3, 1, 1}, {T(big), T(1.0), T(1.0)});
  EXPECT_EQ((static_cast<double>(conv_transpose2d<T, T>(p, x, w, &b).data[0])), big);
  EXPECT_EQ((static_cast<double>(conv_transpose2d_rounded<T, T>(p, x, w, &b).data[0])), big);
  EXPECT_EQ((static_cast<double>(conv_transpose2d_rounded<T, float>(p, x, w, &b).data[0])),
            big + 4);
  EXPECT_EQ((static_cast<double>(conv_transpose2d<T, Exact>(p, x, w, &b).data[0])), big + 3);
  x.data[2] = T(0.0);
  EXPECT_EQ((static_cast<double>(conv_transpose2d_rounded<T, float>(p, x, w, &b).data[0])), big);
  EXPECT_EQ((static_cast<double>(round_to<T>(conv_transpose2d<T, float>(p, x, w, &b)).data[0])),
            big + 2);
}

TEST(ReferenceHalf, ComputeModesByHandFloat16) {
  ExpectComputeModesByHand<float16>(2048);
}

TEST(ReferenceHalf, ComputeModesByHandBFloat16) {
  // bfloat16 has 8 significand bits: the same picture between 256 and 512 (spacing 2).
  ExpectComputeModesByHand<bfloat16>(256);
}

TEST(ReferenceHalf, TheBiasIsAddedToTheRoundedResultNotToTheExactOne) {
  // One tap: x = w = 1 + 2^-10 in float16, so x*w = 1 + 2^-9 + 2^-20, and bias 2^-11.
  // Both modes round the convolution result to float16 first: 1 + 2^-9 (2^-20 is far below half
  // an ulp, 2^-11). Adding the bias gives 1 + 2^-9 + 2^-11, exactly halfway between 1 + 2^-9
  // (significand 2, even) and 1 + 2^-9 + 2^-10 (3, odd): the tie goes to 1 + 2^-9. A single
  // rounding of the exact value 1 + 2^-9 + 2^-11 + 2^-20 would go up instead.
  Params p;
  const float16 v(1.0 + 0x1p-10);
  const Tensor<float16> x(Shape{1, 1, 1, 1}, {v}), w(Shape{1, 1, 1, 1}, {v});
  const Tensor<float16> b(Shape{1, 1, 1, 1}, {float16(0x1p-11)});
  EXPECT_EQ((conv_transpose2d<float16, float16>(p, x, w, &b).data[0].to_float()), 1.0f + 0x1p-9f);
  EXPECT_EQ((conv_transpose2d_rounded<float16, float>(p, x, w, &b).data[0].to_float()),
            1.0f + 0x1p-9f);
  // Exact: 1 + 2^-9 + 2^-11 + 2^-20, so a single rounding of the exact value goes up.
  EXPECT_EQ(float16(static_cast<double>(conv_transpose2d<float16, Exact>(p, x, w, &b).data[0]))
                .to_float(),
            1.0f + 0x1p-9f + 0x1p-10f);
}

TEST(ReferenceHalf, NoTapMeansTheBiasInEveryMode) {
  // Stride 3 > kernel 1: output columns 1 and 2 get no tap; their value is the bias, exactly.
  Params p;
  p.stride = 3;
  const Tensor<float16> x(Shape{1, 1, 1, 2}, {float16(3.0), float16(5.0)});
  const Tensor<float16> w(Shape{1, 1, 1, 1}, {float16(0.1)});
  const Tensor<float16> b(Shape{1, 1, 1, 1}, {float16(0.3)});
  for (const Tensor<float16>& y : {conv_transpose2d<float16, float16>(p, x, w, &b),
                                   conv_transpose2d_rounded<float16, float>(p, x, w, &b)}) {
    ASSERT_EQ(y.shape, (Shape{1, 1, 1, 4}));
    EXPECT_EQ(y.data[1].bits(), b.data[0].bits());
    EXPECT_EQ(y.data[2].bits(), b.data[0].bits());
  }
}

TEST(ReferenceByHand, GroupsMergeInputChannels) {
  // G=2, IC=4, OC=2, 1x1 kernel and input: weight (2, 2, 1, 1, 1) = [1, 10, 100, 1000].
  // y0 = x0*w[0,0,0] + x1*w[0,1,0] = 1 + 20 = 21; y1 = x2*w[1,0,0] + x3*w[1,1,0] = 300 + 4000.
  Params p;
  p.in_channels = 4;
  p.out_channels = 2;
  p.groups = 2;
  p.bias = false;
  const auto x = T({1, 4, 1, 1}, {1, 2, 3, 4});
  const auto w = T({2, 2, 1, 1, 1}, {1, 10, 100, 1000});
  ExpectAllReferences(p, x, w, nullptr, T({1, 2, 1, 1}, {21, 4300}));
}

TEST(ReferenceByHand, GroupsSplitOutputChannels) {
  // G=2, IC=2, OC=4: weight (2, 1, 2, 1, 1) = [1, 10, 100, 1000];
  // y = [x0*1, x0*10, x1*100, x1*1000] + bias.
  Params p;
  p.in_channels = 2;
  p.out_channels = 4;
  p.groups = 2;
  const auto x = T({1, 2, 1, 1}, {2, 3});
  const auto w = T({2, 1, 2, 1, 1}, {1, 10, 100, 1000});
  const auto b = T({1, 4, 1, 1}, {1, 2, 3, 4});
  ExpectAllReferences(p, x, w, &b, T({1, 4, 1, 1}, {3, 22, 303, 3004}));
}

TEST(ReferenceByHand, Dilation2) {
  // 1x2 input, kernel (1, 2), dilation (1, 2): ow = iw + 2*fw, Wout = 1 + 2 + 1 = 4.
  // y = [x0*w0, x1*w0, x0*w1, x1*w1] = [3, 6, 5, 10].
  Params p;
  p.kernel_size = {1, 2};
  p.dilation = {1, 2};
  p.bias = false;
  const auto x = T({1, 1, 1, 2}, {1, 2});
  const auto w = T({1, 1, 1, 2}, {3, 5});
  ExpectAllReferences(p, x, w, nullptr, T({1, 1, 1, 4}, {3, 6, 5, 10}));
}

TEST(ReferenceByHand, PaddingBeyondKernelLeavesBiasOnlyRows) {
  // H=3, kh=2, sh=4, ph=3: Hout = 2*4 - 6 + 1 + 1 = 4 and oh = 4*ih - 3 + fh:
  // ih=0 -> -3, -2 (outside); ih=1 -> 1, 2; ih=2 -> 5, 6 (outside). Rows 0 and 3 get no tap at
  // all and hold the bias alone; input rows 0 and 2 never contribute.
  Params p;
  p.kernel_size = {2, 1};
  p.stride = {4, 1};
  p.padding = {3, 0};
  const auto x = T({1, 1, 3, 1}, {1, 2, 3});
  const auto w = T({1, 1, 2, 1}, {7, 11});
  const auto b = T({1, 1, 1, 1}, {0.25});
  ExpectAllReferences(p, x, w, &b, T({1, 1, 4, 1}, {0.25, 14.25, 22.25, 0.25}));
}

TEST(ReferenceByHand, BatchZeroGivesEmptyOutput) {
  Params p;
  p.in_channels = 2;
  p.out_channels = 3;
  p.kernel_size = 2;
  p.stride = 2;
  const Tensor<float> x(Shape{0, 2, 3, 3}), w(weight_shape(p)), b(bias_shape(p));
  const auto y = conv_transpose2d<float, Exact>(p, x, w, &b);
  EXPECT_EQ(y.shape, (Shape{0, 3, 6, 6}));
  EXPECT_TRUE(y.data.empty());
}

TEST(ReferenceByHand, ShapeMismatchIsAnError) {
  Params p;
  p.in_channels = 2;
  p.kernel_size = 3;
  const Tensor<float> x(Shape{1, 3, 4, 4}), w(weight_shape(p)), b(bias_shape(p));
  EXPECT_THROW((conv_transpose2d<float, float>(p, x, w, &b)), Error);
  const Tensor<float> x2(Shape{1, 2, 4, 4});
  EXPECT_THROW((conv_transpose2d<float, float>(p, x2, w, nullptr)), Error);  // bias required
}

TEST(Conv2dByHand, GatherWithStrideAndPadding) {
  // Conv2d on a 4x4 input, 3x3 kernel, s2 p1: H' = floor((4 + 2 - 2 - 1)/2) + 1 = 2.
  // out[oh][ow] = sum w[fh][fw] * in[2*oh - 1 + fh][2*ow - 1 + fw].
  // in[r][c] = 4r + c + 1; w = all ones except w[1][1] = 2.
  // out00: rows 0..1 (fh 1..2), cols 0..1: in = 1,2,5,6 with w11 on in[0][0]=1 -> 1*2+2+5+6 = 15.
  // out11: rows 1..3, cols 1..3: sum = 6+7+8+10+11+12+14+15+16 = 99, plus in[2][2]=11 again = 110.
  Params p;
  p.kernel_size = 3;
  p.stride = 2;
  p.padding = 1;
  p.bias = false;
  std::vector<double> in(16);
  std::iota(in.begin(), in.end(), 1.0);
  const auto w = T({1, 1, 3, 3}, {1, 1, 1, 1, 2, 1, 1, 1, 1});
  const auto out = conv2d<double, double>(p, T({1, 1, 4, 4}, in), w, nullptr);
  ASSERT_EQ(out.shape, (Shape{1, 1, 2, 2}));
  EXPECT_EQ(out.data[0], 15);
  // out01: rows 0..1, cols 1..3 (fw 0..2): 2+3+4+6+7+8 + in[0][2]=3 (w11) = 33.
  EXPECT_EQ(out.data[1], 33);
  // out10: rows 1..3, cols 0..1: 5+6+9+10+13+14 + in[2][0]=9 = 66.
  EXPECT_EQ(out.data[2], 66);
  EXPECT_EQ(out.data[3], 110);
}

TEST(Conv2dByHand, GroupedChannelsAndBias) {
  // Conv2d maps OC channels back to IC: IC=2, OC=4, G=2, 1x1. Weight (2, 1, 2, 1, 1) = [1, 2, 3,
  // 4]: out0 = w[0,0,0]*in0 + w[0,0,1]*in1 = 1*10 + 2*20; out1 = 3*30 + 4*40; plus bias (1, 2, 1,
  // 1).
  Params p;
  p.in_channels = 2;
  p.out_channels = 4;
  p.groups = 2;
  const auto w = T({2, 1, 2, 1, 1}, {1, 2, 3, 4});
  const auto bias = T({1, 2, 1, 1}, {0.5, -0.5});
  const auto out = conv2d<double, Exact>(p, T({1, 4, 1, 1}, {10, 20, 30, 40}), w, &bias);
  EXPECT_EQ(tensor_cast<double>(out), T({1, 2, 1, 1}, {50.5, 249.5}));
}

TEST(Conv2dByHand, SizesWhoseIntermediatesExceedInt64) {
  // k2, s = d = 2^62, p = 2^62 - 1 on a 2x2 input: ConvTranspose2d's output is
  // (2-1)*2^62 - 2*(2^62-1) + 2^62*(2-1) + 1 = 3 per dimension, and Conv2d maps it back to
  // floor((3 + 2^63 - 2 - 2^62 - 1) / 2^62) + 1 = 2, although 3 + 2p = 2^63 + 1 overflows int64.
  // Only window positions oh*s - p + fh*d = 1 land inside: ConvT(x) is zero but for its centre,
  // x00*w11 + x01*w10 + x10*w01 + x11*w00, and Conv2d(y)[oh][ow] = w[1-oh][1-ow] * y[1][1].
  Params p;
  p.kernel_size = 2;
  p.stride = int64_t{1} << 62;
  p.dilation = int64_t{1} << 62;
  p.padding = (int64_t{1} << 62) - 1;
  p.bias = false;
  const auto x = T({1, 1, 2, 2}, {1, 2, 3, 4});
  const auto w = T({1, 1, 2, 2}, {5, 6, 7, 8});
  const auto tx = conv_transpose2d<double, double>(p, x, w, nullptr);
  EXPECT_EQ(tx, T({1, 1, 3, 3}, {0, 0, 0, 0, 8 + 14 + 18 + 20, 0, 0, 0, 0}));
  // Every other element of y is outside every window.
  const auto y = T({1, 1, 3, 3}, {100, 100, 100, 100, 10, 100, 100, 100, 100});
  const auto ty = conv2d<double, double>(p, y, w, nullptr);
  EXPECT_EQ(ty, T({1, 1, 2, 2}, {80, 70, 60, 50}));
  EXPECT_EQ(tensor_cast<double>(conv2d<double, Exact>(p, y, w, nullptr)), ty);
  // The adjoint identity at these extremes: <ConvT(x), y> = 600 = <x, Conv2d(y)>.
  EXPECT_EQ(std::inner_product(x.data.begin(), x.data.end(), ty.data.begin(), 0.0), 600.0);
}

TEST(Adjoint, HandExampleInnerProducts) {
  // <ConvT(x), y> == <x, Conv2d(y)> exactly on small integers (k3 s2 p1 op1, groups 2).
  Params p;
  p.in_channels = 4;
  p.out_channels = 6;
  p.groups = 2;
  p.kernel_size = {3, 2};
  p.stride = {2, 3};
  p.padding = {1, 0};
  p.output_padding = {1, 2};
  p.bias = false;
  Tensor<double> x(Shape{2, 4, 3, 4}), w(weight_shape(p));
  for (size_t i = 0; i < x.data.size(); ++i) x.data[i] = static_cast<double>(int(i * 7 % 11) - 5);
  for (size_t i = 0; i < w.data.size(); ++i) w.data[i] = static_cast<double>(int(i * 5 % 7) - 3);
  const auto tx = conv_transpose2d<double, double>(p, x, w, nullptr);
  Tensor<double> y(tx.shape);
  for (size_t i = 0; i < y.data.size(); ++i) y.data[i] = static_cast<double>(int(i * 3 % 5) - 2);
  const auto ty = conv2d<double, double>(p, y, w, nullptr);
  ASSERT_EQ(ty.shape, x.shape);
  const double lhs = std::inner_product(tx.data.begin(), tx.data.end(), y.data.begin(), 0.0);
  const double rhs = std::inner_product(x.data.begin(), x.data.end(), ty.data.begin(), 0.0);
  EXPECT_EQ(lhs, rhs);
  EXPECT_NE(lhs, 0.0);  // a vacuous 0 == 0 would prove nothing
}

TEST(Exact, SumsOfFloatProductsAreExact) {
  // 2^100 + 2^-100 - 2^100 cancels catastrophically in any IEEE format, but not in Exact:
  // x = [2^50, 2^-50, -2^50] through a 1x1 kernel of 2^50 / 2^-50 / 2^50 summed over IC=3.
  Params p;
  p.in_channels = 3;
  p.bias = false;
  const Tensor<float> x(Shape{1, 3, 1, 1}, {0x1p50f, 0x1p-50f, -0x1p50f});
  const Tensor<float> w(Shape{3, 1, 1, 1}, {0x1p50f, 0x1p-50f, 0x1p50f});
  EXPECT_EQ((static_cast<double>(conv_transpose2d<float, Exact>(p, x, w, nullptr).data[0])),
            0x1p-100);
  EXPECT_EQ((conv_transpose2d<float, double>(p, x, w, nullptr).data[0]), 0.0);
  // Smallest and largest float products in one sum: 2^-298 survives next to 2^254.
  const Tensor<float> x2(Shape{1, 3, 1, 1}, {0x1p-149f, 0x1p127f, -0x1p127f});
  const Tensor<float> w2(Shape{3, 1, 1, 1}, {0x1p-149f, 0x1p127f, 0x1p127f});
  const Exact s = conv_transpose2d<float, Exact>(p, x2, w2, nullptr).data[0];
  EXPECT_EQ(s, ldexp(Exact(1), -298));
}

// The exact references sum in a fixed-point accumulator; their 640-bit twins sum term by term in
// Exact. Both must agree on every element, on data of random bit patterns: every exponent
// (subnormals and the largest floats, so that products span 2^-298 .. 2^256 in one sum), both
// signs, and now and then Inf and NaN.
template <class T>
Tensor<T> RandomBits(const Shape& s, std::mt19937_64& rng, bool allow_nonfinite) {
  Tensor<T> t(s);
  for (auto& v : t.data) {
    do {
      if constexpr (std::is_same_v<T, float>) {
        v = std::bit_cast<float>(static_cast<uint32_t>(rng()));
      } else {
        v = T::from_bits(static_cast<uint16_t>(rng()));
      }
    } while (!allow_nonfinite && !std::isfinite(static_cast<float>(v)));
  }
  return t;
}

bool SameExact(const Exact& a, const Exact& b) {
  return (boost::multiprecision::isnan(a) && boost::multiprecision::isnan(b)) || a == b;
}

// hi + lo is the exact value e where lo is not NaN, and hi within an ulp of e; where e's nearest
// double leaves a remainder that is a double, and hi is that nearest double, lo must exist.
void ExpectPair(const Exact& e, double hi, double lo) {
  const double nearest = static_cast<double>(e);
  if (!boost::multiprecision::isfinite(e)) {
    EXPECT_TRUE(std::isnan(lo));
    EXPECT_TRUE((std::isnan(hi) && std::isnan(nearest)) || hi == nearest);
    return;
  }
  ASSERT_TRUE(std::isfinite(hi));
  EXPECT_LE(std::fabs(hi - nearest),
            std::nextafter(std::fabs(nearest), INFINITY) - std::fabs(nearest));
  if (!std::isnan(lo)) {
    EXPECT_EQ(Exact(hi) + Exact(lo), e);
  } else {
    const Exact rest = e - Exact(nearest);
    EXPECT_TRUE(hi != nearest || Exact(static_cast<double>(rest)) != rest) << hi;
  }
}

template <class T>
void ExpectFixedSumEqualsMultiprecision() {
  std::mt19937_64 rng(7);
  for (const char* s : {"mb2ic6ih3iw4oc4kh3kw2sh2sw1ph1pw0oph1opw0g2", "mb1ic64ih2oc3kh1",
                        "mb1ic5ih4oc6kh4sh3ph2dh2", "mb1ic1ih1oc1kh1"}) {
    const Problem pr = parse_problem(s);
    for (int trial = 0; trial < 20; ++trial) {
      const bool nonfinite = trial % 4 == 3;
      const Tensor<T> x =
          RandomBits<T>(Shape{pr.mb, pr.params.in_channels, pr.ih, pr.iw}, rng, nonfinite);
      const Tensor<T> w = RandomBits<T>(weight_shape(pr.params), rng, nonfinite);
      const Tensor<T> b = RandomBits<T>(Shape{1, pr.params.out_channels, 1, 1}, rng, nonfinite);
      const Tensor<Exact> fast = conv_transpose2d<T, Exact>(pr.params, x, w, &b);
      const Tensor<Exact> slow = conv_transpose2d_mp<T>(pr.params, x, w, &b);
      const ExactResult pairs = conv_transpose2d_exact<T>(pr.params, x, w, &b);
      ASSERT_EQ(fast.shape, slow.shape);
      ASSERT_EQ(pairs.value.shape, slow.shape);
      int nonzero = 0;
      for (size_t i = 0; i < fast.data.size(); ++i) {
        ASSERT_TRUE(SameExact(fast.data[i], slow.data[i])) << s << " trial " << trial << " " << i;
        ASSERT_TRUE(SameExact(pairs.value.data[i], slow.data[i]));
        nonzero += fast.data[i] != 0 ? 1 : 0;
        ExpectPair(slow.data[i], pairs.hi.data[i], pairs.lo.data[i]);
      }
      EXPECT_GT(nonzero, 0);
      // Conv2d (the adjoint) maps the output shape back; its input is float data of that shape.
      const Tensor<T> y = RandomBits<T>(fast.shape, rng, nonfinite);
      const Tensor<T> bc = RandomBits<T>(Shape{1, pr.params.in_channels, 1, 1}, rng, nonfinite);
      const Tensor<Exact> cf = conv2d<T, Exact>(pr.params, y, w, &bc);
      const Tensor<Exact> cs = conv2d_mp<T>(pr.params, y, w, &bc);
      ASSERT_EQ(cf.shape, cs.shape);
      for (size_t i = 0; i < cf.data.size(); ++i) {
        ASSERT_TRUE(SameExact(cf.data[i], cs.data[i])) << s << " conv2d trial " << trial;
      }
    }
  }
}

TEST(Exact, FixedPointSumEqualsThe640BitSumFloat32) {
  ExpectFixedSumEqualsMultiprecision<float>();
}
TEST(Exact, FixedPointSumEqualsThe640BitSumFloat16) {
  ExpectFixedSumEqualsMultiprecision<float16>();
}
TEST(Exact, FixedPointSumEqualsThe640BitSumBFloat16) {
  ExpectFixedSumEqualsMultiprecision<bfloat16>();
}

// Sums of small-integer products always have an exact pair (and it is hi + 0).
TEST(Exact, PairsOfIntegerSums) {
  const Problem pr = parse_problem("mb2ic8ih5oc6kh3sh2ph1");
  std::mt19937_64 rng(3);
  const auto fill = [&](Tensor<float> t) {
    for (float& v : t.data) v = static_cast<float>(static_cast<int>(rng() % 17) - 8);
    return t;
  };
  const Tensor<float> x = fill(Tensor<float>(Shape{2, 8, 5, 5}));
  const Tensor<float> w = fill(Tensor<float>(weight_shape(pr.params)));
  const Tensor<float> b = fill(Tensor<float>(Shape{1, 6, 1, 1}));
  const ExactResult r = conv_transpose2d_exact<float>(pr.params, x, w, &b);
  const Tensor<double> d = conv_transpose2d<float, double>(pr.params, x, w, &b);
  for (size_t i = 0; i < d.data.size(); ++i) {
    EXPECT_EQ(r.hi.data[i], d.data[i]);
    EXPECT_EQ(r.lo.data[i], 0.0);
  }
}

// Cancellation down to the last bit across the whole range, with carries through every limb.
TEST(Exact, FixedPointSumCarriesAcrossTheWholeRange) {
  Params p;
  p.in_channels = 6;
  p.bias = false;
  const float big = std::numeric_limits<float>::max();
  const Tensor<float> x(Shape{1, 6, 1, 1}, {big, 0x1p-149f, -big, big, -0x1p-149f, -big});
  const Tensor<float> w(Shape{6, 1, 1, 1}, {big, 0x1p-149f, big, -big, 0x1p-149f, -big});
  // big^2 + 2^-298 - big^2 - big^2 - 2^-298 + big^2 = 0, exactly.
  EXPECT_EQ((conv_transpose2d<float, Exact>(p, x, w, nullptr).data[0]), Exact(0));
  const Tensor<float> x2(Shape{1, 6, 1, 1}, {big, 0x1p-149f, -big, big, 0x1p-149f, -big});
  const Exact s = conv_transpose2d<float, Exact>(p, x2, w, nullptr).data[0];
  EXPECT_EQ(s, ldexp(Exact(1), -297));
  EXPECT_EQ(s, conv_transpose2d_mp<float>(p, x2, w, nullptr).data[0]);
}

}  // namespace
}  // namespace convt2d
