/* See sniff.h. Every length read from the input is checked against what is
 * left before it is used; a reader that runs short is -EAGAIN while the
 * input may still grow (record framing, HTTP lines) and -EBADMSG inside a
 * message whose length is already known (the reassembled ClientHello). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "vmm/net/sniff.h"

#define TLS_HANDSHAKE 22
#define TLS_CLIENT_HELLO 1
#define TLS_EXT_SERVER_NAME 0
#define TLS_MAX_EXTENSIONS 128
#define TLS_RECORD_MAX 16384 /* 2^14, plaintext */

const char *sniff_proto_name(enum sniff_proto p)
{
        switch (p) {
        case SNIFF_TLS:
                return "tls";
        case SNIFF_HTTP:
                return "http";
        default:
                return "other";
        }
}

static char lower(char c)
{
        return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool is_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_hex(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int sniff_host_name(const char *s, size_t n, char out[SNIFF_NAME_MAX])
{
        if (n >= 2 && s[0] == '[') {
                if (s[n - 1] != ']' || n - 2 < 2 || n - 2 > 45)
                        return -EBADMSG;
                for (size_t i = 1; i + 1 < n; i++)
                        if (!is_hex(s[i]) && s[i] != ':' && s[i] != '.')
                                return -EBADMSG;
        } else {
                if (n > 0 && s[n - 1] == '.')
                        n--;
                if (n == 0 || n > 253)
                        return -EBADMSG;
                size_t label = 0;
                for (size_t i = 0; i < n; i++) {
                        if (s[i] == '.') {
                                if (label == 0)
                                        return -EBADMSG;
                                label = 0;
                        } else if (is_alnum(s[i]) || s[i] == '-' || s[i] == '_') {
                                if (++label > 63)
                                        return -EBADMSG;
                        } else {
                                return -EBADMSG;
                        }
                }
                if (label == 0)
                        return -EBADMSG;
        }
        for (size_t i = 0; i < n; i++)
                out[i] = lower(s[i]);
        out[n] = 0;
        return 0;
}

/* ---- TLS ---- */

struct rd {
        const uint8_t *p;
        size_t n;
};

static bool take(struct rd *r, size_t k, struct rd *ret)
{
        if (r->n < k)
                return false;
        if (ret)
                *ret = (struct rd){ r->p, k };
        r->p += k;
        r->n -= k;
        return true;
}

static bool u8(struct rd *r, unsigned *v)
{
        if (r->n < 1)
                return false;
        *v = r->p[0];
        return take(r, 1, NULL);
}

static bool u16(struct rd *r, unsigned *v)
{
        if (r->n < 2)
                return false;
        *v = (unsigned)r->p[0] << 8 | r->p[1];
        return take(r, 2, NULL);
}

/* A length-prefixed vector: prefix of w bytes, then that many. */
static bool vec(struct rd *r, int w, struct rd *ret)
{
        unsigned len;
        if (!(w == 1 ? u8(r, &len) : u16(r, &len)))
                return false;
        return take(r, len, ret);
}

static int server_name(struct rd ext, char name[SNIFF_NAME_MAX])
{
        struct rd list, host;
        unsigned type;
        /* Exactly one entry, a host_name, filling the list (as OpenSSL
         * demands): a second name is one the server might pick instead. */
        if (!vec(&ext, 2, &list) || ext.n != 0 || !u8(&list, &type) || type != 0 || !vec(&list, 2, &host) ||
            list.n != 0 || host.n == 0 || host.p[0] == '[')
                return -EBADMSG;
        return sniff_host_name((const char *)host.p, host.n, name) < 0 ? -EBADMSG : SNIFF_NAME;
}

static int client_hello(struct rd h, char name[SNIFF_NAME_MAX])
{
        unsigned major, minor;
        struct rd sid, suites, comp, exts;
        if (!u8(&h, &major) || !u8(&h, &minor) || major != 3 || !take(&h, 32, NULL) || !vec(&h, 1, &sid) ||
            sid.n > 32 || !vec(&h, 2, &suites) || suites.n < 2 || suites.n % 2 || !vec(&h, 1, &comp) || comp.n < 1)
                return -EBADMSG;
        if (h.n == 0)
                return SNIFF_NONE; /* no extensions (TLS 1.0/1.1 may) */
        if (!vec(&h, 2, &exts) || h.n != 0)
                return -EBADMSG;
        unsigned seen[TLS_MAX_EXTENSIONS];
        size_t n_seen = 0;
        int result = SNIFF_NONE;
        char found[SNIFF_NAME_MAX];
        while (exts.n) {
                unsigned type;
                struct rd data;
                if (!u16(&exts, &type) || !vec(&exts, 2, &data) || n_seen == TLS_MAX_EXTENSIONS)
                        return -EBADMSG;
                for (size_t i = 0; i < n_seen; i++)
                        if (seen[i] == type)
                                return -EBADMSG; /* RFC 8446 4.2: no extension twice */
                seen[n_seen++] = type;
                if (type == TLS_EXT_SERVER_NAME && (result = server_name(data, found)) < 0)
                        return result;
        }
        if (result == SNIFF_NAME)
                memcpy(name, found, strlen(found) + 1);
        return result;
}

int sniff_tls(const uint8_t *buf, size_t len, char name[SNIFF_NAME_MAX])
{
        uint8_t hello[4 + SNIFF_HELLO_MAX];
        size_t have = 0, off = 0;
        for (;;) {
                if (len - off < 5)
                        return -EAGAIN;
                const uint8_t *rec = buf + off;
                size_t rlen = (size_t)rec[3] << 8 | rec[4];
                /* A record of another type before the hello is whole is not
                 * a ClientHello; record version 3.0-3.4 (3.4 is never sent,
                 * accepted as servers do). */
                if (rec[0] != TLS_HANDSHAKE || rec[1] != 3 || rec[2] > 4 || rlen == 0 || rlen > TLS_RECORD_MAX)
                        return -EBADMSG;
                if (have + rlen > sizeof(hello))
                        return -EBADMSG;
                if (len - off - 5 < rlen)
                        return -EAGAIN;
                memcpy(hello + have, rec + 5, rlen);
                have += rlen;
                off += 5 + rlen;
                if (have < 4)
                        continue;
                size_t hlen = (size_t)hello[1] << 16 | (size_t)hello[2] << 8 | hello[3];
                if (hello[0] != TLS_CLIENT_HELLO || hlen > SNIFF_HELLO_MAX || have > 4 + hlen)
                        return -EBADMSG; /* nothing may follow the hello in its flight */
                if (have == 4 + hlen)
                        return client_hello((struct rd){ hello + 4, hlen }, name);
        }
}

/* ---- HTTP/1.x ---- */

#define METHOD_MAX 16

static bool is_tchar(char c)
{
        return is_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* host[:port] or [v6][:port]; an empty port ("host:") is allowed (RFC 3986). */
static int authority(const char *s, size_t n, char out[SNIFF_NAME_MAX])
{
        size_t host_len = n;
        if (n && s[0] == '[') {
                const char *end = memchr(s, ']', n);
                if (!end)
                        return -EBADMSG;
                host_len = (size_t)(end - s) + 1;
        } else {
                const char *colon = memchr(s, ':', n);
                if (colon)
                        host_len = (size_t)(colon - s);
        }
        if (host_len < n) {
                if (s[host_len] != ':' || n - host_len - 1 > 5)
                        return -EBADMSG;
                unsigned port = 0;
                for (size_t i = host_len + 1; i < n; i++) {
                        if (s[i] < '0' || s[i] > '9')
                                return -EBADMSG;
                        port = port * 10 + (unsigned)(s[i] - '0');
                }
                if (port > 65535)
                        return -EBADMSG;
        }
        return sniff_host_name(s, host_len, out);
}

static bool prefix_ci(const char *s, size_t n, const char *p)
{
        size_t k = strlen(p);
        if (n < k)
                return false;
        for (size_t i = 0; i < k; i++)
                if (lower(s[i]) != p[i])
                        return false;
        return true;
}

/* The request line: the name its target carries (absolute-form URI or
 * CONNECT's authority-form) in uri_host, "" when origin-form. 1 for an
 * HTTP/2 preface, 0 for HTTP/1.x, -EBADMSG. */
static int request_line(const char *s, size_t n, char uri_host[SNIFF_NAME_MAX])
{
        uri_host[0] = 0;
        if (n == 14 && memcmp(s, "PRI * HTTP/2.0", 14) == 0)
                return 1;
        const char *sp1 = memchr(s, ' ', n);
        if (!sp1 || sp1 == s || sp1 - s > METHOD_MAX)
                return -EBADMSG;
        size_t mlen = (size_t)(sp1 - s);
        const char *t = sp1 + 1;
        const char *sp2 = memchr(t, ' ', n - mlen - 1);
        if (!sp2 || sp2 == t)
                return -EBADMSG;
        size_t tlen = (size_t)(sp2 - t);
        size_t vlen = n - mlen - tlen - 2;
        if (vlen != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1'))
                return -EBADMSG;
        for (size_t i = 0; i < tlen; i++)
                if (t[i] <= 0x20 || t[i] >= 0x7f)
                        return -EBADMSG;
        if (mlen == 7 && memcmp(s, "CONNECT", 7) == 0)
                return authority(t, tlen, uri_host) < 0 ? -EBADMSG : 0;
        size_t skip = prefix_ci(t, tlen, "http://") ? 7 : prefix_ci(t, tlen, "https://") ? 8 : 0;
        if (!skip)
                return t[0] == '/' || (tlen == 1 && t[0] == '*') ? 0 : -EBADMSG;
        const char *a = t + skip;
        size_t alen = 0;
        while (skip + alen < tlen && !strchr("/?#", a[alen]))
                alen++;
        if (memchr(a, '@', alen))
                return -EBADMSG; /* userinfo: a second name to misread */
        return authority(a, alen, uri_host) < 0 ? -EBADMSG : 0;
}

/* One header line (no CRLF). Host's value into host (set *seen). */
static int header(const char *s, size_t n, char host[SNIFF_NAME_MAX], bool *seen)
{
        if (n && (s[0] == ' ' || s[0] == '\t'))
                return -EBADMSG; /* obsolete line folding */
        size_t k = 0;
        while (k < n && is_tchar(s[k]))
                k++;
        if (k == 0 || k == n || s[k] != ':')
                return -EBADMSG; /* no name, or space before the colon */
        const char *v = s + k + 1;
        size_t vlen = n - k - 1;
        for (size_t i = 0; i < vlen; i++)
                if (v[i] == 0 || (v[i] < 0x20 && v[i] != '\t' && v[i] > 0) || v[i] == 0x7f)
                        return -EBADMSG;
        if (!(k == 4 && prefix_ci(s, 4, "host")))
                return 0;
        if (*seen)
                return -EBADMSG;
        *seen = true;
        while (vlen && (v[0] == ' ' || v[0] == '\t'))
                v++, vlen--;
        while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
        if (vlen == 0) {
                host[0] = 0;
                return 0;
        }
        return authority(v, vlen, host);
}

int sniff_http(const uint8_t *buf, size_t len, char name[SNIFF_NAME_MAX])
{
        const char *s = (const char *)buf;
        size_t n = len < SNIFF_HEADERS_MAX ? len : SNIFF_HEADERS_MAX;
        char uri_host[SNIFF_NAME_MAX], host[SNIFF_NAME_MAX] = "";
        bool seen = false;
        size_t off = 0;
        for (unsigned line = 0;; line++) {
                const char *lf = memchr(s + off, '\n', n - off);
                if (!lf) {
                        if (memchr(s + off, '\r', n - off) && s[n - 1] != '\r')
                                return -EBADMSG; /* a CR not followed by LF */
                        return len >= SNIFF_HEADERS_MAX ? -EBADMSG : -EAGAIN;
                }
                size_t end = (size_t)(lf - s);
                if (end == off || s[end - 1] != '\r' || memchr(s + off, '\r', end - 1 - off))
                        return -EBADMSG; /* bare LF or CR */
                const char *l = s + off;
                size_t ln = end - 1 - off;
                off = end + 1;
                int r;
                if (line == 0) {
                        if ((r = request_line(l, ln, uri_host)) != 0)
                                return r == 1 ? SNIFF_NONE : r;
                        continue;
                }
                if (ln == 0)
                        break;
                if ((r = header(l, ln, host, &seen)) < 0)
                        return r;
        }
        if (uri_host[0]) {
                if (host[0] && strcmp(host, uri_host) != 0)
                        return -EBADMSG; /* the URI and Host name different hosts */
                memcpy(name, uri_host, strlen(uri_host) + 1);
                return SNIFF_NAME;
        }
        if (!host[0])
                return SNIFF_NONE;
        memcpy(name, host, strlen(host) + 1);
        return SNIFF_NAME;
}

int sniff(const uint8_t *buf, size_t len, enum sniff_proto *ret_proto, char name[SNIFF_NAME_MAX])
{
        if (len == 0)
                return -EAGAIN;
        if (buf[0] == TLS_HANDSHAKE) {
                *ret_proto = SNIFF_TLS;
                return sniff_tls(buf, len, name);
        }
        /* HTTP/1.x: an upper-case method and a space ("PRI" for HTTP/2). */
        size_t i = 0;
        while (i < len && i <= METHOD_MAX && buf[i] >= 'A' && buf[i] <= 'Z')
                i++;
        if (i == len && i <= METHOD_MAX)
                return -EAGAIN;
        if (i == 0 || i > METHOD_MAX || buf[i] != ' ') {
                *ret_proto = SNIFF_OTHER;
                return SNIFF_NONE;
        }
        *ret_proto = SNIFF_HTTP;
        return sniff_http(buf, len, name);
}
