/* libFuzzer target: HTTP/1.1 framing (http1.h) of bytes from a guest or a
 * server. The first byte picks the request method a response answers; the
 * rest is parsed as a request head and as a response head, and what follows
 * an accepted head is fed as its body, once whole and once a byte at a time.
 * Properties checked: an accepted head lies within the input and the limit;
 * the two feedings agree (same result, same end); a body never claims more
 * bytes than it was given; and where inject_request (the rewriter that runs
 * first on a request) also accepts the head, both read the same framing. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/net/http1.h"
#include "vmm/net/inject.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void body_check(const struct http1_head *h, const uint8_t *p, size_t n)
{
        struct http1_body whole, bytes;
        size_t used = 0, used1 = 0, at = 0;
        int r, r1 = 0;

        http1_body_init(&whole, h);
        http1_body_init(&bytes, h);
        r = http1_body_done(&whole) ? 1 : http1_body_feed(&whole, p, n, &used);
        if (r >= 0 && used > n)
                abort();
        if (http1_body_done(&bytes))
                r1 = 1;
        while (r1 == 0 && at < n) {
                size_t u = 0;
                r1 = http1_body_feed(&bytes, p + at, 1, &u);
                if (r1 >= 0 && u > 1)
                        abort();
                if (r1 >= 0)
                        at += u;
        }
        used1 = at;
        if (r != r1 || (r == 1 && used != used1))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char *methods[] = { "GET", "HEAD", "POST", "CONNECT" };
        struct http1_head h;

        if (size < 1)
                return 0;
        const char *method = methods[data[0] % 4];
        data++, size--;
        if (http1_parse_request(data, size, &h) == 0) {
                if (h.head_len > size || h.head_len > HTTP1_HEAD_MAX || h.framing == HTTP1_BODY_CLOSE)
                        abort();
                body_check(&h, data + h.head_len, size - h.head_len);
                static uint8_t out[SNIFF_HEADERS_MAX * 2];
                size_t out_len = 0, sec = 0;
                enum inject_body ib;
                uint64_t blen = 0;
                int r = inject_request(data, size, "a.test", NULL, 0, out, sizeof(out), &out_len, &ib, &blen, &sec);
                if (r >= 0) {
                        enum http1_framing want = ib == INJECT_BODY_CHUNKED  ? HTTP1_BODY_CHUNKED
                                                  : ib == INJECT_BODY_LENGTH ? HTTP1_BODY_LENGTH
                                                                             : HTTP1_BODY_NONE;
                        if ((size_t)r != h.head_len || want != h.framing ||
                            (want == HTTP1_BODY_LENGTH && blen != h.length))
                                abort();
                }
        }
        if (http1_parse_response(data, size, method, &h) == 0) {
                if (h.head_len > size || h.head_len > HTTP1_HEAD_MAX || h.status < 100 || h.status > 599)
                        abort();
                body_check(&h, data + h.head_len, size - h.head_len);
        }
        return 0;
}
