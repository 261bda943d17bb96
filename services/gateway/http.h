/* ak-gateway's HTTP/1.1 side on libmicrohttpd: one epoll thread for every
 * connection, a worker thread per request being answered (handlers block
 * on the scheduler), a connection limit, an idle timeout
 * for slow clients, bodies up to GW_BODY_MAX (413 past it, from
 * Content-Length before reading, or while reading a chunked body), Bearer
 * API keys checked before any body byte is kept, and, unless any_host, the
 * DNS-rebinding and cross-origin refusals of a local API: a Host that is
 * not localhost/127.0.0.1/[::1] is 403, and so is any request a browser
 * marks cross-origin (an Origin header, or Sec-Fetch-Site other than
 * same-origin/none). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lib/base/error.h"

struct gateway;
struct svc_auth;
struct gw_http;

struct gw_http_config {
        struct gateway *gateway;      /* borrowed */
        struct svc_auth *keys;        /* API keys → tenants; NULL: no auth, tenant "default" */
        /* "127.0.0.1:18888", "[::1]:0", "[::]:18888" (IPv4 too), ":18888"
         * (lib/base/hostport.h's ak_listen_addr_parse; port 0: pick one,
         * gw_http_port says which). NULL: "127.0.0.1:0". */
        const char *listen;
        bool any_host;                /* accept any Host and Origin (behind a TLS ingress) */
        unsigned max_connections;     /* open connections, idle ones too; 0: 16384 (the process
                                       * needs as many fds: main raises RLIMIT_NOFILE) */
        unsigned max_active;          /* requests being answered and SSE streams; past it 503; 0: 1024 */
        unsigned idle_timeout_s;      /* 0: 30 */
        /* PEM text of the certificate chain and its key: HTTPS (GnuTLS). Both
         * or neither; copied by gw_http_start. */
        const char *tls_cert_pem, *tls_key_pem;
};

int gw_http_start(const struct gw_http_config *cfg, struct gw_http **ret, struct ak_error *err);
uint16_t gw_http_port(const struct gw_http *h);
/* Stops taking requests, cancels SSE streams, waits for the requests being
 * answered, closes connections. NULL ok. */
void gw_http_stop(struct gw_http *h);

/* The Host/Origin policy alone (for tests): 0, or -EPERM with why. */
int gw_http_check_origin(const char *host, const char *origin, const char *sec_fetch_site, const char **ret_why);
