#include <errno.h>
#include <gtest/gtest.h>
#include <string.h>

#include <vector>

#include "lib/crypto/crypto.h"

namespace {

/* RFC 8032 test 1 key. */
const uint8_t kSeed[32] = {0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a,
                           0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32,
                           0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60};
const uint8_t kPub[32] = {0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe,
                          0xd3, 0xc9, 0x64, 0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6,
                          0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a};

std::vector<uint8_t> V1()
{
        std::vector<uint8_t> v = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                  0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
        v.insert(v.end(), kSeed, kSeed + 32);
        return v;
}

std::vector<uint8_t> V2(bool with_pub = true)
{
        std::vector<uint8_t> v = {0x30, 0x53, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06,
                                  0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
        v.insert(v.end(), kSeed, kSeed + 32);
        if (!with_pub) {
                v[1] = 0x2e;
                return v;
        }
        const uint8_t mid[] = {0xa1, 0x23, 0x03, 0x21, 0x00};
        v.insert(v.end(), mid, mid + sizeof(mid));
        v.insert(v.end(), kPub, kPub + 32);
        return v;
}

int Parse(const std::vector<uint8_t> &d, bool *has_pub = nullptr)
{
        uint8_t seed[32], pub[32];
        bool h = false;
        int r = crypto_pkcs8_ed25519_parse(d.data(), d.size(), seed, pub, &h);
        if (r == 0) {
                EXPECT_EQ(memcmp(seed, kSeed, 32), 0);
                if (h) {
                        EXPECT_EQ(memcmp(pub, kPub, 32), 0);
                }
        }
        if (has_pub)
                *has_pub = h;
        return r;
}

} // namespace

TEST(Pkcs8, ParsesV1AndV2)
{
        bool h = true;
        ASSERT_EQ(V1().size(), (size_t)CRYPTO_PKCS8_ED25519_V1_LEN);
        ASSERT_EQ(V2().size(), (size_t)CRYPTO_PKCS8_ED25519_V2_LEN);
        EXPECT_EQ(Parse(V1(), &h), 0);
        EXPECT_FALSE(h);
        EXPECT_EQ(Parse(V2(), &h), 0);
        EXPECT_TRUE(h);
        EXPECT_EQ(Parse(V2(false), &h), 0);
        EXPECT_FALSE(h);
}

TEST(Pkcs8, WritesRingLayout)
{
        uint8_t der[CRYPTO_PKCS8_ED25519_V2_LEN];
        crypto_pkcs8_ed25519_write(kSeed, kPub, der);
        EXPECT_EQ(std::vector<uint8_t>(der, der + sizeof(der)), V2());

        struct crypto_ed25519_key *k = nullptr;
        ASSERT_EQ(crypto_ed25519_key_from_seed(kSeed, &k), 0);
        uint8_t der2[CRYPTO_PKCS8_ED25519_V2_LEN];
        crypto_ed25519_key_to_pkcs8(k, der2);
        EXPECT_EQ(memcmp(der, der2, sizeof(der)), 0);
        crypto_ed25519_key_free(k);
}

TEST(Pkcs8, KeyFromBothVersions)
{
        for (auto d : {V1(), V2(), V2(false)}) {
                struct crypto_ed25519_key *k = nullptr;
                ASSERT_EQ(crypto_ed25519_key_from_pkcs8(d.data(), d.size(), &k), 0);
                EXPECT_EQ(memcmp(crypto_ed25519_key_public(k), kPub, 32), 0);
                crypto_ed25519_key_free(k);
        }
}

TEST(Pkcs8, MismatchedPublicKeyRejected)
{
        auto d = V2();
        d.back() ^= 1;
        uint8_t seed[32], pub[32];
        bool h = false;
        EXPECT_EQ(crypto_pkcs8_ed25519_parse(d.data(), d.size(), seed, pub, &h), 0); /* well-formed DER */
        EXPECT_TRUE(h);
        struct crypto_ed25519_key *k = nullptr;
        EXPECT_EQ(crypto_ed25519_key_from_pkcs8(d.data(), d.size(), &k), -EKEYREJECTED);
        EXPECT_EQ(k, nullptr);
}

TEST(Pkcs8, EveryTruncationAndExtensionRejected)
{
        for (auto d : {V1(), V2()}) {
                for (size_t n = 0; n < d.size(); n++)
                        EXPECT_EQ(Parse(std::vector<uint8_t>(d.begin(), d.begin() + n)), -EINVAL) << n;
                auto longer = d;
                longer.push_back(0);
                EXPECT_EQ(Parse(longer), -EINVAL);
        }
        uint8_t seed[32], pub[32];
        bool h;
        EXPECT_EQ(crypto_pkcs8_ed25519_parse(nullptr, 0, seed, pub, &h), -EINVAL);
}

TEST(Pkcs8, EveryStructureByteFlipRejected)
{
        /* Flipping any byte outside the seed and the public key must be
         * caught (a few flips make another valid encoding: listed). */
        for (auto d : {V1(), V2()}) {
                for (size_t i = 0; i < d.size(); i++) {
                        if (i >= 16 && i < 48)
                                continue; /* seed */
                        if (i >= 53)
                                continue; /* public key */
                        for (int bit = 0; bit < 8; bit++) {
                                auto m = d;
                                m[i] ^= (uint8_t)(1u << bit);
                                /* version byte 0 <-> 1 with or without the public key */
                                bool version_flip = i == 4 && bit == 0;
                                int r = Parse(m);
                                if (version_flip && d.size() == 48) {
                                        EXPECT_EQ(r, 0); /* v2 without public key */
                                } else {
                                        EXPECT_EQ(r, -EINVAL) << "byte " << i << " bit " << bit;
                                }
                        }
                }
        }
}

TEST(Pkcs8, NonMinimalAndExoticEncodingsRejected)
{
        /* long-form length where short form fits */
        std::vector<uint8_t> d = {0x30, 0x81, 0x2e};
        auto v1 = V1();
        d.insert(d.end(), v1.begin() + 2, v1.end());
        EXPECT_EQ(Parse(d), -EINVAL);
        /* indefinite length */
        d = V1();
        d[1] = 0x80;
        d.push_back(0);
        d.push_back(0);
        EXPECT_EQ(Parse(d), -EINVAL);
        /* algorithm with NULL parameters */
        d = {0x30, 0x30, 0x02, 0x01, 0x00, 0x30, 0x07, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x05, 0x00, 0x04, 0x22, 0x04, 0x20};
        d.insert(d.end(), kSeed, kSeed + 32);
        EXPECT_EQ(Parse(d), -EINVAL);
        /* attributes [0] */
        d = V1();
        d[1] += 2;
        d.push_back(0xa0);
        d.push_back(0x00);
        EXPECT_EQ(Parse(d), -EINVAL);
        /* v1 carrying a public key */
        d = V2();
        d[4] = 0;
        EXPECT_EQ(Parse(d), -EINVAL);
        /* version 2 */
        d = V2();
        d[4] = 2;
        EXPECT_EQ(Parse(d), -EINVAL);
        /* bit string with unused bits */
        d = V2();
        d[52] = 1;
        EXPECT_EQ(Parse(d), -EINVAL);
        /* X25519 OID (1.3.101.110) */
        d = V1();
        d[11] = 0x6e;
        EXPECT_EQ(Parse(d), -EINVAL);
        /* 33-byte seed */
        d = {0x30, 0x2f, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x23, 0x04, 0x21};
        d.insert(d.end(), kSeed, kSeed + 32);
        d.push_back(0);
        EXPECT_EQ(Parse(d), -EINVAL);
}
