/* receipt_from_json follows serde's derived Deserialize. */
#include <errno.h>
#include <gtest/gtest.h>

#include "lib/receipt/test_util.h"

using namespace rt;

namespace {

std::string Replace(std::string s, const std::string &from, const std::string &to)
{
        size_t at = s.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        if (at != std::string::npos)
                s.replace(at, from.size(), to);
        return s;
}

std::string Base()
{
        return Json(UnsignedReceipt().get(), false);
}

/* Parses; returns the error ("" on success). */
std::string Err(const std::string &text, Receipt *out = nullptr)
{
        Receipt r(nullptr);
        std::string e;
        int rc = ParseJson(text, &r, &e);
        if (rc == 0 && out)
                *out = std::move(r);
        if (rc != 0) {
                EXPECT_FALSE(e.empty());
        }
        return rc == 0 ? "" : e;
}

} // namespace

TEST(ReceiptParse, UnknownFieldsIgnoredEverywhere)
{
        std::string s = Base();
        s = Replace(s, "{\"version\":1", "{\"extra\":{\"deep\":[1,2.5,null]},\"version\":1");
        s = Replace(s, "\"mode\":\"run\"", "\"mode\":\"run\",\"x\":true");
        s = Replace(s, "\"profile\"", "\"zzz\":0,\"profile\"");
        s = Replace(s, "\"exit_code\"", "\"Exit_code\":\"no\",\"exit_code\"");
        Receipt r(nullptr);
        EXPECT_EQ(Err(s, &r), "");
        EXPECT_EQ(VerifyError(r.get(), true), "");
}

TEST(ReceiptParse, MissingOptionFieldsAreNone)
{
        std::string s = Base();
        s = Replace(s, "\"image\":\"python:3.12-alpine\",", "");
        s = Replace(s, "\"backend\":\"docker\",", "");
        s = Replace(s, ",\"error\":null", "");
        s = Replace(s, ",\"signature\":null", "");
        Receipt r(nullptr);
        ASSERT_EQ(Err(s, &r), "");
        EXPECT_EQ(r->invocation.run.image, nullptr);
        EXPECT_EQ(r->invocation.run.backend, nullptr);
        EXPECT_EQ(r->outcome.error, nullptr);
        EXPECT_EQ(r->signature, nullptr);
        EXPECT_NE(Payload(r.get()).find("\"image\":null,\"backend\":null"), std::string::npos);
}

TEST(ReceiptParse, MissingRequiredFieldsRejected)
{
        const char *fields[] = {"\"version\":1,", "\"receipt_id\":\"test-receipt-1\",",
                                "\"recorded_at\":\"2026-02-23T00:00:00Z\",", "\"profile\":\"moderate\",",
                                ",\"no_network\":false", ",\"fast\":false", ",\"keep\":false",
                                "\"exit_code\":0,", "\"success\":true,", "\"output_bytes\":3,"};
        for (const char *f : fields) {
                std::string e = Err(Replace(Base(), f, ""));
                EXPECT_NE(e.find("missing field"), std::string::npos) << f << ": " << e;
        }
        std::string s = Base();
        size_t h = s.find(",\"payload_hash_sha256\"");
        size_t end = s.find(",\"signature\"");
        EXPECT_NE(Err(s.substr(0, h) + s.substr(end)).find("missing field `payload_hash_sha256`"), std::string::npos);
        EXPECT_NE(Err(Replace(Base(), "\"command\":[\"python3\",\"-c\",\"print('ok')\"],", "")).find("`command`"),
                  std::string::npos);
        EXPECT_NE(Err(Replace(Base(), "\"mode\":\"run\",", "")).find("`mode`"), std::string::npos);
}

