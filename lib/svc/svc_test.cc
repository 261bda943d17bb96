// The shared flags' combinations, and token reload keeping the old set
// when the new file does not load.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

extern "C" {
#include "lib/base/version.h"
#include "lib/metrics/metrics.h"
#include "lib/svc/auth.h"
#include "lib/svc/flags.h"
#include "lib/svc/metrics.h"
#include "lib/svc/tokens.h"
}

namespace {

const std::string kA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const std::string kB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

std::string Problem(std::initializer_list<std::pair<int, const char *>> opts)
{
        struct svc_flags f = {};
        for (auto &o : opts)
                EXPECT_TRUE(svc_flags_take(&f, o.first, o.second));
        const char *p = svc_flags_problem(&f);
        return p ? p : "";
}

TEST(SvcFlags, Combinations)
{
        EXPECT_EQ("", Problem({}));
        EXPECT_EQ("", Problem({ { SVC_OPT_TLS_CERT, "c" }, { SVC_OPT_TLS_KEY, "k" } }));
        EXPECT_EQ("", Problem({ { SVC_OPT_TLS_CERT, "c" }, { SVC_OPT_TLS_KEY, "k" }, { SVC_OPT_TLS_CA, "a" },
                                { SVC_OPT_TLS_REQUIRE, nullptr } }));
        EXPECT_EQ("--tls-cert and --tls-key go together", Problem({ { SVC_OPT_TLS_CERT, "c" } }));
        EXPECT_EQ("--tls-ca and --tls-require-client-cert need --tls-cert and --tls-key",
                  Problem({ { SVC_OPT_TLS_CA, "a" } }));
        EXPECT_EQ("--tls-require-client-cert needs --tls-ca to verify them with",
                  Problem({ { SVC_OPT_TLS_CERT, "c" }, { SVC_OPT_TLS_KEY, "k" }, { SVC_OPT_TLS_REQUIRE, nullptr } }));
        EXPECT_EQ("--peer-tls-cert and --peer-tls-key go together", Problem({ { SVC_OPT_PEER_TLS_KEY, "k" } }));
        EXPECT_EQ("--peer-tls-cert and --peer-tls-key need --peer-tls-ca",
                  Problem({ { SVC_OPT_PEER_TLS_CERT, "c" }, { SVC_OPT_PEER_TLS_KEY, "k" } }));

        struct svc_flags f = {};
        EXPECT_FALSE(svc_flags_take(&f, 'x', "y"));
        EXPECT_EQ(nullptr, svc_flags_server_tls(&f));
        EXPECT_EQ(nullptr, svc_flags_peer_tls(&f));
        EXPECT_STREQ("plaintext", svc_flags_describe(&f));
        svc_flags_take(&f, SVC_OPT_TLS_CERT, "c");
        svc_flags_take(&f, SVC_OPT_TLS_KEY, "k");
        svc_flags_take(&f, SVC_OPT_PEER_TLS_CA, "ca");
        EXPECT_EQ(&f.tls, svc_flags_server_tls(&f));
        EXPECT_EQ(&f.peer_tls, svc_flags_peer_tls(&f));
        EXPECT_STREQ("TLS", svc_flags_describe(&f));
}

// The "listening on" line names the port a ":0" listener got, and only
// then; its security words follow the flags.
TEST(SvcFlags, ListeningLineNamesTheBoundPort)
{
        struct svc_flags f = {};
        char msg[64], sec[96];
        svc_flags_listening(&f, "127.0.0.1:0", 40123, true, msg, sizeof(msg), sec, sizeof(sec));
        EXPECT_STREQ("listening on 127.0.0.1:40123", msg);
        EXPECT_STREQ("plaintext, bearer tokens", sec);
        svc_flags_listening(&f, "[::1]:0", 7, false, msg, sizeof(msg), sec, sizeof(sec));
        EXPECT_STREQ("listening on [::1]:7", msg);
        EXPECT_STREQ("plaintext, no client authentication", sec);
        svc_flags_listening(&f, "127.0.0.1:50", 50, false, msg, sizeof(msg), sec, sizeof(sec));
        EXPECT_STREQ("listening on 127.0.0.1:50", msg);
        svc_flags_listening(&f, "unix:/run/s.sock", 0, false, msg, sizeof(msg), sec, sizeof(sec));
        EXPECT_STREQ("listening on unix:/run/s.sock", msg);
        svc_flags_listening(&f, ":0", 9, false, msg, sizeof(msg), sec, sizeof(sec));
        EXPECT_STREQ("listening on :0", msg);  // too short to be HOST:0
}

// A server with a CA requires client certificates: --tls-ca alone is mTLS,
// not "certificates optional" (issue 13: it was described as mTLS and let
// clients without one in).
TEST(SvcFlags, TlsCaRequiresClientCertificates)
{
        struct svc_flags f = {};
        svc_flags_take(&f, SVC_OPT_TLS_CERT, "c");
        svc_flags_take(&f, SVC_OPT_TLS_KEY, "k");
        svc_flags_take(&f, SVC_OPT_TLS_CA, "ca");
        EXPECT_EQ(nullptr, svc_flags_problem(&f));
        EXPECT_TRUE(svc_flags_server_tls(&f)->require_client_cert);
        EXPECT_STREQ("mTLS (client certificates required)", svc_flags_describe(&f));
}

// No authentication on TCP is refused unless --insecure says so; unix:
// sockets, a token file or required client certificates are fine.
TEST(SvcFlags, TcpWithoutAuthenticationNeedsInsecure)
{
        char why[512] = "";
        struct svc_flags f = {};
        EXPECT_EQ(-EPERM, svc_flags_check_listen(&f, "ak-signer", "127.0.0.1:0", why, sizeof(why)));
        EXPECT_NE(nullptr, strstr(why, "refusing to listen on 127.0.0.1:0 with no authentication")) << why;
        EXPECT_NE(nullptr, strstr(why, "--insecure")) << why;
        EXPECT_NE(nullptr, strstr(why, "--token-file")) << why;
        EXPECT_EQ(0, svc_flags_check_listen(&f, "ak-signer", "unix:/tmp/x.sock", why, sizeof(why)));
        EXPECT_TRUE(svc_flags_take(&f, SVC_OPT_INSECURE, nullptr));
        EXPECT_EQ(0, svc_flags_check_listen(&f, "ak-signer", "0.0.0.0:7443", why, sizeof(why)));

        struct svc_flags t = {};
        svc_flags_take(&t, SVC_OPT_TOKEN_FILE, "tokens");
        EXPECT_EQ(0, svc_flags_check_listen(&t, "ak-signer", "0.0.0.0:7443", why, sizeof(why)));

        struct svc_flags m = {};
        svc_flags_take(&m, SVC_OPT_TLS_CERT, "c");
        svc_flags_take(&m, SVC_OPT_TLS_KEY, "k");
        EXPECT_EQ(-EPERM, svc_flags_check_listen(&m, "ak-signer", "0.0.0.0:7443", why, sizeof(why)))
                << "TLS without client certificates authenticates no one";
        svc_flags_take(&m, SVC_OPT_TLS_CA, "ca");
        EXPECT_EQ(0, svc_flags_check_listen(&m, "ak-signer", "0.0.0.0:7443", why, sizeof(why)));
}

TEST(SvcFlags, LimitFlags)
{
        struct svc_flags f = {};
        f.limits.max_calls = 1024;  // a main's own default
        EXPECT_TRUE(svc_flags_take(&f, SVC_OPT_MAX_CONN_STREAMS, "16"));
        EXPECT_TRUE(svc_flags_take(&f, SVC_OPT_CONN_IDLE_MS, "60000"));
        EXPECT_TRUE(svc_flags_take(&f, SVC_OPT_CALL_DEADLINE_MS, "30000"));
        EXPECT_TRUE(svc_flags_take(&f, SVC_OPT_STREAM_DEADLINE_MS, "3600000"));
        EXPECT_EQ(nullptr, svc_flags_problem(&f));
        struct rpc_server_options o;
        svc_flags_server_options(&f, &o);
        EXPECT_EQ(1024u, o.limits.max_calls);
        EXPECT_EQ(16u, o.limits.max_conn_streams);
        EXPECT_EQ(60000, o.limits.idle_conn_ms);
        EXPECT_EQ(30000, o.limits.call_deadline_ms);
        EXPECT_EQ(3600000, o.limits.stream_deadline_ms);
        EXPECT_TRUE(svc_flags_take(&f, SVC_OPT_MAX_CALLS, "3"));
        EXPECT_STREQ("--max-calls: want a whole number from 4 to 65536", svc_flags_problem(&f));
        struct svc_flags g = {};
        EXPECT_TRUE(svc_flags_take(&g, SVC_OPT_CALL_DEADLINE_MS, "soon"));
        EXPECT_NE(nullptr, strstr(svc_flags_problem(&g), "--call-deadline-ms")) << svc_flags_problem(&g);
}

class SvcAuth : public ::testing::Test {
protected:
        void SetUp() override
        {
                char tmpl[] = "/tmp/aksvcXXXXXX";
                ASSERT_NE(nullptr, mkdtemp(tmpl));
                dir_ = tmpl;
                path_ = dir_ + "/tokens";
        }
        void TearDown() override
        {
                unlink(path_.c_str());
                rmdir(dir_.c_str());
        }
        void Write(const std::string &text, mode_t mode = 0600)
        {
                unlink(path_.c_str());
                int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
                ASSERT_GE(fd, 0);
                ASSERT_EQ((ssize_t)text.size(), write(fd, text.data(), text.size()));
                close(fd);
        }
        std::string dir_, path_;
};

TEST_F(SvcAuth, ReloadSwapsOrKeepsTheOldSet)
{
        Write(kA + "\n");
        struct svc_auth *a = nullptr;
        struct ak_error err = {};
        ASSERT_EQ(0, svc_auth_load(path_.c_str(), "auditor", &a, &err)) << err.msg;
        EXPECT_EQ(1u, svc_auth_count(a));
        EXPECT_EQ(path_, svc_auth_path(a));

        Write(kA + "\n" + kB + "\n");
        char line[512];
        svc_auth_reload_line(a, line, sizeof(line));
        EXPECT_EQ("reloaded " + path_ + ": 2 tokens", std::string(line));
        EXPECT_EQ(2u, svc_auth_count(a));

        Write("# nothing\n");
        svc_auth_reload_line(a, line, sizeof(line));
        EXPECT_EQ("reload " + path_ + ": " + path_ +
                          ": no tokens (every call would be refused); still using the 2 tokens loaded before",
                  std::string(line));
        EXPECT_EQ(2u, svc_auth_count(a));

        Write(kB + "\n", 0644);
        size_t n = 0;
        EXPECT_EQ(-EPERM, svc_auth_reload(a, &n, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "chmod 600")) << err.msg;
        EXPECT_EQ(2u, svc_auth_count(a));
        // The tokens themselves never reach the log line.
        EXPECT_EQ(nullptr, strstr(line, kA.c_str()));
        svc_auth_free(a);
        svc_auth_free(nullptr);

        EXPECT_EQ(-EPERM, svc_auth_load(path_.c_str(), "auditor", &a, &err));
}

TEST_F(SvcAuth, FirstToken)
{
        Write("# for executors\n" + kB + "\n" + kA + "\n");
        char *t = nullptr;
        struct ak_error err = {};
        ASSERT_EQ(0, tokens_load_first(path_.c_str(), &t, &err)) << err.msg;
        EXPECT_EQ(kB, t);
        free(t);
        unlink(path_.c_str());
        EXPECT_EQ(-ENOENT, tokens_load_first(path_.c_str(), &t, &err));
}

}  // namespace

