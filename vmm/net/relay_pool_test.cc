// relay_pool over socketpairs: SSL objects that never handshake stand in
// for server connections (the pool only files, checks and frees them).
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "vmm/net/relay_pool.h"

namespace {

class RelayPool : public ::testing::Test {
      protected:
        void SetUp() override { ctx_ = SSL_CTX_new(TLS_client_method()); }
        void TearDown() override
        {
                relay_pool_free(pool_);
                for (int fd : peers_)
                        close(fd);
                SSL_CTX_free(ctx_);
        }
        // Files a new connection under key (its peer end kept).
        void PutNew(const char *key)
        {
                int fd;
                SSL *ssl = Conn(&fd);
                relay_pool_put(pool_, key, ssl, fd);
        }
        // A connection: our end's fd in *fd, its SSL returned; the peer end kept.
        SSL *Conn(int *fd)
        {
                int sv[2];
                EXPECT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
                peers_.push_back(sv[1]);
                SSL *ssl = SSL_new(ctx_);
                SSL_set_fd(ssl, sv[0]);
                *fd = sv[0];
                return ssl;
        }
        SSL_CTX *ctx_ = nullptr;
        struct relay_pool *pool_ = nullptr;
        std::vector<int> peers_;
};

TEST_F(RelayPool, TakesTheNewestOfItsKeyOnly)
{
        ASSERT_EQ(0, relay_pool_new(4, 8, 60000, &pool_));
        int fa, fb, fc;
        SSL *a = Conn(&fa), *b = Conn(&fb), *c = Conn(&fc);
        relay_pool_put(pool_, "h|1.2.3.4:443", a, fa);
        relay_pool_put(pool_, "h|1.2.3.4:443", b, fb);
        relay_pool_put(pool_, "h|5.6.7.8:443", c, fc);
        EXPECT_EQ(3u, relay_pool_idle(pool_));
        SSL *got = nullptr;
        int fd = -1;
        ASSERT_TRUE(relay_pool_take(pool_, "h|1.2.3.4:443", &got, &fd));
        EXPECT_EQ(b, got);
        EXPECT_EQ(fb, fd);
        relay_pool_put(pool_, "h|1.2.3.4:443", got, fd);
        EXPECT_FALSE(relay_pool_take(pool_, "other|1.2.3.4:443", &got, &fd));
        EXPECT_EQ(3u, relay_pool_idle(pool_));
}

TEST_F(RelayPool, BoundedPerKeyAndInAll)
{
        ASSERT_EQ(0, relay_pool_new(2, 3, 60000, &pool_));
        int fd;
        for (int i = 0; i < 3; i++)
                PutNew("a");
        EXPECT_EQ(2u, relay_pool_idle(pool_)) << "two per key";
        PutNew("b");
        PutNew("c");
        EXPECT_EQ(3u, relay_pool_idle(pool_)) << "three in all";
        SSL *got;
        EXPECT_TRUE(relay_pool_take(pool_, "c", &got, &fd));
        SSL_free(got);
        close(fd);
        EXPECT_TRUE(relay_pool_take(pool_, "b", &got, &fd));
        SSL_free(got);
        close(fd);
        // the oldest went first: of a's two, one was closed for c
        EXPECT_TRUE(relay_pool_take(pool_, "a", &got, &fd));
        SSL_free(got);
        close(fd);
        EXPECT_FALSE(relay_pool_take(pool_, "a", &got, &fd));
        std::string long_key(RELAY_POOL_KEY_MAX, 'k');
        PutNew(long_key.c_str());
        EXPECT_EQ(0u, relay_pool_idle(pool_));
}

TEST_F(RelayPool, ClosedOrTalkingConnectionsAreNotTaken)
{
        ASSERT_EQ(0, relay_pool_new(4, 8, 60000, &pool_));
        int fa, fb;
        SSL *a = Conn(&fa), *b = Conn(&fb);
        relay_pool_put(pool_, "k", a, fa);
        relay_pool_put(pool_, "k", b, fb);
        close(peers_[1]); /* b's server closed it while idle */
        peers_[1] = -1;
        ASSERT_EQ(3, write(peers_[0], "xyz", 3)); /* a's wrote unasked */
        SSL *got;
        int fd;
        EXPECT_FALSE(relay_pool_take(pool_, "k", &got, &fd));
        EXPECT_EQ(0u, relay_pool_idle(pool_));
        peers_.erase(peers_.begin() + 1);
}

TEST_F(RelayPool, IdleOnesAreClosedAfterTheTimeout)
{
        ASSERT_EQ(0, relay_pool_new(4, 8, 100, &pool_));
        PutNew("k");
        EXPECT_EQ(1u, relay_pool_idle(pool_));
        for (int i = 0; i < 100 && relay_pool_idle(pool_); i++)
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
        EXPECT_EQ(0u, relay_pool_idle(pool_));
        char b;
        EXPECT_EQ(0, read(peers_[0], &b, 1)) << "the pool closed its end";
}

TEST_F(RelayPool, FlushClosesEveryIdleOne)
{
        ASSERT_EQ(0, relay_pool_new(4, 8, 60000, &pool_));
        PutNew("a");
        PutNew("b");
        relay_pool_flush(pool_);
        EXPECT_EQ(0u, relay_pool_idle(pool_));
        char b;
        EXPECT_EQ(0, read(peers_[0], &b, 1));
        EXPECT_EQ(0, read(peers_[1], &b, 1));
        PutNew("a"); /* still usable */
        EXPECT_EQ(1u, relay_pool_idle(pool_));
}

TEST_F(RelayPool, RefusesBadLimits)
{
        EXPECT_EQ(-EINVAL, relay_pool_new(0, 8, 100, &pool_));
        EXPECT_EQ(-EINVAL, relay_pool_new(4, 2, 100, &pool_));
        EXPECT_EQ(-EINVAL, relay_pool_new(4, 8, 0, &pool_));
}

}  // namespace
