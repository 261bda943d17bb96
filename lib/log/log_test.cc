#include "lib/log/log.h"

#include <gtest/gtest.h>

#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

#include "lib/base/trace.h"

namespace {

/* 2026-12-07T13:05:38.123Z */
const int64_t kWhen = 1796648738123;

std::string Line(enum ak_log_level level, const char *msg, const std::initializer_list<ak_log_field> &f)
{
        char *p = nullptr;
        EXPECT_EQ(0, ak_log_render(level, msg, f.begin(), f.size(), kWhen, &p));
        std::string s = p ? p : "";
        free(p);
        return s;
}

TEST(AkLog, TextQuotesWhatNeedsIt)
{
        ak_error err = {};
        ASSERT_EQ(0, ak_log_setup("ak-executor", "text", "info", &err)) << err.msg;
        EXPECT_EQ(Line(AK_LOG_INFO, "exec", { AK_LOG_S("sandbox", "s1"), AK_LOG_I("exit_code", -1) }),
                  "2026-12-07T13:05:38.123Z info ak-executor: exec sandbox=s1 exit_code=-1");
        EXPECT_EQ(Line(AK_LOG_WARN, "boot failed", { AK_LOG_S("error", "a \"b\"\nc=d"), AK_LOG_S("e", "") }),
                  "2026-12-07T13:05:38.123Z warn ak-executor: boot failed error=\"a \\\"b\\\"\\nc=d\" e=\"\"");
        /* A message is quoted only when it would break the line. */
        EXPECT_EQ(Line(AK_LOG_INFO, "two\nlines", {}), "2026-12-07T13:05:38.123Z info ak-executor: \"two\\nlines\"");
        /* Invalid UTF-8 never breaks a line. */
        EXPECT_EQ(Line(AK_LOG_ERROR, "x", { AK_LOG_S("v", "\xff") }),
                  "2026-12-07T13:05:38.123Z error ak-executor: x v=?");
}

TEST(AkLog, JsonLines)
{
        ak_error err = {};
        ASSERT_EQ(0, ak_log_setup("ak-executor", "json", "debug", &err)) << err.msg;
        EXPECT_EQ(Line(AK_LOG_DEBUG, "exec", { AK_LOG_S("sandbox", "s\"1"), AK_LOG_I("duration_ms", 44) }),
                  "{\"time\":\"2026-12-07T13:05:38.123Z\",\"level\":\"debug\",\"service\":\"ak-executor\","
                  "\"msg\":\"exec\",\"sandbox\":\"s\\\"1\",\"duration_ms\":44}");
        EXPECT_TRUE(ak_log_enabled(AK_LOG_DEBUG));
}

TEST(AkLog, TheThreadsRequestIsOnItsLines)
{
        ak_error err = {};
        ASSERT_EQ(0, ak_log_setup("ak-executor", "json", "info", &err)) << err.msg;
        ASSERT_EQ(0, ak_trace_set("req-9", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        EXPECT_EQ(Line(AK_LOG_INFO, "exec", { AK_LOG_S("sandbox", "s1") }),
                  "{\"time\":\"2026-12-07T13:05:38.123Z\",\"level\":\"info\",\"service\":\"ak-executor\","
                  "\"msg\":\"exec\",\"sandbox\":\"s1\",\"request_id\":\"req-9\","
                  "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}");
        /* A caller's own request_id wins; no traceparent, no trace_id. */
        ASSERT_EQ(0, ak_trace_set("req-10", nullptr));
        ASSERT_EQ(0, ak_log_setup("ak-executor", "text", "info", &err)) << err.msg;
        EXPECT_EQ(Line(AK_LOG_INFO, "x", { AK_LOG_S("request_id", "mine") }),
                  "2026-12-07T13:05:38.123Z info ak-executor: x request_id=mine");
        ak_trace_clear();
        EXPECT_EQ(Line(AK_LOG_INFO, "x", {}), "2026-12-07T13:05:38.123Z info ak-executor: x");
}

TEST(AkLog, LevelsFilterAndBadValuesAreRefused)
{
        ak_error err = {};
        ASSERT_EQ(0, ak_log_setup("ak-x", nullptr, "warn", &err));
        EXPECT_FALSE(ak_log_enabled(AK_LOG_INFO));
        EXPECT_TRUE(ak_log_enabled(AK_LOG_WARN));
        EXPECT_TRUE(ak_log_enabled(AK_LOG_ERROR));
        EXPECT_EQ(-EINVAL, ak_log_setup("ak-x", "xml", nullptr, &err));
        EXPECT_STREQ(err.msg, "--log-format xml: want text or json");
        EXPECT_EQ(-EINVAL, ak_log_setup("ak-x", "text", "loud", &err));
        EXPECT_STREQ(err.msg, "--log-level loud: want debug, info, warn or error");
        /* A refused setup changes nothing. */
        EXPECT_FALSE(ak_log_enabled(AK_LOG_INFO));
        EXPECT_STREQ(ak_log_format_name(), "text");
        EXPECT_STREQ(ak_log_level_name(), "warn");
}

/* What a parent passes to a child's --log-format and --log-level is what
 * it was set up with, and the child's setup takes it. */
TEST(AkLog, TheSettingsInForceAreNamedAsSetupTakesThem)
{
        ak_error err = {};
        ASSERT_EQ(0, ak_log_setup("ak-executor", "json", "debug", &err)) << err.msg;
        EXPECT_STREQ(ak_log_format_name(), "json");
        EXPECT_STREQ(ak_log_level_name(), "debug");
        EXPECT_EQ(0, ak_log_check(ak_log_format_name(), ak_log_level_name(), &err)) << err.msg;
        ASSERT_EQ(0, ak_log_setup("ak-vmm", nullptr, "error", &err)) << err.msg;
        EXPECT_STREQ(ak_log_format_name(), "text");
        EXPECT_STREQ(ak_log_level_name(), "error");
}

TEST(AkLog, LongValuesAreCut)
{
        ak_error err = {};
        ASSERT_EQ(0, ak_log_setup("ak-x", "text", nullptr, &err));
        std::string big(5000, 'a');
        std::string s = Line(AK_LOG_INFO, "m", { AK_LOG_S("v", big.c_str()) });
        EXPECT_EQ(s.size(), std::string("2026-12-07T13:05:38.123Z info ak-x: m v=").size() + AK_LOG_VALUE_MAX);
}

/* Sixteen values of quotes, each escaped to twice its size: the whole
 * line, in both formats (a fixed line size used to drop the JSON line and
 * cut the text one; found by log_fuzz). */
TEST(AkLog, LinesOfEscapedValuesAreWhole)
{
        ak_error err = {};
        std::string quotes(AK_LOG_VALUE_MAX, '"');
        std::vector<std::string> keys;
        std::vector<ak_log_field> f;
        for (int i = 0; i < AK_LOG_MAX_FIELDS; i++)
                keys.push_back("k" + std::to_string(i));
        for (int i = 0; i < AK_LOG_MAX_FIELDS; i++)
                f.push_back(AK_LOG_S(keys[i].c_str(), quotes.c_str()));
        for (const char *format : { "json", "text" }) {
                ASSERT_EQ(0, ak_log_setup("ak-x", format, nullptr, &err)) << err.msg;
                char *p = nullptr;
                ASSERT_EQ(0, ak_log_render(AK_LOG_INFO, "m", f.data(), f.size(), kWhen, &p)) << format;
                std::string line = p;
                free(p);
                std::string esc;
                for (int i = 0; i < AK_LOG_VALUE_MAX; i++)
                        esc += "\\\"";
                std::string last = strcmp(format, "json") ? " k15=\"" + esc + "\"" : ",\"k15\":\"" + esc + "\"}";
                ASSERT_GT(line.size(), last.size()) << format;
                EXPECT_EQ(line.substr(line.size() - last.size()), last) << format;
        }
}

} // namespace
