/* bench/gateway's HTTP/1.1 pieces: a blocking keep-alive client, and a bare
 * libmicrohttpd server answering every request with a fixed JSON body (the
 * baseline for GET /health: the same MHD threading mode ak-gateway uses).
 * Functions return 0 or -errno with err filled; nothing prints. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"

struct bhc {
        int fd;
        char buf[1 << 16];
        size_t have;
};

/* Connects to 127.0.0.1:port (TCP_NODELAY). */
int bhc_connect(uint16_t port, struct bhc *c, struct ak_error *err);
void bhc_close(struct bhc *c);

/* One request on the connection (keep-alive), the whole response read
 * (Content-Length). *ret_status: the HTTP status. body may be NULL. */
int bhc_request(struct bhc *c, const char *method, const char *path, const char *key, const char *body,
                int *ret_status, struct ak_error *err);

/* One POST of body to path on a new connection (Connection: close) whose
 * answer is an SSE stream, read to its end: *ret_first_byte_ms from sending
 * to the answer's first byte, *ret_first_output_ms to the first
 * "event: output" (-1 if none). -EIO when the status is not 200 or the
 * stream has no "event: done". */
int bhc_sse(uint16_t port, const char *path, const char *key, const char *body, double *ret_first_byte_ms,
            double *ret_first_output_ms, struct ak_error *err);

struct bare;
/* A bare MHD server on 127.0.0.1 (port 0: any) answering in its epoll
 * thread: what libmicrohttpd does with no work behind a request. */
int bare_start(struct bare **ret, uint16_t *ret_port, struct ak_error *err);
void bare_stop(struct bare *b);
