#include "lib/base/error.h"

#include <errno.h>
#include <string.h>

#include <gtest/gtest.h>

#include "lib/base/cleanup.h"

TEST(Error, SetFormatsAndReturnsCode)
{
        struct ak_error err;
        EXPECT_EQ(-EINVAL, ak_error_set(&err, -EINVAL, "bad name %s", "x y"));
        EXPECT_EQ(-EINVAL, err.code);
        EXPECT_STREQ("bad name x y", err.msg);
}

TEST(Error, ErrnoAppendsStrerror)
{
        struct ak_error err;
        ak_error_errno(&err, -ENOENT, "open %s", "/nope");
        EXPECT_STREQ("open /nope: No such file or directory", err.msg);
}

TEST(Error, WrapAddsContextOutermostFirst)
{
        struct ak_error err;
        ak_error_set(&err, -EIO, "read /x");
        ak_error_wrap(&err, "open image %s", "base");
        ak_error_wrap(&err, "boot");
        EXPECT_STREQ("boot: open image base: read /x", err.msg);
        EXPECT_EQ(-EIO, err.code);
}

TEST(Error, NullErrIsAllowed)
{
        EXPECT_EQ(-EPERM, ak_error_set(nullptr, -EPERM, "x"));
        EXPECT_EQ(0, ak_error_wrap(nullptr, "x"));
        ak_error_clear(nullptr);
}

TEST(Error, LongMessagesAreCutNotOverflowed)
{
        struct ak_error err;
        std::string big(5000, 'a');
        ak_error_set(&err, -E2BIG, "%s", big.c_str());
        EXPECT_EQ(AK_ERROR_MAX - 1, strlen(err.msg));
        ak_error_wrap(&err, "%s", big.c_str());
        EXPECT_EQ(AK_ERROR_MAX - 1, strlen(err.msg));
}

TEST(Cleanup, TakeHandsOwnershipOn)
{
        char *kept;
        {
                _cleanup_free_ char *p = strdup("x");
                kept = TAKE_PTR(p);
                EXPECT_EQ(nullptr, p);
        }
        EXPECT_STREQ("x", kept);
        free(kept);
        int fd;
        {
                _cleanup_close_ int f = dup(0);
                fd = TAKE_FD(f);
                EXPECT_EQ(-1, f);
        }
        EXPECT_EQ(0, close(fd));
}
