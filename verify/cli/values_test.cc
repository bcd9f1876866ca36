// The option-value parser (convt2d/option_values.h): each repro of issue 14 item 12, and a table of what is
// accepted (exactly as written) and refused (naming the flag).
#include "convt2d/option_values.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "convt2d/error.h"

namespace convt2d {
namespace {

using ::testing::HasSubstr;

template <class F>
std::string ErrorOf(F f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.subject(), "--x");
    return e.what();
  }
  return "";
}

TEST(CliValues, IntegersArePlainDecimalsTakenExactly) {
  for (const char* s : {"0", "7", "-7", "1000000", "9223372036854775807", "-9223372036854775808"}) {
    EXPECT_EQ(std::to_string(parse_int("--x", s)), s);
  }
  EXPECT_EQ(parse_uint("--x", "18446744073709551615"), std::numeric_limits<uint64_t>::max());
  // What strtoull with base 0 (CLI11) read as another value, or accepted at all.
  for (const char* s : {"", " 5", "5 ", "+5", "0x10", "010", "00", "-0", "1e3", "5.0", "3,4", "-",
                        "--5", "1_000", "٣"}) {
    EXPECT_THAT(ErrorOf([&] { parse_int("--x", s); }),
                HasSubstr("--x: expected a plain decimal integer"))
        << s;
    EXPECT_THAT(ErrorOf([&] { parse_uint("--x", s); }),
                HasSubstr("--x: expected a plain decimal integer"))
        << s;
  }
}

TEST(CliValues, OutOfRangeIsAnErrorNeverAClamp) {
  EXPECT_EQ(ErrorOf([] { parse_uint("--x", "18446744073709551616"); }),
            "--x: must be at most 18446744073709551615, got 18446744073709551616");
  EXPECT_EQ(ErrorOf([] { parse_uint("--x", "-1"); }), "--x: must be >= 0, got -1");
  EXPECT_EQ(ErrorOf([] { parse_int("--x", "9223372036854775808"); }),
            "--x: must be at most 9223372036854775807, got 9223372036854775808");
  EXPECT_THAT(ErrorOf([] { parse_int("--x", "-9223372036854775809"); }),
              HasSubstr("--x: must be >= -9223372036854775808"));
  EXPECT_EQ(ErrorOf([] { parse_int("--x", "0", 1); }), "--x: must be a positive integer, got 0");
  EXPECT_EQ(ErrorOf([] { parse_int("--x", "11", 0, 10); }), "--x: must be in [0, 10], got 11");
  EXPECT_EQ(parse_int("--x", "10", 0, 10), 10);
  // Control characters are escaped (found by fuzz_cli_values: a '\n' broke the line).
  EXPECT_EQ(ErrorOf([] {
              parse_uint("--x", std::string("\n\0"
                                            "0",
                                            3));
            }),
            "--x: expected a plain decimal integer, got '\\n\\x000'");
  // The escapes count: 40 characters printed at most (nine "\x00" and "...").
  std::string nine;
  for (int i = 0; i < 9; ++i) nine += "\\x00";
  EXPECT_EQ(ErrorOf([] { parse_int("--x", std::string(100, '\0')); }),
            "--x: expected a plain decimal integer, got '" + nine + "...'");
  // A long value is quoted to 40 characters.
  EXPECT_LT(ErrorOf([] { parse_int("--x", std::string(10'000, '9')); }).size(), 120u);
}

TEST(CliValues, PairsAreOneOrTwoIntegers) {
  EXPECT_EQ(parse_pair("--x", "3"), (Pair{3, 3}));
  EXPECT_EQ(parse_pair("--x", "3,5"), (Pair{3, 5}));
  EXPECT_EQ(parse_pair("--x", "-1,2"), (Pair{-1, 2}));
  for (const char* s : {"3,", ",5", "3,4,5", ",", "3, 4", "3;4"}) {
    EXPECT_THAT(ErrorOf([&] { parse_pair("--x", s); }), HasSubstr("--x: expected")) << s;
  }
}

TEST(CliValues, RealsAreFiniteAndBounded) {
  EXPECT_EQ(parse_real("--x", "2e6", 0), 2e6);
  EXPECT_EQ(parse_real("--x", "0.5", 0), 0.5);
  EXPECT_EQ(parse_real("--x", "0", 0, /*lo_inclusive=*/true), 0.0);
  for (const char* s : {"", "nan", "inf", "-inf", "abc", "1e", "+1", " 1", "1 ", "0x10", "1,5"}) {
    EXPECT_THAT(ErrorOf([&] { parse_real("--x", s, 0); }),
                HasSubstr("--x: expected a finite number"))
        << s;
  }
  EXPECT_EQ(ErrorOf([] { parse_real("--x", "1e400", 0); }), "--x: '1e400' is out of range");
  EXPECT_EQ(ErrorOf([] { parse_real("--x", "0", 0); }), "--x: must be > 0, got 0");
  EXPECT_EQ(ErrorOf([] { parse_real("--x", "-1", 0); }), "--x: must be > 0, got -1");
  EXPECT_EQ(ErrorOf([] { parse_real("--x", "-0.5", 0, true); }), "--x: must be >= 0, got -0.5");
}

}  // namespace
}  // namespace convt2d
