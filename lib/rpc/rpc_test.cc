// lib/rpc end to end: a real server on loopback (TCP and Unix sockets) and the
// real client, with the ak.test.Echo service: calls, streams, concurrency,
// deadlines and cancellation, shutdown, health, metrics. What the server
// refuses (bad bytes, sizes, credentials, TLS) is rpc_refusals_test.cc.
#include "lib/rpc/rpc.h"
#include "lib/metrics/metrics.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "lib/rpc/testing/echo_fixture.h"

namespace {

TEST(Rpc, UnaryRoundTripTcpAndUnix)
{
        Server s;
        std::string tcp = s.ListenTcp();
        std::string unix_addr = s.ListenUnix();
        s.Start();
        for (const auto &target : {tcp, unix_addr}) {
                Channel c(target);
                std::string out;
                struct ak_error err;
                ASSERT_EQ(RPC_OK, call_echo(c.ch, "héllo\n", &out, &err)) << err.msg;
                EXPECT_EQ("héllo\n", out);
        }
}

// A service's Unix socket is its owner's whatever the umask (issue 13,
// item 7): bind(2) alone would leave it 0777 under umask 0.
TEST(Rpc, UnixSocketIs0600UnderUmaskZero)
{
        Server s;
        mode_t old = umask(0);
        std::string addr = s.ListenUnix();
        umask(old);
        struct stat st;
        ASSERT_EQ(0, lstat(addr.c_str() + 5, &st));
        EXPECT_TRUE(S_ISSOCK(st.st_mode));
        EXPECT_EQ(0600u, st.st_mode & 07777);
        s.Start();
        Channel c(addr);
        std::string out;
        struct ak_error err;
        ASSERT_EQ(RPC_OK, call_echo(c.ch, "still answers", &out, &err)) << err.msg;
}

TEST(Rpc, ErrorStatusAndMessageReachTheClient)
{
        Server s;
        std::string addr = s.ListenTcp();
        s.Start();
        Channel c(addr);
        struct ak_error err;
        EXPECT_EQ(RPC_NOT_FOUND, call_echo(c.ch, "sandbox x", nullptr, &err, nullptr, RPC_NOT_FOUND));
        EXPECT_EQ(RPC_NOT_FOUND, err.code);
        EXPECT_STREQ("/ak.test.Echo/Echo: NOT_FOUND: asked to fail: sandbox x", err.msg);
}

TEST(Rpc, ServerStreamingDeliversEveryMessageInOrder)
{
        Server s;
        std::string addr = s.ListenUnix();
        s.Start();
        Channel c(addr);
        Ak__Test__EchoRequest req = AK__TEST__ECHO_REQUEST__INIT;
        req.text = (char *)"chunk";
        req.count = 500;
        struct rpc_stream *st;
        struct ak_error err;
        ASSERT_EQ(RPC_OK, rpc_stream_open(c.ch, &ak__test__echo__descriptor, "Count", &req.base, nullptr,
                                          &st, &err));
        ProtobufCMessage *msg;
        uint32_t n = 0;
        int r;
        while ((r = rpc_stream_next(st, &msg, &err)) == 1) {
                EXPECT_EQ(n, ((Ak__Test__EchoReply *)msg)->index);
                protobuf_c_message_free_unpacked(msg, nullptr);
                n++;
        }
        EXPECT_EQ(0, r) << err.msg;
        EXPECT_EQ(500u, n);
        EXPECT_EQ(0, rpc_stream_next(st, &msg, &err)) << "end is sticky";
        rpc_stream_free(st);
}

TEST(Rpc, SixtyFourConcurrentClients)
{
        Server s;
        std::string addr = s.ListenTcp();
        s.Start();
        std::atomic<int> ok{0}, bad{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 64; t++)
                threads.emplace_back([&, t] {
                        Channel c(addr);
                        for (int i = 0; i < 20; i++) {
                                std::string text = std::to_string(t) + "/" + std::to_string(i), out;
                                struct ak_error err;
                                if (call_echo(c.ch, text, &out, &err) == RPC_OK && out == text)
                                        ok++;
                                else
                                        bad++;
                        }
                });
        for (auto &t : threads)
                t.join();
        EXPECT_EQ(64 * 20, ok.load());
        EXPECT_EQ(0, bad.load());
}

TEST(Rpc, LongStreamsDoNotStarveShortCalls)
{
        Server s;
        std::string addr = s.ListenTcp();
        s.Start();
        Channel c(addr);
        std::vector<struct rpc_stream *> streams;
        for (int i = 0; i < 12; i++) {
                Ak__Test__EchoRequest req = AK__TEST__ECHO_REQUEST__INIT;
                req.text = (char *)"slow";
                req.count = 1000;
                req.sleep_ms = 50;
                struct rpc_stream *st;
                struct ak_error err;
                ASSERT_EQ(RPC_OK, rpc_stream_open(c.ch, &ak__test__echo__descriptor, "Count", &req.base,
                                                  nullptr, &st, &err));
                ProtobufCMessage *msg;
                ASSERT_EQ(1, rpc_stream_next(st, &msg, &err)) << err.msg;
                protobuf_c_message_free_unpacked(msg, nullptr);
                streams.push_back(st);
        }
        struct rpc_call_options opts = {};
        opts.timeout_ms = 5000;
        struct ak_error err;
        EXPECT_EQ(RPC_OK, call_echo(c.ch, "quick", nullptr, &err, &opts)) << err.msg;
        for (auto *st : streams)
                rpc_stream_free(st);
}

TEST(Rpc, DeadlineExceededAndTheHandlerSeesIt)
{
        Server s;
        std::string addr = s.ListenTcp();
        s.Start();
        Channel c(addr);
        Ak__Test__EchoRequest req = AK__TEST__ECHO_REQUEST__INIT;
        req.sleep_ms = 3000;
        struct rpc_call_options opts = {};
        opts.timeout_ms = 100;
        ProtobufCMessage *msg;
        struct ak_error err;
        auto t0 = std::chrono::steady_clock::now();
        EXPECT_EQ(RPC_DEADLINE_EXCEEDED,
                  rpc_unary(c.ch, &ak__test__echo__descriptor, "Sleep", &req.base, &opts, &msg, &err));
        EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(2000));
        for (int i = 0; i < 200 && s.state.cancelled_seen == 0; i++)
                usleep(10000);
        EXPECT_EQ(1, s.state.cancelled_seen.load());
        EXPECT_EQ(0, s.state.sleeps_finished.load());
}

