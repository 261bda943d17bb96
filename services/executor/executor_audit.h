/* Audit events (executor_audit.c). Private to services/executor. */
#pragma once

#include "lib/rpc/rpc.h"
#include "protos/ak/v1/audit.pb-c.h"

struct executor;

/* Queues one event about sandbox resource_id (never blocks on the
 * auditor; the queue drops the oldest when full). The actor is call's
 * x-ak-user (call NULL: the executor itself, e.g. TTL expiry); outcome is
 * an Ak__V1__EventOutcome; attributes_json may be NULL. */
void audit_emit(struct executor *ex, struct rpc_call *call, const char *type, const char *action, int outcome,
                const char *resource_id, const char *attributes_json);
