// Fails open no more (issue 13, item 4), with the real binaries: a service on
// TCP with no authentication refuses to start unless --insecure says so
// (unix: sockets are fine), and a server given --tls-ca requires client
// certificates instead of merely asking for them.
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/testing/service_process.h"

extern "C" {
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/auditor.pb-c.h"
#include "protos/ak/v1/signer.pb-c.h"
}

namespace {

using aktest::ServiceProcess;

struct Ran {
        int exit_code;  // 124: still running after 10 s (killed by timeout)
        std::string out;
};

// Runs `args` for at most 10 s, stdout and stderr together.
Ran RunFor10s(const std::vector<std::string> &args)
{
        std::string cmd = "timeout 10";
        for (auto &a : args)
                cmd += " '" + a + "'";
        cmd += " 2>&1";
        Ran r = {-1, ""};
        FILE *f = popen(cmd.c_str(), "r");
        if (!f)
                return r;
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                r.out.append(buf, n);
        int st = pclose(f);
        r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        return r;
}

std::string AuditConfig(ServiceProcess &p)
{
        aktest::WriteFile(p.Path("audit.json"),
                          "{\"destination\":{\"type\":\"file\",\"path\":\"" + p.Path("audit.jsonl") + "\"}}");
        return p.Path("audit.json");
}

// Every service, its arguments but --listen and authentication.
std::vector<std::pair<std::string, std::vector<std::string>>> Services(ServiceProcess &p)
{
        return {
                {"signer", {"--key", p.Path("key.pkcs8")}},
                {"auditor", {"--config", AuditConfig(p), "--spool", p.Path("spool")}},
                {"scheduler", {}},
                {"executor", {"--state-dir", p.Path("st"), "--min-warm", "0"}},
        };
}

// Before: each of them started and served anyone (timeout ended it: 124).
TEST(FailsOpen, TcpWithoutAuthenticationIsRefused)
{
        ServiceProcess p("files");
        for (auto &s : Services(p)) {
                std::vector<std::string> args = {aktest::Binary(s.first), "--listen", "127.0.0.1:0"};
                args.insert(args.end(), s.second.begin(), s.second.end());
                Ran r = RunFor10s(args);
                EXPECT_NE(0, r.exit_code) << s.first << ": " << r.out;
                EXPECT_NE(124, r.exit_code) << s.first << " served TCP with no authentication:\n" << r.out;
                EXPECT_NE(std::string::npos,
                          r.out.find("refusing to listen on 127.0.0.1:0 with no authentication"))
                        << s.first << ": " << r.out;
                EXPECT_NE(std::string::npos, r.out.find("--insecure")) << s.first << ": " << r.out;
        }
        // TLS without client certificates authenticates nobody either.
        Ran tls = RunFor10s({aktest::Binary("scheduler"), "--listen", "127.0.0.1:0", "--tls-cert", "c.pem", "--tls-key",
                       "k.pem"});
        EXPECT_NE(std::string::npos, tls.out.find("with no authentication")) << tls.out;
}

int ListKeys(const std::string &target, const struct rpc_tls *tls, std::string *why)
{
        struct rpc_channel *ch = nullptr;
        struct ak_error err = {};
        if (rpc_channel_new(target.c_str(), tls, &ch, &err) < 0) {
                *why = err.msg;
                return -1;
        }
        Ak__V1__ListPublicKeysRequest req = AK__V1__LIST_PUBLIC_KEYS_REQUEST__INIT;
        struct rpc_call_options o = {};
        o.timeout_ms = 10000;
        ProtobufCMessage *resp = nullptr;
        int r = rpc_unary(ch, &ak__v1__signer__descriptor, "ListPublicKeys", &req.base, &o, &resp, &err);
        if (resp)
                protobuf_c_message_free_unpacked(resp, nullptr);
        *why = err.msg;
        rpc_channel_free(ch);
        return r;
}

TEST(FailsOpen, InsecureSaysSoAndUnixSocketsNeedNothing)
{
        ServiceProcess tcp("signer");
        ASSERT_TRUE(tcp.Start({aktest::Binary("signer"), "--key", tcp.Path("key.pkcs8"), "--listen", "127.0.0.1:0",
                               "--insecure"},
                              tcp.Path("."), "signer"))
                << tcp.Log();
        std::string why;
        EXPECT_EQ(RPC_OK, ListKeys(tcp.addr, nullptr, &why)) << why;
        EXPECT_NE(std::string::npos, tcp.Log().find("no client authentication")) << tcp.Log();

        ServiceProcess local("signer");
        std::string sock = "unix:" + local.Path("s");
        ASSERT_TRUE(local.Start({"--key", local.Path("key.pkcs8"), "--listen", sock}, sock));
        EXPECT_EQ(RPC_OK, ListKeys(sock, nullptr, &why)) << why;
}

class FailsOpenTls : public ::testing::Test {
      protected:
        void SetUp() override
        {
                ASSERT_EQ(0, system(("tests/fleet/testdata/make_certs.sh '" + p_.Path("") + "'").c_str()))
                        << "openssl missing? run tools/deps.sh";
                client_.ca_file = ca_.c_str();
                client_.cert_file = cert_.c_str();
                client_.key_file = key_.c_str();
                client_.server_name = "localhost";
                anonymous_ = client_;
                anonymous_.cert_file = nullptr;
                anonymous_.key_file = nullptr;
        }
        int AuditorStatus(const struct rpc_tls *tls, std::string *why)
        {
                struct rpc_channel *ch = nullptr;
                struct ak_error err = {};
                if (rpc_channel_new(p_.addr.c_str(), tls, &ch, &err) < 0) {
                        *why = err.msg;
                        return -1;
                }
                Ak__V1__GetAuditorStatusRequest req = AK__V1__GET_AUDITOR_STATUS_REQUEST__INIT;
                struct rpc_call_options o = {};
                o.timeout_ms = 10000;
                ProtobufCMessage *resp = nullptr;
                int r = rpc_unary(ch, &ak__v1__auditor__descriptor, "GetStatus", &req.base, &o, &resp, &err);
                if (resp)
                        protobuf_c_message_free_unpacked(resp, nullptr);
                *why = err.msg;
                rpc_channel_free(ch);
                return r;
        }
        ServiceProcess p_{"auditor"};
        std::string ca_ = p_.Path("ca.pem"), cert_ = p_.Path("client.pem"), key_ = p_.Path("client.key");
        struct rpc_tls client_ = {}, anonymous_ = {};
};

// Before: --tls-ca without --tls-require-client-cert let a client without a
// certificate in, while the log said "mTLS".
TEST_F(FailsOpenTls, TlsCaRequiresClientCertificates)
{
        ASSERT_TRUE(p_.Start({aktest::Binary("auditor"), "--listen", "127.0.0.1:0", "--config", AuditConfig(p_),
                              "--spool", p_.Path("spool"), "--tls-cert", p_.Path("server.pem"), "--tls-key",
                              p_.Path("server.key"), "--tls-ca", ca_},
                             p_.Path("."), "auditor"))
                << p_.Log();
        std::string why;
        EXPECT_EQ(RPC_OK, AuditorStatus(&client_, &why)) << why;
        EXPECT_EQ(RPC_UNAVAILABLE, AuditorStatus(&anonymous_, &why)) << "no client certificate, yet: " << why;
        EXPECT_NE(std::string::npos, p_.Log().find("mTLS (client certificates required)")) << p_.Log();
}

TEST(FailsOpenHelp, EveryServiceDocumentsInsecureAndTlsCa)
{
        for (const char *s : {"signer", "auditor", "scheduler", "executor"}) {
                Ran r = RunFor10s({aktest::Binary(s), "--help"});
                EXPECT_EQ(0, r.exit_code) << s;
                EXPECT_NE(std::string::npos, r.out.find("--insecure")) << s << ":\n" << r.out;
                EXPECT_NE(std::string::npos, r.out.find("mTLS: require a client certificate")) << s;
                EXPECT_NE(std::string::npos, r.out.find("--max-calls N")) << s;
                EXPECT_NE(std::string::npos, r.out.find("--stream-deadline-ms N")) << s;
        }
}

}  // namespace
