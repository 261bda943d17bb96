/* lib/vault internal: the sealed file format and its AEAD.
 *
 *   "AKVAULT1" | nonce (12) | ciphertext (value length) | GCM tag (16)
 *
 * AES-256-GCM with a fresh random nonce per seal; associated data is
 * "ak-vault-v1:" followed by the secret's name. Only lib/vault and its tests
 * include this. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SEAL_MAGIC "AKVAULT1"
#define SEAL_MAGIC_LEN 8
#define SEAL_KEY_LEN 32
#define SEAL_NONCE_LEN 12
#define SEAL_TAG_LEN 16
#define SEAL_OVERHEAD (SEAL_MAGIC_LEN + SEAL_NONCE_LEN + SEAL_TAG_LEN)

/* Splits a sealed file's bytes without any cryptography (safe on hostile
 * input): checks the magic and that a non-empty ciphertext of at most
 * max_value bytes and a tag follow. 0 with pointers into buf, or -EBADMSG. */
int seal_parse(const uint8_t *buf, size_t len, size_t max_value, const uint8_t **ret_nonce,
               const uint8_t **ret_ciphertext, size_t *ret_ciphertext_len, const uint8_t **ret_tag);

/* Seals value (len >= 1) for name into out, which holds len + SEAL_OVERHEAD
 * bytes. 0, -EIO (the cipher failed) or -errno from getrandom. */
int seal_value(const uint8_t key[SEAL_KEY_LEN], const char *name, const uint8_t *value, size_t len,
               uint8_t *out);

/* Opens a sealed file's bytes for name into out (room for the ciphertext's
 * length, which *ret_len receives). 0, or -EBADMSG (malformed, wrong key,
 * wrong name or changed bytes); out is wiped on failure. */
int seal_open(const uint8_t key[SEAL_KEY_LEN], const char *name, const uint8_t *buf, size_t len,
              size_t max_value, uint8_t *out, size_t *ret_len);

#ifdef __cplusplus
}
#endif
