// image_snapshot_add without a VM: a raw disk file (data, then zeros a VMM
// wrote, then data) becomes a "rootfs" image with where it came from in its
// manifest, stored with holes where it held zeros; a taken name and a bad
// name are refused and leave the disk where it was.
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "vmm/testing/vm_fixture.h"

extern "C" {
#include "vmm/image/image.h"
}

namespace {

constexpr size_t kMiB = 1 << 20;

// 1 MiB of 'a', 6 MiB of zeros written (allocated), 1 MiB of 'b'.
bool WriteDisk(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  std::string a(kMiB, 'a'), z(kMiB, '\0'), b(kMiB, 'b');
  bool ok = write(fd, a.data(), a.size()) == (ssize_t)a.size();
  for (int i = 0; i < 6 && ok; i++) ok = write(fd, z.data(), z.size()) == (ssize_t)z.size();
  ok = ok && write(fd, b.data(), b.size()) == (ssize_t)b.size() && fsync(fd) == 0;
  close(fd);
  return ok;
}

TEST(ImageSnapshotTest, AddsASparseRootfsImageWithItsSource) {
  std::string dir = akvm::MakeTempDir("aksnimg");
  ASSERT_FALSE(dir.empty());
  struct image_store* s = nullptr;
  struct ak_error err = {};
  ASSERT_EQ(image_store_open((dir + "/store").c_str(), &s, &err), 0) << err.msg;
  std::string disk = dir + "/disk.raw";
  ASSERT_TRUE(WriteDisk(disk));
  struct stat st;
  ASSERT_EQ(stat(disk.c_str(), &st), 0);
  ASSERT_GE((uint64_t)st.st_blocks * 512, 8 * kMiB);  // the zeros take space as written

  struct image_info meta = {}, info = {};
  snprintf(meta.snapshot_sandbox, sizeof(meta.snapshot_sandbox), "box1");
  snprintf(meta.snapshot_image, sizeof(meta.snapshot_image), "py");
  snprintf(meta.snapshot_tenant, sizeof(meta.snapshot_tenant), "team-a");
  EXPECT_EQ(image_snapshot_add(s, "Bad Name", disk.c_str(), &meta, &info, &err), -EINVAL);
  ASSERT_EQ(image_snapshot_add(s, "snap1", disk.c_str(), &meta, &info, &err), 0) << err.msg;
  EXPECT_NE(access(disk.c_str(), F_OK), 0);  // moved
  EXPECT_LE(info.size_bytes, 3 * kMiB) << "the 6 MiB of zeros are holes";
  EXPECT_GE(info.size_bytes, 2 * kMiB);

  struct image_info got = {};
  ASSERT_EQ(image_lookup(s, "snap1", &got, &err), 0) << err.msg;
  EXPECT_STREQ(got.kind, "rootfs");
  EXPECT_STREQ(got.snapshot_sandbox, "box1");
  EXPECT_STREQ(got.snapshot_image, "py");
  EXPECT_STREQ(got.snapshot_tenant, "team-a");
  EXPECT_STREQ(got.source, "snapshot:box1");
  EXPECT_EQ(got.size_bytes, info.size_bytes);

  // The contents are the disk's, zeros included.
  std::string file = dir + "/store/" + got.hash + "/rootfs.ext4";
  FILE* f = fopen(file.c_str(), "rb");
  ASSERT_NE(f, nullptr) << file;
  std::string back(8 * kMiB, 'x');
  EXPECT_EQ(fread(&back[0], 1, back.size(), f), back.size());
  EXPECT_EQ(fgetc(f), EOF);
  fclose(f);
  EXPECT_EQ(back.substr(0, kMiB), std::string(kMiB, 'a'));
  EXPECT_EQ(back.substr(kMiB, 6 * kMiB), std::string(6 * kMiB, '\0'));
  EXPECT_EQ(back.substr(7 * kMiB), std::string(kMiB, 'b'));

  // A taken name: refused, the new disk left where it was.
  ASSERT_TRUE(WriteDisk(disk));
  EXPECT_EQ(image_snapshot_add(s, "snap1", disk.c_str(), &meta, &info, &err), -EEXIST);
  EXPECT_NE(std::string(err.msg).find("ak snapshot rm snap1"), std::string::npos) << err.msg;
  EXPECT_EQ(access(disk.c_str(), F_OK), 0);
  image_store_free(s);
  akvm::RemoveDir(dir);
}

// The disk sits in a directory the VMM's (jailed) user may write: a link it
// put there instead is refused, and the file linked to keeps its mode and
// is not copied into the store.
TEST(ImageSnapshotTest, RefusesALinkWhereTheDiskWas) {
  std::string dir = akvm::MakeTempDir("aksnimg");
  ASSERT_FALSE(dir.empty());
  struct image_store* s = nullptr;
  struct ak_error err = {};
  ASSERT_EQ(image_store_open((dir + "/store").c_str(), &s, &err), 0) << err.msg;
  std::string victim = dir + "/victim", disk = dir + "/disk.raw", hard = dir + "/hard.raw";
  ASSERT_TRUE(WriteDisk(victim));
  ASSERT_EQ(chmod(victim.c_str(), 0600), 0);
  ASSERT_EQ(symlink(victim.c_str(), disk.c_str()), 0);
  struct image_info meta = {}, info = {};
  snprintf(meta.snapshot_sandbox, sizeof(meta.snapshot_sandbox), "box1");
  EXPECT_LT(image_snapshot_add(s, "snap1", disk.c_str(), &meta, &info, &err), 0);
  ASSERT_EQ(link(victim.c_str(), hard.c_str()), 0);
  EXPECT_LT(image_snapshot_add(s, "snap2", hard.c_str(), &meta, &info, &err), 0);
  struct stat st;
  ASSERT_EQ(stat(victim.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_NE(image_lookup(s, "snap1", &info, nullptr), 0);
  EXPECT_NE(image_lookup(s, "snap2", &info, nullptr), 0);
  image_store_free(s);
  akvm::RemoveDir(dir);
}

}  // namespace
