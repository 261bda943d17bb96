/* HTTP/1.1 message framing; see http1.h. */
#include <errno.h>
#include <string.h>

#include "vmm/net/http1.h"

static bool is_tchar(uint8_t c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A field value or reason phrase byte: visible, space, tab or obs-text. */
static bool is_vchar(uint8_t c)
{
        return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static char lower(char c)
{
        return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool eq_ci(const char *s, size_t n, const char *want)
{
        if (strlen(want) != n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (lower(s[i]) != want[i])
                        return false;
        return true;
}

static void trim(const char **v, size_t *n)
{
        while (*n && ((*v)[0] == ' ' || (*v)[0] == '\t'))
                (*v)++, (*n)--;
        while (*n && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t'))
                (*n)--;
}

/* The head's length through its empty line: > 0, -EAGAIN, -E2BIG, or
 * -EBADMSG for a CR not before LF or an LF not after CR. */
static long head_end(const uint8_t *b, size_t n)
{
        size_t scan = n < HTTP1_HEAD_MAX ? n : HTTP1_HEAD_MAX;

        for (size_t i = 0; i < scan; i++) {
                if (b[i] == '\r' && i + 1 < n && b[i + 1] != '\n')
                        return -EBADMSG;
                if (b[i] != '\n')
                        continue;
                if (i == 0 || b[i - 1] != '\r')
                        return -EBADMSG;
                if (i >= 3 && b[i - 2] == '\n')
                        return (long)i + 1;
        }
        return n >= HTTP1_HEAD_MAX ? -E2BIG : -EAGAIN;
}

struct fields {
        bool have_length, have_te, te_chunked_last, te_chunked_before;
        uint64_t length;
};

/* One Content-Length value: a list of equal decimal numbers. */
static int content_length(const char *v, size_t n, struct fields *f)
{
        size_t off = 0;
        bool any = false;

        while (off <= n) {
                const char *comma = memchr(v + off, ',', n - off);
                size_t end = comma ? (size_t)(comma - v) : n;
                const char *e = v + off;
                size_t en = end - off;
                trim(&e, &en);
                if (en == 0 || en > 15)
                        return -EBADMSG;
                uint64_t x = 0;
                for (size_t i = 0; i < en; i++) {
                        if (e[i] < '0' || e[i] > '9')
                                return -EBADMSG;
                        x = x * 10 + (uint64_t)(e[i] - '0');
                }
                if (x > HTTP1_LENGTH_MAX || (f->have_length && f->length != x))
                        return -EBADMSG;
                f->have_length = any = true;
                f->length = x;
                off = end + 1;
        }
        return any ? 0 : -EBADMSG;
}

/* Transfer-Encoding's codings, in order over all its fields: whether the
 * last is chunked, and whether chunked came before another. */
static int transfer_encoding(const char *v, size_t n, struct fields *f)
{
        size_t off = 0;

        f->have_te = true;
        while (off <= n) {
                const char *comma = memchr(v + off, ',', n - off);
                size_t end = comma ? (size_t)(comma - v) : n;
                const char *e = v + off;
                size_t en = end - off;
                off = end + 1;
                const char *semi = memchr(e, ';', en);
                if (semi)
                        en = (size_t)(semi - e);
                trim(&e, &en);
                if (en == 0 && !semi)
                        continue; /* an empty list element */
                for (size_t i = 0; i < en; i++)
                        if (!is_tchar((uint8_t)e[i]))
                                return -EBADMSG;
                if (en == 0)
                        return -EBADMSG;
                if (f->te_chunked_last)
                        f->te_chunked_before = true;
                f->te_chunked_last = eq_ci(e, en, "chunked");
        }
        return 0;
}

static void connection(const char *v, size_t n, struct http1_head *h)
{
        size_t off = 0;

        while (off <= n) {
                const char *comma = memchr(v + off, ',', n - off);
                size_t end = comma ? (size_t)(comma - v) : n;
                const char *e = v + off;
                size_t en = end - off;
                off = end + 1;
                trim(&e, &en);
                if (eq_ci(e, en, "close"))
                        h->conn_close = true;
                else if (eq_ci(e, en, "keep-alive"))
                        h->conn_keep_alive = true;
                else if (en)
                        h->conn_other = true;
        }
}

/* One field line l[0..n) (no CRLF). */
static int field(const char *l, size_t n, struct http1_head *h, struct fields *f)
{
        size_t k = 0;

        if (n && (l[0] == ' ' || l[0] == '\t'))
                return -EBADMSG; /* obsolete line folding */
        while (k < n && is_tchar((uint8_t)l[k]))
                k++;
        if (k == 0 || k == n || l[k] != ':')
                return -EBADMSG; /* no name, or whitespace before the colon */
        const char *v = l + k + 1;
        size_t vn = n - k - 1;
        for (size_t i = 0; i < vn; i++)
                if (!is_vchar((uint8_t)v[i]))
                        return -EBADMSG;
        trim(&v, &vn);
        if (eq_ci(l, k, "content-length"))
                return content_length(v, vn, f);
        if (eq_ci(l, k, "transfer-encoding"))
                return transfer_encoding(v, vn, f);
        if (eq_ci(l, k, "connection"))
                connection(v, vn, h);
        else if (eq_ci(l, k, "upgrade"))
                h->upgrade = true;
        else if (eq_ci(l, k, "expect") && eq_ci(v, vn, "100-continue"))
                h->expect_continue = true;
        return 0;
}

/* "HTTP/1.0" or "HTTP/1.1" at v: the minor version, or -EBADMSG. */
static int version(const char *v, size_t n)
{
        if (n != 8 || memcmp(v, "HTTP/1.", 7) != 0 || (v[7] != '0' && v[7] != '1'))
                return -EBADMSG;
        return v[7] - '0';
}

static int request_line(const char *l, size_t n, struct http1_head *h)
{
        size_t m = 0;

        while (m < n && m < sizeof(h->method) && l[m] >= 'A' && l[m] <= 'Z')
                m++;
        if (m == 0 || m >= sizeof(h->method) || m == n || l[m] != ' ')
                return -EBADMSG;
        memcpy(h->method, l, m);
        h->method[m] = 0;
        const char *t = l + m + 1, *sp = memchr(t, ' ', n - m - 1);
        if (!sp || sp == t)
                return -EBADMSG;
        for (const char *c = t; c < sp; c++)
                if ((uint8_t)*c <= 0x20 || (uint8_t)*c >= 0x7f)
                        return -EBADMSG;
        int minor = version(sp + 1, (size_t)(l + n - sp - 1));
        if (minor < 0)
                return minor;
        h->minor = minor;
        return 0;
}

static int status_line(const char *l, size_t n, struct http1_head *h)
{
        if (n < 12 || (n > 12 && l[12] != ' '))
                return -EBADMSG;
        int minor = version(l, 8);
        if (minor < 0 || l[8] != ' ')
                return -EBADMSG;
        for (int i = 9; i < 12; i++)
                if (l[i] < '0' || l[i] > '9')
                        return -EBADMSG;
        for (size_t i = 13; i < n; i++)
                if (!is_vchar((uint8_t)l[i]))
                        return -EBADMSG;
        h->minor = minor;
        h->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
        return h->status < 100 || h->status > 599 ? -EBADMSG : 0;
}

static int parse_head(const uint8_t *b, size_t n, bool request, struct http1_head *h, struct fields *f)
{
        long end = head_end(b, n);
        size_t off = 0;
        unsigned count = 0;
        int r;

        if (end < 0)
                return (int)end;
        memset(h, 0, sizeof(*h));
        memset(f, 0, sizeof(*f));
        h->head_len = (size_t)end;
        for (unsigned line = 0; off < h->head_len - 2; line++) {
                const char *l = (const char *)b + off;
                size_t ln = (size_t)((const char *)memchr(l, '\n', h->head_len - off) - l) - 1;
                if (line == 0)
                        r = request ? request_line(l, ln, h) : status_line(l, ln, h);
                else
                        r = ++count > HTTP1_FIELDS_MAX ? -E2BIG : field(l, ln, h, f);
                if (r < 0)
                        return r;
                off += ln + 2;
        }
        if (f->have_te && (f->have_length || h->minor == 0 || f->te_chunked_before))
                return -EBADMSG; /* read two ways, or chunked applied twice */
        return 0;
}

int http1_parse_request(const uint8_t *b, size_t n, struct http1_head *ret)
{
        struct http1_head h;
        struct fields f;
        int r = parse_head(b, n, true, &h, &f);

        if (r < 0)
                return r;
        if (f.have_te && !f.te_chunked_last)
                return -EBADMSG; /* a request's length would be unknown */
        h.framing = f.have_te ? HTTP1_BODY_CHUNKED : f.have_length ? HTTP1_BODY_LENGTH : HTTP1_BODY_NONE;
        h.length = f.length;
        *ret = h;
        return 0;
}

int http1_parse_response(const uint8_t *b, size_t n, const char *request_method, struct http1_head *ret)
{
        struct http1_head h;
        struct fields f;
        int r = parse_head(b, n, false, &h, &f);

        if (r < 0)
                return r;
        if (strcmp(request_method, "HEAD") == 0 || h.status < 200 || h.status == 204 || h.status == 304)
                h.framing = HTTP1_BODY_NONE;
        else if (strcmp(request_method, "CONNECT") == 0 && h.status < 300)
                h.framing = HTTP1_BODY_CLOSE; /* a tunnel from here on */
        else if (f.have_te)
                h.framing = f.te_chunked_last ? HTTP1_BODY_CHUNKED : HTTP1_BODY_CLOSE;
        else if (f.have_length)
                h.framing = HTTP1_BODY_LENGTH;
        else
                h.framing = HTTP1_BODY_CLOSE;
        h.length = h.framing == HTTP1_BODY_LENGTH ? f.length : 0;
        *ret = h;
        return 0;
}

bool http1_keep_alive(const struct http1_head *h)
{
        if (h->conn_close)
                return false;
        return h->minor >= 1 || h->conn_keep_alive;
}

enum {
        S_SIZE0 = 0,  /* the first hex digit of a chunk size */
        S_SIZE,       /* more hex digits */
        S_EXT,        /* chunk extensions up to CR */
        S_SIZE_LF,
        S_DATA,
        S_DATA_CR,
        S_DATA_LF,
        S_TLINE0,     /* the start of a trailer line, or the final CRLF */
        S_TNAME,
        S_TVALUE,
        S_TLINE_LF,
        S_END_LF,
        S_DONE,
};

void http1_body_init(struct http1_body *body, const struct http1_head *h)
{
        memset(body, 0, sizeof(*body));
        body->framing = h->framing;
        body->left = h->length;
        body->state = S_SIZE0;
        if (h->framing == HTTP1_BODY_NONE || (h->framing == HTTP1_BODY_LENGTH && h->length == 0))
                body->state = S_DONE;
}

bool http1_body_done(const struct http1_body *body)
{
        return body->state == S_DONE;
}

static int hex(uint8_t c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        c = (uint8_t)lower((char)c);
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One byte of a chunk-size line, a CRLF after data, or the trailers. */
static int chunk_byte(struct http1_body *s, uint8_t c)
{
        bool trailer = s->state >= S_TLINE0;

        if (trailer && ++s->trailers > HTTP1_TRAILERS_MAX)
                return -EBADMSG;
        if (!trailer && s->state != S_DATA_CR && s->state != S_DATA_LF && ++s->line > HTTP1_CHUNK_LINE_MAX)
                return -EBADMSG;
        switch (s->state) {
        case S_SIZE0:
        case S_SIZE:
                if (hex(c) >= 0) {
                        if (s->left > HTTP1_LENGTH_MAX >> 4)
                                return -EBADMSG;
                        s->left = s->left * 16 + (uint64_t)hex(c);
                        s->state = S_SIZE;
                        return 0;
                }
                if (s->state == S_SIZE0)
                        return -EBADMSG;
                if (c == '\r') {
                        s->state = S_SIZE_LF;
                        return 0;
                }
                if (c != ';' && c != ' ' && c != '\t')
                        return -EBADMSG;
                s->state = S_EXT;
                return 0;
        case S_EXT:
                if (c == '\r')
                        s->state = S_SIZE_LF;
                else if (!is_vchar(c))
                        return -EBADMSG;
                return 0;
        case S_SIZE_LF:
                if (c != '\n')
                        return -EBADMSG;
                s->line = 0;
                s->state = s->left ? S_DATA : S_TLINE0;
                return 0;
        case S_DATA_CR:
                if (c != '\r')
                        return -EBADMSG;
                s->state = S_DATA_LF;
                return 0;
        case S_DATA_LF:
                if (c != '\n')
                        return -EBADMSG;
                s->state = S_SIZE0;
                return 0;
        case S_TLINE0:
                if (c == '\r') {
                        s->state = S_END_LF;
                        return 0;
                }
                if (!is_tchar(c))
                        return -EBADMSG; /* folding, or no field name */
                s->state = S_TNAME;
                return 0;
        case S_TNAME:
                if (c == ':')
                        s->state = S_TVALUE;
                else if (!is_tchar(c))
                        return -EBADMSG;
                return 0;
        case S_TVALUE:
                if (c == '\r')
                        s->state = S_TLINE_LF;
                else if (!is_vchar(c))
                        return -EBADMSG;
                return 0;
        case S_TLINE_LF:
                if (c != '\n')
                        return -EBADMSG;
                s->state = S_TLINE0;
                return 0;
        case S_END_LF:
                if (c != '\n')
                        return -EBADMSG;
                s->state = S_DONE;
                return 0;
        }
        return -EBADMSG;
}

int http1_body_feed(struct http1_body *body, const uint8_t *p, size_t n, size_t *ret_used)
{
        size_t i = 0;

        if (body->framing == HTTP1_BODY_CLOSE) {
                *ret_used = n;
                return 0;
        }
        while (i < n && body->state != S_DONE) {
                if (body->state == S_DATA) {
                        uint64_t take = n - i < body->left ? n - i : body->left;
                        body->left -= take;
                        i += (size_t)take;
                        if (body->left == 0)
                                body->state = body->framing == HTTP1_BODY_LENGTH ? S_DONE : S_DATA_CR;
                        continue;
                }
                if (body->framing == HTTP1_BODY_LENGTH) {
                        body->state = S_DATA; /* the first byte of a Content-Length body */
                        continue;
                }
                if (chunk_byte(body, p[i++]) < 0)
                        return -EBADMSG;
        }
        *ret_used = i;
        return body->state == S_DONE ? 1 : 0;
}
