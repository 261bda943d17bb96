/* One guest connection to a host its secrets are bound to, with the secrets
 * put in (issue 19): TLS from the guest is terminated with a leaf of the
 * sandbox's CA (tls_ca), the first request head is rewritten by
 * inject_request, TLS to the real server is opened with full verification
 * (its certificate chains to the trusted roots and names the host), and the
 * rest of the connection is relayed as it is, both ways.
 *
 * One request per connection gets the secret: the forwarded head says
 * "Connection: close" so the server ends the connection after answering and
 * the client opens a new one (and a new rewrite) for its next request.
 * Bytes the guest sends after the first head go to the same verified host
 * without rewriting: a placeholder there is worth nothing.
 *
 * Blocking: call tls_relay_serve on a thread of its own per connection (TLS
 * handshakes and relaying would stall a shared loop); one struct tls_relay
 * serves many connections on many threads at once. Every read and write is
 * bounded by timeout_ms of silence.
 *
 * The real value of a secret is in this process's memory while it runs and
 * in the bytes sent to the server; never in the result or err. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "vmm/net/inject.h"
#include "vmm/net/tls_ca.h"

#ifdef __cplusplus
extern "C" {
#endif

struct tls_relay_config {
        struct tls_ca *ca;                    /* the sandbox's, for the guest's side; used only
                                               * by tls_relay_new */
        const struct inject_secret *secrets;  /* values checked by inject_value_check; read by
                                               * every serve while it rewrites the first head */
        size_t n_secrets;
        const char *roots_file;               /* PEM roots for the server; NULL: the system's */
        int timeout_ms;                       /* silence allowed on either side */
        pthread_rwlock_t *secrets_lock;       /* NULL: the values never change while serves run;
                                               * else held for reading around each use of
                                               * secrets, so the owner may swap a value (rotation)
                                               * under the write lock */
};

enum tls_relay_outcome {
        TLS_RELAY_DONE = 0,        /* relayed until both sides were done */
        TLS_RELAY_REFUSED_SECRET,  /* a placeholder where it may not go: *secret says whose */
        TLS_RELAY_BAD_REQUEST,     /* the head was malformed or named another host */
        TLS_RELAY_GUEST_TLS,       /* the guest's handshake failed (e.g. it does not trust the CA) */
        TLS_RELAY_UPSTREAM_TLS,    /* the server's handshake or certificate failed verification */
        TLS_RELAY_IO,              /* a socket failed or went silent past the timeout */
};

struct tls_relay_result {
        enum tls_relay_outcome outcome;
        size_t secret;              /* for TLS_RELAY_REFUSED_SECRET */
        bool injected;              /* a value was put into the request */
        bool resumed;               /* the server's TLS session was resumed */
        uint64_t to_server, to_guest; /* bytes of plaintext relayed */
        /* The first request as the guest sent it (for proxy hooks): its
         * method and path (the target without query or fragment, at most
         * 255 bytes; an absolute URI's path), "" until a head was read; and
         * the server's status code from its first answer line, 0 when none
         * came. */
        char method[INJECT_METHOD_MAX + 1];
        char path[INJECT_PATH_MAX + 1];
        int status;
};

struct tls_relay;

/* Builds the two TLS contexts (the guest's side and the server's, with its
 * roots loaded once) and issues the CA's leaf for every secret's host.
 * cfg and what it points to must outlive the relay. 0, -EIO (OpenSSL, or
 * the roots file would not load) or -EACCES (a secret's host is not one of
 * the CA's), with err saying which. */
int tls_relay_new(const struct tls_relay_config *cfg, struct tls_relay **ret, struct ak_error *err);
/* NULL is a no-op. No serve may be running. */
void tls_relay_free(struct tls_relay *relay);

/* Serves guest_fd (accepted from the guest, TLS ClientHello not yet read)
 * against upstream_fd (a TCP connection to the server for host). Both fds
 * stay the caller's to close. Returns 0 when the outcome is
 * TLS_RELAY_DONE; otherwise a negative errno with err saying what failed
 * (never a value) and ret->outcome saying which kind, for the audit. */
int tls_relay_serve(struct tls_relay *relay, int guest_fd, int upstream_fd, const char *host,
                    struct tls_relay_result *ret, struct ak_error *err);

/* As tls_relay_serve, for a guest_fd whose first prefix_len bytes (its
 * ClientHello, or part of it, as a proxy sniffed them) were already read
 * into prefix: the guest's TLS reads them before the socket's. prefix must
 * stay valid during the call. */
int tls_relay_serve_prefixed(struct tls_relay *relay, int guest_fd, const uint8_t *prefix, size_t prefix_len,
                             int upstream_fd, const char *host, struct tls_relay_result *ret, struct ak_error *err);

const char *tls_relay_outcome_name(enum tls_relay_outcome o);

#ifdef __cplusplus
}
#endif
