// Lossy UTF-8 (Rust's from_utf8_lossy) and serde_json-compatible escaping.
#include <gtest/gtest.h>

#include <string>

extern "C" {
#include "guest/json_write.h"
#include "guest/output.h"
#include "guest/utf8.h"
}

namespace {

const std::string R = "\xEF\xBF\xBD";  // U+FFFD

std::string Str(const std::string& in) {
  struct jbuf b;
  jbuf_init(&b, 0);
  jw_string(&b, in.data(), in.size());
  std::string out(b.data, b.len);
  EXPECT_EQ(out.size(), jw_string_size(in.data(), in.size()));
  jbuf_done(&b);
  return out;
}

TEST(Utf8Lossy, ValidTextIsKept) {
  EXPECT_EQ(Str("héllo €𐍈"), "\"héllo €𐍈\"");
  EXPECT_TRUE(utf8_valid("h\xC3\xA9", 3));
}

TEST(Utf8Lossy, MaximalSubpartsBecomeOneReplacementEach) {
  // Unicode 15, table 3-8 (also the WHATWG decoder and Rust's behaviour).
  EXPECT_EQ(Str("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
            "\"a" + R + R + R + "b" + R + "c" + R + R + "d\"");
  // Rust's documented example: b"Hello \xF0\x90\x80World".
  EXPECT_EQ(Str("Hello \xF0\x90\x80World"), "\"Hello " + R + "World\"");
}

TEST(Utf8Lossy, NonShortestFormsAndSurrogatesAreSingleBytes) {
  EXPECT_EQ(Str("\xC0\xAF"), "\"" + R + R + "\"");
  EXPECT_EQ(Str("\xE0\x80\xAF"), "\"" + R + R + R + "\"");
  EXPECT_EQ(Str("\xED\xA0\x80"), "\"" + R + R + R + "\"");
  EXPECT_EQ(Str("\xF4\x90\x80\x80"), "\"" + R + R + R + R + "\"");
  EXPECT_EQ(Str("\xF5\xFF"), "\"" + R + R + "\"");
  EXPECT_FALSE(utf8_valid("\xED\xA0\x80", 3));
}

TEST(Utf8Lossy, TruncatedSequenceAtEndIsOneReplacement) {
  EXPECT_EQ(Str("ab\xE2\x82"), "\"ab" + R + "\"");
  EXPECT_EQ(Str("\xF0\x9F\x98"), "\"" + R + "\"");
}

TEST(JsonEscape, MatchesSerdeJson) {
  EXPECT_EQ(Str("\"\\/\b\f\n\r\t"), "\"\\\"\\\\/\\b\\f\\n\\r\\t\"");
  EXPECT_EQ(Str(std::string("\x00\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\x7f\"");
}

TEST(JsonCut, CutsOnUnitBoundariesWithinBudget) {
  std::string s = "ab\xE2\x82\xAC" "cd";  // ab€cd
  EXPECT_EQ(jw_string_cut(s.data(), s.size(), 2), 0u);
  EXPECT_EQ(jw_string_cut(s.data(), s.size(), 4), 2u);
  EXPECT_EQ(jw_string_cut(s.data(), s.size(), 6), 2u);  // € needs 3
  EXPECT_EQ(jw_string_cut(s.data(), s.size(), 7), 5u);
  EXPECT_EQ(jw_string_cut(s.data(), s.size(), 100), s.size());
  std::string n = "\n\n";  // 2 bytes each when escaped
  EXPECT_EQ(jw_string_cut(n.data(), n.size(), 5), 1u);
}

TEST(OutputFit, SharesTheBudget) {
  std::string big(1000, 'a'), small(10, 'b');
  size_t o, e;
  EXPECT_FALSE(output_fit(big.data(), big.size(), small.data(), small.size(), 2000, &o, &e));
  EXPECT_EQ(o, 1000u);
  EXPECT_TRUE(output_fit(big.data(), big.size(), small.data(), small.size(), 500, &o, &e));
  EXPECT_EQ(e, 10u);
  EXPECT_EQ(o, 500u - 12 - 2);
  EXPECT_TRUE(output_fit(big.data(), big.size(), big.data(), big.size(), 500, &o, &e));
  EXPECT_EQ(o + 2 + e + 2, 500u);
}

TEST(JsonWriter, ObjectsArraysAndCommas) {
  struct jbuf b;
  jbuf_init(&b, 0);
  jw_object_begin(&b);
  jw_key(&b, "a");
  jw_int(&b, -3);
  jw_key(&b, "b");
  jw_array_begin(&b);
  jw_cstring(&b, "x");
  jw_bool(&b, true);
  jw_array_end(&b);
  jw_key(&b, "c");
  jw_object_begin(&b);
  jw_object_end(&b);
  jw_object_end(&b);
  EXPECT_EQ(std::string(b.data, b.len), "{\"a\":-3,\"b\":[\"x\",true],\"c\":{}}");
  jbuf_done(&b);
}

TEST(JsonWriter, LimitIsSticky) {
  struct jbuf b;
  jbuf_init(&b, 8);
  jw_cstring(&b, "0123456789");
  EXPECT_EQ(jbuf_error(&b), -EMSGSIZE);
  jbuf_done(&b);
}

}  // namespace
