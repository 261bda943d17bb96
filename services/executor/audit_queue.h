/* Audit events on their way to the auditor: a bounded in-memory queue and
 * one sender thread that delivers them in batches with Auditor.Emit,
 * retrying (1 s apart) while the auditor is unreachable. Every event gets a
 * uid (UUIDv7) when queued, so a retried batch is deduplicated by the sinks.
 *
 * Full queue: the new event is refused and counted in `dropped` (never
 * silently: the count is in the executor's status and main logs it); the
 * service itself never blocks on the auditor. With no channel (no
 * --auditor) nothing is queued and every event counts as `unsent`.
 *
 * Thread-safety: audit_queue_push and _stats from any thread. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/audit.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AUDIT_QUEUE_DEFAULT_CAPACITY 10000u
#define AUDIT_QUEUE_BATCH 100u

struct audit_queue;

struct audit_queue_stats {
        uint64_t queued;     /* waiting now */
        uint64_t sent;       /* acknowledged by the auditor */
        uint64_t dropped;    /* refused because the queue was full */
        uint64_t unsent;     /* no auditor configured */
        char last_error[256];
};

/* ch may be NULL (no auditor). The queue does not own ch. */
int audit_queue_new(struct rpc_channel *ch, size_t capacity, struct audit_queue **ret, struct ak_error *err);
/* Gives the sender up to drain_ms to deliver what is queued, stops it, frees. */
void audit_queue_free(struct audit_queue *q, int drain_ms);

/* Queues an event (serialized at once; the caller keeps ev). -ENOSPC when
 * full, -ENOTCONN without an auditor. */
int audit_queue_push(struct audit_queue *q, const Ak__V1__AuditEvent *ev);

void audit_queue_stats(struct audit_queue *q, struct audit_queue_stats *ret);

#ifdef __cplusplus
}
#endif
