/* lib/crypto internal: the BoringSSL functions resolved from the dlmopen'ed
 * library. Only lib/crypto's .c files and tests include this.
 *
 * Only functions without thread-local state belong here (see random.c for
 * why: pthread keys are not shared between the two libc copies). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sha256_state_st; /* BoringSSL's SHA256_CTX */

struct boring {
        void *handle;
        void (*ED25519_keypair_from_seed)(uint8_t out_public_key[32], uint8_t out_private_key[64],
                                          const uint8_t seed[32]);
        int (*ED25519_sign)(uint8_t out_sig[64], const uint8_t *message, size_t message_len,
                            const uint8_t private_key[64]);
        int (*ED25519_verify)(const uint8_t *message, size_t message_len, const uint8_t signature[64],
                              const uint8_t public_key[32]);
        int (*SHA256_Init)(struct sha256_state_st *ctx);
        int (*SHA256_Update)(struct sha256_state_st *ctx, const void *data, size_t len);
        int (*SHA256_Final)(uint8_t out[32], struct sha256_state_st *ctx);
        uint8_t *(*SHA256)(const uint8_t *data, size_t len, uint8_t out[32]);
        size_t sha256_ctx_size;
};

/* Loads BoringSSL once per process; returns the table or sets *ret_err. */
const struct boring *boring_get(int *ret_err);

/* Opens the library at path into a new namespace and resolves every symbol.
 * Returns 0, -ENOENT (no such file) or -ELIBBAD. For tests of the error paths;
 * everything else uses boring_get(). */
int boring_open(const char *path, struct boring *ret);
void boring_close(struct boring *b);

#ifdef __cplusplus
}
#endif
