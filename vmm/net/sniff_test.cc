#include "vmm/net/sniff.h"

#include <errno.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace {

using Bytes = std::vector<uint8_t>;

Bytes ReadSeed(const std::string &name)
{
        std::ifstream f("vmm/net/fuzz/tls_corpus/" + name, std::ios::binary);
        EXPECT_TRUE(f.good()) << "missing seed " << name;
        return Bytes(std::istreambuf_iterator<char>(f), {});
}

void Put16(Bytes &b, size_t v)
{
        b.push_back((uint8_t)(v >> 8));
        b.push_back((uint8_t)v);
}

Bytes Ext(uint16_t type, const Bytes &data)
{
        Bytes b;
        Put16(b, type);
        Put16(b, data.size());
        b.insert(b.end(), data.begin(), data.end());
        return b;
}

/* server_name extension data with the given entries (type 0 each). */
Bytes SniData(const std::vector<std::string> &names)
{
        Bytes list;
        for (const auto &n : names) {
                list.push_back(0);
                Put16(list, n.size());
                list.insert(list.end(), n.begin(), n.end());
        }
        Bytes d;
        Put16(d, list.size());
        d.insert(d.end(), list.begin(), list.end());
        return d;
}

/* A ClientHello handshake message (type, 24-bit length, body). */
Bytes Hello(const std::vector<Bytes> &exts)
{
        Bytes body = { 3, 3 };
        body.insert(body.end(), 32, 0x11);
        body.push_back(0);                     /* session id */
        body.insert(body.end(), { 0, 2, 0x13, 0x01 }); /* one suite */
        body.insert(body.end(), { 1, 0 });     /* null compression */
        Bytes all;
        for (const auto &e : exts)
                all.insert(all.end(), e.begin(), e.end());
        Put16(body, all.size());
        body.insert(body.end(), all.begin(), all.end());
        Bytes h = { 1, (uint8_t)(body.size() >> 16), (uint8_t)(body.size() >> 8), (uint8_t)body.size() };
        h.insert(h.end(), body.begin(), body.end());
        return h;
}

/* The handshake bytes in records of at most frag bytes. */
Bytes Records(const Bytes &hs, size_t frag = 16384)
{
        Bytes b;
        for (size_t i = 0; i < hs.size(); i += frag) {
                size_t n = std::min(frag, hs.size() - i);
                b.insert(b.end(), { 22, 3, 1 });
                Put16(b, n);
                b.insert(b.end(), hs.begin() + (long)i, hs.begin() + (long)(i + n));
        }
        return b;
}

int Tls(const Bytes &b, std::string *name = nullptr)
{
        char n[SNIFF_NAME_MAX] = "";
        int r = sniff_tls(b.data(), b.size(), n);
        if (name)
                *name = n;
        return r;
}

int Http(const std::string &s, std::string *name = nullptr)
{
        char n[SNIFF_NAME_MAX] = "";
        int r = sniff_http((const uint8_t *)s.data(), s.size(), n);
        if (name)
                *name = n;
        return r;
}

TEST(SniffTls, RealClientHellos)
{
        struct {
                const char *seed, *name;
        } cases[] = {
                { "openssl_tls13", "example.com" },  { "openssl_tls12", "www.example.org" },
                { "openssl_tls10", "a.example" },    { "curl_default", "example.net" },
                { "openssl_tls13_fragmented", "example.com" },
        };
        for (const auto &c : cases) {
                std::string name;
                EXPECT_EQ(Tls(ReadSeed(c.seed), &name), SNIFF_NAME) << c.seed;
                EXPECT_EQ(name, c.name) << c.seed;
        }
        EXPECT_EQ(Tls(ReadSeed("openssl_nosni")), SNIFF_NONE);
}

TEST(SniffTls, EveryPrefixAsksForMore)
{
        Bytes b = ReadSeed("openssl_tls13_fragmented");
        for (size_t n = 0; n < b.size(); n++)
                ASSERT_EQ(Tls(Bytes(b.begin(), b.begin() + (long)n)), -EAGAIN) << n;
}

TEST(SniffTls, FragmentsGreaseAndCase)
{
        Bytes hs = Hello({ Ext(0x0a0a, {}), Ext(0, SniData({ "WWW.Example.COM." })), Ext(0xfafa, { 0 }) });
        for (size_t frag : { 1, 3, 100, 16384 }) {
                std::string name;
                EXPECT_EQ(Tls(Records(hs, frag), &name), SNIFF_NAME) << frag;
                EXPECT_EQ(name, "www.example.com");
        }
}

TEST(SniffTls, Malformed)
{
        auto sni = [](const std::string &n) { return Ext(0, SniData({ n })); };
        EXPECT_EQ(Tls(Records(Hello({ sni("a.example"), sni("b.example") }))), -EBADMSG) << "two SNI extensions";
        EXPECT_EQ(Tls(Records(Hello({ Ext(0, SniData({ "a.example", "b.example" })) }))), -EBADMSG) << "two names";
        EXPECT_EQ(Tls(Records(Hello({ Ext(0, {}) }))), -EBADMSG) << "empty SNI";
        EXPECT_EQ(Tls(Records(Hello({ Ext(5, {}), Ext(5, {}) }))), -EBADMSG) << "duplicate extension";
        for (const char *bad : { "a..b", "a b", "a/b", ".a", "[::1]", "a\x01", "x\xc3\xa9" })
                EXPECT_EQ(Tls(Records(Hello({ sni(bad) }))), -EBADMSG) << bad;
        EXPECT_EQ(Tls(Records(Hello({ sni(std::string(64, 'a') + ".b") }))), -EBADMSG) << "label of 64";
        Bytes hs = Hello({ sni("a.example") });
        Bytes trailing = hs;
        trailing.push_back(0);
        EXPECT_EQ(Tls(Records(trailing)), -EBADMSG) << "bytes after the hello in its flight";
        Bytes server_hello = hs;
        server_hello[0] = 2;
        EXPECT_EQ(Tls(Records(server_hello)), -EBADMSG);
        Bytes rec = Records(hs);
        rec[0] = 23;
        EXPECT_EQ(Tls(rec), -EBADMSG) << "application data record";
        Bytes huge = { 22, 3, 1, 0, 4, 1, 0x01, 0, 0 }; /* declares a 64 KiB hello */
        EXPECT_EQ(Tls(huge), -EBADMSG);
        Bytes zero = { 22, 3, 1, 0, 0 };
        EXPECT_EQ(Tls(zero), -EBADMSG) << "empty record";
        Bytes ext_len = Records(hs);
        ext_len[ext_len.size() - 1 - 9 - 4 - 1]++; /* the extensions' total length, off by one */
        EXPECT_EQ(Tls(ext_len), -EBADMSG);
}

