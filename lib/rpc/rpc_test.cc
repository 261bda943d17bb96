// lib/rpc end to end: a real server on loopback (TCP and Unix sockets) and the
// real client, with the ak.test.Echo service.
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

#include "lib/rpc/testdata/echo.pb-c.h"

namespace {

struct EchoState {
        std::atomic<int> cancelled_seen{0};
        std::atomic<int> sleeps_finished{0};
};

int echo_echo(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
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

int echo_count(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
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

int echo_sleep(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
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

const struct rpc_method echo_methods[] = {
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

class Server {
      public:
        explicit Server(const struct rpc_server_options *opts = nullptr) { Init(opts); }
        ~Server() { Stop(); }

        void Init(const struct rpc_server_options *opts)
        {
                struct ak_error err;
                ASSERT_EQ(0, rpc_server_new(opts, &srv_, &err)) << err.msg;
                ASSERT_EQ(0, rpc_server_add_service(srv_, &ak__test__echo__descriptor, echo_methods, 3,
                                                    &state, &err))
                        << err.msg;
        }
        std::string ListenTcp(const struct rpc_tls *tls = nullptr)
        {
                struct ak_error err;
                int port = 0;
                EXPECT_EQ(0, rpc_server_listen(srv_, "127.0.0.1:0", tls, &port, &err)) << err.msg;
                EXPECT_GT(port, 0);
                return "127.0.0.1:" + std::to_string(port);
        }
        std::string ListenUnix()
        {
                dir_ = test_dir();
                std::string addr = "unix:" + dir_ + "/s.sock";
                struct ak_error err;
                EXPECT_EQ(0, rpc_server_listen(srv_, addr.c_str(), nullptr, nullptr, &err)) << err.msg;
                return addr;
        }
        void Start()
        {
                struct ak_error err;
                ASSERT_EQ(0, rpc_server_start(srv_, &err)) << err.msg;
        }
        void Stop(unsigned grace_ms = 1000)
        {
                rpc_server_shutdown(srv_, grace_ms);
                srv_ = nullptr;
                if (!dir_.empty()) {
                        unlink((dir_ + "/s.sock").c_str());
                        rmdir(dir_.c_str());
                        dir_.clear();
                }
        }
        struct rpc_server *get() { return srv_; }
        EchoState state;

      private:
        struct rpc_server *srv_ = nullptr;
        std::string dir_;
};

struct Channel {
        explicit Channel(const std::string &target, const struct rpc_tls *tls = nullptr)
        {
                struct ak_error err;
                EXPECT_EQ(0, rpc_channel_new(target.c_str(), tls, &ch, &err)) << err.msg;
        }
        ~Channel() { rpc_channel_free(ch); }
        struct rpc_channel *ch = nullptr;
};

int call_echo(struct rpc_channel *ch, const std::string &text, std::string *out,
              struct ak_error *err, const struct rpc_call_options *opts = nullptr, int fail = 0)
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
