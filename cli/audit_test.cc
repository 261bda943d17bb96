// `ak audit`, run as a user would: one-machine mode ($AK_HOME/audit.jsonl)
// and through a real ak-auditor process.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/testing/test_util.h"

extern char **environ;

namespace {

using aktest::Lines;
using aktest::ReadFile;
using aktest::TempDir;
using aktest::WaitFor;
using namespace std::chrono_literals;

struct Result {
        int status;
        std::string out;  // stdout
        std::string err;  // stderr
};

Result Ak(const std::string &home, const std::string &args)
{
        TempDir tmp;
        std::string cmd = "AK_HOME=" + home + " cli/ak " + args + " 2>" + (tmp / "err");
        Result r{-1, "", ""};
        FILE *p = popen(cmd.c_str(), "r");
        if (!p)
                return r;
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
                r.out.append(buf, n);
        int st = pclose(p);
        r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        r.err = ReadFile(tmp / "err");
        return r;
}

std::string Trim(std::string s)
{
        while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
                s.pop_back();
        return s;
}

TEST(AkAudit, OneMachineModeAppendsAgentkernelJsonl)
{
        TempDir home;
        Result r = Ak(home.path(), "audit emit --type sandbox_created --action create --outcome permit "
                                   "--resource-type sandbox --resource-id dev --actor-user alice");
        ASSERT_EQ(0, r.status) << r.err;
        std::string uid = Trim(r.out);
        EXPECT_EQ(36u, uid.size()) << r.out;
        auto lines = Lines(ReadFile(home / "audit.jsonl"));
        ASSERT_EQ(1u, lines.size());
        EXPECT_EQ(0u, lines[0].find("{\"time\":\"")) << lines[0];
        EXPECT_NE(std::string::npos, lines[0].find("\"class_uid\":3001,\"category_uid\":3,\"severity_id\":1,"
                                                   "\"type_name\":\"sandbox_created\",\"uid\":\"" + uid + "\""));
        EXPECT_NE(std::string::npos, lines[0].find("\"actor\":{\"user_id\":\"alice\",\"email\":null"));
        EXPECT_NE(std::string::npos,
                  lines[0].find("\"resource\":{\"resource_type\":\"sandbox\",\"resource_id\":\"dev\",\"attributes\":{}}"));

        r = Ak(home.path(), "audit emit --type policy_decision --action Network --outcome deny");
        ASSERT_EQ(0, r.status) << r.err;
        r = Ak(home.path(), "audit tail --no-follow");
        ASSERT_EQ(0, r.status) << r.err;
        auto shown = Lines(r.out);
        ASSERT_EQ(2u, shown.size()) << r.out;
        EXPECT_EQ(0u, shown[0].find("1 ")) << shown[0];
        EXPECT_NE(std::string::npos, shown[0].find("permit sandbox_created create  sandbox/dev  user=alice  " + uid));
        EXPECT_NE(std::string::npos, shown[1].find("deny   policy_decision Network"));
        r = Ak(home.path(), "audit tail --json --no-follow --from 2");
        EXPECT_EQ(Lines(ReadFile(home / "audit.jsonl"))[1] + "\n", r.out);
        r = Ak(home.path(), "audit tail --json --limit 1");
        EXPECT_EQ(lines[0] + "\n", r.out);
}

TEST(AkAudit, UsageErrorsSayWhat)
{
        TempDir home;
        Result r = Ak(home.path(), "audit emit --type t --action a --outcome maybe");
        EXPECT_EQ(2, r.status);
        EXPECT_EQ(0u, r.err.find("ak audit: --outcome is permit, deny, error or info, not 'maybe'\n")) << r.err;
        r = Ak(home.path(), "audit emit --type t --outcome info");
        EXPECT_EQ(2, r.status);
        EXPECT_NE(std::string::npos, r.err.find("emit needs --type, --action and --outcome"));
        r = Ak(home.path(), "audit tail --from-now --from 3");
        EXPECT_EQ(2, r.status);
        r = Ak(home.path(), "audit frob");
        EXPECT_EQ(2, r.status);
        EXPECT_NE(std::string::npos, r.err.find("unknown subcommand 'frob'"));
        r = Ak(home.path(), "audit --help");
        EXPECT_EQ(0, r.status);
        EXPECT_NE(std::string::npos, r.out.find("Examples:"));
}

TEST(AkAudit, ThroughARealAuditor)
{
        TempDir dir;
        std::string sock = "unix:" + (dir / "a.sock"), out = dir / "out.jsonl", cfg = dir / "c.json";
        aktest::WriteFile(cfg, R"({"destination":{"type":"file","path":")" + out +
                                             R"("},"flush_interval_secs":0,"batch_size":1})");
        const char *bin = "services/auditor/ak-auditor";
        std::string spool = dir / "spool", log = dir / "log";
        char *argv[] = { (char *)bin,          (char *)"--listen",     (char *)sock.c_str(), (char *)"--config",
                         (char *)cfg.c_str(), (char *)"--spool",      (char *)spool.c_str(), nullptr };
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT, 0600);
        pid_t pid;
        ASSERT_EQ(0, posix_spawn(&pid, bin, &fa, nullptr, argv, environ));
        posix_spawn_file_actions_destroy(&fa);
        ASSERT_TRUE(WaitFor([&] { return ReadFile(log).find("listening") != std::string::npos; }, 20s));

        // A tail from now, started before the event.
        TempDir tmp;
        std::string follow = "cli/ak audit tail --auditor " + sock + " --from-now --limit 1 --json > " +
                             (tmp / "follow") + " &";
        ASSERT_EQ(0, system(follow.c_str()));
        std::this_thread::sleep_for(500ms);

        Result r = Ak(dir.path(), "audit emit --auditor " + sock +
                                          " --type command_executed --action exec --outcome info --resource-type sandbox");
        ASSERT_EQ(0, r.status) << r.err;
        std::string uid = Trim(r.out);
        EXPECT_EQ('7', uid.at(14)) << uid; // assigned by the auditor: UUIDv7
        ASSERT_TRUE(WaitFor([&] { return ReadFile(out).find(uid) != std::string::npos; }, 10s));
        EXPECT_FALSE(access((dir / "audit.jsonl").c_str(), F_OK) == 0); // not one-machine mode

        r = Ak(dir.path(), "audit tail --auditor " + sock + " --no-follow --json");
        ASSERT_EQ(0, r.status) << r.err;
        EXPECT_EQ(Lines(ReadFile(out)), Lines(r.out));
        ASSERT_TRUE(WaitFor([&] { return ReadFile(tmp / "follow").find(uid) != std::string::npos; }, 10s));

        kill(pid, SIGTERM);
        int st;
        waitpid(pid, &st, 0);
        EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);

        r = Ak(dir.path(), "audit emit --auditor " + sock + " --type t --action a --outcome info");
        EXPECT_EQ(1, r.status);
        EXPECT_EQ(0u, r.err.find("ak audit emit: not acknowledged by the auditor at " + sock + ": ")) << r.err;
}

}  // namespace
