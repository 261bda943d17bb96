/* Audit events (executor_audit.c). Private to services/executor. */
#pragma once

#include "lib/rpc/rpc.h"
#include "protos/ak/v1/audit.pb-c.h"

struct executor;

/* Queues one event about sandbox resource_id (never blocks on the
 * auditor; the queue drops the oldest when full). The actor is call's
 * x-ak-user (call NULL: the executor itself, e.g. TTL expiry), its org_id
 * the sandbox's tenant (looked up by name: REQUIRES ex->lock not held);
 * outcome is an Ak__V1__EventOutcome; attributes_json may be NULL. */
void audit_emit(struct executor *ex, struct rpc_call *call, const char *type, const char *action, int outcome,
                const char *resource_id, const char *attributes_json);

/* audit_emit for a sandbox no longer in the table: its tenant given (NULL:
 * no org_id). */
void audit_emit_tenant(struct executor *ex, struct rpc_call *call, const char *tenant, const char *type,
                       const char *action, int outcome, const char *resource_id, const char *attributes_json);
