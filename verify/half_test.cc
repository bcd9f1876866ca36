// float16 and bfloat16: every bit pattern, and rounding checked against an independent
// brute-force oracle (the nearest representable value found by search in long double).
#include "convt2d/half.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace convt2d {
namespace {

// The value of a binary16 / bfloat16 bit pattern, decoded from the IEEE definition in long double
// (independently of the types' own to_float).
long double Decode(uint16_t bits, int mant, int exp_bits) {
  const int bias = (1 << (exp_bits - 1)) - 1;
  const int e = (bits >> mant) & ((1 << exp_bits) - 1);
  const int m = bits & ((1 << mant) - 1);
  const long double sign = (bits >> 15) != 0 ? -1.0L : 1.0L;
  if (e == (1 << exp_bits) - 1) {
    return m == 0 ? sign * std::numeric_limits<long double>::infinity()
                  : std::numeric_limits<long double>::quiet_NaN();
  }
  if (e == 0) return sign * std::ldexp(static_cast<long double>(m), 1 - bias - mant);
  return sign * std::ldexp(static_cast<long double>(m + (1 << mant)), e - bias - mant);
}

// Brute-force round to nearest, ties to even: the finite non-negative values in order, the
// overflow threshold (halfway between the largest finite value and the next power of two).
struct Oracle {
  int mant, exp_bits;
  std::vector<long double> values;  // index == bit pattern
  long double overflow;

  Oracle(int m, int e) : mant(m), exp_bits(e) {
    const uint16_t inf = static_cast<uint16_t>(((1 << e) - 1) << m);
    for (uint32_t b = 0; b < inf; ++b) values.push_back(Decode(static_cast<uint16_t>(b), m, e));
    const long double max = values.back();
    overflow = max + (max - values[values.size() - 2]) / 2;  // ties go up: max has an odd mantissa
  }
  uint16_t Round(long double v) const {
    const uint16_t sign = std::signbit(v) ? 0x8000 : 0;
    const long double a = std::fabs(v);
    const uint16_t inf = static_cast<uint16_t>(((1 << exp_bits) - 1) << mant);
    if (a >= overflow) return sign | inf;
    // values is increasing: the first value > a, and the one before it.
    const auto up = std::upper_bound(values.begin(), values.end(), a);
    if (up == values.end()) return static_cast<uint16_t>(sign | (inf - 1));  // in [max, overflow)
    const auto lo = up - 1;
    const long double dl = a - *lo, du = *up - a;
    uint16_t b = static_cast<uint16_t>(lo - values.begin());
    if (du < dl || (du == dl && (b & 1) != 0)) ++b;
    return sign | b;
  }
};

const Oracle& F16() {
  static const Oracle o(10, 5);
  return o;
}
const Oracle& BF16() {
  static const Oracle o(7, 8);
  return o;
}

bool IsNanBits(uint16_t b, int mant) {
  const uint16_t inf = static_cast<uint16_t>(((1 << (15 - mant)) - 1) << mant);
  return (b & 0x7fff) > inf;
}

TEST(Half, EveryFloat16BitPatternRoundTripsThroughFloat) {
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    const float16 h = float16::from_bits(static_cast<uint16_t>(b));
    const float f = h.to_float();
    ASSERT_EQ(float16(f).bits(), b) << std::hex << b;
    const long double want = Decode(static_cast<uint16_t>(b), 10, 5);
    if (IsNanBits(static_cast<uint16_t>(b), 10)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << b;
      ASSERT_TRUE(std::isnan(float16(static_cast<double>(f)).to_float())) << std::hex << b;
    } else {
      ASSERT_EQ(static_cast<long double>(f), want) << std::hex << b;
      ASSERT_EQ(std::signbit(f), (b & 0x8000) != 0);
      ASSERT_EQ(float16(static_cast<double>(f)).bits(), b) << std::hex << b;  // via double too
    }
  }
}

