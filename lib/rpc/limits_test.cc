// lib/rpc's limits against a hostile client: authorization from the headers
// before a byte of the message is read, calls past max_calls refused at once,
// the server's own deadline for calls whose client set none, streams per
// connection, the open (health) receive cap, and mTLS that really requires
// a client certificate. rpc_test.cc covers the ordinary behaviour.
#include "lib/rpc/rpc.h"

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

#include "lib/rpc/testdata/echo.pb-c.h"
#include "tests/testing/raw_call.h"

namespace {

using Clock = std::chrono::steady_clock;

struct State {
        std::atomic<int> running{0}, peak{0}, handled{0}, cancelled{0};
};

int sleep_handler(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        auto *req = (const Ak__Test__EchoRequest *)msg;
        auto *st = (State *)data;
        int now = ++st->running;
        int p = st->peak.load();
        while (now > p && !st->peak.compare_exchange_weak(p, now))
                ;
        st->handled++;
        auto until = Clock::now() + std::chrono::milliseconds(req->sleep_ms);
        int code = RPC_OK;
        while (Clock::now() < until) {
                if (rpc_call_cancelled(call)) {
                        st->cancelled++;
                        code = rpc_call_fail(call, RPC_CANCELLED, "cancelled while sleeping");
                        break;
                }
                usleep(2000);
        }
        st->running--;
        if (code != RPC_OK)
                return code;
        Ak__Test__EchoReply resp = AK__TEST__ECHO_REPLY__INIT;
        resp.text = req->text;
        rpc_call_reply(call, &resp.base);
        return RPC_OK;
}

int count_handler(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        auto *req = (const Ak__Test__EchoRequest *)msg;
        for (uint32_t i = 0; i < req->count; i++) {
                Ak__Test__EchoReply resp = AK__TEST__ECHO_REPLY__INIT;
                resp.index = i;
                if (rpc_call_send(call, &resp.base) < 0)
                        return RPC_CANCELLED;
                usleep(req->sleep_ms * 1000);
        }
        return RPC_OK;
}

const struct rpc_method methods[] = {
        {"Echo", RPC_UNARY, sleep_handler},
        {"Sleep", RPC_UNARY, sleep_handler},
        {"Count", RPC_SERVER_STREAMING, count_handler},
};

int require_token(struct rpc_call *call, void *data)
{
        const char *auth = rpc_call_metadata(call, "authorization");
        if (!auth || strcmp(auth, "Bearer s3cret") != 0)
                return rpc_call_fail(call, RPC_UNAUTHENTICATED, "missing or wrong bearer token");
        return RPC_OK;
}

class Server {
      public:
        explicit Server(struct rpc_server_options opts, const struct rpc_tls *tls = nullptr)
        {
                struct ak_error err;
                EXPECT_EQ(0, rpc_server_new(&opts, &srv_, &err)) << err.msg;
                EXPECT_EQ(0, rpc_server_add_service(srv_, &ak__test__echo__descriptor, methods, 3, &state,
                                                    &err))
                        << err.msg;
                int port = 0;
                EXPECT_EQ(0, rpc_server_listen(srv_, "127.0.0.1:0", tls, &port, &err)) << err.msg;
                addr = "127.0.0.1:" + std::to_string(port);
                EXPECT_EQ(0, rpc_server_start(srv_, &err)) << err.msg;
        }
        ~Server() { rpc_server_shutdown(srv_, 1000); }
        struct rpc_server_stats Stats()
        {
                struct rpc_server_stats s;
                rpc_server_get_stats(srv_, &s);
                return s;
        }
        State state;
        std::string addr;

