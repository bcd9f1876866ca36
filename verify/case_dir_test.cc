// case.json parsing: defaults, pairs, unknown keys, and every error class (each one found or
// anticipated by the parser fuzz target).
#include "convt2d/case_dir.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "convt2d/error.h"

namespace convt2d {
namespace {

using ::testing::HasSubstr;

TEST(CaseJson, DefaultsPairsAndUnknownKeys) {
  const CaseSpec s = parse_case_json(
      R"({"in_channels": 4, "out_channels": 6, "kernel_size": [3, 2], "stride": 2,
          "groups": 2, "bias": false, "comment": "ignored", "output_shape": [1, 6, 9, 8]})");
  EXPECT_EQ(s.params.in_channels, 4);
  EXPECT_EQ(s.params.kernel_size, (Pair{3, 2}));
  EXPECT_EQ(s.params.stride, (Pair{2, 2}));
  EXPECT_EQ(s.params.padding, (Pair{0, 0}));
  EXPECT_EQ(s.params.dilation, (Pair{1, 1}));
  EXPECT_FALSE(s.params.bias);
  EXPECT_EQ(s.params.compute_mode, ComputeMode::kDefault);
  EXPECT_FALSE(s.input_shape.has_value());
  EXPECT_EQ(*s.output_shape, (Shape{1, 6, 9, 8}));
  // case_json writes every key and parses back to the same parameters.
  EXPECT_EQ(parse_case_json(case_json(s.params)).params, s.params);
  EXPECT_FALSE(s.dtype.has_value());
  EXPECT_EQ(parse_case_json(case_json(s.params, {}, {}, DType::kBFloat16)).dtype, DType::kBFloat16);
  EXPECT_EQ(parse_case_json(R"({"in_channels": 1, "out_channels": 1, "kernel_size": 1,
                                "dtype": "float16"})")
                .dtype,
            DType::kFloat16);
}

// A case directory of each dtype: written, read back with its dtype; bfloat16 needs the
// declaration, and a declaration that disagrees with the arrays is an error naming it.
TEST(CaseDir, HalfDtypesRoundTripAndBFloat16NeedsItsDeclaration) {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("convt2d_case_dir_half_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const Problem pr = parse_problem("mb1ic2ih3oc2kh2sh2");
  for (DType dt : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16}) {
    const Case c = make_case(pr, dt, Regime::kReal, 3);
    const fs::path d = dir / std::string(to_string(dt));
    write_case(d, pr.params, c.x, c.w, &*c.b);
    const Case back = read_case(d);
    EXPECT_EQ(back.dtype(), dt);
    EXPECT_EQ(back.x, c.x);
    EXPECT_EQ(*back.b, *c.b);
  }
  // Without "dtype", uint16 arrays are an error naming the file.
  const fs::path bf = dir / "bfloat16";
  std::string text = case_json(pr.params);
  std::ofstream(bf / "case.json") << text;
  try {
    read_case(bf);
    ADD_FAILURE() << "bare uint16 arrays accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("x.npy"));
    EXPECT_THAT(e.what(), HasSubstr("'<u2'"));
  }
  // A declaration that disagrees with the arrays.
  std::ofstream(dir / "float16" / "case.json") << case_json(pr.params, {}, {}, DType::kFloat32);
  try {
    read_case(dir / "float16");
    ADD_FAILURE() << "float16 arrays accepted as float32";
  } catch (const Error& e) {
    EXPECT_EQ(e.subject(), "dtype");
    EXPECT_THAT(e.what(), HasSubstr("x.npy holds float16 but case.json declares"));
  }
  fs::remove_all(dir);
}

void ExpectBad(const std::string& text, const std::string& fragment) {
  try {
    parse_case_json(text, "c.json");
    ADD_FAILURE() << "accepted " << text;
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("c.json"));
    EXPECT_THAT(e.what(), HasSubstr(fragment)) << text;
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
}

