#include "tests/testing/service_process.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

extern char **environ;

namespace aktest {

namespace {

void SleepMs(int ms)
{
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// What messages call it: the binary started last, else ak-<name>.
std::string Called(const std::vector<std::string> &argv, const std::string &name)
{
        if (argv.empty())
                return "ak-" + name;
        size_t slash = argv[0].rfind('/');
        return slash == std::string::npos ? argv[0] : argv[0].substr(slash + 1);
}

}  // namespace

std::string Runfile(const std::string &rel)
{
        const char *s = getenv("TEST_SRCDIR");
        if (!s)
                s = getenv("RUNFILES_DIR");
        if (!s)
                return rel;
        const char *w = getenv("TEST_WORKSPACE");
        return std::string(s) + "/" + (w ? w : "ak") + "/" + rel;
}

std::string Binary(const std::string &name)
{
        std::string var = "AK_";
        for (char c : name)
                var += (char)toupper((unsigned char)c);
        var += "_BIN";
        if (const char *p = getenv(var.c_str()))
                return p;
        return Runfile("services/" + name + "/ak-" + name);
}

std::string Slurp(const std::string &path)
{
        std::ifstream f(path);
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
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

int FreePort(bool ipv6)
{
        struct sockaddr_storage ss = {};
        socklen_t len = ipv6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        if (ipv6) {
                ((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
                ((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
        } else {
                ((struct sockaddr_in *)&ss)->sin_family = AF_INET;
                ((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        }
        int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;
        if (fd >= 0 && bind(fd, (struct sockaddr *)&ss, len) == 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
                port = ntohs(ipv6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
        if (fd >= 0)
                close(fd);
        return port;
}

int ProcessesMentioning(const std::string &s)
{
        int n = 0;
        DIR *d = opendir("/proc");
        while (struct dirent *e = d ? readdir(d) : nullptr) {
                if (e->d_name[0] < '0' || e->d_name[0] > '9')
                        continue;
                std::string cl = Slurp(std::string("/proc/") + e->d_name + "/cmdline");
                for (auto &c : cl)
                        if (!c)
                                c = ' ';
                if (cl.find(s) != std::string::npos)
                        n++;
        }
        if (d)
                closedir(d);
        return n;
}

ServiceProcess::ServiceProcess(const std::string &name) : name_(name)
{
        char tmpl[] = "/tmp/aksvc.XXXXXX";
        if (!mkdtemp(tmpl))
                ADD_FAILURE() << "mkdtemp: " << strerror(errno);
        dir_ = tmpl;
        out = Path("stdout.log");
        err = Path("stderr.log");
}

ServiceProcess::~ServiceProcess()
{
        Stop();
        std::string cmd = "rm -rf '" + dir_ + "'";
        if (system(cmd.c_str()) != 0)
                ADD_FAILURE() << "could not remove " << dir_;
}

// stdout truncated, stderr appended (a restarted service keeps one log).
bool ServiceProcess::Spawn(const std::vector<std::string> &args)
{
        argv = args;
        std::vector<char *> a;
        for (auto &s : argv)
                a.push_back(const_cast<char *>(s.c_str()));
        a.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        int r = posix_spawn(&pid, a[0], &fa, nullptr, a.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0) {
                pid = -1;
                std::ofstream(err, std::ios::app) << "posix_spawn " << argv[0] << ": " << strerror(r) << "\n";
                return false;
        }
        return true;
}

bool ServiceProcess::Start(const std::vector<std::string> &args, const std::string &dir, const std::string &tag)
{
        out = dir + "/" + tag + ".out";
        err = dir + "/" + tag + ".err";
        addr.clear();
        if (!Spawn(args))
                return false;
        for (int i = 0; i < 600; i++) {
                std::string o = Slurp(out) + Slurp(err);
                size_t at = o.find("listening on ");
                if (at != std::string::npos) {
                        // The end of the address: a space, the line's end, or the
                        // quote closing a JSON log line's "msg".
                        size_t end = o.find_first_of(" \n\"", at + 13);
                        if (end != std::string::npos) {
                                addr = o.substr(at + 13, end - at - 13);
                                if (!addr.empty() && addr.back() == ':')
                                        addr.pop_back();
                                // ak-auditor and ak-scheduler say "listening on 127.0.0.1:0 (port N)".
                                size_t port = o.find(" (port ", end);
                                if (port == end && addr.size() > 2 && addr.compare(addr.size() - 2, 2, ":0") == 0)
                                        addr = addr.substr(0, addr.size() - 1) +
                                               std::to_string(atoi(o.c_str() + port + 7));
                                return true;
                        }
                }
                int st;
                if (waitpid(pid, &st, WNOHANG) == pid) {
                        pid = -1;
                        return false;
                }
                SleepMs(100);
        }
        return false;
}

bool ServiceProcess::Start(const std::vector<std::string> &args, const std::string &target,
                           const struct rpc_tls *tls)
{
        std::vector<std::string> a = {Binary(name_)};
        a.insert(a.end(), args.begin(), args.end());
        out = Path("stdout.log");
        err = Path("stderr.log");
        if (!Spawn(a)) {
                ADD_FAILURE() << Log();
                return false;
        }
        std::string sock = target.compare(0, 5, "unix:") == 0 ? target.substr(5) : "";
        struct ak_error e = {};
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (std::chrono::steady_clock::now() < until) {
                int st;
                if (waitpid(pid, &st, WNOHANG) == pid) {
                        pid = -1;
                        ADD_FAILURE() << "ak-" << name_ << " exited while starting (status " << st << "):\n"
                                      << Log();
                        return false;
                }
                // A channel that failed to connect backs off for seconds: a
                // fresh one each try, and none before the socket exists.
                if (sock.empty() || access(sock.c_str(), F_OK) == 0) {
                        struct rpc_channel *ch = nullptr;
                        e = {};
                        bool up = rpc_channel_new(target.c_str(), tls, &ch, &e) == 0 &&
                                  rpc_health_check(ch, "", 1000, &e) == RPC_OK;
                        rpc_channel_free(ch);
                        if (up)
                                return true;
                }
                SleepMs(20);
        }
        ADD_FAILURE() << "ak-" << name_ << " did not answer health checks on " << target << ": " << e.msg << "\n"
                      << Log();
        return false;
}

void ServiceProcess::Signal(int sig)
{
        if (pid > 0)
                kill(pid, sig);
}

int ServiceProcess::Stop()
{
        if (pid <= 0)
                return -1;
        kill(pid, SIGTERM);
        int st = -1;
        for (int i = 0; i < 3000; i++) {
                if (waitpid(pid, &st, WNOHANG) == pid) {
                        pid = -1;
                        return st;
                }
                SleepMs(10);
        }
        ADD_FAILURE() << Called(argv, name_) << " ignored SIGTERM for 30 s; killing it";
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        pid = -1;
        return st;
}

bool ServiceProcess::WaitLog(const std::string &text) const
{
        for (int i = 0; i < 200; i++) {
                if (Log().find(text) != std::string::npos)
                        return true;
                SleepMs(50);
        }
        return false;
}

}  // namespace aktest
