/* Execution receipts, byte-compatible with agentkernel 0.18.1 (receipt.rs).
 *
 * A receipt records what ran (invocation) and how it ended (outcome), and
 * seals both with a SHA-256 of the "payload" and an Ed25519 signature over
 * the same payload. The payload is serde_json's compact serialization of
 *   {version, receipt_id, recorded_at, invocation, outcome}
 * in that order, with the field orders of agentkernel's Rust structs; a receipt
 * written by either implementation verifies with the other.
 *
 * The model is plain data. Every string and array in a struct receipt is owned
 * by it (malloc'd; receipt_free frees them). NULL stands for a Rust None.
 * Strings are NUL-terminated UTF-8; a receipt file whose JSON strings contain
 * U+0000 is refused on parse (the only valid serde input we do not accept:
 * nothing in the tree can carry NUL inside a C string, and nothing ever
 * writes it into a receipt).
 *
 * Errors: functions return 0 or -errno. Those that take `char **error` also
 * describe a failure in words: on failure, if error is non-NULL, *error gets a
 * malloc'd message the caller frees (left untouched on success). Verification
 * messages are agentkernel's, word for word. Crypto load failures come back as
 * -ENOENT / -ELIBBAD with crypto_init_error_message()'s text.
 *
 * The tenant (ak's addition, not agentkernel's) is unsigned metadata: a
 * top-level "tenant" key of the receipt file, after "signature", written only
 * when set, so a receipt without one is byte for byte what agentkernel
 * writes. It is NOT covered by the payload hash or the signature, and cannot
 * be: agentkernel verifies by re-serializing its own ExecutionReceipt struct,
 * which has no such field, so a tenant inside the payload (or inside
 * invocation/outcome) would make every receipt fail agentkernel's check.
 * serde ignores the unknown key, so agentkernel still parses and verifies a
 * receipt that has one. Anyone who can edit the file can change or remove the
 * tenant without breaking the signature; show it as unsigned, never trust it
 * as proof of ownership (the audit stream's actor.org_id is the record).
 *
 * Thread-safety: no global state except lib/crypto's one-time load; a receipt
 * may be read by many threads at once, written by one.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/crypto/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RECEIPT_VERSION 1u
/* Receipt files larger than this are refused on load. */
#define RECEIPT_MAX_FILE_SIZE ((size_t)16 << 20)
/* The file name agentkernel keeps its key in, under ~/.agentkernel/receipts/. */
#define RECEIPT_SIGNING_KEY_FILE "ed25519_signing_key.pkcs8"

enum receipt_mode {
        RECEIPT_MODE_RUN,  /* "run" */
        RECEIPT_MODE_EXEC, /* "exec" */
};

/* Field order as RunInvocation: command, image, backend, profile, no_network, fast, keep. */
struct receipt_run {
        char **command;
        size_t n_command;
        char *image;   /* NULL: None */
        char *backend; /* NULL: None */
        char *profile;
        bool no_network;
        bool fast;
        bool keep;
};

/* Field order as ExecInvocation: name, command, env, workdir, sudo. */
struct receipt_exec {
        char *name;
        char **command;
        size_t n_command;
        char **env;
        size_t n_env;
        char *workdir; /* NULL: None */
        bool sudo;
};

/* serde adjacently tagged: {"mode":"run"|"exec","input":{...}}. */
struct receipt_invocation {
        enum receipt_mode mode;
        struct receipt_run run;   /* valid if mode == RECEIPT_MODE_RUN */
        struct receipt_exec exec; /* valid if mode == RECEIPT_MODE_EXEC */
};

/* Field order as ExecutionOutcome: exit_code, success, output_sha256, output_bytes, error. */
struct receipt_outcome {
        int32_t exit_code;
        bool success;
        char *output_sha256;
        uint64_t output_bytes;
        char *error; /* NULL: None */
};

struct receipt_signature {
        char *algorithm;  /* "ed25519" */
        char *key_id;     /* first 16 hex digits of sha256(public key) */
        char *public_key; /* base64 of the 32-byte key */
        char *signature;  /* base64 of the 64-byte signature */
};