TEST(Half, EveryBFloat16BitPatternRoundTripsThroughFloat) {
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    const bfloat16 h = bfloat16::from_bits(static_cast<uint16_t>(b));
    const float f = h.to_float();
    ASSERT_EQ(bfloat16(f).bits(), b) << std::hex << b;
    if (IsNanBits(static_cast<uint16_t>(b), 7)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << b;
    } else {
      ASSERT_EQ(static_cast<long double>(f), Decode(static_cast<uint16_t>(b), 7, 8)) << b;
      ASSERT_EQ(bfloat16(static_cast<double>(f)).bits(), b) << std::hex << b;
    }
  }
}

// Every representable value, every midpoint between neighbours (the ties), one double ulp on
// either side of each midpoint, and the same around zero and the overflow threshold.
template <class H>
void CheckTiesAndNeighbours(const Oracle& o) {
  std::vector<long double> probes;
  for (size_t i = 0; i + 1 < o.values.size(); ++i) {
    const long double mid = (o.values[i] + o.values[i + 1]) / 2;
    probes.push_back(o.values[i]);
    probes.push_back(mid);
    const double md = static_cast<double>(mid);
    probes.push_back(std::nextafter(md, 0.0));
    probes.push_back(std::nextafter(md, INFINITY));
  }
  probes.push_back(o.values.back());
  probes.push_back(o.overflow);
  probes.push_back(std::nextafter(static_cast<double>(o.overflow), 0.0));
  probes.push_back(std::nextafter(static_cast<double>(o.overflow), INFINITY));
  probes.push_back(o.overflow * 4);
  probes.push_back(0x1p-1074L);  // a double subnormal
  probes.push_back(static_cast<long double>(1e300));
  for (const long double p : probes) {
    for (const long double v : {p, -p}) {
      const double d = static_cast<double>(v);
      ASSERT_EQ(static_cast<long double>(d), v);  // every probe is a double
      ASSERT_EQ(H(d).bits(), o.Round(v)) << static_cast<double>(v);
    }
  }
}

TEST(Half, Float16RoundsTiesAndNeighboursLikeTheOracle) {
  CheckTiesAndNeighbours<float16>(F16());
}

TEST(Half, BFloat16RoundsTiesAndNeighboursLikeTheOracle) {
  CheckTiesAndNeighbours<bfloat16>(BF16());
}

TEST(Half, FloatsAcrossEveryExponentRoundLikeTheOracle) {
  // About 540 000 floats spread over all exponents (every 7919th bit pattern), NaN excluded.
  int checked = 0;
  for (uint64_t b = 0; b <= 0xffffffffu; b += 7919) {
    float f;
    const uint32_t u = static_cast<uint32_t>(b);
    std::memcpy(&f, &u, 4);
    if (std::isnan(f)) continue;
    ASSERT_EQ(float16(f).bits(), F16().Round(f)) << f;
    ASSERT_EQ(bfloat16(f).bits(), BF16().Round(f)) << f;
    // The classic bfloat16 bit trick (add 0x7fff plus the lowest kept bit, truncate) agrees.
    ASSERT_EQ(bfloat16(f).bits(), static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16))
        << f;
    ++checked;
  }
  EXPECT_GT(checked, 500000);
}

TEST(Half, DoubleInputIsRoundedOnceNotTwice) {
  // Just above the midpoint between 1 and 1 + 2^-10: correct rounding goes up. Through float the
  // value would first land on the midpoint and then tie to even (down): double rounding.
  const double v = 1.0 + 0x1p-11 + 0x1p-40;
  EXPECT_EQ(float16(v).bits(), 0x3c01);
  EXPECT_EQ(float16(static_cast<float>(v)).bits(), 0x3c00);
  const double w = 1.0 + 0x1p-8 + 0x1p-40;  // the same for bfloat16
  EXPECT_EQ(bfloat16(w).bits(), 0x3f81);
  EXPECT_EQ(bfloat16(static_cast<float>(w)).bits(), 0x3f80);
}

