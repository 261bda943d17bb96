// Bindings parsed, resolved from a real vault into placeholders, a CA and a relay.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "lib/base/fs.h"
#include "vmm/net/secret_set.h"

namespace {

const char kCanary[] = "sk-canary-set-88a1";

TEST(SecretBinding, ParsesNameHostAndHeader)
{
        struct secret_binding b;
        struct ak_error err = {};
        ASSERT_EQ(0, secret_binding_parse("OPENAI_API_KEY:API.OpenAI.com", &b, &err)) << err.msg;
        EXPECT_STREQ("OPENAI_API_KEY", b.name);
        EXPECT_STREQ("api.openai.com", b.host);
        EXPECT_STREQ("Authorization", b.header);
        ASSERT_EQ(0, secret_binding_parse("K:api.example.com:x-api-key", &b, &err)) << err.msg;
        EXPECT_STREQ("x-api-key", b.header);
        struct {
                const char *in, *want;
        } bad[] = {
                { "NOHOST", "want NAME:HOST[:HEADER]" },
                { ":api.example.com", "want NAME:HOST" },
                { "K:", "want NAME:HOST" },
                { "1K:api.example.com", "not an environment variable name" },
                { "K:api.example.com:443", "not a header" },
                { "K:api.example.com:Host", "not a header" },
                { "K:api.example.com:a b", "not a header" },
                { "K:*.example.com", "not a host name" },
                { "K:[::1]", "not a host name" },
                { "K:a b", "not a host name" },
        };
        for (const auto &c : bad) {
                EXPECT_EQ(-EINVAL, secret_binding_parse(c.in, &b, &err)) << c.in;
                EXPECT_NE(nullptr, strstr(err.msg, c.want)) << c.in << ": " << err.msg;
        }
        std::string longname(VAULT_NAME_MAX + 1, 'A');
        EXPECT_EQ(-EINVAL, secret_binding_parse((longname + ":a.com").c_str(), &b, &err));
}

TEST(SecretFile, ParsesNameAndPath)
{
        struct secret_file f;
        struct ak_error err = {};
        ASSERT_EQ(0, secret_file_parse("GITHUB_TOKEN", &f, &err)) << err.msg;
        EXPECT_STREQ("GITHUB_TOKEN", f.name);
        EXPECT_STREQ("/run/agentkernel/secrets/GITHUB_TOKEN", f.path);
        ASSERT_EQ(0, secret_file_parse("K:/home/sandbox/.config/gh/token.txt", &f, &err)) << err.msg;
        EXPECT_STREQ("K", f.name);
        EXPECT_STREQ("/home/sandbox/.config/gh/token.txt", f.path);
        struct {
                const char *in, *want;
        } bad[] = {
                { "", "want NAME[:PATH]" },
                { ":/x", "want NAME[:PATH]" },
                { "1K", "not an environment variable name" },
                { "K:", "not a guest path" },
                { "K:relative/x", "not a guest path" },
                { "K:/", "not a guest path" },
                { "K:/a/../etc/passwd", "not a guest path" },
                { "K:/a/./b", "not a guest path" },
                { "K:/a/..", "not a guest path" },
                { "K:/a/", "not a guest path" },
                { "K:/a//b", "not a guest path" },
                { "K:/a b", "not a guest path" },
                { "K:/a'b", "not a guest path" },
                { "K:/a\nb", "not a guest path" },
        };
        for (const auto &c : bad) {
                EXPECT_EQ(-EINVAL, secret_file_parse(c.in, &f, &err)) << c.in;
                EXPECT_NE(nullptr, strstr(err.msg, c.want)) << c.in << ": " << err.msg;
        }
        std::string longpath = "K:/" + std::string(SECRET_FILE_PATH_MAX, 'a');
        EXPECT_EQ(-EINVAL, secret_file_parse(longpath.c_str(), &f, &err));
        ASSERT_EQ(0, secret_file_parse("K:/a/..b/.c", &f, &err)) << err.msg; /* names, not parts */
}

class SecretSet : public ::testing::Test {
      protected:
        void SetUp() override
        {
                char tmpl[] = "/tmp/ak_secret_set.XXXXXX";
                ASSERT_NE(nullptr, mkdtemp(tmpl));
                dir_ = tmpl;
                struct ak_error err = {};
                ASSERT_EQ(0, vault_open_sealed((dir_ + "/v").c_str(), &v_, &err)) << err.msg;
                ASSERT_EQ(0, vault_set(v_, "A", kCanary, strlen(kCanary), &err)) << err.msg;
                ASSERT_EQ(0, vault_set(v_, "B", "two", 3, &err)) << err.msg;
                ASSERT_EQ(0, vault_set(v_, "NL", "line\nX-Evil: 1", 14, &err)) << err.msg;
        }
        void TearDown() override
        {
                vault_free(v_);
                ak_rm_rf(dir_.c_str());
        }
        struct secret_binding B(const char *s)
        {
                struct secret_binding b = {};
                struct ak_error err = {};
                EXPECT_EQ(0, secret_binding_parse(s, &b, &err)) << err.msg;
                return b;
        }
        std::string dir_;
        struct vault *v_ = nullptr;
};

TEST_F(SecretSet, PlaceholdersCaAndRelay)
{
        struct secret_binding b[] = { B("A:api.example.com"), B("B:other.example.org:X-Key") };
        struct secret_set *set = nullptr;
        struct ak_error err = {};
        ASSERT_EQ(0, secret_set_new(v_, b, 2, &set, &err)) << err.msg;
        ASSERT_EQ(2u, secret_set_count(set));
        EXPECT_STREQ("A", secret_set_name(set, 0));
        EXPECT_STREQ("B", secret_set_name(set, 1));
        EXPECT_EQ(nullptr, secret_set_name(set, 2));
        std::string p0 = secret_set_placeholder(set, 0), p1 = secret_set_placeholder(set, 1);
        EXPECT_EQ(0u, p0.find("AKSECRET_"));
        EXPECT_NE(p0, p1);
        EXPECT_EQ(std::string::npos, p0.find(kCanary));
        std::string pem = secret_set_ca_pem(set);
        EXPECT_EQ(0u, pem.find("-----BEGIN CERTIFICATE-----"));
        EXPECT_EQ(std::string::npos, pem.find("PRIVATE"));
        struct tls_relay *r1 = nullptr, *r2 = nullptr;
        ASSERT_EQ(0, secret_set_relay(set, nullptr, 1000, &r1, &err)) << err.msg;
        ASSERT_EQ(0, secret_set_relay(set, nullptr, 1000, &r2, &err)) << err.msg;
        EXPECT_EQ(r1, r2);
        secret_set_free(set);

        // a second set for the same binding: new placeholders each sandbox
        ASSERT_EQ(0, secret_set_new(v_, b, 1, &set, &err)) << err.msg;
        EXPECT_NE(p0, secret_set_placeholder(set, 0));
        secret_set_free(set);
}

TEST_F(SecretSet, ErrorsNameTheSecretNeverTheValue)
{
        struct secret_set *set = nullptr;
        struct ak_error err = {};
        struct secret_binding missing[] = { B("A:api.example.com"), B("NOPE:api.example.com") };
        EXPECT_EQ(-ENOENT, secret_set_new(v_, missing, 2, &set, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "no secret named NOPE")) << err.msg;
        struct secret_binding nl[] = { B("NL:api.example.com") };
        EXPECT_EQ(-EINVAL, secret_set_new(v_, nl, 1, &set, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "secret NL cannot go in an HTTP header")) << err.msg;
        EXPECT_EQ(nullptr, strstr(err.msg, "X-Evil"));
        struct secret_binding twice[] = { B("A:api.example.com"), B("A:other.example.com") };
        EXPECT_EQ(-EINVAL, secret_set_new(v_, twice, 2, &set, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "bound twice")) << err.msg;
        EXPECT_EQ(-EINVAL, secret_set_new(v_, twice, 0, &set, &err));
        EXPECT_EQ(nullptr, set);
        EXPECT_EQ(nullptr, strstr(err.msg, kCanary));
}

// After an executor restart: the same placeholders and CA, values from the vault.
TEST_F(SecretSet, RestoresPlaceholdersAndCa)
{
        struct secret_binding b[] = { B("A:api.example.com"), B("B:other.example.org:X-Key") };
        struct secret_set *set = nullptr, *back = nullptr;
        struct ak_error err = {};
        ASSERT_EQ(0, secret_set_new(v_, b, 2, &set, &err)) << err.msg;
        const std::string ca = dir_ + "/ca.key";
        ASSERT_EQ(0, secret_set_save_ca(set, ca.c_str(), &err)) << err.msg;
        std::string p0 = secret_set_placeholder(set, 0), p1 = secret_set_placeholder(set, 1);
        std::string pem = secret_set_ca_pem(set);
        secret_set_free(set);

        const char *phs[] = { p0.c_str(), p1.c_str() };
        ASSERT_EQ(0, secret_set_restore(v_, b, phs, 2, ca.c_str(), &back, &err)) << err.msg;
        EXPECT_EQ(p0, secret_set_placeholder(back, 0));
        EXPECT_EQ(p1, secret_set_placeholder(back, 1));
        EXPECT_EQ(pem, secret_set_ca_pem(back));
        EXPECT_TRUE(secret_set_binds(back, "other.example.org"));
        struct tls_relay *relay = nullptr;
        EXPECT_EQ(0, secret_set_relay(back, nullptr, 1000, &relay, &err)) << err.msg;
        secret_set_free(back);
        back = nullptr;

        // the key file holds no value; bad placeholders and a missing secret are refused
        std::ifstream in(ca);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        EXPECT_EQ(std::string::npos, text.find(kCanary));
        std::string upper = p0;
        upper[12] = 'A';
        for (const char *bad : { "AKSECRET_short", "", upper.c_str(), p1.c_str() }) {
                const char *two[] = { p1.c_str(), bad };
                EXPECT_EQ(-EINVAL, secret_set_restore(v_, b, two, 2, ca.c_str(), &back, &err)) << bad;
                EXPECT_NE(std::string::npos, std::string(err.msg).find("placeholder")) << err.msg;
        }
        struct secret_binding gone[] = { B("A:api.example.com"), B("NOPE:other.example.org:X-Key") };
        EXPECT_EQ(-ENOENT, secret_set_restore(v_, gone, phs, 2, ca.c_str(), &back, &err));
        // bound to other hosts than the CA was made for
        struct secret_binding moved[] = { B("A:api.example.com"), B("B:elsewhere.example.org") };
        EXPECT_EQ(-EINVAL, secret_set_restore(v_, moved, phs, 2, ca.c_str(), &back, &err));
        EXPECT_NE(std::string::npos, std::string(err.msg).find("other hosts")) << err.msg;
        EXPECT_EQ(nullptr, back);
}

}  // namespace

