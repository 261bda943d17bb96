// The denial log, end to end without a VM: a network namespace of the
// test's own with vmm_net's rules loaded, packets sent from inside to
// addresses the rules drop (a veth pair inside it: nothing leaves the namespace),
// and what the NFLOG reader makes of them.
#include "vmm/net/nflog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netlink.h>

#include <chrono>
#include <functional>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "vmm/backend/vmm_net.h"
#include "vmm/net/netloop.h"

namespace {

void *NewNsThread(void *arg)
{
        int *fd = static_cast<int *>(arg);
        *fd = unshare(CLONE_NEWNET) < 0 ? -errno : open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        return nullptr;
}

int Sh(const std::string &cmd)
{
        return system(("PATH=/usr/sbin:/sbin:/usr/bin:/bin " + cmd).c_str());
}

struct Sink {
        std::mutex mu;
        std::vector<net_event> events;
};

void Collect(void *ctx, const net_event *ev)
{
        auto *s = static_cast<Sink *>(ctx);
        std::lock_guard<std::mutex> g(s->mu);
        s->events.push_back(*ev);
}

// What a process inside the namespace sends.
struct Send {
        int family, type;
        const char *addr;
        uint16_t port;
        int count;
        int first_errno;
};

int SendMain(void *arg)
{
        auto *s = static_cast<Send *>(arg);
        s->first_errno = 0;
        for (int i = 0; i < s->count; i++) {
                int fd = socket(s->family, s->type | SOCK_CLOEXEC | (s->type == SOCK_STREAM ? SOCK_NONBLOCK : 0), 0);
                if (fd < 0)
                        return -errno;
                sockaddr_storage ss = {};
                socklen_t len;
                if (s->family == AF_INET) {
                        auto *a = reinterpret_cast<sockaddr_in *>(&ss);
                        a->sin_family = AF_INET;
                        a->sin_port = htons(s->port);
                        inet_pton(AF_INET, s->addr, &a->sin_addr);
                        len = sizeof(*a);
                } else {
                        auto *a = reinterpret_cast<sockaddr_in6 *>(&ss);
                        a->sin6_family = AF_INET6;
                        a->sin6_port = htons(s->port);
                        inet_pton(AF_INET6, s->addr, &a->sin6_addr);
                        len = sizeof(*a);
                }
                int r = s->type == SOCK_STREAM ? connect(fd, reinterpret_cast<sockaddr *>(&ss), len)
                                               : (int)sendto(fd, "x", 1, 0, reinterpret_cast<sockaddr *>(&ss), len);
                if (r < 0 && !s->first_errno)
                        s->first_errno = errno;
                close(fd);
        }
        return 0;
}

class NflogTest : public ::testing::Test {
    protected:
        void SetUp() override
        {
                if (geteuid() != 0)
                        GTEST_SKIP() << "needs root (a network namespace, nft)";
                pthread_t t;
                ASSERT_EQ(pthread_create(&t, nullptr, NewNsThread, &ns_), 0);
                pthread_join(t, nullptr);
                ASSERT_GE(ns_, 0) << strerror(-ns_);
                nsenter_ = "nsenter --net=/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(ns_) + " ";
                // A veth pair (both ends here) with a default route: private and public
                // destinations are routable, so the output chain decides.
                ASSERT_EQ(Sh(nsenter_ + "sh -c 'ip link set lo up && ip link add d0 type veth peer name d1 && ip link set d1 up && "
                                        "ip addr add 192.0.2.1/24 dev d0 && ip link set d0 up && "
                                        "ip route add default dev d0 && ip -6 addr add 2001:db8::1/64 dev d0 nodad && "
                                        "ip -6 route add default dev d0'"),
                          0);
                const char *deny[] = { "203.0.113.0/24" };
                const char *allow[] = { "198.18.0.0/15" };
                const char *edeny[] = { "198.51.100.0/25" };
                uint16_t ports[] = { 80, 443 };
                vmm_net_egress eg = { allow, 1, edeny, 1, ports, 2 };
                char *rules = nullptr;
                ASSERT_EQ(vmm_net_ns_rules("100.96.0.0/16", nullptr, 0, deny, 1, nullptr, 0, &eg, &rules), 0);
                char path[] = "/tmp/nflog_test_rules.XXXXXX";
                int fd = mkstemp(path);
                ASSERT_GE(fd, 0);
                ASSERT_EQ(write(fd, rules, strlen(rules)), (ssize_t)strlen(rules));
                close(fd);
                free(rules);
                int r = Sh(nsenter_ + "nft -f " + path);
                unlink(path);
                ASSERT_EQ(r, 0) << "the generated ruleset must load";
        }
        void TearDown() override
        {
                if (ns_ >= 0)
                        close(ns_);
        }
        int Run(Send *s) { return netns_call(ns_, SendMain, s); }

