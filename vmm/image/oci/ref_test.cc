#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "vmm/image/oci/ref.h"

namespace {

std::string Norm(const std::string &s)
{
        struct oci_ref r;
        struct ak_error err = {};
        if (oci_ref_parse(s.data(), s.size(), &r, &err) < 0)
                return "ERR: " + std::string(err.msg);
        char out[OCI_REF_FORMAT_MAX];
        oci_ref_format(&r, out);
        return out;
}

const std::string kHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

TEST(Ref, NormalizesAsDocker)
{
        EXPECT_EQ(Norm("python:3.12-alpine"), "docker.io/library/python:3.12-alpine");
        EXPECT_EQ(Norm("ubuntu"), "docker.io/library/ubuntu:latest");
        EXPECT_EQ(Norm("library/ubuntu"), "docker.io/library/ubuntu:latest");
        EXPECT_EQ(Norm("docker.io/ubuntu"), "docker.io/library/ubuntu:latest");
        EXPECT_EQ(Norm("index.docker.io/ubuntu"), "docker.io/library/ubuntu:latest");
        EXPECT_EQ(Norm("user/repo:v1"), "docker.io/user/repo:v1");
        EXPECT_EQ(Norm("ghcr.io/org/ci:sha"), "ghcr.io/org/ci:sha");
        EXPECT_EQ(Norm("localhost:5000/x@sha256:" + kHex), "localhost:5000/x@sha256:" + kHex);
        EXPECT_EQ(Norm("localhost/x"), "localhost/x:latest");
        EXPECT_EQ(Norm("registry:5000/a/b:tag"), "registry:5000/a/b:tag");
        EXPECT_EQ(Norm("Registry/a"), "Registry/a:latest"); /* upper case: a registry host */
        EXPECT_EQ(Norm("[::1]:5000/a:t"), "[::1]:5000/a:t");
        EXPECT_EQ(Norm("a.b-c/d__e.f-g---h/i_j:T_1.x-y"), "a.b-c/d__e.f-g---h/i_j:T_1.x-y");
        EXPECT_EQ(Norm("x:t@sha256:" + kHex), "docker.io/library/x:t@sha256:" + kHex);
}

TEST(Ref, ApiHostAndReference)
{
        struct oci_ref r;
        ASSERT_EQ(oci_ref_parse("alpine", 6, &r, NULL), 0);
        EXPECT_STREQ(oci_ref_api_host(&r), "registry-1.docker.io");
        EXPECT_STREQ(oci_ref_reference(&r), "latest");
        std::string s = "localhost:5000/x:t@sha256:" + kHex;
        ASSERT_EQ(oci_ref_parse(s.data(), s.size(), &r, NULL), 0);
        EXPECT_STREQ(oci_ref_api_host(&r), "localhost:5000");
        EXPECT_EQ(std::string(oci_ref_reference(&r)), "sha256:" + kHex);
}

TEST(Ref, RefusesWhatDockerRefuses)
{
        for (const std::string &bad : std::vector<std::string>{
                     "", "Python", "UPPER/Name", "docker.io/Library/x", "a//b", "/a", "a/", "a:", "a@", "a:-t",
                     "a:.t", "a b", "a\n", "a..b", "a._b", "-a", "a-", "a/_b", "x@sha256:abc",
                     "x@sha256:" + kHex + "0", "x@sha512:" + kHex, "x@SHA256:" + kHex, kHex,
                     "host:port/x", "host:/x", "[::1/x", "[]:5/x", "-host.io/x", "host-.io/x", "a:" + std::string(129, 't'),
                     "a.io/" + std::string(260, 'b'), "x@sha256:" + std::string(64, 'G'), "a:t:u", "a@sha256:" + kHex + "@x",
             }) {
                struct oci_ref r;
                struct ak_error err = {};
                EXPECT_EQ(oci_ref_parse(bad.data(), bad.size(), &r, &err), -EINVAL) << bad;
                EXPECT_NE(err.msg[0], '\0') << bad;
        }
        struct ak_error err = {};
        struct oci_ref r;
        ASSERT_EQ(oci_ref_parse("Python:3", 8, &r, &err), -EINVAL);
        EXPECT_NE(std::string(err.msg).find("must be lowercase"), std::string::npos) << err.msg;
}

TEST(Ref, NameLengthLimit)
{
        std::string ok = "r.io/" + std::string(250, 'a'); /* 255 */
        std::string over = "r.io/" + std::string(251, 'a');
        EXPECT_EQ(Norm(ok), ok + ":latest");
        EXPECT_NE(Norm(over).find("ERR"), std::string::npos);
}

TEST(Ref, Loopback)
{
        EXPECT_TRUE(oci_host_is_loopback("localhost"));
        EXPECT_TRUE(oci_host_is_loopback("localhost:5000"));
        EXPECT_TRUE(oci_host_is_loopback("127.0.0.1:5000"));
        EXPECT_TRUE(oci_host_is_loopback("127.9.9.9"));
        EXPECT_TRUE(oci_host_is_loopback("[::1]:5000"));
        EXPECT_FALSE(oci_host_is_loopback("128.0.0.1"));
        EXPECT_FALSE(oci_host_is_loopback("localhost.evil.com:5000"));
        EXPECT_FALSE(oci_host_is_loopback("10.0.0.1:5000"));
        EXPECT_FALSE(oci_host_is_loopback("[::2]:5000"));
        EXPECT_FALSE(oci_host_is_loopback("127.0.0.1.nip.io"));
}

}  // namespace
