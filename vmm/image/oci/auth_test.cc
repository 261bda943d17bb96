#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "vmm/image/oci/auth.h"

namespace {

int Parse(const std::string &s, struct oci_challenge *c, struct ak_error *err = nullptr)
{
        return oci_challenge_parse(s.data(), s.size(), c, err);
}

TEST(Challenge, DockerHubBearer)
{
        struct oci_challenge c;
        ASSERT_EQ(Parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
                        "scope=\"repository:library/python:pull\"",
                        &c),
                  0);
        EXPECT_EQ(c.scheme, OCI_AUTH_BEARER);
        EXPECT_STREQ(c.realm, "https://auth.docker.io/token");
        EXPECT_STREQ(c.service, "registry.docker.io");
        EXPECT_STREQ(c.scope, "repository:library/python:pull");
}

TEST(Challenge, VariantsRfc7235Allows)
{
        struct oci_challenge c;
        ASSERT_EQ(Parse("bearer REALM = \"http://127.0.0.1:1/t\" , service=reg,error=\"insufficient_scope\"", &c), 0);
        EXPECT_STREQ(c.realm, "http://127.0.0.1:1/t");
        EXPECT_STREQ(c.service, "reg");
        ASSERT_EQ(Parse("Basic realm=\"Registry Realm\"", &c), 0);
        EXPECT_EQ(c.scheme, OCI_AUTH_BASIC);
        ASSERT_EQ(Parse("Basic realm=\"x\", Bearer realm=\"https://a/t\",scope=\"s\"", &c), 0);
        EXPECT_EQ(c.scheme, OCI_AUTH_BEARER);
        EXPECT_STREQ(c.scope, "s");
        ASSERT_EQ(Parse("Negotiate, Basic", &c), 0);
        EXPECT_EQ(c.scheme, OCI_AUTH_BASIC);
        ASSERT_EQ(Parse("Bearer realm=\"https://a/t\\\"q\"", &c), 0);
        EXPECT_STREQ(c.realm, "https://a/t\"q");
}

TEST(Challenge, RefusesMalformed)
{
        struct oci_challenge c;
        for (const std::string &bad : std::vector<std::string>{
                     "Bearer realm=\"https://a", "Bearer realm=https://a/t", /* '/' is not a token char */
                     "Bearer realm=\"https://a\",realm=\"https://b\"", "Bearer realm=\"ftp://a/t\"", "Bearer service=x",
                     "Bearer realm", "Bearer =x", "Bearer realm=\"a\x01\"", "\"x\"", "Bearer realm=\"https://a\" junk",
             }) {
                struct ak_error err = {};
                EXPECT_EQ(Parse(bad, &c, &err), -EINVAL) << bad;
                EXPECT_NE(err.msg[0], '\0');
        }
        EXPECT_EQ(Parse("Negotiate abc=def", &c), -ENOTSUP);
        EXPECT_EQ(Parse("", &c), -ENOTSUP);
        EXPECT_EQ(Parse("Bearer realm=\"https://" + std::string(1100, 'a') + "\"", &c), -E2BIG);
        EXPECT_EQ(Parse(std::string(5000, ' '), &c), -E2BIG);
}

TEST(Token, TokenOrAccessToken)
{
        char tok[OCI_TOKEN_MAX + 1];
        std::string a = "{\"token\":\"abc\",\"expires_in\":300}";
        ASSERT_EQ(oci_token_parse(a.data(), a.size(), tok, NULL), 0);
        EXPECT_STREQ(tok, "abc");
        std::string b = "{\"access_token\":\"xyz\"}";
        ASSERT_EQ(oci_token_parse(b.data(), b.size(), tok, NULL), 0);
        EXPECT_STREQ(tok, "xyz");
        for (const std::string &bad : std::vector<std::string>{ "{}", "[]", "{\"token\":\"a b\"}", "{\"token\":\"a\\r\\nX: y\"}", "{\"token\":1}",
                                       "nope" }) {
                struct ak_error err = {};
                EXPECT_LT(oci_token_parse(bad.data(), bad.size(), tok, &err), 0) << bad;
        }
}

TEST(AuthFile, DockerConfigJson)
{
        /* "user:pa:ss" and "u2:p2" */
        std::string f = "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"dXNlcjpwYTpzcw==\"},"
                        "\"localhost:5000\":{\"auth\":\"dTI6cDI=\"},\"ghcr.io\":{\"identitytoken\":\"rt\"},"
                        "\"plain.io\":{\"username\":\"u3\",\"password\":\"p3\"},\"bad.io\":{\"auth\":\"!!\"}}}";
        struct oci_cred c;
        ASSERT_EQ(oci_authfile_lookup(f.data(), f.size(), "docker.io", &c, NULL), 0);
        EXPECT_STREQ(c.username, "user");
        EXPECT_STREQ(c.password, "pa:ss");
        ASSERT_EQ(oci_authfile_lookup(f.data(), f.size(), "localhost:5000", &c, NULL), 0);
        EXPECT_STREQ(c.username, "u2");
        ASSERT_EQ(oci_authfile_lookup(f.data(), f.size(), "ghcr.io", &c, NULL), 0);
        EXPECT_STREQ(c.identity_token, "rt");
        ASSERT_EQ(oci_authfile_lookup(f.data(), f.size(), "plain.io", &c, NULL), 0);
        EXPECT_STREQ(c.password, "p3");
        EXPECT_EQ(oci_authfile_lookup(f.data(), f.size(), "localhost:5001", &c, NULL), -ENOENT);
        struct ak_error err = {};
        EXPECT_EQ(oci_authfile_lookup(f.data(), f.size(), "bad.io", &c, &err), -EINVAL);
        EXPECT_NE(std::string(err.msg).find("bad.io"), std::string::npos) << err.msg;
        std::string notjson = "{\"auths\":[]}";
        EXPECT_EQ(oci_authfile_lookup(notjson.data(), notjson.size(), "x", &c, NULL), -EINVAL);
        std::string noauths = "{\"credsStore\":\"desktop\"}";
        EXPECT_EQ(oci_authfile_lookup(noauths.data(), noauths.size(), "x", &c, NULL), -ENOENT);
}

TEST(AuthFile, ErrorsNeverHoldTheSecret)
{
        /* base64("nocolonsecret") */
        std::string f = "{\"auths\":{\"r.io\":{\"auth\":\"bm9jb2xvbnNlY3JldA==\"}}}";
        struct oci_cred c;
        struct ak_error err = {};
        ASSERT_EQ(oci_authfile_lookup(f.data(), f.size(), "r.io", &c, &err), -EINVAL);
        EXPECT_EQ(std::string(err.msg).find("secret"), std::string::npos) << err.msg;
        EXPECT_EQ(std::string(err.msg).find("bm9j"), std::string::npos) << err.msg;
}

}  // namespace
