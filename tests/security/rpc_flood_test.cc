// Work before authentication, against a real ak-signer on TCP with a token
// file (issue 13, item 2): a flood of 1,000 idle unauthenticated streams
// (headers, then nothing) while an authenticated client keeps calling, and
// big unauthenticated messages that must be refused without being read.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/testing/raw_call.h"
#include "tests/testing/service_process.h"

extern "C" {
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/signer.pb-c.h"
}

namespace {

using aktest::RawCalls;
using aktest::ServiceProcess;
using Clock = std::chrono::steady_clock;

const std::string kToken = "0123456789abcdef0123456789abcdef";
const char kMethod[] = "/ak.v1.Signer/ListPublicKeys";

// A field of /proc/PID/status in kB (VmHWM, VmRSS) or a count (Threads).
long ProcStatus(pid_t pid, const char *field)
{
        std::string s = aktest::Slurp("/proc/" + std::to_string(pid) + "/status");
        size_t at = s.find(std::string(field) + ":");
        return at == std::string::npos ? -1 : atol(s.c_str() + at + strlen(field) + 1);
}

class SignerUnderAttack : public ::testing::Test {
      protected:
        void SetUp() override
        {
                aktest::WriteFile(p_.Path("tokens"), kToken + "\n");
                ASSERT_TRUE(p_.Start({aktest::Binary("signer"), "--key", p_.Path("key.pkcs8"), "--listen",
                                      "127.0.0.1:0", "--token-file", p_.Path("tokens")},
                                     p_.Path("."), "signer"))
                        << aktest::Slurp(p_.err);
                struct ak_error err = {};
                ASSERT_EQ(0, rpc_channel_new(p_.addr.c_str(), nullptr, &ch_, &err)) << err.msg;
                ASSERT_EQ(0, rpc_channel_set_bearer_token(ch_, kToken.c_str()));
        }
        void TearDown() override { rpc_channel_free(ch_); }

        // One authenticated ListPublicKeys; its latency in microseconds, or
        // -1 with the reason in *why.
        long TimedCall(std::string *why)
        {
                Ak__V1__ListPublicKeysRequest req = AK__V1__LIST_PUBLIC_KEYS_REQUEST__INIT;
                struct rpc_call_options o = {};
                o.timeout_ms = 5000;
                ProtobufCMessage *resp = nullptr;
                struct ak_error err = {};
                auto t0 = Clock::now();
                int r = rpc_unary(ch_, &ak__v1__signer__descriptor, "ListPublicKeys", &req.base, &o, &resp, &err);
                long us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
                if (resp)
                        protobuf_c_message_free_unpacked(resp, nullptr);
                if (r != RPC_OK) {
                        *why = err.msg;
                        return -1;
                }
                return us;
        }

        // n calls in a row: their latencies; failures counted in *failed.
        std::vector<long> Calls(int n, int *failed, std::string *why)
        {
                std::vector<long> v;
                for (int i = 0; i < n; i++) {
                        long us = TimedCall(why);
                        if (us < 0)
                                ++*failed;
                        else
                                v.push_back(us);
                }
                std::sort(v.begin(), v.end());
                return v;
        }