TEST_F(SecretSet, FindsPlaceholdersAndRefreshesFromTheVault)
{
        struct secret_binding b[] = { B("A:api.example.com"), B("B:other.example.org:X-Key") };
        struct secret_set *set = nullptr;
        struct ak_error err = {};
        ASSERT_EQ(0, secret_set_new(v_, b, 2, &set, &err)) << err.msg;
        std::string p1 = secret_set_placeholder(set, 1);
        std::string head = "GET /?q=" + p1 + " HTTP/1.1\r\nHost: x\r\n\r\n";
        EXPECT_EQ(1, secret_set_find_placeholder(set, head.data(), head.size()));
        std::string lower = p1;
        for (char &c : lower)
                c = (char)tolower((unsigned char)c);
        std::string sni = "x" + lower + ".evil.test";
        EXPECT_EQ(1, secret_set_find_placeholder(set, sni.data(), sni.size())) << "names arrive lowercased";
        EXPECT_EQ(-1, secret_set_find_placeholder(set, p1.data(), p1.size() - 1)) << "a cut placeholder";
        EXPECT_EQ(-1, secret_set_find_placeholder(set, "AKSECRET_", 9));
        EXPECT_TRUE(secret_set_binds(set, "API.example.com"));
        EXPECT_FALSE(secret_set_binds(set, "example.com"));

        // No vault kept: nothing to read again.
        EXPECT_EQ(0, secret_set_refresh(set, &err)) << err.msg;
        // Kept (the set owns it): a new value is read; a removed one fails naming it, never a value.
        struct vault *v2 = nullptr;
        ASSERT_EQ(0, vault_open_sealed((dir_ + "/v").c_str(), &v2, &err)) << err.msg;
        secret_set_keep_vault(set, v2);
        ASSERT_EQ(0, vault_set(v_, "A", "rotated", 7, &err)) << err.msg;
        EXPECT_EQ(0, secret_set_refresh(set, &err)) << err.msg;
        struct tls_relay *relay = nullptr;
        ASSERT_EQ(0, secret_set_relay(set, nullptr, 1000, &relay, &err)) << err.msg;
        ASSERT_EQ(0, vault_set(v_, "B", "bad\r\nX: 1", 10, &err)) << err.msg;
        err = {};
        EXPECT_EQ(-EINVAL, secret_set_refresh(set, &err));
        EXPECT_NE(std::string::npos, std::string(err.msg).find("B")) << err.msg;
        EXPECT_EQ(std::string::npos, std::string(err.msg).find("bad")) << err.msg;
        ASSERT_EQ(0, vault_remove(v_, "A", &err)) << err.msg;
        err = {};
        EXPECT_EQ(-ENOENT, secret_set_refresh(set, &err));
        EXPECT_EQ(std::string::npos, std::string(err.msg).find(kCanary)) << err.msg;
        secret_set_free(set);
}
