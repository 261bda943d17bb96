// The resolver against a fake upstream on loopback (no VM, no namespace):
// policy verdicts, answers filtered, ids checked, timeouts, bounded state.
#include "vmm/net/resolver.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "vmm/net/dns_msg.h"

namespace {

// Answers A queries: name -> addresses; "silent" modes drop or corrupt.
class FakeUpstream {
    public:
        enum Mode { kAnswer, kSilent, kWrongId };
        FakeUpstream()
        {
                fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                sockaddr_in a = {};
                a.sin_family = AF_INET;
                a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                EXPECT_EQ(bind(fd_, (sockaddr *)&a, sizeof(a)), 0);
                socklen_t l = sizeof(a);
                getsockname(fd_, (sockaddr *)&a, &l);
                port_ = ntohs(a.sin_port);
                thread_ = std::thread([this] { Serve(); });
        }
        ~FakeUpstream()
        {
                stop_ = true;
                thread_.join();
                close(fd_);
        }
        uint16_t port() const { return port_; }
        std::atomic<Mode> mode{ kAnswer };
        std::atomic<int> queries{ 0 };
        std::vector<std::string> names()
        {
                std::lock_guard<std::mutex> g(mu_);
                return names_;
        }

    private:
        void Serve()
        {
                while (!stop_) {
                        pollfd p = { fd_, POLLIN, 0 };
                        if (poll(&p, 1, 50) <= 0)
                                continue;
                        uint8_t buf[512];
                        sockaddr_storage from;
                        socklen_t fl = sizeof(from);
                        ssize_t n = recvfrom(fd_, buf, sizeof(buf), 0, (sockaddr *)&from, &fl);
                        dns_query q;
                        if (n <= 0 || dns_msg_parse_query(buf, (size_t)n, &q) != 0)
                                continue;
                        queries++;
                        {
                                std::lock_guard<std::mutex> g(mu_);
                                names_.push_back(q.q.name);
                        }
                        if (mode == kSilent)
                                continue;
                        dns_answer a = {};
                        if (mode == kWrongId)
                                q.id++; /* the answer is built with the query's id */
                        a.q = q.q;
                        auto add = [&](uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3) {
                                dns_addr &d = a.addrs[a.n_addrs++];
                                d.family = AF_INET;
                                d.bytes[0] = b0, d.bytes[1] = b1, d.bytes[2] = b2, d.bytes[3] = b3;
                                d.ttl = 5;
                        };
                        std::string name = q.q.name;
                        if (name == "allowed.test" || name == "denied.test")
                                add(198, 18, 0, 1);
                        if (name == "allowed.test")
                                add(127, 0, 0, 1); /* rebinding: must not reach the guest */
                        if (name == "other.test")
                                add(198, 18, 0, 2);
                        uint8_t keep[DNS_MSG_MAX_ADDRS];
                        memset(keep, 1, sizeof(keep));
                        uint8_t out[512];
                        int len = dns_msg_build_answer(&q, &a, keep, out, sizeof(out));
                        sendto(fd_, out, (size_t)len, 0, (sockaddr *)&from, fl);
                }
        }
        int fd_ = -1;
        uint16_t port_ = 0;
        std::atomic<bool> stop_{ false };
        std::thread thread_;
        std::mutex mu_;
        std::vector<std::string> names_;
};

struct Seen {
        std::mutex mu;
        std::vector<std::pair<resolver_verdict, std::string>> addrs;
        std::vector<net_event> events;
};

void OnAddrs(void *ctx, resolver_verdict v, const dns_addr *a, size_t n)
{
        auto *s = static_cast<Seen *>(ctx);
        std::lock_guard<std::mutex> g(s->mu);
        for (size_t i = 0; i < n; i++) {
                char t[INET6_ADDRSTRLEN];
                inet_ntop(a[i].family, a[i].bytes, t, sizeof(t));
                s->addrs.emplace_back(v, t);
        }
}

void OnEvent(void *ctx, const net_event *ev)
{
        auto *s = static_cast<Seen *>(ctx);
        std::lock_guard<std::mutex> g(s->mu);
        s->events.push_back(*ev);
}

class ResolverTest : public ::testing::Test {
    protected:
        void SetUp() override
        {
                ak_error err = {};
                ASSERT_EQ(netloop_new(&loop_, &err), 0) << err.msg;
                net_reporter_init(&reporter_, OnEvent, &seen_, 1000, 1000);
                client_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                timeval tv = { 3, 0 };
                setsockopt(client_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        }
        void TearDown() override
        {
                resolver_free(res_);
                netloop_free(loop_);
                net_reporter_destroy(&reporter_);
                close(client_);
        }
        void Start(bool deny_unlisted, unsigned max_pending = 0, unsigned timeout_ms = 300)
        {
                std::string up = "127.0.0.1:" + std::to_string(upstream_.port());
                ak_error err = {};
                ASSERT_EQ(resolver_upstream_parse(up.c_str(), &ups_[0], &err), 0) << err.msg;
                resolver_config c = {};
                c.loop = loop_;
                c.netns_fd = -1;
                c.upstreams = ups_;
                c.n_upstreams = 1;
                c.allow = allow_;
                c.n_allow = 1;
                c.deny = deny_;
                c.n_deny = 1;
                c.deny_unlisted = deny_unlisted;
                c.blocked = blocked_;
                c.n_blocked = 2;
                c.reporter = &reporter_;
                c.on_addrs = OnAddrs;
                c.ctx = &seen_;
                c.max_pending = max_pending;
                c.timeout_ms = timeout_ms;
                ASSERT_EQ(resolver_new(&c, &res_, &err), 0) << err.msg;
        }
        void Send(const char *name, uint16_t id)
        {
                dns_question q = {};
                snprintf(q.name, sizeof(q.name), "%s", name);
                q.type = DNS_TYPE_A;
                q.klass = DNS_CLASS_IN;
                uint8_t msg[512];
                int n = dns_msg_build_query(id, 0x0100, &q, msg, sizeof(msg));
                sockaddr_in to = {};
                to.sin_family = AF_INET;
                to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                to.sin_port = htons(resolver_port(res_));
                ASSERT_EQ(sendto(client_, msg, (size_t)n, 0, (sockaddr *)&to, sizeof(to)), n);
        }
        // The next answer: 0 with a filled, or -1 on timeout.
        int Recv(dns_answer *a)
        {
                uint8_t buf[4096];
                ssize_t n = recv(client_, buf, sizeof(buf), 0);
                if (n <= 0)
                        return -1;
                return dns_msg_parse_answer(buf, (size_t)n, a);
        }
        dns_answer Ask(const char *name, uint16_t id = 77)
        {
                Send(name, id);
                dns_answer a = {};
                EXPECT_EQ(Recv(&a), 0) << name;
                EXPECT_EQ(a.id, id);
                EXPECT_STREQ(a.q.name, name);
                return a;
        }
        FakeUpstream upstream_;
        netloop *loop_ = nullptr;
        resolver *res_ = nullptr;
        net_reporter reporter_;
        Seen seen_;
        int client_ = -1;
        resolver_upstream ups_[1];
        const char *allow_[1] = { "allowed.test" };
        const char *deny_[1] = { "*.denied.test" };
        const char *blocked_[2] = { "127.0.0.0/8", "10.0.0.0/8" };
};

TEST_F(ResolverTest, AllowedNameForwardedWithoutBlockedAddresses)
{
        Start(true);
        dns_answer a = Ask("allowed.test");
        EXPECT_EQ(a.rcode, DNS_RCODE_NOERROR);
        ASSERT_EQ(a.n_addrs, 1u) << "the 127.0.0.1 record (rebinding) must be dropped";
        EXPECT_EQ(a.addrs[0].bytes[0], 198);
        std::lock_guard<std::mutex> g(seen_.mu);
        ASSERT_EQ(seen_.addrs.size(), 1u);
        EXPECT_EQ(seen_.addrs[0].first, RESOLVER_ALLOW);
        EXPECT_EQ(seen_.addrs[0].second, "198.18.0.1");
        ASSERT_EQ(seen_.events.size(), 1u);
        EXPECT_STREQ(seen_.events[0].rule, "dns-rebinding");
        EXPECT_STREQ(seen_.events[0].dst, "127.0.0.1");
        EXPECT_EQ(seen_.events[0].kind, NET_EVENT_DNS);
}

TEST_F(ResolverTest, DeniedNameNxdomainReportedAndItsAddressesDenied)
{
        Start(false);
        dns_answer a = Ask("x.denied.test");
        EXPECT_EQ(a.rcode, DNS_RCODE_NXDOMAIN);
        EXPECT_EQ(a.n_addrs, 0u);
        for (int i = 0; i < 100 && upstream_.queries < 1; i++)
                usleep(10000);
        usleep(50000);
        std::lock_guard<std::mutex> g(seen_.mu);
        ASSERT_EQ(seen_.events.size(), 1u);
        EXPECT_STREQ(seen_.events[0].rule, "egress.domain");
        EXPECT_STREQ(seen_.events[0].name, "x.denied.test");
        EXPECT_EQ(upstream_.queries, 1) << "a denied name is still resolved, for its addresses";
}

TEST_F(ResolverTest, UnlistedNameNotAskedUpstreamWhenDenyUnlisted)
{
        Start(true);
        dns_answer a = Ask("other.test");
        EXPECT_EQ(a.rcode, DNS_RCODE_NXDOMAIN);
        usleep(100000);
        EXPECT_EQ(upstream_.queries, 0) << "an unlisted name must not leave (a tunnel through the resolver)";
        EXPECT_EQ(net_reporter_denied(&reporter_), 1u);
}

TEST_F(ResolverTest, UnlistedNameForwardedOtherwise)
{
        Start(false);
        dns_answer a = Ask("other.test");
        EXPECT_EQ(a.rcode, DNS_RCODE_NOERROR);
        ASSERT_EQ(a.n_addrs, 1u);
        std::lock_guard<std::mutex> g(seen_.mu);
        EXPECT_TRUE(seen_.addrs.empty()) << "addresses of an unlisted name are left to the CIDR rules";
}

TEST_F(ResolverTest, WrongIdIgnoredThenServfailOnTimeout)
{
        Start(false, 0, 300);
        upstream_.mode = FakeUpstream::kWrongId;
        dns_answer a = Ask("other.test");
        EXPECT_EQ(a.rcode, DNS_RCODE_SERVFAIL);
        EXPECT_EQ(a.n_addrs, 0u);
}

TEST_F(ResolverTest, FloodBoundedByMaxPending)
{
        Start(false, 4, 500);
        upstream_.mode = FakeUpstream::kSilent;
        for (int i = 0; i < 10; i++)
                Send("other.test", (uint16_t)i);
        // 6 answered SERVFAIL at once (no slot), 4 after their timeout.
        int servfail = 0;
        for (int i = 0; i < 10; i++) {
                dns_answer a = {};
                ASSERT_EQ(Recv(&a), 0) << i;
                servfail += a.rcode == DNS_RCODE_SERVFAIL;
        }
        EXPECT_EQ(servfail, 10);
        EXPECT_EQ(upstream_.queries, 4) << "only max_pending queries in flight";
}

// A TCP connection to the resolver's port, with a receive timeout.
int TcpConnect(uint16_t port)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        timeval tv = { 3, 0 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        sockaddr_in to = {};
        to.sin_family = AF_INET;
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        to.sin_port = htons(port);
        if (connect(fd, (sockaddr *)&to, sizeof(to)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

// One query over TCP (2-byte length first), its answer: 0, or -1 when the
// connection ended or timed out.
int TcpAsk(int fd, const char *name, uint16_t id, dns_answer *a)
{
        dns_question q = {};
        snprintf(q.name, sizeof(q.name), "%s", name);
        q.type = DNS_TYPE_A;
        q.klass = DNS_CLASS_IN;
        uint8_t msg[514];
        int n = dns_msg_build_query(id, 0x0100, &q, msg + 2, sizeof(msg) - 2);
        msg[0] = (uint8_t)(n >> 8);
        msg[1] = (uint8_t)n;
        if (write(fd, msg, (size_t)n + 2) != n + 2)
                return -1;
        uint8_t buf[4096 + 2];
        size_t have = 0;
        while (have < 2 || have < 2 + (size_t)(buf[0] << 8 | buf[1])) {
                ssize_t k = recv(fd, buf + have, sizeof(buf) - have, 0);
                if (k <= 0)
                        return -1;
                have += (size_t)k;
        }
        return dns_msg_parse_answer(buf + 2, have - 2, a);
}

TEST_F(ResolverTest, TcpQueriesAnsweredOneAfterAnother)
{
        Start(true);
        int fd = TcpConnect(resolver_port(res_));
        ASSERT_GE(fd, 0);
        dns_answer a = {};
        ASSERT_EQ(TcpAsk(fd, "allowed.test", 5, &a), 0);
        EXPECT_EQ(a.id, 5);
        ASSERT_EQ(a.n_addrs, 1u);
        EXPECT_EQ(a.addrs[0].bytes[0], 198);
        ASSERT_EQ(TcpAsk(fd, "other.test", 6, &a), 0) << "a second query on the same connection";
        EXPECT_EQ(a.rcode, DNS_RCODE_NXDOMAIN);
        close(fd);
}

TEST_F(ResolverTest, TcpBoundedAndOversizeRefused)
{
        Start(true);
        int fds[RESOLVER_MAX_TCP];
        for (int &fd : fds) {
                fd = TcpConnect(resolver_port(res_));
                ASSERT_GE(fd, 0);
        }
        usleep(100000);
        // One more than the bound: accepted by the kernel, closed by us.
        int extra = TcpConnect(resolver_port(res_));
        ASSERT_GE(extra, 0);
        char c;
        EXPECT_EQ(recv(extra, &c, 1, 0), 0) << "connection over the bound not closed";
        close(extra);
        // A length over DNS_MSG_UDP_MAX: the connection is closed.
        uint8_t big[2] = { 0xff, 0xff };
        ASSERT_EQ(write(fds[0], big, 2), 2);
        EXPECT_EQ(recv(fds[0], &c, 1, 0), 0);
        // The others still work.
        dns_answer a = {};
        EXPECT_EQ(TcpAsk(fds[1], "allowed.test", 9, &a), 0);
        for (int fd : fds)
                close(fd);
}

TEST(ResolverUpstream, Parse)
{
        resolver_upstream u;
        ak_error err = {};
        ASSERT_EQ(resolver_upstream_parse("198.18.0.53", &u, &err), 0);
        EXPECT_EQ(ntohs(((sockaddr_in *)&u.addr)->sin_port), 53);
        ASSERT_EQ(resolver_upstream_parse("127.0.0.1:5353", &u, &err), 0);
        EXPECT_EQ(ntohs(((sockaddr_in *)&u.addr)->sin_port), 5353);
        ASSERT_EQ(resolver_upstream_parse("[::1]:54", &u, &err), 0);
        EXPECT_EQ(u.addr.ss_family, AF_INET6);
        ASSERT_EQ(resolver_upstream_parse("fd00::53", &u, &err), 0);
        for (const char *bad : { "", "x.test", "1.2.3.4:0", "1.2.3.4:70000", "[::1", "1.2.3.4:" }) {
                EXPECT_EQ(resolver_upstream_parse(bad, &u, &err), -EINVAL) << bad;
                EXPECT_NE(std::string(err.msg).find(bad), std::string::npos) << err.msg;
        }
        resolver_upstream ups[4];
        EXPECT_EQ(resolver_upstreams_from_resolv_conf("# x\nnameserver 127.0.0.53\nsearch a\nnameserver ::1\n",
                                                      ups, 4),
                  2u);
}

} // namespace
