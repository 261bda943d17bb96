// The TLS relay's handshakes and trust (the fixture: testing/tls_relay_fixture.h):
// the server gets the value and the guest its placeholder, bytes a proxy
// read before the relay are replayed, an untrusted server or a guest that
// does not trust the sandbox CA gets nothing, setup errors say what.
// HTTP framing, injection per request and pooling: tls_relay_http_test.cc.
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "vmm/net/testing/tls_relay_fixture.h"

namespace {

using namespace tls_relay_testing;

TEST_F(TlsRelay, ServerSeesTheValueGuestSeesThePlaceholder)
{
        Target tgt;
        Served sv = Guest(good_port_, { Get("/v1/models") }, &tgt);
        EXPECT_EQ(0, sv.rc) << sv.msg;
        EXPECT_EQ(TLS_RELAY_DONE, sv.res.outcome);
        EXPECT_TRUE(sv.res.injected);
        EXPECT_NE(std::string::npos, sv.out.find("RESP HTTP/1.1 200 OK ok")) << sv.out;
        EXPECT_EQ(std::string::npos, sv.out.find(kValue)) << sv.out;
        // What proxy hooks report: the request line's method and path, the
        // answer's status.
        EXPECT_STREQ("GET", sv.res.method);
        EXPECT_STREQ("/v1/models", sv.res.path);
        EXPECT_EQ(200, sv.res.status);
        ASSERT_EQ(1u, tgt.results.size());
        EXPECT_EQ(1, tgt.before);
        std::string seen = Slurp(dir_ + "/seen_api");
        EXPECT_NE(std::string::npos, seen.find(std::string("Authorization: Bearer ") + kValue + "\r\n")) << seen;
        EXPECT_EQ(std::string::npos, seen.find(secret_.placeholder)) << seen;
        EXPECT_EQ(std::string::npos, sv.msg.find(kValue));
        EXPECT_FALSE(sv.res.resumed);
        EXPECT_FALSE(sv.res.reused);
}

// Bytes a proxy read off the guest's socket to sniff it (the whole
// ClientHello, or only its start) are replayed into the guest's TLS.
TEST_F(TlsRelay, BytesAlreadyReadAreReplayed)
{
        for (size_t prefix : { (size_t)1, (size_t)5, (size_t)100 }) {
                Served sv = Guest(good_port_, { Get("/") }, nullptr, "sandbox_ca.pem", nullptr, prefix);
                EXPECT_EQ(0, sv.rc) << prefix << ": " << sv.msg;
                EXPECT_TRUE(sv.res.injected) << prefix;
                EXPECT_NE(std::string::npos, sv.out.find("RESP HTTP/1.1 200 OK")) << prefix << ": " << sv.out;
                std::string seen = Slurp(dir_ + "/seen_api");
                EXPECT_NE(std::string::npos, seen.find(std::string("Authorization: Bearer ") + kValue + "\r\n"))
                        << prefix << ": " << seen;
                unlink((dir_ + "/seen_api").c_str());
        }
}

TEST_F(TlsRelay, ServerWithAnUntrustedCertificateGetsNothing)
{
        Served sv = Guest(bad_port_, { Get("/") });
        EXPECT_EQ(-EPROTO, sv.rc);
        EXPECT_EQ(TLS_RELAY_UPSTREAM_TLS, sv.res.outcome);
        EXPECT_NE(std::string::npos, sv.msg.find("certificate")) << sv.msg;
        EXPECT_NE(std::string::npos, sv.out.find("RESP HTTP/1.1 502")) << sv.out;
        EXPECT_EQ("", Slurp(dir_ + "/seen_bad"));
        EXPECT_EQ(std::string::npos, sv.msg.find(kValue));
}

TEST_F(TlsRelay, GuestThatDoesNotTrustTheSandboxCaGetsNoConnection)
{
        Target t;
        Served sv = Guest(good_port_, { Get("/") }, &t, "testca.pem");
        EXPECT_EQ(-EPROTO, sv.rc);
        EXPECT_EQ(TLS_RELAY_GUEST_TLS, sv.res.outcome);
        EXPECT_NE(std::string::npos, sv.out.find("CERTIFICATE_VERIFY_FAILED")) << sv.out;
        EXPECT_EQ("", Slurp(dir_ + "/seen_api"));
        EXPECT_EQ(1u, t.results.size());
}

TEST_F(TlsRelay, SetupErrorsSayWhat)
{
        struct tls_relay *relay = nullptr;
        struct ak_error err = {};
        struct tls_relay_config cfg = { ca_, &secret_, 1, "/nonexistent/roots.pem", 5000 };
        EXPECT_EQ(-EIO, tls_relay_new(&cfg, &relay, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "roots: /nonexistent/roots.pem")) << err.msg;
        strcpy(secret_.host, "elsewhere.example.com");
        cfg.roots_file = nullptr;
        EXPECT_EQ(-EACCES, tls_relay_new(&cfg, &relay, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "certificate for elsewhere.example.com")) << err.msg;
        EXPECT_EQ(nullptr, relay);
}

}  // namespace
