#include <errno.h>
#include <pthread.h>
#include <gtest/gtest.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "lib/crypto/crypto.h"

namespace {

std::vector<uint8_t> FromHex(const std::string &h)
{
        std::vector<uint8_t> v;
        for (size_t i = 0; i + 1 < h.size(); i += 2)
                v.push_back((uint8_t)std::stoi(h.substr(i, 2), nullptr, 16));
        return v;
}

std::string ToHex(const uint8_t *p, size_t n)
{
        std::string s;
        char b[3];
        for (size_t i = 0; i < n; i++) {
                snprintf(b, sizeof(b), "%02x", p[i]);
                s += b;
        }
        return s;
}

struct Vector {
        const char *seed, *pub, *msg, *sig;
};

/* RFC 8032 section 7.1, tests 1-3. */
const Vector kRfc8032[] = {
        {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
         "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
         "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
        {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
         "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
         "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
        {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
         "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
         "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
};

} // namespace

TEST(Ed25519, Rfc8032Vectors)
{
        for (const Vector &v : kRfc8032) {
                auto seed = FromHex(v.seed), msg = FromHex(v.msg), want = FromHex(v.sig);
                struct crypto_ed25519_key *k = nullptr;
                ASSERT_EQ(crypto_ed25519_key_from_seed(seed.data(), &k), 0);
                EXPECT_EQ(ToHex(crypto_ed25519_key_public(k), 32), v.pub);
                uint8_t sig[64];
                ASSERT_EQ(crypto_ed25519_sign(k, msg.data(), msg.size(), sig), 0);
                EXPECT_EQ(ToHex(sig, 64), v.sig);
                EXPECT_EQ(crypto_ed25519_verify(crypto_ed25519_key_public(k), msg.data(), msg.size(), want.data()), 0);
                crypto_ed25519_key_free(k);
        }
}

TEST(Ed25519, VerifyRejectsAnyBitFlip)
{
        struct crypto_ed25519_key *k = nullptr;
        ASSERT_EQ(crypto_ed25519_key_generate(&k), 0);
        const char msg[] = "receipt payload";
        uint8_t sig[64], pub[32];
        ASSERT_EQ(crypto_ed25519_sign(k, msg, sizeof(msg), sig), 0);
        memcpy(pub, crypto_ed25519_key_public(k), 32);
        ASSERT_EQ(crypto_ed25519_verify(pub, msg, sizeof(msg), sig), 0);
        for (size_t i = 0; i < 64 * 8; i++) {
                sig[i / 8] ^= (uint8_t)(1u << (i % 8));
                EXPECT_EQ(crypto_ed25519_verify(pub, msg, sizeof(msg), sig), -EBADMSG) << i;
                sig[i / 8] ^= (uint8_t)(1u << (i % 8));
        }
        for (size_t i = 0; i < 32 * 8; i++) {
                pub[i / 8] ^= (uint8_t)(1u << (i % 8));
                EXPECT_EQ(crypto_ed25519_verify(pub, msg, sizeof(msg), sig), -EBADMSG) << i;
                pub[i / 8] ^= (uint8_t)(1u << (i % 8));
        }
        EXPECT_EQ(crypto_ed25519_verify(pub, msg, sizeof(msg) - 1, sig), -EBADMSG);
        crypto_ed25519_key_free(k);
        crypto_ed25519_key_free(nullptr);
}

TEST(Ed25519, GeneratedKeysDiffer)
{
        struct crypto_ed25519_key *a = nullptr, *b = nullptr;
        ASSERT_EQ(crypto_ed25519_key_generate(&a), 0);
        ASSERT_EQ(crypto_ed25519_key_generate(&b), 0);
        EXPECT_NE(memcmp(crypto_ed25519_key_public(a), crypto_ed25519_key_public(b), 32), 0);
        crypto_ed25519_key_free(a);
        crypto_ed25519_key_free(b);
}

TEST(Ed25519, ConcurrentSignVerify)
{
        struct crypto_ed25519_key *k = nullptr;
        ASSERT_EQ(crypto_ed25519_key_generate(&k), 0);
        std::vector<std::thread> threads;
        std::atomic<int> failures{0};
        for (int t = 0; t < 8; t++) {
                threads.emplace_back([&, t] {
                        for (int i = 0; i < 200; i++) {
                                std::string m = "t" + std::to_string(t) + "/" + std::to_string(i);
                                uint8_t sig[64], d[32];
                                if (crypto_ed25519_sign(k, m.data(), m.size(), sig) != 0 ||
                                    crypto_ed25519_verify(crypto_ed25519_key_public(k), m.data(), m.size(), sig) != 0 ||
                                    crypto_sha256(m.data(), m.size(), d) != 0 || crypto_random_bytes(d, 32) != 0)
                                        failures++;
                        }
                });
        }
        for (auto &th : threads)
                th.join();
        EXPECT_EQ(failures.load(), 0);
        crypto_ed25519_key_free(k);
}

/* The main libc's pthread keys survive threads that used lib/crypto: no
 * thread-local state may be created inside the dlmopen namespace (random.c). */
namespace {
pthread_key_t g_key;
std::atomic<int> g_destructed{0};
int g_marker;
void KeyDestructor(void *p)
{
        if (p == &g_marker)
                g_destructed++;
}
} // namespace

TEST(Ed25519, ThreadExitKeepsMainLibcKeysIntact)
{
        ASSERT_EQ(pthread_key_create(&g_key, KeyDestructor), 0);
        std::thread th([] {
                pthread_setspecific(g_key, &g_marker);
                struct crypto_ed25519_key *k = nullptr;
                uint8_t sig[64], d[32];
                if (crypto_ed25519_key_generate(&k) == 0) {
                        crypto_ed25519_sign(k, "x", 1, sig);
                        crypto_ed25519_verify(crypto_ed25519_key_public(k), "x", 1, sig);
                        crypto_ed25519_key_free(k);
                }
                crypto_sha256("x", 1, d);
                struct crypto_sha256 *h = nullptr;
                if (crypto_sha256_new(&h) == 0) {
                        crypto_sha256_update(h, "x", 1);
                        crypto_sha256_final(h, d);
                        crypto_sha256_free(h);
                }
                crypto_random_bytes(d, sizeof(d));
                EXPECT_EQ(pthread_getspecific(g_key), &g_marker);
        });
        th.join();
        EXPECT_EQ(g_destructed.load(), 1);
        pthread_key_delete(g_key);
}

/* An independent implementation (python3-cryptography, OpenSSL underneath)
 * verifies our signature and signs one that we verify. */
TEST(Ed25519, CrossCheckWithPythonCryptography)
{
        const char *py = "/usr/bin/python3";
        if (access(py, X_OK) != 0 ||
            system("/usr/bin/python3 -c 'import cryptography.hazmat.primitives.asymmetric.ed25519' 2>/dev/null") != 0)
                GTEST_SKIP() << "cross-check needs python3-cryptography (apt install python3-cryptography)";

        struct crypto_ed25519_key *k = nullptr;
        ASSERT_EQ(crypto_ed25519_key_generate(&k), 0);
        uint8_t der[CRYPTO_PKCS8_ED25519_V2_LEN], sig[64];
        crypto_ed25519_key_to_pkcs8(k, der);
        const std::string msg = "{\"version\":1,\"x\":\"\xc3\xa9\"}";
        ASSERT_EQ(crypto_ed25519_sign(k, msg.data(), msg.size(), sig), 0);

        /* python: load our v2 PKCS#8 seed, check public key, verify our
         * signature, print its own signature of msg and its v1 PKCS#8 */
        std::string cmd = std::string(py) + " -c '"
                "import sys\n"
                "from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey\n"
                "from cryptography.hazmat.primitives import serialization as s\n"
                "seed, pub, sig, msg = (bytes.fromhex(a) for a in sys.argv[1:5])\n"
                "k = Ed25519PrivateKey.from_private_bytes(seed)\n"
                "assert k.public_key().public_bytes(s.Encoding.Raw, s.PublicFormat.Raw) == pub\n"
                "Ed25519PublicKey.from_public_bytes(pub).verify(sig, msg)\n"
                "print(k.sign(msg + b\"!\").hex())\n"
                "print(k.private_bytes(s.Encoding.DER, s.PrivateFormat.PKCS8, s.NoEncryption()).hex())\n"
                "' " + ToHex(der + 16, 32) + " " + ToHex(crypto_ed25519_key_public(k), 32) + " " + ToHex(sig, 64) +
                " " + ToHex((const uint8_t *)msg.data(), msg.size());
        FILE *p = popen(cmd.c_str(), "r");
        ASSERT_NE(p, nullptr);
        char line1[256] = {0}, line2[256] = {0};
        ASSERT_NE(fgets(line1, sizeof(line1), p), nullptr);
        ASSERT_NE(fgets(line2, sizeof(line2), p), nullptr);
        ASSERT_EQ(pclose(p), 0) << "python rejected our signature";

        auto pysig = FromHex(std::string(line1, 128));
        std::string msg2 = msg + "!";
        EXPECT_EQ(crypto_ed25519_verify(crypto_ed25519_key_public(k), msg2.data(), msg2.size(), pysig.data()), 0);
        EXPECT_EQ(crypto_ed25519_verify(crypto_ed25519_key_public(k), msg.data(), msg.size(), pysig.data()), -EBADMSG);

        /* python's PKCS#8 is v1 (48 bytes): we read it to the same key */
        auto v1 = FromHex(std::string(line2, strcspn(line2, "\n")));
        ASSERT_EQ(v1.size(), (size_t)CRYPTO_PKCS8_ED25519_V1_LEN);
        struct crypto_ed25519_key *k2 = nullptr;
        ASSERT_EQ(crypto_ed25519_key_from_pkcs8(v1.data(), v1.size(), &k2), 0);
        EXPECT_EQ(memcmp(crypto_ed25519_key_public(k), crypto_ed25519_key_public(k2), 32), 0);
        crypto_ed25519_key_free(k2);
        crypto_ed25519_key_free(k);
}
