/* The signer's keys on disk.
 *
 * Layout, for --key FILE:
 *   FILE                 the active key: PKCS#8 v2 as ring writes it, mode
 *                        0600 — the same file agentkernel keeps in
 *                        ~/.agentkernel/receipts/, so an existing key can be
 *                        adopted and ours used by agentkernel.
 *   FILE.d/              mode 0700: one record per key ever held,
 *   FILE.d/<key_id>.json   {"key_id","algorithm","public_key","created_at_ms"}
 *                        (public data only).
 * Retired private keys are not kept: rotation replaces FILE, so a retired key
 * can no longer sign, while its record keeps it listed for verification.
 *
 * Rotation writes the new key over FILE atomically (temporary file + rename)
 * and then its record; the active key's record is made first. A crash at any
 * point leaves either key active and every key that signed anything listed:
 * a missing record for the active key is rebuilt on open (created = FILE's
 * mtime), which also adopts a key file that agentkernel made.
 *
 * Open refuses, with the command that fixes it:
 *   - a key file that is not a regular file, or that group or others may
 *     access at all (as ssh does for private keys): "chmod 600 FILE";
 *   - a key directory (FILE.d) group or others may access: "chmod 700 ...";
 *   - a parent directory of FILE that group or others may write to without
 *     the sticky bit (they could swap the key): "chmod go-w DIR".
 * A missing FILE is created (missing parents 0700, the file 0600, atomic).
 * One process at a time: open takes an exclusive lock on FILE.d, so a second
 * signer, or `ak-signer --rotate` beside a running one, is refused.
 *
 * Thread-safety: after open, every function may be called from any thread;
 * keystore_rotate is serialized with itself and with readers of the key list.
 * Nothing here logs or returns private key bytes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "lib/crypto/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Keys one keystore lists at most; records beyond it refuse the open. */
#define KEYSTORE_MAX_KEYS 4096

struct keystore;

/* The active key, reference-counted so a rotation never pulls it out from
 * under a signer that is using it. */
struct keystore_key;

struct keystore_public_key {
        char key_id[17];     /* 16 lowercase hex digits */
        char public_key[45]; /* base64, padded */
        int64_t created_at_ms;
        bool active;
};

int keystore_open(const char *key_path, struct keystore **ret, struct ak_error *err);
/* NULL is a no-op. REQUIRES: no keystore_key of it still referenced. */
void keystore_free(struct keystore *ks);

/* A new active key; the old one stays listed. *ret_new (may be NULL) gets
 * the new key's record. */
int keystore_rotate(struct keystore *ks, struct keystore_public_key *ret_new, struct ak_error *err);

/* Every key held, the active one first, then newest first. *ret is malloc'd
 * (caller frees). */
int keystore_list(struct keystore *ks, struct keystore_public_key **ret, size_t *ret_n);

/* The active key with a reference the caller drops with keystore_key_unref. */
struct keystore_key *keystore_active(struct keystore *ks);
void keystore_key_unref(struct keystore_key *k);
const struct crypto_ed25519_key *keystore_key_crypto(const struct keystore_key *k);
const char *keystore_key_id(const struct keystore_key *k);

/* The key file's and the key directory's paths (valid while ks is). */
const char *keystore_path(const struct keystore *ks);
const char *keystore_dir(const struct keystore *ks);

#ifdef __cplusplus
}
#endif
