// nft_sets in a namespace of the test's own: the elements land in the
// namespace's sets (not the host's), with a clamped timeout, refreshable.
#include "vmm/net/nft_sets.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"

namespace {

void *NewNetns(void *arg)
{
        int *fd = static_cast<int *>(arg);
        if (unshare(CLONE_NEWNET) < 0)
                *fd = -errno;
        else
                *fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        return nullptr;
}

const char kTable[] =
        "table inet ak_vm {\n"
        "  set allow_dyn4 { type ipv4_addr; flags timeout; }\n"
        "  set allow_dyn6 { type ipv6_addr; flags timeout; }\n"
        "}\n";

dns_addr V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint32_t ttl)
{
        dns_addr x = {};
        x.family = AF_INET;
        x.bytes[0] = a, x.bytes[1] = b, x.bytes[2] = c, x.bytes[3] = d;
        x.ttl = ttl;
        return x;
}

TEST(NftSets, ElementsLandInTheNamespace)
{
        if (geteuid() != 0)
                GTEST_SKIP() << "needs root (a network namespace, nftables)";
        int ns = -1;
        pthread_t t;
        ASSERT_EQ(pthread_create(&t, nullptr, NewNetns, &ns), 0);
        pthread_join(t, nullptr);
        ASSERT_GE(ns, 0) << strerror(-ns);
        nft_sets *s = nullptr;
        ak_error err = {};
        ASSERT_EQ(nft_sets_new(ns, &s, &err), 0) << err.msg;
        // Created from this (host-namespace) thread through the context.
        ASSERT_EQ(nft_sets_run(s, kTable, nullptr, &err), 0) << err.msg;
        dns_addr a[3] = { V4(198, 18, 0, 1, 5), V4(198, 18, 0, 2, 100000), {} };
        a[2].family = AF_INET6;
        a[2].bytes[0] = 0x20;
        a[2].bytes[15] = 1;
        a[2].ttl = 120;
        ASSERT_EQ(nft_sets_add(s, "allow_dyn", a, 3, &err), 0) << err.msg;
        ASSERT_EQ(nft_sets_add(s, "allow_dyn", a, 1, &err), 0) << "again (refresh): " << err.msg;
        const char *out = nullptr;
        ASSERT_EQ(nft_sets_run(s, "list table inet ak_vm", &out, &err), 0) << err.msg;
        std::string text = out;
        EXPECT_NE(text.find("198.18.0.1 timeout 1m"), std::string::npos) << "TTL 5 floored to 60s:\n" << text;
        EXPECT_NE(text.find("198.18.0.2 timeout 1d"), std::string::npos) << "TTL capped at a day:\n" << text;
        EXPECT_NE(text.find("2000::1 timeout 2m"), std::string::npos) << text;
        // The host's namespace has no such table: the context stayed in ns.
        nft_sets *host = nullptr;
        ASSERT_EQ(nft_sets_new(-1, &host, &err), 0) << err.msg;
        ASSERT_EQ(nft_sets_run(host, "list tables", &out, &err), 0) << err.msg;
        EXPECT_EQ(std::string(out).find("table inet ak_vm\n"), std::string::npos)
                << "the host has a table inet ak_vm: the test cannot tell (or the context leaked): " << out;
        // A missing set: an error naming the command.
        EXPECT_EQ(nft_sets_add(s, "nope", a, 1, &err), -EIO);
        EXPECT_NE(std::string(err.msg).find("nope4"), std::string::npos) << err.msg;
        nft_sets_free(host);
        nft_sets_free(s);
        close(ns);
}

} // namespace
