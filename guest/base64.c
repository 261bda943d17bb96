#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encoded_size(size_t n)
{
        return (n + 2) / 3 * 4;
}

void base64_encode(const void *in, size_t n, char *out)
{
        const uint8_t *s = in;
        size_t i = 0;

        for (; i + 3 <= n; i += 3) {
                uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
                *out++ = alphabet[v >> 18];
                *out++ = alphabet[(v >> 12) & 63];
                *out++ = alphabet[(v >> 6) & 63];
                *out++ = alphabet[v & 63];
        }
        if (n - i == 1) {
                uint32_t v = (uint32_t)s[i] << 16;
                *out++ = alphabet[v >> 18];
                *out++ = alphabet[(v >> 12) & 63];
                *out++ = '=';
                *out++ = '=';
        } else if (n - i == 2) {
                uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
                *out++ = alphabet[v >> 18];
                *out++ = alphabet[(v >> 12) & 63];
                *out++ = alphabet[(v >> 6) & 63];
                *out++ = '=';
        }
}

static int value_of(char c)
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

int base64_decode(const char *in, size_t n, void **ret_out, size_t *ret_len, const char **ret_reason)
{
        if (n % 4) {
                *ret_reason = "invalid length";
                return -EINVAL;
        }
        size_t pad = 0;
        if (n && in[n - 1] == '=')
                pad = (n >= 2 && in[n - 2] == '=') ? 2 : 1;

        size_t out_len = n / 4 * 3 - pad;
        uint8_t *out = malloc(out_len + 1);
        if (!out)
                return -ENOMEM;

        size_t o = 0;
        for (size_t i = 0; i < n; i += 4) {
                bool last = i + 4 == n;
                int v[4];
                for (int k = 0; k < 4; k++) {
                        if (last && (size_t)k >= 4 - pad) {
                                v[k] = 0;
                                continue;
                        }
                        v[k] = value_of(in[i + k]);
                        if (v[k] < 0) {
                                free(out);
                                *ret_reason = in[i + k] == '=' ? "invalid padding" : "invalid byte";
                                return -EINVAL;
                        }
                }
                uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
                if (last && pad) {
                        /* Non-canonical: bits that the padding drops must be zero. */
                        if ((pad == 2 && (w & 0xFFFF)) || (pad == 1 && (w & 0xFF))) {
                                free(out);
                                *ret_reason = "invalid last symbol";
                                return -EINVAL;
                        }
                }
                out[o++] = (uint8_t)(w >> 16);
                if (!(last && pad == 2))
                        out[o++] = (uint8_t)(w >> 8);
                if (!(last && pad))
                        out[o++] = (uint8_t)w;
        }
        out[o] = 0;
        *ret_out = out;
        *ret_len = o;
        return 0;
}
