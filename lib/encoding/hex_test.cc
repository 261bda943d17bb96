#include <errno.h>
#include <gtest/gtest.h>

#include "lib/encoding/hex.h"

TEST(Hex, EncodeLowercase)
{
        char out[9];
        const uint8_t in[] = {0x00, 0xab, 0xCD, 0xff};
        ASSERT_EQ(hex_encode(in, sizeof(in), out, sizeof(out)), 0);
        EXPECT_STREQ(out, "00abcdff");
        EXPECT_EQ(hex_encode(in, sizeof(in), out, 8), -ENOBUFS);
        char empty[1];
        ASSERT_EQ(hex_encode(in, 0, empty, 1), 0);
        EXPECT_STREQ(empty, "");
}

TEST(Hex, Decode)
{
        uint8_t out[4];
        size_t n = 0;
        ASSERT_EQ(hex_decode("00aBCdfF", 8, out, sizeof(out), &n), 0);
        EXPECT_EQ(n, 4u);
        EXPECT_EQ(out[1], 0xab);
        EXPECT_EQ(out[3], 0xff);
        EXPECT_EQ(hex_decode("abc", 3, out, sizeof(out), &n), -EINVAL);
        EXPECT_EQ(hex_decode("zz", 2, out, sizeof(out), &n), -EINVAL);
        EXPECT_EQ(hex_decode("0011223344", 10, out, sizeof(out), &n), -ENOBUFS);
}
