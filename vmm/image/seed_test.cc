// Image seeds (image.h, seed_manifest.h) without the network: a made-up
// kernel in one store, exported with the base image built from it and
// installed into fresh stores while $AK_DEBIAN_MIRROR points at a dead
// loopback port; a damaged seed refused with nothing stored; no seed at all
// fails naming the seed flags; the manifest parser's refusals.
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "vmm/testing/fake_kernel.h"
#include "vmm/testing/vm_fixture.h"

extern "C" {
#include "lib/base/fs.h"
#include "lib/base/proc.h"
#include "vmm/image/image.h"
#include "vmm/image/seed_manifest.h"
}

namespace {

const char kEntry[] = "linux-image-9.9.9-test_9.9.9-1";
const char kRelease[] = "9.9.9-test";

void WriteFile(const std::string& path, const std::string& data) { akvm::WriteFileMkdir(path, data); }

std::string ReadFile(const std::string& path) { return akvm::ReadWholeFile(path); }

// Entries in a directory (-1: cannot open it).
int Entries(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return -1;
  int n = 0;
  while (struct dirent* de = readdir(d))
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) n++;
  closedir(d);
  return n;
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

void FakeKernel(const std::string& store) { akvm::FakeKernel(store, kEntry, kRelease); }

struct image_store* Open(const std::string& dir) {
  struct image_store* s = nullptr;
  struct ak_error err = {};
  EXPECT_EQ(image_store_open(dir.c_str(), &s, &err), 0) << err.msg;
  if (s) {
    EXPECT_EQ(image_store_set_guest_binary(s, "guest/ak-guest", &err), 0) << err.msg;
  }
  return s;
}

// A loopback port where nothing listens (bound, never listening: refused).
class DeadMirror {
 public:
  DeadMirror() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(fd_, (struct sockaddr*)&a, sizeof(a)) == 0 && getsockname(fd_, (struct sockaddr*)&a, &len) == 0)
      url_ = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/debian";
    if (!url_.empty()) setenv("AK_DEBIAN_MIRROR", url_.c_str(), 1);
  }
  ~DeadMirror() {
    unsetenv("AK_DEBIAN_MIRROR");
    close(fd_);
  }
  const std::string& url() const { return url_; }

 private:
  int fd_ = -1;
  std::string url_;
};

class SeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char bb[4096];
    if (proc_which("busybox", bb, sizeof(bb)) < 0) GTEST_SKIP() << "busybox not installed (tools/deps.sh)";
    dir_ = akvm::MakeTempDir("akseed");
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override {
    if (!dir_.empty()) akvm::RemoveDir(dir_);
  }
  // Exports a seed from a store with the made-up kernel: its base hash.
  std::string Export(const std::string& seed) {
    FakeKernel(dir_ + "/src");
    struct image_store* s = Open(dir_ + "/src");
    struct ak_error err = {};
    EXPECT_EQ(image_seed_export(s, seed.c_str(), nullptr, &err), 0) << err.msg;
    struct image_info base = {};
    EXPECT_EQ(image_lookup(s, IMAGE_BASE, &base, &err), 0) << err.msg;
    image_store_free(s);
    return base.hash;
  }
  std::string dir_;
};

