/* AES-256-GCM from OpenSSL 3's libcrypto (the one gRPC already links into
 * every process that uses the vault), not BoringSSL: a failed GCM open
 * reports through the library's per-thread error queue, and BoringSSL's sits
 * under a pthread key of the second libc in lib/crypto's dlmopen namespace,
 * which lib/crypto/random.c explains is unsafe at thread exit. OpenSSL's error
 * queue lives in the main namespace and is cleaned up normally. */
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

#include "lib/crypto/crypto.h"
#include "lib/vault/seal.h"
#include "lib/vault/vault.h"

#define SEAL_AAD_PREFIX "ak-vault-v1:"

int seal_parse(const uint8_t *buf, size_t len, size_t max_value, const uint8_t **ret_nonce,
               const uint8_t **ret_ciphertext, size_t *ret_ciphertext_len, const uint8_t **ret_tag)
{
        if (len <= SEAL_OVERHEAD || len - SEAL_OVERHEAD > max_value)
                return -EBADMSG;
        if (memcmp(buf, SEAL_MAGIC, SEAL_MAGIC_LEN) != 0)
                return -EBADMSG;
        *ret_nonce = buf + SEAL_MAGIC_LEN;
        *ret_ciphertext = buf + SEAL_MAGIC_LEN + SEAL_NONCE_LEN;
        *ret_ciphertext_len = len - SEAL_OVERHEAD;
        *ret_tag = buf + len - SEAL_TAG_LEN;
        return 0;
}

static int aad_make(const char *name, char ret[sizeof(SEAL_AAD_PREFIX) + VAULT_NAME_MAX], int *ret_len)
{
        size_t n = strlen(name);

        if (n > VAULT_NAME_MAX)
                return -EINVAL;
        memcpy(ret, SEAL_AAD_PREFIX, sizeof(SEAL_AAD_PREFIX) - 1);
        memcpy(ret + sizeof(SEAL_AAD_PREFIX) - 1, name, n);
        *ret_len = (int)(sizeof(SEAL_AAD_PREFIX) - 1 + n);
        return 0;
}

int seal_value(const uint8_t key[SEAL_KEY_LEN], const char *name, const uint8_t *value, size_t len,
               uint8_t *out)
{
        char aad[sizeof(SEAL_AAD_PREFIX) + VAULT_NAME_MAX];
        uint8_t *nonce = out + SEAL_MAGIC_LEN, *ct = nonce + SEAL_NONCE_LEN;
        int aad_len, n, r;

        if (len == 0 || len > INT_MAX || aad_make(name, aad, &aad_len) < 0)
                return -EINVAL;
        r = crypto_random_bytes(nonce, SEAL_NONCE_LEN);
        if (r < 0)
                return r;
        memcpy(out, SEAL_MAGIC, SEAL_MAGIC_LEN);

        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        r = -EIO;
        if (!ctx)
                goto out;
        if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) != 1 ||
            EVP_EncryptUpdate(ctx, NULL, &n, (const uint8_t *)aad, aad_len) != 1 ||
            EVP_EncryptUpdate(ctx, ct, &n, value, (int)len) != 1 || (size_t)n != len ||
            EVP_EncryptFinal_ex(ctx, ct + len, &n) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN, ct + len) != 1)
                goto out;
        r = 0;
out:
        EVP_CIPHER_CTX_free(ctx);
        ERR_clear_error();
        return r;
}

int seal_open(const uint8_t key[SEAL_KEY_LEN], const char *name, const uint8_t *buf, size_t len,
              size_t max_value, uint8_t *out, size_t *ret_len)
{
        char aad[sizeof(SEAL_AAD_PREFIX) + VAULT_NAME_MAX];
        const uint8_t *nonce, *ct, *tag;
        size_t ct_len;
        int aad_len, n, fin, r;

        r = seal_parse(buf, len, max_value, &nonce, &ct, &ct_len, &tag);
        if (r < 0)
                return r;
        if (ct_len > INT_MAX || aad_make(name, aad, &aad_len) < 0)
                return -EBADMSG;

        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        r = -EBADMSG;
        if (!ctx)
                goto out;
        if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) != 1 ||
            EVP_DecryptUpdate(ctx, NULL, &n, (const uint8_t *)aad, aad_len) != 1 ||
            EVP_DecryptUpdate(ctx, out, &n, ct, (int)ct_len) != 1 || (size_t)n != ct_len ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN, (void *)tag) != 1)
                goto out;
        fin = EVP_DecryptFinal_ex(ctx, out + ct_len, &n);
        if (fin != 1)
                goto out;
        *ret_len = ct_len;
        r = 0;
out:
        if (r < 0)
                OPENSSL_cleanse(out, ct_len);
        EVP_CIPHER_CTX_free(ctx);
        ERR_clear_error();
        return r;
}
