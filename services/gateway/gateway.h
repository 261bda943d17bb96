/* ak-gateway: agentkernel 0.18's HTTP API over the scheduler's gRPC. It
 * keeps no sandbox state: every request is one or a few Scheduler calls.
 *
 * Tenancy: an API key (--keys-file, lib/svc tokens format: "tenant=NAME KEY")
 * names the tenant the request acts for. The gateway calls the scheduler
 * with its own credential (--scheduler-token-file) and names the key's
 * tenant in every call's x-ak-tenant metadata: from an admin credential the
 * scheduler then acts for that tenant alone (a sandbox of another tenant is
 * NOT_FOUND, so 404 like one that does not exist; lists hold that tenant's
 * sandboxes), and a non-admin credential may name only its own tenant. No
 * ownership pre-check: one scheduler call per sandbox call.
 *
 * Thread-safety: gateway_handle may run on many threads at once. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/base/error.h"
#include "services/gateway/request.h"

struct rpc_channel;
struct gateway;

struct gateway_config {
        struct rpc_channel *scheduler;   /* borrowed; outlives the gateway */
        int64_t call_timeout_ms;         /* unary calls; 0: 60 s */
        int64_t exec_timeout_ms;         /* run/exec deadline; 0: none (the executor's) */
        /* The auditor's file destination (agentkernel's audit.jsonl), read for
         * GET /audit and /sandboxes/{name}/logs; NULL: those answer 501. */
        const char *audit_file;
};

int gateway_new(const struct gateway_config *cfg, struct gateway **ret);
void gateway_free(struct gateway *g);

/* A response: status + JSON body (malloc'd), or an SSE stream. */
struct gw_sse;
struct gw_resp {
        unsigned status;
        char *body;
        size_t len;
        struct gw_sse *sse;   /* set for /run/stream once the call started */
};

/* Runs route `rt` for `tenant` with body[0..len) and `label` (the ?label=
 * value, or NULL). Always fills *ret with a response (errors are JSON
 * envelopes with the status agentkernel uses); returns 0, or -ENOMEM when
 * not even that could be built. */
int gateway_handle(struct gateway *g, const struct gw_route *rt, const char *tenant, const char *body,
                   size_t len, const char *label, struct gw_resp *ret);

/* The envelope {"success":false,"error":msg} with `status`. */
int gw_resp_error(struct gw_resp *ret, unsigned status, const char *msg);

/* SSE: fills buf with up to size bytes of the stream's next events, waiting
 * for the scheduler. Returns bytes written, or 0 at the end. */
size_t gw_sse_read(struct gw_sse *s, char *buf, size_t size);
void gw_sse_free(struct gw_sse *s);
/* Makes a gw_sse_read blocked on another thread return soon (the stream
 * ends with an error event). Safe from any thread until gw_sse_free. */
void gw_sse_cancel(struct gw_sse *s);
