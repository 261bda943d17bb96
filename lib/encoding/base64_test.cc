#include <errno.h>
#include <gtest/gtest.h>
#include <string.h>

#include <string>

#include "lib/encoding/base64.h"

namespace {

std::string Encode(const std::string &in)
{
        char *s = nullptr;
        EXPECT_EQ(base64_encode_alloc(in.data(), in.size(), &s), 0);
        std::string out(s);
        free(s);
        return out;
}

int Decode(const std::string &in, std::string *out)
{
        std::string buf(base64_decoded_max(in.size()), '\0');
        size_t n = 0;
        int r = base64_decode(in.data(), in.size(), (uint8_t *)&buf[0], buf.size(), &n);
        if (r == 0)
                *out = buf.substr(0, n);
        return r;
}

TEST(Base64, Rfc4648Vectors)
{
        const char *v[][2] = {
                {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
                {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
        };
        for (auto &p : v) {
                EXPECT_EQ(Encode(p[0]), p[1]);
                std::string d;
                ASSERT_EQ(Decode(p[1], &d), 0) << p[1];
                EXPECT_EQ(d, p[0]);
        }
}

TEST(Base64, AllBytesRoundTrip)
{
        std::string all;
        for (int i = 0; i < 256; i++)
                all.push_back((char)i);
        for (size_t n = 0; n <= all.size(); n++) {
                std::string d;
                ASSERT_EQ(Decode(Encode(all.substr(0, n)), &d), 0);
                EXPECT_EQ(d, all.substr(0, n));
        }
        EXPECT_EQ(Encode("\xfb\xef\xff"), "++//");
}

TEST(Base64, StrictRejects)
{
        std::string d;
        const char *bad[] = {
                "Zg",       /* missing padding */
                "Zg=",      /* short */
                "Zh==",     /* non-zero trailing bits */
                "Zm9=",     /* non-zero trailing bits */
                "Z===",     /* too much padding */
                "====",     /* only padding */
                "Zg==Zg==", /* padding in the middle */
                "Zm9v\n",   /* whitespace */
                " Zm9v",    /* whitespace */
                "Zm-v",     /* URL-safe alphabet */
                "Zm_v",
                "Zm9vY===",
                "Z=9v",
                "Zg=a",
                "a",        /* from the guest agent's tests */
                "ab=",
                "ab\ncd==",
                "Y!==",
                "=AAA",
        };
        for (const char *b : bad) {
                EXPECT_EQ(Decode(b, &d), -EINVAL) << b;
                EXPECT_NE(base64_decode_error(b, strlen(b)), nullptr) << b;
        }
}

TEST(Base64, ErrorNamesTheFirstFault)
{
        const char *cases[][2] = {
                {"Zg", "invalid length"},
                {"ab\ncd==", "invalid length"},
                {"Zg==Zg==", "invalid padding"},
                {"Z===", "invalid padding"},
                {"====", "invalid padding"},
                {"=AAA", "invalid padding"},
                {"Zg=a", "invalid padding"},
                {"Zm-v", "invalid byte"},
                {" Zm9", "invalid byte"},
                {"Y!==", "invalid byte"},
                {"Zh==", "invalid last symbol"},
                {"Zm9=", "invalid last symbol"},
                {"!h==", "invalid byte"}, /* the byte comes before the last symbol */
        };
        for (auto &c : cases)
                EXPECT_STREQ(base64_decode_error(c[0], strlen(c[0])), c[1]) << c[0];
        for (const char *ok : {"", "Zg==", "Zm8=", "Zm9v", "++//"})
                EXPECT_EQ(base64_decode_error(ok, strlen(ok)), nullptr) << ok;
}

TEST(Base64, DecodeAlloc)
{
        uint8_t *p = nullptr;
        size_t n = 99;
        ASSERT_EQ(base64_decode_alloc("Zm9vYg==", 8, &p, &n), 0);
        EXPECT_EQ(std::string((char *)p, n), "foob");
        free(p);
        ASSERT_EQ(base64_decode_alloc("", 0, &p, &n), 0);
        EXPECT_EQ(n, 0u);
        free(p);
        p = nullptr;
        n = 99;
        EXPECT_EQ(base64_decode_alloc("Zh==", 4, &p, &n), -EINVAL);
        EXPECT_EQ(base64_decode_alloc("Zm9", 3, &p, &n), -EINVAL);
        EXPECT_EQ(p, nullptr);
        EXPECT_EQ(n, 99u);
}

TEST(Base64, BufferLimits)
{
        char small[4];
        EXPECT_EQ(base64_encode("foo", 3, small, sizeof(small)), -ENOBUFS);
        char exact[5];
        EXPECT_EQ(base64_encode("foo", 3, exact, sizeof(exact)), 0);
        EXPECT_STREQ(exact, "Zm9v");
        uint8_t out[2];
        size_t n = 99;
        EXPECT_EQ(base64_decode("Zm9v", 4, out, sizeof(out), &n), -ENOBUFS);
        EXPECT_EQ(n, 99u);
        EXPECT_EQ(base64_encoded_len(32), 44u);
        EXPECT_EQ(base64_encoded_len(64), 88u);
}

} // namespace