        int ns_ = -1;
        std::string nsenter_;
};

bool WaitFor(const std::function<bool()> &done, int ms)
{
        for (int i = 0; i < ms / 10 && !done(); i++)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
        return done();
}

const net_event *Find(const std::vector<net_event> &evs, const char *dst, int proto)
{
        for (const auto &e : evs)
                if (e.dst == std::string(dst) && e.protocol == proto)
                        return &e;
        return nullptr;
}

TEST_F(NflogTest, EachDropIsReportedWithItsDestinationPortProtocolAndRule)
{
        Sink sink;
        net_reporter rep;
        net_reporter_init(&rep, Collect, &sink, 1000, 1000);
        nflog *log = nullptr;
        ak_error err = {};
        ASSERT_EQ(nflog_start(ns_, VMM_NET_NFLOG_GROUP, &rep, &log, &err), 0) << err.msg;

        Send sends[] = {
                { AF_INET, SOCK_DGRAM, "127.0.0.1", 9, 1, 0 },      // loopback (oifname lo)
                { AF_INET, SOCK_STREAM, "10.1.2.3", 443, 1, 0 },     // private
                { AF_INET, SOCK_DGRAM, "169.254.169.254", 80, 1, 0 }, // link-local
                { AF_INET, SOCK_STREAM, "203.0.113.9", 80, 1, 0 },   // operator-deny
                { AF_INET, SOCK_STREAM, "198.51.100.5", 443, 1, 0 }, // egress.deny
                { AF_INET, SOCK_STREAM, "198.51.100.200", 22, 1, 0 }, // egress.ports
                { AF_INET6, SOCK_DGRAM, "fd00::5", 443, 1, 0 },      // private (v6)
        };
        const char *rules[] = { "loopback", "private", "link-local", "operator-deny", "egress.deny", "egress.ports",
                                "private" };
        for (auto &s : sends) {
                ASSERT_EQ(Run(&s), 0);
                // UDP: the drop refuses the send at once; a non-blocking
                // TCP connect reports it later (EINPROGRESS first).
                if (s.type == SOCK_DGRAM) {
                        EXPECT_EQ(s.first_errno, EPERM) << s.addr;
                }
        }
        ASSERT_TRUE(WaitFor(
                [&] {
                        std::lock_guard<std::mutex> g(sink.mu);
                        return sink.events.size() >= 7;
                },
                5000))
                << "got " << sink.events.size() << " of 7 events";
        std::lock_guard<std::mutex> g(sink.mu);
        for (size_t i = 0; i < 7; i++) {
                int proto = sends[i].type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
                const net_event *e = Find(sink.events, sends[i].addr, proto);
                ASSERT_NE(e, nullptr) << "no event for " << sends[i].addr;
                EXPECT_EQ(e->kind, NET_EVENT_CONNECT);
                EXPECT_EQ(e->dst_port, sends[i].port) << sends[i].addr;
                EXPECT_STREQ(e->rule, rules[i]) << sends[i].addr;
        }
        nflog_stop(log);
        EXPECT_GE(net_reporter_denied(&rep), 7u);
        net_reporter_destroy(&rep);
}

TEST_F(NflogTest, AFloodIsAllCountedButPassedOnAtTheRate)
{
        Sink sink;
        net_reporter rep;
        const unsigned rate = 20, burst = 50;
        net_reporter_init(&rep, Collect, &sink, rate, burst);
        nflog *log = nullptr;
        ak_error err = {};
        ASSERT_EQ(nflog_start(ns_, VMM_NET_NFLOG_GROUP, &rep, &log, &err), 0) << err.msg;
        auto t0 = std::chrono::steady_clock::now();
        Send flood = { AF_INET, SOCK_DGRAM, "127.0.0.1", 9, 10000, 0 };
        ASSERT_EQ(Run(&flood), 0);
        EXPECT_EQ(flood.first_errno, EPERM);
        bool all = WaitFor([&] { return net_reporter_denied(&rep) >= 10000; }, 10000);
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        uint64_t denied = net_reporter_denied(&rep);
        nflog_stop(log);
        EXPECT_TRUE(all) << "counted " << denied << " of 10000 (overruns " << "n/a" << ")";
        // The namespace's own IPv6 chatter (MLD, router solicitations to
        // ff02::) is denied and counted too: a few more.
        EXPECT_GE(denied, 10000u);
        EXPECT_LE(denied, 10010u);
        std::lock_guard<std::mutex> g(sink.mu);
        EXPECT_GE(sink.events.size(), (size_t)burst);
        EXPECT_LE(sink.events.size(), burst + rate * secs + 1) << "in " << secs << " s";
        uint64_t sum = 0;
        for (const auto &e : sink.events)
                sum += 1 + e.suppressed;
        EXPECT_LE(sum, denied);
        std::printf("flood: 10000 sends, %llu counted, %zu passed on in %.3f s\n", (unsigned long long)denied,
                    sink.events.size(), secs);
        net_reporter_destroy(&rep);
}

// Real messages from the kernel, parsed directly; with NFLOG_CORPUS_DIR
// set, saved as the fuzzer's seeds.
TEST_F(NflogTest, RawMessagesParse)
{
        ak_error err = {};
        int fd = nflog_open(ns_, VMM_NET_NFLOG_GROUP, &err);
        ASSERT_GE(fd, 0) << err.msg;
        Send sends[] = {
                { AF_INET, SOCK_STREAM, "10.9.8.7", 8080, 1, 0 },
                { AF_INET6, SOCK_STREAM, "fc00::9", 443, 1, 0 },
                { AF_INET, SOCK_DGRAM, "172.16.0.1", 5353, 1, 0 },
        };
        const char *corpus = getenv("NFLOG_CORPUS_DIR");
        int got = 0;
        for (size_t i = 0; i < sizeof(sends) / sizeof(sends[0]); i++) {
                ASSERT_EQ(Run(&sends[i]), 0);
                // The namespace's own IPv6 chatter (router solicitations, MLD
                // to ff02::) is logged too, in the same message or in one of
                // its own, before or after ours: read until this send's event
                // comes, parsing (and saving) every message on the way.
                bool found = false;
                for (int k = 0, saved = 0; k < 300 && !found;) {
                        unsigned char buf[8192];
                        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                        if (n <= 0) {
                                std::this_thread::sleep_for(std::chrono::milliseconds(10));
                                k++;
                                continue;
                        }
                        if (corpus) {
                                std::string p = std::string(corpus) + "/kernel_" + std::to_string(i) + "_" +
                                                std::to_string(saved++);
                                FILE *f = fopen(p.c_str(), "wb");
                                ASSERT_NE(f, nullptr);
                                fwrite(buf, 1, (size_t)n, f);
                                fclose(f);
                        }
                        std::vector<net_event> evs;
                        int r = nflog_parse(
                                buf, (size_t)n,
                                [](void *ctx, net_event *ev) {
                                        static_cast<std::vector<net_event> *>(ctx)->push_back(*ev);
                                },
                                &evs);
                        ASSERT_GE(r, 1) << "a kernel NFLOG message with no event";
                        for (const net_event &e : evs)
                                found = found || (e.dst == std::string(sends[i].addr) && e.dst_port == sends[i].port);
                }
                EXPECT_TRUE(found) << "no NFLOG event for " << sends[i].addr << ":" << sends[i].port;
                got += found;
        }
        EXPECT_EQ(got, 3);
        close(fd);
}

TEST(NflogParse, RejectsTruncatedAndSkipsForeign)
{
        unsigned char junk[64] = {};
        auto none = [](void *, net_event *) { ADD_FAILURE() << "no event from junk"; };
        EXPECT_EQ(nflog_parse(junk, 0, none, nullptr), 0);
        EXPECT_EQ(nflog_parse(junk, 3, none, nullptr), 0);
        // A header claiming more than the buffer.
        nlmsghdr h = {};
        h.nlmsg_len = 1000;
        memcpy(junk, &h, sizeof(h));
        EXPECT_EQ(nflog_parse(junk, sizeof(junk), none, nullptr), -EBADMSG);
        // A message of another type is skipped.
        h.nlmsg_len = sizeof(junk);
        h.nlmsg_type = 0x1234;
        memcpy(junk, &h, sizeof(h));
        EXPECT_EQ(nflog_parse(junk, sizeof(junk), none, nullptr), 0);
}

}  // namespace
