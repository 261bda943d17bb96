// The key store: files, modes, records, rotation, the lock.
#include "services/signer/keystore.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lib/receipt/receipt.h"

namespace {

class KeystoreTest : public ::testing::Test {
      protected:
        void SetUp() override
        {
                char tmpl[] = "/tmp/ak_keystore_XXXXXX";
                ASSERT_NE(nullptr, mkdtemp(tmpl));
                dir_ = tmpl;
                key_ = dir_ + "/keys/signer.pkcs8";
        }
        void TearDown() override
        {
                std::string cmd = "rm -rf '" + dir_ + "'";
                ASSERT_EQ(0, system(cmd.c_str()));
        }
        struct keystore *Open(int want = 0, std::string *msg = nullptr)
        {
                struct keystore *ks = nullptr;
                struct ak_error err = {};
                int r = keystore_open(key_.c_str(), &ks, &err);
                EXPECT_EQ(want, r) << err.msg;
                if (msg)
                        *msg = err.msg;
                return ks;
        }
        std::vector<struct keystore_public_key> List(struct keystore *ks)
        {
                struct keystore_public_key *keys = nullptr;
                size_t n = 0;
                EXPECT_EQ(0, keystore_list(ks, &keys, &n));
                std::vector<struct keystore_public_key> v(keys, keys + n);
                free(keys);
                return v;
        }
        std::string dir_, key_;
};

mode_t Mode(const std::string &path)
{
        struct stat st;
        EXPECT_EQ(0, stat(path.c_str(), &st)) << path;
        return st.st_mode & 07777;
}

std::string Read(const std::string &path)
{
        std::ifstream f(path, std::ios::binary);
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
}

void Write(const std::string &path, const std::string &data, mode_t mode)
{
        int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        ASSERT_GE(fd, 0) << path;
        ASSERT_EQ((ssize_t)data.size(), write(fd, data.data(), data.size()));
        close(fd);
        ASSERT_EQ(0, chmod(path.c_str(), mode));
}

std::vector<std::string> Files(const std::string &dir)
{
        std::vector<std::string> names;
        DIR *d = opendir(dir.c_str());
        if (!d)
                return names;
        while (struct dirent *de = readdir(d))
                if (de->d_name[0] != '.')
                        names.push_back(de->d_name);
        closedir(d);
        std::sort(names.begin(), names.end());
        return names;
}

std::string KeyIdOfFile(const std::string &path)
{
        std::string der = Read(path);
        struct crypto_ed25519_key *k = nullptr;
        EXPECT_EQ(0, crypto_ed25519_key_from_pkcs8((const uint8_t *)der.data(), der.size(), &k));
        char id[17] = "";
        if (k)
                receipt_key_id(crypto_ed25519_key_public(k), id);
        crypto_ed25519_key_free(k);
        return id;
}

TEST_F(KeystoreTest, CreatesKeyDirectoryAndRecord)
{
        struct keystore *ks = Open();
        ASSERT_NE(nullptr, ks);
        EXPECT_EQ(0700u, Mode(dir_ + "/keys"));
        EXPECT_EQ(0600u, Mode(key_));
        EXPECT_EQ(0700u, Mode(key_ + ".d"));
        EXPECT_EQ((size_t)CRYPTO_PKCS8_ED25519_V2_LEN, Read(key_).size());
        auto keys = List(ks);
        ASSERT_EQ(1u, keys.size());
        EXPECT_TRUE(keys[0].active);
        EXPECT_EQ(KeyIdOfFile(key_), keys[0].key_id);
        EXPECT_EQ(std::vector<std::string>{std::string(keys[0].key_id) + ".json"}, Files(key_ + ".d"));
        struct keystore_key *k = keystore_active(ks);
        EXPECT_STREQ(keys[0].key_id, keystore_key_id(k));
        keystore_key_unref(k);
        keystore_free(ks);

        /* opening again keeps the key */
        ks = Open();
        EXPECT_EQ(std::string(keys[0].key_id), List(ks)[0].key_id);
        EXPECT_EQ(keys[0].created_at_ms, List(ks)[0].created_at_ms);
        keystore_free(ks);
}

TEST_F(KeystoreTest, RefusesKeysOthersCanReach)
{
        keystore_free(Open());
        std::string msg;
        for (mode_t bad : {0640, 0604, 0660, 0602, 0610}) {
                ASSERT_EQ(0, chmod(key_.c_str(), bad));
                EXPECT_EQ(nullptr, Open(-EPERM, &msg));
                char mode[8];
                snprintf(mode, sizeof(mode), "%04o", bad);
                EXPECT_EQ("signing key " + key_ + " is accessible by group or others (mode " + mode +
                                  "); run: chmod 600 " + key_,
                          msg);
        }
        ASSERT_EQ(0, chmod(key_.c_str(), 0400));
        keystore_free(Open());
        ASSERT_EQ(0, chmod(key_.c_str(), 0600));

        ASSERT_EQ(0, chmod((key_ + ".d").c_str(), 0750));
        EXPECT_EQ(nullptr, Open(-EPERM, &msg));
        EXPECT_EQ("key directory " + key_ + ".d is accessible by group or others (mode 0750); run: chmod 700 " +
                          key_ + ".d",
                  msg);
        ASSERT_EQ(0, chmod((key_ + ".d").c_str(), 0700));

        std::string parent = dir_ + "/keys";
        ASSERT_EQ(0, chmod(parent.c_str(), 0777));
        EXPECT_EQ(nullptr, Open(-EPERM, &msg));
        EXPECT_NE(std::string::npos, msg.find("run: chmod go-w " + parent)) << msg;
        ASSERT_EQ(0, chmod(parent.c_str(), 01777)); /* sticky, as /tmp: others cannot swap our file */
        keystore_free(Open());
        ASSERT_EQ(0, chmod(parent.c_str(), 0755));
        keystore_free(Open());
}

TEST_F(KeystoreTest, RefusesWhatIsNotAKey)
{
        std::string msg;
        ASSERT_EQ(0, mkdir((dir_ + "/keys").c_str(), 0700));
        ASSERT_EQ(0, mkdir(key_.c_str(), 0700));
        EXPECT_EQ(nullptr, Open(-EINVAL, &msg));
        EXPECT_EQ("signing key " + key_ + " is not a regular file", msg);
        ASSERT_EQ(0, rmdir(key_.c_str()));
        Write(key_, "not a key", 0600);
        EXPECT_EQ(nullptr, Open(-EINVAL, &msg));
        EXPECT_EQ("signing key " + key_ + " is not an Ed25519 key in PKCS#8 (v1 or v2)", msg);
        Write(key_, std::string(5000, 'x'), 0600);
        EXPECT_EQ(nullptr, Open(-EFBIG, &msg));
}

TEST_F(KeystoreTest, AdoptsAnExistingV1Key)
{
        /* RFC 8410's example private key, PKCS#8 v1 */
        const uint8_t v1[] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70,
                              0x04, 0x22, 0x04, 0x20, 0xd4, 0xee, 0x72, 0xdb, 0xf9, 0x13, 0x58, 0x4a,
                              0xd5, 0xb6, 0xd8, 0xf1, 0xf7, 0x69, 0xf8, 0xad, 0x3a, 0xfe, 0x7c, 0x28,
                              0xcb, 0xf1, 0xd4, 0xfb, 0xe0, 0x97, 0xa8, 0x8f, 0x44, 0x75, 0x58, 0x42};
        ASSERT_EQ(0, mkdir((dir_ + "/keys").c_str(), 0700));
        Write(key_, std::string((const char *)v1, sizeof(v1)), 0600);
        struct timespec times[2] = {{1700000000, 123000000}, {1700000000, 123000000}};
        ASSERT_EQ(0, utimensat(AT_FDCWD, key_.c_str(), times, 0));
        struct keystore *ks = Open();
        ASSERT_NE(nullptr, ks);
        auto keys = List(ks);
        ASSERT_EQ(1u, keys.size());
        /* RFC 8410 section 10.3's public key 19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1 */
        EXPECT_STREQ("Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=", keys[0].public_key);
        EXPECT_EQ(1700000000123, keys[0].created_at_ms);
        EXPECT_EQ(std::string((const char *)v1, sizeof(v1)), Read(key_)); /* left as it was */
        keystore_free(ks);
}

