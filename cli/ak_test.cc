// The built `ak` binary, run as a user would.
#include <stdio.h>
#include <sys/wait.h>

#include <string>

#include <gtest/gtest.h>

namespace {

struct Result {
        int status;
        std::string out;
};

Result ak(const std::string &args)
{
        std::string cmd = "cli/ak " + args + " 2>&1";
        Result r{-1, ""};
        FILE *p = popen(cmd.c_str(), "r");
        if (!p)
                return r;
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
                r.out.append(buf, n);
        int st = pclose(p);
        r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        return r;
}

TEST(Ak, HelpListsCommandsWithExamples)
{
        Result r = ak("--help");
        EXPECT_EQ(0, r.status);
        EXPECT_NE(std::string::npos, r.out.find("Usage: ak COMMAND"));
        EXPECT_NE(std::string::npos, r.out.find("version"));
        EXPECT_NE(std::string::npos, r.out.find("Examples:"));
}

TEST(Ak, VersionPlainAndJson)
{
        Result r = ak("version");
        EXPECT_EQ(0, r.status);
        EXPECT_EQ(0u, r.out.find("ak 0."));
        EXPECT_NE(std::string::npos, r.out.find("agentkernel 0.18.1"));
        r = ak("version --json");
        EXPECT_EQ(0, r.status);
        EXPECT_EQ(0u, r.out.find("{\"version\":\""));
}

TEST(Ak, EachCommandHasHelp)
{
        for (const char *c : {"version", "help", "receipt"}) {
                Result r = ak(std::string(c) + " --help");
                EXPECT_EQ(0, r.status) << c;
                EXPECT_EQ(0u, r.out.find("Usage: ak ")) << c << ": " << r.out;
        }
}

TEST(Ak, BadUsageExitsTwoAndSaysWhy)
{
        Result r = ak("frobnicate");
        EXPECT_EQ(2, r.status);
        EXPECT_NE(std::string::npos, r.out.find("unknown command 'frobnicate'"));
        r = ak("version --bogus");
        EXPECT_EQ(2, r.status);
        EXPECT_NE(std::string::npos, r.out.find("unknown option --bogus"));
        r = ak("");
        EXPECT_EQ(2, r.status);
}

}  // namespace
