/* The requests of one guest connection: framed, rewritten, sent over a
 * pooled or new verified server connection; see tls_relay.h. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/time.h"
#include "vmm/net/http1.h"
#include "vmm/net/tls_relay_int.h"

#define RELAY_BUF 16384
#define IN_MAX (HTTP1_HEAD_MAX + RELAY_BUF) /* guest bytes held: a head and one read */
#define HEAD_OUT_MAX (HTTP1_HEAD_MAX + INJECT_SECRETS_MAX * INJECT_VALUE_MAX + 64)
#define FIRST_MAX (HEAD_OUT_MAX + IN_MAX)
#define INFORMATIONAL_MAX 8 /* 1xx answers before the final one */

/* One guest connection. */
struct conn {
        struct tls_relay *relay;
        const struct tls_relay_target *t;
        SSL *g;
        int gfd;
        uint8_t *in;    /* guest bytes read and not yet sent on (IN_MAX) */
        size_t in_len;
        uint8_t *out;   /* the rewritten head (HEAD_OUT_MAX): holds values */
        size_t out_dirty; /* bytes of out to wipe */
        uint8_t *first; /* the first write to the server (FIRST_MAX): holds values */
        uint8_t *rbuf;  /* a response head being read (HTTP1_HEAD_MAX) */
        char key[RELAY_POOL_KEY_MAX];
};

struct upstream {
        SSL *ssl;
        int fd;
        bool reused;
};

/* One request and its response. */
struct exchange {
        struct http1_head req, resp;
        struct http1_body req_body, resp_body;
        bool poolable;     /* the request may go over a pooled connection */
        bool req_done, resp_head, resp_done;
        bool first_whole;  /* first held the whole request */
        bool any_response; /* a byte of the response came (or was sent to the guest) */
        bool tunnel;       /* 101 or CONNECT: raw bytes both ways until a close */
        bool dead;         /* the server connection may not carry another request */
        size_t first_len, rlen;
        unsigned informational;
        struct tls_relay_result res;
};

static bool write_all(SSL *ssl, const void *p, size_t n)
{
        size_t w = 0;

        return n == 0 || (SSL_write_ex(ssl, p, n, &w) == 1 && w == n);
}

/* An answer of the relay's own, before any of the server's reached the guest. */
static void guest_answer(struct conn *c, struct exchange *ex, int code, const char *reason, const char *why)
{
        char b[512];
        int n;

        if (ex->any_response)
                return;
        n = snprintf(b, sizeof(b),
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n"
                     "ak secret relay: %s\n",
                     code, reason, strlen("ak secret relay: \n") + strlen(why), why);
        if (n > 0 && (size_t)n < sizeof(b) && write_all(c->g, b, (size_t)n))
                ex->res.to_guest += (uint64_t)n;
        ex->any_response = true;
}

/* Reads the next request head into c->in: 0, 1 when the guest closed
 * before a byte of it, or a negative errno (answered). */
static int read_head(struct conn *c, struct exchange *ex, struct ak_error *err)
{
        const char *host = c->t->host;
        int r;

        while ((r = http1_parse_request(c->in, c->in_len, &ex->req)) == -EAGAIN) {
                size_t got = 0;
                if (SSL_read_ex(c->g, c->in + c->in_len, IN_MAX - c->in_len, &got) != 1) {
                        if (c->in_len == 0)
                                return 1;
                        return tls_relay_fail(&ex->res, TLS_RELAY_IO, err, -EIO,
                                              "the guest closed before a whole request head", host);
                }
                c->in_len += got;
        }
        if (r < 0) {
                guest_answer(c, ex, 400, "Bad Request", "malformed or ambiguous request framing");
                return tls_relay_fail(&ex->res, TLS_RELAY_BAD_REQUEST, err, -EBADMSG,
                                      r == -E2BIG ? "refused: request head too long or too many fields"
                                                  : "refused: malformed or ambiguously framed request head",
                                      host);
        }
        return 0;
}