struct receipt {
        uint32_t version;
        char *receipt_id;  /* UUIDv7 */
        char *recorded_at; /* RFC 3339, as chrono's to_rfc3339 */
        struct receipt_invocation invocation;
        struct receipt_outcome outcome;
        char *payload_hash_sha256;
        struct receipt_signature *signature; /* NULL: unsigned (legacy) */
        /* The tenant whose sandbox ran it; NULL: none. Unsigned metadata, not
         * in the payload (see the top of this file): receipt_payload,
         * receipt_seal and receipt_verify never read it. */
        char *tenant;
};

/* ---- life cycle ---- */

/* A zeroed receipt (version 0, no strings). Returns 0 or -ENOMEM. */
int receipt_new(struct receipt **ret);
/* Frees the receipt and everything it owns. NULL is a no-op. */
void receipt_free(struct receipt *r);
/* Frees the strings of one part (the struct itself is not freed) and zeroes it. */
void receipt_invocation_clear(struct receipt_invocation *inv);
void receipt_outcome_clear(struct receipt_outcome *o);
void receipt_signature_free(struct receipt_signature *s);
/* Frees a NULL-terminated or counted string vector (n ignored if argv is
 * NULL-terminated and n == SIZE_MAX). */
void receipt_strv_free(char **v, size_t n);

/* ---- building ---- */

/* ExecutionOutcome::from_combined_output: success = exit_code == 0,
 * output_sha256 = hex sha256(output), output_bytes = len, error copied (NULL:
 * None). Fills *ret (whose previous contents are not freed). */
int receipt_outcome_from_output(int32_t exit_code, const void *output, size_t len, const char *error,
                                struct receipt_outcome *ret);
/* The same from a digest computed by streaming (crypto_sha256_*). */
int receipt_outcome_from_digest(int32_t exit_code, const uint8_t digest[CRYPTO_SHA256_LEN], uint64_t output_bytes,
                                const char *error, struct receipt_outcome *ret);

/* chrono's Utc::to_rfc3339 of a time: "2026-02-23T10:11:12.123456789+00:00",
 * with 0, 3, 6 or 9 fraction digits as needed (SecondsFormat::AutoSi). */
#define RECEIPT_TIME_MAX 40
int receipt_format_time(int64_t unix_seconds, uint32_t nanoseconds, char ret[RECEIPT_TIME_MAX]);
/* The same for CLOCK_REALTIME now. */
int receipt_now(char ret[RECEIPT_TIME_MAX]);

/* Key id of a public key: the first 16 hex digits of its SHA-256. */
int receipt_key_id(const uint8_t public_key[CRYPTO_ED25519_PUBLIC_KEY_LEN], char ret[17]);

/* ---- the split API (the signer service) ---- */

/* Whether the invocation and outcome have every field the payload needs
 * (output hash; run: profile and command; exec: name, command, env). */
bool receipt_fields_complete(const struct receipt *r);

/* The payload bytes of r: compact JSON of version, receipt_id, recorded_at,
 * invocation, outcome (the hash and signature fields are not read).
 * REQUIRES: receipt_id, recorded_at, output_sha256 and the mandatory strings
 * of the invocation non-NULL (-EINVAL otherwise). *ret_data is malloc'd
 * (NUL-terminated for convenience), caller frees. */
int receipt_payload(const struct receipt *r, char **ret_data, size_t *ret_len);
/* Lowercase hex SHA-256 of a payload (payload_hash_sha256). */
int receipt_payload_hash(const void *payload, size_t len, char ret[CRYPTO_SHA256_HEX_LEN + 1]);
/* Signs payload with key: algorithm "ed25519", key id, base64 public key and
 * signature. *ret is the caller's (receipt_signature_free). */
int receipt_sign_payload(const struct crypto_ed25519_key *key, const void *payload, size_t len,
                         struct receipt_signature **ret);

/* ---- the whole receipt (ExecutionReceipt::new) ---- */

