/* Audit events and receipts: what the executor sends to the auditor and
 * the signer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/version.h"
#include "lib/receipt/proto/receipt_proto.h"
#include "lib/receipt/receipt.h"
#include "protos/ak/v1/signer.pb-c.h"
#include "services/executor/executor_impl.h"

void audit_emit(struct executor *ex, struct rpc_call *call, const char *type, const char *action, int outcome,
                const char *resource_id, const char *attributes_json)
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
        audit_queue_push(ex->audit, &ev);
}

Ak__V1__Receipt *receipt_for(struct executor *ex, struct receipt *r, char **ret_error)
{
        Ak__V1__Receipt *out = NULL;
        char why[1200] = "";

        if (ex->cfg.signer) {
                Ak__V1__SignReceiptRequest *req = NULL;
                if (receipt_proto_request_from_receipt(r, &req) == 0) {
                        ProtobufCMessage *resp = NULL;
                        struct ak_error err = { 0 };
                        struct rpc_call_options o = { .timeout_ms = 5000 };
                        int code = rpc_unary(ex->cfg.signer, &ak__v1__signer__descriptor, "SignReceipt", &req->base,
                                             &o, &resp, &err);
                        protobuf_c_message_free_unpacked(&req->base, NULL);
                        if (code == RPC_OK) {
                                Ak__V1__SignReceiptResponse *sr = (Ak__V1__SignReceiptResponse *)resp;
                                out = sr->receipt;
                                sr->receipt = NULL;
                                protobuf_c_message_free_unpacked(resp, NULL);
                                if (out)
                                        return out;
                                snprintf(why, sizeof(why), "signer answered without a receipt");
                        } else {
                                snprintf(why, sizeof(why), "signer unreachable: %s", err.msg);
                        }
                } else {
                        snprintf(why, sizeof(why), "receipt could not be encoded for the signer");
                }
        } else {
                snprintf(why, sizeof(why), "no signer configured (--signer): receipt is unsigned");
        }
        char *json = NULL;
        size_t len;
        if (receipt_finalize(r, NULL) == 0 && receipt_to_json(r, true, &json, &len) == 0)
                receipt_proto_from_receipt(r, json, &out);
        free(json);
        *ret_error = strdup(why);
        return out;
}
