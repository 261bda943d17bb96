/* libFuzzer target: inject_request on a guest's decrypted request head with
 * two secrets, the first bound to the session's host. Properties checked: an
 * accepted head's output holds no placeholder (each was replaced or the head
 * refused); the second value (bound elsewhere) and the first appear only if
 * the input brought them or the first placeholder; a refusal names one of
 * the two secrets; and the output is itself a head inject_request accepts
 * unchanged, with the same framing. Also the hooks' readers: the accepted
 * head's method and path, and any input's answer status. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/net/inject.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char p1[] = "AKSECRET_00000000000000000000000000000001";
static const char p2[] = "AKSECRET_00000000000000000000000000000002";
static const char value[] = "VALUE-5a5a";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct inject_secret s[2];
        static uint8_t out[SNIFF_HEADERS_MAX * 4], again[SNIFF_HEADERS_MAX * 4];
        size_t out_len = 0, again_len = 0, sec = 0;
        enum inject_body body, body2;
        uint64_t blen = 0, blen2 = 0;

        if (!s[0].value) {
                strcpy(s[0].placeholder, p1);
                strcpy(s[0].host, "api.example.com");
                strcpy(s[0].header, "Authorization");
                s[0].value = (const uint8_t *)value;
                s[0].value_len = strlen(value);
                strcpy(s[1].placeholder, p2);
                strcpy(s[1].host, "other.example.com");
                strcpy(s[1].header, "X-Key");
                s[1].value = (const uint8_t *)"SECOND-VALUE";
                s[1].value_len = 12;
        }
        /* The server's answer line (outside bytes too): 0 or a 3-digit code. */
        int st = inject_answer_status(data, size);
        if (st != 0 && (st < 0 || st > 999))
                abort();
        int r = inject_request(data, size, "api.example.com", s, 2, out, sizeof(out), &out_len, &body, &blen, &sec);
        if (r == -EACCES) {
                if (sec > 1)
                        abort();
                return 0;
        }
        if (r == -EAGAIN || r == -EBADMSG || r == -ENOBUFS)
                return 0;
        if (r <= 0 || (size_t)r > size || out_len > sizeof(out))
                abort();
        if (memmem(out, out_len, p1, sizeof(p1) - 1) || memmem(out, out_len, p2, sizeof(p2) - 1))
                abort();
        if (memmem(out, out_len, "SECOND-VALUE", 12) && !memmem(data, (size_t)r, "SECOND-VALUE", 12))
                abort();
        if (memmem(out, out_len, value, sizeof(value) - 1) && !memmem(data, (size_t)r, p1, sizeof(p1) - 1) &&
            !memmem(data, (size_t)r, value, sizeof(value) - 1))
                abort();
        if (body != INJECT_BODY_LENGTH && blen != 0)
                abort();
        /* An accepted head's method and path (for proxy hooks): bounded,
         * NUL-terminated, the path without query or fragment, and the
         * method a prefix of the head. */
        char method[INJECT_METHOD_MAX + 1], path[INJECT_PATH_MAX + 1];
        memset(method, 'x', sizeof(method));
        memset(path, 'x', sizeof(path));
        inject_request_line(data, (size_t)r, method, path);
        size_t ml = strnlen(method, sizeof(method)), pl = strnlen(path, sizeof(path));
        if (ml == sizeof(method) || pl == sizeof(path) || memchr(path, '?', pl) || memchr(path, '#', pl) ||
            memcmp(method, data, ml) != 0 || (ml && data[ml] != ' ') || (ml && !pl))
                abort();
        int r2 = inject_request(out, out_len, "api.example.com", s, 2, again, sizeof(again), &again_len, &body2,
                                &blen2, &sec);
        if (r2 != (int)out_len || again_len != out_len || memcmp(out, again, out_len) != 0 || body2 != body ||
            blen2 != blen)
                abort();
        return 0;
}
