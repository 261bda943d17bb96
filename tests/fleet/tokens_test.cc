// The services' shared token and TLS flags, for real: ak-scheduler,
// ak-executor and ak-auditor started as processes. Tokens come from
// --token-file and are re-read on SIGHUP (the old set stays when the new
// file is bad); the executor registers with a scheduler that wants a token
// and client certificates, using --scheduler-token-file and --peer-tls-*.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/testing/service_process.h"

extern "C" {
#include "protos/ak/v1/auditor.pb-c.h"
#include "protos/ak/v1/executor.pb-c.h"
#include "protos/ak/v1/scheduler.pb-c.h"
#include "protos/ak/v1/signer.pb-c.h"
}

namespace {

using aktest::ServiceProcess;
using aktest::WriteFile;

const std::string kA = "token-A-0123456789abcdef0123456789";
const std::string kB = "token-B-fedcba9876543210fedcba9876";
const std::string kE = "token-E-executor-registers-0123456789";

// One unary call with a bearer token ("" for none); the status code.
int Call(const std::string &target, const ProtobufCServiceDescriptor *svc, const char *method,
         const ProtobufCMessage *req, const std::string &token, const struct rpc_tls *tls = nullptr,
         std::string *msg = nullptr, ProtobufCMessage **ret = nullptr)
{
        struct rpc_channel *ch = nullptr;
        struct ak_error err = {};
        int r = rpc_channel_new(target.c_str(), tls, &ch, &err);
        if (r == 0) {
                struct rpc_call_options o = {};
                o.timeout_ms = 10000;
                o.bearer_token = token.empty() ? nullptr : token.c_str();
                ProtobufCMessage *resp = nullptr;
                r = rpc_unary(ch, svc, method, req, &o, &resp, &err);
                if (resp && ret)
                        *ret = resp;
                else if (resp)
                        protobuf_c_message_free_unpacked(resp, nullptr);
        }
        rpc_channel_free(ch);
        if (msg)
                *msg = err.msg;
        return r;
}

struct Service {
        const char *name;
        const ProtobufCServiceDescriptor *svc;
        const char *method;  // a cheap unary call that needs a token
        const ProtobufCMessage *req;
        // Its flags besides --token-file, given its private directory.
        std::function<std::vector<std::string>(ServiceProcess &)> args;
};

Ak__V1__ListExecutorsRequest list_req = AK__V1__LIST_EXECUTORS_REQUEST__INIT;
Ak__V1__GetExecutorStatusRequest exec_status_req = AK__V1__GET_EXECUTOR_STATUS_REQUEST__INIT;
Ak__V1__GetAuditorStatusRequest aud_status_req = AK__V1__GET_AUDITOR_STATUS_REQUEST__INIT;
Ak__V1__ListPublicKeysRequest keys_req = AK__V1__LIST_PUBLIC_KEYS_REQUEST__INIT;

std::vector<std::string> SignerArgs(ServiceProcess &p)
{
        return {"--listen", "unix:" + p.Path("s"), "--key", p.Path("key.pkcs8")};
}

std::vector<std::string> AuditorArgs(ServiceProcess &p)
{
        WriteFile(p.Path("audit.json"),
                  "{\"destination\":{\"type\":\"file\",\"path\":\"" + p.Path("audit.jsonl") + "\"}}");
        return {"--listen", "unix:" + p.Path("s"), "--config", p.Path("audit.json"), "--spool", p.Path("spool")};
}

std::vector<std::string> ExecutorArgs(ServiceProcess &p)
{
        return {"--listen", "unix:" + p.Path("s"), "--state-dir", p.Path("st"), "--min-warm", "0"};
}

const Service kServices[] = {
        {"scheduler", &ak__v1__scheduler__descriptor, "ListExecutors", &list_req.base,
         [](ServiceProcess &p) {
                 // Executors' tokens are their own (--registration-token-file).
                 WriteFile(p.Path("registration"), kE + "\n");
                 return std::vector<std::string>{"--listen", "unix:" + p.Path("s"), "--registration-token-file",
                                                 p.Path("registration")};
         }},
        {"executor", &ak__v1__executor__descriptor, "GetStatus", &exec_status_req.base, ExecutorArgs},
        {"auditor", &ak__v1__auditor__descriptor, "GetStatus", &aud_status_req.base, AuditorArgs},
        {"signer", &ak__v1__signer__descriptor, "ListPublicKeys", &keys_req.base, SignerArgs},
};

class TokenReload : public ::testing::TestWithParam<Service> {};

TEST_P(TokenReload, SighupSwapsTheTokensAndABadFileKeepsTheOldOnes)
{
        const Service &s = GetParam();
        ServiceProcess p(s.name);
        std::string tokens = p.Path("tokens"), target = "unix:" + p.Path("s"), msg;
        WriteFile(tokens, "# clients\n" + kA + "\n");
        std::vector<std::string> args = s.args(p);
        args.push_back("--token-file");
        args.push_back(tokens);
        args.push_back("--health-listen");
        args.push_back("unix:" + p.Path("h"));
        ASSERT_TRUE(p.Start(args, target));  // health answers without a token

        // The probe listener: health in plaintext, nothing else.
        {
                struct rpc_channel *ch = nullptr;
                struct ak_error err = {};
                ASSERT_EQ(0, rpc_channel_new(("unix:" + p.Path("h")).c_str(), nullptr, &ch, &err));
                EXPECT_EQ(RPC_OK, rpc_health_check(ch, "", 5000, &err)) << err.msg;
                rpc_channel_free(ch);
                EXPECT_EQ(RPC_UNIMPLEMENTED,
                          Call("unix:" + p.Path("h"), s.svc, s.method, s.req, kA, nullptr, &msg));
        }

        EXPECT_EQ(RPC_OK, Call(target, s.svc, s.method, s.req, kA, nullptr, &msg)) << msg;
        EXPECT_EQ(RPC_UNAUTHENTICATED, Call(target, s.svc, s.method, s.req, "", nullptr, &msg));
        EXPECT_NE(std::string::npos, msg.find("no bearer token")) << msg;
        EXPECT_EQ(RPC_UNAUTHENTICATED, Call(target, s.svc, s.method, s.req, kB, nullptr, &msg));
        EXPECT_NE(std::string::npos, msg.find(std::string("not one of the ") + s.name + "'s")) << msg;

        WriteFile(tokens, kB + "\n");
        p.Signal(SIGHUP);
        ASSERT_TRUE(p.WaitLog("reloaded " + tokens + ": 1 token\n")) << p.Log();
        EXPECT_EQ(RPC_UNAUTHENTICATED, Call(target, s.svc, s.method, s.req, kA, nullptr, &msg)) << msg;
        EXPECT_EQ(RPC_OK, Call(target, s.svc, s.method, s.req, kB, nullptr, &msg)) << msg;

        // A file that does not load: the old set stays, the log says why.
        WriteFile(tokens, "# nobody\n");
        p.Signal(SIGHUP);
        ASSERT_TRUE(p.WaitLog("no tokens (every call would be refused); still using the 1 token loaded before"))
                << p.Log();
        EXPECT_EQ(RPC_OK, Call(target, s.svc, s.method, s.req, kB, nullptr, &msg)) << msg;
        WriteFile(tokens, kA + "\n" + kB + "\n", 0644);
        p.Signal(SIGHUP);
        ASSERT_TRUE(p.WaitLog("accessible by group or others (mode 0644)")) << p.Log();
        EXPECT_EQ(RPC_UNAUTHENTICATED, Call(target, s.svc, s.method, s.req, kA, nullptr, &msg)) << msg;

        std::string log = p.Log();
        EXPECT_EQ(std::string::npos, log.find(kA)) << log;
        EXPECT_EQ(std::string::npos, log.find(kB)) << log;
        int st = p.Stop();
        EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st << "\n" << log;
}

INSTANTIATE_TEST_SUITE_P(Services, TokenReload, ::testing::ValuesIn(kServices),
                         [](const ::testing::TestParamInfo<Service> &i) { return std::string(i.param.name); });

// Kubernetes' $(POD_IP):PORT on an IPv6 pod is an unbracketed address
// ("fd00::7:7460"); the executor's DaemonSet (hostNetwork) binds its health
// and metrics listeners to it. Here ::1 stands in for the pod's address.
TEST(PodIpListeners, UnbracketedIpv6HealthAndMetrics)
{
        int hport = aktest::FreePort(true), mport = aktest::FreePort(true);
        ASSERT_GT(hport, 0);
        ASSERT_GT(mport, 0);
        ServiceProcess p("signer");
        std::vector<std::string> args = SignerArgs(p);
        args.insert(args.end(), {"--insecure", "--health-listen", "::1:" + std::to_string(hport), "--metrics-listen",
                                 "::1:" + std::to_string(mport)});
        ASSERT_TRUE(p.Start(args, "unix:" + p.Path("s"))) << p.Log();
        struct rpc_channel *ch = nullptr;
        struct ak_error err = {};
        ASSERT_EQ(0, rpc_channel_new(("[::1]:" + std::to_string(hport)).c_str(), nullptr, &ch, &err)) << err.msg;
        EXPECT_EQ(RPC_OK, rpc_health_check(ch, "", 5000, &err)) << err.msg;
        rpc_channel_free(ch);
        int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in6 a = {};
        a.sin6_family = AF_INET6;
        a.sin6_addr = in6addr_loopback;
        a.sin6_port = htons((uint16_t)mport);
        ASSERT_EQ(0, connect(fd, (struct sockaddr *)&a, sizeof(a))) << "metrics on [::1]:" << mport;
        const char req[] = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
        ASSERT_EQ((ssize_t)sizeof(req) - 1, write(fd, req, sizeof(req) - 1));
        std::string got;
        char buf[4096];
        for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;)
                got.append(buf, (size_t)n);
        close(fd);
        EXPECT_EQ(0u, got.rfind("HTTP/1.", 0)) << got.substr(0, 200);
        EXPECT_NE(std::string::npos, got.find("ak_build_info")) << got.substr(0, 400);
        p.Stop();
}

