#include <errno.h>

#include "lib/encoding/hex.h"

int hex_encode(const void *data, size_t len, char *out, size_t out_size)
{
        static const char digits[16] = "0123456789abcdef";
        const uint8_t *p = data;

        if (len > (SIZE_MAX - 1) / 2 || out_size < 2 * len + 1)
                return -ENOBUFS;
        for (size_t i = 0; i < len; i++) {
                out[2 * i] = digits[p[i] >> 4];
                out[2 * i + 1] = digits[p[i] & 15];
        }
        out[2 * len] = '\0';
        return 0;
}

static int nibble(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int hex_decode(const char *in, size_t in_len, uint8_t *out, size_t out_size, size_t *ret_len)
{
        if (in_len % 2 != 0)
                return -EINVAL;
        for (size_t i = 0; i < in_len; i++)
                if (nibble(in[i]) < 0)
                        return -EINVAL;
        if (out_size < in_len / 2)
                return -ENOBUFS;
        for (size_t i = 0; i < in_len / 2; i++)
                out[i] = (uint8_t)(nibble(in[2 * i]) << 4 | nibble(in[2 * i + 1]));
        *ret_len = in_len / 2;
        return 0;
}
