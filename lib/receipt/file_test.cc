/* Files: private atomic writes, load errors, the local signing key. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <thread>

#include "lib/receipt/test_util.h"

using namespace rt;

namespace {

struct TempDir {
        std::string path;
        TempDir()
        {
                char t[] = "/tmp/ak_receipt_file_XXXXXX";
                path = mkdtemp(t);
        }
        ~TempDir() { std::string cmd = "rm -rf '" + path + "'"; (void)!system(cmd.c_str()); }
};

int CountEntries(const std::string &dir)
{
        DIR *d = opendir(dir.c_str());
        int n = 0;
        while (struct dirent *e = readdir(d))
                if (e->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

void WriteRaw(const std::string &path, const std::string &data)
{
        std::ofstream(path, std::ios::binary) << data;
}

std::string ReadRaw(const std::string &path)
{
        std::ifstream f(path, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(f), {});
}

} // namespace

TEST(ReceiptFile, WriteIsPrivateAndAtomic)
{
        TempDir d;
        std::string p = d.path + "/r.json";
        Key k = NewKey();
        Receipt r = SignedReceipt(k.get());
        WriteRaw(p, "old");
        chmod(p.c_str(), 0644);
        char *err = nullptr;
        ASSERT_EQ(receipt_write_file(p.c_str(), r.get(), &err), 0);
        struct stat st;
        ASSERT_EQ(stat(p.c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777, 0600u);
        EXPECT_EQ(CountEntries(d.path), 1); /* no temporary left */
        EXPECT_EQ(ReadRaw(p), Json(r.get(), true));
}

TEST(ReceiptFile, WriteErrors)
{
        Receipt r = UnsignedReceipt();
        char *err = nullptr;
        EXPECT_EQ(receipt_write_file("/nonexistent-dir/r.json", r.get(), &err), -ENOENT);
        EXPECT_STREQ(err, "Failed to write receipt /nonexistent-dir/r.json: No such file or directory");
        free(err);
}

TEST(ReceiptFile, LoadErrors)
{
        TempDir d;
        struct receipt *r = nullptr;
        char *err = nullptr;
        std::string missing = d.path + "/missing.json";
        EXPECT_EQ(receipt_load_file(missing.c_str(), &r, &err), -ENOENT);
        EXPECT_EQ(std::string(err), "Failed to read receipt " + missing + ": No such file or directory");
        free(err);

        std::string bad = d.path + "/bad.json";
        WriteRaw(bad, "{\"version\": 1,");
        EXPECT_EQ(receipt_load_file(bad.c_str(), &r, &err), -EINVAL);
        EXPECT_EQ(std::string(err), "Invalid receipt JSON in " + bad + ": EOF while parsing an object at line 1 column 15");
        free(err);

        WriteRaw(bad, "{}");
        EXPECT_EQ(receipt_load_file(bad.c_str(), &r, &err), -EINVAL);
        EXPECT_EQ(std::string(err), "Invalid receipt JSON in " + bad + ": missing field `version` in struct ExecutionReceipt");
        free(err);

        EXPECT_EQ(receipt_load_file(d.path.c_str(), &r, &err), -EISDIR);
        free(err);

        std::string big = d.path + "/big.json";
        WriteRaw(big, std::string(RECEIPT_MAX_FILE_SIZE + 1, ' '));
        EXPECT_EQ(receipt_load_file(big.c_str(), &r, &err), -EFBIG);
        EXPECT_NE(std::string(err).find("Failed to read receipt"), std::string::npos);
        free(err);
}

TEST(ReceiptFile, VerifyFile)
{
        TempDir d;
        std::string p = d.path + "/r.json";
        Key k = NewKey();
        Receipt r = SignedReceipt(k.get());
        char *err = nullptr;
        ASSERT_EQ(receipt_write_file(p.c_str(), r.get(), &err), 0);
        struct receipt *v = nullptr;
        ASSERT_EQ(receipt_verify_file(p.c_str(), false, &v, &err), 0);
        receipt_free(v);

        /* tamper with the bytes on disk */
        std::string s = ReadRaw(p);
        s.replace(s.find("moderate"), 8, "permissi");
        WriteRaw(p, s);
        v = nullptr;
        EXPECT_EQ(receipt_verify_file(p.c_str(), false, &v, &err), -EBADMSG);
        EXPECT_EQ(v, nullptr);
        EXPECT_NE(std::string(err).find("Receipt hash mismatch"), std::string::npos);
        free(err);
}

