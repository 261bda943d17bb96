#include "tests/testing/netns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

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

}  // namespace aktest