TEST(Rpc, ClientCancellationReachesTheHandler)
{
        Server s;
        std::string addr = s.ListenTcp();
        s.Start();
        Channel c(addr);
        Ak__Test__EchoRequest req = AK__TEST__ECHO_REQUEST__INIT;
        req.count = 100000;
        req.sleep_ms = 5;
        struct rpc_stream *st;
        struct ak_error err;
        ASSERT_EQ(RPC_OK,
                  rpc_stream_open(c.ch, &ak__test__echo__descriptor, "Count", &req.base, nullptr, &st, &err));
        ProtobufCMessage *msg;
        for (int i = 0; i < 3; i++) {
                ASSERT_EQ(1, rpc_stream_next(st, &msg, &err));
                protobuf_c_message_free_unpacked(msg, nullptr);
        }
        rpc_stream_cancel(st);
        int r;
        while ((r = rpc_stream_next(st, &msg, &err)) == 1)
                protobuf_c_message_free_unpacked(msg, nullptr);
        EXPECT_EQ(-RPC_CANCELLED, r);
        rpc_stream_free(st);
        for (int i = 0; i < 300 && s.state.cancelled_seen == 0; i++)
                usleep(10000);
        EXPECT_EQ(1, s.state.cancelled_seen.load());
}

TEST(Rpc, UnknownMethodIsUnimplemented)
{
        Server s;
        std::string addr = s.ListenTcp();
        s.Start();
        Channel c(addr);
        Ak__Test__EchoRequest req = AK__TEST__ECHO_REQUEST__INIT;
        ProtobufCMessage *msg;
        struct ak_error err;
        // In the descriptor but not served.
        EXPECT_EQ(RPC_UNIMPLEMENTED, rpc_unary(c.ch, &ak__test__echo__descriptor, "NotImplementedHere",
                                               &req.base, nullptr, &msg, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "unknown method /ak.test.Echo/NotImplementedHere")) << err.msg;
        // A service the server has never heard of.
        ProtobufCServiceDescriptor other = ak__test__echo__descriptor;
        other.name = "ak.test.Nobody";
        EXPECT_EQ(RPC_UNIMPLEMENTED, rpc_unary(c.ch, &other, "Echo", &req.base, nullptr, &msg, &err));
}


TEST(Rpc, ShutdownUnderLoadDrainsInFlightCalls)
{
        auto s = std::make_unique<Server>();
        std::string addr = s->ListenTcp();
        s->Start();
        std::atomic<bool> stop{false};
        std::atomic<int> ok{0}, failed{0}, weird{0};
        std::vector<std::thread> load;
        for (int t = 0; t < 16; t++)
                load.emplace_back([&] {
                        Channel c(addr);
                        while (!stop) {
                                struct ak_error err;
                                struct rpc_call_options opts = {};
                                opts.timeout_ms = 2000;
                                int r = call_echo(c.ch, "x", nullptr, &err, &opts);
                                if (r == RPC_OK)
                                        ok++;
                                else if (r == RPC_UNAVAILABLE || r == RPC_CANCELLED)
                                        failed++;
                                else
                                        weird++;
                        }
                });
        // One slow call in flight: a graceful shutdown lets it finish.
        std::atomic<int> slow_result{-1};
        std::thread slow([&] {
                Channel c(addr);
                Ak__Test__EchoRequest req = AK__TEST__ECHO_REQUEST__INIT;
                req.sleep_ms = 400;
                ProtobufCMessage *msg;
                struct ak_error err;
                int r = rpc_unary(c.ch, &ak__test__echo__descriptor, "Sleep", &req.base, nullptr, &msg, &err);
                if (r == RPC_OK)
                        protobuf_c_message_free_unpacked(msg, nullptr);
                slow_result = r;
        });
        usleep(200 * 1000);
        s->Stop(5000);
        stop = true;
        for (auto &t : load)
                t.join();
        slow.join();
        EXPECT_EQ(RPC_OK, slow_result.load());
        EXPECT_GT(ok.load(), 0);
        EXPECT_EQ(0, weird.load());
}

