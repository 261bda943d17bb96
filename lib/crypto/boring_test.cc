#include <errno.h>
#include <gtest/gtest.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>

#include <string>

#include "lib/crypto/boring.h"
#include "lib/crypto/crypto.h"

TEST(Boring, LoadsFromDebianPath)
{
        ASSERT_EQ(crypto_init(), 0) << crypto_init_error_message(crypto_init());
        EXPECT_EQ(crypto_init(), 0); /* idempotent */
}

TEST(Boring, MissingLibraryIsEnoent)
{
        struct boring b;
        EXPECT_EQ(boring_open("/nonexistent/libcrypto.so.0", &b), -ENOENT);
        std::string m = crypto_init_error_message(-ENOENT);
        EXPECT_EQ(m, "BoringSSL not found at /usr/lib/x86_64-linux-gnu/android/libcrypto.so.0: "
                     "install android-libboringssl (tools/deps.sh)");
}

TEST(Boring, NotALibraryIsElibbad)
{
        struct boring b;
        EXPECT_EQ(boring_open("/etc/hostname", &b), -ELIBBAD);
        EXPECT_NE(std::string(crypto_init_error_message(-ELIBBAD)).find("android-libboringssl"), std::string::npos);
}

TEST(Boring, LibraryWithoutSymbolsIsElibbad)
{
        const char *libz = "/usr/lib/x86_64-linux-gnu/libz.so.1";
        struct boring b;
        if (access(libz, R_OK) != 0)
                GTEST_SKIP() << "needs " << libz;
        EXPECT_EQ(boring_open(libz, &b), -ELIBBAD);
}

TEST(Boring, SecondIndependentCopy)
{
        struct boring b;
        ASSERT_EQ(boring_open(CRYPTO_BORINGSSL_PATH, &b), 0);
        uint8_t d[32];
        b.SHA256((const uint8_t *)"abc", 3, d);
        EXPECT_EQ(d[0], 0xba);
        boring_close(&b);
}
