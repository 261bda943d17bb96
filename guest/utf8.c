#include "utf8.h"

static bool is_cont(uint8_t c)
{
        return (c & 0xC0) == 0x80;
}

bool utf8_unit(const uint8_t *s, size_t len, size_t *ret_unit_len)
{
        uint8_t c = s[0];
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */

        if (c < 0x80) {
                *ret_unit_len = 1;
                return true;
        }
        if (c >= 0xC2 && c <= 0xDF)
                need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
                need = 2;
                if (c == 0xE0)
                        lo = 0xA0;
                else if (c == 0xED)
                        hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
                need = 3;
                if (c == 0xF0)
                        lo = 0x90;
                else if (c == 0xF4)
                        hi = 0x8F;
        } else {
                /* 0x80..0xC1 and 0xF5..0xFF never start a sequence. */
                *ret_unit_len = 1;
                return false;
        }

        size_t i = 1;
        for (; i <= need; i++) {
                if (i >= len)
                        break;
                uint8_t b = s[i];
                if (i == 1 ? (b < lo || b > hi) : !is_cont(b))
                        break;
        }
        *ret_unit_len = i;
        return i == need + 1;
}

bool utf8_valid(const void *p, size_t len)
{
        const uint8_t *s = p;
        size_t off = 0;

        while (off < len) {
                size_t n;
                if (s[off] < 0x80) {
                        off++;
                        continue;
                }
                if (!utf8_unit(s + off, len - off, &n))
                        return false;
                off += n;
        }
        return true;
}
