#include <errno.h>
#include <gtest/gtest.h>

#include <string>

#include "vmm/net/http1.h"

namespace {

int Req(const std::string &s, http1_head *h)
{
        return http1_parse_request(reinterpret_cast<const uint8_t *>(s.data()), s.size(), h);
}

int Resp(const std::string &s, const char *method, http1_head *h)
{
        return http1_parse_response(reinterpret_cast<const uint8_t *>(s.data()), s.size(), method, h);
}

/* Feeds s to a body framed as h, in pieces of step bytes: the bytes used
 * when it ended, -1 when it wants more, or the error. */
long Feed(const http1_head &h, const std::string &s, size_t step)
{
        http1_body b;
        http1_body_init(&b, &h);
        if (http1_body_done(&b))
                return 0;
        size_t off = 0;
        while (off < s.size()) {
                size_t n = std::min(step, s.size() - off), used = 0;
                int r = http1_body_feed(&b, reinterpret_cast<const uint8_t *>(s.data()) + off, n, &used);
                if (r < 0)
                        return r;
                if (r == 1)
                        return static_cast<long>(off + used);
                off += n;
        }
        return -1;
}

TEST(Http1Request, Framing)
{
        http1_head h;
        ASSERT_EQ(0, Req("GET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT", &h));
        EXPECT_EQ(HTTP1_BODY_NONE, h.framing);
        EXPECT_EQ(27u, h.head_len);
        EXPECT_STREQ("GET", h.method);
        EXPECT_TRUE(http1_keep_alive(&h));
        ASSERT_EQ(0, Req("POST /x HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\n", &h));
        EXPECT_EQ(HTTP1_BODY_LENGTH, h.framing);
        EXPECT_EQ(5u, h.length);
        EXPECT_FALSE(http1_keep_alive(&h));
        ASSERT_EQ(0, Req("POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", &h));
        EXPECT_EQ(HTTP1_BODY_CHUNKED, h.framing);
        ASSERT_EQ(0, Req("GET / HTTP/1.0\r\n\r\n", &h));
        EXPECT_FALSE(http1_keep_alive(&h));
        ASSERT_EQ(0, Req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &h));
        EXPECT_TRUE(http1_keep_alive(&h));
        ASSERT_EQ(0, Req("GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", &h));
        EXPECT_TRUE(h.conn_other);
        EXPECT_TRUE(h.upgrade);
        /* repeated equal lengths are one length */
        ASSERT_EQ(0, Req("PUT / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\n", &h));
        EXPECT_EQ(3u, h.length);
        EXPECT_EQ(-EAGAIN, Req("GET / HTTP/1.1\r\nHost: a\r\n", &h));
}

TEST(Http1Request, RefusesAmbiguity)
{
        http1_head h;
        const char *bad[] = {
                "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                "POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n",
                "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
                "POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\n",
                "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n",
                "POST / HTTP/1.1\r\nContent-Length: 1234567890123456\r\n\r\n",
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                "POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n",
                "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",  /* obs-fold */
                "GET / HTTP/1.1\r\n\tX: a\r\n\r\n",
                "GET / HTTP/1.1\nHost: a\r\n\r\n",        /* bare LF */
                "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",   /* bare CR */
                "GET / HTTP/1.1\r\nX: a\x01\r\n\r\n",
                "GET / HTTP/2.0\r\n\r\n",
                "get / HTTP/1.1\r\n\r\n",
                "GET  / HTTP/1.1\r\n\r\n",
                "GET / HTTP/1.1 \r\n\r\n",
                "GET /a b HTTP/1.1\r\n\r\n",
        };
        for (const char *b : bad)
                EXPECT_EQ(-EBADMSG, Req(b, &h)) << b;
}

TEST(Http1Request, Limits)
{
        http1_head h;
        std::string big = "GET / HTTP/1.1\r\nX: " + std::string(HTTP1_HEAD_MAX, 'a');
        EXPECT_EQ(-E2BIG, Req(big, &h));
        std::string many = "GET / HTTP/1.1\r\n";
        for (int i = 0; i <= HTTP1_FIELDS_MAX; i++)
                many += "X: 1\r\n";
        EXPECT_EQ(-E2BIG, Req(many + "\r\n", &h));
}

