// Placeholder to value in request heads; refusals where a placeholder may not go.
#include <errno.h>
#include <string.h>

#include <string>

#include <gtest/gtest.h>

#include "vmm/net/inject.h"

namespace {

const char kValue[] = "sk-real-9f8e7d";

struct Injector {
        struct inject_secret s[2];
        Injector()
        {
                memset(s, 0, sizeof(s));
                strcpy(s[0].placeholder, "AKSECRET_00000000000000000000000000000001");
                strcpy(s[0].host, "api.example.com");
                strcpy(s[0].header, "Authorization");
                s[0].value = (const uint8_t *)kValue;
                s[0].value_len = strlen(kValue);
                strcpy(s[1].placeholder, "AKSECRET_00000000000000000000000000000002");
                strcpy(s[1].host, "other.example.com");
                strcpy(s[1].header, "X-Api-Key");
                s[1].value = (const uint8_t *)"two";
                s[1].value_len = 3;
        }
        // "ERR n" or "<consumed>|<body kind>:<len>|<rewritten head>"
        std::string Run(const std::string &req, const char *sni = "api.example.com", size_t *secret = nullptr,
                        size_t out_size = 4096)
        {
                uint8_t out[4096];
                size_t out_len = 0, sec = 99;
                enum inject_body body;
                uint64_t body_len = 0;
                int r = inject_request((const uint8_t *)req.data(), req.size(), sni, s, 2, out,
                                       out_size < sizeof(out) ? out_size : sizeof(out), &out_len, &body,
                                       &body_len, &sec);
                if (secret)
                        *secret = sec;
                if (r < 0)
                        return "ERR " + std::to_string(r);
                return std::to_string(r) + "|" + std::to_string(body) + ":" + std::to_string(body_len) + "|" +
                       std::string((const char *)out, out_len);
        }
};

const std::string P1 = "AKSECRET_00000000000000000000000000000001";
const std::string P2 = "AKSECRET_00000000000000000000000000000002";

TEST(Inject, PlaceholderBecomesValueInItsHeaderToItsHost)
{
        Injector in;
        std::string req = "GET /v1/models HTTP/1.1\r\nHost: api.example.com\r\nauthorization: Bearer " + P1 +
                          "\r\nAccept: */*\r\n\r\n";
        std::string want = "GET /v1/models HTTP/1.1\r\nHost: api.example.com\r\nauthorization: Bearer " +
                           std::string(kValue) + "\r\nAccept: */*\r\n\r\n";
        EXPECT_EQ(std::to_string(req.size()) + "|0:0|" + want, in.Run(req));
        // a body after the head is not consumed; its framing is reported
        std::string post = "POST /x HTTP/1.1\r\nHost: API.example.com:443\r\nContent-Length: 5\r\n"
                           "Authorization: " + P1 + " " + P1 + "\r\n\r\nhello";
        std::string got = in.Run(post);
        EXPECT_EQ(0u, got.find(std::to_string(post.size() - 5) + "|1:5|"));
        EXPECT_NE(std::string::npos, got.find("Authorization: " + std::string(kValue) + " " + kValue + "\r\n"));
        // chunked
        got = in.Run("POST /x HTTP/1.1\r\nHost: api.example.com\r\nTransfer-Encoding: Chunked\r\n\r\n");
        EXPECT_NE(std::string::npos, got.find("|2:0|")) << got;
        // no placeholder: passed unchanged; the second secret's header and host
        EXPECT_NE(std::string::npos, in.Run("GET / HTTP/1.1\r\nHost: other.example.com\r\nX-API-KEY: " + P2 +
                                                    "\r\n\r\n",
                                            "other.example.com")
                                             .find("X-API-KEY: two\r\n"));
        // HTTP/1.0 without Host goes to the session's server name
        EXPECT_NE(std::string::npos, in.Run("GET / HTTP/1.0\r\nAuthorization: " + P1 + "\r\n\r\n")
                                             .find("Authorization: sk-real"));
}

TEST(Inject, PlaceholderElsewhereIsRefusedAndNamed)
{
        Injector in;
        size_t sec = 99;
        // to another host (Host and SNI agree, but the secret is not bound there)
        EXPECT_EQ("ERR -13", in.Run("GET / HTTP/1.1\r\nHost: evil.example.net\r\nAuthorization: Bearer " + P1 +
                                            "\r\n\r\n",
                                    "evil.example.net", &sec));
        EXPECT_EQ(0u, sec);
        // in the URL, in another header, as a header name
        EXPECT_EQ("ERR -13", in.Run("GET /?k=" + P1 + " HTTP/1.1\r\nHost: api.example.com\r\n\r\n", "api.example.com",
                                    &sec));
        EXPECT_EQ("ERR -13", in.Run("GET / HTTP/1.1\r\nHost: api.example.com\r\nCookie: a=" + P1 + "\r\n\r\n"));
        EXPECT_EQ("ERR -13", in.Run("GET / HTTP/1.1\r\nHost: api.example.com\r\n" + P1 + ": x\r\n\r\n"));
        // the second secret's placeholder in the first one's header to the first one's host
        EXPECT_EQ("ERR -13", in.Run("GET / HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: " + P2 + "\r\n\r\n",
                                    "api.example.com", &sec));
        EXPECT_EQ(1u, sec);
        // something like a placeholder that is none passes as it is
        std::string near = "GET / HTTP/1.1\r\nHost: api.example.com\r\nX: AKSECRET_0000000000000000000000000000000"
                           "9 AKSECRET_\r\n\r\n";
        EXPECT_NE(std::string::npos, in.Run(near).find("X: AKSECRET_00000000000000000000000000000009 AKSECRET_\r\n"));
}

TEST(Inject, MalformedOrAmbiguousHeadsAreRefused)
{
        Injector in;
        const std::string a = "Authorization: " + P1 + "\r\n";
        EXPECT_EQ("ERR -11", in.Run("GET / HTTP/1.1\r\nHost: api.example.com\r\n"));
        EXPECT_EQ("ERR -74", in.Run("GET / HTTP/1.1\r\nHost: other.example.com\r\n" + a + "\r\n"))
                << "Host must be the TLS server name";
        EXPECT_EQ("ERR -74", in.Run("GET http://other.example.com/ HTTP/1.1\r\n" + a + "\r\n"));
        EXPECT_EQ("ERR -74", in.Run("GET / HTTP/1.1\r\nHost: api.example.com\r\nHost: api.example.com\r\n\r\n"));
        EXPECT_EQ("ERR -74", in.Run("GET / HTTP/1.1\r\nHost: api.example.com\nX: y\r\n\r\n"));
        EXPECT_EQ("ERR -74", in.Run("GET / HTTP/1.1\r\nHost: api.example.com\r\n folded\r\n\r\n"));
        EXPECT_EQ("ERR -74", in.Run("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
        EXPECT_EQ("ERR -74", in.Run("POST / HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 1\r\n"
                                    "Content-Length: 1\r\n\r\n"));
        EXPECT_EQ("ERR -74", in.Run("POST / HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 1\r\n"
                                    "Transfer-Encoding: chunked\r\n\r\n"));
        EXPECT_EQ("ERR -74", in.Run("POST / HTTP/1.1\r\nHost: api.example.com\r\nTransfer-Encoding: gzip, "
                                    "chunked\r\n\r\n"));
        EXPECT_EQ("ERR -74", in.Run("POST / HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: -1\r\n\r\n"));
        EXPECT_EQ("ERR -74", in.Run("GET / HTTP/1.1\r\nHost: api.example.com\r\nX: " + std::string(17000, 'a') +
                                    "\r\n\r\n"));
        // the method: upper-case letters (found by inject_fuzz: "POS\0\0T" passed)
        EXPECT_EQ("ERR -74", in.Run(std::string("POS\0\0T / HTTP/1.1\r\nHost: api.example.com\r\n\r\n", 44)));
        EXPECT_EQ("ERR -74", in.Run("get / HTTP/1.1\r\nHost: api.example.com\r\n\r\n"));
        EXPECT_EQ("ERR -74", in.Run("ABCDEFGHIJKLMNOP / HTTP/1.1\r\nHost: api.example.com\r\n\r\n"));
        // the rewritten head must fit
        EXPECT_EQ("ERR -105", in.Run("GET / HTTP/1.1\r\nHost: api.example.com\r\n" + a + "\r\n", "api.example.com",
                                     nullptr, 40));
}

TEST(Inject, RequestLineAndAnswerStatusForHooks)
{
        char m[INJECT_METHOD_MAX + 1], p[INJECT_PATH_MAX + 1];
        auto line = [&](const std::string &h) {
                inject_request_line((const uint8_t *)h.data(), h.size(), m, p);
                return std::string(m) + " " + p;
        };
        EXPECT_EQ("GET /v1/models", line("GET /v1/models?key=x#f HTTP/1.1\r\nHost: a\r\n\r\n"));
        EXPECT_EQ("POST /a/b", line("POST https://api.example.com/a/b?q HTTP/1.1\r\n\r\n"));
        EXPECT_EQ("GET /", line("GET https://api.example.com HTTP/1.1\r\n\r\n"));
        EXPECT_EQ("OPTIONS *", line("OPTIONS * HTTP/1.1\r\n\r\n"));
        EXPECT_EQ(std::string(INJECT_PATH_MAX, 'a'), line("GET " + std::string(300, 'a') + " HTTP/1.1\r\n\r\n").substr(4));
        auto status = [](const std::string &b) { return inject_answer_status((const uint8_t *)b.data(), b.size()); };
        EXPECT_EQ(200, status("HTTP/1.1 200 OK\r\n"));
        EXPECT_EQ(404, status("HTTP/1.0 404 "));
        EXPECT_EQ(0, status("HTTP/1.1 20"));
        EXPECT_EQ(0, status("HTTP/2 200 OK\r\n"));
        EXPECT_EQ(0, status("HTTP/1.1 2x0 OK\r\n"));
}

TEST(Inject, ValuesHeadersAndPlaceholdersAreChecked)
{
        EXPECT_EQ(0, inject_value_check((const uint8_t *)"Bearer x\ty", 10));
        for (const char *bad : {"a\r\nX-Evil: 1", "a\nb", "a\rb", " lead", "trail ", "\x7f"})
                EXPECT_EQ(-EINVAL, inject_value_check((const uint8_t *)bad, strlen(bad))) << bad;
        EXPECT_EQ(-EINVAL, inject_value_check((const uint8_t *)"nul\0x", 5));
        EXPECT_EQ(-EINVAL, inject_value_check((const uint8_t *)"", 0));
        std::string big(INJECT_VALUE_MAX + 1, 'a');
        EXPECT_EQ(-EINVAL, inject_value_check((const uint8_t *)big.data(), big.size()));

        EXPECT_EQ(0, inject_header_check("Authorization"));
        EXPECT_EQ(0, inject_header_check("x-api-key"));
        for (const char *bad : {"", "Host", "content-length", "Transfer-Encoding", "a b", "a:b", "a\r\n"})
                EXPECT_EQ(-EINVAL, inject_header_check(bad)) << bad;

        char a[INJECT_PLACEHOLDER_LEN + 1], b[INJECT_PLACEHOLDER_LEN + 1];
        ASSERT_EQ(0, inject_placeholder_new(a));
        ASSERT_EQ(0, inject_placeholder_new(b));
        EXPECT_EQ(INJECT_PLACEHOLDER_LEN, strlen(a));
        EXPECT_EQ(0, strncmp(a, "AKSECRET_", 9));
        EXPECT_STRNE(a, b);
}

}  // namespace
