/* The ak.v1.Signer gRPC service (protos/ak/v1/signer.proto) over a keystore.
 *
 * SignReceipt / SignReceiptBatch: the request's invocation and outcome are
 * checked (receipt_proto.h; INVALID_ARGUMENT naming the field, and for a
 * batch its index: "items[3].outcome: missing"), then each receipt gets a
 * UUIDv7 id and the time, is hashed and signed with the active key, and comes
 * back whole, with Receipt.json holding the pretty JSON file as
 * receipt_to_json writes it. A batch takes 1..SIGNER_MAX_BATCH items, all or
 * nothing, signed with one key. ListPublicKeys: every key held, the active
 * one first, then newest first. RotateKey: PERMISSION_DENIED unless the call
 * carries "authorization: Bearer <admin token>"; refused when the signer has
 * no admin token.
 *
 * The handlers never put private key bytes in a response, a status message or
 * the log. */
#pragma once

#include <stdbool.h>

#include <protobuf-c/protobuf-c.h>

#include "lib/base/error.h"
#include "lib/rpc/rpc.h"
#include "services/signer/keystore.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SIGNER_MAX_BATCH 1024
/* Admin tokens are at most this long. */
#define SIGNER_MAX_TOKEN 4096

struct signer_options {
        const char *admin_token; /* NULL: RotateKey is refused (copied) */
        size_t max_message_bytes; /* the server's limit; 0: RPC_DEFAULT_MAX_MESSAGE_BYTES */
        bool log;                 /* a line (lib/svc/log.h) per rotation and per internal error */
};

struct signer;

/* ks stays the caller's and must outlive the signer. opts may be NULL. */
int signer_new(struct keystore *ks, const struct signer_options *opts, struct signer **ret, struct ak_error *err);
/* NULL is a no-op. REQUIRES: the server it was added to has shut down. */
void signer_free(struct signer *s);

/* Adds ak.v1.Signer to srv (before rpc_server_start). */
int signer_add_to_server(struct signer *s, struct rpc_server *srv, struct ak_error *err);

/* ak.v1.Signer as the server decodes it: requests through the akwire mirror
 * (exact string bytes), responses as the public messages. A client may call
 * with it to send request bytes the public C types cannot hold (tests do). */
extern const ProtobufCServiceDescriptor signer_wire_service_descriptor;

#ifdef __cplusplus
}
#endif
