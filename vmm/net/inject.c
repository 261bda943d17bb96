/* Placeholder to value in one request head; see inject.h. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "lib/crypto/crypto.h"
#include "lib/encoding/hex.h"
#include "vmm/net/inject.h"

#define PREFIX_LEN (sizeof(INJECT_PLACEHOLDER_PREFIX) - 1)

int inject_placeholder_new(char out[INJECT_PLACEHOLDER_LEN + 1])
{
        uint8_t rnd[16];
        int r = crypto_random_bytes(rnd, sizeof(rnd));

        if (r < 0)
                return r;
        memcpy(out, INJECT_PLACEHOLDER_PREFIX, PREFIX_LEN);
        return hex_encode(rnd, sizeof(rnd), out + PREFIX_LEN, INJECT_PLACEHOLDER_LEN + 1 - PREFIX_LEN);
}

int inject_value_check(const uint8_t *value, size_t len)
{
        if (len == 0 || len > INJECT_VALUE_MAX)
                return -EINVAL;
        for (size_t i = 0; i < len; i++)
                if ((value[i] < 0x20 && value[i] != '\t') || value[i] == 0x7f)
                        return -EINVAL;
        if (value[0] == ' ' || value[0] == '\t' || value[len - 1] == ' ' || value[len - 1] == '\t')
                return -EINVAL;
        return 0;
}

static char lower(char c)
{
        return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* s[0..n) equals the NUL-terminated want, ignoring ASCII case. */
static bool name_is(const char *s, size_t n, const char *want)
{
        if (strlen(want) != n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (lower(s[i]) != lower(want[i]))
                        return false;
        return true;
}

int inject_header_check(const char *name)
{
        size_t n = strlen(name);

        if (n == 0 || n > INJECT_HEADER_NAME_MAX)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                          strchr("!#$%&'*+-.^_`|~", c);
                if (!ok)
                        return -EINVAL;
        }
        if (name_is(name, n, "host") || name_is(name, n, "content-length") ||
            name_is(name, n, "transfer-encoding"))
                return -EINVAL;
        return 0;
}

/* Which secret's placeholder starts at s (n bytes left), or -1. */
static int placeholder_at(const uint8_t *s, size_t n, const struct inject_secret *secrets, size_t count)
{
        if (n < INJECT_PLACEHOLDER_LEN)
                return -1;
        for (size_t i = 0; i < count; i++)
                if (memcmp(s, secrets[i].placeholder, INJECT_PLACEHOLDER_LEN) == 0)
                        return (int)i;
        return -1;
}

struct writer {
        uint8_t *out;
        size_t size, len;
};

static int put(struct writer *w, const void *p, size_t n)
{
        if (n > w->size - w->len)
                return -ENOBUFS;
        memcpy(w->out + w->len, p, n);
        w->len += n;
        return 0;
}

/* Copies line[0..n) to w, putting values where placeholders stand. A
 * placeholder of secret i may stand only at or after allowed_from and only
 * if allowed(i); otherwise -EACCES with *ret_secret = i. */
static int copy_line(struct writer *w, const uint8_t *line, size_t n, size_t allowed_from, const char *sni,
                     const char *header, size_t header_len, const struct inject_secret *secrets, size_t count,
                     size_t *ret_secret)
{
        size_t off = 0, copied = 0;
        int r;

        while (off < n) {
                const uint8_t *hit = memmem(line + off, n - off, INJECT_PLACEHOLDER_PREFIX, PREFIX_LEN);
                if (!hit)
                        break;
                size_t at = (size_t)(hit - line);
                int i = placeholder_at(hit, n - at, secrets, count);
                if (i < 0) {
                        off = at + 1;
                        continue;
                }
                const struct inject_secret *s = &secrets[i];
                if (at < allowed_from || !header || strcmp(s->host, sni) != 0 ||
                    !name_is(header, header_len, s->header)) {
                        *ret_secret = (size_t)i;
                        return -EACCES;
                }
                if ((r = put(w, line + copied, at - copied)) < 0 || (r = put(w, s->value, s->value_len)) < 0)
                        return r;
                off = copied = at + INJECT_PLACEHOLDER_LEN;
        }
        return put(w, line + copied, n - copied);
}