TEST(ReceiptParse, DuplicateFieldsRejected)
{
        EXPECT_NE(Err(Replace(Base(), "{\"version\":1", "{\"version\":1,\"version\":1")).find("duplicate field `version`"),
                  std::string::npos);
        EXPECT_NE(Err(Replace(Base(), "\"keep\":false", "\"keep\":false,\"keep\":false")).find("duplicate"),
                  std::string::npos);
        EXPECT_NE(Err(Replace(Base(), "\"mode\":\"run\"", "\"mode\":\"run\",\"mode\":\"run\"")).find("duplicate"),
                  std::string::npos);
        EXPECT_NE(Err(Replace(Base(), ",\"signature\":null", ",\"signature\":null,\"signature\":null")).find("duplicate"),
                  std::string::npos);
        /* an escaped spelling is the same key */
        EXPECT_NE(Err(Replace(Base(), "{\"version\":1", "{\"version\":1,\"v\\u0065rsion\":1")).find("duplicate"),
                  std::string::npos);
        /* duplicate unknown fields are fine */
        EXPECT_EQ(Err(Replace(Base(), "{\"version\":1", "{\"a\":1,\"a\":2,\"version\":1")), "");
}

TEST(ReceiptParse, TagAfterContent)
{
        std::string s = Replace(Base(), "\"mode\":\"run\",\"input\":", "\"input\":");
        s = Replace(s, "},\"outcome\"", ",\"mode\":\"run\"},\"outcome\"");
        Receipt r(nullptr);
        ASSERT_EQ(Err(s, &r), "");
        EXPECT_EQ(VerifyError(r.get(), true), "");
}

TEST(ReceiptParse, SequenceFormOfStructs)
{
        /* serde accepts a struct as an array of its fields in order */
        std::string s = "[1,\"id\",\"t\",[\"exec\",[\"n\",[\"c\"],[],null,true]],[-3,false,\"h\",7,null],\"x\",null]";
        Receipt r(nullptr);
        ASSERT_EQ(Err(s, &r), "");
        EXPECT_EQ(r->invocation.mode, RECEIPT_MODE_EXEC);
        EXPECT_TRUE(r->invocation.exec.sudo);
        EXPECT_EQ(r->outcome.exit_code, -3);
        EXPECT_EQ(Payload(r.get()), "{\"version\":1,\"receipt_id\":\"id\",\"recorded_at\":\"t\",\"invocation\":{\"mode\":"
                                    "\"exec\",\"input\":{\"name\":\"n\",\"command\":[\"c\"],\"env\":[],\"workdir\":null,"
                                    "\"sudo\":true}},\"outcome\":{\"exit_code\":-3,\"success\":false,\"output_sha256\":"
                                    "\"h\",\"output_bytes\":7,\"error\":null}}");
        /* exact length: Options are not optional in sequence form */
        EXPECT_NE(Err("[1,\"id\",\"t\",[\"exec\",[\"n\",[\"c\"],[],null,true]],[-3,false,\"h\",7,null],\"x\"]")
                          .find("invalid length"),
                  std::string::npos);
        EXPECT_NE(Err("[1,\"id\",\"t\",[\"exec\",[\"n\",[\"c\"],[],null,true]],[-3,false,\"h\",7,null],\"x\",null,1]")
                          .find("invalid length"),
                  std::string::npos);
}

TEST(ReceiptParse, IntegersExactlyAsSerde)
{
        struct {
                const char *from, *to;
                bool ok;
        } cases[] = {
                {"\"exit_code\":0", "\"exit_code\":-2147483648", true},
                {"\"exit_code\":0", "\"exit_code\":2147483647", true},
                {"\"exit_code\":0", "\"exit_code\":2147483648", false},
                {"\"exit_code\":0", "\"exit_code\":-2147483649", false},
                {"\"exit_code\":0", "\"exit_code\":0.0", false},
                {"\"exit_code\":0", "\"exit_code\":-0", false},
                {"\"exit_code\":0", "\"exit_code\":1e0", false},
                {"\"exit_code\":0", "\"exit_code\":\"0\"", false},
                {"\"exit_code\":0", "\"exit_code\":null", false},
                {"\"output_bytes\":3", "\"output_bytes\":18446744073709551615", true},
                {"\"output_bytes\":3", "\"output_bytes\":18446744073709551616", false},
                {"\"output_bytes\":3", "\"output_bytes\":-1", false},
                {"\"output_bytes\":3", "\"output_bytes\":3.0", false},
                {"\"version\":1", "\"version\":4294967295", true},
                {"\"version\":1", "\"version\":4294967296", false},
                {"\"version\":1", "\"version\":-1", false},
                {"\"version\":1", "\"version\":true", false},
        };
        for (auto &c : cases) {
                std::string e = Err(Replace(Base(), c.from, c.to));
                EXPECT_EQ(e.empty(), c.ok) << c.to << ": " << e;
        }
}

