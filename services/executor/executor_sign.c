/* Receipts: signed by the signer when one is configured, else sealed
 * unsigned with the reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/receipt/proto/receipt_proto.h"
#include "lib/receipt/receipt.h"
#include "protos/ak/v1/signer.pb-c.h"
#include "services/executor/executor_metrics.h"
#include "services/executor/executor_sign.h"
#include "services/executor/executor_state.h"

/* The signer signs invocation and outcome only; the tenant goes beside its
 * signature (lib/receipt/receipt.h says why it cannot be signed). */
static void name_tenant(Ak__V1__Receipt *out, const char *tenant, char **ret_error)
{
        struct ak_error err = { 0 };

        if (!tenant || receipt_proto_set_tenant(out, tenant, &err) == 0)
                return;
        if (asprintf(ret_error, "receipt does not name tenant %s: %s", tenant, err.msg) < 0)
                *ret_error = NULL;
}

Ak__V1__Receipt *sign_receipt(struct executor *ex, struct receipt *r, char **ret_error)
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
                                if (out) {
                                        exmetrics_receipt(true);
                                        name_tenant(out, r->tenant, ret_error);
                                        return out;
                                }
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
        exmetrics_receipt(false);
        *ret_error = strdup(why);
        return out;
}
