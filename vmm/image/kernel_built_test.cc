// A kernel with everything built in (image_kernel_install, bzimage.h)
// without building one: a made-up bzImage with a real boot header, the
// modules.builtin of a kernel that has the base image's drivers built in.
// Installing it makes it current and content-addressed; the base image built
// for it carries no modules and loads none; a missing driver, a file that is
// not a bzImage and a damaged modules.builtin are refused with nothing
// stored; Debian's kernel comes back with image_kernel_use_debian. The boot
// header parser's refusals.
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "vmm/testing/fake_kernel.h"
#include "vmm/testing/vm_fixture.h"

extern "C" {
#include "lib/base/io.h"
#include "lib/base/proc.h"
#include "vmm/image/bzimage.h"
#include "vmm/image/image.h"
}

namespace {

const char kDebianEntry[] = "linux-image-9.9.9-test_9.9.9-1";
const char kBuiltin[] =
    "kernel/drivers/virtio/virtio.ko\n"
    "kernel/drivers/virtio/virtio_mmio.ko\n"
    "kernel/drivers/block/virtio_blk.ko\n"
    "kernel/net/vmw_vsock/vsock.ko\n"
    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko\n"
    "kernel/drivers/net/virtio_net.ko\n"
    "kernel/drivers/virtio/virtio_balloon.ko\n";

// A bzImage's first bytes as the boot protocol lays them out, version
// string at 0x3000, then filler.
std::string BzImage(const std::string& version, uint16_t protocol = 0x20f, size_t size = 0x5000) {
  std::string b(std::max(size, (size_t)0x3000 + version.size() + 1), '\0');
  b[0x1FE] = 0x55;
  b[0x1FF] = (char)0xAA;
  memcpy(&b[0x202], "HdrS", 4);
  b[0x206] = (char)(protocol & 0xff);
  b[0x207] = (char)(protocol >> 8);
  uint16_t kv = 0x3000 - 0x200;
  b[0x20E] = (char)(kv & 0xff);
  b[0x20F] = (char)(kv >> 8);
  memcpy(&b[0x3000], version.c_str(), version.size() + 1);
  b.resize(size);
  return b;
}

std::string ReadAll(const std::string& path) {
  char* data = nullptr;
  size_t len = 0;
  if (ak_read_file(path.c_str(), 64 << 20, &data, &len) < 0) return "";
  std::string s(data, len);
  free(data);
  return s;
}

TEST(Bzimage, ReadsTheReleaseFromTheBootHeader) {
  char rel[BZIMAGE_RELEASE_MAX];
  struct ak_error err = {};
  std::string img = BzImage("6.1.192 (ak@ak) #1 SMP Thu Jan  1 00:00:00 UTC 1970");
  ASSERT_EQ(bzimage_release(img.data(), img.size(), rel, &err), 0) << err.msg;
  EXPECT_STREQ(rel, "6.1.192");
  img = BzImage("6.1.0-ak+");
  ASSERT_EQ(bzimage_release(img.data(), img.size(), rel, &err), 0) << err.msg;
  EXPECT_STREQ(rel, "6.1.0-ak+");
}

TEST(Bzimage, RefusesWhatIsNotABzImage) {
  char rel[BZIMAGE_RELEASE_MAX];
  struct ak_error err = {};
  std::string good = BzImage("6.1.192 (x)");
  EXPECT_EQ(bzimage_release(good.data(), 0x20F, rel, &err), -EINVAL);
  EXPECT_NE(std::string(err.msg).find("too short"), std::string::npos) << err.msg;
  std::string elf = good;
  memcpy(&elf[0x202], "ELF!", 4);
  EXPECT_EQ(bzimage_release(elf.data(), elf.size(), rel, &err), -EINVAL);
  EXPECT_NE(std::string(err.msg).find("HdrS"), std::string::npos) << err.msg;
  std::string old = BzImage("6.1.192", 0x1ff);
  EXPECT_EQ(bzimage_release(old.data(), old.size(), rel, &err), -EINVAL);
  // The offset beyond what was read, a string without its end, a release
  // with a slash, an empty one, one too long.
  EXPECT_EQ(bzimage_release(good.data(), 0x3000, rel, &err), -EINVAL);
  EXPECT_NE(std::string(err.msg).find("beyond"), std::string::npos) << err.msg;
  std::string endless = BzImage(std::string(100, 'x'));
  endless.resize(0x3000 + 50);
  EXPECT_EQ(bzimage_release(endless.data(), endless.size(), rel, &err), -EINVAL);
  std::string slash = BzImage("../../etc (x)");
  EXPECT_EQ(bzimage_release(slash.data(), slash.size(), rel, &err), -EINVAL);
  std::string empty = BzImage(" 6.1");
  EXPECT_EQ(bzimage_release(empty.data(), empty.size(), rel, &err), -EINVAL);
  std::string dotdot = BzImage("..");
  EXPECT_EQ(bzimage_release(dotdot.data(), dotdot.size(), rel, &err), -EINVAL);
  std::string longer = BzImage(std::string(BZIMAGE_RELEASE_MAX, '1'));
  EXPECT_EQ(bzimage_release(longer.data(), longer.size(), rel, &err), -EINVAL);
}

class KernelBuiltTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char bb[4096];
    if (proc_which("busybox", bb, sizeof(bb)) < 0) GTEST_SKIP() << "busybox not installed (tools/deps.sh)";
    dir_ = akvm::MakeTempDir("akkbuilt");
    ASSERT_FALSE(dir_.empty());
    store_ = dir_ + "/store";
    struct ak_error err = {};
    ASSERT_EQ(image_store_open(store_.c_str(), &s_, &err), 0) << err.msg;
    ASSERT_EQ(image_store_set_guest_binary(s_, "guest/ak-guest", &err), 0) << err.msg;
    akvm::WriteFileMkdir(dir_ + "/build/bzImage", BzImage("6.1.192 (ak@ak) #1 SMP"));
    akvm::WriteFileMkdir(dir_ + "/build/modules.builtin", kBuiltin);
  }
  void TearDown() override {
    image_store_free(s_);
    if (!dir_.empty()) akvm::RemoveDir(dir_);
  }
  std::string Current() {
    char buf[256];
    ssize_t n = readlink((store_ + "/kernel/current").c_str(), buf, sizeof(buf) - 1);
    return n > 0 ? std::string(buf, (size_t)n) : "";
  }
  int Install(std::string* entry, struct ak_error* err) {
    char e[IMAGE_KERNEL_ENTRY_MAX] = "";
    int r = image_kernel_install(s_, (dir_ + "/build/bzImage").c_str(), (dir_ + "/build/modules.builtin").c_str(),
                                 nullptr, e, err);
    *entry = e;
    return r;
  }
  std::string dir_, store_;
  struct image_store* s_ = nullptr;
};

