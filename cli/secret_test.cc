// `ak secret` as a user runs it, and a canary: a planted value must appear in
// no output but get --reveal's, in no file in plain text, and never in the
// process's command line or environment while it is read.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lib/base/fs.h"

extern char **environ;

namespace {

const char kCanary[] = "sk-live-CANARY-7f3a9e21d4";

std::string Slurp(const std::string &path)
{
        std::ifstream f(path, std::ios::binary);
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
}

struct Result {
        int status;
        std::string out;  // stdout and stderr
};

class SecretCli : public ::testing::Test {
      protected:
        void SetUp() override
        {
                char tmpl[] = "/tmp/ak_secret_cli.XXXXXX";
                ASSERT_NE(nullptr, mkdtemp(tmpl));
                root_ = tmpl;
                home_ = root_ + "/home";
                value_file_ = root_ + "/value";
                std::ofstream(value_file_) << kCanary << "\n";
        }
        void TearDown() override { ak_rm_rf(root_.c_str()); }

        // ak with args under this test's AK_HOME; stdin from `in` (a shell redirection or "").
        Result Ak(const std::string &args, const std::string &in = "< /dev/null")
        {
                std::string cmd = "AK_HOME=" + home_ + " cli/ak " + args + " " + in + " 2>&1";
                Result r{-1, ""};
                FILE *p = popen(cmd.c_str(), "r");
                if (!p)
                        return r;
                char buf[4096];
                size_t n;
                while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
                        r.out.append(buf, n);
                int st = pclose(p);
                r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
                all_output_ += r.out;
                return r;
        }
        // Every file under dir, its bytes.
        void Files(const std::string &dir, std::vector<std::string> *paths)
        {
                FILE *p = popen(("find " + dir + " -type f").c_str(), "r");
                ASSERT_NE(nullptr, p);
                char line[4096];
                while (fgets(line, sizeof(line), p)) {
                        std::string s(line);
                        s.pop_back();
                        paths->push_back(s);
                }
                pclose(p);
        }
        std::string root_, home_, value_file_, all_output_;
};

TEST_F(SecretCli, SetGetListRmAndRotation)
{
        Result r = Ak("secret set API_KEY", "< " + value_file_);
        ASSERT_EQ(0, r.status) << r.out;
        EXPECT_NE(std::string::npos, r.out.find("secret API_KEY set (25 bytes)")) << r.out;

        r = Ak("secret get API_KEY");
        EXPECT_EQ(0, r.status) << r.out;
        EXPECT_EQ("API_KEY: set, 25 bytes (ak secret get API_KEY --reveal prints the value)\n", r.out);

        r = Ak("secret get API_KEY --reveal");
        EXPECT_EQ(0, r.status) << r.out;
        EXPECT_EQ(kCanary, r.out) << "exactly the value, one trailing newline dropped";

        std::ofstream(root_ + "/v2") << "rotated";
        EXPECT_EQ(0, Ak("secret set API_KEY --from-file " + root_ + "/v2").status);
        EXPECT_EQ("rotated", Ak("secret get API_KEY --reveal").out);
        EXPECT_EQ(0, Ak("secret set OTHER --from-file " + root_ + "/v2").status);
        EXPECT_EQ("API_KEY\nOTHER\n", Ak("secret list", "2>/dev/null").out);

        r = Ak("secret rm OTHER");
        EXPECT_EQ(0, r.status) << r.out;
        r = Ak("secret delete OTHER");
        EXPECT_EQ(1, r.status) << r.out;
        EXPECT_NE(std::string::npos, r.out.find("no secret named OTHER")) << r.out;
        EXPECT_EQ("API_KEY\n", Ak("secret list").out);
}

// Each tenant has its own vault (tenants/T under the default one): a value
// set for one is not listed or read for another, nor for the default.
TEST_F(SecretCli, TenantsHaveVaultsOfTheirOwn)
{
        std::ofstream(root_ + "/acme") << "acme-value";
        Result r;
        ASSERT_EQ(0, Ak("secret set API_KEY --tenant acme --from-file " + root_ + "/acme").status);
        EXPECT_EQ("acme-value", Ak("secret get API_KEY --tenant acme --reveal").out);
        EXPECT_EQ("API_KEY\n", Ak("secret list --tenant acme", "2>/dev/null").out);
        r = Ak("secret list");
        EXPECT_EQ(0, r.status) << r.out;
        EXPECT_EQ(std::string::npos, r.out.find("API_KEY")) << "the default tenant sees acme's secret: " << r.out;
        r = Ak("secret get API_KEY --tenant beta");
        EXPECT_EQ(1, r.status) << r.out;
        r = Ak("secret get API_KEY");
        EXPECT_EQ(1, r.status) << r.out;
        EXPECT_NE(std::string::npos, r.out.find("no secret named API_KEY")) << r.out;
        struct stat st;
        ASSERT_EQ(0, stat((home_ + "/secrets/tenants/acme/API_KEY.sealed").c_str(), &st));
        ASSERT_EQ(0, stat((home_ + "/secrets/tenants").c_str(), &st));
        EXPECT_EQ(0700u, st.st_mode & 0777);
        for (const char *bad : { "../x", ".acme", "a/b", "" }) {
                r = Ak(std::string("secret list --tenant '") + bad + "'");
                EXPECT_EQ(2, r.status) << bad << ": " << r.out;
                EXPECT_NE(std::string::npos, r.out.find("a tenant name is")) << bad << ": " << r.out;
        }
}

TEST_F(SecretCli, BadUsageSaysWhy)
{
        struct {
                const char *args, *want;
                int status;
        } cases[] = {
                { "secret", "which one", 2 },
                { "secret frob X", "unknown subcommand 'frob'", 2 },
                { "secret set", "set needs a NAME", 2 },
                { "secret set A VALUE", "never from the command line", 2 },
                { "secret get A --from-file x", "--from-file is for set", 2 },
                { "secret list --reveal", "--reveal is for get", 2 },
                { "secret get 1A", "not an environment variable name", 2 },
                { "secret set A --from-file /nonexistent/x", "open /nonexistent/x: No such file", 1 },
                { "secret set A", "the value from stdin is empty", 1 },
                { "secret list --mounted /nonexistent", "mounted secrets directory /nonexistent", 1 },
        };
        for (const auto &c : cases) {
                Result r = Ak(c.args);
                EXPECT_EQ(c.status, r.status) << c.args << ": " << r.out;
                EXPECT_NE(std::string::npos, r.out.find(c.want)) << c.args << ": " << r.out;
        }
        Result h = Ak("secret --help");
        EXPECT_EQ(0, h.status);
        EXPECT_EQ(0u, h.out.find("Usage: ak secret set NAME")) << h.out;
        EXPECT_NE(std::string::npos, h.out.find("Examples:")) << h.out;
        EXPECT_NE(std::string::npos, Ak("--help").out.find("secret")) << "listed in ak --help";
        std::string big(64 * 1024 + 1, 'x');
        std::ofstream(root_ + "/big") << big;
        Result r = Ak("secret set A --from-file " + root_ + "/big");
        EXPECT_EQ(1, r.status);
        EXPECT_NE(std::string::npos, r.out.find("too long: it must be 1 to 65536 bytes")) << r.out;
}

// The canary: planted once, then every verb, error and file is searched.
TEST_F(SecretCli, CanaryValueAppearsOnlyOnReveal)
{
        // While set waits for its value, its command line and environment are
        // what ps and /proc show: the value is in neither.
        int in[2];
        ASSERT_EQ(0, pipe2(in, O_CLOEXEC));
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        std::string env_home = "AK_HOME=" + home_;
        char *argv[] = { (char *)"cli/ak", (char *)"secret", (char *)"set", (char *)"CANARY", nullptr };
        char *envp[] = { (char *)env_home.c_str(), nullptr };
        pid_t pid;
        ASSERT_EQ(0, posix_spawn(&pid, "cli/ak", &fa, nullptr, argv, envp));
        posix_spawn_file_actions_destroy(&fa);
        close(in[0]);
        ASSERT_EQ((ssize_t)strlen(kCanary), write(in[1], kCanary, strlen(kCanary)));
        usleep(200 * 1000);  // it has the value in memory now, waiting for EOF
        std::string proc = "/proc/" + std::to_string(pid);
        std::string cmdline = Slurp(proc + "/cmdline"), environ_ = Slurp(proc + "/environ");
        EXPECT_NE(std::string::npos, cmdline.find("CANARY")) << "read the right process";
        EXPECT_EQ(std::string::npos, cmdline.find(kCanary));
        EXPECT_EQ(std::string::npos, environ_.find(kCanary));
        close(in[1]);
        int st;
        ASSERT_EQ(pid, waitpid(pid, &st, 0));
        ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        EXPECT_EQ(kCanary, Ak("secret get CANARY --reveal").out) << "the search below can find it";
        all_output_.clear();

        // every other verb and error path
        Ak("secret list");
        Ak("secret get CANARY");
        Ak("secret get NOPE");
        Ak("secret rm NOPE");
        Ak("secret set 'BAD NAME'", "< " + value_file_);
        Ak("secret --help");
        Ak("--help");
        std::string sealed = home_ + "/secrets/CANARY.sealed";
        std::string orig = Slurp(sealed);
        std::string bad = orig;
        bad[bad.size() - 1] ^= 1;
        std::ofstream(sealed, std::ios::binary | std::ios::trunc) << bad;
        Result r = Ak("secret get CANARY --reveal");
        EXPECT_EQ(1, r.status);
        EXPECT_NE(std::string::npos, r.out.find("does not open with this vault's key")) << r.out;
        std::ofstream(sealed, std::ios::binary | std::ios::trunc) << orig;
        ASSERT_EQ(0, chmod((home_ + "/secrets/vault.key").c_str(), 0640));
        r = Ak("secret get CANARY --reveal");
        EXPECT_EQ(1, r.status);
        EXPECT_NE(std::string::npos, r.out.find("mode 0600")) << r.out;
        ASSERT_EQ(0, chmod((home_ + "/secrets/vault.key").c_str(), 0600));
        EXPECT_EQ(std::string::npos, all_output_.find(kCanary)) << all_output_;
        EXPECT_EQ(std::string::npos, all_output_.find("CANARY-7f3a")) << all_output_;

        // no file of the vault holds it in plain text
        std::vector<std::string> files;
        Files(home_, &files);
        EXPECT_EQ(2u, files.size());
        for (const auto &f : files)
                EXPECT_EQ(std::string::npos, Slurp(f).find(kCanary)) << f;
}

}  // namespace
