/* What the proxy reports (the fixture: testing/proxy_fixture.h): a denied host or
 * server name, a malformed request, TLS without a server name as net
 * events; and what its observer (the proxy hooks) is told of every flow.
 * The proxying itself: proxy_test.cc. */
#include "vmm/net/testing/proxy_fixture.h"

namespace {

using namespace proxy_testing;

TEST_F(ProxyTest, DeniedHostGets403AndIsReported)
{
        StartProxy();
        int before = http_accepted_;
        int fd = GuestConnect(80);
        std::string req = "GET / HTTP/1.1\r\nHost: denied.test\r\n\r\n";
        ASSERT_EQ(write(fd, req.data(), req.size()), (ssize_t)req.size());
        shutdown(fd, SHUT_WR); /* were it relayed, the server would answer */
        std::string resp = ReadAll(fd);
        close(fd);
        EXPECT_EQ(resp.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u) << resp;
        EXPECT_NE(resp.find("denied.test (rule test.deny)"), std::string::npos) << resp;
        EXPECT_EQ(http_accepted_, before) << "the server was reached";
        ASSERT_TRUE(WaitFor([&] { return events_.Size() == 1; }));
        net_event ev = events_.evs[0];
        EXPECT_EQ(ev.kind, NET_EVENT_HTTP_HOST);
        EXPECT_EQ(ev.protocol, IPPROTO_TCP);
        EXPECT_STREQ(ev.dst, kServer);
        EXPECT_EQ(ev.dst_port, 80);
        EXPECT_STREQ(ev.name, "denied.test");
        EXPECT_STREQ(ev.rule, "test.deny");
        EXPECT_EQ(net_reporter_denied(&rep_), 1u);
}

TEST_F(ProxyTest, MalformedRequestIsRefused)
{
        StartProxy();
        int fd = GuestConnect(80);
        std::string req = "GET / HTTP/1.1\r\nHost: allowed.test\r\nHost: denied.test\r\n\r\n";
        ASSERT_EQ(write(fd, req.data(), req.size()), (ssize_t)req.size());
        std::string resp = ReadAll(fd);
        close(fd);
        EXPECT_EQ(resp.rfind("HTTP/1.1 403", 0), 0u) << resp;
        ASSERT_TRUE(WaitFor([&] { return events_.Size() == 1; }));
        EXPECT_STREQ(events_.evs[0].rule, "http.malformed");
        EXPECT_EQ(policy_.asked, 0);
}

TEST_F(ProxyTest, DeniedSniIsRefusedAndReported)
{
        StartProxy();
        std::string out = SClient("-servername denied.test");
        EXPECT_EQ(out.find("HTTP/1.0 200 ok"), std::string::npos) << out;
        EXPECT_NE(out.find("access denied"), std::string::npos) << out;
        ASSERT_TRUE(WaitFor([&] { return events_.Size() == 1; }));
        net_event ev = events_.evs[0];
        EXPECT_EQ(ev.kind, NET_EVENT_TLS_SNI);
        EXPECT_STREQ(ev.dst, kServer);
        EXPECT_EQ(ev.dst_port, 443);
        EXPECT_STREQ(ev.name, "denied.test");
        EXPECT_STREQ(ev.rule, "test.deny");
}

TEST_F(ProxyTest, TlsWithoutSniAsksThePolicyWithNoName)
{
        StartProxy();
        std::string out = SClient("-noservername");
        EXPECT_EQ(out.find("HTTP/1.0 200 ok"), std::string::npos) << out;
        EXPECT_EQ(policy_.last_name, "(none)");
        ASSERT_TRUE(WaitFor([&] { return events_.Size() == 1; }));
        EXPECT_EQ(events_.evs[0].kind, NET_EVENT_TLS_SNI);
        EXPECT_STREQ(events_.evs[0].name, "");
        EXPECT_STREQ(events_.evs[0].rule, "test.no-name");
}

/* Proxy hooks for all proxied traffic: a plain-HTTP request is described
 * by method, host, path without its query, status and the bytes each way;
 * TLS that is only tunneled as one CONNECT with its server name and bytes;
 * a refusal with its rule; a handed-off connection not at all (its taker
 * reports it). */
TEST_F(ProxyTest, ObserverSeesWhatTheProxyCarries)
{
        StartProxy();
        int fd = GuestConnect(80);
        std::string req = "POST /upload/x?token=abc#f HTTP/1.1\r\nHost: allowed.test\r\nContent-Length: 4\r\n\r\nBODY";
        ASSERT_EQ(write(fd, req.data(), req.size()), (ssize_t)req.size());
        shutdown(fd, SHUT_WR);
        std::string resp = ReadAll(fd);
        close(fd);
        ASSERT_EQ(resp.rfind("HTTP/1.0 200 OK", 0), 0u) << resp;
        ASSERT_TRUE(WaitFor([&] { return flows_.Size() == 1; }));
        Flow f = flows_.At(0);
        EXPECT_EQ(f.proto, SNIFF_HTTP);
        EXPECT_EQ(f.name, "allowed.test");
        EXPECT_EQ(f.dst, kServer);
        EXPECT_EQ(f.port, 80);
        EXPECT_EQ(f.method, "POST");
        EXPECT_EQ(f.path, "/upload/x");
        EXPECT_EQ(f.status, 200);
        EXPECT_EQ(f.to_server, req.size());
        EXPECT_EQ(f.to_guest, resp.size());
        EXPECT_FALSE(f.has_refused);

        std::string out = SClient("-servername allowed.test");
        ASSERT_NE(out.find("HTTP/1.0 200 ok"), std::string::npos) << out;
        ASSERT_TRUE(WaitFor([&] { return flows_.Size() == 2; }));
        f = flows_.At(1);
        EXPECT_EQ(f.proto, SNIFF_TLS);
        EXPECT_EQ(f.name, "allowed.test");
        EXPECT_EQ(f.port, 443);
        EXPECT_EQ(f.method, "CONNECT");
        EXPECT_FALSE(f.has_path);
        EXPECT_EQ(f.status, 0);
        EXPECT_GT(f.to_server, 200u) << "a ClientHello and the request at least";
        EXPECT_GT(f.to_guest, 200u) << "the server's certificate at least";

        fd = GuestConnect(80);
        req = "GET /secret?q=1 HTTP/1.1\r\nHost: denied.test\r\n\r\n";
        ASSERT_EQ(write(fd, req.data(), req.size()), (ssize_t)req.size());
        resp = ReadAll(fd);
        close(fd);
        ASSERT_TRUE(WaitFor([&] { return flows_.Size() == 3; }));
        f = flows_.At(2);
        EXPECT_EQ(f.refused, "test.deny");
        EXPECT_EQ(f.method, "GET");
        EXPECT_EQ(f.path, "/secret");
        EXPECT_EQ(f.to_server, 0u);
        EXPECT_EQ(f.status, 0);

        fd = GuestConnect(80);
        req = "GET / HTTP/1.1\r\nHost: handoff.test\r\n\r\n";
        ASSERT_EQ(write(fd, req.data(), req.size()), (ssize_t)req.size());
        ReadAll(fd);
        close(fd);
        EXPECT_EQ(handoff_.taken, 1);
        usleep(200000);
        EXPECT_EQ(flows_.Size(), 3u) << "a handed-off connection is its taker's to describe";
}

} // namespace