TEST(SniffTls, NoExtensionsIsNoName)
{
        Bytes hs = Hello({});
        hs.resize(hs.size() - 2); /* no extensions block at all */
        hs[3] -= 2;
        EXPECT_EQ(Tls(Records(hs)), SNIFF_NONE);
}

TEST(SniffHttp, Host)
{
        std::string n;
        EXPECT_EQ(Http("GET / HTTP/1.1\r\nHost: Example.COM:8080\r\nAccept: */*\r\n\r\n", &n), SNIFF_NAME);
        EXPECT_EQ(n, "example.com");
        EXPECT_EQ(Http("GET / HTTP/1.1\r\nhOsT:\t a.example \r\n\r\nbody", &n), SNIFF_NAME);
        EXPECT_EQ(n, "a.example");
        EXPECT_EQ(Http("GET http://b.example/x HTTP/1.1\r\nHost: b.example\r\n\r\n", &n), SNIFF_NAME);
        EXPECT_EQ(n, "b.example");
        EXPECT_EQ(Http("GET HTTPS://C.example:443?q HTTP/1.1\r\n\r\n", &n), SNIFF_NAME) << "absolute-form alone";
        EXPECT_EQ(n, "c.example");
        EXPECT_EQ(Http("CONNECT d.example:443 HTTP/1.1\r\n\r\n", &n), SNIFF_NAME);
        EXPECT_EQ(n, "d.example");
        EXPECT_EQ(Http("GET / HTTP/1.1\r\nHost: [2001:DB8::1]:80\r\n\r\n", &n), SNIFF_NAME);
        EXPECT_EQ(n, "[2001:db8::1]");
        EXPECT_EQ(Http("GET / HTTP/1.0\r\n\r\n"), SNIFF_NONE);
        EXPECT_EQ(Http("GET / HTTP/1.1\r\nHost:\r\n\r\n"), SNIFF_NONE);
        EXPECT_EQ(Http("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), SNIFF_NONE);
}

TEST(SniffHttp, MoreAndMalformed)
{
        std::string req = "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
        for (size_t n = 0; n < req.size(); n++)
                ASSERT_EQ(Http(req.substr(0, n)), -EAGAIN) << n;
        const char *bad[] = {
                "GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n", /* two Hosts */
                "GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n",     /* URI vs Host */
                "GET http://a.example@b.example/ HTTP/1.1\r\n\r\n",              /* userinfo */
                "GET / HTTP/1.1\nHost: a.example\n\n",                           /* bare LF */
                "GET / HTTP/1.1\r\nX: y\r\n Host: b.example\r\n\r\n",            /* folding */
                "GET / HTTP/1.1\r\nHost : a.example\r\n\r\n",                    /* space before colon */
                "GET / HTTP/1.1\r\nHost: a.example:99999\r\n\r\n",               /* port */
                "GET / HTTP/1.1\r\nHost: a.example, b.example\r\n\r\n",          /* a list */
                "GET / HTTP/2\r\n\r\n",                                          /* version */
                "GET  / HTTP/1.1\r\n\r\n",                                       /* empty target */
                "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",                             /* lone CR */
        };
        for (const char *b : bad)
                EXPECT_EQ(Http(b), -EBADMSG) << b;
        std::string big = "GET / HTTP/1.1\r\nX: " + std::string(SNIFF_HEADERS_MAX, 'a');
        EXPECT_EQ(Http(big), -EBADMSG) << "head larger than the bound";
}

TEST(Sniff, TellsTheProtocol)
{
        char n[SNIFF_NAME_MAX];
        enum sniff_proto p = SNIFF_OTHER;
        std::string get = "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
        EXPECT_EQ(sniff((const uint8_t *)"GE", 2, &p, n), -EAGAIN);
        EXPECT_EQ(sniff((const uint8_t *)get.data(), get.size(), &p, n), SNIFF_NAME);
        EXPECT_EQ(p, SNIFF_HTTP);
        Bytes tls = ReadSeed("openssl_tls12");
        EXPECT_EQ(sniff(tls.data(), tls.size(), &p, n), SNIFF_NAME);
        EXPECT_EQ(p, SNIFF_TLS);
        EXPECT_STREQ(n, "www.example.org");
        EXPECT_EQ(sniff((const uint8_t *)"SSH-2.0-x\r\n", 11, &p, n), SNIFF_NONE);
        EXPECT_EQ(p, SNIFF_OTHER);
        const uint8_t sslv2[] = { 0x80, 0x2e, 0x01, 0x03, 0x01 };
        EXPECT_EQ(sniff(sslv2, sizeof(sslv2), &p, n), SNIFF_NONE);
        EXPECT_EQ(p, SNIFF_OTHER);
}

} // namespace