      private:
        struct rpc_server *srv_ = nullptr;
};

int Call(struct rpc_channel *ch, const char *method, uint32_t sleep_ms, const char *token,
         int64_t timeout_ms = 10000, std::string *why = nullptr)
{
        Ak__Test__EchoRequest req = AK__TEST__ECHO_REQUEST__INIT;
        req.sleep_ms = sleep_ms;
        struct rpc_call_options o = {};
        o.bearer_token = token;
        o.timeout_ms = timeout_ms;
        ProtobufCMessage *resp = nullptr;
        struct ak_error err = {};
        int r = rpc_unary(ch, &ak__test__echo__descriptor, method, &req.base, &o, &resp, &err);
        if (resp)
                protobuf_c_message_free_unpacked(resp, nullptr);
        if (why)
                *why = err.msg;
        return r;
}

// Before: the whole message was read and unpacked first, so an unauthenticated
// caller got INVALID_ARGUMENT for bad bytes and held a worker, with no status,
// for as long as it kept a call open without a message.
TEST(RpcLimits, UnauthenticatedCallsAreRefusedBeforeTheirMessage)
{
        struct rpc_server_options o = {};
        o.authorize = require_token;
        Server s(o);
        aktest::RawCalls raw(s.addr);
        std::string garbage = "\xff\xff\xff\xff\xff\xff";
        int bad = raw.Start("/ak.test.Echo/Echo", "", &garbage);
        int idle = raw.Start("/ak.test.Echo/Echo");  // headers, then nothing
        std::string big(8 << 20, 'x');
        int huge = raw.Start("/ak.test.Echo/Echo", "wrong", &big);
        raw.Wait(5000);
        EXPECT_EQ(RPC_UNAUTHENTICATED, raw.status(bad)) << raw.details(bad);
        EXPECT_EQ(RPC_UNAUTHENTICATED, raw.status(idle)) << raw.details(idle);
        EXPECT_EQ(RPC_UNAUTHENTICATED, raw.status(huge)) << raw.details(huge);
        struct rpc_server_stats st = s.Stats();
        EXPECT_EQ(3u, st.refused_auth);
        EXPECT_EQ(0u, st.messages_read);
        EXPECT_EQ(0u, st.bytes_read);
        EXPECT_EQ(0, s.state.handled.load());
        // The right token still gets through, and its message is read.
        int ok = raw.Start("/ak.test.Echo/Echo", "s3cret", &garbage);
        raw.Wait(5000);
        EXPECT_EQ(RPC_INVALID_ARGUMENT, raw.status(ok)) << raw.details(ok);
        EXPECT_EQ(1u, s.Stats().messages_read);
}

// Before: calls past the limit queued in the core until a worker was free.
TEST(RpcLimits, CallsPastMaxCallsAreShedAtOnce)
{
        struct rpc_server_options o = {};
        o.limits.max_calls = 4;
        Server s(o);
        struct ak_error err;
        struct rpc_channel *ch;
        ASSERT_EQ(0, rpc_channel_new(s.addr.c_str(), nullptr, &ch, &err));
        std::vector<std::thread> busy;
        for (int i = 0; i < 4; i++)
                busy.emplace_back([&] { EXPECT_EQ(RPC_OK, Call(ch, "Sleep", 1500, nullptr)); });
        for (int i = 0; i < 300 && s.state.running < 4; i++)
                usleep(10000);
        ASSERT_EQ(4, s.state.running.load());
        auto t0 = Clock::now();
        std::string why;
        EXPECT_EQ(RPC_RESOURCE_EXHAUSTED, Call(ch, "Echo", 0, nullptr, 10000, &why));
        EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(1000));
        EXPECT_NE(std::string::npos, why.find("limit of 4 calls")) << why;
        for (auto &t : busy)
                t.join();
        EXPECT_EQ(RPC_OK, Call(ch, "Echo", 0, nullptr));
        struct rpc_server_stats st = s.Stats();
        EXPECT_EQ(1u, st.shed);
        EXPECT_LE(st.peak_workers, 4u + 2u);
        rpc_channel_free(ch);
}

