// Queueing instead of refusing: ak-scheduler as a real process, a fake
// executor offering 2 vCPUs. Three times its capacity in one-shot runs,
// sent at once, all complete (the ones that did not fit waited, told
// their queue position on the stream); a run no executor could ever hold
// fails at once; a queued run whose deadline passes says how long it
// waited.
#include "services/scheduler/testing/scheduler_fixture.h"

#include <atomic>
#include <thread>

extern "C" {
#include "lib/base/time.h"
}

namespace {

using akt::Client;
using akt::FakeExecutor;
using akt::kExecToken;
using akt::kToken;
using akt::SchedulerTest;

struct RunResult {
        int code = -1;
        bool result = false;
        unsigned max_position = 0;
        std::string err, out;
};

RunResult OneShot(const std::string &addr, uint32_t vcpus, const char *ms, int64_t timeout_ms)
{
        Client c(addr, kToken);
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        spec.vcpus = vcpus;
        const char *argv[] = {"sleep", ms};
        Ak__V1__RunRequest req = AK__V1__RUN_REQUEST__INIT;
        req.spec = &spec;
        req.argv = (char **)argv;
        req.n_argv = 2;
        RunResult r;
        struct rpc_stream *st;
        if ((r.code = c.Open("Run", &req.base, &st, timeout_ms)) != RPC_OK)
                return r;
        ProtobufCMessage *msg;
        struct ak_error e = {};
        int n;
        while ((n = rpc_stream_next(st, &msg, &e)) == 1) {
                auto *ch = (Ak__V1__OutputChunk *)msg;
                if (ch->kind_case == AK__V1__OUTPUT_CHUNK__KIND_QUEUED && ch->queued->position > r.max_position)
                        r.max_position = ch->queued->position;
                if (ch->kind_case == AK__V1__OUTPUT_CHUNK__KIND_STDOUT)
                        r.out.append((char *)ch->stdout.data, ch->stdout.len);
                if (ch->kind_case == AK__V1__OUTPUT_CHUNK__KIND_RESULT)
                        r.result = true;
                protobuf_c_message_free_unpacked(msg, nullptr);
        }
        rpc_stream_free(st);
        r.code = n == 0 ? RPC_OK : -n;
        r.err = n < 0 ? e.msg : "";
        return r;
}

TEST_F(SchedulerTest, ThreeTimesTheCapacityAllComplete)
{
        FakeExecutor::Options o;
        o.id = "small";
        o.token = kExecToken;
        o.vcpus = 2;
        executors.push_back(std::make_unique<FakeExecutor>(o));
        ASSERT_EQ(RPC_OK, executors.back()->Start(sched.address()));

        std::vector<RunResult> results(6);
        std::vector<std::thread> ts;
        for (size_t i = 0; i < results.size(); i++)
                ts.emplace_back([&, i] { results[i] = OneShot(sched.address(), 1, "300", 30000); });
        for (auto &t : ts)
                t.join();
        unsigned queued = 0;
        for (auto &r : results) {
                EXPECT_EQ(RPC_OK, r.code) << r.err;
                EXPECT_TRUE(r.result);
                EXPECT_EQ("ran on small", r.out);
                queued += r.max_position > 0;
        }
        // Two run at a time: the other four waited (three at least, should
        // one finish before the last arrives).
        EXPECT_GE(queued, 3u);

        // More vCPUs than any executor has: never fits, refused at once.
        int64_t t0 = ak_mono_ms();
        RunResult big = OneShot(sched.address(), 4, "10", 30000);
        EXPECT_EQ(RPC_RESOURCE_EXHAUSTED, big.code) << big.err;
        EXPECT_LT(ak_mono_ms() - t0, 2000);
        EXPECT_EQ(0u, big.max_position);

        // Capacity held by two long runs: a third waits until its deadline.
        std::thread h1([&] { OneShot(sched.address(), 1, "3000", 30000); });
        std::thread h2([&] { OneShot(sched.address(), 1, "3000", 30000); });
        usleep(500000);
        RunResult late = OneShot(sched.address(), 1, "10", 1000);
        EXPECT_EQ(RPC_DEADLINE_EXCEEDED, late.code) << late.err;
        EXPECT_EQ(1u, late.max_position);
        h1.join();
        h2.join();
}

// `ak run` shows where it waits, on stderr.
TEST_F(SchedulerTest, AkRunShowsItsQueuePosition)
{
        FakeExecutor::Options o;
        o.id = "small";
        o.token = kExecToken;
        o.vcpus = 1;
        executors.push_back(std::make_unique<FakeExecutor>(o));
        ASSERT_EQ(RPC_OK, executors.back()->Start(sched.address()));
        std::string home = sched.Path("home");
        std::string env = "AK_HOME=" + home + " AK_SCHEDULER=" + sched.address() + " AK_TOKEN=" + kToken + " ";
        std::string ak = aktest::Runfile("cli/ak");
        std::thread first([&] {
                std::string cmd = env + ak + " run -- sleep 1500 >/dev/null 2>&1";
                EXPECT_EQ(0, system(cmd.c_str()));
        });
        usleep(300000);
        std::string cmd = env + ak + " run -- sleep 10 2>&1";
        FILE *p = popen(cmd.c_str(), "r");
        ASSERT_NE(nullptr, p);
        std::string out;
        char buf[512];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
                out.append(buf, n);
        int st = pclose(p);
        first.join();
        EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << out;
        EXPECT_NE(std::string::npos, out.find("ak run: waiting for capacity: position 1 of 1 in the scheduler's queue"))
                << out;
        EXPECT_NE(std::string::npos, out.find("ran on small")) << out;
}

}  // namespace
