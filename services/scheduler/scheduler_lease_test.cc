// Scheduler failover through a Kubernetes Lease: ak-scheduler replicas with
// --leader-elect against a fake API server (testdata/fake_apiserver.py, real
// HTTP on loopback with resourceVersion conflicts). Exactly one leads; a
// follower refuses calls naming the leader and is NOT_SERVING; killing,
// stopping or pausing the leader hands over; the server's log of accepted
// writes shows no takeover before the previous holder's lease ran out.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "services/scheduler/testing/scheduler_process.h"

extern "C" {
#include "lib/base/time.h"
#include "protos/ak/v1/scheduler.pb-c.h"
}

namespace {

using aktest::ServiceProcess;

constexpr int kDurationS = 2;

std::string DirOf(const ServiceProcess &p)
{
        std::string d = p.Path("x");
        return d.substr(0, d.size() - 2);
}

class LeaseTest : public ::testing::Test {
      protected:
        void SetUp() override
        {
                token_ = api_.Path("token");
                log_ = api_.Path("writes.log");
                aktest::WriteFile(token_, "lease-test-token\n", 0644);
                ASSERT_TRUE(api_.Start({"/usr/bin/python3", aktest::Runfile("services/scheduler/testdata/fake_apiserver.py"),
                                        token_, log_},
                                       DirOf(api_), "api"))
                        << api_.Log();
        }

        struct Replica {
                std::string id;
                std::unique_ptr<ServiceProcess> proc;
        };

        void StartReplica(Replica *r)
        {
                if (!r->proc)
                        r->proc.reset(new ServiceProcess("scheduler"));
                ServiceProcess *p = r->proc.get();
                ASSERT_TRUE(p->Start({aktest::Binary("scheduler"), "--listen", "unix:" + p->Path("s"), "--insecure",
                                      "--heartbeat-interval-ms", "200",
                                      "--leader-elect", "--lease-namespace", "ak-test", "--lease-name", "sched",
                                      "--lease-duration-s", std::to_string(kDurationS), "--lease-identity", r->id,
                                      "--api-server", "http://" + api_.addr, "--api-token-file", token_},
                                     DirOf(*p), "sched"))
                        << p->Log();
        }

        static bool Serving(const Replica &r)
        {
                if (!r.proc || r.proc->pid < 0)
                        return false;
                struct rpc_channel *ch = nullptr;
                struct ak_error e;
                bool ok = rpc_channel_new(("unix:" + r.proc->Path("s")).c_str(), nullptr, &ch, &e) == 0 &&
                          rpc_health_check(ch, "", 1000, &e) == RPC_OK;
                rpc_channel_free(ch);
                return ok;
        }

        // The index of the one replica serving (the others not), waiting up to
        // ms; -1 when there is none or more than one.
        int WaitOneLeader(std::vector<Replica> &rs, int64_t ms, int not_this = -1)
        {
                int64_t end = ak_mono_ms() + ms;
                do {
                        int n = 0, who = -1;
                        for (size_t i = 0; i < rs.size(); i++) {
                                if (Serving(rs[i])) {
                                        n++;
                                        who = (int)i;
                                }
                        }
                        if (n == 1 && who != not_this)
                                return who;
                        std::this_thread::sleep_for(std::chrono::milliseconds(5));
                } while (ak_mono_ms() < end);
                return -1;
        }

        static int Call(const Replica &r, std::string *msg)
        {
                akt::Client c("unix:" + r.proc->Path("s"));
                Ak__V1__ListExecutorsRequest req = AK__V1__LIST_EXECUTORS_REQUEST__INIT;
                return c.Call("ListExecutors", &req.base, nullptr, msg, 5000);
        }

        // Call on a new leader: it refuses clients (UNAVAILABLE, "became
        // leader") for its warm-up, one heartbeat interval (200 ms here) plus
        // the failover back-off limit; waits that out (up to 5 s).
        static int LeaderCall(const Replica &r, std::string *msg)
        {
                int64_t end = ak_mono_ms() + 5000;
                int code;
                while ((code = Call(r, msg)) == RPC_UNAVAILABLE && msg->find("became leader") != std::string::npos &&
                       ak_mono_ms() < end)
                        std::this_thread::sleep_for(std::chrono::milliseconds(50));
                return code;
        }

