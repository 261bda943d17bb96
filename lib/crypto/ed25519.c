#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crypto/boring.h"
#include "lib/crypto/crypto.h"

struct crypto_ed25519_key {
        uint8_t seed[CRYPTO_ED25519_SEED_LEN];
        uint8_t private_key[64]; /* BoringSSL's form: seed || public key */
        uint8_t public_key[CRYPTO_ED25519_PUBLIC_KEY_LEN];
};

int crypto_ed25519_key_from_seed(const uint8_t seed[CRYPTO_ED25519_SEED_LEN], struct crypto_ed25519_key **ret)
{
        const struct boring *b;
        struct crypto_ed25519_key *k;
        int r;

        b = boring_get(&r);
        if (!b)
                return r;
        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        memcpy(k->seed, seed, sizeof(k->seed));
        b->ED25519_keypair_from_seed(k->public_key, k->private_key, k->seed);
        *ret = k;
        return 0;
}

int crypto_ed25519_key_generate(struct crypto_ed25519_key **ret)
{
        uint8_t seed[CRYPTO_ED25519_SEED_LEN];
        int r;

        r = crypto_random_bytes(seed, sizeof(seed));
        if (r < 0)
                return r;
        r = crypto_ed25519_key_from_seed(seed, ret);
        explicit_bzero(seed, sizeof(seed));
        return r;
}

int crypto_ed25519_key_from_pkcs8(const uint8_t *der, size_t len, struct crypto_ed25519_key **ret)
{
        uint8_t seed[CRYPTO_ED25519_SEED_LEN], pub[CRYPTO_ED25519_PUBLIC_KEY_LEN];
        struct crypto_ed25519_key *k = NULL;
        bool has_pub;
        int r;

        r = crypto_pkcs8_ed25519_parse(der, len, seed, pub, &has_pub);
        if (r < 0)
                return r;
        r = crypto_ed25519_key_from_seed(seed, &k);
        explicit_bzero(seed, sizeof(seed));
        if (r < 0)
                return r;
        if (has_pub && memcmp(pub, k->public_key, sizeof(pub)) != 0) {
                crypto_ed25519_key_free(k);
                return -EKEYREJECTED;
        }
        *ret = k;
        return 0;
}

void crypto_ed25519_key_to_pkcs8(const struct crypto_ed25519_key *key, uint8_t ret_der[CRYPTO_PKCS8_ED25519_V2_LEN])
{
        crypto_pkcs8_ed25519_write(key->seed, key->public_key, ret_der);
}

const uint8_t *crypto_ed25519_key_public(const struct crypto_ed25519_key *key)
{
        return key->public_key;
}

void crypto_ed25519_key_free(struct crypto_ed25519_key *key)
{
        if (!key)
                return;
        explicit_bzero(key, sizeof(*key));
        free(key);
}

int crypto_ed25519_sign(const struct crypto_ed25519_key *key, const void *msg, size_t len,
                        uint8_t ret_sig[CRYPTO_ED25519_SIGNATURE_LEN])
{
        const struct boring *b;
        uint8_t sig[CRYPTO_ED25519_SIGNATURE_LEN];
        int r;

        b = boring_get(&r);
        if (!b)
                return r;
        if (!b->ED25519_sign(sig, msg ? msg : (const void *)"", len, key->private_key))
                return -EIO;
        memcpy(ret_sig, sig, sizeof(sig));
        return 0;
}

int crypto_ed25519_verify(const uint8_t public_key[CRYPTO_ED25519_PUBLIC_KEY_LEN], const void *msg, size_t len,
                          const uint8_t sig[CRYPTO_ED25519_SIGNATURE_LEN])
{
        const struct boring *b;
        int r;

        b = boring_get(&r);
        if (!b)
                return r;
        return b->ED25519_verify(msg ? msg : (const void *)"", len, sig, public_key) ? 0 : -EBADMSG;
}