TEST(Half, NamedValues) {
  EXPECT_EQ(float16(1.0).bits(), 0x3c00);
  EXPECT_EQ(float16(65504.0).bits(), 0x7bff);
  EXPECT_EQ(float16(65519.99).bits(), 0x7bff);
  EXPECT_EQ(float16(65520.0).bits(), 0x7c00);  // the tie goes to the even neighbour: infinity
  EXPECT_EQ(float16(-65520.0).bits(), 0xfc00);
  EXPECT_EQ(float16(0x1p-24).bits(), 0x0001);  // smallest subnormal
  EXPECT_EQ(float16(0x1p-25).bits(), 0x0000);  // half of it: tie to even, zero
  EXPECT_EQ(float16(0x1.8p-25).bits(), 0x0001);
  EXPECT_EQ(float16(-0x1p-26).bits(), 0x8000);     // negative zero
  EXPECT_EQ(float16(0x1p-14).bits(), 0x0400);      // smallest normal
  EXPECT_EQ(float16(0x1.ffcp-15).bits(), 0x0400);  // tie above the largest subnormal: up
  EXPECT_EQ(float16(std::numeric_limits<double>::infinity()).bits(), 0x7c00);
  EXPECT_TRUE(std::isnan(float16(std::numeric_limits<double>::quiet_NaN()).to_float()));
  EXPECT_TRUE(std::isnan(float16(std::numeric_limits<float>::quiet_NaN()).to_float()));
  EXPECT_EQ(bfloat16(1.0).bits(), 0x3f80);
  EXPECT_EQ(bfloat16(0x1p-133).bits(), 0x0001);                           // smallest subnormal
  EXPECT_EQ(bfloat16(std::numeric_limits<float>::max()).bits(), 0x7f80);  // rounds to infinity
  EXPECT_TRUE(std::isnan(bfloat16(std::numeric_limits<float>::quiet_NaN()).to_float()));
  EXPECT_EQ(float16(7).to_float(), 7.0f);
  EXPECT_EQ(float16().bits(), 0);
  EXPECT_EQ((-float16(2.0)).to_float(), -2.0f);
  EXPECT_TRUE(float16(0.0) == float16(-0.0));
  EXPECT_FALSE(float16(NAN) == float16(NAN));
}

// A deterministic stream of bit patterns (splitmix64).
uint64_t Mix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

template <class H>
void CheckArithmetic(const Oracle& o, int mant) {
  uint64_t s = 12345;
  for (int i = 0; i < 200000; ++i) {
    const uint64_t r = Mix(s);
    const H a = H::from_bits(static_cast<uint16_t>(r)),
            b = H::from_bits(static_cast<uint16_t>(r >> 16));
    if (IsNanBits(a.bits(), mant) || IsNanBits(b.bits(), mant)) continue;
    const long double x = a.to_float(), y = b.to_float();
    // Products are exact in long double; sums too unless the exponents are more than 63 apart,
    // where the oracle's rounding of the long double sum is still the correct one.
    const long double sum = x + y, prod = x * y;
    if (!std::isnan(sum) && !std::isinf(x) && !std::isinf(y)) {
      ASSERT_EQ((a + b).bits(), o.Round(sum))
          << static_cast<double>(x) << " + " << static_cast<double>(y);
      ASSERT_EQ((a - b).bits(), o.Round(x - y));
    }
    if (!std::isnan(prod) && !std::isinf(x) && !std::isinf(y)) {
      ASSERT_EQ((a * b).bits(), o.Round(prod))
          << static_cast<double>(x) << " * " << static_cast<double>(y);
    }
  }
}

TEST(Half, Float16ArithmeticIsCorrectlyRounded) {
  CheckArithmetic<float16>(F16(), 10);
}

TEST(Half, BFloat16ArithmeticIsCorrectlyRounded) {
  CheckArithmetic<bfloat16>(BF16(), 7);
}

}  // namespace
}  // namespace convt2d
