/* Terminate, rewrite the first head, re-originate, relay; see tls_relay.h. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "vmm/net/tls_relay.h"

#define RELAY_BUF 16384
#define HEAD_OUT_MAX (SNIFF_HEADERS_MAX + INJECT_SECRETS_MAX * INJECT_VALUE_MAX + 64)

const char *tls_relay_outcome_name(enum tls_relay_outcome o)
{
        switch (o) {
        case TLS_RELAY_DONE: return "done";
        case TLS_RELAY_REFUSED_SECRET: return "refused_secret";
        case TLS_RELAY_BAD_REQUEST: return "bad_request";
        case TLS_RELAY_GUEST_TLS: return "guest_tls";
        case TLS_RELAY_UPSTREAM_TLS: return "upstream_tls";
        case TLS_RELAY_IO: return "io";
        }
        return "unknown";
}

/* err from OpenSSL's last error, for setup failures. */
static int fail_words(struct ak_error *err, int code, const char *what, const char *roots)
{
        char ossl[256] = "";
        unsigned long e = ERR_peek_last_error();

        if (e)
                ERR_error_string_n(e, ossl, sizeof(ossl));
        ERR_clear_error();
        return ak_error_set(err, code, "%s (roots: %s)%s%s", what, roots ? roots : "the system's",
                            ossl[0] ? ": " : "", ossl);
}

static int fail(struct tls_relay_result *res, enum tls_relay_outcome o, struct ak_error *err, int code,
                const char *what, const char *host)
{
        char ossl[256] = "";
        unsigned long e = ERR_peek_last_error();

        if (e)
                ERR_error_string_n(e, ossl, sizeof(ossl));
        ERR_clear_error();
        res->outcome = o;
        return ak_error_set(err, code, "secret relay to %s: %s%s%s", host, what, ossl[0] ? ": " : "", ossl);
}

static int alpn_http11(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned inlen, void *arg)
{
        static const unsigned char h11[] = "\x08http/1.1";

        if (SSL_select_next_proto((unsigned char **)out, outlen, h11, sizeof(h11) - 1, in, inlen) !=
            OPENSSL_NPN_NEGOTIATED)
                return SSL_TLSEXT_ERR_NOACK; /* no ALPN: HTTP/1.1 is what the client gets */
        return SSL_TLSEXT_ERR_OK;
}

struct relay_leaf {
        const char *host;
        X509 *cert;
        EVP_PKEY *key;
};

struct tls_relay {
        const struct tls_relay_config *cfg;
        SSL_CTX *guest, *upstream;
        pthread_mutex_t lock;       /* guards session */
        SSL_SESSION *session;       /* the server's last resumable session: the next
                                     * connection resumes it (one handshake's worth of
                                     * signatures and verification saved) */
        char session_host[SNIFF_NAME_MAX]; /* whose (OpenSSL keeps no name in a
                                            * client's TLS 1.3 session) */
        size_t n_leaves;
        struct relay_leaf leaves[INJECT_SECRETS_MAX];
};

void tls_relay_free(struct tls_relay *relay)
{
        if (!relay)
                return;
        SSL_CTX_free(relay->guest);
        SSL_CTX_free(relay->upstream);
        SSL_SESSION_free(relay->session);
        pthread_mutex_destroy(&relay->lock);
        free(relay);
}

static int contexts_make(struct tls_relay *relay)
{
        static const unsigned char h11[] = "\x08http/1.1";
        const struct tls_relay_config *cfg = relay->cfg;

        relay->guest = SSL_CTX_new(TLS_server_method());
        relay->upstream = SSL_CTX_new(TLS_client_method());
        if (!relay->guest || !relay->upstream || !SSL_CTX_set_min_proto_version(relay->guest, TLS1_2_VERSION) ||
            !SSL_CTX_set_min_proto_version(relay->upstream, TLS1_2_VERSION))
                return -EIO;
        SSL_CTX_set_alpn_select_cb(relay->guest, alpn_http11, NULL);
        SSL_CTX_set_verify(relay->upstream, SSL_VERIFY_PEER, NULL);
        if (!(cfg->roots_file ? SSL_CTX_load_verify_locations(relay->upstream, cfg->roots_file, NULL)
                              : SSL_CTX_set_default_verify_paths(relay->upstream)) ||
            SSL_CTX_set_alpn_protos(relay->upstream, h11, sizeof(h11) - 1) != 0)
                return -EIO;
        return 0;
}