class Tls : public ::testing::Test {
      protected:
        void SetUp() override
        {
                char tmpl[] = "/tmp/akflc.XXXXXX";
                ASSERT_NE(nullptr, mkdtemp(tmpl));
                dir_ = tmpl;
                ASSERT_EQ(0, system(("tests/fleet/testdata/make_certs.sh " + dir_).c_str()))
                        << "openssl missing? run tools/deps.sh";
                ca_ = F("ca.pem");
                cert_ = F("client.pem");
                key_ = F("client.key");
                client_.ca_file = ca_.c_str();
                client_.cert_file = cert_.c_str();
                client_.key_file = key_.c_str();
                client_.server_name = "localhost";
                anonymous_ = client_;
                anonymous_.cert_file = nullptr;
                anonymous_.key_file = nullptr;
        }
        void TearDown() override { (void)!system(("rm -rf '" + dir_ + "'").c_str()); }
        std::vector<std::string> Serve() const
        {
                return {"--tls-cert", F("server.pem"), "--tls-key", F("server.key"), "--tls-ca", ca_,
                        "--tls-require-client-cert"};
        }
        std::string F(const char *name) const { return dir_ + "/" + name; }

        std::string dir_, ca_, cert_, key_;
        struct rpc_tls client_ = {}, anonymous_ = {};  // with and without a client certificate
};