TEST_F(KeystoreTest, RotationKeepsOldKeysListedAndErasesTheirPrivateKeys)
{
        struct keystore *ks = Open();
        ASSERT_NE(nullptr, ks);
        std::string first = List(ks)[0].key_id;
        std::string first_der = Read(key_);
        struct keystore_key *held = keystore_active(ks);

        struct keystore_public_key rec;
        struct ak_error err = {};
        ASSERT_EQ(0, keystore_rotate(ks, &rec, &err)) << err.msg;
        ASSERT_EQ(0, keystore_rotate(ks, nullptr, &err)) << err.msg;
        auto keys = List(ks);
        ASSERT_EQ(3u, keys.size());
        EXPECT_TRUE(keys[0].active);
        EXPECT_FALSE(keys[1].active);
        EXPECT_FALSE(keys[2].active);
        EXPECT_EQ(std::string(rec.key_id), keys[1].key_id);
        EXPECT_EQ(first, keys[2].key_id);
        EXPECT_GT(keys[0].created_at_ms, keys[1].created_at_ms);
        EXPECT_GT(keys[1].created_at_ms, keys[2].created_at_ms);
        EXPECT_EQ(KeyIdOfFile(key_), keys[0].key_id);
        EXPECT_EQ(0600u, Mode(key_));
        EXPECT_EQ((size_t)CRYPTO_PKCS8_ED25519_V2_LEN, Read(key_).size());

        /* a key taken before the rotation still signs */
        uint8_t sig[CRYPTO_ED25519_SIGNATURE_LEN];
        EXPECT_EQ(0, crypto_ed25519_sign(keystore_key_crypto(held), "m", 1, sig));
        EXPECT_EQ(first, keystore_key_id(held));
        keystore_key_unref(held);

        /* no file keeps the first private key */
        std::string seed = first_der.substr(16, 32);
        for (const std::string &d : {dir_ + "/keys", key_ + ".d"})
                for (const std::string &f : Files(d))
                        EXPECT_EQ(std::string::npos, Read(d + "/" + f).find(seed)) << f;
        keystore_free(ks);

        /* the list survives a restart */
        ks = Open();
        auto again = List(ks);
        ASSERT_EQ(3u, again.size());
        for (size_t i = 0; i < 3; i++) {
                EXPECT_STREQ(keys[i].key_id, again[i].key_id);
                EXPECT_STREQ(keys[i].public_key, again[i].public_key);
                EXPECT_EQ(keys[i].created_at_ms, again[i].created_at_ms);
                EXPECT_EQ(keys[i].active, again[i].active);
        }
        keystore_free(ks);
}

