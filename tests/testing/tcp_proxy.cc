// A round-robin TCP proxy on loopback (tcp_proxy.h).
#include "tests/testing/tcp_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

namespace aktest {

namespace {

constexpr const char kLoopback[] = "127.0.0.1:";

int ConnectLoopback(int port)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -1;
        struct sockaddr_in sa = {};
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

// Copies what `from` has to `to`; false at EOF or an error.
bool Pump(int from, int to)
{
        char buf[16384];
        ssize_t n = read(from, buf, sizeof(buf));
        if (n <= 0)
                return false;
        for (ssize_t off = 0; off < n;) {
                ssize_t w = write(to, buf + off, (size_t)(n - off));
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return false;
                off += w;
        }
        return true;
}

}  // namespace

bool TcpProxy::Start(const std::vector<std::string> &backends)
{
        for (const std::string &b : backends) {
                if (b.compare(0, sizeof(kLoopback) - 1, kLoopback) != 0)
                        return false;
                int port = atoi(b.c_str() + sizeof(kLoopback) - 1);
                if (port <= 0 || port > 65535)
                        return false;
                ports_.push_back(port);
        }
        if (ports_.empty() || pipe2(wake_, O_CLOEXEC) < 0)
                return false;
        listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = {};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(sa);
        if (listen_fd_ < 0 || bind(listen_fd_, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(listen_fd_, 64) < 0 ||
            getsockname(listen_fd_, (struct sockaddr *)&sa, &len) < 0)
                return false;
        addr = kLoopback + std::to_string(ntohs(sa.sin_port));
        acceptor_ = std::thread([this] { AcceptLoop(); });
        return true;
}

void TcpProxy::AcceptLoop()
{
        for (;;) {
                struct pollfd p[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
                if (poll(p, 2, -1) < 0 && errno != EINTR)
                        return;
                if (p[1].revents)
                        return;
                if (!(p[0].revents & POLLIN))
                        continue;
                int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
                if (c < 0)
                        continue;
                accepted++;
                int port = ports_[next_++ % ports_.size()];
                int b = ConnectLoopback(port);
                if (b < 0) {
                        refused++;
                        close(c);
                        continue;
                }
                std::lock_guard<std::mutex> g(mu_);
                open_.insert(c);
                splicers_.emplace_back([this, c, b] { Splice(c, b); });
        }
}

void TcpProxy::Splice(int client, int backend)
{
        for (;;) {
                struct pollfd p[3] = {{client, POLLIN, 0}, {backend, POLLIN, 0}, {wake_[0], POLLIN, 0}};
                if (poll(p, 3, -1) < 0 && errno != EINTR)
                        break;
                if (p[2].revents)
                        break;
                if (p[0].revents && !Pump(client, backend))
                        break;
                if (p[1].revents && !Pump(backend, client))
                        break;
        }
        {
                std::lock_guard<std::mutex> g(mu_);
                open_.erase(client);
                close(client);
        }
        close(backend);
}

void TcpProxy::DropConnections()
{
        std::lock_guard<std::mutex> g(mu_);
        for (int c : open_)
                shutdown(c, SHUT_RDWR);
}

void TcpProxy::Stop()
{
        if (wake_[1] >= 0) {
                char x = 1;
                (void)!write(wake_[1], &x, 1);
        }
        if (acceptor_.joinable())
                acceptor_.join();
        std::vector<std::thread> ts;
        {
                std::lock_guard<std::mutex> g(mu_);
                ts.swap(splicers_);
        }
        for (std::thread &t : ts)
                t.join();
        for (int *fd : {&listen_fd_, &wake_[0], &wake_[1]}) {
                if (*fd >= 0)
                        close(*fd);
                *fd = -1;
        }
}

TcpProxy::~TcpProxy()
{
        Stop();
}

}  // namespace aktest
