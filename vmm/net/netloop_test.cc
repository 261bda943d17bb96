#include "vmm/net/netloop.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "gtest/gtest.h"

namespace {

struct Pipe {
        int fd[2] = { -1, -1 };
        Pipe() { EXPECT_EQ(pipe2(fd, O_CLOEXEC | O_NONBLOCK), 0); }
        ~Pipe()
        {
                close(fd[0]);
                close(fd[1]);
        }
};

struct Counter {
        std::atomic<int> calls{ 0 };
        std::atomic<bool> in_handler{ false };
        int sleep_ms = 0;
        netloop *loop = nullptr;
        bool remove_self = false;
};

void Drain(void *ctx, int fd, uint32_t)
{
        auto *c = static_cast<Counter *>(ctx);
        c->in_handler = true;
        char buf[64];
        while (read(fd, buf, sizeof(buf)) > 0) {
        }
        if (c->sleep_ms)
                std::this_thread::sleep_for(std::chrono::milliseconds(c->sleep_ms));
        c->calls++;
        if (c->remove_self)
                netloop_del(c->loop, fd);
        c->in_handler = false;
}

bool WaitCalls(const Counter &c, int n)
{
        for (int i = 0; i < 500 && c.calls < n; i++)
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
        return c.calls >= n;
}

class NetloopTest : public ::testing::Test {
    protected:
        void SetUp() override
        {
                ak_error err = {};
                ASSERT_EQ(netloop_new(&loop_, &err), 0) << err.msg;
        }
        void TearDown() override { netloop_free(loop_); }
        netloop *loop_ = nullptr;
};

TEST_F(NetloopTest, CallsTheHandlerForEachReadyFd)
{
        Pipe a, b;
        Counter ca, cb;
        ASSERT_EQ(netloop_add(loop_, a.fd[0], EPOLLIN, Drain, &ca), 0);
        ASSERT_EQ(netloop_add(loop_, b.fd[0], EPOLLIN, Drain, &cb), 0);
        EXPECT_EQ(netloop_add(loop_, a.fd[0], EPOLLIN, Drain, &ca), -EEXIST);
        ASSERT_EQ(write(a.fd[1], "x", 1), 1);
        ASSERT_TRUE(WaitCalls(ca, 1));
        EXPECT_EQ(cb.calls, 0);
        ASSERT_EQ(write(b.fd[1], "y", 1), 1);
        ASSERT_TRUE(WaitCalls(cb, 1));
        netloop_del(loop_, a.fd[0]);
        netloop_del(loop_, b.fd[0]);
}

TEST_F(NetloopTest, DelWaitsForTheRunningHandlerAndStopsFurtherCalls)
{
        Pipe p;
        Counter c;
        c.sleep_ms = 200;
        ASSERT_EQ(netloop_add(loop_, p.fd[0], EPOLLIN, Drain, &c), 0);
        ASSERT_EQ(write(p.fd[1], "x", 1), 1);
        for (int i = 0; i < 500 && !c.in_handler; i++)
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
        ASSERT_TRUE(c.in_handler);
        netloop_del(loop_, p.fd[0]);
        EXPECT_FALSE(c.in_handler) << "netloop_del returned while the handler still ran";
        EXPECT_EQ(c.calls, 1);
        ASSERT_EQ(write(p.fd[1], "x", 1), 1);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        EXPECT_EQ(c.calls, 1) << "a handler was called after netloop_del";
        netloop_del(loop_, p.fd[0]); /* again: a no-op */
}

TEST_F(NetloopTest, AHandlerMayRemoveItselfAndTheFdMayBeAddedAgain)
{
        Pipe p;
        Counter c;
        c.loop = loop_;
        c.remove_self = true;
        ASSERT_EQ(netloop_add(loop_, p.fd[0], EPOLLIN, Drain, &c), 0);
        ASSERT_EQ(write(p.fd[1], "x", 1), 1);
        ASSERT_TRUE(WaitCalls(c, 1));
        ASSERT_EQ(write(p.fd[1], "x", 1), 1);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        EXPECT_EQ(c.calls, 1);
        Counter c2;
        ASSERT_EQ(netloop_add(loop_, p.fd[0], EPOLLIN, Drain, &c2), 0);
        ASSERT_TRUE(WaitCalls(c2, 1)) << "the byte written while removed is served after re-adding";
        netloop_del(loop_, p.fd[0]);
}

TEST_F(NetloopTest, ModChangesTheEvents)
{
        Pipe p;
        Counter c;
        ASSERT_EQ(netloop_add(loop_, p.fd[1], 0, Drain, &c), 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        EXPECT_EQ(c.calls, 0);
        EXPECT_EQ(netloop_mod(loop_, p.fd[1], EPOLLOUT), 0);
        ASSERT_TRUE(WaitCalls(c, 1)) << "a writable pipe reports EPOLLOUT";
        netloop_del(loop_, p.fd[1]);
        EXPECT_EQ(netloop_mod(loop_, p.fd[1], EPOLLOUT), -ENOENT);
}

TEST(NetloopShared, IsOneLoop)
{
        netloop *a = nullptr, *b = nullptr;
        ak_error err = {};
        ASSERT_EQ(netloop_shared(&a, &err), 0) << err.msg;
        ASSERT_EQ(netloop_shared(&b, &err), 0) << err.msg;
        EXPECT_EQ(a, b);
}

void *NewNetns(void *arg)
{
        int *fd = static_cast<int *>(arg);
        *fd = unshare(CLONE_NEWNET) < 0 ? -errno : open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        return nullptr;
}

ino_t NsInode(int fd)
{
        struct stat st = {};
        fstat(fd, &st);
        return st.st_ino;
}

TEST(NetnsSocket, TheSocketLivesInTheNamespace)
{
        if (geteuid() != 0)
                GTEST_SKIP() << "needs root (a network namespace)";
        int ns = -1;
        pthread_t t;
        ASSERT_EQ(pthread_create(&t, nullptr, NewNetns, &ns), 0);
        pthread_join(t, nullptr);
        ASSERT_GE(ns, 0) << strerror(-ns);
        int s = netns_socket(ns, AF_INET, SOCK_DGRAM, 0);
        ASSERT_GE(s, 0) << strerror(-s);
        int sns = ioctl(s, SIOCGSKNS);
        ASSERT_GE(sns, 0);
        EXPECT_EQ(NsInode(sns), NsInode(ns));
        int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        EXPECT_NE(NsInode(sns), NsInode(self)) << "the socket must not be in the caller's namespace";
        EXPECT_EQ(fcntl(s, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        close(self);
        close(sns);
        close(s);
        close(ns);
        EXPECT_LT(netns_socket(-1, AF_INET, SOCK_DGRAM, 0), 0);
}

}  // namespace
