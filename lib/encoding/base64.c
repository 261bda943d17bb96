#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "lib/encoding/base64.h"

static const char alphabet[64] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encoded_len(size_t n)
{
        return (n / 3 + (n % 3 != 0)) * 4;
}

size_t base64_decoded_max(size_t n)
{
        return n / 4 * 3 + 3;
}

int base64_encode(const void *data, size_t len, char *out, size_t out_size)
{
        const uint8_t *p = data;
        size_t i, o = 0;

        if (len > BASE64_MAX_INPUT)
                return -E2BIG;
        if (out_size < base64_encoded_len(len) + 1)
                return -ENOBUFS;

        for (i = 0; i + 3 <= len; i += 3) {
                uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
                out[o++] = alphabet[v >> 18];
                out[o++] = alphabet[(v >> 12) & 63];
                out[o++] = alphabet[(v >> 6) & 63];
                out[o++] = alphabet[v & 63];
        }
        if (len - i == 1) {
                uint32_t v = (uint32_t)p[i] << 16;
                out[o++] = alphabet[v >> 18];
                out[o++] = alphabet[(v >> 12) & 63];
                out[o++] = '=';
                out[o++] = '=';
        } else if (len - i == 2) {
                uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
                out[o++] = alphabet[v >> 18];
                out[o++] = alphabet[(v >> 12) & 63];
                out[o++] = alphabet[(v >> 6) & 63];
                out[o++] = '=';
        }
        out[o] = '\0';
        return 0;
}

int base64_encode_alloc(const void *data, size_t len, char **ret)
{
        char *s;
        size_t n;
        int r;

        if (len > BASE64_MAX_INPUT)
                return -E2BIG;
        n = base64_encoded_len(len) + 1;
        s = malloc(n);
        if (!s)
                return -ENOMEM;
        r = base64_encode(data, len, s, n);
        if (r < 0) {
                free(s);
                return r;
        }
        *ret = s;
        return 0;
}

static int sextet(char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

int base64_decode(const char *in, size_t in_len, uint8_t *out, size_t out_size, size_t *ret_len)
{
        size_t i, o = 0, need;
        int pad = 0;

        if (in_len % 4 != 0)
                return -EINVAL;
        if (in_len >= 1 && in[in_len - 1] == '=')
                pad++;
        if (pad == 1 && in_len >= 2 && in[in_len - 2] == '=')
                pad++;
        need = in_len / 4 * 3 - (size_t)pad;
        if (need > out_size)
                return -ENOBUFS;

        for (i = 0; i < in_len; i += 4) {
                int s[4];
                bool last = i + 4 == in_len;
                int quads = last ? 4 - pad : 4;

                for (int k = 0; k < 4; k++) {
                        if (k >= quads) {
                                if (in[i + k] != '=')
                                        return -EINVAL;
                                s[k] = 0;
                                continue;
                        }
                        s[k] = sextet(in[i + k]);
                        if (s[k] < 0)
                                return -EINVAL;
                }
                uint32_t v = (uint32_t)s[0] << 18 | (uint32_t)s[1] << 12 | (uint32_t)s[2] << 6 | (uint32_t)s[3];
                if (quads == 2 && (v & 0xffff) != 0)
                        return -EINVAL;
                if (quads == 3 && (v & 0xff) != 0)
                        return -EINVAL;
                out[o++] = (uint8_t)(v >> 16);
                if (quads >= 3)
                        out[o++] = (uint8_t)(v >> 8);
                if (quads == 4)
                        out[o++] = (uint8_t)v;
        }
        *ret_len = o;
        return 0;
}