TEST_F(KeystoreTest, OneProcessAtATime)
{
        struct keystore *ks = Open();
        std::string msg;
        EXPECT_EQ(nullptr, Open(-EBUSY, &msg));
        EXPECT_EQ("another ak-signer is using " + key_ + " (it holds the lock on " + key_ +
                          ".d); stop it first, or rotate its key through its RotateKey RPC",
                  msg);
        keystore_free(ks);
        keystore_free(Open());
}

TEST_F(KeystoreTest, RecoversFromACrashedRotation)
{
        struct keystore *ks = Open();
        struct ak_error err = {};
        ASSERT_EQ(0, keystore_rotate(ks, nullptr, &err)) << err.msg;
        auto keys = List(ks);
        keystore_free(ks);

        /* died after writing the new key, before its record; and temporaries left behind */
        ASSERT_EQ(0, unlink((key_ + ".d/" + keys[0].key_id + ".json").c_str()));
        Write(key_ + ".tmp.AbC123", "half a private key", 0600);
        Write(key_ + ".d/" + keys[1].key_id + ".json.tmp.xYz789", "{", 0600);
        Write(key_ + ".d/README", "not ours, left alone", 0600);
        ks = Open();
        auto again = List(ks);
        ASSERT_EQ(2u, again.size());
        EXPECT_STREQ(keys[0].key_id, again[0].key_id);
        EXPECT_TRUE(again[0].active);
        EXPECT_STREQ(keys[1].key_id, again[1].key_id);
        EXPECT_EQ((std::vector<std::string>{"signer.pkcs8", "signer.pkcs8.d"}), Files(dir_ + "/keys"));
        std::vector<std::string> want = {std::string(keys[0].key_id) + ".json",
                                         std::string(keys[1].key_id) + ".json", "README"};
        std::sort(want.begin(), want.end());
        EXPECT_EQ(want, Files(key_ + ".d"));
        keystore_free(ks);
}

TEST_F(KeystoreTest, RefusesBrokenRecordsNamingThem)
{
        keystore_free(Open());
        std::string other = "0123456789abcdef";
        std::string path = key_ + ".d/" + other + ".json";
        std::string msg;
        const std::vector<std::pair<std::string, std::string>> cases = {
                {"[]", "not a JSON object"},
                {"{\"key_id\":\"0123456789abcdef\",\"algorithm\":\"ed25519\",\"public_key\":"
                 "\"Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\",\"created_at_ms\":1}",
                 "key_id does not match the public key or the file name"},
                {"{\"key_id\":\"0123456789abcdef\",\"algorithm\":\"rsa\",\"public_key\":\"AA==\",\"created_at_ms\":1}",
                 "algorithm is not ed25519"},
                {"{\"key_id\":\"0123456789abcdef\",\"algorithm\":\"ed25519\",\"public_key\":\"AA==\","
                 "\"created_at_ms\":1}",
                 "public_key is not the base64 of 32 bytes"},
                {"{\"key_id\":\"0123456789abcdef\",\"algorithm\":\"ed25519\",\"public_key\":\"AA==\","
                 "\"created_at_ms\":-1}",
                 "created_at_ms is not a non-negative integer"},
        };
        for (auto &c : cases) {
                Write(path, c.first, 0600);
                EXPECT_EQ(nullptr, Open(-EINVAL, &msg));
                EXPECT_EQ("key record " + path + ": " + c.second +
                                  "; restore it from a backup, or remove it if no receipt needs that key",
                          msg);
        }
        /* the same record under its right name is fine */
        ASSERT_EQ(0, unlink(path.c_str()));
        Write(key_ + ".d/e744c0791320c328.json",
              "{\"key_id\":\"e744c0791320c328\",\"algorithm\":\"ed25519\",\"public_key\":"
              "\"Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\",\"created_at_ms\":1}",
              0600);
        struct keystore *ks = Open();
        ASSERT_NE(nullptr, ks);
        auto keys = List(ks);
        ASSERT_EQ(2u, keys.size());
        EXPECT_STREQ("e744c0791320c328", keys[1].key_id);
        keystore_free(ks);
}

}  // namespace
