// The JSON log checker itself: it accepts what lib/log/log.c writes and
// names the first line that breaks the contract.
#include "tests/testing/json_log.h"

#include <gtest/gtest.h>

namespace {

const char kGood[] =
        "{\"time\":\"2026-12-07T13:05:38.123Z\",\"level\":\"info\",\"service\":\"ak-x\",\"msg\":\"exec\",\"n\":1}\n";

TEST(JsonLog, AcceptsTheContract)
{
        EXPECT_EQ(aktest::JsonLogProblem("", "ak-x"), "");
        EXPECT_EQ(aktest::JsonLogProblem(std::string(kGood) + kGood, "ak-x"), "");
        EXPECT_EQ(aktest::JsonLogLines(std::string(kGood) + kGood, "exec").size(), 2u);
        EXPECT_EQ(aktest::JsonLogLines(kGood, "exe").size(), 0u);
}

TEST(JsonLog, NamesTheFirstBadLine)
{
        std::string text = std::string(kGood) + "2026-12-07T13:05:38.123Z ak-x: listening on 127.0.0.1:1\n";
        EXPECT_EQ(aktest::JsonLogProblem(text, "ak-x").rfind("line 2: not JSON", 0), 0u)
                << aktest::JsonLogProblem(text, "ak-x");
        EXPECT_NE(aktest::JsonLogProblem(kGood, "ak-y"), "");
        EXPECT_NE(aktest::JsonLogProblem(std::string(kGood, sizeof(kGood) - 2), "ak-x"), "");  // no newline
        for (const char *bad : {
                     "{\"level\":\"info\",\"service\":\"ak-x\",\"msg\":\"m\"}\n",
                     "{\"time\":\"2026-12-07 13:05:38\",\"level\":\"info\",\"service\":\"ak-x\",\"msg\":\"m\"}\n",
                     "{\"time\":\"2026-12-07T13:05:38.123Z\",\"level\":\"loud\",\"service\":\"ak-x\",\"msg\":\"m\"}\n",
                     "{\"time\":\"2026-12-07T13:05:38.123Z\",\"level\":\"info\",\"service\":\"ak-x\",\"msg\":\"\"}\n",
                     "[1]\n",
             })
                EXPECT_NE(aktest::JsonLogProblem(bad, "ak-x"), "") << bad;
}

}  // namespace