// Before: a call without a client deadline waited for its message forever,
// and a handler ran as long as it liked.
TEST(RpcLimits, TheServerSetsADeadlineWhenTheClientSetsNone)
{
        struct rpc_server_options o = {};
        o.limits.call_deadline_ms = 300;
        o.limits.stream_deadline_ms = 600;
        Server s(o);
        aktest::RawCalls raw(s.addr);
        auto t0 = Clock::now();
        int idle = raw.Start("/ak.test.Echo/Echo");
        raw.Wait(5000);
        EXPECT_EQ(RPC_DEADLINE_EXCEEDED, raw.status(idle)) << raw.details(idle);
        EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(3000));

        struct ak_error err;
        struct rpc_channel *ch;
        ASSERT_EQ(0, rpc_channel_new(s.addr.c_str(), nullptr, &ch, &err));
        EXPECT_EQ(RPC_DEADLINE_EXCEEDED, Call(ch, "Sleep", 5000, nullptr, 0));
        EXPECT_EQ(1, s.state.cancelled.load());
        // A client's own deadline stands, longer than the server's default.
        EXPECT_EQ(RPC_OK, Call(ch, "Sleep", 500, nullptr, 5000));

        // Streams get theirs: 600 ms of a 50 ms-per-message stream.
        Ak__Test__EchoRequest req = AK__TEST__ECHO_REQUEST__INIT;
        req.count = 1000;
        req.sleep_ms = 50;
        struct rpc_stream *st;
        ASSERT_EQ(RPC_OK, rpc_stream_open(ch, &ak__test__echo__descriptor, "Count", &req.base, nullptr, &st,
                                          &err));
        int n = 0, r;
        ProtobufCMessage *m;
        while ((r = rpc_stream_next(st, &m, &err)) == 1) {
                protobuf_c_message_free_unpacked(m, nullptr);
                n++;
        }
        EXPECT_EQ(-RPC_DEADLINE_EXCEEDED, r) << err.msg;
        EXPECT_GT(n, 3);
        EXPECT_LT(n, 100);
        rpc_stream_free(st);
        rpc_channel_free(ch);
        EXPECT_GE(s.Stats().deadline_cut, 1u);
}

// Before: no limit (the core's default is unbounded).
TEST(RpcLimits, StreamsPerConnectionAreCapped)
{
        struct rpc_server_options o = {};
        o.limits.max_conn_streams = 2;
        Server s(o);
        struct ak_error err;
        struct rpc_channel *ch;
        ASSERT_EQ(0, rpc_channel_new(s.addr.c_str(), nullptr, &ch, &err));
        std::vector<std::thread> calls;
        for (int i = 0; i < 6; i++)
                calls.emplace_back([&] { EXPECT_EQ(RPC_OK, Call(ch, "Sleep", 300, nullptr)); });
        for (auto &t : calls)
                t.join();
        EXPECT_EQ(6, s.state.handled.load());
        EXPECT_EQ(2, s.state.peak.load());
        rpc_channel_free(ch);
}

// Health answers everyone, so it may read a request only while few others
// do: the rest are refused at once instead of each buffering a message.
TEST(RpcLimits, OpenHealthReceivesAreCapped)
{
        struct rpc_server_options o = {};
        o.authorize = require_token;
        Server s(o);
        aktest::RawCalls raw(s.addr);
        for (int i = 0; i < RPC_MAX_OPEN_RECEIVES + 3; i++)
                raw.Start("/grpc.health.v1.Health/Check");
        raw.Wait(RPC_OPEN_RECEIVE_MS + 3000);
        EXPECT_EQ(0, raw.open());
        EXPECT_EQ(3, raw.Count(RPC_RESOURCE_EXHAUSTED));
        EXPECT_EQ(RPC_MAX_OPEN_RECEIVES, raw.Count(RPC_DEADLINE_EXCEEDED));
        struct rpc_channel *ch;
        struct ak_error err;
        ASSERT_EQ(0, rpc_channel_new(s.addr.c_str(), nullptr, &ch, &err));
        EXPECT_EQ(RPC_OK, rpc_health_check(ch, "", 2000, &err)) << err.msg;
        rpc_channel_free(ch);
}