TEST(CaseJson, Errors) {
  ExpectBad(R"({"in_channels": 4, "out_channels": )", "JSON syntax error");
  // Numbers beyond double's range: nlohmann raises out_of_range, not parse_error (found by
  // fuzz_parsers; it used to escape as an uncaught exception, then was called a syntax error).
  ExpectBad(R"({"in_channels": 7777777e77222222222908})",
            "c.json: in_channels: number 7777777e77222222222908 is out of range");
  ExpectBad(R"({"in_channels": 40000000000000666666666666666666666666666666, "out_channels": 4,
                "kernel_size": 3})",
            "in_channels: expected an integer");
  ExpectBad(R"({"in_channels": 18446744073709551615, "out_channels": 4, "kernel_size": 3})",
            "in_channels: 18446744073709551615 is out of range");
  ExpectBad(R"([1, 2])", "expected a JSON object");
  ExpectBad(R"({"in_channels": 4, "kernel_size": 3})", "out_channels: required key is missing");
  ExpectBad(R"({"in_channels": "4", "out_channels": 4, "kernel_size": 3})",
            "in_channels: expected an integer");
  ExpectBad(R"({"in_channels": 4, "out_channels": 4, "kernel_size": [3, 3, 3]})",
            "kernel_size: expected an int or [h, w]");
  ExpectBad(R"({"in_channels": 4, "out_channels": 4, "kernel_size": 3, "bias": 1})",
            "bias: expected true or false");
  ExpectBad(
      R"({"in_channels": 4, "out_channels": 4, "kernel_size": 3, "conv_mode": "convolution"})",
      "conv_mode");
  ExpectBad(R"({"in_channels": 4, "out_channels": 4, "kernel_size": 3, "compute_mode": "tf32"})",
            "compute_mode");
  ExpectBad(R"({"in_channels": 4, "out_channels": 6, "kernel_size": 3, "groups": 4})", "groups");
  ExpectBad(R"({"in_channels": 4, "out_channels": 4, "kernel_size": 3, "dtype": "int8"})",
            "dtype: unknown dtype 'int8'");
  ExpectBad(R"({"in_channels": 4, "out_channels": 4, "kernel_size": 3, "dtype": 16})",
            "dtype: expected a string, got 16");
  ExpectBad(R"({"in_channels": 4, "out_channels": 4, "kernel_size": 3, "stride": 2,
                "output_padding": 2})",
            "output_padding");
  ExpectBad(R"({"in_channels": 4, "out_channels": 4, "kernel_size": 3,
                "input_shape": [1, "x"]})",
            "input_shape");
}

constexpr const char* kValid = R"("in_channels": 4, "out_channels": 4, "kernel_size": 3)";