// The executor registers and heartbeats with a scheduler that wants a token
// and a client certificate; without the token it is refused.
TEST_F(Tls, ExecutorRegistersOverMutualTlsWithItsSchedulerToken)
{
        ServiceProcess sched("scheduler");
        std::string st = "unix:" + sched.Path("s"), msg;
        WriteFile(sched.Path("tokens"), kA + "\n");
        WriteFile(sched.Path("executor-token"), "# sent to executors\n" + kB + "\n");
        WriteFile(sched.Path("registration"), "executor=e-tls " + kE + "\n");
        std::vector<std::string> sargs = {"--listen", st, "--token-file", sched.Path("tokens"),
                                          "--registration-token-file", sched.Path("registration"),
                                          "--heartbeat-interval-ms", "200", "--executor-tls-ca", ca_,
                                          "--executor-tls-cert", cert_, "--executor-tls-key", key_,
                                          "--executor-token-file", sched.Path("executor-token")};
        for (auto &a : Serve())
                sargs.push_back(a);
        ASSERT_TRUE(sched.Start(sargs, st, &client_));
        EXPECT_NE(RPC_OK, Call(st, &ak__v1__scheduler__descriptor, "ListExecutors", &list_req.base, kA,
                               &anonymous_, &msg))
                << "a client without a certificate got through";

        // The executor serves mTLS with a token of its own (the scheduler's
        // --executor-token-file) and calls its peers with a client certificate.
        ServiceProcess ex("executor");
        std::string et = "unix:" + ex.Path("s");
        WriteFile(ex.Path("tokens"), kB + "\n");
        WriteFile(ex.Path("sched-token"), kE + "\n");
        std::vector<std::string> eargs = {"--listen", et, "--state-dir", ex.Path("st"), "--min-warm", "0",
                                          "--executor-id", "e-tls", "--scheduler", st, "--scheduler-token-file",
                                          ex.Path("sched-token"), "--peer-tls-ca", ca_, "--peer-tls-cert", cert_,
                                          "--peer-tls-key", key_, "--token-file", ex.Path("tokens")};
        for (auto &a : Serve())
                eargs.push_back(a);
        ASSERT_TRUE(ex.Start(eargs, et, &client_));
        EXPECT_EQ(RPC_OK, Call(et, &ak__v1__executor__descriptor, "GetStatus", &exec_status_req.base, kB, &client_,
                               &msg))
                << msg;
        EXPECT_NE(RPC_OK, Call(et, &ak__v1__executor__descriptor, "GetStatus", &exec_status_req.base, kB,
                               &anonymous_, &msg));
        EXPECT_EQ(RPC_UNAUTHENTICATED, Call(et, &ak__v1__executor__descriptor, "GetStatus", &exec_status_req.base,
                                            kA, &client_, &msg));

        bool registered = false;
        for (int i = 0; i < 100 && !registered; i++) {
                ProtobufCMessage *resp = nullptr;
                ASSERT_EQ(RPC_OK, Call(st, &ak__v1__scheduler__descriptor, "ListExecutors", &list_req.base, kA,
                                       &client_, &msg, &resp))
                        << msg;
                auto *l = (Ak__V1__ListExecutorsResponse *)resp;
                for (size_t k = 0; k < l->n_executors; k++)
                        if (l->executors[k]->status && std::string(l->executors[k]->status->executor_id) == "e-tls" &&
                            !l->executors[k]->lost)
                                registered = true;
                protobuf_c_message_free_unpacked(resp, nullptr);
                if (!registered)
                        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        EXPECT_TRUE(registered) << "scheduler:\n" << sched.Log() << "executor:\n" << ex.Log();

        // The same executor without --scheduler-token-file is refused, and says so.
        ServiceProcess anon("executor");
        std::string at = "unix:" + anon.Path("s");
        ASSERT_TRUE(anon.Start({"--listen", at, "--state-dir", anon.Path("st"), "--min-warm", "0", "--executor-id",
                                "e-anon", "--scheduler", st, "--peer-tls-ca", ca_, "--peer-tls-cert", cert_,
                                "--peer-tls-key", key_},
                               at));
        EXPECT_TRUE(anon.WaitLog("UNAUTHENTICATED")) << anon.Log();
}

// `ak` reaches a fleet's scheduler over mTLS with AK_TLS_* and AK_TOKEN.
TEST_F(Tls, AkTalksToAFleetSchedulerOverMutualTls)
{
        ServiceProcess sched("scheduler");
        std::string st = "unix:" + sched.Path("s");
        WriteFile(sched.Path("tokens"), kA + "\n");
        WriteFile(sched.Path("registration"), kE + "\n");
        std::vector<std::string> sargs = {"--listen", st, "--token-file", sched.Path("tokens"),
                                          "--registration-token-file", sched.Path("registration")};
        for (auto &a : Serve())
                sargs.push_back(a);
        ASSERT_TRUE(sched.Start(sargs, st, &client_));
        std::string ak = aktest::Runfile("cli/ak");
        std::string env = "AK_HOME=" + sched.Path("home") + " AK_SCHEDULER=" + st + " AK_TOKEN=" + kA +
                          " AK_TLS_CA=" + ca_ + " AK_TLS_NAME=localhost ";
        auto run = [&](const std::string &extra, std::string *out) {
                std::string cmd = env + extra + " " + ak + " sandbox list --json 2>&1";
                FILE *f = popen(cmd.c_str(), "r");
                char buf[4096];
                size_t n;
                out->clear();
                while (f && (n = fread(buf, 1, sizeof(buf), f)) > 0)
                        out->append(buf, n);
                return f ? pclose(f) : -1;
        };
        std::string out;
        EXPECT_EQ(0, run("AK_TLS_CERT=" + cert_ + " AK_TLS_KEY=" + key_, &out)) << out;
        EXPECT_NE(0, run("", &out)) << "no client certificate, yet: " << out;
        EXPECT_NE(0, run("AK_TLS_CERT=" + cert_, &out));
        EXPECT_NE(std::string::npos, out.find("AK_TLS_CERT and AK_TLS_KEY go together")) << out;
}

// The auditor serves mTLS and tokens with the same flags.
TEST_F(Tls, AuditorServesMutualTlsAndTokens)
{
        ServiceProcess aud("auditor");
        std::string t = "unix:" + aud.Path("s"), msg;
        WriteFile(aud.Path("tokens"), kA + "\n");
        std::vector<std::string> args = AuditorArgs(aud);
        args.push_back("--token-file");
        args.push_back(aud.Path("tokens"));
        for (auto &a : Serve())
                args.push_back(a);
        ASSERT_TRUE(aud.Start(args, t, &client_));
        EXPECT_EQ(RPC_OK, Call(t, &ak__v1__auditor__descriptor, "GetStatus", &aud_status_req.base, kA, &client_, &msg))
                << msg;
        EXPECT_NE(RPC_OK, Call(t, &ak__v1__auditor__descriptor, "GetStatus", &aud_status_req.base, kA, &anonymous_,
                               &msg));
        EXPECT_NE(RPC_OK, Call(t, &ak__v1__auditor__descriptor, "GetStatus", &aud_status_req.base, kA, nullptr,
                               &msg))
                << "plaintext reached a TLS server";
        EXPECT_NE(std::string::npos, aud.Log().find("mTLS (client certificates required), bearer tokens"))
                << aud.Log();
}

// The signer's RotateKey answers to the admin token alone, --token-file or not.
TEST(SignerTokens, RotateKeyNeedsTheAdminTokenNotAClientToken)
{
        ServiceProcess p("signer");
        std::string t = "unix:" + p.Path("s"), msg;
        WriteFile(p.Path("tokens"), kA + "\n");
        WriteFile(p.Path("admin"), kB + "\n");
        ASSERT_TRUE(p.Start({"--listen", t, "--key", p.Path("key.pkcs8"), "--token-file", p.Path("tokens"),
                             "--admin-token-file", p.Path("admin")},
                            t));
        Ak__V1__RotateKeyRequest rot = AK__V1__ROTATE_KEY_REQUEST__INIT;
        EXPECT_EQ(RPC_PERMISSION_DENIED, Call(t, &ak__v1__signer__descriptor, "RotateKey", &rot.base, kA, nullptr, &msg))
                << msg;
        EXPECT_EQ(RPC_OK, Call(t, &ak__v1__signer__descriptor, "RotateKey", &rot.base, kB, nullptr, &msg)) << msg;
        EXPECT_EQ(RPC_UNAUTHENTICATED,
                  Call(t, &ak__v1__signer__descriptor, "ListPublicKeys", &keys_req.base, kB, nullptr, &msg));
}

// Flags that do not fit together are refused before anything starts.
TEST(Flags, BadCombinationsExit2)
{
        struct Case {
                const char *service;
                std::vector<std::string> args;
                const char *says;
        } cases[] = {
                {"executor", {"--listen", "unix:/tmp/x", "--state-dir", "/tmp/x", "--tls-cert", "c"},
                 "--tls-cert and --tls-key go together"},
                {"executor", {"--listen", "unix:/tmp/x", "--state-dir", "/tmp/x", "--scheduler-token-file", "t"},
                 "--scheduler-token-file needs --scheduler"},
                {"executor", {"--listen", "unix:/tmp/x", "--state-dir", "/tmp/x", "--peer-tls-cert", "c",
                              "--peer-tls-key", "k"},
                 "--peer-tls-cert and --peer-tls-key need --peer-tls-ca"},
                {"auditor", {"--listen", "unix:/tmp/x", "--config", "c", "--spool", "s", "--tls-ca", "a"},
                 "--tls-ca and --tls-require-client-cert need --tls-cert and --tls-key"},
                {"executor", {"--listen", "unix:/tmp/x", "--state-dir", "/tmp/x", "--signer-token-file", "t"},
                 "--signer-token-file needs --signer"},
                {"signer", {"--listen", "unix:/tmp/x", "--key", "/tmp/x/k", "--tls-ca", "a"},
                 "--tls-ca and --tls-require-client-cert need --tls-cert and --tls-key"},
                {"scheduler", {"--listen", "unix:/tmp/x", "--tls-cert", "c", "--tls-key", "k",
                               "--tls-require-client-cert"},
                 "--tls-require-client-cert needs --tls-ca"},
        };
        for (auto &c : cases) {
                std::string cmd = aktest::Binary(c.service);
                for (auto &a : c.args)
                        cmd += " '" + a + "'";
                cmd += " 2>&1";
                FILE *f = popen(cmd.c_str(), "r");
                ASSERT_NE(nullptr, f);
                std::string out;
                char buf[4096];
                size_t n;
                while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                        out.append(buf, n);
                int st = pclose(f);
                EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 2) << cmd << ": " << st;
                EXPECT_NE(std::string::npos, out.find(c.says)) << cmd << ":\n" << out;
        }
}

}  // namespace
