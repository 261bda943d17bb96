// The real ak-auditor process: SIGKILL during heavy ingest, restart, and
// every acknowledged event reaches the webhook (duplicates allowed, the uid
// identical); graceful SIGTERM; precise errors for bad configs and flags.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <algorithm>

#include "lib/rpc/rpc.h"
#include "services/auditor/testing/client_util.h"
#include "services/auditor/testing/http_sink.h"
#include "services/auditor/testing/test_util.h"

extern char **environ;

namespace {

using auditor_test::CollectUids;
using auditor_test::Emit;
using auditor_test::EmitResult;
using auditor_test::ReadFile;
using auditor_test::TempDir;
using auditor_test::WaitFor;
using namespace std::chrono_literals;

const char kBinary[] = "services/auditor/ak-auditor";

// Starts ak-auditor with args, its stdout and stderr to log.
pid_t Start(const std::vector<std::string> &args, const std::string &log)
{
        std::vector<char *> argv{(char *)kBinary};
        for (auto &a : args)
                argv.push_back((char *)a.c_str());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        pid_t pid = -1;
        int r = posix_spawn(&pid, kBinary, &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        EXPECT_EQ(0, r) << strerror(r);
        return r == 0 ? pid : -1;
}

// Waits for the child; its exit status, or 128 + signal.
int Reap(pid_t pid)
{
        int st = 0;
        if (waitpid(pid, &st, 0) != pid)
                return -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

// A child that is killed and reaped when the scope ends, whatever happens.
struct Child {
        pid_t pid = -1;
        ~Child()
        {
                if (pid > 0) {
                        kill(pid, SIGKILL);
                        Reap(pid);
                }
        }
        int stop(int sig)
        {
                kill(pid, sig);
                int r = Reap(pid);
                pid = -1;
                return r;
        }
};

bool Healthy(struct rpc_channel *ch)
{
        return WaitFor([&] { return rpc_health_check(ch, "", 500, nullptr) == RPC_OK; }, 20s);
}

TEST(AuditorProcess, SigkillDuringHeavyIngestLosesNothingAcknowledged)
{
        TempDir dir;
        struct http_sink *sink = nullptr;
        ASSERT_EQ(0, http_sink_start(&sink));
        std::string cfg = dir / "audit.json", log = dir / "auditor.log", sock = "unix:" + (dir / "a.sock");
        auditor_test::WriteFile(cfg, R"({"destination":{"type":"http_webhook","url":"http://127.0.0.1:)" +
                                             std::to_string(http_sink_port(sink)) +
                                             R"(/x"},"batch_size":100,"flush_interval_secs":0,
                                             "retry_backoff_initial_ms":20,"retry_backoff_max_secs":1})");
        std::vector<std::string> args = {"--listen", sock, "--config", cfg, "--spool", dir / "spool"};
        std::mutex mu;
        std::vector<std::string> acked;
        size_t failed_calls = 0;

        for (int round = 0; round < 3; round++) {
                Child c;
                c.pid = Start(args, log);
                struct rpc_channel *ch = nullptr;
                ASSERT_EQ(0, rpc_channel_new(sock.c_str(), nullptr, &ch, nullptr));
                ASSERT_TRUE(Healthy(ch)) << ReadFile(log);
                // The webhook is slow in some rounds, so the spool holds a backlog when killed.
                http_sink_set_response(sink, round == 1 ? 503 : 200, -1, round == 2 ? 20 : 0);
                std::atomic<bool> stop{false};
                std::vector<std::thread> emitters;
                for (int t = 0; t < 8; t++)
                        emitters.emplace_back([&] {
                                while (!stop) {
                                        EmitResult r = Emit(ch, 10);
                                        std::lock_guard<std::mutex> l(mu);
                                        if (r.code != RPC_OK) {
                                                failed_calls++;
                                                break;
                                        }
                                        acked.insert(acked.end(), r.uids.begin(), r.uids.end());
                                }
                        });
                std::this_thread::sleep_for(800ms);
                EXPECT_EQ(128 + SIGKILL, c.stop(SIGKILL)); // mid-ingest: calls are in flight
                stop = true;
                for (auto &t : emitters)
                        t.join();
                rpc_channel_free(ch);
        }
        http_sink_set_response(sink, 200, -1, 0);
        ASSERT_GT(acked.size(), 100u);
        printf("acknowledged %zu events in 3 rounds; %zu calls failed when the auditor died\n", acked.size(),
               failed_calls);

        Child c;
        c.pid = Start(args, log);
        auto delivered = [&] {
                std::set<std::string> have;
                for (size_t i = 0;; i++) {
                        char *b = http_sink_body(sink, i);
                        if (!b)
                                break;
                        std::vector<std::string> u;
                        CollectUids(b, &u);
                        have.insert(u.begin(), u.end());
                        free(b);
                }
                return have;
        };
        bool all = WaitFor(
                [&] {
                        auto have = delivered();
                        for (auto &u : acked)
                                if (!have.count(u))
                                        return false;
                        return true;
                },
                60s);
        auto have = delivered();
        size_t missing = 0;
        for (auto &u : acked)
                missing += !have.count(u);
        EXPECT_TRUE(all) << missing << " of " << acked.size() << " acknowledged events never arrived\n"
                         << ReadFile(log);
        EXPECT_EQ(0, c.stop(SIGTERM)) << ReadFile(log);
        EXPECT_NE(std::string::npos, ReadFile(log).find("shutting down"));
        http_sink_stop(sink);
}

// Damage in the middle of the newest spool segment while the auditor is down
// (20 events acknowledged, none delivered yet): the restarted auditor keeps
// the damaged record aside in a quarantine file, says so, and delivers the
// other 19, those after the damage included.
TEST(AuditorProcess, MidSegmentDamageLosesOnlyTheDamagedEvent)
{
        TempDir dir;
        std::string cfg = dir / "audit.json", log = dir / "auditor.log", sock = "unix:" + (dir / "a.sock");
        std::string spool = dir / "spool", out = dir / "events.jsonl";
        // First a webhook nobody serves (port 1 on loopback): nothing is delivered.
        auditor_test::WriteFile(cfg, R"({"destination":{"type":"http_webhook","url":"http://127.0.0.1:1/x"},
                                        "retry_backoff_initial_ms":1000})");
        Child c;
        c.pid = Start({"--listen", sock, "--config", cfg, "--spool", spool}, log);
        struct rpc_channel *ch = nullptr;
        ASSERT_EQ(0, rpc_channel_new(sock.c_str(), nullptr, &ch, nullptr));
        ASSERT_TRUE(Healthy(ch)) << ReadFile(log);
        EmitResult r = Emit(ch, 20);
        ASSERT_EQ(RPC_OK, r.code) << r.message;
        rpc_channel_free(ch);
        EXPECT_EQ(128 + SIGKILL, c.stop(SIGKILL));