/* Copies the rewritten head out[0..len) into first without its Connection
 * and Keep-Alive fields (hop-by-hop: the server connection stays open for
 * the pool whatever the guest's does). The lines were checked. */
static size_t head_for_pool(const uint8_t *out, size_t len, uint8_t *first)
{
        size_t off = 0, n = 0;

        while (off < len) {
                const uint8_t *crlf = memmem(out + off, len - off, "\r\n", 2);
                size_t ln = (size_t)(crlf - out) - off + 2;
                const char *l = (const char *)out + off;
                bool drop = off > 0 && ((ln >= 11 && strncasecmp(l, "connection:", 11) == 0) ||
                                        (ln >= 11 && strncasecmp(l, "keep-alive:", 11) == 0));
                if (!drop) {
                        memcpy(first + n, l, ln);
                        n += ln;
                }
                off += ln;
        }
        return n;
}

/* Rewrites the head in c->in and builds the first write in c->first (the
 * head and the body bytes already read); the rest of c->in (a pipelined
 * request) stays. 0 or a negative errno (answered). */
static int rewrite(struct conn *c, struct exchange *ex, struct ak_error *err)
{
        const struct tls_relay_config *cfg = c->relay->cfg;
        const char *host = c->t->host;
        enum inject_body body;
        uint64_t body_len;
        size_t out_len = 0, secret = 0, used = 0;
        int r;

        if (c->t->before_request && (r = c->t->before_request(c->t->ctx, err)) < 0) {
                ex->res.outcome = TLS_RELAY_UNAVAILABLE;
                guest_answer(c, ex, 503, "Service Unavailable", "a secret could not be read");
                return r;
        }
        if (cfg->secrets_lock)
                pthread_rwlock_rdlock(cfg->secrets_lock);
        r = inject_request(c->in, c->in_len, host, cfg->secrets, cfg->n_secrets, c->out, HEAD_OUT_MAX, &out_len,
                           &body, &body_len, &secret);
        if (cfg->secrets_lock)
                pthread_rwlock_unlock(cfg->secrets_lock);
        c->out_dirty = r >= 0 ? out_len : HEAD_OUT_MAX; /* a refusal may have written part of a value */
        inject_request_line(c->in, ex->req.head_len, ex->res.method, ex->res.path);
        if (r == -EACCES) {
                ex->res.secret = secret;
                guest_answer(c, ex, 403, "Forbidden", "a secret's placeholder where it may not go");
                return tls_relay_fail(&ex->res, TLS_RELAY_REFUSED_SECRET, err, -EACCES,
                                      "refused: the request carries a secret's placeholder where it may not go "
                                      "(another host, the URL or another header)", host);
        }
        if (r < 0 || (size_t)r != ex->req.head_len) {
                guest_answer(c, ex, 400, "Bad Request", "malformed request, or its Host is not the TLS server name");
                return tls_relay_fail(&ex->res, TLS_RELAY_BAD_REQUEST, err, r < 0 ? r : -EBADMSG,
                                      "refused: malformed request head, or its Host is not the TLS server name",
                                      host);
        }
        ex->res.injected = out_len != (size_t)r || memcmp(c->in, c->out, out_len) != 0;
        ex->poolable = c->relay->pool && ex->req.minor == 1 && !ex->req.conn_other && !ex->req.upgrade &&
                       strcmp(ex->req.method, "CONNECT") != 0;
        if (ex->poolable) {
                ex->first_len = head_for_pool(c->out, out_len, c->first);
        } else {
                memcpy(c->first, c->out, out_len);
                ex->first_len = out_len;
        }
        http1_body_init(&ex->req_body, &ex->req);
        size_t rest = c->in_len - ex->req.head_len;
        int fr = http1_body_done(&ex->req_body) ? 1 : http1_body_feed(&ex->req_body, c->in + ex->req.head_len, rest, &used);
        if (fr < 0) {
                guest_answer(c, ex, 400, "Bad Request", "malformed chunked request body");
                return tls_relay_fail(&ex->res, TLS_RELAY_BAD_REQUEST, err, -EBADMSG,
                                      "refused: malformed chunked request body", host);
        }
        ex->req_done = fr == 1;
        memcpy(c->first + ex->first_len, c->in + ex->req.head_len, used);
        ex->first_len += used;
        c->in_len = rest - used;
        memmove(c->in, c->in + ex->req.head_len + used, c->in_len);
        ex->first_whole = ex->req_done;
        ex->res.to_server = ex->first_len;
        return 0;
}

