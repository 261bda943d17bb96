/* Audit events: what the executor sends to the auditor (through its
 * queue, in memory or on disk: audit_queue.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/base/version.h"
#include "lib/svc/log.h"
#include "protos/ak/v1/audit.pb-c.h"
#include "services/executor/audit_queue.h"
#include "services/executor/executor_audit.h"
#include "services/executor/executor_sandbox.h"
#include "services/executor/executor_state.h"

/* One log line per sandbox life event (the exec has its own, with its
 * duration: executor_exec.c). */
static void log_event(const char *type, const char *action, int outcome, const char *sandbox, const char *tenant,
                      const char *actor, const char *attributes_json)
{
        static const char *const outcomes[] = { "unspecified", "permit", "deny", "error", "info" };
        if (!strcmp(type, "command_executed"))
                return;
        SVC_LOG(outcome == AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_ERROR ? SVC_LOG_WARN : SVC_LOG_INFO, type,
                SVC_LOG_S("sandbox", sandbox), SVC_LOG_S("tenant", tenant ? tenant : ""), SVC_LOG_S("action", action),
                SVC_LOG_S("outcome", outcome >= 0 && outcome <= 4 ? outcomes[outcome] : "unknown"),
                SVC_LOG_S("actor", actor), SVC_LOG_S("attributes", attributes_json ? attributes_json : ""));
}

int audit_emit(struct executor *ex, struct rpc_call *call, const char *type, const char *action, int outcome,
               const char *resource_id, const char *attributes_json)
{
        char tenant[sizeof(((struct sandbox *)0)->tenant)];
        struct sandbox *sb = resource_id ? sandbox_get(ex, resource_id) : NULL;
        if (sb)
                memcpy(tenant, sb->tenant, sizeof(tenant));
        sandbox_put(ex, sb);
        return audit_emit_tenant(ex, call, sb ? tenant : NULL, type, action, outcome, resource_id, attributes_json);
}

int audit_emit_tenant(struct executor *ex, struct rpc_call *call, const char *tenant, const char *type,
                      const char *action, int outcome, const char *resource_id, const char *attributes_json)
{
        Ak__V1__AuditEvent ev = AK__V1__AUDIT_EVENT__INIT;
        Ak__V1__ActorInfo actor = AK__V1__ACTOR_INFO__INIT;
        Ak__V1__ResourceInfo res = AK__V1__RESOURCE_INFO__INIT;
        Ak__V1__EventMetadata meta = AK__V1__EVENT_METADATA__INIT;
        char actor_id[160];

        /* The actor: who called (x-ak-user metadata, set by the scheduler or
         * ak), else the executor itself for its own actions (TTL expiry). */
        const char *user = call ? rpc_call_metadata(call, "x-ak-user") : NULL;
        snprintf(actor_id, sizeof(actor_id), "%s", user ? user : call ? "anonymous" : "ak-executor");
        actor.user_id_opt_case = AK__V1__ACTOR_INFO__USER_ID_OPT_USER_ID;
        actor.user_id = actor_id;
        if (tenant) {
                /* agentkernel's org_id: the tenant the sandbox belongs to. */
                actor.org_id_opt_case = AK__V1__ACTOR_INFO__ORG_ID_OPT_ORG_ID;
                actor.org_id = (char *)tenant;
        }
        const char *peer = call ? rpc_call_peer(call) : NULL;
        if (peer) {
                actor.ip_address_opt_case = AK__V1__ACTOR_INFO__IP_ADDRESS_OPT_IP_ADDRESS;
                actor.ip_address = (char *)peer;
        }
        res.resource_type = "sandbox";
        res.resource_id_opt_case = AK__V1__RESOURCE_INFO__RESOURCE_ID_OPT_RESOURCE_ID;
        res.resource_id = (char *)resource_id;
        res.attributes_json = (char *)(attributes_json ? attributes_json : "");
        meta.product_name = "ak";
        meta.vendor_name = "ak";
        meta.product_version = AK_VERSION;
        ev.type_name = (char *)type;
        ev.action = (char *)action;
        ev.outcome = outcome;
        ev.actor = &actor;
        ev.resource = &res;
        ev.metadata = &meta;
        /* The request that caused it (the executor's own actions, such as a
         * TTL expiry, have none). */
        const char *rid = call ? rpc_call_request_id(call) : NULL;
        const char *tp = call ? rpc_call_traceparent(call) : NULL;
        ev.request_id = (char *)(rid ? rid : "");
        ev.traceparent = (char *)(tp ? tp : "");
        log_event(type, action, outcome, resource_id, tenant, actor_id, attributes_json);
        int r = audit_queue_push(ex->audit, &ev, NULL);
        return r < 0 && audit_queue_durable(ex->audit) ? r : 0;
}

int audit_refuse(struct executor *ex, struct rpc_call *call, int r)
{
        struct audit_queue_stats st;

        audit_queue_stats(ex->audit, &st);
        return rpc_call_fail(call, r == -ENOSPC || r == -EDQUOT ? RPC_RESOURCE_EXHAUSTED : RPC_UNAVAILABLE,
                             "refused: its audit event could not be stored: %s", st.last_refusal);
}

