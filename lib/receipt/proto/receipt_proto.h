/* Receipts between struct receipt (lib/receipt) and the protobuf messages of
 * protos/ak/v1/receipt.proto and signer.proto. Shared by the signer (requests
 * in, receipts out) and its clients (the executor builds requests, `ak`
 * reads receipts).
 *
 * Requests are untrusted input. Every request string is checked on its exact
 * wire bytes (decoded through the generated akwire/v1 mirror, see BUILD):
 * valid UTF-8, no U+0000 (a C string cannot carry it, and lib/receipt refuses
 * it), at most RECEIPT_PROTO_MAX_STRING bytes, lists of at most
 * RECEIPT_PROTO_MAX_LIST entries, RECEIPT_PROTO_MAX_TOTAL bytes of strings in
 * all; invocation and outcome must be present, the invocation's mode set, and
 * output_sha256 64 lowercase hex digits. Errors name the field, e.g.
 *   "invocation.run.command[2]: contains a NUL byte at offset 5".
 *
 * Messages these functions return are heap-allocated as protobuf-c's unpacker
 * would, so the caller frees them with
 *   protobuf_c_message_free_unpacked(&msg->base, NULL).
 * Functions return 0 or -errno (-EINVAL for invalid input, with err filled;
 * -ENOMEM). Outputs are written only on success. Thread-safe (no state). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "lib/receipt/receipt.h"
#include "protos/ak/v1/receipt.pb-c.h"
#include "protos/ak/v1/signer.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Linux's MAX_ARG_STRLEN: no argument of a real command is longer. */
#define RECEIPT_PROTO_MAX_STRING ((size_t)128 << 10)
#define RECEIPT_PROTO_MAX_LIST 4096
/* All strings of one receipt together; the pretty JSON of the worst case
 * (every byte a control character, escaped as \u00XX) stays far below the
 * RECEIPT_MAX_FILE_SIZE that `ak receipt verify` loads. */
#define RECEIPT_PROTO_MAX_TOTAL ((size_t)1 << 20)

/* The generated mirror of SignReceiptRequest with `bytes` for `string`. */
struct Akwire__V1__SignReceiptRequest;

/* A SignReceiptRequest's bytes (as the wire carries them) → a receipt with
 * invocation and outcome set, nothing else (version 0, no id, no time, no
 * hash). Malformed protobuf is -EBADMSG. */
int receipt_proto_decode_request(const uint8_t *data, size_t len, struct receipt **ret, struct ak_error *err);

/* The same from a request the akwire mirror decoded; `field_prefix` (may be
 * NULL) is put before every field name in err, e.g. "items[3]." */
int receipt_proto_wire_request_to_receipt(const struct Akwire__V1__SignReceiptRequest *req, const char *field_prefix,
                                          struct receipt **ret, struct ak_error *err);

/* The same from an in-memory request (checked as if it had come over the
 * wire: packed, then decoded). */
int receipt_proto_request_to_receipt(const Ak__V1__SignReceiptRequest *req, struct receipt **ret,
                                     struct ak_error *err);

/* r's invocation and outcome as a request (what the executor sends).
 * REQUIRES: r's mandatory invocation strings and output_sha256 non-NULL
 * (-EINVAL otherwise). */
int receipt_proto_request_from_receipt(const struct receipt *r, Ak__V1__SignReceiptRequest **ret);

/* The whole receipt as a message. `json` (may be NULL: left "") is the
 * receipt file's text, stored in Receipt.json unchanged; r->tenant, if set,
 * goes to Receipt.tenant.
 * REQUIRES: what receipt_to_json requires of r (-EINVAL otherwise). */
int receipt_proto_from_receipt(const struct receipt *r, const char *json, Ak__V1__Receipt **ret);

/* Names the tenant in a Receipt message (what the executor does to the one
 * the signer returned): sets Receipt.tenant and, if Receipt.json is
 * non-empty, rewrites it through lib/receipt with the "tenant" key added last
 * (pretty if it was pretty), so the file clients store names the tenant too.
 * The payload, hash and signature are not touched: the tenant is unsigned
 * metadata (receipt.h) and the receipt verifies as before. tenant NULL
 * removes it. The message must own its strings as protobuf-c's unpacker
 * leaves them (free_unpacked frees them). Returns 0, -EINVAL with err filled
 * when Receipt.json is not a receipt, or -ENOMEM; m is unchanged on failure. */
int receipt_proto_set_tenant(Ak__V1__Receipt *m, const char *tenant, struct ak_error *err);

/* A Receipt message's fields → a receipt (Receipt.json is not read), checked
 * as requests are, plus the envelope's strings and the optional tenant. The
 * caller verifies it. */
int receipt_proto_to_receipt(const Ak__V1__Receipt *m, struct receipt **ret, struct ak_error *err);

#ifdef __cplusplus
}
#endif
