/* Ed25519, SHA-256 and random bytes from BoringSSL, plus PKCS#8 for Ed25519.
 *
 * BoringSSL is Debian's android-libboringssl, loaded at run time with
 * dlmopen(LM_ID_NEWLM) from CRYPTO_BORINGSSL_PATH into a link-map namespace of
 * its own: it exports the same unversioned names as the OpenSSL 3 that gRPC
 * links, and must never be linked or mixed with it. It is loaded once per
 * process, on the first call that needs it (or crypto_init()), thread-safely.
 *
 * Errors: every int-returning function returns 0 or a negative errno. Any
 * function that needs BoringSSL can fail with
 *   -ENOENT   the library file is missing,
 *   -ELIBBAD  it exists but could not be loaded or lacks a needed symbol;
 * crypto_init_error_message() gives the words for those two (callers print).
 *
 * Thread-safety: all functions are safe to call from any thread. A key or a
 * SHA-256 context may be used by one thread at a time for writing; a key may
 * be used by many threads at once for signing (signing does not modify it).
 *
 * Secrets: key objects hold the private key in ordinary heap memory and wipe
 * it on free. PKCS#8 buffers the caller receives are the caller's to wipe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CRYPTO_BORINGSSL_PATH "/usr/lib/x86_64-linux-gnu/android/libcrypto.so.0"

#define CRYPTO_ED25519_SEED_LEN 32
#define CRYPTO_ED25519_PUBLIC_KEY_LEN 32
#define CRYPTO_ED25519_SIGNATURE_LEN 64
#define CRYPTO_SHA256_LEN 32
#define CRYPTO_SHA256_HEX_LEN 64 /* lowercase hex digits, without NUL */

/* PKCS#8 v1 (RFC 5208, version 0): seed only. */
#define CRYPTO_PKCS8_ED25519_V1_LEN 48
/* PKCS#8 v2 / OneAsymmetricKey (RFC 5958, version 1) with the public key, in
 * the exact layout ring's Ed25519KeyPair::generate_pkcs8 writes and
 * agentkernel stores in ed25519_signing_key.pkcs8. */
#define CRYPTO_PKCS8_ED25519_V2_LEN 85

/* Loads BoringSSL if not yet loaded. Returns 0, -ENOENT or -ELIBBAD (the
 * result of the one load attempt is remembered for the process lifetime). */
int crypto_init(void);

/* For r = -ENOENT or -ELIBBAD from any crypto_ function: a static message,
 * e.g. "BoringSSL not found at /usr/lib/.../libcrypto.so.0: install
 * android-libboringssl (tools/deps.sh)". For other values, strerror-like text. */
const char *crypto_init_error_message(int r);

/* len bytes from the kernel's CSPRNG (getrandom(2); not BoringSSL's
 * RAND_bytes, see random.c). Returns 0 or -errno from getrandom. */
int crypto_random_bytes(void *buf, size_t len);

/* One-shot SHA-256. */
int crypto_sha256(const void *data, size_t len, uint8_t ret_digest[CRYPTO_SHA256_LEN]);
/* One-shot SHA-256 as 64 lowercase hex digits and a NUL (Rust's {:x}). */
int crypto_sha256_hex(const void *data, size_t len, char ret_hex[CRYPTO_SHA256_HEX_LEN + 1]);

/* Streaming SHA-256, for outputs too large to hold at once. */
struct crypto_sha256;
int crypto_sha256_new(struct crypto_sha256 **ret);
void crypto_sha256_update(struct crypto_sha256 *h, const void *data, size_t len);
/* Writes the digest of everything updated so far, then starts over empty. */
void crypto_sha256_final(struct crypto_sha256 *h, uint8_t ret_digest[CRYPTO_SHA256_LEN]);
/* NULL is a no-op. */
void crypto_sha256_free(struct crypto_sha256 *h);

/* An Ed25519 key pair. */
struct crypto_ed25519_key;

/* A fresh key pair from BoringSSL's RNG. */
int crypto_ed25519_key_generate(struct crypto_ed25519_key **ret);
int crypto_ed25519_key_from_seed(const uint8_t seed[CRYPTO_ED25519_SEED_LEN], struct crypto_ed25519_key **ret);
/* From PKCS#8 v1 or v2 (see crypto_pkcs8_ed25519_parse). Returns -EINVAL for
 * malformed DER, -EKEYREJECTED if a v2 public key does not belong to the seed. */
int crypto_ed25519_key_from_pkcs8(const uint8_t *der, size_t len, struct crypto_ed25519_key **ret);
/* The v2 (ring) encoding, CRYPTO_PKCS8_ED25519_V2_LEN bytes. */
void crypto_ed25519_key_to_pkcs8(const struct crypto_ed25519_key *key,
                                 uint8_t ret_der[CRYPTO_PKCS8_ED25519_V2_LEN]);
/* The 32-byte public key; valid as long as key is. */
const uint8_t *crypto_ed25519_key_public(const struct crypto_ed25519_key *key);
/* Wipes and frees. NULL is a no-op. */
void crypto_ed25519_key_free(struct crypto_ed25519_key *key);

int crypto_ed25519_sign(const struct crypto_ed25519_key *key, const void *msg, size_t len,
                        uint8_t ret_sig[CRYPTO_ED25519_SIGNATURE_LEN]);
/* Returns 0 if sig is a valid signature of msg by public_key, -EBADMSG if not
 * (or the load errors above). */
int crypto_ed25519_verify(const uint8_t public_key[CRYPTO_ED25519_PUBLIC_KEY_LEN], const void *msg, size_t len,
                          const uint8_t sig[CRYPTO_ED25519_SIGNATURE_LEN]);

/* PKCS#8 DER, without BoringSSL (pure functions, safe on hostile input).
 *
 * Accepted, strictly (definite minimal DER lengths, no trailing bytes, no
 * attributes, no algorithm parameters):
 *   v1: 30 2e 02 01 00 30 05 06 03 2b 65 70 04 22 04 20 <seed:32>
 *   v2: 30 53 02 01 01 30 05 06 03 2b 65 70 04 22 04 20 <seed:32>
 *       a1 23 03 21 00 <public key:32>
 *   and v2 without the [1] public key (RFC 5958 makes it optional).
 * Returns 0 and the seed, the public key (zeros if absent) and whether one was
 * present, or -EINVAL. Does not check that the public key fits the seed:
 * crypto_ed25519_key_from_pkcs8 does. */
int crypto_pkcs8_ed25519_parse(const uint8_t *der, size_t len, uint8_t ret_seed[CRYPTO_ED25519_SEED_LEN],
                               uint8_t ret_public_key[CRYPTO_ED25519_PUBLIC_KEY_LEN], bool *ret_has_public_key);
/* Writes the v2 layout above. */
void crypto_pkcs8_ed25519_write(const uint8_t seed[CRYPTO_ED25519_SEED_LEN],
                                const uint8_t public_key[CRYPTO_ED25519_PUBLIC_KEY_LEN],
                                uint8_t ret_der[CRYPTO_PKCS8_ED25519_V2_LEN]);

#ifdef __cplusplus
}
#endif
