// lib/rpc end to end, what the server refuses: request bytes an honest
// client would not send (wrong wire types, NUL or bad UTF-8 in strings),
// oversize messages, missing or wrong bearer tokens, TLS and mutual TLS
// with the wrong or no certificates, listen addresses that cannot work.
// Calls, streams and the server's life cycle are rpc_test.cc.
#include "lib/rpc/rpc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <string>

#include <gtest/gtest.h>

#include "lib/rpc/testing/echo_fixture.h"

namespace {

// The Echo service as a client that lies: its Echo method sends `input`
// messages, so the server receives bytes an honest client would not send.
struct LyingEcho {
        explicit LyingEcho(const ProtobufCMessageDescriptor *input)
        {
                desc = ak__test__echo__descriptor;
                memcpy(methods, ak__test__echo__descriptor.methods, sizeof(methods));
                methods[0].input = input;
                desc.methods = methods;
        }
        ProtobufCServiceDescriptor desc;
        ProtobufCMethodDescriptor methods[4];
};

TEST(Rpc, MalformedRequestBytesAreInvalidArgument)
{
        Server s;
        std::string addr = s.ListenTcp();
        s.Start();
        Channel c(addr);
        // Send a Malformed message (field 3 as bytes) where EchoRequest
        // expects field 3 as a varint: the wire types disagree.
        LyingEcho lying(&ak__test__malformed__descriptor);
        Ak__Test__Malformed bad = AK__TEST__MALFORMED__INIT;
        bad.count.data = (uint8_t *)"xyz";
        bad.count.len = 3;
        ProtobufCMessage *msg;
        struct ak_error err;
        EXPECT_EQ(RPC_INVALID_ARGUMENT, rpc_unary(c.ch, &lying.desc, "Echo", &bad.base, nullptr, &msg, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "not a valid ak.test.EchoRequest")) << err.msg;
        // The server is fine afterwards.
        EXPECT_EQ(RPC_OK, call_echo(c.ch, "still here", nullptr, &err)) << err.msg;
}

TEST(Rpc, StringsWithNulOrBadUtf8AreInvalidArgument)
{
        Server s;
        std::string addr = s.ListenTcp();
        s.Start();
        Channel c(addr);
        LyingEcho lying(&ak__test__raw_text__descriptor);
        struct {
                std::string bytes;
                const char *why;
        } cases[] = {
                {std::string("sand\0box", 8), "ak.test.EchoRequest.text contains a NUL byte"},
                {"caf\xc3", "ak.test.EchoRequest.text is not valid UTF-8"},
                {"\xed\xa0\x80", "ak.test.EchoRequest.text is not valid UTF-8"},  // a surrogate
        };
        for (const auto &tc : cases) {
                Ak__Test__RawText raw = AK__TEST__RAW_TEXT__INIT;
                raw.text.data = (uint8_t *)tc.bytes.data();
                raw.text.len = tc.bytes.size();
                ProtobufCMessage *msg;
                struct ak_error err;
                EXPECT_EQ(RPC_INVALID_ARGUMENT, rpc_unary(c.ch, &lying.desc, "Echo", &raw.base, nullptr, &msg, &err));
                EXPECT_NE(nullptr, strstr(err.msg, tc.why)) << err.msg;
        }
        // Valid UTF-8 passes, multi-byte included.
        Ak__Test__RawText raw = AK__TEST__RAW_TEXT__INIT;
        std::string ok = "h\xc3\xa9llo \xf0\x9f\x98\x80";
        raw.text.data = (uint8_t *)ok.data();
        raw.text.len = ok.size();
        ProtobufCMessage *msg;
        struct ak_error err;
        ASSERT_EQ(RPC_OK, rpc_unary(c.ch, &lying.desc, "Echo", &raw.base, nullptr, &msg, &err)) << err.msg;
        EXPECT_STREQ(ok.c_str(), ((Ak__Test__EchoReply *)msg)->text);
        protobuf_c_message_free_unpacked(msg, nullptr);
}

TEST(Rpc, OversizeMessageIsResourceExhausted)
{
        struct rpc_server_options opts = {};
        opts.max_message_bytes = 1 << 20;
        Server s(&opts);
        std::string addr = s.ListenTcp();
        s.Start();
        Channel c(addr);
        std::string big(2 << 20, 'x');
        Ak__Test__EchoRequest req = AK__TEST__ECHO_REQUEST__INIT;
        req.blob.data = (uint8_t *)big.data();
        req.blob.len = big.size();
        ProtobufCMessage *msg;
        struct ak_error err;
        EXPECT_EQ(RPC_RESOURCE_EXHAUSTED,
                  rpc_unary(c.ch, &ak__test__echo__descriptor, "Echo", &req.base, nullptr, &msg, &err));
        EXPECT_EQ(RPC_OK, call_echo(c.ch, "small is fine", nullptr, &err)) << err.msg;
}

int require_token(struct rpc_call *call, void *data)
{
        const char *auth = rpc_call_metadata(call, "authorization");
        if (!auth || strcmp(auth, "Bearer s3cret") != 0)
                return rpc_call_fail(call, RPC_UNAUTHENTICATED, "missing or wrong bearer token");
        return RPC_OK;
}

TEST(Rpc, BearerTokenMetadataAndAuthorizeHook)
{
        struct rpc_server_options opts = {};
        opts.authorize = require_token;
        Server s(&opts);
        std::string addr = s.ListenTcp();
        s.Start();
        Channel c(addr);
        struct ak_error err;
        EXPECT_EQ(RPC_UNAUTHENTICATED, call_echo(c.ch, "x", nullptr, &err));
        struct rpc_call_options copts = {};
        copts.bearer_token = "wrong";
        EXPECT_EQ(RPC_UNAUTHENTICATED, call_echo(c.ch, "x", nullptr, &err, &copts));
        copts.bearer_token = "s3cret";
        std::string out;
        EXPECT_EQ(RPC_OK, call_echo(c.ch, "x", &out, &err, &copts)) << err.msg;
        // Health needs no token.
        EXPECT_EQ(RPC_OK, rpc_health_check(c.ch, "", 2000, &err)) << err.msg;
        // The channel's own token, unless the call brings one.
        ASSERT_EQ(0, rpc_channel_set_bearer_token(c.ch, "s3cret"));
        EXPECT_EQ(RPC_OK, call_echo(c.ch, "x", &out, &err)) << err.msg;
        copts.bearer_token = "wrong";
        EXPECT_EQ(RPC_UNAUTHENTICATED, call_echo(c.ch, "x", nullptr, &err, &copts));
        ASSERT_EQ(0, rpc_channel_set_bearer_token(c.ch, nullptr));
        EXPECT_EQ(RPC_UNAUTHENTICATED, call_echo(c.ch, "x", nullptr, &err));
}

class Tls : public ::testing::Test {
      protected:
        void SetUp() override
        {
                dir_ = test_dir();
                std::string cmd = "lib/rpc/testdata/make_certs.sh " + dir_;
                ASSERT_EQ(0, system(cmd.c_str())) << "openssl missing? run tools/deps.sh";
        }
        void TearDown() override
        {
                std::string cmd = "rm -rf " + dir_;
                (void)!system(cmd.c_str());
        }
        std::string f(const char *name) { return dir_ + "/" + name; }
        std::string dir_;
};

TEST_F(Tls, ServerTls)
{
        std::string cert = f("server.pem"), key = f("server.key"), ca = f("ca1.pem"), ca2 = f("ca2.pem");
        struct rpc_tls stls = {};
        stls.cert_file = cert.c_str();
        stls.key_file = key.c_str();
        Server s;
        std::string addr = s.ListenTcp(&stls);
        s.Start();
        struct rpc_tls ctls = {};
        ctls.ca_file = ca.c_str();
        ctls.server_name = "localhost";
        struct ak_error err;
        {
                Channel c(addr, &ctls);
                EXPECT_EQ(RPC_OK, call_echo(c.ch, "secret", nullptr, &err)) << err.msg;
        }
        {
                // A client trusting another CA refuses the server.
                struct rpc_tls wrong = ctls;
                wrong.ca_file = ca2.c_str();
                Channel c(addr, &wrong);
                EXPECT_EQ(RPC_UNAVAILABLE, call_echo(c.ch, "secret", nullptr, &err));
        }
        {
                // Plaintext to a TLS port fails.
                Channel c(addr);
                EXPECT_NE(RPC_OK, call_echo(c.ch, "secret", nullptr, &err));
        }
}

TEST_F(Tls, MutualTls)
{
        std::string cert = f("server.pem"), key = f("server.key"), ca = f("ca1.pem");
        std::string ccert = f("client.pem"), ckey = f("client.key");
        struct rpc_tls stls = {};
        stls.cert_file = cert.c_str();
        stls.key_file = key.c_str();
        stls.ca_file = ca.c_str();
        stls.require_client_cert = true;
        Server s;
        std::string addr = s.ListenTcp(&stls);
        s.Start();
        struct rpc_tls ctls = {};
        ctls.ca_file = ca.c_str();
        ctls.server_name = "localhost";
        struct ak_error err;
        {
                Channel c(addr, &ctls);
                EXPECT_EQ(RPC_UNAVAILABLE, call_echo(c.ch, "no client cert", nullptr, &err));
        }
        ctls.cert_file = ccert.c_str();
        ctls.key_file = ckey.c_str();
        {
                Channel c(addr, &ctls);
                EXPECT_EQ(RPC_OK, call_echo(c.ch, "with client cert", nullptr, &err)) << err.msg;
        }
}

TEST(Rpc, BadListenAddressesSayWhy)
{
        struct rpc_server *srv;
        struct ak_error err;
        ASSERT_EQ(0, rpc_server_new(nullptr, &srv, &err));
        EXPECT_EQ(-EINVAL, rpc_server_listen(srv, "nonsense", nullptr, nullptr, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "want HOST:PORT or unix:PATH")) << err.msg;
        std::string longp = "unix:/tmp/" + std::string(200, 'a');
        EXPECT_EQ(-ENAMETOOLONG, rpc_server_listen(srv, longp.c_str(), nullptr, nullptr, &err));
        struct rpc_tls tls = {};
        tls.cert_file = "/nonexistent.pem";
        tls.key_file = "/nonexistent.key";
        EXPECT_EQ(-ENOENT, rpc_server_listen(srv, "127.0.0.1:0", &tls, nullptr, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "/nonexistent.pem")) << err.msg;
        rpc_server_shutdown(srv, 0);
}

}  // namespace
