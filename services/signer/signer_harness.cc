#include "services/signer/signer_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

extern char **environ;

namespace signer_test {

std::string SignerBinary()
{
        if (const char *p = getenv("AK_SIGNER_BIN"))
                return p;
        if (const char *d = getenv("TEST_SRCDIR")) {
                std::string ws = getenv("TEST_WORKSPACE") ? getenv("TEST_WORKSPACE") : "ak";
                return std::string(d) + "/" + ws + "/services/signer/ak-signer";
        }
        return "services/signer/ak-signer";
}

std::string ReadFile(const std::string &path)
{
        std::ifstream f(path, std::ios::binary);
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
}

bool WriteFile(const std::string &path, const std::string &data, unsigned mode)
{
        int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return false;
        bool ok = write(fd, data.data(), data.size()) == (ssize_t)data.size();
        close(fd);
        return ok && chmod(path.c_str(), mode) == 0;
}

std::string TempDir(const char *prefix)
{
        std::string tmpl = std::string("/tmp/") + prefix + "XXXXXX";
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        EXPECT_NE(nullptr, mkdtemp(buf.data())) << strerror(errno);
        return buf.data();
}

void RemoveTree(const std::string &dir)
{
        if (dir.empty())
                return;
        std::string cmd = "rm -rf '" + dir + "'";
        EXPECT_EQ(0, system(cmd.c_str()));
}

static void SleepMs(int ms)
{
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, nullptr);
}

/* posix_spawn with stdout and stderr to files. */
static pid_t Spawn(const std::vector<std::string> &args, const std::string &out, const std::string &err)
{
        std::string bin = SignerBinary();
        std::vector<char *> argv;
        argv.push_back(const_cast<char *>(bin.c_str()));
        for (auto &a : args)
                argv.push_back(const_cast<char *>(a.c_str()));
        argv.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        pid_t pid = -1;
        int r = posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        EXPECT_EQ(0, r) << "spawn " << bin << ": " << strerror(r);
        return r == 0 ? pid : -1;
}

/* Waits up to timeout_ms; kills it past that. Exit code, or -1. */
static int Reap(pid_t pid, int timeout_ms)
{
        int st = 0;
        for (int waited = 0;; waited += 5) {
                pid_t r = waitpid(pid, &st, WNOHANG);
                if (r == pid)
                        break;
                if (r < 0)
                        return -1;
                if (waited >= timeout_ms) {
                        ADD_FAILURE() << "ak-signer (pid " << pid << ") did not exit in " << timeout_ms << " ms";
                        kill(pid, SIGKILL);
                        waitpid(pid, &st, 0);
                        return -1;
                }
                SleepMs(5);
        }
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

RunResult RunSigner(const std::vector<std::string> &args)
{
        RunResult res;
        std::string dir = TempDir("aksr");
        pid_t pid = Spawn(args, dir + "/out", dir + "/err");
        if (pid > 0)
                res.exit_code = Reap(pid, 20000);
        res.out = ReadFile(dir + "/out");
        res.err = ReadFile(dir + "/err");
        RemoveTree(dir);
        return res;
}

Signer::~Signer()
{
        Stop();
        RemoveTree(dir_);
}

bool Signer::Start(const std::vector<std::string> &args, const struct rpc_tls *tls)
{
        if (dir_.empty())
                dir_ = TempDir("aksp");
        std::vector<std::string> all = {"--listen", "127.0.0.1:0", "--insecure"};
        all.insert(all.end(), args.begin(), args.end());
        pid_ = Spawn(all, dir_ + "/out", dir_ + "/err");
        if (pid_ < 0)
                return false;
        const std::string mark = "ak-signer: listening on ";
        for (int i = 0; i < 2000; i++) {
                std::string out = ReadFile(dir_ + "/out");
                size_t at = out.find(mark), nl = out.find('\n', at);
                if (at != std::string::npos && nl != std::string::npos) {
                        addr_ = out.substr(at + mark.size(), nl - at - mark.size());
                        struct ak_error err;
                        EXPECT_EQ(0, rpc_channel_new(addr_.c_str(), tls, &ch_, &err)) << err.msg;
                        return ch_ != nullptr;
                }
                int st;
                if (waitpid(pid_, &st, WNOHANG) == pid_) {
                        pid_ = -1;
                        ADD_FAILURE() << "ak-signer exited early: " << Output();
                        return false;
                }
                SleepMs(5);
        }
        ADD_FAILURE() << "ak-signer did not say it was listening: " << Output();
        return false;
}

int Signer::Stop()
{
        rpc_channel_free(ch_);
        ch_ = nullptr;
        if (pid_ < 0)
                return -1;
        kill(pid_, SIGTERM);
        int rc = Reap(pid_, 20000);
        pid_ = -1;
        return rc;
}

std::string Signer::Output() const
{
        return ReadFile(dir_ + "/out") + ReadFile(dir_ + "/err");
}

} // namespace signer_test
