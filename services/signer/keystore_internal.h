/* Shared between keystore.c and keystore_record.c. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "lib/crypto/crypto.h"
#include "services/signer/keystore.h"

/* Record files hold a few hundred bytes; larger ones are not ours. */
#define KEYSTORE_RECORD_MAX 4096

/* The record of key created at created_ms. */
int keystore_record_of(const struct crypto_ed25519_key *key, int64_t created_ms, struct keystore_public_key *ret);

/* Writes dir/<key_id>.json privately and atomically. */
int keystore_record_write(const char *dir, const struct keystore_public_key *k, struct ak_error *err);

/* Reads every dir/<key_id>.json through dir_fd (at most KEYSTORE_MAX_KEYS),
 * checking each (the name is its key id, the key id is the public key's), and
 * removes temporary files a crashed write left behind. *ret malloc'd. */
int keystore_record_load_all(int dir_fd, const char *dir, struct keystore_public_key **ret, size_t *ret_n,
                             struct ak_error *err);
