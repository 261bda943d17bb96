#include <gtest/gtest.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>

#include <string>

#include "lib/crypto/crypto.h"

namespace {

std::string Hex(const std::string &s)
{
        char h[CRYPTO_SHA256_HEX_LEN + 1];
        EXPECT_EQ(crypto_sha256_hex(s.data(), s.size(), h), 0);
        return h;
}

} // namespace

TEST(Sha256, Vectors)
{
        EXPECT_EQ(Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        EXPECT_EQ(Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        EXPECT_EQ(Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
        EXPECT_EQ(Hex("ok\n"), "dc51b8c96c2d745df3bd5590d990230a482fd247123599548e0632fdbf97fc22");
        uint8_t d[32];
        EXPECT_EQ(crypto_sha256(nullptr, 0, d), 0);
        EXPECT_EQ(d[0], 0xe3);
}

TEST(Sha256, StreamingMatchesOneShot)
{
        std::string big(1 << 20, '\0');
        for (size_t i = 0; i < big.size(); i++)
                big[i] = (char)(i * 131 + 7);
        uint8_t one[32], streamed[32], again[32];
        ASSERT_EQ(crypto_sha256(big.data(), big.size(), one), 0);

        struct crypto_sha256 *h = nullptr;
        ASSERT_EQ(crypto_sha256_new(&h), 0);
        for (size_t off = 0, step = 1; off < big.size(); off += step, step = step * 3 % 65521 + 1)
                crypto_sha256_update(h, big.data() + off, std::min(step, big.size() - off));
        crypto_sha256_final(h, streamed);
        EXPECT_EQ(memcmp(one, streamed, 32), 0);

        /* final starts over */
        crypto_sha256_update(h, big.data(), big.size());
        crypto_sha256_final(h, again);
        EXPECT_EQ(memcmp(one, again, 32), 0);
        crypto_sha256_free(h);
        crypto_sha256_free(nullptr);
}

TEST(Random, FillsAndDiffers)
{
        uint8_t a[32] = {0}, b[32] = {0};
        ASSERT_EQ(crypto_random_bytes(a, sizeof(a)), 0);
        ASSERT_EQ(crypto_random_bytes(b, sizeof(b)), 0);
        EXPECT_NE(memcmp(a, b, sizeof(a)), 0);
        EXPECT_EQ(crypto_random_bytes(nullptr, 0), 0);
}