TEST(SigningKey, CreatedPrivatelyThenReused)
{
        TempDir d;
        std::string p = d.path + "/home/.agentkernel/receipts/" RECEIPT_SIGNING_KEY_FILE;
        struct crypto_ed25519_key *k1 = nullptr, *k2 = nullptr;
        char *err = nullptr;
        ASSERT_EQ(receipt_load_or_create_signing_key(p.c_str(), &k1, &err), 0) << err;
        struct stat st;
        ASSERT_EQ(stat(p.c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777, 0600u);
        EXPECT_EQ(st.st_size, CRYPTO_PKCS8_ED25519_V2_LEN);
        ASSERT_EQ(stat((d.path + "/home/.agentkernel/receipts").c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777, 0700u);
        ASSERT_EQ(stat((d.path + "/home").c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777, 0700u);
        EXPECT_EQ(CountEntries(d.path + "/home/.agentkernel/receipts"), 1);

        /* ring's v2 layout */
        std::string der = ReadRaw(p);
        EXPECT_EQ(der.substr(0, 16), std::string("\x30\x53\x02\x01\x01\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20", 16));
        EXPECT_EQ(der.substr(48, 5), std::string("\xa1\x23\x03\x21\x00", 5));
        EXPECT_EQ(der.substr(53), std::string((const char *)crypto_ed25519_key_public(k1), 32));

        ASSERT_EQ(receipt_load_or_create_signing_key(p.c_str(), &k2, &err), 0);
        EXPECT_EQ(memcmp(crypto_ed25519_key_public(k1), crypto_ed25519_key_public(k2), 32), 0);
        crypto_ed25519_key_free(k1);
        crypto_ed25519_key_free(k2);
}

TEST(SigningKey, ReadsV1AndRejectsGarbage)
{
        TempDir d;
        std::string p = d.path + "/" RECEIPT_SIGNING_KEY_FILE;
        std::string v1("\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20", 16);
        v1 += std::string(32, '\x07');
        WriteRaw(p, v1);
        struct crypto_ed25519_key *k = nullptr;
        char *err = nullptr;
        ASSERT_EQ(receipt_load_or_create_signing_key(p.c_str(), &k, &err), 0);
        crypto_ed25519_key_free(k);

        WriteRaw(p, "garbage");
        EXPECT_EQ(receipt_load_or_create_signing_key(p.c_str(), &k, &err), -EINVAL);
        EXPECT_EQ(std::string(err), "Invalid Ed25519 signing key at " + p);
        free(err);

        /* v2 whose public key is not the seed's */
        std::string v2("\x30\x53\x02\x01\x01\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20", 16);
        v2 += std::string(32, '\x07') + std::string("\xa1\x23\x03\x21\x00", 5) + std::string(32, '\x01');
        WriteRaw(p, v2);
        EXPECT_EQ(receipt_load_or_create_signing_key(p.c_str(), &k, &err), -EKEYREJECTED);
        EXPECT_EQ(std::string(err), "Invalid Ed25519 signing key at " + p);
        free(err);

        WriteRaw(p, std::string(5000, 'x'));
        EXPECT_EQ(receipt_load_or_create_signing_key(p.c_str(), &k, &err), -EFBIG);
        free(err);
}

TEST(SigningKey, DefaultPath)
{
        std::string old = getenv("HOME") ? getenv("HOME") : "";
        const char *old_ak = getenv("AK_HOME");
        std::string saved_ak = old_ak ? old_ak : "";
        char *p = nullptr;
        unsetenv("AK_HOME");
        setenv("HOME", "/home/u", 1);
        ASSERT_EQ(receipt_default_signing_key_path(&p), 0);
        EXPECT_STREQ(p, "/home/u/.agentkernel/receipts/ed25519_signing_key.pkcs8");
        free(p);
        setenv("AK_HOME", "/srv/ak", 1);
        ASSERT_EQ(receipt_default_signing_key_path(&p), 0);
        EXPECT_STREQ(p, "/srv/ak/receipts/ed25519_signing_key.pkcs8");
        free(p);
        unsetenv("AK_HOME");
        unsetenv("HOME");  // the passwd entry's home, never a shared /tmp path
        if (receipt_default_signing_key_path(&p) == 0) {
                EXPECT_EQ(std::string(p).find("/tmp/agentkernel"), std::string::npos) << p;
                free(p);
        }
        setenv("HOME", old.c_str(), 1);
        if (old_ak)
                setenv("AK_HOME", saved_ak.c_str(), 1);
}

TEST(SigningKey, ConcurrentCreatorsAgree)
{
        TempDir d;
        std::string p = d.path + "/k/" RECEIPT_SIGNING_KEY_FILE;
        std::vector<std::thread> ts;
        uint8_t pubs[8][32];
        for (int i = 0; i < 8; i++)
                ts.emplace_back([&, i] {
                        struct crypto_ed25519_key *k = nullptr;
                        char *err = nullptr;
                        ASSERT_EQ(receipt_load_or_create_signing_key(p.c_str(), &k, &err), 0) << err;
                        memcpy(pubs[i], crypto_ed25519_key_public(k), 32);
                        crypto_ed25519_key_free(k);
                });
        for (auto &t : ts)
                t.join();
        for (int i = 1; i < 8; i++)
                EXPECT_EQ(memcmp(pubs[0], pubs[i], 32), 0);
        EXPECT_EQ(CountEntries(d.path + "/k"), 1);
}
