// case.json parsing: defaults, pairs, unknown keys, and every error class (each one found or
// anticipated by the parser fuzz target).
#include "convt2d/case_dir.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
  // fuzz_parsers; it used to escape as an uncaught exception).
  ExpectBad(R"({"in_channels": 7777777e77222222222908})", "JSON syntax error");
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
  ExpectBad(R"({"in_channels": 4, "out_channels": 4, "kernel_size": 3, "stride": 2,
                "output_padding": 2})",
            "output_padding");
  ExpectBad(R"({"in_channels": 4, "out_channels": 4, "kernel_size": 3,
                "input_shape": [1, "x"]})",
            "input_shape");
}

}  // namespace
}  // namespace convt2d
