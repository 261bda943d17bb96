/* Audit events on their way to the auditor: a queue and one sender thread
 * that delivers them in batches with Auditor.Emit, retrying (1 s apart)
 * while the auditor is unreachable. Every event gets a uid (UUIDv7) when
 * queued, so a retried batch is deduplicated by the sinks.
 *
 * In memory (no dir, the default): bounded; when full the new event is
 * refused and counted in `dropped` (never silently: the count is in the
 * executor's status and main logs it); the service never blocks on the
 * auditor, and a crash loses what is queued.
 *
 * On disk (dir, --audit-queue-dir; audit_disk.h): audit_queue_push returns
 * only once the event is fsynced, the sender reads events back from disk and
 * they are deleted once the auditor acknowledged them; a restarted executor
 * sends what it left. Fail closed: when the queue is full or its disk fails,
 * audit_queue_push fails (counted in `refused`) and the caller must fail the
 * operation the event describes instead of acknowledging it.
 *
 * With no channel (no --auditor) nothing is queued and every event counts
 * as `unsent`.
 *
 * Thread-safety: audit_queue_push and _stats from any thread. */
#pragma once

#include <stdbool.h>
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
        uint64_t dropped;    /* in memory: refused because the queue was full */
        uint64_t refused;    /* on disk: not stored (full, disk error): operations failed */
        uint64_t unsent;     /* no auditor configured */
        char last_error[256];        /* the auditor's, when sending fails */
        char last_refusal[512];      /* why the last event was refused */
};

struct audit_queue_config {
        size_t capacity;        /* in memory: events; 0: AUDIT_QUEUE_DEFAULT_CAPACITY */
        const char *dir;        /* NULL: in memory; else the queue on disk there */
        uint64_t max_bytes;     /* on disk: its limit; 0: 64 MiB */
};

/* ch may be NULL (no auditor: then dir is not used). The queue does not own ch. */
int audit_queue_new(struct rpc_channel *ch, const struct audit_queue_config *cfg, struct audit_queue **ret,
                    struct ak_error *err);
/* Gives the sender up to drain_ms to deliver what is queued, stops it, frees. */
void audit_queue_free(struct audit_queue *q, int drain_ms);

/* Queues an event (serialized at once; the caller keeps ev). -ENOSPC when
 * full, -ENOTCONN without an auditor; on disk also -EIO (and other -errno)
 * when it cannot be stored. err (may be NULL) says why. */
int audit_queue_push(struct audit_queue *q, const Ak__V1__AuditEvent *ev, struct ak_error *err);

/* Whether the queue is on disk (a failed push must fail the operation). */
bool audit_queue_durable(const struct audit_queue *q);

void audit_queue_stats(struct audit_queue *q, struct audit_queue_stats *ret);

#ifdef __cplusplus
}
#endif
