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

/* The whole decoder: out may be NULL to only check. Returns NULL when in is
 * canonical base64 (*ret_len then holds the decoded length), else the reason
 * base64_decode_error() gives. REQUIRES: out, if given, has room for the
 * decoded length. */
static const char *decode(const char *in, size_t in_len, uint8_t *out, size_t *ret_len)
{
        size_t i, o = 0;
        int pad = 0;

        if (in_len % 4 != 0)
                return "invalid length";
        if (in_len >= 1 && in[in_len - 1] == '=')
                pad++;
        if (pad == 1 && in_len >= 2 && in[in_len - 2] == '=')
                pad++;

        for (i = 0; i < in_len; i += 4) {
                int s[4];
                bool last = i + 4 == in_len;
                int quads = last ? 4 - pad : 4;

                for (int k = 0; k < 4; k++) {
                        if (k >= quads) {
                                /* Only '=' can stand here: pad counted them. */
                                s[k] = 0;
                                continue;
                        }
                        s[k] = sextet(in[i + k]);
                        if (s[k] < 0)
                                return in[i + k] == '=' ? "invalid padding" : "invalid byte";
                }
                uint32_t v = (uint32_t)s[0] << 18 | (uint32_t)s[1] << 12 | (uint32_t)s[2] << 6 | (uint32_t)s[3];
                if ((quads == 2 && (v & 0xffff) != 0) || (quads == 3 && (v & 0xff) != 0))
                        return "invalid last symbol";
                if (out) {
                        out[o] = (uint8_t)(v >> 16);
                        if (quads >= 3)
                                out[o + 1] = (uint8_t)(v >> 8);
                        if (quads == 4)
                                out[o + 2] = (uint8_t)v;
                }
                o += (size_t)quads - 1;
        }
        *ret_len = o;
        return NULL;
}

int base64_decode(const char *in, size_t in_len, uint8_t *out, size_t out_size, size_t *ret_len)
{
        size_t need;
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
        return decode(in, in_len, out, ret_len) ? -EINVAL : 0;
}

int base64_decode_alloc(const char *in, size_t in_len, uint8_t **ret, size_t *ret_len)
{
        uint8_t *out;
        size_t n;

        if (in_len % 4 != 0)
                return -EINVAL;
        out = malloc(base64_decoded_max(in_len));
        if (!out)
                return -ENOMEM;
        if (decode(in, in_len, out, &n)) {
                free(out);
                return -EINVAL;
        }
        *ret = out;
        *ret_len = n;
        return 0;
}

const char *base64_decode_error(const char *in, size_t in_len)
{
        size_t n;

        return decode(in, in_len, NULL, &n);
}
