/* ak.v1.Signer's handlers. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/metrics/metrics.h"
#include "lib/receipt/proto/akwire/v1/signer.pb-c.h"
#include "lib/receipt/proto/receipt_proto.h"
#include "lib/svc/log.h"
#include "protos/ak/v1/signer.pb-c.h"
#include "services/signer/signer.h"

struct signer {
        struct keystore *ks;
        char *admin_token; /* NULL: RotateKey refused */
        size_t max_message_bytes;
        bool log;
};

/* The public methods with the two signing requests decoded as their akwire
 * mirrors (same wire bytes, `bytes` where the contract says `string`). */
static const ProtobufCMethodDescriptor wire_methods[4] = {
        { "SignReceipt", &akwire__v1__sign_receipt_request__descriptor, &ak__v1__sign_receipt_response__descriptor },
        { "SignReceiptBatch", &akwire__v1__sign_receipt_batch_request__descriptor,
          &ak__v1__sign_receipt_batch_response__descriptor },
        { "ListPublicKeys", &ak__v1__list_public_keys_request__descriptor,
          &ak__v1__list_public_keys_response__descriptor },
        { "RotateKey", &ak__v1__rotate_key_request__descriptor, &ak__v1__public_key__descriptor },
};

/* Method indices in name order: ListPublicKeys, RotateKey, SignReceipt, SignReceiptBatch. */
static const unsigned wire_method_indices_by_name[4] = { 2, 3, 0, 1 };

const ProtobufCServiceDescriptor signer_wire_service_descriptor = {
        PROTOBUF_C__SERVICE_DESCRIPTOR_MAGIC,
        "ak.v1.Signer",
        "Signer",
        "Ak__V1__Signer",
        "ak.v1",
        4,
        wire_methods,
        wire_method_indices_by_name,
};

static int fail_input(struct rpc_call *call, const struct ak_error *err)
{
        if (err->code == -ENOMEM)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "%s", err->msg);
}

static int fail_internal(struct signer *s, struct rpc_call *call, const char *what, int r)
{
        const char *why = r == -ENOENT || r == -ELIBBAD ? crypto_init_error_message(r) : strerror(-r);

        if (s->log)
                SVC_LOG(SVC_LOG_ERROR, what, SVC_LOG_S("method", rpc_call_method(call)), SVC_LOG_S("error", why));
        return rpc_call_fail(call, r == -ENOMEM ? RPC_RESOURCE_EXHAUSTED : RPC_INTERNAL, "%s: %s", what, why);
}

/* ak_signer_signatures_total{result}: receipts signed, and signings that
 * failed on the signer's side (bad requests are refused before). */
static struct metric_series *signed_ok, *signed_failed;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void metrics_init(void)
{
        static const char *const result[] = { "result" };
        static const struct metric_def def = { "ak_signer_signatures_total",
                                               "Receipts the signer signed (ok) or failed to sign (error).",
                                               METRIC_COUNTER, result, 1 };
        struct metric_family *f = NULL;
        const char *ok[] = { "ok" }, *error[] = { "error" };
        metrics_register(metrics_default(), &def, &f, NULL);
        signed_ok = metrics_series(f, ok);
        signed_failed = metrics_series(f, error);
}

/* Stamps, seals and signs r with k, and makes the message. */
static int sign_one(const struct keystore_key *k, struct receipt *r, Ak__V1__Receipt **ret)
{
        char *json = NULL;
        size_t len;
        int e;

        e = receipt_finalize(r, keystore_key_crypto(k));
        if (e == 0)
                e = receipt_to_json(r, true, &json, &len);
        if (e == 0)
                e = receipt_proto_from_receipt(r, json, ret);
        free(json);
        metrics_add(e == 0 ? signed_ok : signed_failed, 1);
        return e;
}

static int reply(struct signer *s, struct rpc_call *call, const ProtobufCMessage *m, size_t n)
{
        size_t size = protobuf_c_message_get_packed_size(m);

        if (size > s->max_message_bytes)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED,
                                     "the %zu signed receipts take %zu bytes, more than the %zu-byte message "
                                     "limit; send fewer per call",
                                     n, size, s->max_message_bytes);
        if (rpc_call_reply(call, m) < 0)
                return rpc_call_fail(call, RPC_CANCELLED, "the client went away");
        return RPC_OK;
}