TEST_F(KernelBuiltTest, InstalledKernelIsCurrentAndBaseCarriesNoModules) {
  struct image_kernel none = {};
  EXPECT_EQ(image_kernel_current(s_, &none), -ENOENT) << "an empty store has no kernel, and nothing is fetched";
  akvm::FakeKernel(store_, kDebianEntry, "9.9.9-test");
  struct ak_error err = {};
  struct image_kernel debian = {};
  ASSERT_EQ(image_kernel_current(s_, &debian), 0);
  EXPECT_FALSE(debian.ak_built) << "Debian's kernel counts at its own cost (capacity.h)";
  struct image_info debian_base = {};
  ASSERT_EQ(image_build_base(s_, nullptr, &debian_base, &err), 0) << err.msg;

  std::string entry;
  ASSERT_EQ(Install(&entry, &err), 0) << err.msg;
  EXPECT_EQ(entry.rfind("ak-guest-6.1.192_", 0), 0u) << entry;
  EXPECT_EQ(entry.size(), strlen("ak-guest-6.1.192_") + 16) << entry;
  EXPECT_EQ(Current(), entry);
  struct image_kernel k = {};
  ASSERT_EQ(image_kernel_get(s_, nullptr, &k, &err), 0) << err.msg;
  EXPECT_STREQ(k.release, "6.1.192");
  EXPECT_STREQ(k.package, entry.c_str());
  // It cannot use microvm's ACPI tables: its VMs boot with acpi=off.
  EXPECT_TRUE(k.no_acpi);
  EXPECT_TRUE(k.ak_built);
  EXPECT_EQ(ReadAll(k.vmlinuz), ReadAll(dir_ + "/build/bzImage"));
  EXPECT_EQ(ReadAll(std::string(k.modules_dir) + "/modules.builtin"), kBuiltin);

  // A new base image for the new kernel: no modules in it, none loaded.
  struct image_info base = {};
  ASSERT_EQ(image_build_base(s_, nullptr, &base, &err), 0) << err.msg;
  EXPECT_NE(std::string(base.hash), std::string(debian_base.hash));
  EXPECT_EQ(std::string(base.kernel), entry);
  int status = -1;
  std::string out = dir_ + "/out";
  ASSERT_EQ(ak_mkdir_p(out.c_str(), 0755, false), 0);
  std::string cmd = "cd " + out + " && busybox cpio -id < " + base.dir + "/initrd.cpio 2>/dev/null; find . -name '*.ko'";
  const char* argv[] = {"sh", "-c", cmd.c_str(), nullptr};
  struct proc_opts o = {};
  o.argv = argv;
  o.timeout_ms = 30000;
  char* found = nullptr;
  ASSERT_EQ(proc_run(&o, &status, &found, &err), 0) << err.msg;
  EXPECT_EQ(status, 0);
  EXPECT_STREQ(found, "");
  free(found);
  EXPECT_EQ(ReadAll(out + "/etc/ak/modules"), "");
  EXPECT_EQ(ReadAll(out + "/etc/ak/modules-net"), "");
  EXPECT_FALSE(ReadAll(out + "/sbin/ak-guest").empty());
  struct image_boot boot = {};
  ASSERT_EQ(image_resolve_boot(s_, IMAGE_BASE, nullptr, &boot, &err), 0) << err.msg;
  EXPECT_TRUE(boot.no_acpi);
  EXPECT_EQ(std::string(boot.kernel), std::string(k.vmlinuz));

  // The same bytes again: the same entry, nothing new.
  std::string again;
  ASSERT_EQ(Install(&again, &err), 0) << err.msg;
  EXPECT_EQ(again, entry);

  // Back to Debian's: the base image it had is found again.
  ASSERT_EQ(image_kernel_use_debian(s_, nullptr, &k, &err), 0) << err.msg;
  EXPECT_EQ(Current(), kDebianEntry);
  EXPECT_FALSE(k.no_acpi);
  ASSERT_EQ(image_resolve_boot(s_, IMAGE_BASE, nullptr, &boot, &err), 0) << err.msg;
  EXPECT_FALSE(boot.no_acpi);
  struct image_info back = {};
  ASSERT_EQ(image_build_base(s_, nullptr, &back, &err), 0) << err.msg;
  EXPECT_STREQ(back.hash, debian_base.hash);
}

