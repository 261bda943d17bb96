/* Private to tls_relay.c (set-up, the two TLS sides, sessions) and
 * tls_relay_http.c (the requests of one guest connection). */
#pragma once

#include <openssl/ssl.h>
#include <pthread.h>

#include "vmm/net/relay_pool.h"
#include "vmm/net/tls_relay.h"

struct relay_leaf {
        const char *host;
        X509 *cert;
        EVP_PKEY *key;
};

struct tls_relay {
        const struct tls_relay_config *cfg;
        SSL_CTX *guest, *upstream;
        struct relay_pool *pool;    /* NULL with cfg->no_pool */
        pthread_mutex_t lock;       /* guards session */
        SSL_SESSION *session;       /* the server's last resumable session: the next
                                     * connection resumes it (one handshake's worth of
                                     * signatures and verification saved) */
        char session_host[SNIFF_NAME_MAX]; /* whose (OpenSSL keeps no name in a
                                            * client's TLS 1.3 session) */
        size_t n_leaves;
        struct relay_leaf leaves[INJECT_SECRETS_MAX];
};

/* The bytes a proxy already read off the guest's socket, served first. */
struct prefix_bio {
        int fd;
        const uint8_t *p;
        size_t len, off;
};

/* The guest's side of host's connection (leaf of the sandbox CA) over fd
 * with pb's bytes first, not yet accepted; NULL on failure. */
SSL *tls_relay_guest_side(struct tls_relay *relay, int fd, struct prefix_bio *pb, const char *host);
/* The server's side over fd, verifying host, offering the kept session;
 * not yet connected; NULL on failure. */
SSL *tls_relay_upstream_side(struct tls_relay *relay, int fd, const char *host);
/* Keeps u's session for the next new connection to host. */
void tls_relay_session_keep(struct tls_relay *relay, SSL *u, const char *host);
/* Socket timeouts of timeout_ms, and TCP_NODELAY. */
void tls_relay_set_timeouts(int fd, int timeout_ms);
/* res->outcome = o, and err "secret relay to HOST: WHAT[: OpenSSL's error]"; returns code. */
int tls_relay_fail(struct tls_relay_result *res, enum tls_relay_outcome o, struct ak_error *err, int code,
                   const char *what, const char *host);