int tls_relay_new(const struct tls_relay_config *cfg, struct tls_relay **ret, struct ak_error *err)
{
        struct tls_relay *relay;
        int r;

        if (cfg->n_secrets > INJECT_SECRETS_MAX)
                return ak_error_set(err, -EINVAL, "secret relay: %zu secrets, at most %d", cfg->n_secrets,
                                    INJECT_SECRETS_MAX);
        relay = calloc(1, sizeof(*relay));
        if (!relay)
                return ak_error_set(err, -ENOMEM, "secret relay: out of memory");
        relay->cfg = cfg;
        pthread_mutex_init(&relay->lock, NULL);
        r = contexts_make(relay);
        if (r < 0) {
                tls_relay_free(relay);
                r = fail_words(err, -EIO, "secret relay: TLS contexts", cfg->roots_file);
                return r;
        }
        for (size_t i = 0; i < cfg->n_secrets; i++) {
                struct relay_leaf *l = &relay->leaves[relay->n_leaves];
                const char *host = cfg->secrets[i].host;
                bool have = false;
                for (size_t j = 0; j < relay->n_leaves; j++)
                        have = have || strcmp(relay->leaves[j].host, host) == 0;
                if (have)
                        continue;
                r = tls_ca_leaf(cfg->ca, host, &l->cert, &l->key);
                if (r < 0) {
                        tls_relay_free(relay);
                        ERR_clear_error();
                        return ak_error_errno(err, r, "secret relay: certificate for %s from the sandbox CA", host);
                }
                l->host = host;
                relay->n_leaves++;
        }
        *ret = relay;
        return 0;
}

/* The guest's side reads the bytes a proxy already took off the socket
 * (its sniffed ClientHello) before the socket's own: a BIO that serves
 * them first, then passes reads and writes to the fd. */
struct prefix_bio {
        int fd;
        const uint8_t *p;
        size_t len, off;
};

static int prefix_read(BIO *b, char *buf, size_t size, size_t *got)
{
        struct prefix_bio *pb = BIO_get_data(b);
        BIO_clear_retry_flags(b);
        if (pb->off < pb->len) {
                size_t n = pb->len - pb->off < size ? pb->len - pb->off : size;
                memcpy(buf, pb->p + pb->off, n);
                pb->off += n;
                *got = n;
                return 1;
        }
        ssize_t n = recv(pb->fd, buf, size, 0);
        if (n <= 0) {
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        BIO_set_retry_read(b);
                return 0;
        }
        *got = (size_t)n;
        return 1;
}

static int prefix_write(BIO *b, const char *buf, size_t size, size_t *put)
{
        struct prefix_bio *pb = BIO_get_data(b);
        BIO_clear_retry_flags(b);
        ssize_t n = send(pb->fd, buf, size, MSG_NOSIGNAL);
        if (n <= 0) {
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        BIO_set_retry_write(b);
                return 0;
        }
        *put = (size_t)n;
        return 1;
}

static long prefix_ctrl(BIO *b, int cmd, long num, void *ptr)
{
        struct prefix_bio *pb = BIO_get_data(b);
        (void)num;
        (void)ptr;
        switch (cmd) {
        case BIO_CTRL_FLUSH: return 1;
        case BIO_CTRL_PENDING: return (long)(pb->len - pb->off);
        default: return 0;
        }
}

static BIO_METHOD *prefix_meth;

static void prefix_method_make(void)
{
        BIO_METHOD *x = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ak-prefix");
        if (x && BIO_meth_set_read_ex(x, prefix_read) && BIO_meth_set_write_ex(x, prefix_write) &&
            BIO_meth_set_ctrl(x, prefix_ctrl))
                prefix_meth = x;
        else
                BIO_meth_free(x);
}

