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

#include "vmm/net/tls_relay_int.h"


const char *tls_relay_outcome_name(enum tls_relay_outcome o)
{
        switch (o) {
        case TLS_RELAY_DONE: return "done";
        case TLS_RELAY_REFUSED_SECRET: return "refused_secret";
        case TLS_RELAY_BAD_REQUEST: return "bad_request";
        case TLS_RELAY_GUEST_TLS: return "guest_tls";
        case TLS_RELAY_UPSTREAM_TLS: return "upstream_tls";
        case TLS_RELAY_IO: return "io";
        case TLS_RELAY_BAD_RESPONSE: return "bad_response";
        case TLS_RELAY_UNAVAILABLE: return "unavailable";
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

int tls_relay_fail(struct tls_relay_result *res, enum tls_relay_outcome o, struct ak_error *err, int code,
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

void tls_relay_free(struct tls_relay *relay)
{
        if (!relay)
                return;
        SSL_CTX_free(relay->guest);
        SSL_CTX_free(relay->upstream);
        SSL_SESSION_free(relay->session);
        relay_pool_free(relay->pool);
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
        if (r == 0 && !cfg->no_pool) {
                unsigned per_key = cfg->pool_per_key ? cfg->pool_per_key : TLS_RELAY_POOL_PER_KEY;
                int idle_ms = cfg->pool_idle_ms > 0 ? cfg->pool_idle_ms : TLS_RELAY_POOL_IDLE_MS;
                if (per_key > TLS_RELAY_POOL_TOTAL)
                        per_key = TLS_RELAY_POOL_TOTAL;
                if (relay_pool_new(per_key, TLS_RELAY_POOL_TOTAL, idle_ms, &relay->pool) < 0) {
                        tls_relay_free(relay);
                        return ak_error_set(err, -ENOMEM, "secret relay: the server connection pool");
                }
        }
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

SSL *tls_relay_guest_side(struct tls_relay *relay, int fd, struct prefix_bio *pb, const char *host)
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

SSL *tls_relay_upstream_side(struct tls_relay *relay, int fd, const char *host)
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

/* Keeps u's session for the next connection when the server gave one that
 * can be resumed (TLS 1.3 sends its tickets after the handshake: this is
 * called once its first answer bytes were read). */
void tls_relay_session_keep(struct tls_relay *relay, SSL *u, const char *host)
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

/* Timeouts for blocking I/O, and no Nagle: TLS records are written whole. */
void tls_relay_set_timeouts(int fd, int timeout_ms)
{
        struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
        int one = 1;

        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}


unsigned tls_relay_pooled(struct tls_relay *relay)
{
        return relay->pool ? relay_pool_idle(relay->pool) : 0;
}

void tls_relay_pool_flush(struct tls_relay *relay)
{
        if (relay->pool)
                relay_pool_flush(relay->pool);
}
