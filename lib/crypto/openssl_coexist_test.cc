/* This binary links OpenSSL 3 (-lcrypto) into the global namespace, as gRPC
 * does. Both libraries export SHA256 and RAND_bytes; lib/crypto must still
 * reach BoringSSL (and only BoringSSL has ED25519_sign). */
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <string.h>

#include "lib/crypto/crypto.h"

TEST(OpensslCoexist, BothWorkSideBySide)
{
        uint8_t ossl[32], ours[32];
        SHA256((const unsigned char *)"abc", 3, ossl); /* OpenSSL 3, linked */
        ASSERT_EQ(crypto_sha256("abc", 3, ours), 0);   /* BoringSSL, dlmopen'ed */
        EXPECT_EQ(memcmp(ossl, ours, 32), 0);

        /* the global namespace has no BoringSSL-only symbol */
        EXPECT_EQ(dlsym(RTLD_DEFAULT, "ED25519_sign"), nullptr);

        struct crypto_ed25519_key *k = nullptr;
        ASSERT_EQ(crypto_ed25519_key_generate(&k), 0);
        uint8_t sig[64];
        ASSERT_EQ(crypto_ed25519_sign(k, "m", 1, sig), 0);
        EXPECT_EQ(crypto_ed25519_verify(crypto_ed25519_key_public(k), "m", 1, sig), 0);
        crypto_ed25519_key_free(k);
}