/* Made once per process and never freed (OpenSSL keeps methods so). */
static BIO_METHOD *prefix_method(void)
{
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, prefix_method_make);
        return prefix_meth;
}

static SSL *guest_side(struct tls_relay *relay, int fd, struct prefix_bio *pb, const char *host)
{
        const struct relay_leaf *leaf = NULL;
        SSL *ssl;

        for (size_t i = 0; i < relay->n_leaves; i++)
                if (strcmp(relay->leaves[i].host, host) == 0)
                        leaf = &relay->leaves[i];
        if (!leaf)
                return NULL;
        ssl = SSL_new(relay->guest);
        if (ssl && (!SSL_use_certificate(ssl, leaf->cert) || !SSL_use_PrivateKey(ssl, leaf->key))) {
                SSL_free(ssl);
                return NULL;
        }
        if (ssl && pb->len == 0 && !SSL_set_fd(ssl, fd)) {
                SSL_free(ssl);
                return NULL;
        }
        if (ssl && pb->len) {
                BIO *b = prefix_method() ? BIO_new(prefix_method()) : NULL;
                if (!b) {
                        SSL_free(ssl);
                        return NULL;
                }
                BIO_set_data(b, pb);
                BIO_set_init(b, 1);
                SSL_set_bio(ssl, b, b); /* one reference, owned by ssl */
        }
        return ssl;
}

static SSL *upstream_side(struct tls_relay *relay, int fd, const char *host)
{
        SSL *ssl = SSL_new(relay->upstream);

        if (ssl && (!SSL_set_fd(ssl, fd) || !SSL_set_tlsext_host_name(ssl, host) || !SSL_set1_host(ssl, host))) {
                SSL_free(ssl);
                return NULL;
        }
        pthread_mutex_lock(&relay->lock);
        /* a session is offered only to the host it came from */
        if (relay->session && strcmp(relay->session_host, host) == 0)
                SSL_set_session(ssl, relay->session);
        pthread_mutex_unlock(&relay->lock);
        return ssl;
}

static bool write_all(SSL *ssl, const void *p, size_t n)
{
        size_t w = 0;

        return n == 0 || (SSL_write_ex(ssl, p, n, &w) == 1 && w == n);
}

/* The rewritten head with its Connection header replaced by "Connection:
 * close", then the bytes that followed it, as one write (one TLS record
 * where it fits: no small segments for Nagle and delayed ACKs to hold).
 * The head's lines were checked by inject_request. */
static bool send_head_close(SSL *up, const uint8_t *head, size_t len, const uint8_t *rest, size_t rest_len)
{
        uint8_t *buf = malloc(len + 21 + rest_len);
        size_t off = 0, n = 0;
        bool ok;

        if (!buf)
                return false;
        while (off + 2 < len) {
                const uint8_t *crlf = memmem(head + off, len - off, "\r\n", 2);
                size_t ln = (size_t)(crlf - head) - off + 2;
                bool drop = off > 0 && (ln >= 11 && strncasecmp((const char *)head + off, "connection:", 11) == 0);
                if (!drop) {
                        memcpy(buf + n, head + off, ln);
                        n += ln;
                }
                off += ln;
        }
        memcpy(buf + n, "Connection: close\r\n\r\n", 21);
        n += 21;
        memcpy(buf + n, rest, rest_len);
        n += rest_len;
        ok = write_all(up, buf, n);
        OPENSSL_cleanse(buf, n);
        free(buf);
        return ok;
}

/* Keeps u's session for the next connection when the server gave one that
 * can be resumed (TLS 1.3 sends its tickets after the handshake: this is
 * called once its first answer bytes were read). */
