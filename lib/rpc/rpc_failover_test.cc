// Failover (rpc.h): replicas behind one address (a round-robin TCP proxy
// standing for a Kubernetes Service), one of them "leader". A follower
// refuses with rpc_call_refuse_elsewhere; a client channel with failover
// sends the call again on a new connection; a replica that cannot be
// reached is skipped before anything is sent; a connection that breaks
// mid-call is retried only for idempotent calls; streams are not retried.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "lib/rpc/testing/echo_fixture.h"
#include "tests/testing/tcp_proxy.h"

namespace {

struct Role {
        std::atomic<bool> leader{false};
        std::atomic<int> refused{0}, passed{0};
};

int Authorize(struct rpc_call *call, void *data)
{
        auto *r = (Role *)data;
        if (r->leader) {
                r->passed++;
                return RPC_OK;
        }
        r->refused++;
        return rpc_call_refuse_elsewhere(call, "replica-b\n", "a follower; the leader is replica-b");
}

struct Replica {
        explicit Replica(bool leader)
        {
                role.leader = leader;
                struct rpc_server_options o = {};
                o.authorize = Authorize;
                o.authorize_data = &role;
                srv.reset(new Server(&o));
                addr = srv->ListenTcp();
                srv->Start();
        }
        Role role;
        std::unique_ptr<Server> srv;
        std::string addr;
};

// A port nothing listens on (bound, then closed).
std::string DeadAddress()
{
        Server s;
        std::string a = s.ListenTcp();
        s.Start();
        s.Stop(0);
        return a;
}

void Failover(struct rpc_channel *ch)
{
        struct rpc_failover fo = {};
        fo.first_backoff_ms = 5;
        fo.max_backoff_ms = 50;
        ASSERT_EQ(0, rpc_channel_set_failover(ch, &fo));
}

int CallSleep(struct rpc_channel *ch, uint32_t ms, bool idempotent, struct ak_error *err)
{
        Ak__Test__EchoRequest req = AK__TEST__ECHO_REQUEST__INIT;
        req.text = (char *)"zz";
        req.sleep_ms = ms;
        struct rpc_call_options o = {};
        o.timeout_ms = 10000;
        o.idempotent = idempotent;
        ProtobufCMessage *resp = nullptr;
        int r = rpc_unary(ch, &ak__test__echo__descriptor, "Sleep", &req.base, &o, &resp, err);
        if (resp)
                protobuf_c_message_free_unpacked(resp, nullptr);
        return r;
}

TEST(RpcFailover, RefusalNamesTheLeaderAndSaysItIsSafeToRetry)
{
        Replica a(false);
        Channel c(a.addr);  // no failover: the refusal reaches the caller
        std::string out;
        struct ak_error err = {};
        ASSERT_EQ(RPC_UNAVAILABLE, call_echo(c.ch, "x", &out, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "the leader is replica-b")) << err.msg;
        EXPECT_NE(nullptr, strstr(err.msg, "nothing was done, sending it again is safe")) << err.msg;
        EXPECT_EQ(1, a.role.refused.load());
}

TEST(RpcFailover, WithoutFailoverAFollowerBehindTheServiceFailsTheCall)
{
        Replica a(false), b(true);
        aktest::TcpProxy proxy;
        ASSERT_TRUE(proxy.Start({a.addr, b.addr}));
        Channel c(proxy.addr);  // first connection: replica a, the follower
        std::string out;
        struct ak_error err = {};
        EXPECT_EQ(RPC_UNAVAILABLE, call_echo(c.ch, "x", &out, &err));
        EXPECT_EQ(0u, rpc_channel_reopened(c.ch));
}

TEST(RpcFailover, FollowerRefusalReconnectsToTheLeader)
{
        Replica a(false), b(true);
        aktest::TcpProxy proxy;
        ASSERT_TRUE(proxy.Start({a.addr, b.addr}));
        Channel c(proxy.addr);
        Failover(c.ch);
        for (int i = 0; i < 10; i++) {
                std::string out;
                struct ak_error err = {};
                ASSERT_EQ(RPC_OK, call_echo(c.ch, "hi " + std::to_string(i), &out, &err)) << err.msg;
                EXPECT_EQ("hi " + std::to_string(i), out);
        }
        EXPECT_EQ(1, a.role.refused.load());  // once; then the channel stays on b
        EXPECT_EQ(10, b.role.passed.load());
        EXPECT_EQ(1u, rpc_channel_reopened(c.ch));

        // The roles swap (a failover): the same channel follows.
        a.role.leader = true;
        b.role.leader = false;
        std::string out;
        struct ak_error err = {};
        ASSERT_EQ(RPC_OK, call_echo(c.ch, "after", &out, &err)) << err.msg;
        EXPECT_EQ(1, b.role.refused.load());
        EXPECT_EQ(1, a.role.passed.load());
}

TEST(RpcFailover, DeadReplicaIsSkippedBeforeSending)
{
        Replica b(true);
        aktest::TcpProxy proxy;
        ASSERT_TRUE(proxy.Start({DeadAddress(), b.addr}));
        {
                Channel c(proxy.addr);  // its first connection goes to the dead one
                Failover(c.ch);
                struct ak_error err = {};
                // Not idempotent, and still sent: nothing went out on the connection that failed.
                ASSERT_EQ(RPC_OK, CallSleep(c.ch, 1, false, &err)) << err.msg;
                EXPECT_EQ(1, b.srv->state.sleeps_finished.load());
                EXPECT_EQ(1, proxy.refused.load());
                EXPECT_EQ(1u, rpc_channel_reopened(c.ch));
        }
        Channel plain(proxy.addr);  // the proxy's third connection: the dead one again
        std::string out;
        struct ak_error err = {};
        EXPECT_EQ(RPC_UNAVAILABLE, call_echo(plain.ch, "x", &out, &err)) << "without failover";
        EXPECT_EQ(2, proxy.refused.load());
}

TEST(RpcFailover, NobodyAnswersWithinTheDeadline)
{
        aktest::TcpProxy proxy;
        ASSERT_TRUE(proxy.Start({DeadAddress()}));
        Channel c(proxy.addr);
        Failover(c.ch);
        std::string out;
        struct ak_error err = {};
        struct rpc_call_options o = {};
        o.timeout_ms = 1000;
        auto t0 = std::chrono::steady_clock::now();
        int r = call_echo(c.ch, "x", &out, &err, &o);
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
        EXPECT_TRUE(r == RPC_UNAVAILABLE || r == RPC_DEADLINE_EXCEEDED) << rpc_code_name(r);
        EXPECT_NE(nullptr, strstr(err.msg, "cannot connect to")) << err.msg;
        EXPECT_LT(ms, 3000);
}

TEST(RpcFailover, BrokenMidCallIsRetriedOnlyWhenIdempotent)
{
        Replica b(true);
        aktest::TcpProxy proxy;
        ASSERT_TRUE(proxy.Start({b.addr}));
        Channel c(proxy.addr);
        Failover(c.ch);
        std::thread dropper([&] {
                std::this_thread::sleep_for(std::chrono::milliseconds(300));
                proxy.DropConnections();
        });
        struct ak_error err = {};
        EXPECT_EQ(RPC_UNAVAILABLE, CallSleep(c.ch, 1500, false, &err));
        dropper.join();
        EXPECT_NE(nullptr, strstr(err.msg, "may have been done")) << err.msg;
        EXPECT_EQ(1, b.role.passed.load());

        dropper = std::thread([&] {
                std::this_thread::sleep_for(std::chrono::milliseconds(300));
                proxy.DropConnections();
        });
        err = {};
        EXPECT_EQ(RPC_OK, CallSleep(c.ch, 1500, true, &err)) << err.msg;
        dropper.join();
        EXPECT_EQ(3, b.role.passed.load());  // the broken one, then again
        EXPECT_EQ(1, b.srv->state.sleeps_finished.load());
}

TEST(RpcFailover, StreamsAreNotRetriedButTheNextCallReconnects)
{
        Replica a(false), b(true);
        aktest::TcpProxy proxy;
        ASSERT_TRUE(proxy.Start({a.addr, b.addr}));
        Channel c(proxy.addr);
        Failover(c.ch);
        Ak__Test__EchoRequest req = AK__TEST__ECHO_REQUEST__INIT;
        req.text = (char *)"s";
        req.count = 2;
        struct rpc_stream *st = nullptr;
        struct ak_error err = {};
        ASSERT_EQ(RPC_OK, rpc_stream_open(c.ch, &ak__test__echo__descriptor, "Count", &req.base, nullptr, &st, &err));
        ProtobufCMessage *msg = nullptr;
        EXPECT_EQ(-RPC_UNAVAILABLE, rpc_stream_next(st, &msg, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "sending it again is safe")) << err.msg;
        rpc_stream_free(st);
        EXPECT_EQ(1, a.role.refused.load());

        // The channel reconnects on its next call: the stream now reaches b.
        ASSERT_EQ(RPC_OK, rpc_stream_open(c.ch, &ak__test__echo__descriptor, "Count", &req.base, nullptr, &st, &err));
        int n = 0;
        while (rpc_stream_next(st, &msg, &err) == 1) {
                protobuf_c_message_free_unpacked(msg, nullptr);
                n++;
        }
        rpc_stream_free(st);
        EXPECT_EQ(2, n) << err.msg;
        EXPECT_EQ(1, b.role.passed.load());
}

TEST(RpcFailover, SettingsAreChecked)
{
        Channel c("127.0.0.1:1");
        struct rpc_failover fo = {};
        fo.max_attempts = RPC_FAILOVER_MAX_ATTEMPTS + 1;
        EXPECT_EQ(-EINVAL, rpc_channel_set_failover(c.ch, &fo));
        fo.max_attempts = 0;
        fo.first_backoff_ms = -1;
        EXPECT_EQ(-EINVAL, rpc_channel_set_failover(c.ch, &fo));
        EXPECT_EQ(0, rpc_channel_set_failover(c.ch, nullptr));
}

}  // namespace
