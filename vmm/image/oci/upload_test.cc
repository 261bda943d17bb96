#include <errno.h>
#include <gtest/gtest.h>

#include <string>

#include "vmm/image/oci/upload.h"

namespace {

const char kBase[] = "https://reg.test:5000";
const char kDigest[] = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kParam = "digest=sha256%3A0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

int Url(const std::string &loc, std::string *out, size_t size = 4096)
{
        char buf[4096];
        struct ak_error err;
        int r = oci_upload_url(kBase, loc.data(), loc.size(), kDigest, buf, size, &err);
        if (r == 0)
                *out = buf;
        else
                *out = err.msg;
        return r;
}

TEST(UploadUrl, PathGetsTheRegistryOrigin)
{
        std::string u;
        ASSERT_EQ(Url("/v2/a/b/blobs/uploads/42", &u), 0) << u;
        EXPECT_EQ(u, std::string(kBase) + "/v2/a/b/blobs/uploads/42?" + kParam);
}

TEST(UploadUrl, ExistingQueryKept)
{
        std::string u;
        ASSERT_EQ(Url("/v2/a/blobs/uploads/42?_state=xyz%3D", &u), 0) << u;
        EXPECT_EQ(u, std::string(kBase) + "/v2/a/blobs/uploads/42?_state=xyz%3D&" + kParam);
        ASSERT_EQ(Url("/up?", &u), 0) << u;
        EXPECT_EQ(u, std::string(kBase) + "/up?" + kParam);
}

TEST(UploadUrl, AbsoluteUrlKeptAsIs)
{
        std::string u;
        ASSERT_EQ(Url("http://storage.test/u/1?sig=a", &u), 0) << u;
        EXPECT_EQ(u, "http://storage.test/u/1?sig=a&" + kParam);
}

TEST(UploadUrl, Refused)
{
        std::string u;
        EXPECT_EQ(Url("", &u), -EINVAL);
        EXPECT_EQ(Url("v2/relative", &u), -EINVAL);
        EXPECT_NE(u.find("absolute path"), std::string::npos) << u;
        EXPECT_EQ(Url("//other.host/x", &u), -EINVAL);
        EXPECT_EQ(Url("ftp://h/x", &u), -EINVAL);
        EXPECT_EQ(Url("https:///x", &u), -EINVAL);
        EXPECT_EQ(Url("/a b", &u), -EINVAL);
        EXPECT_EQ(Url(std::string("/a\0b", 4), &u), -EINVAL);
        EXPECT_EQ(Url("/a#frag", &u), -EINVAL);
        EXPECT_EQ(Url("/v2/" + std::string(100, 'a'), &u, 120), -E2BIG);
}

TEST(UploadUrl, BadDigestRefused)
{
        char buf[256];
        struct ak_error err;
        EXPECT_EQ(oci_upload_url(kBase, "/x", 2, "sha256:zz", buf, sizeof(buf), &err), -EINVAL);
}

}  // namespace