TEST_F(SeedTest, ExportedSeedBootsAFreshStoreWithTheMirrorDead) {
  std::string seed = dir_ + "/seed";
  std::string base_hash = Export(seed);
  ASSERT_EQ(base_hash.size(), 64u);
  std::string manifest = ReadFile(seed + "/" SEED_MANIFEST_FILE);
  EXPECT_EQ(manifest.rfind(SEED_MANIFEST_MAGIC "\nkernel " + std::string(kEntry) + "\nbase " + base_hash + "\n", 0),
            0u)
      << manifest;
  EXPECT_NE(manifest.find("/vmlinuz\n"), std::string::npos) << manifest;
  EXPECT_NE(manifest.find("images/" + base_hash + "/initrd.cpio\n"), std::string::npos) << manifest;

  DeadMirror mirror;
  ASSERT_FALSE(mirror.url().empty());
  struct image_store* s = Open(dir_ + "/node");
  struct ak_error err = {};
  ASSERT_EQ(image_seed_install(s, seed.c_str(), nullptr, &err), 0) << err.msg;
  ASSERT_EQ(image_seed_install(s, seed.c_str(), nullptr, &err), 0) << "twice: " << err.msg;
  struct image_boot boot = {};
  ASSERT_EQ(image_resolve_boot(s, IMAGE_BASE, nullptr, &boot, &err), 0) << err.msg;
  EXPECT_EQ(std::string(boot.hash), base_hash) << "the seeded base is used, not rebuilt";
  EXPECT_EQ(ReadFile(boot.kernel), std::string(4096, 'K'));
  EXPECT_EQ(ReadFile(boot.initrd), ReadFile(dir_ + "/src/" + base_hash + "/initrd.cpio"));
  image_store_free(s);
}

TEST_F(SeedTest, DamagedSeedIsRefusedAndNothingIsStored) {
  std::string seed = dir_ + "/seed";
  Export(seed);
  std::string vmlinuz = seed + "/kernel/" + kEntry + "/vmlinuz";
  std::string bytes = ReadFile(vmlinuz);
  ASSERT_GT(bytes.size(), 100u) << vmlinuz << ": no exported kernel";
  bytes[100] ^= 1;
  WriteFile(vmlinuz, bytes);

  DeadMirror mirror;
  struct image_store* s = Open(dir_ + "/node");
  struct ak_error err = {};
  EXPECT_EQ(image_seed_install(s, seed.c_str(), nullptr, &err), -EBADMSG);
  EXPECT_NE(strstr(err.msg, vmlinuz.c_str()), nullptr) << err.msg;
  EXPECT_NE(strstr(err.msg, "damaged"), nullptr) << err.msg;
  EXPECT_FALSE(Exists(dir_ + "/node/kernel/" + kEntry));
  EXPECT_FALSE(Exists(dir_ + "/node/kernel/current"));
  EXPECT_EQ(Entries(dir_ + "/node/tmp"), 0) << "no temporary build dir left";
  image_store_free(s);

  // A file the manifest lists but the seed lacks.
  ASSERT_EQ(unlink(vmlinuz.c_str()), 0);
  s = Open(dir_ + "/node2");
  EXPECT_EQ(image_seed_install(s, seed.c_str(), nullptr, &err), -ENOENT);
  EXPECT_NE(strstr(err.msg, vmlinuz.c_str()), nullptr) << err.msg;
  EXPECT_FALSE(Exists(dir_ + "/node2/kernel/" + kEntry));
  image_store_free(s);

  // No manifest: not a seed.
  s = Open(dir_ + "/node3");
  EXPECT_EQ(image_seed_install(s, dir_.c_str(), nullptr, &err), -ENOENT);
  EXPECT_NE(strstr(err.msg, "ak image export-seed"), nullptr) << err.msg;
  image_store_free(s);
}

TEST_F(SeedTest, ExportRefusesANonEmptyDirectory) {
  std::string seed = dir_ + "/seed";
  WriteFile(seed + "/x", "x");
  FakeKernel(dir_ + "/src");
  struct image_store* s = Open(dir_ + "/src");
  struct ak_error err = {};
  EXPECT_EQ(image_seed_export(s, seed.c_str(), nullptr, &err), -EEXIST);
  EXPECT_NE(strstr(err.msg, "not empty"), nullptr) << err.msg;
  image_store_free(s);
}