        ServiceProcess p_{"signer"};
        struct rpc_channel *ch_ = nullptr;
};

double P50ms(const std::vector<long> &sorted)
{
        return sorted.empty() ? -1 : sorted[sorted.size() / 2] / 1000.0;
}

// Before the fix every idle stream took a worker that waited for its message
// (256 of them), the rest queued, and the authenticated calls timed out.
TEST_F(SignerUnderAttack, IdleUnauthenticatedFloodLeavesAuthenticatedCallsServed)
{
        const int kStreams = 1000, kConnections = 10, kCalls = 200;
        std::string why;
        int failed = 0;
        for (int i = 0; i < 20; i++)  // warm the channel up
                TimedCall(&why);
        std::vector<long> quiet = Calls(kCalls, &failed, &why);
        ASSERT_EQ(0, failed) << why;

        // The flood: rounds of 1,000 header-only streams over 10 connections,
        // each round waited for (up to 10 s) before the next.
        std::atomic<bool> stop{false};
        std::atomic<long> rounds{0}, started{0}, unauthenticated{0}, shed{0}, other{0}, left_open{0};
        std::atomic<long> max_threads{0};
        std::string other_details;
        std::thread flood([&] {
                while (!stop) {
                        RawCalls raw(p_.addr, kConnections);
                        for (int i = 0; i < kStreams; i++)
                                if (raw.Start(kMethod) >= 0)
                                        started++;
                        raw.Wait(10000);
                        left_open += raw.open();
                        unauthenticated += raw.Count(RPC_UNAUTHENTICATED);
                        shed += raw.Count(RPC_RESOURCE_EXHAUSTED);
                        for (size_t i = 0; i < raw.size(); i++) {
                                int s = raw.status(i);
                                if (s >= 0 && s != RPC_UNAUTHENTICATED && s != RPC_RESOURCE_EXHAUSTED) {
                                        if (other++ == 0)
                                                other_details = raw.details(i);
                                }
                        }
                        rounds++;
                }
        });
        std::thread sampler([&] {
                while (!stop) {
                        long t = ProcStatus(p_.pid, "Threads");
                        if (t > max_threads)
                                max_threads = t;
                        usleep(20000);
                }
        });
        while (started < kStreams)  // the first round is in
                usleep(1000);
        // Authenticated calls for as long as it takes the flood to run 5
        // rounds (5,000 streams), and at least kCalls of them.
        int failed_flood = 0;
        std::string why_flood;
        std::vector<long> flooded;
        while ((flooded.size() + failed_flood < (size_t)kCalls || rounds < 5) && failed_flood < 20) {
                long us = TimedCall(&why_flood);
                if (us < 0)
                        failed_flood++;
                else
                        flooded.push_back(us);
        }
        std::sort(flooded.begin(), flooded.end());
        stop = true;
        flood.join();
        sampler.join();

        printf("ak-signer, authenticated ListPublicKeys calls in a row: p50 %.3f ms quiet (%d calls), "
               "%.3f ms (%zu calls) under a flood of %d idle unauthenticated streams over %d connections "
               "(%ld rounds, %ld streams: %ld UNAUTHENTICATED, %ld RESOURCE_EXHAUSTED, %ld still open); "
               "signer threads at most %ld\n",
               P50ms(quiet), kCalls, P50ms(flooded), flooded.size(), kStreams, kConnections, rounds.load(), started.load(),
               unauthenticated.load(), shed.load(), left_open.load(), max_threads.load());
        RecordProperty("p50_quiet_us", std::to_string(quiet.empty() ? -1 : quiet[quiet.size() / 2]));
        RecordProperty("p50_flood_us", std::to_string(flooded.empty() ? -1 : flooded[flooded.size() / 2]));

        EXPECT_EQ(0, failed_flood) << "authenticated calls failed under the flood: " << why_flood;
        EXPECT_EQ(0, left_open.load()) << "idle unauthenticated streams were still open after 10 s";
        EXPECT_EQ(0, other.load()) << other_details;
        EXPECT_EQ(started.load(), unauthenticated.load() + shed.load());
        EXPECT_GT(unauthenticated.load(), 0);
        // Refused at once, they never gathered the workers max_calls allows.
        EXPECT_LT(max_threads.load(), (long)RPC_DEFAULT_MAX_CALLS);
        // And the signer is still fine afterwards.
        EXPECT_GE(TimedCall(&why), 0) << why;
}

// Big messages without a token: refused from the headers, never received.
// Before the fix each was received whole (and unpacked) first: 16 of them at
// once raised the signer's peak RSS by hundreds of MiB.
TEST_F(SignerUnderAttack, BigUnauthenticatedMessagesAreNotRead)
{
        const int kCallsAtOnce = 16;
        const size_t kBytes = 15u << 20;  // under the 16 MiB message limit
        std::string why;
        ASSERT_GE(TimedCall(&why), 0) << why;
        long before = ProcStatus(p_.pid, "VmHWM");
        ASSERT_GT(before, 0);
        std::string big(kBytes, '\x0a');  // field 1, then whatever
        {
                RawCalls raw(p_.addr, 4);
                for (int i = 0; i < kCallsAtOnce; i++)
                        ASSERT_GE(raw.Start(kMethod, i % 2 ? "not-the-token" : "", &big, 20000), 0);
                raw.Wait(20000);
                EXPECT_EQ(0, raw.open());
                EXPECT_EQ(kCallsAtOnce, raw.Count(RPC_UNAUTHENTICATED)) << raw.details(0);
        }
        long after = ProcStatus(p_.pid, "VmHWM");
        printf("ak-signer peak RSS: %ld KiB before, %ld KiB after %d unauthenticated %zu MiB messages "
               "(%d x %zu MiB = %zu MiB offered)\n",
               before, after, kCallsAtOnce, kBytes >> 20, kCallsAtOnce, kBytes >> 20,
               (kCallsAtOnce * kBytes) >> 20);
        EXPECT_LT(after - before, 64L * 1024) << "the signer buffered what it refused";
        EXPECT_GE(TimedCall(&why), 0) << why;
}

}  // namespace
