// The TLS relay's HTTP (the fixture: testing/tls_relay_fixture.h): every request
// on a guest connection injected, hooked and checked; requests and responses
// framed one way only; server connections pooled, not pooled when they
// cannot carry another request, retried when stale only if idempotent.
// Handshakes and trust: tls_relay_test.cc.
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "vmm/net/testing/tls_relay_fixture.h"

namespace {

using namespace tls_relay_testing;

// Every request on one guest connection is rewritten, hooked and read
// with the values as they are then: a rotation between two requests on the
// same connection reaches the server with the second.
TEST_F(TlsRelay, EveryRequestOnAConnectionIsInjectedHookedAndRotated)
{
        Target tgt;
        tgt.on_before = [&](int n) {
                if (n == 3) {
                        value_ = "sk-rotated-value";
                        secret_.value = (const uint8_t *)value_.data();
                        secret_.value_len = value_.size();
                }
        };
        Served sv = Guest(good_port_,
                          { Get("/one"), Get("/two", "Content-Length: 4\r\n", "POST") + "body", Get("/three"),
                            Get("/chunked") },
                          &tgt);
        EXPECT_EQ(0, sv.rc) << sv.msg;
        EXPECT_EQ(3u, Count(sv.out, "RESP HTTP/1.1 200 OK ok\n")) << sv.out;
        EXPECT_NE(std::string::npos, sv.out.find("RESP HTTP/1.1 200 OK okabc")) << sv.out;
        ASSERT_EQ(4u, tgt.results.size());
        EXPECT_EQ(4, tgt.before);
        const char *paths[] = { "/one", "/two", "/three", "/chunked" };
        for (unsigned i = 0; i < 4; i++) {
                EXPECT_EQ(TLS_RELAY_DONE, tgt.results[i].outcome) << i;
                EXPECT_TRUE(tgt.results[i].injected) << i;
                EXPECT_STREQ(paths[i], tgt.results[i].path) << i;
                EXPECT_EQ(200, tgt.results[i].status) << i;
                EXPECT_EQ(i + 1, tgt.results[i].request) << i;
        }
        EXPECT_STREQ("POST", tgt.results[1].method);
        std::vector<std::string> seen = Seen();
        ASSERT_EQ(4u, seen.size());
        EXPECT_NE(std::string::npos, seen[0].find(std::string("Bearer ") + kValue)) << seen[0];
        EXPECT_NE(std::string::npos, seen[1].find("\r\n\r\nbody")) << seen[1];
        EXPECT_NE(std::string::npos, seen[2].find("Bearer sk-rotated-value")) << seen[2];
        EXPECT_NE(std::string::npos, seen[3].find("Bearer sk-rotated-value")) << seen[3];
        // all four over one server connection (the pool kept it between them)
        for (const std::string &r : seen)
                EXPECT_EQ(ConnOf(seen[0]), ConnOf(r));
        EXPECT_TRUE(tgt.results[1].reused);
        EXPECT_EQ(1, tgt.connects);
}

// The second request on a keep-alive guest connection carries the
// placeholder in its URL: refused (403), audited through the hook, and
// nothing of it reaches the server; the first went through.
TEST_F(TlsRelay, SecondRequestWithThePlaceholderInTheUrlIsRefused)
{
        Target tgt;
        std::string leak = "GET /leak?k=" + std::string(secret_.placeholder) + " HTTP/1.1\r\nHost: api.example.com\r\n\r\n";
        Served sv = Guest(good_port_, { Get("/first"), leak, Get("/after") }, &tgt);
        EXPECT_EQ(-EACCES, sv.rc);
        EXPECT_NE(std::string::npos, sv.out.find("RESP HTTP/1.1 200 OK ok")) << sv.out;
        // framed by its length: the whole body, then the end of the connection
        EXPECT_NE(std::string::npos,
                  sv.out.find("RESP HTTP/1.1 403 Forbidden ak secret relay: a secret's placeholder where it may not "
                              "go\n\nEOF"))
                << sv.out;
        EXPECT_NE(std::string::npos, sv.out.find("EOF")) << sv.out;
        ASSERT_EQ(2u, tgt.results.size());
        EXPECT_EQ(TLS_RELAY_DONE, tgt.results[0].outcome);
        EXPECT_EQ(TLS_RELAY_REFUSED_SECRET, tgt.results[1].outcome);
        EXPECT_STREQ("/leak", tgt.results[1].path);
        EXPECT_NE(std::string::npos, tgt.errors[1].find("placeholder where it may not go")) << tgt.errors[1];
        std::string seen = Slurp(dir_ + "/seen_api");
        EXPECT_NE(std::string::npos, seen.find("/first")) << seen;
        EXPECT_EQ(std::string::npos, seen.find("/leak")) << seen;
        EXPECT_EQ(std::string::npos, seen.find("/after")) << seen;
        EXPECT_EQ(std::string::npos, seen.find(secret_.placeholder)) << seen;
}

// Request smuggling: a head framed two ways never reaches the server, in
// first place or behind a good request on the same connection.
TEST_F(TlsRelay, AmbiguouslyFramedRequestsAreRefused)
{
        const std::string bad[] = {
                Get("/te-cl", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "POST") + "0\r\n\r\n",
                Get("/cl-cl", "Content-Length: 5\r\nContent-Length: 6\r\n", "POST") + "hello!",
                Get("/fold", "X-A: 1\r\n folded\r\n"),
                Get("/te-gzip", "Transfer-Encoding: gzip\r\n", "POST"),
                Get("/badchunk", "Transfer-Encoding: chunked\r\n", "POST") + "zz\r\nhello\r\n0\r\n\r\n",
        };
        for (const std::string &b : bad) {
                Target tgt;
                Served sv = Guest(good_port_, { Get("/good"), b }, &tgt);
                EXPECT_EQ(-EBADMSG, sv.rc) << b;
                EXPECT_NE(std::string::npos, sv.out.find("RESP HTTP/1.1 400 Bad Request")) << b << sv.out;
                ASSERT_EQ(2u, tgt.results.size()) << b;
                EXPECT_EQ(TLS_RELAY_BAD_REQUEST, tgt.results[1].outcome) << b;
        }
        std::string seen = Slurp(dir_ + "/seen_api");
        EXPECT_EQ(5u, Count(seen, "/good")) << seen;
        for (const char *p : { "/te-cl", "/cl-cl", "/fold", "/te-gzip" })
                EXPECT_EQ(std::string::npos, seen.find(p)) << p << seen;
}

// The guest closes after each request (its own Connection: close); the
// relay keeps the server connection and the next guest connection's
// request goes over it.
TEST_F(TlsRelay, ServerConnectionIsPooledAcrossGuestConnections)
{
        struct tls_relay *relay = nullptr;
        struct ak_error err = {};
        ASSERT_EQ(0, tls_relay_new(&cfg_, &relay, &err)) << err.msg;
        Target t1, t2;
        Served a = Guest(good_port_, { Get("/a", "Connection: close\r\n") }, &t1, "sandbox_ca.pem", relay);
        EXPECT_EQ(0, a.rc) << a.msg;
        EXPECT_EQ(1u, tls_relay_pooled(relay));
        Served b = Guest(good_port_, { Get("/b", "Connection: close\r\n") }, &t2, "sandbox_ca.pem", relay);
        EXPECT_EQ(0, b.rc) << b.msg;
        EXPECT_NE(std::string::npos, b.out.find("RESP HTTP/1.1 200 OK ok")) << b.out;
        EXPECT_TRUE(b.res.reused);
        EXPECT_EQ(0, t2.connects);
        std::vector<std::string> seen = Seen();
        ASSERT_EQ(2u, seen.size());
        EXPECT_EQ(ConnOf(seen[0]), ConnOf(seen[1]));
        // the guest's Connection header is not the server's business
        EXPECT_EQ(std::string::npos, seen[0].find("Connection:")) << seen[0];
        tls_relay_pool_flush(relay); /* the VM's network went away */
        EXPECT_EQ(0u, tls_relay_pooled(relay));
        Target t3;
        Served c = Guest(good_port_, { Get("/c") }, &t3, "sandbox_ca.pem", relay);
        EXPECT_EQ(0, c.rc) << c.msg;
        EXPECT_EQ(1, t3.connects) << "a new server connection after the flush";
        tls_relay_free(relay); /* closes what the pool holds */
}

// Connections that cannot carry another request are not pooled: a
// close-delimited answer, Connection: close; nor with pooling off.
TEST_F(TlsRelay, ClosingServerConnectionsAreNotPooled)
{
        struct tls_relay *relay = nullptr;
        struct ak_error err = {};
        ASSERT_EQ(0, tls_relay_new(&cfg_, &relay, &err)) << err.msg;
        Served a = Guest(good_port_, { Get("/close"), Get("/never") }, nullptr, "sandbox_ca.pem", relay);
        EXPECT_EQ(0, a.rc) << a.msg;
        EXPECT_NE(std::string::npos, a.out.find("RESP HTTP/1.1 200 OK closed-body")) << a.out;
        EXPECT_NE(std::string::npos, a.out.find("EOF")) << a.out; /* the guest's connection ended with it */
        EXPECT_EQ(0u, tls_relay_pooled(relay));
        Target t;
        Served b = Guest(good_port_, { Get("/bye"), Get("/x") }, &t, "sandbox_ca.pem", relay);
        EXPECT_NE(std::string::npos, b.out.find("RESP HTTP/1.1 200 OK bye")) << b.out;
        EXPECT_EQ(0u, tls_relay_pooled(relay));
        EXPECT_EQ(1, t.connects);
        EXPECT_EQ(std::string::npos, Slurp(dir_ + "/seen_api").find("/never"));
        tls_relay_free(relay);

        cfg_.no_pool = true;
        ASSERT_EQ(0, tls_relay_new(&cfg_, &relay, &err)) << err.msg;
        Target t3;
        Served c = Guest(good_port_, { Get("/p1"), Get("/p2") }, &t3, "sandbox_ca.pem", relay);
        EXPECT_EQ(2u, Count(c.out, "RESP HTTP/1.1 200 OK ok")) << c.out;
        EXPECT_EQ(2, t3.connects);
        EXPECT_EQ(0u, tls_relay_pooled(relay));
        ASSERT_EQ(2u, t3.results.size());
        EXPECT_TRUE(t3.results[1].resumed) << "a new server connection resumes the last session";
        tls_relay_free(relay);
}

// A pooled connection the server closes as the next request arrives: an
// idempotent request is sent again on a new connection; a POST is not.
TEST_F(TlsRelay, StalePooledConnectionIsRetriedOnlyWhenIdempotent)
{
        struct tls_relay *relay = nullptr;
        struct ak_error err = {};
        ASSERT_EQ(0, tls_relay_new(&cfg_, &relay, &err)) << err.msg;
        Target t;
        Served a = Guest(good_port_, { Get("/drop-next"), Get("/again") }, &t, "sandbox_ca.pem", relay);
        EXPECT_EQ(0, a.rc) << a.msg;
        EXPECT_EQ(2u, Count(a.out, "RESP HTTP/1.1 200 OK ok")) << a.out;
        ASSERT_EQ(2u, t.results.size());
        EXPECT_TRUE(t.results[1].retried);
        EXPECT_EQ(2, t.connects);
        Target t2;
        Served b = Guest(good_port_, { Get("/drop-next"), Get("/post", "Content-Length: 2\r\n", "POST") + "hi" }, &t2,
                         "sandbox_ca.pem", relay);
        EXPECT_NE(std::string::npos, b.out.find("RESP HTTP/1.1 502 Bad Gateway")) << b.out;
        ASSERT_EQ(2u, t2.results.size());
        EXPECT_FALSE(t2.results[1].retried);
        EXPECT_EQ(TLS_RELAY_IO, t2.results[1].outcome);
        EXPECT_NE(std::string::npos, t2.errors[1].find("closed the connection without answering")) << t2.errors[1];
        tls_relay_free(relay);
}

// Responses: chunked with trailers, HEAD's length without a body, 1xx
// before the final answer: each framed right, so the next request on the
// same connections still works; one framed two ways is a 502.
TEST_F(TlsRelay, ResponsesAreFramedAndAmbiguousOnesRefused)
{
        Target t;
        Served a = Guest(good_port_,
                         { Get("/chunked"), Get("/h", "", "HEAD"),
                           Get("/e", "Expect: 100-continue\r\nContent-Length: 3\r\n", "PUT") + "abc", Get("/last") },
                         &t);
        EXPECT_EQ(0, a.rc) << a.msg;
        EXPECT_NE(std::string::npos, a.out.find("RESP HTTP/1.1 200 OK okabc")) << a.out;
        EXPECT_EQ(4u, Count(a.out, "RESP HTTP/1.1 200 OK")) << a.out;
        ASSERT_EQ(4u, t.results.size());
        EXPECT_EQ(200, t.results[2].status);
        EXPECT_EQ(1, t.connects);
        Target t2;
        Served b = Guest(good_port_, { Get("/smuggle"), Get("/x") }, &t2);
        EXPECT_EQ(-EBADMSG, b.rc);
        EXPECT_NE(std::string::npos, b.out.find("RESP HTTP/1.1 502 Bad Gateway")) << b.out;
        ASSERT_EQ(1u, t2.results.size());
        EXPECT_EQ(TLS_RELAY_BAD_RESPONSE, t2.results[0].outcome);
}

}  // namespace