// Without a seed an air-gapped node cannot get its kernel: the error says so
// and names both ways to seed it. Needs apt-get (it asks the dead mirror).
TEST_F(SeedTest, NoSeedAirGappedErrorNamesTheSeedFlags) {
  char apt[4096];
  if (proc_which("apt-get", apt, sizeof(apt)) < 0) GTEST_SKIP() << "apt-get not installed";
  DeadMirror mirror;
  ASSERT_FALSE(mirror.url().empty());
  struct image_store* s = Open(dir_ + "/node");
  struct ak_error err = {};
  struct image_kernel k;
  EXPECT_EQ(image_kernel_get(s, nullptr, &k, &err), IMAGE_KERNEL_UNAVAILABLE) << err.msg;
  EXPECT_EQ(strncmp(err.msg, IMAGE_KERNEL_UNAVAILABLE_MSG, strlen(IMAGE_KERNEL_UNAVAILABLE_MSG)), 0) << err.msg;
  EXPECT_NE(strstr(err.msg, "--image-seed DIR"), nullptr) << err.msg;
  EXPECT_NE(strstr(err.msg, "ak image seed --from DIR"), nullptr) << err.msg;
  EXPECT_NE(strstr(err.msg, mirror.url().c_str()), nullptr) << "the mirror it tried: " << err.msg;
  EXPECT_FALSE(Exists(dir_ + "/node/kernel/current"));
  image_store_free(s);
}

std::string Parse(const std::string& text) {
  struct seed_manifest* m = nullptr;
  struct ak_error err = {};
  int r = seed_manifest_parse(text.data(), text.size(), &m, &err);
  seed_manifest_free(m);
  return r == 0 ? "ok" : err.msg;
}

TEST(SeedManifest, ParsesAndRefuses) {
  const std::string h(64, 'a');
  const std::string head = "ak-image-seed 1\nkernel k1\nbase " + h + "\n";
  EXPECT_EQ(Parse(head + "file " + h + " 3 644 kernel/k1/vmlinuz\nfile " + h + " 0 600 images/" + h + "/x\n"), "ok");
  EXPECT_NE(Parse(head + "file " + h + " 3 644 kernel/k1/../../etc/passwd\n").find("not under"), std::string::npos);
  EXPECT_NE(Parse(head + "file " + h + " 3 644 /kernel/k1/a\n").find("not under"), std::string::npos);
  EXPECT_NE(Parse(head + "file " + h + " 3 644 kernel/k2/a\n").find("not under"), std::string::npos);
  EXPECT_NE(Parse(head + "file " + h + " 3 644 kernel/k1//a\n").find("not under"), std::string::npos);
  EXPECT_NE(Parse(head + "file " + h + " 3 4755 kernel/k1/a\n").find("bad mode"), std::string::npos);
  EXPECT_NE(Parse(head + "file " + std::string(64, 'A') + " 3 644 kernel/k1/a\n").find("sha256"),
            std::string::npos);
  EXPECT_NE(Parse(head + "file " + h + " -3 644 kernel/k1/a\n").find("bad size"), std::string::npos);
  EXPECT_NE(Parse(head + "file " + h + " 3 644 kernel/k1/a").find("unterminated"), std::string::npos);
  EXPECT_NE(Parse(head + "file " + h + " 3 644 kernel/k1/a\nfile " + h + " 3 644 kernel/k1/a\n").find("twice"),
            std::string::npos);
  EXPECT_NE(Parse("ak-image-seed 2\nkernel k1\n").find("line 1"), std::string::npos);
  EXPECT_NE(Parse("ak-image-seed 1\nkernel ..\n").find("line 2"), std::string::npos);
  EXPECT_NE(Parse("ak-image-seed 1\nkernel current\n").find("line 2"), std::string::npos);
  EXPECT_NE(Parse(head).find("no files"), std::string::npos);
  EXPECT_NE(Parse(head + "link x kernel/k1/a\n").find("unknown entry"), std::string::npos);
  EXPECT_NE(Parse(std::string("ak-image-seed 1\n\0\n", 19)).find("NUL"), std::string::npos);
}

}  // namespace