TEST(ReceiptParse, WrongTypesRejected)
{
        struct {
                const char *from, *to;
        } cases[] = {
                {"\"receipt_id\":\"test-receipt-1\"", "\"receipt_id\":1"},
                {"\"receipt_id\":\"test-receipt-1\"", "\"receipt_id\":null"},
                {"\"no_network\":false", "\"no_network\":0"},
                {"\"no_network\":false", "\"no_network\":null"},
                {"\"no_network\":false", "\"no_network\":\"false\""},
                {"\"command\":[\"python3\",", "\"command\":[1,"},
                {"\"command\":[\"python3\",\"-c\",\"print('ok')\"]", "\"command\":\"python3\""},
                {"\"image\":\"python:3.12-alpine\"", "\"image\":1"},
                {"\"image\":\"python:3.12-alpine\"", "\"image\":[]"},
                {"\"mode\":\"run\"", "\"mode\":\"Run\""},
                {"\"mode\":\"run\"", "\"mode\":\"shell\""},
                {"\"mode\":\"run\"", "\"mode\":0"},
                {"\"mode\":\"run\"", "\"mode\":\"exec\""}, /* run's input is not an ExecInvocation */
                {"\"signature\":null", "\"signature\":\"x\""},
                {"\"signature\":null", "\"signature\":{}"},
                {"\"signature\":null", "\"signature\":{\"algorithm\":\"ed25519\",\"key_id\":\"a\",\"public_key\":\"b\"}"},
                {"\"error\":null", "\"error\":false"},
                {"\"outcome\":{", "\"outcome\":[{"},
        };
        for (auto &c : cases)
                EXPECT_NE(Err(Replace(Base(), c.from, c.to)), "") << c.to;
        EXPECT_NE(Err("[]"), "");
        EXPECT_NE(Err("null"), "");
        EXPECT_NE(Err("\"receipt\""), "");
}

TEST(ReceiptParse, StringsDecodeToExactBytes)
{
        std::string s = Replace(Base(), "\"print('ok')\"", "\"\\u00e9\\ud83d\\ude00\\/\\\"\\\\\\b\\f\\n\\r\\t\\u001B\\u007f\"");
        Receipt r(nullptr);
        ASSERT_EQ(Err(s, &r), "");
        EXPECT_STREQ(r->invocation.run.command[2], "\xc3\xa9\xf0\x9f\x98\x80/\"\\\b\f\n\r\t\x1b\x7f");
        /* printed back in serde's escaping */
        EXPECT_NE(Payload(r.get()).find("\"\xc3\xa9\xf0\x9f\x98\x80/\\\"\\\\\\b\\f\\n\\r\\t\\u001b\x7f\""),
                  std::string::npos)
                << Payload(r.get());
}

TEST(ReceiptParse, InvalidStringsRejected)
{
        const char *bad[] = {"\"\\ud83d\"", "\"\\ude00\"", "\"\\ud83d\\u0041\"", "\"\xff\"", "\"\xed\xa0\x80\"",
                             "\"a\x01\"", "\"\\u0000\""};
        for (const char *b : bad)
                EXPECT_NE(Err(Replace(Base(), "\"print('ok')\"", b)), "") << b;
        EXPECT_NE(Err(Replace(Base(), "\"print('ok')\"", "\"\\u0000\"")).find("U+0000"), std::string::npos);
}

TEST(ReceiptParse, SyntaxErrorsHavePosition)
{
        std::string e = Err("{\n  \"version\": 1,\n  oops\n}");
        EXPECT_EQ(e, "key must be a string at line 3 column 3");
        EXPECT_NE(Err(Base() + "x").find("trailing characters"), std::string::npos);
        EXPECT_NE(Err("").find("EOF"), std::string::npos);
}
