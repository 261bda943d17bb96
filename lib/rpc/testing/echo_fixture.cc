// The ak.test.Echo service and client for lib/rpc's tests (echo_fixture.h).
#include "lib/rpc/testing/echo_fixture.h"

#include <unistd.h>

#include <chrono>

#include <gtest/gtest.h>

static int echo_echo(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        auto *req = (const Ak__Test__EchoRequest *)msg;
        if (req->fail_code)
                return rpc_call_fail(call, req->fail_code, "asked to fail: %s", req->text);
        Ak__Test__EchoReply resp = AK__TEST__ECHO_REPLY__INIT;
        resp.text = req->text;
        resp.blob = req->blob;
        const char *auth = rpc_call_metadata(call, "authorization");
        resp.metadata = (char *)(auth ? auth : "");
        resp.peer = (char *)rpc_call_peer(call);
        rpc_call_reply(call, &resp.base);
        return RPC_OK;
}

static int echo_count(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        auto *req = (const Ak__Test__EchoRequest *)msg;
        auto *st = (EchoState *)data;
        for (uint32_t i = 0; i < req->count; i++) {
                Ak__Test__EchoReply resp = AK__TEST__ECHO_REPLY__INIT;
                resp.text = req->text;
                resp.index = i;
                if (rpc_call_send(call, &resp.base) < 0) {
                        st->cancelled_seen++;
                        return RPC_CANCELLED;
                }
                if (req->sleep_ms)
                        usleep(req->sleep_ms * 1000);
        }
        return RPC_OK;
}

static int echo_sleep(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        auto *req = (const Ak__Test__EchoRequest *)msg;
        auto *st = (EchoState *)data;
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(req->sleep_ms);
        while (std::chrono::steady_clock::now() < until) {
                if (rpc_call_cancelled(call)) {
                        st->cancelled_seen++;
                        return rpc_call_fail(call, RPC_CANCELLED, "cancelled while sleeping");
                }
                usleep(2000);
        }
        st->sleeps_finished++;
        Ak__Test__EchoReply resp = AK__TEST__ECHO_REPLY__INIT;
        resp.text = req->text;
        rpc_call_reply(call, &resp.base);
        return RPC_OK;
}

static const struct rpc_method echo_methods[] = {
        {"Echo", RPC_UNARY, echo_echo},
        {"Count", RPC_SERVER_STREAMING, echo_count},
        {"Sleep", RPC_UNARY, echo_sleep},
};

std::string test_dir()
{
        char tmpl[] = "/tmp/akrpcXXXXXX";
        EXPECT_NE(nullptr, mkdtemp(tmpl));
        return tmpl;
}

void Server::Init(const struct rpc_server_options *opts)
{
        struct ak_error err;
        ASSERT_EQ(0, rpc_server_new(opts, &srv_, &err)) << err.msg;
        ASSERT_EQ(0, rpc_server_add_service(srv_, &ak__test__echo__descriptor, echo_methods, 3, &state, &err))
                << err.msg;
}

std::string Server::ListenTcp(const struct rpc_tls *tls)
{
        struct ak_error err;
        int port = 0;
        EXPECT_EQ(0, rpc_server_listen(srv_, "127.0.0.1:0", tls, &port, &err)) << err.msg;
        EXPECT_GT(port, 0);
        return "127.0.0.1:" + std::to_string(port);
}

std::string Server::ListenUnix()
{
        dir_ = test_dir();
        std::string addr = "unix:" + dir_ + "/s.sock";
        struct ak_error err;
        EXPECT_EQ(0, rpc_server_listen(srv_, addr.c_str(), nullptr, nullptr, &err)) << err.msg;
        return addr;
}

void Server::Start()
{
        struct ak_error err;
        ASSERT_EQ(0, rpc_server_start(srv_, &err)) << err.msg;
}

void Server::Stop(unsigned grace_ms)
{
        rpc_server_shutdown(srv_, grace_ms);
        srv_ = nullptr;
        if (!dir_.empty()) {
                unlink((dir_ + "/s.sock").c_str());
                rmdir(dir_.c_str());
                dir_.clear();
        }
}

Channel::Channel(const std::string &target, const struct rpc_tls *tls)
{
        struct ak_error err;
        EXPECT_EQ(0, rpc_channel_new(target.c_str(), tls, &ch, &err)) << err.msg;
}

Channel::~Channel()
{
        rpc_channel_free(ch);
}

int call_echo(struct rpc_channel *ch, const std::string &text, std::string *out,
              struct ak_error *err, const struct rpc_call_options *opts, int fail)
{
        Ak__Test__EchoRequest req = AK__TEST__ECHO_REQUEST__INIT;
        req.text = (char *)text.c_str();
        req.fail_code = fail;
        ProtobufCMessage *msg;
        int r = rpc_unary(ch, &ak__test__echo__descriptor, "Echo", &req.base, opts, &msg, err);
        if (r == RPC_OK) {
                auto *resp = (Ak__Test__EchoReply *)msg;
                if (out)
                        *out = resp->text;
                protobuf_c_message_free_unpacked(msg, nullptr);
        }
        return r;
}
