/* The /metrics endpoint: a small HTTP/1.1 listener (libmicrohttpd, the
 * server library ak-gateway uses) that answers GET /metrics with a
 * registry rendered in text format 0.0.4, 404 for other paths and 405 for
 * other methods. Plaintext and unauthenticated, as Prometheus scrapes:
 * metrics carry counts, states and durations, never tokens, keys,
 * commands or their output. At most METRICS_HTTP_MAX_CONNECTIONS clients
 * at once, each dropped after METRICS_HTTP_TIMEOUT_S idle seconds, one
 * polling thread. */
#pragma once

#include <stdint.h>

#include "lib/base/error.h"
#include "lib/metrics/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

#define METRICS_HTTP_MAX_CONNECTIONS 16
#define METRICS_HTTP_TIMEOUT_S 10

struct metrics_http;

/* ak_listen_addr_parse (lib/base/hostport.h: "HOST:PORT", "[V6]:PORT",
 * ":PORT"; numeric hosts or "localhost"), its error starting "metrics". */
struct sockaddr_storage;
int metrics_parse_listen(const char *addr, struct sockaddr_storage *ret, struct ak_error *err);

/* Listens on addr (port 0 picks one) and serves reg (borrowed: it must
 * outlive the listener). Returns 0, or a negative errno with err filled. */
int metrics_http_start(struct metrics_registry *reg, const char *addr, struct metrics_http **ret,
                       struct ak_error *err);
/* The bound port. */
uint16_t metrics_http_port(const struct metrics_http *h);
/* Where the listeners started after this call say what goes wrong
 * (libmicrohttpd's messages: accept failures, bad requests), one line
 * without a newline each, from the listener's thread. NULL (the default):
 * libmicrohttpd's own, free text on stderr. */
void metrics_http_set_log(void (*fn)(const char *line));
/* Stops listening, closes connections, joins the thread. NULL is a no-op. */
void metrics_http_stop(struct metrics_http *h);

#ifdef __cplusplus
}
#endif
