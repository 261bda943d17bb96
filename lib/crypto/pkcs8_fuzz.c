/* PKCS#8 parsing of outside bytes: must never crash, and whatever it accepts
 * must re-encode to the exact input (it accepts only canonical layouts). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crypto/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        uint8_t seed[CRYPTO_ED25519_SEED_LEN], pub[CRYPTO_ED25519_PUBLIC_KEY_LEN];
        uint8_t der[CRYPTO_PKCS8_ED25519_V2_LEN];
        bool has_pub;

        if (crypto_pkcs8_ed25519_parse(data, size, seed, pub, &has_pub) < 0)
                return 0;
        if (has_pub) {
                crypto_pkcs8_ed25519_write(seed, pub, der);
                if (size != sizeof(der) || memcmp(der, data, size) != 0)
                        abort();
        } else if (size != CRYPTO_PKCS8_ED25519_V1_LEN) {
                abort();
        } else if (memcmp(data + 16, seed, sizeof(seed)) != 0) {
                abort();
        }
        return 0;
}
