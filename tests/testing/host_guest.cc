#include "tests/testing/host_guest.h"

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

namespace aktest {

namespace {

bool ReadByte(int fd, char *c)
{
        return read(fd, c, 1) == 1;
}

int ConnectUnix(const std::string &path)
{
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un a = {};
        a.sun_family = AF_UNIX;
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
        if (fd >= 0 && connect(fd, reinterpret_cast<struct sockaddr *>(&a), sizeof(a)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

void Splice(int a, int b)
{
        char buf[65536];
        struct pollfd p[2] = { { a, POLLIN, 0 }, { b, POLLIN, 0 } };
        for (bool done = false; !done;) {
                if (poll(p, 2, -1) < 0)
                        break;
                for (int k = 0; k < 2 && !done; k++) {
                        if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        ssize_t n = read(p[k].fd, buf, sizeof(buf));
                        if (n <= 0 || write(p[1 - k].fd, buf, static_cast<size_t>(n)) != n)
                                done = true;
                }
        }
        close(a);
        close(b);
}

}  // namespace

void HostGuest::Serve(int c)
{
        char ch = 0;
        std::string line;
        while (line.size() < 64 && ReadByte(c, &ch) && ch != '\n')
                line += ch;
        int g = line.rfind("CONNECT ", 0) == 0 ? ConnectUnix(agent_sock) : -1;
        if (g < 0 || write(c, "OK 1\n", 5) != 5) {
                if (g >= 0)
                        close(g);
                close(c);
                return;
        }
        Splice(c, g);
}

bool HostGuest::Start(const std::string &agent_bin, const std::string &dir)
{
        agent_sock = dir + "/agent.sock";
        front_sock = dir + "/hg.sock";
        std::string where = "unix:" + agent_sock;
        char *av[] = { const_cast<char *>(agent_bin.c_str()), const_cast<char *>("--listen"),
                       const_cast<char *>(where.c_str()), nullptr };
        if (posix_spawn(&agent_, av[0], nullptr, nullptr, av, environ) != 0) {
                agent_ = -1;
                return false;
        }
        bool up = false;
        for (int i = 0; i < 100 && !up; i++) {
                int fd = ConnectUnix(agent_sock);
                up = fd >= 0;
                if (up)
                        close(fd);
                else
                        usleep(50000);
        }
        listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un a = {};
        a.sun_family = AF_UNIX;
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", front_sock.c_str());
        if (!up || listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<struct sockaddr *>(&a), sizeof(a)) < 0 ||
            listen(listen_fd_, 64) < 0)
                return false;
        acceptor_ = std::thread([this] {
                for (int c; (c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;)
                        std::thread([this, c] { Serve(c); }).detach();
        });
        return true;
}

HostGuest::~HostGuest()
{
        if (listen_fd_ >= 0)
                shutdown(listen_fd_, SHUT_RDWR);
        if (acceptor_.joinable())
                acceptor_.join();
        if (listen_fd_ >= 0)
                close(listen_fd_);
        if (agent_ > 0) {
                kill(agent_, SIGTERM);
                waitpid(agent_, nullptr, 0);
        }
}

}  // namespace aktest