        // Flip a payload byte of the 8th record (records: u32 len, u32 crc, u64 position, payload).
        std::string seg = spool + "/00000000000000000001.seg";
        std::string bytes = ReadFile(seg);
        size_t off = 16;
        for (int i = 0; i < 7; i++) {
                ASSERT_LT(off + 16, bytes.size());
                uint32_t len = (uint8_t)bytes[off] | (uint8_t)bytes[off + 1] << 8 | (uint8_t)bytes[off + 2] << 16;
                off += 16 + len;
        }
        bytes[off + 16 + 10] ^= 0x04;
        auditor_test::WriteFile(seg, bytes);

        auditor_test::WriteFile(cfg, R"({"destination":{"type":"file","path":")" + out +
                                             R"("},"batch_size":1,"flush_interval_secs":0})");
        c.pid = Start({"--listen", sock, "--config", cfg, "--spool", spool}, log);
        std::vector<std::string> want = r.uids;
        want.erase(want.begin() + 7);
        std::vector<std::string> got;
        EXPECT_TRUE(WaitFor([&] {
                got.clear();
                for (auto &line : auditor_test::Lines(ReadFile(out)))
                        CollectUids(line, &got);
                return got.size() >= want.size();
        }, 20s)) << ReadFile(log);
        EXPECT_EQ(want, got);
        EXPECT_EQ(0, c.stop(SIGTERM)) << ReadFile(log);
        std::string text = ReadFile(log);
        EXPECT_NE(std::string::npos, text.find("positions_lost=1")) << text;
        EXPECT_NE(std::string::npos, text.find("*.quarantine files")) << text;
}

TEST(AuditorProcess, ConfigErrorsAreNamedAndFatal)
{
        TempDir dir;
        std::string cfg = dir / "bad.json", log = dir / "log";
        auditor_test::WriteFile(cfg, R"({"destination":{"type":"http_webhook","url":5}})");
        Child c;
        c.pid = Start({"--listen", "unix:" + (dir / "s"), "--config", cfg, "--spool", dir / "spool"}, log);
        EXPECT_EQ(1, Reap(c.pid));
        c.pid = -1;
        // One error line of the log: "TIME error ak-auditor: config ...".
        std::string line = ReadFile(log), want = " error ak-auditor: config " + cfg +
                                                  ": destination.url: expected a string, got number\n";
        EXPECT_EQ(1, std::count(line.begin(), line.end(), '\n')) << line;
        EXPECT_TRUE(line.size() > want.size() && line.compare(line.size() - want.size(), want.size(), want) == 0)
                << line;

        auditor_test::WriteFile(log, "");
        c.pid = Start({"--listen", "unix:" + (dir / "s"), "--config", cfg}, log);
        EXPECT_EQ(2, Reap(c.pid));
        c.pid = -1;
        EXPECT_EQ(0u, ReadFile(log).find("ak-auditor: --listen, --config and --spool are required\n\nUsage:"))
                << ReadFile(log);
}