static int handle_sign(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        const Akwire__V1__SignReceiptRequest *req = (const Akwire__V1__SignReceiptRequest *)msg;
        Ak__V1__SignReceiptResponse resp = AK__V1__SIGN_RECEIPT_RESPONSE__INIT;
        struct signer *s = data;
        struct ak_error err = { 0 };
        struct keystore_key *k;
        struct receipt *r;
        int e;

        if (receipt_proto_wire_request_to_receipt(req, NULL, &r, &err) < 0)
                return fail_input(call, &err);
        k = keystore_active(s->ks);
        e = sign_one(k, r, &resp.receipt);
        keystore_key_unref(k);
        receipt_free(r);
        if (e < 0)
                return fail_internal(s, call, "sign receipt", e);
        e = reply(s, call, &resp.base, 1);
        protobuf_c_message_free_unpacked(&resp.receipt->base, NULL);
        return e;
}

static void free_batch(struct receipt **in, Ak__V1__Receipt **out, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                receipt_free(in[i]);
                if (out[i])
                        protobuf_c_message_free_unpacked(&out[i]->base, NULL);
        }
        free(in);
        free(out);
}

static int handle_sign_batch(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        const Akwire__V1__SignReceiptBatchRequest *req = (const Akwire__V1__SignReceiptBatchRequest *)msg;
        Ak__V1__SignReceiptBatchResponse resp = AK__V1__SIGN_RECEIPT_BATCH_RESPONSE__INIT;
        struct signer *s = data;
        struct ak_error err = { 0 };
        struct keystore_key *k;
        struct receipt **in;
        size_t n = req->n_items, size = 0;
        char prefix[32];
        int e = 0;

        if (n > SIGNER_MAX_BATCH)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "items: %zu receipts, at most %d per call", n,
                                     SIGNER_MAX_BATCH);
        in = calloc(n + 1, sizeof(*in));
        resp.receipts = calloc(n + 1, sizeof(*resp.receipts));
        if (!in || !resp.receipts) {
                free_batch(in, resp.receipts, 0);
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
                snprintf(prefix, sizeof(prefix), "items[%zu].", i);
                if (receipt_proto_wire_request_to_receipt(req->items[i], prefix, &in[i], &err) < 0) {
                        free_batch(in, resp.receipts, n);
                        return fail_input(call, &err);
                }
        }
        k = keystore_active(s->ks); /* one key for the whole batch */
        for (size_t i = 0; i < n && e == 0; i++) {
                if (rpc_call_cancelled(call)) {
                        e = -ECANCELED;
                        break;
                }
                e = sign_one(k, in[i], &resp.receipts[i]);
                /* Stop as soon as the answer cannot fit, rather than build it
                 * all: receipts take several times their request's bytes. */
                if (e == 0) {
                        size += protobuf_c_message_get_packed_size(&resp.receipts[i]->base) + 6;
                        if (size > s->max_message_bytes)
                                e = -EMSGSIZE;
                }
        }
        keystore_key_unref(k);
        if (e == -ECANCELED)
                e = rpc_call_fail(call, RPC_CANCELLED, "cancelled while signing");
        else if (e == -EMSGSIZE)
                e = rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED,
                                  "the signed receipts would take more than the %zu-byte message limit; send fewer "
                                  "per call",
                                  s->max_message_bytes);
        else if (e < 0)
                e = fail_internal(s, call, "sign receipt", e);
        else {
                resp.n_receipts = n;
                e = reply(s, call, &resp.base, n);
        }
        free_batch(in, resp.receipts, n);
        return e;
}

static int handle_list(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        Ak__V1__ListPublicKeysResponse resp = AK__V1__LIST_PUBLIC_KEYS_RESPONSE__INIT;
        struct keystore_public_key *keys;
        struct signer *s = data;
        Ak__V1__PublicKey *pk, **ptrs;
        size_t n;
        int e;

        if (keystore_list(s->ks, &keys, &n) < 0)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        pk = calloc(n + 1, sizeof(*pk));
        ptrs = calloc(n + 1, sizeof(*ptrs));
        if (!pk || !ptrs) {
                free(pk);
                free(ptrs);
                free(keys);
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
                Ak__V1__PublicKey init = AK__V1__PUBLIC_KEY__INIT;
                pk[i] = init;
                pk[i].key_id = keys[i].key_id;
                pk[i].algorithm = (char *)"ed25519";
                pk[i].public_key = keys[i].public_key;
                pk[i].created_at_ms = keys[i].created_at_ms;
                pk[i].active = keys[i].active;
                ptrs[i] = &pk[i];
        }
        resp.keys = ptrs;
        resp.n_keys = n;
        e = rpc_call_reply(call, &resp.base) < 0 ? rpc_call_fail(call, RPC_CANCELLED, "the client went away")
                                                 : RPC_OK;
        free(ptrs);
        free(pk);
        free(keys);
        return e;
}

