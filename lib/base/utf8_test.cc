#include <gtest/gtest.h>

#include <string>

extern "C" {
#include "lib/base/utf8.h"
}

namespace {

std::string Sanitize(const std::string& in) {
  std::string buf = in + '\0';
  size_t n = utf8_sanitize(&buf[0], in.size());
  EXPECT_EQ(buf[n], '\0');
  return buf.substr(0, n);
}

TEST(Utf8SanitizeTest, KeepsTextNewlinesAndTabs) {
  EXPECT_EQ(Sanitize("plain text\nline 2\tcol"), "plain text\nline 2\tcol");
  EXPECT_EQ(Sanitize("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(Sanitize(""), "");
}

TEST(Utf8SanitizeTest, DropsTerminalEscapes) {
  // Clear screen, set the window title, a colour, a cursor move, bell.
  EXPECT_EQ(Sanitize("\x1b[2J\x1b]0;pwned\x07" "a\x1b[31mred\x1b[0m\x1b[10;10Hb\x07"), "[2J]0;pwneda[31mred[0m[10;10Hb");
  EXPECT_EQ(Sanitize("carriage\rreturn\bback\x7f" "del"), "carriagereturnbackdel");
  EXPECT_EQ(Sanitize(std::string("nul\0inside", 10)), "nulinside");
}

TEST(Utf8SanitizeTest, DropsC1AndReplacesInvalidUnits) {
  // U+009B (CSI) encoded, and a raw 0x9b (CSI on 8-bit terminals).
  EXPECT_EQ(Sanitize("a\xc2\x9b" "31mb"), "a31mb");
  EXPECT_EQ(Sanitize("a\x9b" "31mb"), "a?31mb");
  EXPECT_EQ(Sanitize("\xc2\xa0nbsp"), "\xc2\xa0nbsp");  // U+00A0 is not a control
  EXPECT_EQ(Sanitize("bad \xff\xfe end"), "bad ?? end");
  EXPECT_EQ(Sanitize("cut \xe2\x82"), "cut ?");  // one maximal subpart
  EXPECT_EQ(Sanitize("\xed\xa0\x80"), "???");     // a surrogate: three subparts
}

TEST(Utf8SanitizeTest, StringForm) {
  char s[] = "err\x1b[1m: bad\r\n";
  EXPECT_STREQ(utf8_sanitize_str(s), "err[1m: bad\n");
  EXPECT_EQ(utf8_sanitize_str(nullptr), nullptr);
}

}  // namespace
