/* A small HTTP/1.1 server on 127.0.0.1 for tests and benchmarks: the far end
 * of a webhook. It answers every POST with the status currently set (200 by
 * default), optionally after a delay and with a Retry-After header, keeps
 * connections alive, and records the bodies it accepted (2xx). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct http_sink;

/* Listens on 127.0.0.1 on a free port. Returns 0 or -errno. */
int http_sink_start(struct http_sink **ret);
/* Stops (closing every connection) and frees. NULL is a no-op. */
void http_sink_stop(struct http_sink *s);

int http_sink_port(const struct http_sink *s);

/* How to answer from now on: status (200, 500, 429, 400...), Retry-After in
 * seconds (< 0: no header), delay before answering in milliseconds. */
void http_sink_set_response(struct http_sink *s, int status, int retry_after_secs, unsigned delay_ms);

/* Requests received (any status), and bodies accepted (2xx). */
size_t http_sink_requests(struct http_sink *s);
size_t http_sink_accepted(struct http_sink *s);
/* A copy of accepted body i (malloc'd, NUL-terminated; caller frees), NULL
 * past the end. */
char *http_sink_body(struct http_sink *s, size_t i);
/* A copy of the last request's header block (malloc'd), or NULL. */
char *http_sink_last_headers(struct http_sink *s);

#ifdef __cplusplus
}
#endif
