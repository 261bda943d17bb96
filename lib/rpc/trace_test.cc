// Request ids and traceparent: the checks, and their trip from a client
// through one server's handler to the server it calls (a real server pair
// on loopback, the real client).
#include "lib/base/trace.h"

#include <string.h>

#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "lib/rpc/rpc.h"
#include "lib/rpc/testdata/echo.pb-c.h"

namespace {

const char kTp[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

bool IdOk(const std::string &s) { return ak_request_id_valid(s.data(), s.size()); }
bool TpOk(const std::string &s) { return ak_traceparent_valid(s.data(), s.size()); }

TEST(TraceTest, RequestIdCharsetAndLength)
{
        EXPECT_TRUE(IdOk("a"));
        EXPECT_TRUE(IdOk("req-1.2_3:4"));
        EXPECT_TRUE(IdOk(std::string(AK_REQUEST_ID_MAX, 'x')));
        EXPECT_FALSE(IdOk(std::string(AK_REQUEST_ID_MAX + 1, 'x')));
        EXPECT_FALSE(IdOk(""));
        EXPECT_FALSE(IdOk("has space"));
        EXPECT_FALSE(IdOk("quote\""));
        EXPECT_FALSE(IdOk("k=v"));
        EXPECT_FALSE(IdOk("new\nline"));
        EXPECT_FALSE(IdOk(std::string("nul\0x", 5)));
        EXPECT_FALSE(IdOk("caf\xc3\xa9"));
        EXPECT_FALSE(ak_request_id_valid(nullptr, 3));
}

TEST(TraceTest, TraceparentPerW3C)
{
        EXPECT_TRUE(TpOk(kTp));
        EXPECT_TRUE(TpOk("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
        // Not version 00, uppercase hex, all-zero ids, bad separators, lengths.
        EXPECT_FALSE(TpOk("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        EXPECT_FALSE(TpOk("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        EXPECT_FALSE(TpOk("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
        EXPECT_FALSE(TpOk("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
        EXPECT_FALSE(TpOk("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
        EXPECT_FALSE(TpOk("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        EXPECT_FALSE(TpOk("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g"));
        EXPECT_FALSE(TpOk("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-"));
        EXPECT_FALSE(TpOk("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"));
        EXPECT_FALSE(TpOk(""));
}

TEST(TraceTest, ThreadContext)
{
        EXPECT_EQ(nullptr, ak_trace_request_id());
        EXPECT_EQ(-EINVAL, ak_trace_set("bad id", kTp));
        EXPECT_EQ(nullptr, ak_trace_request_id());
        EXPECT_EQ(0, ak_trace_set("r1", "garbage"));
        EXPECT_STREQ("r1", ak_trace_request_id());
        EXPECT_EQ(nullptr, ak_trace_traceparent());
        EXPECT_EQ(0, ak_trace_set("r2", kTp));
        EXPECT_STREQ(kTp, ak_trace_traceparent());
        std::thread([] { EXPECT_EQ(nullptr, ak_trace_request_id()); }).join();
        ak_trace_clear();
        EXPECT_EQ(nullptr, ak_trace_request_id());
        EXPECT_EQ(nullptr, ak_trace_traceparent());
        // The process default, for threads without their own; a thread's own
        // id never borrows the default's traceparent.
        ASSERT_EQ(0, ak_trace_set_default("proc-1", kTp));
        std::thread([] {
                EXPECT_STREQ("proc-1", ak_trace_request_id());
                EXPECT_STREQ(kTp, ak_trace_traceparent());
                ASSERT_EQ(0, ak_trace_set("own", nullptr));
                EXPECT_STREQ("own", ak_trace_request_id());
                EXPECT_EQ(nullptr, ak_trace_traceparent());
        }).join();
        ASSERT_EQ(0, ak_trace_set_default(nullptr, nullptr));
        EXPECT_EQ(nullptr, ak_trace_request_id());
        char id[AK_REQUEST_ID_MAX + 1], id2[AK_REQUEST_ID_MAX + 1];
        ASSERT_EQ(0, ak_request_id_new(id));
        ASSERT_EQ(0, ak_request_id_new(id2));
        EXPECT_TRUE(IdOk(id));
        EXPECT_STRNE(id, id2);
}

// The back server answers "request_id|traceparent" as it saw them.
int back_echo(struct rpc_call *call, const ProtobufCMessage *, void *)
{
        const char *tp = rpc_call_traceparent(call);
        std::string seen = std::string(rpc_call_request_id(call)) + "|" + (tp ? tp : "");
        Ak__Test__EchoReply resp = AK__TEST__ECHO_REPLY__INIT;
        resp.text = (char *)seen.c_str();
        rpc_call_reply(call, &resp.base);
        return RPC_OK;
}

// The front server calls the back one with no trace options of its own (the
// context travels with the thread), and answers "front's view / back's view".
int front_echo(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        auto *ch = (struct rpc_channel *)data;
        ProtobufCMessage *resp = nullptr;
        struct ak_error err;
        struct rpc_call_options opts = { .timeout_ms = 5000 };
        int r = rpc_unary(ch, &ak__test__echo__descriptor, "Echo", msg, &opts, &resp, &err);
        if (r != RPC_OK)
                return rpc_call_fail(call, r, "%s", err.msg);
        const char *tp = rpc_call_traceparent(call);
        std::string out = std::string(rpc_call_request_id(call)) + "|" + (tp ? tp : "") + " / " +
                          ((Ak__Test__EchoReply *)resp)->text;
        protobuf_c_message_free_unpacked(resp, nullptr);
        Ak__Test__EchoReply reply = AK__TEST__ECHO_REPLY__INIT;
        reply.text = (char *)out.c_str();
        rpc_call_reply(call, &reply.base);
        return RPC_OK;
}

struct rpc_server *Serve(rpc_handler_fn fn, void *data, std::string *addr)
{
        static const struct rpc_method front[] = { { "Echo", RPC_UNARY, front_echo } };
        static const struct rpc_method back[] = { { "Echo", RPC_UNARY, back_echo } };
        struct rpc_server *srv = nullptr;
        struct ak_error err;
        int port = 0;
        EXPECT_EQ(0, rpc_server_new(nullptr, &srv, &err)) << err.msg;
        EXPECT_EQ(0, rpc_server_add_service(srv, &ak__test__echo__descriptor, fn == front_echo ? front : back, 1,
                                            data, &err))
                << err.msg;
        EXPECT_EQ(0, rpc_server_listen(srv, "127.0.0.1:0", nullptr, &port, &err)) << err.msg;
        EXPECT_EQ(0, rpc_server_start(srv, &err)) << err.msg;
        *addr = "127.0.0.1:" + std::to_string(port);
        return srv;
}

class TracePropagation : public ::testing::Test {
      protected:
        void SetUp() override
        {
                struct ak_error err;
                std::string back_addr, front_addr;
                back_ = Serve(back_echo, nullptr, &back_addr);
                ASSERT_EQ(0, rpc_channel_new(back_addr.c_str(), nullptr, &to_back_, &err)) << err.msg;
                front_ = Serve(front_echo, to_back_, &front_addr);
                ASSERT_EQ(0, rpc_channel_new(front_addr.c_str(), nullptr, &to_front_, &err)) << err.msg;
        }
        void TearDown() override
        {
                rpc_channel_free(to_front_);
                rpc_server_shutdown(front_, 1000);
                rpc_channel_free(to_back_);
                rpc_server_shutdown(back_, 1000);
        }
        std::string Call(const char *id, const char *tp)
        {
                Ak__Test__EchoRequest req = AK__TEST__ECHO_REQUEST__INIT;
                req.text = (char *)"x";
                struct rpc_call_options opts = { .timeout_ms = 5000 };
                opts.request_id = id;
                opts.traceparent = tp;
                ProtobufCMessage *resp = nullptr;
                struct ak_error err;
                int r = rpc_unary(to_front_, &ak__test__echo__descriptor, "Echo", &req.base, &opts, &resp, &err);
                EXPECT_EQ(RPC_OK, r) << err.msg;
                if (r != RPC_OK)
                        return "";
                std::string text = ((Ak__Test__EchoReply *)resp)->text;
                protobuf_c_message_free_unpacked(resp, nullptr);
                return text;
        }
        struct rpc_server *back_ = nullptr, *front_ = nullptr;
        struct rpc_channel *to_back_ = nullptr, *to_front_ = nullptr;
};

TEST_F(TracePropagation, ValidIdAndTraceparentTravelToTheNextServer)
{
        std::string want = std::string("req-42|") + kTp;
        EXPECT_EQ(want + " / " + want, Call("req-42", kTp));
}

TEST_F(TracePropagation, InvalidTraceparentIsDropped)
{
        EXPECT_EQ("req-43| / req-43|", Call("req-43", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
        EXPECT_EQ("req-44| / req-44|", Call("req-44", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
}

TEST_F(TracePropagation, MissingOrInvalidIdGetsAFreshOneThatTravels)
{
        for (const char *id : { (const char *)nullptr, "bad id", "x=y" }) {
                std::string got = Call(id, nullptr);
                size_t bar = got.find('|');
                ASSERT_NE(std::string::npos, bar) << got;
                std::string made = got.substr(0, bar);
                EXPECT_EQ(36u, made.size()) << got;  // a UUIDv7
                EXPECT_EQ(made + "| / " + made + "|", got);
        }
        // Each call has its own: the context ends with its handler.
        EXPECT_NE(Call(nullptr, nullptr), Call(nullptr, nullptr));
}

TEST_F(TracePropagation, ThreadContextIsSentWhenOptionsNameNone)
{
        ASSERT_EQ(0, ak_trace_set("cli-7", kTp));
        std::string want = std::string("cli-7|") + kTp;
        EXPECT_EQ(want + " / " + want, Call(nullptr, nullptr));
        // Options win over the context.
        EXPECT_EQ("opt-1|" + std::string(kTp) + " / opt-1|" + kTp, Call("opt-1", nullptr));
        ak_trace_clear();
}

}  // namespace
