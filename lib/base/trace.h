/* Request ids and W3C trace context: what travels with every call so that
 * one client request can be followed through the scheduler, the executor,
 * their logs and the audit events.
 *
 *   x-request-id   1..AK_REQUEST_ID_MAX bytes of [A-Za-z0-9._:-] (no
 *                  spaces, quotes or '=': safe in a log line and a header).
 *   traceparent    W3C Trace Context, version 00 only, exactly
 *                  "00-<32 lowercase hex, not all 0>-<16 lowercase hex, not
 *                  all 0>-<2 lowercase hex>" (55 bytes). Passed through
 *                  unchanged (ak makes no spans of its own); an invalid one
 *                  is dropped, never forwarded.
 *
 * Servers (lib/rpc): every call gets a request id: the client's x-request-id
 * when it is valid, else a fresh UUIDv7 (an invalid one is replaced, not
 * refused). While a handler runs, its call's id and traceparent are the
 * thread's current trace context: rpc_unary/rpc_stream_open on that thread
 * send them on unless their options name others, and svc_log adds
 * request_id to every line it writes there.
 *
 * Clients that start requests set the context themselves: the gateway with
 * ak_trace_set on the thread that makes a request's calls, ak with
 * ak_trace_set_default once for the whole process.
 *
 * Thread-safety: the context is per thread; the checks are pure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AK_REQUEST_ID_MAX 128
#define AK_TRACEPARENT_LEN 55
/* gRPC metadata keys (HTTP header names, case aside). */
#define AK_REQUEST_ID_HEADER "x-request-id"
#define AK_TRACEPARENT_HEADER "traceparent"

/* Whether s[0..len) is a request id we take (see above). */
bool ak_request_id_valid(const char *s, size_t len);

/* Whether s[0..len) is a W3C traceparent we pass on (see above). */
bool ak_traceparent_valid(const char *s, size_t len);

/* A fresh request id (a UUIDv7, so ids sort by time). 0 or -errno. */
int ak_request_id_new(char ret[AK_REQUEST_ID_MAX + 1]);

/* The thread's trace context: request_id "" or NULL clears it (and the
 * traceparent with it). Values that are not valid are not set: returns
 * -EINVAL for an invalid request id (nothing changes), and drops an invalid
 * traceparent (the request id is still set). 0 otherwise. */
int ak_trace_set(const char *request_id, const char *traceparent);
void ak_trace_clear(void);

/* The same for the whole process: what threads without a context of their
 * own use (a CLI's one request for all its threads). REQUIRES: called
 * before other threads start (it is not synchronised). */
int ak_trace_set_default(const char *request_id, const char *traceparent);

/* The thread's current request id / traceparent, NULL when none. Valid
 * until the thread's context changes. */
const char *ak_trace_request_id(void);
const char *ak_trace_traceparent(void);

#ifdef __cplusplus
}
#endif
