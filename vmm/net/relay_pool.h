/* Idle keep-alive TLS connections to the servers a sandbox's secrets are
 * bound to, kept by the secrets' relay (tls_relay) between requests so that
 * the next request to the same server skips a TCP connection and a TLS
 * handshake (issue 19: the injecting path within 1.2x of the plain one).
 *
 * A connection is filed under a key the relay makes of the host, the
 * server's address and port (one relay serves one sandbox, so a pool never
 * mixes sandboxes). Bounded: at most per_key idle connections per key and
 * total in all; one idle longer than idle_ms is closed by the pool's
 * reaper thread; relay_pool_take skips (and closes) one the server has
 * closed or written to while it was idle (an HTTP/1.1 server sends nothing
 * unasked: anything but TLS handshake records means it is not fit).
 *
 * Ownership: put hands the SSL and its fd to the pool; take hands them
 * back. The pool frees what it still holds (SSL_free, close) on free.
 * Thread-safe. */
#pragma once

#include <openssl/ssl.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RELAY_POOL_KEY_MAX 320

struct relay_pool;

/* per_key >= 1, total >= per_key, idle_ms >= 1. 0, -EINVAL or -ENOMEM, or
 * the error of starting the reaper thread. */
int relay_pool_new(unsigned per_key, unsigned total, int idle_ms, struct relay_pool **ret);
/* Closes every idle connection and stops the reaper. NULL is a no-op. */
void relay_pool_free(struct relay_pool *pool);

/* The most recently put idle connection for key that is still fit: true
 * with *ret_ssl and *ret_fd (blocking again, as it was put), or false. */
bool relay_pool_take(struct relay_pool *pool, const char *key, SSL **ret_ssl, int *ret_fd);

/* Files ssl (over fd, a blocking socket) under key, or closes it when the
 * key or the pool is full (the oldest of the key's is closed first) or the
 * key is too long. */
void relay_pool_put(struct relay_pool *pool, const char *key, SSL *ssl, int fd);

/* Closes every idle connection (the network they were made in is going
 * away); the pool stays usable. */
void relay_pool_flush(struct relay_pool *pool);

/* How many connections are idle in the pool (for tests and benches). */
unsigned relay_pool_idle(struct relay_pool *pool);

#ifdef __cplusplus
}
#endif