/* Compares without stopping at the first difference. */
static bool token_equal(const char *given, const char *want)
{
        size_t gl = strlen(given), wl = strlen(want);
        unsigned char diff = gl != wl;

        for (size_t i = 0; i < wl; i++)
                diff |= (unsigned char)(want[i] ^ (i < gl ? given[i] : 0));
        return diff == 0;
}

static int handle_rotate(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        Ak__V1__PublicKey resp = AK__V1__PUBLIC_KEY__INIT;
        struct keystore_public_key rec;
        struct signer *s = data;
        struct ak_error err = { 0 };
        struct keystore_key *old;
        const char *auth;
        char old_id[17];

        if (!s->admin_token)
                return rpc_call_fail(call, RPC_PERMISSION_DENIED,
                                     "key rotation over RPC is off: start ak-signer with --admin-token-file");
        auth = rpc_call_metadata(call, "authorization");
        if (!auth || strncmp(auth, "Bearer ", 7) != 0)
                return rpc_call_fail(call, RPC_PERMISSION_DENIED,
                                     "RotateKey needs the admin token, sent as \"authorization: Bearer TOKEN\"");
        if (!token_equal(auth + 7, s->admin_token))
                return rpc_call_fail(call, RPC_PERMISSION_DENIED, "RotateKey: wrong admin token");

        old = keystore_active(s->ks);
        memcpy(old_id, keystore_key_id(old), sizeof(old_id));
        keystore_key_unref(old);
        if (keystore_rotate(s->ks, &rec, &err) < 0) {
                if (s->log)
                        SVC_LOG(SVC_LOG_ERROR, "RotateKey failed", SVC_LOG_S("peer", rpc_call_peer(call)),
                                SVC_LOG_S("error", err.msg));
                return rpc_call_fail(call, RPC_INTERNAL, "%s", err.msg);
        }
        if (s->log)
                SVC_LOG(SVC_LOG_INFO, "rotated the signing key", SVC_LOG_S("peer", rpc_call_peer(call)),
                        SVC_LOG_S("active", rec.key_id), SVC_LOG_S("retired", old_id));
        resp.key_id = rec.key_id;
        resp.algorithm = (char *)"ed25519";
        resp.public_key = rec.public_key;
        resp.created_at_ms = rec.created_at_ms;
        resp.active = true;
        if (rpc_call_reply(call, &resp.base) < 0)
                return rpc_call_fail(call, RPC_CANCELLED, "the client went away");
        return RPC_OK;
}

static const struct rpc_method methods[] = {
        { "SignReceipt", RPC_UNARY, handle_sign },
        { "SignReceiptBatch", RPC_UNARY, handle_sign_batch },
        { "ListPublicKeys", RPC_UNARY, handle_list },
        { "RotateKey", RPC_UNARY, handle_rotate },
};

int signer_new(struct keystore *ks, const struct signer_options *opts, struct signer **ret, struct ak_error *err)
{
        struct signer *s = calloc(1, sizeof(*s));

        if (!s)
                return ak_error_errno(err, -ENOMEM, "signer");
        pthread_once(&metrics_once, metrics_init);
        s->ks = ks;
        s->max_message_bytes = RPC_DEFAULT_MAX_MESSAGE_BYTES;
        if (opts) {
                if (opts->admin_token) {
                        size_t len = strlen(opts->admin_token);
                        if (len == 0 || len > SIGNER_MAX_TOKEN) {
                                free(s);
                                return ak_error_set(err, -EINVAL, "the admin token must be 1 to %d bytes",
                                                    SIGNER_MAX_TOKEN);
                        }
                        s->admin_token = strdup(opts->admin_token);
                        if (!s->admin_token) {
                                free(s);
                                return ak_error_errno(err, -ENOMEM, "signer");
                        }
                }
                if (opts->max_message_bytes)
                        s->max_message_bytes = opts->max_message_bytes;
                s->log = opts->log;
        }
        *ret = s;
        return 0;
}

void signer_free(struct signer *s)
{
        if (!s)
                return;
        if (s->admin_token)
                explicit_bzero(s->admin_token, strlen(s->admin_token));
        free(s->admin_token);
        free(s);
}

int signer_add_to_server(struct signer *s, struct rpc_server *srv, struct ak_error *err)
{
        return rpc_server_add_service(srv, &signer_wire_service_descriptor, methods,
                                      sizeof(methods) / sizeof(methods[0]), s, err);
}