// The error message of parsing `text`, or "" when it parses.
std::string ParseError(const std::string& text) {
  try {
    parse_case_json(text, "c.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CaseJson, MessagesNameTheFileOnce) {
  // A string key of the wrong type was wrapped twice: "c.json: c.json: compute_mode: ...".
  for (const char* key : {"conv_mode", "compute_mode", "output_padding_rule", "dtype"}) {
    const std::string msg = ParseError(fmt::format(R"({{{}, "{}": 5}})", kValid, key));
    EXPECT_EQ(msg, fmt::format("c.json: {}: expected a string, got 5", key));
  }
  EXPECT_EQ(ParseError(fmt::format(R"({{{}, "compute_mode": "tf32"}})", kValid)),
            "c.json: compute_mode: unknown value 'tf32' (expected 'default' or 'float32')");
}

TEST(CaseJson, DeepNestingIsRefusedInOneShortLine) {
  // 10^5 levels in a known key overflowed the stack while the error message dumped the value;
  // 5*10^4 levels made a 100 KB message; under an unknown key they were silently accepted.
  for (const int levels : {100'000, 50'000, 65}) {
    const std::string deep = std::string(levels, '[') + std::string(levels, ']');
    for (const char* key : {"in_channels", "comment"}) {
      const std::string text = fmt::format(R"({{{}, "{}": {}}})", kValid, key, deep);
      const std::string msg = ParseError(text);
      EXPECT_THAT(msg, HasSubstr(fmt::format("c.json: {}: JSON nested deeper than 64 levels", key)))
          << levels;
      EXPECT_LT(msg.size(), 300u);
    }
  }
  // 63 levels under the root object are the limit: an ignored key may hold them.
  const std::string ok = std::string(63, '[') + std::string(63, ']');
  EXPECT_EQ(ParseError(fmt::format(R"({{{}, "comment": {}}})", kValid, ok)), "");
  EXPECT_THAT(ParseError(fmt::format(R"({{{}, "comment": {{"a": {}}}}})", kValid, ok)),
              HasSubstr("comment: JSON nested deeper than 64 levels"));
  // A root that is itself too deep names no key.
  EXPECT_THAT(ParseError(std::string(1000, '[') + std::string(1000, ']')),
              HasSubstr("c.json: JSON nested deeper than 64 levels"));
}

TEST(CaseJson, MessagesQuoteAtMostAFewDozenCharactersOfAValue) {
  for (const std::string& value :
       {'"' + std::string(100'000, 'a') + '"', std::string(60, '[') + std::string(60, ']'),
        "{\"" + std::string(100'000, 'k') + "\": 1}"}) {
    const std::string msg = ParseError(fmt::format(
        R"({{"in_channels": 4, "out_channels": 4, "kernel_size": 3, "groups": {}}})", value));
    EXPECT_THAT(msg, HasSubstr("c.json: groups: expected"));
    EXPECT_THAT(msg, HasSubstr("..."));
    EXPECT_LT(msg.size(), 200u) << msg;
  }
  // Keys are quoted like values: escaped, so that a message stays one line.
  const std::string deep = std::string(70, '[') + std::string(70, ']');
  EXPECT_EQ(ParseError(fmt::format(R"({{{}, "a\nb\u0000": {}}})", kValid, deep)),
            "c.json: a\\nb\\x00: JSON nested deeper than 64 levels");
  // nlohmann's syntax errors quote the last token read, here 10^5 characters of a string.
  const std::string msg =
      ParseError(fmt::format(R"({{{}, "comment": "{})", kValid, std::string(100'000, 'b')));
  EXPECT_THAT(msg, HasSubstr("JSON syntax error"));
  EXPECT_LT(msg.size(), 300u);
}

TEST(CaseJson, NumbersBeyondDoubleAreIgnoredUnderUnknownKeysAndNamedUnderKnownOnes) {
  // Unknown keys are ignored, whatever number they hold (this was "a JSON syntax error").
  const std::string huge = "1" + std::string(400, '0');
  const CaseSpec s = parse_case_json(fmt::format(
      R"({{"note": 1e400, {}, "x": [-1e999, {{"y": {}}}, 2.5e308], "stride": 2, "z": "1e400"}})",
      kValid, huge));
  EXPECT_EQ(s.params.in_channels, 4);
  EXPECT_EQ(s.params.stride, (Pair{2, 2}));
  // Under a known key, at any depth: named, with the number.
  EXPECT_THAT(ParseError(fmt::format(R"({{{}, "groups": 1e400}})", kValid)),
              HasSubstr("c.json: groups: number 1e400 is out of range"));
  EXPECT_THAT(ParseError(fmt::format(R"({{"note": 1e400, {}, "stride": [2, -1e999]}})", kValid)),
              HasSubstr("stride: number -1e999 is out of range"));
  EXPECT_THAT(ParseError(fmt::format(R"({{{}, "input_shape": [1, {}]}})", kValid, huge)),
              HasSubstr("input_shape: number 1000000000000000000000000000000000000... is out"));
  // A string that looks like one, or a key, is not a number.
  EXPECT_EQ(ParseError(fmt::format(R"({{{}, "1e400": "1e400", "q": "\"1e400"}})", kValid)), "");
  // Not JSON numbers: syntax errors, as before.
  EXPECT_THAT(ParseError(fmt::format(R"({{{}, "x": 1e400e5}})", kValid)),
              HasSubstr("c.json: number overflow parsing '1e400'"));
  EXPECT_THAT(ParseError(fmt::format(R"({{{}, "x": 01e400}})", kValid)),
              HasSubstr("JSON syntax error"));
}

}  // namespace
}  // namespace convt2d