TEST(Http1Response, Framing)
{
        http1_head h;
        ASSERT_EQ(0, Resp("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "GET", &h));
        EXPECT_EQ(200, h.status);
        EXPECT_EQ(HTTP1_BODY_LENGTH, h.framing);
        EXPECT_EQ(2u, h.length);
        ASSERT_EQ(0, Resp("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", "HEAD", &h));
        EXPECT_EQ(HTTP1_BODY_NONE, h.framing);
        ASSERT_EQ(0, Resp("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", "GET", &h));
        EXPECT_EQ(HTTP1_BODY_NONE, h.framing);
        ASSERT_EQ(0, Resp("HTTP/1.1 304 Not Modified\r\n\r\n", "GET", &h));
        EXPECT_EQ(HTTP1_BODY_NONE, h.framing);
        ASSERT_EQ(0, Resp("HTTP/1.1 100 Continue\r\n\r\n", "POST", &h));
        EXPECT_EQ(HTTP1_BODY_NONE, h.framing);
        EXPECT_EQ(100, h.status);
        ASSERT_EQ(0, Resp("HTTP/1.1 200 OK\r\n\r\n", "GET", &h));
        EXPECT_EQ(HTTP1_BODY_CLOSE, h.framing);
        ASSERT_EQ(0, Resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", &h));
        EXPECT_EQ(HTTP1_BODY_CHUNKED, h.framing);
        ASSERT_EQ(0, Resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "GET", &h));
        EXPECT_EQ(HTTP1_BODY_CLOSE, h.framing);
        ASSERT_EQ(0, Resp("HTTP/1.1 200 Connection established\r\n\r\n", "CONNECT", &h));
        EXPECT_EQ(HTTP1_BODY_CLOSE, h.framing);
        ASSERT_EQ(0, Resp("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", "GET", &h));
        ASSERT_EQ(0, Resp("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", &h));
        EXPECT_FALSE(http1_keep_alive(&h));
        ASSERT_EQ(0, Resp("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", "GET", &h));
        EXPECT_FALSE(http1_keep_alive(&h));
}

TEST(Http1Response, RefusesAmbiguity)
{
        http1_head h;
        const char *bad[] = {
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
                "HTTP/1.1 200 OK\r\nX: a\r\n  folded\r\n\r\n",
                "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                "HTTP/1.1 2000 OK\r\n\r\n",
                "HTTP/1.1 099 OK\r\n\r\n",
                "HTTP/1.1 200OK\r\n\r\n",
                "HTTP/1.1 200 O\x01K\r\n\r\n",
                "HTTP/1.1 200 OK\n\n",
                "ICY 200 OK\r\n\r\n",
        };
        for (const char *b : bad)
                EXPECT_EQ(-EBADMSG, Resp(b, "GET", &h)) << b;
}

TEST(Http1Body, Length)
{
        http1_head h = {};
        h.framing = HTTP1_BODY_LENGTH;
        h.length = 5;
        for (size_t step : { 1, 2, 100 })
                EXPECT_EQ(5, Feed(h, "helloGET / HTTP/1.1", step)) << step;
        EXPECT_EQ(-1, Feed(h, "hell", 100));
        h.length = 0;
        EXPECT_EQ(0, Feed(h, "x", 1));
        h.framing = HTTP1_BODY_CLOSE;
        EXPECT_EQ(-1, Feed(h, "anything at all", 3));
}

TEST(Http1Body, Chunked)
{
        http1_head h = {};
        h.framing = HTTP1_BODY_CHUNKED;
        std::string body = "5\r\nhello\r\nA;ext=1\r\n0123456789\r\n0\r\nX-Sum: 1\r\nY:\r\n\r\n";
        for (size_t step : { 1, 3, 1000 })
                EXPECT_EQ(static_cast<long>(body.size()), Feed(h, body + "NEXT", step)) << step;
        EXPECT_EQ(5, Feed(h, "0\r\n\r\n", 1));
        EXPECT_EQ(-1, Feed(h, "5\r\nhel", 1));
        EXPECT_EQ(-1, Feed(h, "0\r\nX: 1\r\n", 2));
        const char *bad[] = {
                "x\r\n",              /* not hex */
                "\r\n",               /* no size */
                "5\nhello\r\n",       /* bare LF */
                "5\r\nhelloX\r\n",    /* no CRLF after data */
                "5\r\nhello\n0\r\n",
                "0\r\n folded\r\n\r\n",
                "0\r\nNo colon\r\n\r\n",
                "0\r\nX: a\x01\r\n\r\n",
                "1000000000000\r\n",  /* over 2^48 */
                "5;\x01\r\n",
        };
        for (const char *b : bad)
                EXPECT_EQ(-EBADMSG, Feed(h, b, 1)) << b;
        std::string ext = "1;" + std::string(HTTP1_CHUNK_LINE_MAX, 'e') + "\r\n";
        EXPECT_EQ(-EBADMSG, Feed(h, ext, 64));
        std::string trailers = "0\r\n";
        while (trailers.size() < HTTP1_TRAILERS_MAX + 10)
                trailers += "X-Trailer: aaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        EXPECT_EQ(-EBADMSG, Feed(h, trailers + "\r\n", 512));
}

}  // namespace