TEST(Rpc, ShutdownCancelsStreamsThatOutliveTheGrace)
{
        auto s = std::make_unique<Server>();
        std::string addr = s->ListenTcp();
        s->Start();
        Channel c(addr);
        Ak__Test__EchoRequest req = AK__TEST__ECHO_REQUEST__INIT;
        req.count = 1000000;
        req.sleep_ms = 10;
        struct rpc_stream *st;
        struct ak_error err;
        ASSERT_EQ(RPC_OK,
                  rpc_stream_open(c.ch, &ak__test__echo__descriptor, "Count", &req.base, nullptr, &st, &err));
        ProtobufCMessage *msg;
        ASSERT_EQ(1, rpc_stream_next(st, &msg, &err));
        protobuf_c_message_free_unpacked(msg, nullptr);
        auto t0 = std::chrono::steady_clock::now();
        s->Stop(200);
        EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
        int r;
        while ((r = rpc_stream_next(st, &msg, &err)) == 1)
                protobuf_c_message_free_unpacked(msg, nullptr);
        EXPECT_LT(r, 0);
        rpc_stream_free(st);
}

TEST(Rpc, HealthCheck)
{
        Server s;
        std::string addr = s.ListenUnix();
        s.Start();
        Channel c(addr);
        struct ak_error err;
        EXPECT_EQ(RPC_OK, rpc_health_check(c.ch, "", 2000, &err)) << err.msg;
        EXPECT_EQ(RPC_OK, rpc_health_check(c.ch, "ak.test.Echo", 2000, &err)) << err.msg;
        EXPECT_EQ(RPC_NOT_FOUND, rpc_health_check(c.ch, "ak.test.Nobody", 2000, &err));
        rpc_server_set_serving(s.get(), false);
        EXPECT_EQ(RPC_UNAVAILABLE, rpc_health_check(c.ch, "", 2000, &err));
}

TEST(Rpc, HealthCheckOfNothingListeningFailsFast)
{
        Channel c("127.0.0.1:1");
        struct ak_error err;
        auto t0 = std::chrono::steady_clock::now();
        EXPECT_EQ(RPC_UNAVAILABLE, rpc_health_check(c.ch, "", 5000, &err));
        EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(4));
}


}  // namespace

namespace {

double Sample(const std::string &text, const std::string &line_prefix)
{
        size_t at = text.find("\n" + line_prefix + " ");
        if (at == std::string::npos)
                return -1;
        return strtod(text.c_str() + at + 1 + line_prefix.size() + 1, nullptr);
}

std::string RenderDefault()
{
        char *p = nullptr;
        size_t n = 0;
        EXPECT_EQ(0, metrics_render(metrics_default(), &p, &n));
        std::string s(p ? p : "", n);
        free(p);
        return s;
}

// Every call is counted once by method and code and timed, in the process's
// registry that --metrics-listen serves.
TEST(Rpc, CallsCountedAndTimedByMethodAndCode)
{
        Server s;
        std::string tcp = s.ListenTcp();
        s.Start();
        Channel c(tcp);
        const std::string ok = "ak_rpc_server_handled_total{service=\"ak.test.Echo\",method=\"Echo\",code=\"OK\"}";
        const std::string nf = "ak_rpc_server_handled_total{service=\"ak.test.Echo\",method=\"Echo\",code=\"NOT_FOUND\"}";
        const std::string hist = "ak_rpc_server_handling_seconds_count{service=\"ak.test.Echo\",method=\"Echo\"}";
        std::string before = RenderDefault();
        double ok0 = std::max(0.0, Sample(before, ok)), nf0 = std::max(0.0, Sample(before, nf));
        double h0 = std::max(0.0, Sample(before, hist));
        struct ak_error err;
        for (int i = 0; i < 3; i++)
                ASSERT_EQ(RPC_OK, call_echo(c.ch, "x", nullptr, &err)) << err.msg;
        ASSERT_EQ(RPC_NOT_FOUND, call_echo(c.ch, "x", nullptr, &err, nullptr, RPC_NOT_FOUND));
        std::string after = RenderDefault();
        EXPECT_EQ(ok0 + 3, Sample(after, ok)) << after;
        EXPECT_EQ(nf0 + 1, Sample(after, nf)) << after;
        EXPECT_EQ(h0 + 4, Sample(after, hist)) << after;
        EXPECT_NE(after.find("ak_rpc_server_in_flight "), std::string::npos) << after;
}

} // namespace
