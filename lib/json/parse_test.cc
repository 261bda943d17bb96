#include <errno.h>
#include <gtest/gtest.h>

#include <string>

#include "lib/json/json.h"

namespace {

struct Tree {
        struct json_value *v = nullptr;
        ~Tree() { json_value_free(v); }
};

int Parse(const std::string &s, Tree *t, std::string *msg = nullptr)
{
        struct json_error e = {};
        int r = json_parse(s.data(), s.size(), &t->v, &e);
        if (msg)
                *msg = e.message;
        return r;
}

std::string Str(const struct json_value *v)
{
        size_t n = 0;
        const char *s = json_string(v, &n);
        EXPECT_NE(s, nullptr);
        return s ? std::string(s, n) : "";
}

TEST(JsonParse, Scalars)
{
        Tree t;
        ASSERT_EQ(Parse(" \t\r\n{\"a\" : [true,false,null, -1.5e+3 ,\"x\"]}\n", &t), 0);
        ASSERT_EQ(json_value_type(t.v), JSON_OBJECT);
        const struct json_value *a = json_object_get(t.v, "a");
        ASSERT_NE(a, nullptr);
        ASSERT_EQ(json_array_size(a), 5u);
        EXPECT_TRUE(json_bool(json_array_get(a, 0)));
        EXPECT_FALSE(json_bool(json_array_get(a, 1)));
        EXPECT_EQ(json_value_type(json_array_get(a, 2)), JSON_NULL);
        EXPECT_STREQ(json_number_text(json_array_get(a, 3)), "-1.5e+3");
        EXPECT_EQ(Str(json_array_get(a, 4)), "x");
        EXPECT_EQ(json_array_get(a, 5), nullptr);
}

TEST(JsonParse, StringEscapesDecodeToExactBytes)
{
        Tree t;
        ASSERT_EQ(Parse(R"("a\"b\\c\/d\b\f\n\r\t\u0001\u001f\u007f\u00e9\u20AC\ud83d\ude00\u0000z")", &t), 0);
        EXPECT_EQ(Str(t.v), std::string("a\"b\\c/d\b\f\n\r\t\x01\x1f\x7f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\0z", 26));
}

TEST(JsonParse, RawUtf8Kept)
{
        Tree t;
        ASSERT_EQ(Parse("\"h\xc3\xa9llo \xf0\x9f\x98\x80 \x7f\"", &t), 0);
        EXPECT_EQ(Str(t.v), "h\xc3\xa9llo \xf0\x9f\x98\x80 \x7f");
}

TEST(JsonParse, EscapedKeysMatch)
{
        Tree t;
        ASSERT_EQ(Parse(R"({"ver\u0073ion":1,"version":2})", &t), 0);
        EXPECT_EQ(json_object_size(t.v), 2u);
        EXPECT_STREQ(json_number_text(json_object_get(t.v, "version")), "1");
}

TEST(JsonParse, Rejects)
{
        const char *bad[] = {
                "",
                " ",
                "{",
                "[1,]",
                "{\"a\":1,}",
                "{a:1}",
                "[1 2]",
                "01",
                "-",
                "1.",
                ".5",
                "1e",
                "+1",
                "NaN",
                "Infinity",
                "tru",
                "nul",
                "\"abc",
                "\"\\x\"",
                "\"\\u12\"",
                "\"\\ud83d\"",        /* lone leading surrogate */
                "\"\\ud83dx\"",
                "\"\\ud83d\\u0041\"", /* leading + non-trailing */
                "\"\\ude00\"",        /* lone trailing surrogate */
                "\"\x01\"",           /* raw control character */
                "\"\n\"",
                "\"\xff\"",           /* invalid UTF-8 */
                "\"\xc0\xaf\"",       /* overlong */
                "\"\xe0\x80\xaf\"",   /* overlong */
                "\"\xed\xa0\x80\"",   /* encoded surrogate */
                "\"\xf4\x90\x80\x80\"", /* above U+10FFFF */
                "\"\xe2\x82\"",       /* truncated */
                "1 2",
                "{} x",
                "\xef\xbb\xbf{}",     /* BOM */
                "[1]\x0b",
                "'a'",
        };
        for (const char *b : bad) {
                Tree t;
                std::string m;
                EXPECT_EQ(Parse(b, &t, &m), -EINVAL) << b;
                EXPECT_FALSE(m.empty());
        }
        Tree t;
        EXPECT_EQ(Parse(std::string("\"a\0b\"", 5), &t), -EINVAL);
}

TEST(JsonParse, ErrorPosition)
{
        Tree t;
        std::string m;
        ASSERT_EQ(Parse("{\n  \"a\": x\n}", &t, &m), -EINVAL);
        EXPECT_EQ(m, "expected value at line 2 column 8");
        ASSERT_EQ(Parse("[1] [", &t, &m), -EINVAL);
        EXPECT_EQ(m, "trailing characters at line 1 column 5");
}

TEST(JsonParse, DepthLimit)
{
        std::string ok(JSON_MAX_DEPTH, '['), deep(JSON_MAX_DEPTH + 1, '[');
        ok += std::string(JSON_MAX_DEPTH, ']');
        deep += std::string(JSON_MAX_DEPTH + 1, ']');
        Tree a, b;
        std::string m;
        EXPECT_EQ(Parse(ok, &a), 0);
        EXPECT_EQ(Parse(deep, &b, &m), -EINVAL);
        EXPECT_NE(m.find("recursion limit"), std::string::npos);
        /* a very deep input fails fast, without recursing further */
        Tree c;
        EXPECT_EQ(Parse(std::string(1 << 20, '['), &c), -EINVAL);
}

TEST(JsonParse, Integers)
{
        struct {
                const char *text;
                int u_rc;
                uint64_t u;
                int i_rc;
                int64_t i;
        } cases[] = {
                {"0", 0, 0, 0, 0},
                {"42", 0, 42, 0, 42},
                {"18446744073709551615", 0, UINT64_MAX, -ERANGE, 0},
                {"18446744073709551616", -ERANGE, 0, -ERANGE, 0},
                {"9223372036854775807", 0, INT64_MAX, 0, INT64_MAX},
                {"9223372036854775808", 0, 9223372036854775808ull, -ERANGE, 0},
                {"-1", -ERANGE, 0, 0, -1},
                {"-9223372036854775808", -ERANGE, 0, 0, INT64_MIN},
                {"-9223372036854775809", -EDOM, 0, -EDOM, 0},
                {"-0", -EDOM, 0, -EDOM, 0},
                {"1.0", -EDOM, 0, -EDOM, 0},
                {"1e2", -EDOM, 0, -EDOM, 0},
                {"1E2", -EDOM, 0, -EDOM, 0},
                {"123456789012345678901234567890.5", -EDOM, 0, -EDOM, 0},
        };
        for (auto &c : cases) {
                Tree t;
                ASSERT_EQ(Parse(c.text, &t), 0) << c.text;
                uint64_t u = 0;
                int64_t i = 0;
                EXPECT_EQ(json_number_u64(t.v, &u), c.u_rc) << c.text;
                if (c.u_rc == 0) {
                        EXPECT_EQ(u, c.u) << c.text;
                }
                EXPECT_EQ(json_number_i64(t.v, &i), c.i_rc) << c.text;
                if (c.i_rc == 0) {
                        EXPECT_EQ(i, c.i) << c.text;
                }
        }
        Tree s;
        ASSERT_EQ(Parse("\"1\"", &s), 0);
        uint64_t u;
        EXPECT_EQ(json_number_u64(s.v, &u), -EDOM);
}

TEST(JsonParse, DuplicatesKeptInOrder)
{
        Tree t;
        ASSERT_EQ(Parse(R"({"a":1,"b":2,"a":3})", &t), 0);
        ASSERT_EQ(json_object_size(t.v), 3u);
        size_t n;
        EXPECT_STREQ(json_object_key(t.v, 2, &n), "a");
        EXPECT_STREQ(json_number_text(json_object_value(t.v, 2)), "3");
        EXPECT_STREQ(json_number_text(json_object_get(t.v, "a")), "1");
}

TEST(JsonParse, TooBig)
{
        Tree t;
        EXPECT_EQ(json_parse("1", JSON_MAX_INPUT + 1, &t.v, nullptr), -E2BIG);
}

} // namespace

TEST(JsonParse, ObjectCopyString)
{
        Tree t;
        ASSERT_EQ(Parse(R"({"a":"abc","n":1,"z":"x\u0000y"})", &t), 0);
        char buf[4];
        EXPECT_EQ(0, json_object_copy_string(t.v, "a", buf, sizeof(buf)));
        EXPECT_STREQ("abc", buf);
        EXPECT_EQ(-EINVAL, json_object_copy_string(t.v, "a", buf, 3));   // does not fit
        EXPECT_EQ(-EINVAL, json_object_copy_string(t.v, "n", buf, sizeof(buf)));  // not a string
        EXPECT_EQ(-EINVAL, json_object_copy_string(t.v, "z", buf, sizeof(buf)));  // a NUL inside
        EXPECT_EQ(-EINVAL, json_object_copy_string(t.v, "missing", buf, sizeof(buf)));
}