/* A pooled server connection for the request, or a new one. */
static int upstream_open(struct conn *c, struct exchange *ex, bool fresh, struct upstream *up, struct ak_error *err)
{
        const char *host = c->t->host;

        up->reused = false;
        if (!fresh && ex->poolable && relay_pool_take(c->relay->pool, c->key, &up->ssl, &up->fd)) {
                up->reused = true;
                return 0;
        }
        up->fd = c->t->connect(c->t->ctx);
        if (up->fd < 0) {
                guest_answer(c, ex, 502, "Bad Gateway", "the server could not be reached");
                return tls_relay_fail(&ex->res, TLS_RELAY_IO, err, up->fd, "connecting to the server failed", host);
        }
        tls_relay_set_timeouts(up->fd, c->relay->cfg->timeout_ms);
        up->ssl = tls_relay_upstream_side(c->relay, up->fd, host);
        if (!up->ssl || SSL_connect(up->ssl) != 1) {
                long v = up->ssl ? SSL_get_verify_result(up->ssl) : X509_V_OK;
                char what[256];
                snprintf(what, sizeof(what), "the server's TLS failed%s%s", v != X509_V_OK ? ": certificate " : "",
                         v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
                guest_answer(c, ex, 502, "Bad Gateway", "the server's TLS failed");
                return tls_relay_fail(&ex->res, TLS_RELAY_UPSTREAM_TLS, err, -EPROTO, what, host);
        }
        ex->res.resumed = SSL_session_reused(up->ssl) == 1;
        return 0;
}

static void upstream_close(struct upstream *up)
{
        SSL_free(up->ssl);
        if (up->fd >= 0)
                close(up->fd);
        up->ssl = NULL;
        up->fd = -1;
}

/* Body (or tunnel) bytes of the response, forwarded as far as it goes. */
static int body_bytes(struct conn *c, struct exchange *ex, const uint8_t *p, size_t n)
{
        size_t used = n;
        int r = ex->tunnel ? 0 : http1_body_feed(&ex->resp_body, p, n, &used);

        if (r < 0)
                return -EBADMSG;
        if (!write_all(c->g, p, used))
                return -EIO;
        ex->res.to_guest += used;
        ex->resp_done = r == 1;
        ex->dead = ex->dead || used < n; /* bytes after the response: an answer to nothing */
        return 0;
}

/* Response bytes p[0..n) (n <= RELAY_BUF) from the server: heads parsed
 * and forwarded (1xx ones too), the body forwarded as far as it goes. 0,
 * or -EBADMSG (a response the relay cannot frame), -EIO (the guest's side). */
static int from_server(struct conn *c, struct exchange *ex, const uint8_t *p, size_t n)
{
        if (ex->resp_done) {
                ex->dead = ex->dead || n > 0;
                return 0;
        }
        if (ex->tunnel || ex->resp_head)
                return body_bytes(c, ex, p, n);
        /* rlen < HTTP1_HEAD_MAX here (else the parse said -E2BIG), and rbuf
         * holds HTTP1_HEAD_MAX + RELAY_BUF */
        memcpy(c->rbuf + ex->rlen, p, n);
        ex->rlen += n;
        for (;;) {
                int r = http1_parse_response(c->rbuf, ex->rlen, ex->req.method, &ex->resp);
                if (r == -EAGAIN)
                        return 0;
                if (r < 0 || (ex->resp.status < 200 && ++ex->informational > INFORMATIONAL_MAX))
                        return -EBADMSG;
                size_t head = ex->resp.head_len, rest = ex->rlen - head, used = rest;
                bool connect_ok = strcmp(ex->req.method, "CONNECT") == 0 && ex->resp.status / 100 == 2;
                ex->any_response = true;
                ex->res.status = ex->resp.status;
                if (ex->resp.status < 200 && ex->resp.status != 101) {
                        if (!write_all(c->g, c->rbuf, head))
                                return -EIO;
                        ex->res.to_guest += head;
                        ex->rlen = rest;
                        memmove(c->rbuf, c->rbuf + head, rest);
                        continue; /* the final head follows */
                }
                ex->resp_head = true;
                if (ex->resp.status == 101 || connect_ok) {
                        ex->tunnel = ex->dead = true; /* raw bytes both ways from here on */
                } else {
                        ex->dead = ex->dead || ex->resp.framing == HTTP1_BODY_CLOSE || !http1_keep_alive(&ex->resp);
                        http1_body_init(&ex->resp_body, &ex->resp);
                        if (http1_body_done(&ex->resp_body)) { /* no body: all of rest is excess */
                                used = 0;
                                r = 1;
                        } else if ((r = http1_body_feed(&ex->resp_body, c->rbuf + head, rest, &used)) < 0) {
                                return -EBADMSG;
                        }
                        ex->resp_done = r == 1;
                        ex->dead = ex->dead || used < rest; /* bytes after the response */
                }
                /* the head and the body bytes that came with it in one write:
                 * one TLS record, one wake-up of the guest */
                ex->rlen = 0;
                if (!write_all(c->g, c->rbuf, head + used))
                        return -EIO;
                ex->res.to_guest += head + used;
                return 0;
        }
}

/* Guest bytes while the request body is still coming: forwarded as far as
 * it goes, the rest (a pipelined request) kept. 0 or -EIO / -EBADMSG. */
static int from_guest(struct conn *c, struct exchange *ex, SSL *u, const uint8_t *p, size_t n)
{
        size_t used = n;
        int r = ex->tunnel ? 0 : http1_body_feed(&ex->req_body, p, n, &used);

        if (r < 0)
                return -EBADMSG;
        if (!write_all(u, p, used))
                return -EIO;
        ex->res.to_server += used;
        ex->req_done = !ex->tunnel && r == 1;
        memcpy(c->in + c->in_len, p + used, n - used);
        c->in_len += n - used;
        return 0;
}

/* Relays one exchange both ways until the response is done (and the
 * request: a server that answers before the request ended gets its
 * connection closed). 0, or -ECONNRESET (the server failed before a byte
 * of its response), -EBADMSG (its response cannot be framed), -EILSEQ (the
 * guest's body cannot be), -EPIPE (the guest closed mid-request),
 * -ETIMEDOUT, -EIO. */
static int pump(struct conn *c, struct exchange *ex, struct upstream *up)
{
        int timeout_ms = c->relay->cfg->timeout_ms;
        uint8_t buf[RELAY_BUF];
        bool guest_open = true, kept = up->reused;

        for (;;) {
                if (ex->resp_done) {
                        ex->dead = ex->dead || !ex->req_done;
                        return 0;
                }
                bool want_guest = guest_open && (!ex->req_done || ex->tunnel);
                struct pollfd p[2] = { { c->gfd, want_guest ? POLLIN : 0, 0 }, { up->fd, POLLIN, 0 } };
                bool g_ready = want_guest && (SSL_pending(c->g) || BIO_ctrl_pending(SSL_get_rbio(c->g)));
                if (!g_ready && !SSL_pending(up->ssl)) {
                        int n = poll(p, 2, timeout_ms);
                        if (n == 0)
                                return -ETIMEDOUT;
                        if (n < 0 && errno != EINTR)
                                return -EIO;
                        if (n < 0)
                                continue;
                }
                if (!want_guest && guest_open && (p[0].revents & (POLLHUP | POLLERR)))
                        return -EPIPE; /* the guest's socket is gone (or shut down by our owner) */
                size_t got = 0;
                if (want_guest && (g_ready || p[0].revents)) {
                        if (SSL_read_ex(c->g, buf, sizeof(buf), &got) != 1) {
                                if (!ex->tunnel)
                                        return -EPIPE;
                                guest_open = false;
                                SSL_shutdown(up->ssl); /* close_notify: the guest is done sending */
                        } else {
                                int r = from_guest(c, ex, up->ssl, buf, got);
                                if (r < 0)
                                        return r == -EBADMSG ? -EILSEQ : r;
                        }
                }
                if (SSL_pending(up->ssl) || p[1].revents) {
                        if (SSL_read_ex(up->ssl, buf, sizeof(buf), &got) != 1) {
                                if (ex->tunnel || (ex->resp_head && ex->resp.framing == HTTP1_BODY_CLOSE)) {
                                        ex->resp_done = ex->dead = true;
                                        continue;
                                }
                                return ex->any_response ? -EIO : -ECONNRESET;
                        }
                        if (!kept) {
                                /* TLS 1.3 tickets come before the answer: keep the
                                 * session before an unclean close could spoil it */
                                tls_relay_session_keep(c->relay, up->ssl, c->t->host);
                                kept = true;
                        }
                        int r = from_server(c, ex, buf, got);
                        if (r < 0)
                                return r;
                }
        }
}

static bool idempotent(const char *m)
{
        static const char *const ok[] = { "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE" };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
                if (strcmp(m, ok[i]) == 0)
                        return true;
        return false;
}

/* The failure of an exchange in words and an outcome (answered when nothing
 * of the server's went to the guest yet). */
static int exchange_fail(struct conn *c, struct exchange *ex, int r, struct ak_error *err)
{
        const char *host = c->t->host;

        switch (r) {
        case -ECONNRESET:
                guest_answer(c, ex, 502, "Bad Gateway", "the server closed the connection without answering");
                return tls_relay_fail(&ex->res, TLS_RELAY_IO, err, r,
                                      "the server closed the connection without answering", host);
        case -EBADMSG:
                guest_answer(c, ex, 502, "Bad Gateway", "the server's response is malformed or ambiguously framed");
                return tls_relay_fail(&ex->res, TLS_RELAY_BAD_RESPONSE, err, r,
                                      "refused: the server's response is malformed or ambiguously framed", host);
        case -EILSEQ:
                guest_answer(c, ex, 400, "Bad Request", "malformed chunked request body");
                return tls_relay_fail(&ex->res, TLS_RELAY_BAD_REQUEST, err, -EBADMSG,
                                      "refused: malformed chunked request body", host);
        case -ETIMEDOUT:
                guest_answer(c, ex, 504, "Gateway Timeout", "timed out");
                return tls_relay_fail(&ex->res, TLS_RELAY_IO, err, r, "timed out", host);
        case -EPIPE:
                return tls_relay_fail(&ex->res, TLS_RELAY_IO, err, r, "the guest closed in the middle of a request",
                                      host);
        default:
                return tls_relay_fail(&ex->res, TLS_RELAY_IO, err, r, "relaying failed", host);
        }
}

/* One request on the guest connection: 0 with *ret_end saying whether the
 * connection ends after it, 1 when the guest closed before another, or a
 * negative errno (the request failed; the connection ends). */
static int exchange_run(struct conn *c, struct exchange *ex, bool *ret_end, struct ak_error *err)
{
        struct upstream up = { NULL, -1, false };
        int r = read_head(c, ex, err);

        if (r != 0)
                return r;
        uint64_t t0 = ak_mono_ns(), t1 = 0;
        r = rewrite(c, ex, err);
        OPENSSL_cleanse(c->out, c->out_dirty); /* only what was written: a whole wipe costs more
                                                * than a small request */
        c->out_dirty = 0;
        ex->res.ns_rewrite = ak_mono_ns() - t0;
        for (unsigned attempt = 0; r == 0; attempt++) {
                t0 = ak_mono_ns();
                r = upstream_open(c, ex, attempt > 0, &up, err);
                t1 = ak_mono_ns();
                ex->res.ns_upstream += t1 - t0;
                if (r < 0)
                        break;
                ex->res.reused = up.reused;
                r = write_all(up.ssl, c->first, ex->first_len) ? pump(c, ex, &up) : -ECONNRESET;
                if (r == -ECONNRESET && up.reused && attempt == 0 && ex->first_whole && idempotent(ex->req.method)) {
                        /* a pooled connection the server had closed: once more on a new one */
                        upstream_close(&up);
                        ex->res.retried = true;
                        ex->res.to_server = ex->first_len;
                        r = 0;
                        continue;
                }
                if (r < 0)
                        r = exchange_fail(c, ex, r, err);
                break;
        }
        if (t1)
                ex->res.ns_exchange = ak_mono_ns() - t1;
        OPENSSL_cleanse(c->first, ex->first_len);
        if (r == 0 && !ex->dead && ex->poolable && ex->req_done)
                relay_pool_put(c->relay->pool, c->key, up.ssl, up.fd);
        else if (up.ssl || up.fd >= 0)
                upstream_close(&up);
        *ret_end = r < 0 || !ex->req_done || ex->tunnel || ex->resp.framing == HTTP1_BODY_CLOSE ||
                   !http1_keep_alive(&ex->req) || !http1_keep_alive(&ex->resp);
        return r;
}

/* out and first were wiped after each request (as far as written). */
static void conn_free(struct conn *c)
{
        free(c->in);
        free(c->out);
        free(c->first);
        free(c->rbuf);
        SSL_free(c->g);
}

static int guest_accept(struct conn *c, struct prefix_bio *pb, struct tls_relay_result *res, struct ak_error *err)
{
        const char *host = c->t->host;

        if (!c->in || !c->out || !c->first || !c->rbuf)
                return tls_relay_fail(res, TLS_RELAY_IO, err, -ENOMEM, "out of memory", host);
        c->g = tls_relay_guest_side(c->relay, c->gfd, pb, host);
        if (!c->g || SSL_accept(c->g) != 1)
                return tls_relay_fail(res, TLS_RELAY_GUEST_TLS, err, -EPROTO,
                                      "the guest's TLS handshake failed (does it trust the sandbox CA?)", host);
        const char *sni = SSL_get_servername(c->g, TLSEXT_NAMETYPE_host_name);
        if (!sni || strcasecmp(sni, host) != 0)
                return tls_relay_fail(res, TLS_RELAY_BAD_REQUEST, err, -EBADMSG,
                                      "the guest's TLS server name is not the host", host);
        return 0;
}

int tls_relay_serve(struct tls_relay *relay, int guest_fd, const uint8_t *prefix, size_t prefix_len,
                    const struct tls_relay_target *t, struct tls_relay_result *ret, struct ak_error *err)
{
        struct prefix_bio pb = { .fd = guest_fd, .p = prefix, .len = prefix ? prefix_len : 0 };
        struct conn c = {
                .relay = relay,
                .t = t,
                .gfd = guest_fd,
                .in = malloc(IN_MAX),
                .out = malloc(HEAD_OUT_MAX),
                .first = malloc(FIRST_MAX),
                .rbuf = malloc(HTTP1_HEAD_MAX + RELAY_BUF),
        };
        struct tls_relay_result last = { 0 };
        int r;

        snprintf(c.key, sizeof(c.key), "%s|%s", t->host, t->addr ? t->addr : "");
        tls_relay_set_timeouts(guest_fd, relay->cfg->timeout_ms);
        r = guest_accept(&c, &pb, &last, err);
        if (r < 0 && t->on_exchange)
                t->on_exchange(t->ctx, &last, err);
        for (unsigned n = 1; r == 0; n++) {
                struct exchange ex = { .res.request = n };
                bool end = true;
                r = exchange_run(&c, &ex, &end, err);
                if (r == 1) {
                        r = 0;
                        break;
                }
                last = ex.res;
                if (t->on_exchange)
                        t->on_exchange(t->ctx, &ex.res, r < 0 ? err : NULL);
                if (r == 0 && end) {
                        SSL_shutdown(c.g); /* close_notify: a close-delimited answer ends here */
                        break;
                }
        }
        conn_free(&c);
        ERR_clear_error();
        *ret = last;
        return r;
}
