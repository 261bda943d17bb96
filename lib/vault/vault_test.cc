// The vault: sealed store round trips, names, tampering, keys, mounted Secrets.
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lib/base/fs.h"
#include "lib/vault/seal.h"
#include "lib/vault/vault.h"

namespace {

const char kCanary[] = "sk-canary-5d1f0c9e7b3a";

std::string Slurp(const std::string &path)
{
        std::ifstream f(path, std::ios::binary);
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
}

class VaultTest : public ::testing::Test {
      protected:
        void SetUp() override
        {
                char tmpl[] = "/tmp/ak_vault_test.XXXXXX";
                ASSERT_NE(nullptr, mkdtemp(tmpl));
                root_ = tmpl;
                dir_ = root_ + "/secrets";
        }
        void TearDown() override
        {
                vault_free(v_);
                ak_rm_rf(root_.c_str());
        }
        struct vault *Open()
        {
                struct ak_error err = {};
                vault_free(v_);
                v_ = nullptr;
                EXPECT_EQ(0, vault_open_sealed(dir_.c_str(), &v_, &err)) << err.msg;
                return v_;
        }
        void Set(const char *name, const std::string &value)
        {
                struct ak_error err = {};
                ASSERT_EQ(0, vault_set(v_, name, value.data(), value.size(), &err)) << err.msg;
        }
        // The value, or "ERR <code>: <message>".
        std::string Get(const char *name)
        {
                struct ak_error err = {};
                uint8_t *val = nullptr;
                size_t len = 0;
                int r = vault_get(v_, name, &val, &len, &err);
                if (r < 0) {
                        EXPECT_EQ(std::string::npos, std::string(err.msg).find(kCanary)) << err.msg;
                        return "ERR " + std::to_string(r) + ": " + err.msg;
                }
                std::string s((const char *)val, len);
                EXPECT_EQ(0, val[len]);
                vault_value_free(val, len);
                return s;
        }
        std::vector<std::string> List()
        {
                struct ak_error err = {};
                char **names = nullptr;
                size_t n = 0;
                std::vector<std::string> out;
                EXPECT_EQ(0, vault_list(v_, &names, &n, &err)) << err.msg;
                for (size_t i = 0; i < n; i++)
                        out.push_back(names[i]);
                EXPECT_EQ(nullptr, names ? names[n] : nullptr);
                vault_names_free(names);
                return out;
        }
        std::string root_, dir_;
        struct vault *v_ = nullptr;
};

TEST_F(VaultTest, SetGetListRemoveRoundTrip)
{
        Open();
        EXPECT_EQ(std::vector<std::string>{}, List());
        Set("OPENAI_API_KEY", kCanary);
        Set("B", std::string("bin\0ary\xff", 8));
        EXPECT_EQ(kCanary, Get("OPENAI_API_KEY"));
        EXPECT_EQ(std::string("bin\0ary\xff", 8), Get("B"));
        EXPECT_EQ((std::vector<std::string>{"B", "OPENAI_API_KEY"}), List());

        // a second handle (another process) reads the same values: rotation
        Open();
        Set("OPENAI_API_KEY", "rotated");
        EXPECT_EQ("rotated", Get("OPENAI_API_KEY"));

        struct ak_error err = {};
        EXPECT_EQ(0, vault_remove(v_, "B", &err)) << err.msg;
        EXPECT_EQ(-ENOENT, vault_remove(v_, "B", &err));
        EXPECT_NE(nullptr, strstr(err.msg, "no secret named B"));
        EXPECT_EQ(0u, Get("B").find("ERR -2: no secret named B"));
        EXPECT_EQ(std::vector<std::string>{"OPENAI_API_KEY"}, List());
}

TEST_F(VaultTest, FilesArePrivateAndNotPlaintext)
{
        Open();
        Set("TOKEN", kCanary);
        struct stat st;
        ASSERT_EQ(0, stat(dir_.c_str(), &st));
        EXPECT_EQ(0700u, st.st_mode & 07777);
        ASSERT_EQ(0, stat((dir_ + "/vault.key").c_str(), &st));
        EXPECT_EQ(0600u, st.st_mode & 07777);
        EXPECT_EQ(32, st.st_size);
        std::string sealed = Slurp(dir_ + "/TOKEN.sealed");
        EXPECT_EQ(strlen(kCanary) + SEAL_OVERHEAD, sealed.size());
        EXPECT_EQ(0u, sealed.find("AKVAULT1"));
        EXPECT_EQ(std::string::npos, sealed.find(kCanary));
        EXPECT_EQ(std::string::npos, sealed.find("canary"));
        // two seals of one value differ (fresh nonce)
        Set("TOKEN2", kCanary);
        EXPECT_NE(sealed.substr(8), Slurp(dir_ + "/TOKEN2.sealed").substr(8));
}

TEST_F(VaultTest, TamperedRenamedOrRekeyedFilesDoNotOpen)
{
        Open();
        Set("A", kCanary);
        Set("B", "other");
        std::string a = dir_ + "/A.sealed";
        std::string orig = Slurp(a);

        // one flipped ciphertext bit
        std::string bad = orig;
        bad[SEAL_MAGIC_LEN + SEAL_NONCE_LEN] ^= 1;
        std::ofstream(a, std::ios::binary | std::ios::trunc) << bad;
        EXPECT_EQ(0u, Get("A").find("ERR -74: secret A: ")) << Get("A");
        EXPECT_NE(std::string::npos, Get("A").find("set it again"));

        // B's file under A's name
        std::ofstream(a, std::ios::binary | std::ios::trunc) << Slurp(dir_ + "/B.sealed");
        EXPECT_EQ(0u, Get("A").find("ERR -74"));

        // truncated, and bad magic
        std::ofstream(a, std::ios::binary | std::ios::trunc) << orig.substr(0, SEAL_OVERHEAD);
        EXPECT_EQ(0u, Get("A").find("ERR -74"));
        std::ofstream(a, std::ios::binary | std::ios::trunc) << "AKVAULT2" + orig.substr(8);
        EXPECT_EQ(0u, Get("A").find("ERR -74"));

        // the right file under a different key
        std::ofstream(a, std::ios::binary | std::ios::trunc) << orig;
        EXPECT_EQ(kCanary, Get("A"));
        std::string key = Slurp(dir_ + "/vault.key");
        key[0] ^= 0x80;
        std::ofstream(dir_ + "/vault.key", std::ios::binary | std::ios::trunc) << key;
        Open();
        EXPECT_EQ(0u, Get("A").find("ERR -74"));
}

TEST_F(VaultTest, KeyFileMustBePrivate)
{
        Open();
        Set("A", kCanary);
        ASSERT_EQ(0, chmod((dir_ + "/vault.key").c_str(), 0644));
        Open();
        std::string g = Get("A");
        EXPECT_EQ(0u, g.find("ERR -13")) << g;
        EXPECT_NE(std::string::npos, g.find("chmod 600")) << g;
        // a missing key with sealed files present says what happened
        ASSERT_EQ(0, unlink((dir_ + "/vault.key").c_str()));
        Open();
        g = Get("A");
        EXPECT_EQ(0u, g.find("ERR -2")) << g;
        EXPECT_NE(std::string::npos, g.find("vault.key is missing")) << g;
}

TEST_F(VaultTest, NamesAndSizesAreChecked)
{
        Open();
        struct ak_error err = {};
        for (const char *bad : {"", "1ABC", "A-B", "A.B", "../x", "A B", "Ä"}) {
                EXPECT_EQ(-EINVAL, vault_set(v_, bad, "v", 1, &err)) << bad;
                EXPECT_EQ(-EINVAL, vault_name_check(bad, &err)) << bad;
        }
        std::string longname(VAULT_NAME_MAX + 1, 'A');
        EXPECT_EQ(-EINVAL, vault_name_check(longname.c_str(), &err));
        EXPECT_EQ(0, vault_name_check(longname.substr(1).c_str(), &err));
        EXPECT_EQ(0, vault_name_check("_a9", &err));
        EXPECT_EQ(-EINVAL, vault_set(v_, "A", "", 0, &err));
        std::string big(VAULT_VALUE_MAX + 1, 'x');
        EXPECT_EQ(-EINVAL, vault_set(v_, "A", big.data(), big.size(), &err));
        EXPECT_EQ(std::string::npos, std::string(err.msg).find("xxxx"));
        big.pop_back();
        Set("A", big);
        EXPECT_EQ(big, Get("A"));
        // stray files are not secrets
        std::ofstream(dir_ + "/notes.txt") << "x";
        std::ofstream(dir_ + "/A.sealed.XYZ123") << "half";
        EXPECT_EQ(std::vector<std::string>{"A"}, List());
}

TEST_F(VaultTest, MountedKubernetesSecretIsReadOnly)
{
        // the kubelet's layout: ..data -> ..2026_x/, NAME -> ..data/NAME
        std::string m = root_ + "/mounted";
        ASSERT_EQ(0, mkdir(m.c_str(), 0755));
        ASSERT_EQ(0, mkdir((m + "/..2026_12_07").c_str(), 0755));
        std::ofstream(m + "/..2026_12_07/API_KEY") << kCanary;
        std::ofstream(m + "/..2026_12_07/EMPTY");
        ASSERT_EQ(0, symlink("..2026_12_07", (m + "/..data").c_str()));
        ASSERT_EQ(0, symlink("..data/API_KEY", (m + "/API_KEY").c_str()));
        ASSERT_EQ(0, symlink("..data/EMPTY", (m + "/EMPTY").c_str()));

        struct ak_error err = {};
        ASSERT_EQ(0, vault_open_mounted(m.c_str(), &v_, &err)) << err.msg;
        EXPECT_EQ(kCanary, Get("API_KEY"));
        EXPECT_EQ(0u, Get("EMPTY").find("ERR -22"));
        EXPECT_EQ(0u, Get("NOPE").find("ERR -2"));
        EXPECT_EQ((std::vector<std::string>{"API_KEY", "EMPTY"}), List());
        EXPECT_EQ(-EROFS, vault_set(v_, "API_KEY", "x", 1, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "kubectl"));
        EXPECT_EQ(-EROFS, vault_remove(v_, "API_KEY", &err));

        vault_free(v_);
        v_ = nullptr;
        EXPECT_EQ(-ENOENT, vault_open_mounted((root_ + "/none").c_str(), &v_, &err));
}

TEST(Seal, ParseBounds)
{
        uint8_t buf[SEAL_OVERHEAD + 4] = "AKVAULT1";
        const uint8_t *n, *c, *t;
        size_t cl;
        EXPECT_EQ(0, seal_parse(buf, sizeof(buf), 4, &n, &c, &cl, &t));
        EXPECT_EQ(4u, cl);
        EXPECT_EQ(buf + 8, n);
        EXPECT_EQ(buf + 20, c);
        EXPECT_EQ(buf + 24, t);
        EXPECT_EQ(-EBADMSG, seal_parse(buf, sizeof(buf), 3, &n, &c, &cl, &t));
        EXPECT_EQ(-EBADMSG, seal_parse(buf, SEAL_OVERHEAD, 4, &n, &c, &cl, &t));
        EXPECT_EQ(-EBADMSG, seal_parse(buf, 3, 4, &n, &c, &cl, &t));
}

}  // namespace