TEST_F(KernelBuiltTest, AnotherBuildIsAnotherEntry) {
  struct ak_error err = {};
  std::string first, second;
  ASSERT_EQ(Install(&first, &err), 0) << err.msg;
  akvm::WriteFileMkdir(dir_ + "/build/bzImage", BzImage("6.1.192 (ak@ak) #2 SMP"));
  ASSERT_EQ(Install(&second, &err), 0) << err.msg;
  EXPECT_NE(first, second);
  EXPECT_EQ(Current(), second);
}

TEST_F(KernelBuiltTest, KernelWithoutABaseDriverFailsTheBaseImageNamingIt) {
  akvm::WriteFileMkdir(dir_ + "/build/modules.builtin",
                       "kernel/drivers/virtio/virtio_mmio.ko\nkernel/drivers/block/virtio_blk.ko\n"
                       "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko\nkernel/drivers/net/virtio_net.ko\n");
  struct ak_error err = {};
  std::string entry;
  ASSERT_EQ(Install(&entry, &err), 0) << err.msg;
  struct image_info base = {};
  EXPECT_EQ(image_build_base(s_, nullptr, &base, &err), -ENOENT);
  EXPECT_NE(std::string(err.msg).find("virtio_balloon"), std::string::npos) << err.msg;
  EXPECT_NE(std::string(err.msg).find("ak-guest.config"), std::string::npos) << err.msg;
}

TEST_F(KernelBuiltTest, RefusesWhatIsNotAKernelWithNothingStored) {
  akvm::FakeKernel(store_, kDebianEntry, "9.9.9-test");
  struct ak_error err = {};
  std::string entry;
  akvm::WriteFileMkdir(dir_ + "/build/bzImage", std::string(0x5000, 'K'));
  EXPECT_EQ(Install(&entry, &err), -EINVAL);
  EXPECT_NE(std::string(err.msg).find(dir_ + "/build/bzImage"), std::string::npos) << err.msg;
  EXPECT_NE(std::string(err.msg).find("bzImage"), std::string::npos) << err.msg;

  akvm::WriteFileMkdir(dir_ + "/build/bzImage", BzImage("6.1.192 (ak@ak) #1 SMP"));
  akvm::WriteFileMkdir(dir_ + "/build/modules.builtin", "kernel/drivers/virtio/virtio.ko\nrm -rf /\n");
  EXPECT_EQ(Install(&entry, &err), -EINVAL);
  EXPECT_NE(std::string(err.msg).find("line 2"), std::string::npos) << err.msg;
  EXPECT_EQ(unlink((dir_ + "/build/modules.builtin").c_str()), 0);
  EXPECT_EQ(Install(&entry, &err), -ENOENT);
  EXPECT_NE(std::string(err.msg).find("modules.builtin"), std::string::npos) << err.msg;

  EXPECT_EQ(Current(), kDebianEntry);
  DIR* d = opendir((store_ + "/kernel").c_str());
  ASSERT_NE(d, nullptr);
  while (struct dirent* de = readdir(d)) EXPECT_NE(std::string(de->d_name).rfind("ak-guest-", 0), 0u) << de->d_name;
  closedir(d);
}

}  // namespace
