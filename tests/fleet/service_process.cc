#include "tests/fleet/service_process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

extern char **environ;

namespace fleet {

std::string Binary(const std::string &name)
{
        return Runfile("services/" + name + "/ak-" + name);
}

std::string Runfile(const std::string &rel)
{
        if (const char *d = getenv("TEST_SRCDIR")) {
                std::string ws = getenv("TEST_WORKSPACE") ? getenv("TEST_WORKSPACE") : "ak";
                return std::string(d) + "/" + ws + "/" + rel;
        }
        return rel;
}

ServiceProcess::ServiceProcess(const std::string &name) : name_(name)
{
        char tmpl[] = "/tmp/akfl.XXXXXX";
        if (!mkdtemp(tmpl))
                ADD_FAILURE() << "mkdtemp: " << strerror(errno);
        dir_ = tmpl;
}

ServiceProcess::~ServiceProcess()
{
        if (pid_ > 0)
                Stop();
        std::string cmd = "rm -rf '" + dir_ + "'";
        if (system(cmd.c_str()) != 0)
                ADD_FAILURE() << "could not remove " << dir_;
}

bool ServiceProcess::Start(const std::vector<std::string> &extra, const std::string &target,
                           const struct rpc_tls *tls)
{
        std::string bin = Binary(name_);
        std::vector<std::string> args = {bin};
        args.insert(args.end(), extra.begin(), extra.end());
        std::vector<char *> argv;
        for (auto &a : args)
                argv.push_back(const_cast<char *>(a.c_str()));
        argv.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        std::string log = Path("stderr.log");
        posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        int r = posix_spawn(&pid_, bin.c_str(), &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0) {
                pid_ = -1;
                ADD_FAILURE() << "posix_spawn " << bin << ": " << strerror(r);
                return false;
        }
        // A channel that failed to connect backs off: a fresh one each try.
        for (int i = 0; i < 200; i++) {
                int st;
                if (waitpid(pid_, &st, WNOHANG) == pid_) {
                        pid_ = -1;
                        ADD_FAILURE() << "ak-" << name_ << " exited while starting (status " << st
                                      << "):\n" << Log();
                        return false;
                }
                struct rpc_channel *ch = nullptr;
                struct ak_error err = {};
                bool up = rpc_channel_new(target.c_str(), tls, &ch, &err) == 0 &&
                          rpc_health_check(ch, "", 500, &err) == RPC_OK;
                rpc_channel_free(ch);
                if (up)
                        return true;
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        ADD_FAILURE() << "ak-" << name_ << " did not answer health checks on " << target << ":\n" << Log();
        return false;
}

void ServiceProcess::Signal(int sig)
{
        if (pid_ > 0)
                kill(pid_, sig);
}

int ServiceProcess::Stop()
{
        if (pid_ <= 0)
                return -1;
        kill(pid_, SIGTERM);
        int st = -1;
        for (int i = 0; i < 200; i++) {
                if (waitpid(pid_, &st, WNOHANG) == pid_) {
                        pid_ = -1;
                        return st;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        ADD_FAILURE() << "ak-" << name_ << " ignored SIGTERM for 10 s; killing it";
        kill(pid_, SIGKILL);
        waitpid(pid_, &st, 0);
        pid_ = -1;
        return st;
}

std::string ServiceProcess::Log() const
{
        std::ifstream f(Path("stderr.log"));
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
}

bool ServiceProcess::WaitLog(const std::string &text) const
{
        for (int i = 0; i < 200; i++) {
                if (Log().find(text) != std::string::npos)
                        return true;
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return false;
}

void WriteFile(const std::string &path, const std::string &text, unsigned mode)
{
        std::string tmp = path + ".new";
        int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        ASSERT_GE(fd, 0) << tmp << ": " << strerror(errno);
        ASSERT_EQ((ssize_t)text.size(), write(fd, text.data(), text.size()));
        ASSERT_EQ(0, fchmod(fd, mode));
        close(fd);
        ASSERT_EQ(0, rename(tmp.c_str(), path.c_str()));
}

}  // namespace fleet