        ServiceProcess api_{"apiserver"};
        std::string token_, log_;
};

struct Write {
        double t;
        std::string op, holder;
        int code;
};

std::vector<Write> ReadWrites(const std::string &path)
{
        std::vector<Write> out;
        std::ifstream in(path);
        std::string line;
        while (std::getline(in, line)) {
                Write w{};
                std::istringstream ls(line);
                std::string f;
                while (ls >> f) {
                        size_t eq = f.find('=');
                        std::string k = f.substr(0, eq), v = f.substr(eq + 1);
                        if (k == "t")
                                w.t = std::stod(v);
                        else if (k == "op")
                                w.op = v;
                        else if (k == "code")
                                w.code = std::stoi(v);
                        else if (k == "holder")
                                w.holder = v == "-" ? "" : v;
                }
                out.push_back(w);
        }
        return out;
}

TEST_F(LeaseTest, OneLeaderFailsOverAndNeverTwo)
{
        std::vector<Replica> rs(3);
        for (size_t i = 0; i < rs.size(); i++) {
                rs[i].id = "sched-" + std::string(1, (char)('a' + i));
                StartReplica(&rs[i]);
        }
        int leader = WaitOneLeader(rs, 10000);
        ASSERT_GE(leader, 0) << rs[0].proc->Log() << rs[1].proc->Log();

        // Followers refuse, naming the leader; the leader serves.
        std::string msg;
        EXPECT_EQ(RPC_OK, LeaderCall(rs[leader], &msg)) << msg;
        int follower = (leader + 1) % 3;
        EXPECT_EQ(RPC_UNAVAILABLE, Call(rs[follower], &msg));
        EXPECT_NE(std::string::npos, msg.find("the leader is " + rs[leader].id)) << msg;
        EXPECT_NE(std::string::npos, msg.find("ak-test/sched")) << msg;
        // Not ready, but alive: a liveness probe must not restart followers.
        {
                struct rpc_channel *ch = nullptr;
                struct ak_error e;
                ASSERT_EQ(0, rpc_channel_new(("unix:" + rs[follower].proc->Path("s")).c_str(), nullptr, &ch, &e));
                EXPECT_EQ(RPC_UNAVAILABLE, rpc_health_check(ch, "", 2000, &e));
                EXPECT_EQ(RPC_OK, rpc_health_check(ch, RPC_HEALTH_LIVENESS, 2000, &e)) << e.msg;
                rpc_channel_free(ch);
        }

        // SIGKILL: no release, the others wait the lease out.
        std::vector<int64_t> kill_ms;
        for (int run = 0; run < 3; run++) {
                ServiceProcess *p = rs[leader].proc.get();
                ASSERT_EQ(0, kill(p->pid, SIGKILL));
                waitpid(p->pid, nullptr, 0);
                p->pid = -1;
                int64_t t0 = ak_mono_ms();
                int next = WaitOneLeader(rs, 5000 * kDurationS, leader);
                int64_t took = ak_mono_ms() - t0;
                ASSERT_GE(next, 0) << "no new leader after SIGKILL of " << rs[leader].id;
                printf("lease failover after SIGKILL: %lld ms (baseline: the lease duration, %d ms) (%s -> %s)\n",
                       (long long)took, kDurationS * 1000, rs[leader].id.c_str(), rs[next].id.c_str());
                kill_ms.push_back(took);
                // Before the lease ran out no one may take it: a third of it
                // (the retry period) is the most a follower can have seen late.
                EXPECT_GE(took, kDurationS * 1000 * 3 / 4 - 100);
                EXPECT_LE(took, kDurationS * 1000 * 2 + 1000);
                StartReplica(&rs[leader]);
                leader = next;
        }
        EXPECT_EQ(leader, WaitOneLeader(rs, 3000));
        EXPECT_FALSE(Serving(rs[(leader + 1) % 3]));

        // SIGTERM: the leader releases the Lease, so the handover is quick.
        {
                ServiceProcess *p = rs[leader].proc.get();
                int64_t t0 = ak_mono_ms();
                p->Signal(SIGTERM);
                int next = WaitOneLeader(rs, 5000 * kDurationS, leader);
                int64_t took = ak_mono_ms() - t0;
                ASSERT_GE(next, 0);
                printf("lease failover after SIGTERM (release): %lld ms\n", (long long)took);
                EXPECT_LT(took, kDurationS * 1000);
                EXPECT_EQ(0, p->Stop());
                StartReplica(&rs[leader]);
                leader = next;
        }

        // A paused leader (GC pause, a stalled node) is replaced, and when it
        // wakes up its renewal deadline has passed: it refuses at once.
        {
                ServiceProcess *p = rs[leader].proc.get();
                ASSERT_EQ(0, kill(p->pid, SIGSTOP));
                int next = WaitOneLeader(rs, 5000 * kDurationS, leader);
                ASSERT_GE(next, 0);
                ASSERT_EQ(0, kill(p->pid, SIGCONT));
                EXPECT_EQ(RPC_UNAVAILABLE, Call(rs[leader], &msg)) << "woken old leader still served";
                EXPECT_EQ(next, WaitOneLeader(rs, 3000));
                EXPECT_EQ(RPC_UNAVAILABLE, Call(rs[leader], &msg));
                EXPECT_NE(std::string::npos, msg.find("the leader is " + rs[next].id)) << msg;
                leader = next;
        }
        for (auto &r : rs)
                r.proc->Stop();

        // The API server's record: a new holder only after the previous one
        // released (empty holder) or had not renewed for the whole duration.
        std::vector<Write> ws = ReadWrites(log_);
        if (getenv("LEASE_TEST_DUMP"))
                printf("%s", aktest::Slurp(log_).c_str());
        std::map<std::string, double> last;
        std::string holder;
        int conflicts = 0, takeovers = 0;
        for (const Write &w : ws) {
                if (w.code == 409) {
                        conflicts++;
                        continue;
                }
                if (!holder.empty() && !w.holder.empty() && w.holder != holder) {
                        takeovers++;
                        EXPECT_GE(w.t - last[holder], kDurationS - 0.05)
                                << w.holder << " took over from " << holder << " " << w.t - last[holder]
                                << " s after its last renewal";
                }
                holder = w.holder;
                last[w.holder] = w.t;
        }
        printf("lease writes %zu, takeovers of a live-looking lease %d, 409 conflicts %d\n", ws.size(), takeovers,
               conflicts);
        EXPECT_GE(takeovers, 4);
        EXPECT_GE(conflicts, 1) << "three replicas starting at once race for the Lease";
}

}  // namespace

