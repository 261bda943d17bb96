// Failover that clients and executors follow (testing/failover_cluster.h):
// two ak-scheduler replicas with a Lease behind a round-robin proxy (the
// Service), a fake executor and a real ak-executor behind it, and the real
// ak CLI. SIGKILL the leader: the other takes the Lease, one `ak sandbox
// create` started right after the kill succeeds without the client doing
// anything, the executors register again with the new leader, its
// sandboxes answer exec. A follower never places anything (split view).
#include <gtest/gtest.h>

#include <string>

#include "services/scheduler/testing/failover_cluster.h"

extern "C" {
#include "lib/base/time.h"
}

namespace {

using akt::FailoverCluster;

// The value of the sample `name` (with its labels, as written) in a
// Prometheus text body; -1 when absent.
double Sample(const std::string &body, const std::string &name)
{
        size_t at = 0;
        while ((at = body.find(name + " ", at)) != std::string::npos) {
                if (at == 0 || body[at - 1] == '\n')
                        return atof(body.c_str() + at + name.size() + 1);
                at++;
        }
        return -1;
}

class FailoverTest : public ::testing::Test {
      protected:
        void SetUp() override
        {
                std::string why;
                ASSERT_TRUE(c_.Start(FailoverCluster::Options(), &why)) << why;
        }
        FailoverCluster c_;
};

TEST_F(FailoverTest, KilledLeaderIsReplacedAndClientsAndExecutorsFollow)
{
        std::string out;
        ASSERT_EQ(0, c_.Ak("sandbox create fo-before --node-selector kind=fake", &out)) << out;
        int leader = c_.WaitLeader(5000);
        ASSERT_GE(leader, 0);
        int regs = c_.fake().registrations;

        int64_t t0 = ak_mono_ms();
        c_.Kill(leader);
        // One invocation, started at once: it must get through by itself.
        ASSERT_EQ(0, c_.Ak("sandbox create fo-after --node-selector kind=fake", &out)) << out;
        int64_t failover_ms = ak_mono_ms() - t0;
        int next = c_.WaitLeader(5000);
        ASSERT_GE(next, 0);
        EXPECT_NE(leader, next);
        printf("failover: leader %s SIGKILLed -> first create through the Service ok after %lld ms "
               "(lease 1 s; %s leads)\n",
               c_.id(leader).c_str(), (long long)failover_ms, c_.id(next).c_str());
        EXPECT_LT(failover_ms, 10000);

        // The executors registered again with the new leader, which learnt
        // their sandboxes from them.
        EXPECT_GT(c_.fake().registrations.load(), regs);
        int64_t end = ak_mono_ms() + 10000;
        while (c_.ExecutorsKnown() != 2 && ak_mono_ms() < end)
                usleep(20000);
        EXPECT_EQ(2, c_.ExecutorsKnown());
        ASSERT_EQ(0, c_.Ak("sandbox list", &out)) << out;
        EXPECT_NE(std::string::npos, out.find("fo-before")) << out;
        EXPECT_NE(std::string::npos, out.find("fo-after")) << out;
        EXPECT_NE(std::string::npos, out.find("host")) << out;
        // A stream (exec) through the Service reaches the real executor's sandbox.
        ASSERT_EQ(0, c_.Ak("exec host -- echo failover-ok", &out)) << out;
        EXPECT_NE(std::string::npos, out.find("failover-ok")) << out;
}

TEST_F(FailoverTest, FollowerRefusesEveryCallAndNeverPlaces)
{
        int leader = c_.WaitLeader(5000);
        ASSERT_GE(leader, 0);
        int follower = 1 - leader;
        // Through the proxy every other connection lands on the follower:
        // every create still succeeds, placed once each, by the leader.
        for (int i = 0; i < 6; i++) {
                std::string out;
                ASSERT_EQ(0, c_.Ak("sandbox create split-" + std::to_string(i) + " --node-selector kind=fake", &out))
                        << out;
        }
        EXPECT_EQ(6u, c_.fake().SandboxCount());
        std::string fm = c_.Metrics(follower), lm = c_.Metrics(leader);
        ASSERT_NE("", fm);
        ASSERT_NE("", lm);
        // The follower refused creates (the proxy sent it some), answered none,
        // and knows no executor and no sandbox: it took no heartbeat either.
        const std::string create =
                "ak_rpc_server_handled_total{service=\"ak.v1.Scheduler\",method=\"CreateSandbox\",code=";
        EXPECT_GT(Sample(fm, create + "\"UNAVAILABLE\"}"), 0) << fm;
        EXPECT_EQ(-1, Sample(fm, create + "\"OK\"}")) << fm;
        EXPECT_EQ(6, Sample(lm, create + "\"OK\"}")) << lm;
        EXPECT_EQ(0, Sample(fm, "ak_scheduler_sandboxes")) << fm;
        EXPECT_EQ(6 + 1, Sample(lm, "ak_scheduler_sandboxes")) << lm;  // and "host"
}

}  // namespace