/* A header's value without the optional whitespace around it. */
static void trim(const char **v, size_t *n)
{
        while (*n && ((*v)[0] == ' ' || (*v)[0] == '\t'))
                (*v)++, (*n)--;
        while (*n && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t'))
                (*n)--;
}

struct framing {
        bool have_length, chunked;
        uint64_t length;
};

/* Content-Length and Transfer-Encoding, strictly (RFC 9112 6.3). */
static int framing_header(const char *name, size_t name_len, const char *v, size_t n, struct framing *f)
{
        if (name_is(name, name_len, "content-length")) {
                trim(&v, &n);
                if (f->have_length || n == 0 || n > 15)
                        return -EBADMSG;
                uint64_t x = 0;
                for (size_t i = 0; i < n; i++) {
                        if (v[i] < '0' || v[i] > '9')
                                return -EBADMSG;
                        x = x * 10 + (uint64_t)(v[i] - '0');
                }
                f->have_length = true;
                f->length = x;
        } else if (name_is(name, name_len, "transfer-encoding")) {
                trim(&v, &n);
                if (f->chunked || !name_is(v, n, "chunked"))
                        return -EBADMSG;
                f->chunked = true;
        }
        return 0;
}

int inject_request(const uint8_t *buf, size_t len, const char *sni, const struct inject_secret *secrets,
                   size_t n, uint8_t *out, size_t out_size, size_t *ret_out_len, enum inject_body *ret_body,
                   uint64_t *ret_body_len, size_t *ret_secret)
{
        char host[SNIFF_NAME_MAX];
        struct writer w = { out, out_size, 0 };
        struct framing f = { 0 };
        size_t scan = len < SNIFF_HEADERS_MAX ? len : SNIFF_HEADERS_MAX;
        int r;

        r = sniff_http(buf, len, host);
        if (r < 0)
                return r;
        if (scan >= 14 && memcmp(buf, "PRI * HTTP/2.0", 14) == 0)
                return -EBADMSG;
        /* The method: upper-case letters, as sniff() wants them before it
         * calls this an HTTP request (a NUL or a control there would reach
         * a server that might read the line another way). */
        size_t m = 0;
        while (m < scan && m <= INJECT_METHOD_MAX && buf[m] >= 'A' && buf[m] <= 'Z')
                m++;
        if (m == 0 || m > INJECT_METHOD_MAX || m >= scan || buf[m] != ' ')
                return -EBADMSG;
        if (r == SNIFF_NAME && strcmp(host, sni) != 0)
                return -EBADMSG;
        const uint8_t *end = memmem(buf, scan, "\r\n\r\n", 4);
        if (!end)
                return -EBADMSG; /* sniff_http saw a whole head: not reached */
        size_t head_len = (size_t)(end - buf) + 4;

        /* sniff_http checked the lines: each ends in CRLF, no bare CR or LF,
         * headers are "token:value" with no control characters. */
        size_t off = 0;
        for (unsigned line = 0; off < head_len - 2; line++) {
                const uint8_t *crlf = memmem(buf + off, head_len - off, "\r\n", 2);
                size_t ln = (size_t)(crlf - (buf + off));
                const char *l = (const char *)buf + off;
                const char *colon = line ? memchr(l, ':', ln) : NULL;
                size_t name_len = colon ? (size_t)(colon - l) : 0;

                if (line && !colon)
                        return -EBADMSG;
                if (colon && (r = framing_header(l, name_len, colon + 1, ln - name_len - 1, &f)) < 0)
                        return r;
                size_t secret = 0;
                r = copy_line(&w, buf + off, ln, colon ? name_len + 1 : ln + 1, sni, colon ? l : NULL,
                              name_len, secrets, n, &secret);
                if (r == -EACCES)
                        *ret_secret = secret;
                if (r < 0 || (r = put(&w, "\r\n", 2)) < 0)
                        return r;
                off += ln + 2;
        }
        if (f.have_length && f.chunked)
                return -EBADMSG;
        if ((r = put(&w, "\r\n", 2)) < 0)
                return r;
        *ret_out_len = w.len;
        *ret_body = f.chunked ? INJECT_BODY_CHUNKED : f.have_length ? INJECT_BODY_LENGTH : INJECT_BODY_NONE;
        *ret_body_len = f.have_length ? f.length : 0;
        return (int)head_len;
}

void inject_request_line(const uint8_t *head, size_t len, char method[INJECT_METHOD_MAX + 1],
                         char path[INJECT_PATH_MAX + 1])
{
        const char *h = (const char *)head, *end = memchr(h, '\r', len);
        const char *sp = end ? memchr(h, ' ', (size_t)(end - h)) : NULL;
        method[0] = path[0] = 0;
        if (!sp || (size_t)(sp - h) > INJECT_METHOD_MAX)
                return;
        memcpy(method, h, (size_t)(sp - h));
        method[sp - h] = 0;
        const char *t = sp + 1, *t_end = memchr(t, ' ', (size_t)(end - t));
        if (!t_end)
                return;
        const char *scheme = memmem(t, (size_t)(t_end - t), "://", 3);
        if (scheme && *t != '/') { /* absolute form: from the authority's end */
                t = memchr(scheme + 3, '/', (size_t)(t_end - scheme - 3));
                if (!t)
                        t = t_end;
        }
        size_t n = 0;
        while (t + n < t_end && t[n] != '?' && t[n] != '#')
                n++;
        if (n > INJECT_PATH_MAX)
                n = INJECT_PATH_MAX;
        memcpy(path, t, n);
        path[n] = 0;
        if (!n)
                memcpy(path, "/", 2);
}

int inject_answer_status(const uint8_t *b, size_t n)
{
        if (n < 12 || memcmp(b, "HTTP/1.", 7) != 0 || b[8] != ' ')
                return 0;
        for (int i = 9; i < 12; i++)
                if (b[i] < '0' || b[i] > '9')
                        return 0;
        return (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
}