static void session_keep(struct tls_relay *relay, SSL *u, const char *host)
{
        SSL_SESSION *live = SSL_get1_session(u), *s = NULL;

        /* a copy: an unclean close of u later marks its own session object
         * not resumable (servers that end a Connection: close answer
         * without close_notify are common) */
        if (live && SSL_SESSION_is_resumable(live))
                s = SSL_SESSION_dup(live);
        SSL_SESSION_free(live);
        if (!s)
                return;
        pthread_mutex_lock(&relay->lock);
        SSL_SESSION_free(relay->session);
        relay->session = s;
        snprintf(relay->session_host, sizeof(relay->session_host), "%s", host);
        pthread_mutex_unlock(&relay->lock);
}

/* Relays both ways until the server is done (or the guest and then the
 * server). 0 or -ETIMEDOUT / -EIO. */
static int pump(struct tls_relay *relay, const char *host, SSL *g, SSL *u, int gfd, int ufd,
                struct tls_relay_result *res)
{
        int timeout_ms = relay->cfg->timeout_ms;
        uint8_t buf[RELAY_BUF];
        bool guest_open = true, kept = false;

        for (;;) {
                struct pollfd p[2] = { { gfd, guest_open ? POLLIN : 0, 0 }, { ufd, POLLIN, 0 } };
                bool g_ready = guest_open && (SSL_pending(g) || BIO_ctrl_pending(SSL_get_rbio(g)));
                if (!g_ready && !SSL_pending(u)) {
                        int n = poll(p, 2, timeout_ms);
                        if (n == 0)
                                return -ETIMEDOUT;
                        if (n < 0 && errno != EINTR)
                                return -errno;
                        if (n < 0)
                                continue;
                }
                size_t got = 0;
                if (guest_open && (g_ready || p[0].revents)) {
                        if (SSL_read_ex(g, buf, sizeof(buf), &got) != 1) {
                                guest_open = false;
                                SSL_shutdown(u); /* close_notify: the guest is done sending */
                        } else if (!write_all(u, buf, got)) {
                                return -EIO;
                        } else {
                                res->to_server += got;
                        }
                }
                if (SSL_pending(u) || p[1].revents) {
                        if (SSL_read_ex(u, buf, sizeof(buf), &got) != 1) {
                                SSL_shutdown(g);
                                return 0;
                        }
                        if (!kept) {
                                /* the server's tickets came before its answer: keep the
                                 * session now, before an unclean close could spoil it */
                                session_keep(relay, u, host);
                                kept = true;
                                res->status = inject_answer_status(buf, got);
                        }
                        if (!write_all(g, buf, got))
                                return guest_open ? -EIO : 0;
                        res->to_guest += got;
                }
        }
}