TEST(SvcMetrics, FlagTakenAndListenerStarted)
{
        struct svc_flags f = {};
        EXPECT_TRUE(svc_flags_take(&f, SVC_OPT_METRICS_LISTEN, "127.0.0.1:0"));
        EXPECT_STREQ(f.metrics_listen, "127.0.0.1:0");

        struct metrics_http *h = nullptr;
        struct ak_error err = {};
        ASSERT_EQ(0, svc_metrics_start(f.metrics_listen, "ak-test", &h, &err)) << err.msg;
        ASSERT_NE(h, nullptr);
        EXPECT_NE(metrics_http_port(h), 0);
        char *text = nullptr;
        size_t n = 0;
        ASSERT_EQ(0, metrics_render(metrics_default(), &text, &n));
        EXPECT_NE(std::string(text).find("ak_build_info{service=\"ak-test\",version=\"" AK_VERSION
                                         "\",agentkernel_version=\"" AK_AGENTKERNEL_COMPAT "\"} 1\n"),
                  std::string::npos)
                << text;
        EXPECT_NE(std::string(text).find("ak_process_start_time_seconds "), std::string::npos);
        free(text);
        metrics_http_stop(h);

        /* No address: the series only, no listener. */
        h = nullptr;
        EXPECT_EQ(0, svc_metrics_start(nullptr, "ak-test", &h, &err));
        EXPECT_EQ(h, nullptr);

        /* A bad address says which flag and why. */
        err = {};
        EXPECT_EQ(-EINVAL, svc_metrics_start("nowhere", "ak-test", &h, &err));
        EXPECT_NE(std::string(err.msg).find("--metrics-listen nowhere"), std::string::npos) << err.msg;
}
