// Local files: what another local user could plant is refused, and what the
// stack creates is private whatever the umask.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

extern "C" {
#include "lib/base/fs.h"
#include "lib/crypto/crypto.h"
#include "lib/receipt/receipt.h"
}
#include "vmm/vm.h"

namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/aksec.XXXXXX";
  return mkdtemp(tmpl) ? tmpl : "";
}

void RmRf(const std::string& d) { ak_rm_rf(d.c_str()); }

class ConfineFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    d_ = TempDir();
    ASSERT_FALSE(d_.empty());
  }
  void TearDown() override { RmRf(d_); }
  std::string d_;
};

// Someone else's AK_HOME (or VM directory): vm_start refuses it before it
// creates a socket there.
TEST_F(ConfineFilesTest, PlantedVmDirectoryIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "chown to another uid needs root";
  std::string home = d_ + "/home";
  ASSERT_EQ(0, mkdir(home.c_str(), 0777));
  ASSERT_EQ(0, chown(home.c_str(), 65534, 65534));
  struct vm_config cfg = {};
  cfg.dir = home.c_str();
  cfg.kernel = "/nonexistent";
  cfg.initrd = "/nonexistent";
  struct vm* vm = nullptr;
  struct ak_error err = {};
  EXPECT_EQ(-EPERM, vm_start(&cfg, &vm, &err));
  EXPECT_EQ(vm, nullptr);
  EXPECT_NE(std::string(err.msg).find("uid 65534"), std::string::npos) << err.msg;
  struct stat st;
  EXPECT_NE(0, lstat((home + "/vsock.sock").c_str(), &st));
  EXPECT_NE(0, lstat((home + "/vhost.sock").c_str(), &st));
}

// A receipts directory planted by another uid: no key is written into it.
TEST_F(ConfineFilesTest, PlantedReceiptsDirectoryIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "chown to another uid needs root";
  std::string dir = d_ + "/receipts";
  ASSERT_EQ(0, mkdir(dir.c_str(), 0777));
  ASSERT_EQ(0, chown(dir.c_str(), 65534, 65534));
  std::string key = dir + "/signing-key.der";
  struct crypto_ed25519_key* k = nullptr;
  char* error = nullptr;
  EXPECT_EQ(-EPERM, receipt_load_or_create_signing_key(key.c_str(), &k, &error));
  ASSERT_NE(error, nullptr);
  EXPECT_NE(std::string(error).find("uid 65534"), std::string::npos) << error;
  free(error);
  struct stat st;
  EXPECT_NE(0, lstat(key.c_str(), &st));
}

// A key someone else could have written, or a link to one: refused, not
// signed with.
TEST_F(ConfineFilesTest, PlantedOrLinkedKeyIsRefused) {
  std::string key = d_ + "/signing-key.der";
  struct crypto_ed25519_key* k = nullptr;
  char* error = nullptr;
  ASSERT_EQ(0, receipt_load_or_create_signing_key(key.c_str(), &k, &error)) << (error ? error : "");
  crypto_ed25519_key_free(k);
  k = nullptr;
  ASSERT_EQ(0, symlink(key.c_str(), (d_ + "/link.der").c_str()));
  EXPECT_EQ(-ELOOP, receipt_load_or_create_signing_key((d_ + "/link.der").c_str(), &k, &error));
  ASSERT_NE(error, nullptr);
  EXPECT_NE(std::string(error).find("symbolic link"), std::string::npos) << error;
  free(error);
  error = nullptr;
  ASSERT_EQ(0, chmod(key.c_str(), 0666));
  EXPECT_EQ(-EPERM, receipt_load_or_create_signing_key(key.c_str(), &k, &error));
  ASSERT_NE(error, nullptr);
  EXPECT_NE(std::string(error).find("chmod 600"), std::string::npos) << error;
  free(error);
  error = nullptr;
  if (geteuid() == 0) {
    ASSERT_EQ(0, chmod(key.c_str(), 0600));
    ASSERT_EQ(0, chown(key.c_str(), 65534, 65534));
    EXPECT_EQ(-EPERM, receipt_load_or_create_signing_key(key.c_str(), &k, &error));
    free(error);
  }
}

// A new key and its directory under a umask of 0: 0700 and 0600.
TEST_F(ConfineFilesTest, NewKeyAndDirectoryArePrivateUnderUmaskZero) {
  std::string key = d_ + "/a/receipts/signing-key.der";
  mode_t old = umask(0);
  struct crypto_ed25519_key* k = nullptr;
  char* error = nullptr;
  int r = receipt_load_or_create_signing_key(key.c_str(), &k, &error);
  umask(old);
  ASSERT_EQ(0, r) << (error ? error : "");
  crypto_ed25519_key_free(k);
  struct stat st;
  ASSERT_EQ(0, stat((d_ + "/a/receipts").c_str(), &st));
  EXPECT_EQ(0700u, st.st_mode & 07777);
  ASSERT_EQ(0, stat(key.c_str(), &st));
  EXPECT_EQ(0600u, st.st_mode & 07777);
}

}  // namespace