// 300 idle unauthenticated calls over 6 connections against a server of 8
// calls: each is refused at once (UNAUTHENTICATED, or RESOURCE_EXHAUSTED when
// it arrived while 8 others were still being refused: a loaded machine), none
// stays open, and the authorized call goes through.
TEST(RpcLimits, AnIdleUnauthenticatedFloodHoldsNoWorker)
{
        struct rpc_server_options o = {};
        o.authorize = require_token;
        o.limits.max_calls = 8;
        Server s(o);
        aktest::RawCalls raw(s.addr, 6);
        for (int i = 0; i < 300; i++)
                ASSERT_GE(raw.Start("/ak.test.Echo/Sleep"), 0);
        struct rpc_channel *ch;
        struct ak_error err;
        ASSERT_EQ(0, rpc_channel_new(s.addr.c_str(), nullptr, &ch, &err));
        // While the flood is being refused the authorized call may itself be
        // shed (RESOURCE_EXHAUSTED: all 8 calls in flight are refusals) but
        // never waits for a worker; a retry, as a client does, gets through.
        int code = RPC_RESOURCE_EXHAUSTED;
        for (int i = 0; i < 100 && code == RPC_RESOURCE_EXHAUSTED; i++)
                if ((code = Call(ch, "Echo", 0, "s3cret", 5000)) == RPC_RESOURCE_EXHAUSTED)
                        usleep(20 * 1000);
        EXPECT_EQ(RPC_OK, code);
        raw.Wait(10000);
        EXPECT_EQ(0, raw.open());
        EXPECT_EQ(300, raw.Count(RPC_UNAUTHENTICATED) + raw.Count(RPC_RESOURCE_EXHAUSTED));
        EXPECT_GT(raw.Count(RPC_UNAUTHENTICATED), 0);
        EXPECT_LE(s.Stats().peak_workers, 8u + 2u);
        rpc_channel_free(ch);
}

class LimitsTls : public ::testing::Test {
      protected:
        void SetUp() override
        {
                char tmpl[] = "/tmp/akrpclXXXXXX";
                ASSERT_NE(nullptr, mkdtemp(tmpl));
                dir_ = tmpl;
                std::string cmd = "lib/rpc/testdata/make_certs.sh " + dir_;
                ASSERT_EQ(0, system(cmd.c_str())) << "openssl missing? run tools/deps.sh";
        }
        void TearDown() override { (void)!system(("rm -rf " + dir_).c_str()); }
        std::string f(const char *name) { return dir_ + "/" + name; }
        std::string dir_;
};

// Before: a CA without require_client_cert asked for a certificate and let
// clients without one in.
TEST_F(LimitsTls, ACaMeansClientCertificatesAreRequired)
{
        std::string cert = f("server.pem"), key = f("server.key"), ca = f("ca1.pem");
        std::string ccert = f("client.pem"), ckey = f("client.key");
        struct rpc_tls stls = {};
        stls.cert_file = cert.c_str();
        stls.key_file = key.c_str();
        stls.ca_file = ca.c_str();
        Server s({}, &stls);
        struct rpc_tls ctls = {};
        ctls.ca_file = ca.c_str();
        ctls.server_name = "localhost";
        struct ak_error err;
        struct rpc_channel *ch;
        ASSERT_EQ(0, rpc_channel_new(s.addr.c_str(), &ctls, &ch, &err));
        EXPECT_EQ(RPC_UNAVAILABLE, Call(ch, "Echo", 0, nullptr, 5000));
        rpc_channel_free(ch);
        ctls.cert_file = ccert.c_str();
        ctls.key_file = ckey.c_str();
        ASSERT_EQ(0, rpc_channel_new(s.addr.c_str(), &ctls, &ch, &err));
        EXPECT_EQ(RPC_OK, Call(ch, "Echo", 0, nullptr, 5000));
        rpc_channel_free(ch);
}

}  // namespace