namespace {

// A leader that cannot renew (the API server is gone) stops leading before
// its lease could have run out for anyone else: by the renew deadline, 2/3
// of the duration after its last renewal.
TEST_F(LeaseTest, LeaderStepsDownWhenItCannotRenew)
{
        std::vector<Replica> rs(1);
        rs[0].id = "sched-only";
        StartReplica(&rs[0]);
        ASSERT_EQ(0, WaitOneLeader(rs, 10000)) << rs[0].proc->Log();
        std::string msg;
        ASSERT_EQ(RPC_OK, LeaderCall(rs[0], &msg)) << msg;

        api_.Signal(SIGKILL);
        int64_t t0 = ak_mono_ms(), took = -1;
        while (ak_mono_ms() - t0 < 5000) {
                if (Call(rs[0], &msg) == RPC_UNAVAILABLE) {
                        took = ak_mono_ms() - t0;
                        break;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        ASSERT_GE(took, 0) << "still leading 5 s after the API server died";
        printf("leader stepped down %lld ms after the API server died (renew deadline %d ms)\n", (long long)took,
               kDurationS * 2000 / 3);
        EXPECT_LE(took, kDurationS * 2000 / 3 + 100);
        EXPECT_NE(std::string::npos, msg.find("no scheduler leads")) << msg;
        EXPECT_TRUE(rs[0].proc->WaitLog("stepped down"));
        EXPECT_EQ(-1, WaitOneLeader(rs, 1000)) << "health still SERVING after stepping down";
}

}  // namespace
