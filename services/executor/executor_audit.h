/* Audit events (executor_audit.c). Private to services/executor. */
#pragma once

#include "lib/rpc/rpc.h"
#include "protos/ak/v1/audit.pb-c.h"

struct executor;

/* Queues one event about sandbox resource_id (never blocks on the
 * auditor). The actor is call's x-ak-user (call NULL: the executor itself,
 * e.g. TTL expiry), its org_id the sandbox's tenant (looked up by name:
 * REQUIRES ex->lock not held); outcome is an Ak__V1__EventOutcome;
 * attributes_json may be NULL. Returns 0 when queued, or when the queue is
 * in memory (a full queue refuses the new event and counts it as dropped;
 * no auditor: unsent). With the queue on disk (--audit-queue-dir) returns
 * -errno when the event could not be stored: the caller must not
 * acknowledge the operation it describes, and fails the call with
 * audit_refuse. */
int audit_emit(struct executor *ex, struct rpc_call *call, const char *type, const char *action, int outcome,
               const char *resource_id, const char *attributes_json);

/* audit_emit for a sandbox no longer in the table: its tenant given (NULL:
 * no org_id). Returns as audit_emit. */
int audit_emit_tenant(struct executor *ex, struct rpc_call *call, const char *tenant, const char *type,
                      const char *action, int outcome, const char *resource_id, const char *attributes_json);

/* Fails call because its audit event was not stored (r from audit_emit):
 * RESOURCE_EXHAUSTED when the queue is full, else UNAVAILABLE, with the
 * queue's words. Returns the code. */
int audit_refuse(struct executor *ex, struct rpc_call *call, int r);
