#include <string.h>

#include "lib/base/utf8.h"

bool utf8_unit(const unsigned char *s, size_t len, size_t *ret_len)
{
        unsigned char c = s[0];
        unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
        size_t need, i;

        if (c < 0x80) {
                *ret_len = 1;
                return true;
        }
        if (c >= 0xc2 && c <= 0xdf) {
                need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
                need = 2;
                if (c == 0xe0)
                        lo = 0xa0; /* overlong */
                else if (c == 0xed)
                        hi = 0x9f; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
                need = 3;
                if (c == 0xf0)
                        lo = 0x90; /* overlong */
                else if (c == 0xf4)
                        hi = 0x8f; /* above U+10FFFF */
        } else {
                /* 0x80..0xc1 and 0xf5..0xff never start a sequence. */
                *ret_len = 1;
                return false;
        }
        for (i = 1; i <= need && i < len; i++) {
                unsigned char b = s[i];
                if (i == 1 ? (b < lo || b > hi) : (b & 0xc0) != 0x80)
                        break;
        }
        *ret_len = i;
        return i == need + 1;
}

bool utf8_valid(const void *s, size_t len)
{
        const unsigned char *p = s;
        size_t i = 0, n;
        while (i < len) {
                if (p[i] < 0x80) {
                        i++;
                        continue;
                }
                if (!utf8_unit(p + i, len - i, &n))
                        return false;
                i += n;
        }
        return true;
}

size_t utf8_sanitize(char *s, size_t len)
{
        unsigned char *p = (unsigned char *)s;
        size_t in = 0, out = 0, n;

        while (in < len) {
                unsigned char c = p[in];
                if (c < 0x80) {
                        in++;
                        if ((c >= 0x20 && c != 0x7f) || c == '\n' || c == '\t')
                                p[out++] = c;
                        continue;
                }
                if (!utf8_unit(p + in, len - in, &n)) {
                        in += n;
                        p[out++] = '?';
                        continue;
                }
                /* U+0080..U+009F (C1 controls) are C2 80..C2 9F. */
                bool c1 = n == 2 && c == 0xc2 && p[in + 1] <= 0x9f;
                if (!c1) {
                        memmove(p + out, p + in, n);
                        out += n;
                }
                in += n;
        }
        p[out] = 0;
        return out;
}

char *utf8_sanitize_str(char *s)
{
        if (s)
                utf8_sanitize(s, strlen(s));
        return s;
}
