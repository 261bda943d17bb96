/* One guest connection to a host its secrets are bound to, with the secrets
 * put in (issue 19): TLS from the guest is terminated with a leaf of the
 * sandbox's CA (tls_ca), and every HTTP/1.1 request on it is framed
 * (http1), rewritten by inject_request (the values re-read before each one:
 * rotation takes effect on the next request) and sent over TLS to the real
 * server, opened with full verification (its certificate chains to the
 * trusted roots and names the host). A request that carries a placeholder
 * where it may not go, or that is malformed or framed ambiguously, is
 * answered 403 or 400 and ends the connection; nothing of it reaches the
 * server. A response the relay cannot frame unambiguously gets a 502.
 *
 * Keep-alive: the relay keeps a verified server connection whose response
 * was framed by length or chunks and did not say close in a pool per relay
 * (one relay per sandbox), filed by host, address and port (relay_pool.h),
 * and sends the next request to that server (from this guest connection or
 * another) over it. The guest's own Connection header is not sent (it is
 * hop-by-hop): the server connection stays open even when the guest closes
 * its own after each request. Requests that change the protocol (Upgrade,
 * CONNECT, a Connection naming other headers, HTTP/1.0) get a server
 * connection of their own, forwarded as sent, never pooled.
 *
 * Retry rule: a pooled connection that fails before the first byte of its
 * response (the server closed it while idle) is replaced by a fresh one and
 * the request sent again, once, only when its method is idempotent (GET,
 * HEAD, OPTIONS, TRACE, PUT, DELETE) and the whole request (head and body)
 * was still held by the relay; otherwise the guest gets a 502.
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
        unsigned pool_per_key;                /* idle server connections kept per host, address
                                               * and port: 0 = TLS_RELAY_POOL_PER_KEY; at most
                                               * TLS_RELAY_POOL_TOTAL in all */
        int pool_idle_ms;                     /* 0 = TLS_RELAY_POOL_IDLE_MS */
        bool no_pool;                         /* every request on a server connection of its own */
};

#define TLS_RELAY_POOL_PER_KEY 4
#define TLS_RELAY_POOL_TOTAL 32
#define TLS_RELAY_POOL_IDLE_MS 20000

enum tls_relay_outcome {
        TLS_RELAY_DONE = 0,        /* relayed until both sides were done */
        TLS_RELAY_REFUSED_SECRET,  /* a placeholder where it may not go: *secret says whose */
        TLS_RELAY_BAD_REQUEST,     /* the head was malformed or named another host */
        TLS_RELAY_GUEST_TLS,       /* the guest's handshake failed (e.g. it does not trust the CA) */
        TLS_RELAY_UPSTREAM_TLS,    /* the server's handshake or certificate failed verification */
        TLS_RELAY_IO,              /* a socket failed or went silent past the timeout */
        TLS_RELAY_BAD_RESPONSE,    /* the server's response could not be framed unambiguously */
        TLS_RELAY_UNAVAILABLE,     /* target->before_request failed (a secret could not be read) */
};

/* One request on a guest connection (or the connection's failure before
 * one). */
struct tls_relay_result {
        enum tls_relay_outcome outcome;
        size_t secret;              /* for TLS_RELAY_REFUSED_SECRET */
        bool injected;              /* a value was put into the request */
        bool resumed;               /* a new server connection resumed the TLS session */
        bool reused;                /* sent over a pooled server connection */
        bool retried;               /* a pooled one failed first and a fresh one carried it */
        unsigned request;           /* 1 for the connection's first request, ... */
        uint64_t to_server, to_guest; /* bytes of plaintext relayed for this request */
        /* The request as the guest sent it (for proxy hooks): its method and
         * path (the target without query or fragment, at most 255 bytes; an
         * absolute URI's path), "" until a head was read; and the server's
         * final status code, 0 when none came. */
        char method[INJECT_METHOD_MAX + 1];
        char path[INJECT_PATH_MAX + 1];
        int status;
        /* Where the request's time went, in nanoseconds: the relay's work
         * on its head once read (framing, values, rewriting), getting a
         * server connection (a pooled one, or connect and TLS handshake),
         * and from sending the request to the response's end. */
        uint64_t ns_rewrite, ns_upstream, ns_exchange;
};

/* Where and how a guest connection's requests go. */
struct tls_relay_target {
        const char *host;  /* the bound host: the guest's SNI and Host must name it */
        const char *addr;  /* the server's address and port as text: with host, the pool's key */
        /* A new blocking TCP connection to the server: the fd (the relay
         * owns it from then on) or -errno. */
        int (*connect)(void *ctx);
        /* NULL, or called before each request head is rewritten (to read
         * the values again: rotation): 0, or -errno with err (the request
         * is answered 503 and the connection ends: TLS_RELAY_UNAVAILABLE). */
        int (*before_request)(void *ctx, struct ak_error *err);
        /* NULL, or called once per request when it is done or refused, and
         * once for a connection that failed before its first request (its
         * method ""); err says what failed when res->outcome is not DONE. */
        void (*on_exchange)(void *ctx, const struct tls_relay_result *res, const struct ak_error *err);
        void *ctx;
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

/* Serves guest_fd (accepted from the guest; its first prefix_len bytes,
 * the ClientHello or part of it as a proxy sniffed them, already read into
 * prefix, which must stay valid during the call) until the guest closes,
 * a request or response ends the connection, or something fails. guest_fd
 * stays the caller's to close. Returns 0 when every request was DONE;
 * otherwise a negative errno with err saying what failed (never a value)
 * and ret the failed request's result (ret->outcome: which kind, for the
 * audit). On 0, ret is the last request's result. */
int tls_relay_serve(struct tls_relay *relay, int guest_fd, const uint8_t *prefix, size_t prefix_len,
                    const struct tls_relay_target *t, struct tls_relay_result *ret, struct ak_error *err);

/* Idle pooled server connections (for tests and benches). */
unsigned tls_relay_pooled(struct tls_relay *relay);

/* Closes the pooled server connections: call when the network namespace
 * they were made in goes away (the sandbox's VM stopped), after its serves
 * ended, so that a later VM of the sandbox never sends over them. */
void tls_relay_pool_flush(struct tls_relay *relay);

const char *tls_relay_outcome_name(enum tls_relay_outcome o);

#ifdef __cplusplus
}
#endif