/* Timeouts for blocking I/O, and no Nagle: TLS records are written whole. */
static void set_timeouts(int fd, int timeout_ms)
{
        struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
        int one = 1;

        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Reads the guest's first request head and rewrites it into out. */
static int first_head(const struct tls_relay_config *cfg, SSL *g, const char *host, uint8_t *in, size_t *in_len,
                      uint8_t *out, size_t *out_len, size_t *ret_consumed, struct tls_relay_result *res,
                      struct ak_error *err)
{
        enum inject_body body;
        uint64_t body_len;
        size_t secret = 0;
        int r = -EAGAIN;

        while (r == -EAGAIN) {
                size_t got = 0;
                if (*in_len >= SNIFF_HEADERS_MAX)
                        return fail(res, TLS_RELAY_BAD_REQUEST, err, -EBADMSG, "request head too long", host);
                if (SSL_read_ex(g, in + *in_len, SNIFF_HEADERS_MAX - *in_len, &got) != 1)
                        return fail(res, TLS_RELAY_IO, err, -EIO, "the guest closed before a whole request head",
                                    host);
                *in_len += got;
                if (cfg->secrets_lock)
                        pthread_rwlock_rdlock(cfg->secrets_lock);
                r = inject_request(in, *in_len, host, cfg->secrets, cfg->n_secrets, out, HEAD_OUT_MAX, out_len,
                                   &body, &body_len, &secret);
                if (cfg->secrets_lock)
                        pthread_rwlock_unlock(cfg->secrets_lock);
        }
        if (r == -EACCES) {
                res->secret = secret;
                return fail(res, TLS_RELAY_REFUSED_SECRET, err, -EACCES,
                            "refused: the request carries a secret's placeholder where it may not go "
                            "(another host, the URL or another header)", host);
        }
        if (r < 0)
                return fail(res, TLS_RELAY_BAD_REQUEST, err, r,
                            "refused: malformed request head, or its Host is not the TLS server name", host);
        *ret_consumed = (size_t)r;
        inject_request_line(in, (size_t)r, res->method, res->path);
        res->injected = *out_len != (size_t)r || memcmp(in, out, *out_len) != 0;
        return 0;
}

int tls_relay_serve(struct tls_relay *relay, int guest_fd, int upstream_fd, const char *host,
                    struct tls_relay_result *ret, struct ak_error *err)
{
        return tls_relay_serve_prefixed(relay, guest_fd, NULL, 0, upstream_fd, host, ret, err);
}

int tls_relay_serve_prefixed(struct tls_relay *relay, int guest_fd, const uint8_t *prefix, size_t prefix_len,
                             int upstream_fd, const char *host, struct tls_relay_result *ret, struct ak_error *err)
{
        struct prefix_bio pb = { .fd = guest_fd, .p = prefix, .len = prefix ? prefix_len : 0 };
        const struct tls_relay_config *cfg = relay->cfg;
        struct tls_relay_result res = { 0 };
        uint8_t *in = malloc(SNIFF_HEADERS_MAX), *out = malloc(HEAD_OUT_MAX);
        size_t in_len = 0, out_len = 0, consumed = 0;
        SSL *g = NULL, *u = NULL;
        int r;

        set_timeouts(guest_fd, cfg->timeout_ms);
        set_timeouts(upstream_fd, cfg->timeout_ms);
        if (!in || !out) {
                r = fail(&res, TLS_RELAY_IO, err, -ENOMEM, "out of memory", host);
                goto out;
        }
        g = guest_side(relay, guest_fd, &pb, host);
        if (!g || SSL_accept(g) != 1) {
                r = fail(&res, TLS_RELAY_GUEST_TLS, err, -EPROTO,
                         "the guest's TLS handshake failed (does it trust the sandbox CA?)", host);
                goto out;
        }
        const char *sni = SSL_get_servername(g, TLSEXT_NAMETYPE_host_name);
        if (!sni || strcasecmp(sni, host) != 0) {
                r = fail(&res, TLS_RELAY_BAD_REQUEST, err, -EBADMSG, "the guest's TLS server name is not the host",
                         host);
                goto out;
        }
        r = first_head(cfg, g, host, in, &in_len, out, &out_len, &consumed, &res, err);
        if (r < 0)
                goto out;
        u = upstream_side(relay, upstream_fd, host);
        if (!u || SSL_connect(u) != 1) {
                long v = u ? SSL_get_verify_result(u) : X509_V_OK;
                char what[256];
                snprintf(what, sizeof(what), "the server's TLS failed%s%s", v != X509_V_OK ? ": certificate " : "",
                         v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
                r = fail(&res, TLS_RELAY_UPSTREAM_TLS, err, -EPROTO, what, host);
                goto out;
        }
        if (!send_head_close(u, out, out_len, in + consumed, in_len - consumed)) {
                r = fail(&res, TLS_RELAY_IO, err, -EIO, "writing the request to the server failed", host);
                goto out;
        }
        res.to_server = out_len + (in_len - consumed);
        res.resumed = SSL_session_reused(u) == 1;
        r = pump(relay, host, g, u, guest_fd, upstream_fd, &res);
        if (r < 0)
                r = fail(&res, TLS_RELAY_IO, err, r, r == -ETIMEDOUT ? "timed out" : "relaying failed", host);
out:
        if (out)
                OPENSSL_cleanse(out, HEAD_OUT_MAX); /* the head held the values */
        free(in);
        free(out);
        SSL_free(g);
        SSL_free(u);
        ERR_clear_error();
        *ret = res;
        return r;
}