TEST(AuditorProcess, StdoutDestinationAndGracefulStop)
{
        TempDir dir;
        std::string cfg = dir / "c.json", log = dir / "log", sock = "unix:" + (dir / "a.sock");
        // An hour's flush interval: the events come out when SIGTERM drains the spool.
        auditor_test::WriteFile(cfg, R"({"destination":{"type":"stdout"},"flush_interval_secs":3600})");
        Child c;
        c.pid = Start({"--listen", sock, "--config", cfg, "--spool", dir / "spool"}, log);
        struct rpc_channel *ch = nullptr;
        ASSERT_EQ(0, rpc_channel_new(sock.c_str(), nullptr, &ch, nullptr));
        ASSERT_TRUE(Healthy(ch)) << ReadFile(log);
        EmitResult r = Emit(ch, 3);
        ASSERT_EQ(RPC_OK, r.code) << r.message;
        rpc_channel_free(ch);
        EXPECT_EQ(0, c.stop(SIGTERM));
        std::vector<std::string> got;
        for (auto &line : auditor_test::Lines(ReadFile(log)))
                if (line[0] == '{')
                        CollectUids(line, &got);
        EXPECT_EQ(r.uids, got) << ReadFile(log);
}

// --webhook-token-file: the webhook's credential from a secret file, sent as
// a bearer token; a world-readable token file, or a config that carries its
// own authorization too, stops the auditor at start, saying why.
TEST(AuditorProcess, WebhookTokenFromASecretFile)
{
        TempDir dir;
        struct http_sink *sink = nullptr;
        ASSERT_EQ(0, http_sink_start(&sink));
        std::string url = "http://127.0.0.1:" + std::to_string(http_sink_port(sink)) + "/audit";
        std::string cfg = dir / "c.json", tok = dir / "token", log = dir / "log", sock = "unix:" + (dir / "a.sock");
        auditor_test::WriteFile(cfg, R"({"destination":{"type":"http_webhook","url":")" + url +
                                             R"("},"batch_size":1,"flush_interval_secs":0})");
        auditor_test::WriteFile(tok, "wh-0123456789abcdef\n");
        ASSERT_EQ(0, chmod(tok.c_str(), 0444));
        Child c;
        c.pid = Start({"--listen", sock, "--config", cfg, "--spool", dir / "spool", "--webhook-token-file", tok}, log);
        EXPECT_EQ(1, Reap(c.pid));
        c.pid = -1;
        EXPECT_NE(std::string::npos, ReadFile(log).find("accessible by group or others (mode 0444)")) << ReadFile(log);

        ASSERT_EQ(0, chmod(tok.c_str(), 0600));
        c.pid = Start({"--listen", sock, "--config", cfg, "--spool", dir / "spool", "--webhook-token-file", tok}, log);
        struct rpc_channel *ch = nullptr;
        ASSERT_EQ(0, rpc_channel_new(sock.c_str(), nullptr, &ch, nullptr));
        ASSERT_TRUE(Healthy(ch)) << ReadFile(log);
        EmitResult r = Emit(ch, 1);
        ASSERT_EQ(RPC_OK, r.code) << r.message;
        rpc_channel_free(ch);
        ASSERT_TRUE(WaitFor([&] { return http_sink_requests(sink) >= 1; }, 10s)) << ReadFile(log);
        char *h = http_sink_last_headers(sink);
        std::string headers = h ? h : "";
        free(h);
        EXPECT_NE(std::string::npos, headers.find("Authorization: Bearer wh-0123456789abcdef\r\n")) << headers;
        EXPECT_EQ(0, c.stop(SIGTERM));

        std::string both = dir / "both.json";
        auditor_test::WriteFile(both, R"({"destination":{"type":"http_webhook","url":")" + url +
                                              R"(","authorization":"Bearer other"}})");
        auditor_test::WriteFile(log, "");
        c.pid = Start({"--listen", sock, "--config", both, "--spool", dir / "spool2", "--webhook-token-file", tok},
                      log);
        EXPECT_EQ(1, Reap(c.pid));
        c.pid = -1;
        EXPECT_NE(std::string::npos, ReadFile(log).find("keep the credential in the token file")) << ReadFile(log);
        http_sink_stop(sink);
}

}  // namespace
