// The shared flags' combinations, and token reload keeping the old set
// when the new file does not load.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

extern "C" {
#include "lib/svc/auth.h"
#include "lib/svc/flags.h"
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
