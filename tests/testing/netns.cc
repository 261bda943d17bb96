#include "tests/testing/netns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <thread>

namespace aktest {

int Sh(const std::string &cmd)
{
        return system((cmd + " >/dev/null 2>&1").c_str());
}

void PathWithSbin()
{
        const char *p = getenv("PATH");
        std::string path = std::string(p ? p : "/usr/bin:/bin") + ":/usr/sbin:/sbin";
        setenv("PATH", path.c_str(), 1);
}

bool MakeOutsideNetns(const std::string &name, const std::string &dev, const std::string &inside,
                      const std::string &host)
{
        return Sh("ip netns add " + name) == 0 &&
               Sh("ip link add " + dev + " type veth peer name eth0 netns " + name) == 0 &&
               Sh("ip addr add " + host + "/24 dev " + dev) == 0 && Sh("ip link set " + dev + " up") == 0 &&
               Sh("ip -n " + name + " addr add " + inside + "/24 dev eth0") == 0 &&
               Sh("ip -n " + name + " link set eth0 up") == 0 && Sh("ip -n " + name + " link set lo up") == 0;
}

int SocketInNetns(const std::string &netns, const std::string &addr, int port, int type)
{
        int fd = -EINVAL;
        std::thread t([&] {
                if (!netns.empty()) {
                        int ns = open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
                        if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
                                fd = -errno;
                                if (ns >= 0)
                                        close(ns);
                                return;
                        }
                        close(ns);
                }
                struct sockaddr_in sa = {};
                sa.sin_family = AF_INET;
                sa.sin_port = htons(port);
                if (inet_pton(AF_INET, addr.c_str(), &sa.sin_addr) != 1)
                        return;
                int s = socket(AF_INET, type | SOCK_CLOEXEC, 0), one = 1;
                if (s < 0) {
                        fd = -errno;
                        return;
                }
                setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                if (bind(s, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) < 0 ||
                    (type == SOCK_STREAM && listen(s, 64) < 0)) {
                        fd = -errno;
                        close(s);
                        return;
                }
                fd = s;
        });
        t.join();
        return fd;
}

std::string RunName(const std::string &prefix)
{
        return prefix + std::to_string(getpid());
}

std::string ShOut(const std::string &cmd)
{
        std::string out;
        FILE *p = popen(cmd.c_str(), "r");
        if (!p)
                return out;
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
                out.append(buf, n);
        pclose(p);
        return out;
}

void RemoveStaleNetns(const std::string &prefix)
{
        // `ip netns list`: one namespace a line, "NAME" or "NAME (id: N)".
        std::string list = ShOut("ip netns list 2>/dev/null");
        for (size_t at = 0, end; at < list.size(); at = end + 1) {
                end = list.find('\n', at);
                if (end == std::string::npos)
                        end = list.size();
                std::string name = list.substr(at, end - at);
                name = name.substr(0, name.find(' '));
                if (name.size() <= prefix.size() || name.size() > prefix.size() + 9 ||
                    name.compare(0, prefix.size(), prefix) != 0)
                        continue;
                std::string digits = name.substr(prefix.size());
                bool numeric = true;
                for (char c : digits)
                        numeric = numeric && isdigit((unsigned char)c);
                if (!numeric)
                        continue;
                pid_t pid = (pid_t)std::stol(digits);
                if (pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH)
                        continue;  // ours, or its run is still going
                Sh("ip netns pids " + name + " | xargs -r kill -9");
                Sh("ip netns del " + name);
        }
}

std::string FreeSubnet24(const std::string &ab, int lo, int hi)
{
        if (lo < 0 || hi > 255 || lo > hi)
                return "";
        int span = hi - lo + 1;
        // Each address or route after a space or at a line's start.
        std::string used = "\n" + ShOut("ip -4 -o addr show 2>/dev/null") + "\n" + ShOut("ip -4 route show table all 2>/dev/null");
        for (int i = 0; i < span; i++) {
                std::string net = ab + "." + std::to_string(lo + (getpid() + i) % span);
                if (used.find(" " + net + ".") == std::string::npos && used.find("\n" + net + ".") == std::string::npos)
                        return net;
        }
        return "";
}

}  // namespace aktest
