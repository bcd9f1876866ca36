// Problem strings: parsing, canonical formatting, round trips and bad tokens.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "convt2d/error.h"
#include "convt2d/params.h"

namespace convt2d {
namespace {

using ::testing::HasSubstr;

TEST(ProblemString, ParsesBenchSuiteLine) {
  const Problem pr = parse_problem("mb1ic2048ih8iw6oc256kh4sh2ph1");
  EXPECT_EQ(pr.mb, 1);
  EXPECT_EQ(pr.ih, 8);
  EXPECT_EQ(pr.iw, 6);
  EXPECT_EQ(pr.params.in_channels, 2048);
  EXPECT_EQ(pr.params.out_channels, 256);
  EXPECT_EQ(pr.params.kernel_size, (Pair{4, 4}));
  EXPECT_EQ(pr.params.stride, (Pair{2, 2}));
  EXPECT_EQ(pr.params.padding, (Pair{1, 1}));
  EXPECT_EQ(pr.params.output_padding, (Pair{0, 0}));
  EXPECT_EQ(pr.params.dilation, (Pair{1, 1}));
  EXPECT_EQ(pr.params.groups, 1);
  EXPECT_TRUE(pr.params.bias);
}

TEST(ProblemString, DefaultsAndTwins) {
  const Problem pr = parse_problem("ic4ih5oc6kh3");
  EXPECT_EQ(pr.mb, 1);
  EXPECT_EQ(pr.iw, 5);
  EXPECT_EQ(pr.params.kernel_size, (Pair{3, 3}));
  EXPECT_EQ(pr.params.stride, (Pair{1, 1}));
  EXPECT_EQ(pr.params.padding, (Pair{0, 0}));
  const Problem q = parse_problem("mb0ic64ih28oc64kh3kw1sh2sw1ph1pw0oph1opw0dh2dw1g4bias0");
  EXPECT_EQ(q.mb, 0);
  EXPECT_EQ(q.params.kernel_size, (Pair{3, 1}));
  EXPECT_EQ(q.params.stride, (Pair{2, 1}));
  EXPECT_EQ(q.params.padding, (Pair{1, 0}));
  EXPECT_EQ(q.params.output_padding, (Pair{1, 0}));
  EXPECT_EQ(q.params.dilation, (Pair{2, 1}));
  EXPECT_EQ(q.params.groups, 4);
  EXPECT_FALSE(q.params.bias);
  // Token order does not matter.
  EXPECT_EQ(parse_problem("kh3oc6ih5ic4"), pr);
}

TEST(ProblemString, RoundTrip) {
  const char* strings[] = {"mb1ic512ih4oc256kh4sh2ph1",
                           "mb16ic256ih8oc128kh4sh2ph1",
                           "mb1ic56ih64oc1kh9sh3ph4oph2",
                           "mb1ic64ih64oc64kh4sh2ph1g64",
                           "mb1ic2048ih8iw6oc256kh4sh2ph1",
                           "mb1ic64ih28oc64kh3ph2dh2",
                           "mb3ic6ih5iw9oc4kh3kw1sh1sw3ph0pw2oph0opw2dh2dw1g2bias0",
                           "mb0ic1ih1oc1kh1"};
  for (const char* s : strings) {
    const Problem pr = parse_problem(s);
    EXPECT_EQ(parse_problem(format_problem(pr)), pr) << s;
    EXPECT_EQ(format_problem(parse_problem(format_problem(pr))), format_problem(pr)) << s;
  }
  // The canonical form is the shortest the defaults allow.
  EXPECT_EQ(format_problem(parse_problem("ic4ih5iw5oc6kh3kw3sh1sw1ph0pw0g1bias1")),
            "mb1ic4ih5oc6kh3");
  // A w value that differs from its h twin forces both out, even when h is the default.
  EXPECT_EQ(format_problem(parse_problem("ic1ih4oc1kh3sw2")), "mb1ic1ih4oc1kh3sh1sw2");
}

void ExpectBad(const char* s, const std::string& fragment,
               const std::string& subject = "problem string") {
  try {
    parse_problem(s);
    ADD_FAILURE() << "accepted: " << s;
  } catch (const Error& e) {
    EXPECT_EQ(e.subject(), subject) << e.what();
    EXPECT_THAT(e.what(), HasSubstr(fragment)) << s;
  }
}

TEST(ProblemString, BadTokens) {
  ExpectBad("", "empty");
  ExpectBad("mb1ic4ih5oc6kh3xx2", "unknown token 'xx'");
  ExpectBad("mb1ic4ih5oc6kh3 ", "unexpected character ' '");
  ExpectBad("mb1ic4ih5oc6kh", "token 'kh'");
  ExpectBad("mb1icih5oc6kh3", "unknown token 'icih'");
  ExpectBad("mb1ic-ih5oc6kh3", "token 'ic' at position 3 needs an integer");
  ExpectBad("mb1ic4ih5oc6kh3ic4", "'ic' appears more than once");
  ExpectBad("mb1ic4ih5oc6", "missing required token 'kh'");
  ExpectBad("mb1ih5oc6kh3", "missing required token 'ic'");
  ExpectBad("ic4ih99999999999999999999oc6kh3", "'ih99999999999999999999'");
  ExpectBad("ic4ih5oc6kh3bias2", "bias0 or bias1");
  ExpectBad("4ic4ih5oc6kh3", "unexpected character '4'");
  ExpectBad("IC4ih5oc6kh3", "unexpected character 'I'");
  // Well-formed strings whose values are invalid are rejected by validation, naming the parameter.
  ExpectBad("ic4ih5oc6kh3ph-1", "padding", "padding");
  ExpectBad("ic4ih5oc6kh3g4", "divisible", "groups");
  ExpectBad("ic4ih5oc6kh3sh2oph2", "output_padding=(2, 2)", "output_padding");
}

TEST(ProblemString, MessagesEscapeControlCharacters) {
  // Found by fuzz_parsers: "w\n\0-1" made a message of two lines.
  for (const std::string s :
       {std::string("w\n\0-1", 5), std::string("ic4\nih5oc6kh3"), std::string("ic4ih5oc6kh3\t")}) {
    try {
      parse_problem(s);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.find_first_of(std::string("\n\t\0", 3)), std::string::npos) << msg;
      EXPECT_THAT(msg, ::testing::AnyOf(HasSubstr("\\n"), HasSubstr("\\t"))) << msg;
    }
  }
}

TEST(ProblemString, MessagesStayShortForLongStrings) {
  // A 16 MiB problem file can hold one token as long: the message quotes a few dozen characters.
  const std::string name(100'000, 'z'), digits(100'000, '9');
  for (const std::string& s :
       {"ic4ih5oc6kh3" + name + "1", "ic4ih" + digits + "oc6kh3", "ic4ih5oc6kh3" + digits}) {
    try {
      parse_problem(s);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_LT(std::string(e.what()).size(), 300u) << std::string(e.what()).substr(0, 400);
      EXPECT_THAT(e.what(), HasSubstr("...")) << std::string(e.what()).substr(0, 400);
    }
  }
}

}  // namespace
}  // namespace convt2d