/* Sets version 1, a fresh receipt_id and recorded_at now (replacing old ones). */
int receipt_stamp(struct receipt *r);
/* Computes payload_hash_sha256 and, if key is non-NULL, the signature (else
 * the receipt is left unsigned), replacing previous ones. */
int receipt_seal(struct receipt *r, const struct crypto_ed25519_key *key);
/* receipt_stamp + receipt_seal: r carries invocation and outcome on entry. */
int receipt_finalize(struct receipt *r, const struct crypto_ed25519_key *key);

/* ---- JSON ---- */

/* The full receipt as JSON: pretty is serde_json::to_vec_pretty (what
 * agentkernel writes to files), otherwise compact; if r->tenant is set, a
 * "tenant" key comes last (after "signature"), else the bytes are exactly
 * agentkernel's. *ret_data malloc'd. */
int receipt_to_json(const struct receipt *r, bool pretty, char **ret_data, size_t *ret_len);
/* Parses a receipt as serde would: any JSON layout, unknown fields ignored,
 * missing Option fields are None, missing other fields, duplicate fields,
 * wrong types and out-of-range integers are errors (-EINVAL, or -E2BIG for
 * oversized input). Struct-as-array (serde's sequence form) is accepted too
 * (it has no tenant: agentkernel refuses a longer array). The object form's
 * "tenant" is read into r->tenant: a string or null (None); any other type or
 * a second "tenant" key is an error (agentkernel would ignore both, but an
 * ambiguous owner is worse than a refused file). */
int receipt_from_json(const char *text, size_t len, struct receipt **ret, char **error);

/* ---- verification (verify_receipt) ---- */

/* Checks version, payload hash, then the signature (or, if unsigned, that
 * allow_unsigned is set). Returns 0, -EBADMSG with agentkernel's message,
 * or -ENOMEM / crypto load errors. */
int receipt_verify(const struct receipt *r, bool allow_unsigned, char **error);

/* ---- files ---- */

/* Writes the pretty JSON privately and atomically: a 0600 temporary file in
 * the same directory, fsync, rename over path, fsync of the directory.
 * Error: "Failed to write receipt PATH: ...". */
int receipt_write_file(const char *path, const struct receipt *r, char **error);
/* Error: "Failed to read receipt PATH: ..." or "Invalid receipt JSON in PATH: ...". */
int receipt_load_file(const char *path, struct receipt **ret, char **error);
/* load + verify; returns the receipt only if it verifies. */
int receipt_verify_file(const char *path, bool allow_unsigned, struct receipt **ret, char **error);

/* Writes data privately and atomically as receipt_write_file does (mode 0600).
 * Returns 0 or -errno. */
int receipt_write_private_file(const char *path, const void *data, size_t len);

/* ---- the local signing key (one-machine mode) ---- */

/* $AK_HOME/receipts/ed25519_signing_key.pkcs8 ($AK_HOME as ak_home() in
 * lib/base/home.h resolves it: ~/.agentkernel by default). *ret malloc'd.
 * 0, -ENOENT (no home directory), -ENAMETOOLONG or -ENOMEM. */
int receipt_default_signing_key_path(char **ret);
/* Loads the PKCS#8 key at path (v1 or v2), or if there is no file creates
 * one: missing parent directories 0700, the key file 0600 written atomically
 * in ring's v2 layout, so agentkernel can use it as well. Errors: "Failed to
 * read signing key PATH: ...", "Invalid Ed25519 signing key at PATH",
 * "Failed to write signing key PATH: ...". */
int receipt_load_or_create_signing_key(const char *path, struct crypto_ed25519_key **ret, char **error);

/* ---- replay ---- */

/* The agentkernel arguments that re-run the receipt's invocation, exactly as
 * replay_args: NULL-terminated vector, free with receipt_strv_free(v, SIZE_MAX). */
int receipt_replay_args(const struct receipt *r, char ***ret_argv, size_t *ret_argc);

#ifdef __cplusplus
}
#endif
