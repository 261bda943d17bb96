#include "vmm/net/domain.h"

#include <gtest/gtest.h>

#include <string>

namespace {

std::string Parse(const char *text, int *code = nullptr)
{
        char out[DOMAIN_MAX + 1];
        struct ak_error err = {};
        int r = domain_rule_parse(text, out, sizeof(out), &err);
        if (code)
                *code = r;
        return r == 0 ? std::string(out) : "ERR:" + std::string(err.msg);
}

TEST(Domain, ValidRulesAreLowercased)
{
        EXPECT_EQ(Parse("Example.COM"), "example.com");
        EXPECT_EQ(Parse("*.example.com"), "*.example.com");
        EXPECT_EQ(Parse("a-b.c0.example"), "a-b.c0.example");
        EXPECT_EQ(Parse("xn--bcher-kva.example"), "xn--bcher-kva.example");
}

TEST(Domain, InvalidRulesNameTheEntry)
{
        const char *bad[] = { "",        "*",         "*.com",       "com",       "example.com.", ".example.com",
                              "a..b.com", "-a.com",   "a-.com",      "a_b.com",   "*example.com", "a.*.com",
                              "**.a.com", "1.2.3.4",  "a.b.123",     "ex ample.com" };
        for (const char *b : bad) {
                int code = 0;
                std::string r = Parse(b, &code);
                EXPECT_EQ(code, -EINVAL) << b << " -> " << r;
                EXPECT_EQ(r.rfind("ERR:", 0), 0u) << b;
                if (*b) {
                        EXPECT_NE(r.find(b), std::string::npos) << "error does not name the entry: " << r;
                }
        }
        std::string label(64, 'a');
        EXPECT_EQ(Parse((label + ".com").c_str()).rfind("ERR:", 0), 0u);
        std::string longname;
        for (int i = 0; i < 64; i++)
                longname += "abc.";
        longname += "com"; /* 259 chars */
        EXPECT_EQ(Parse(longname.c_str()).rfind("ERR:", 0), 0u);
        std::string ok(63, 'a');
        EXPECT_EQ(Parse((ok + ".com").c_str()), ok + ".com");
}

TEST(Domain, RuleLikeTellsNamesFromCidrs)
{
        EXPECT_TRUE(domain_rule_like("example.com"));
        EXPECT_TRUE(domain_rule_like("*.example.com"));
        EXPECT_TRUE(domain_rule_like("*"));
        EXPECT_FALSE(domain_rule_like("10.0.0.0/8"));
        EXPECT_FALSE(domain_rule_like("fd00::/8"));
        EXPECT_FALSE(domain_rule_like("fd00::"));
        EXPECT_FALSE(domain_rule_like("1.2.3.4"));
}

TEST(Domain, Match)
{
        EXPECT_TRUE(domain_match("example.com", "example.com"));
        EXPECT_FALSE(domain_match("example.com", "www.example.com"));
        EXPECT_TRUE(domain_match("*.example.com", "www.example.com"));
        EXPECT_TRUE(domain_match("*.example.com", "a.b.example.com"));
        EXPECT_FALSE(domain_match("*.example.com", "example.com")) << "the apex is not under the wildcard";
        EXPECT_FALSE(domain_match("*.example.com", "badexample.com"));
        EXPECT_FALSE(domain_match("*.example.com", "example.com.evil.net"));
        const char *rules[] = { "a.test", "*.b.test" };
        EXPECT_TRUE(domain_match_any(rules, 2, "x.b.test"));
        EXPECT_FALSE(domain_match_any(rules, 2, "b.test"));
        EXPECT_FALSE(domain_match_any(rules, 0, "a.test"));
}

} // namespace
