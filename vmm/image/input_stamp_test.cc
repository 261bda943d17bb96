// The base image's stat stamp (input_stamp.h, image_base.c) without the
// network: a made-up kernel, the machine's busybox and a copy of ak-guest
// the test changes. Evidence is the number of files hashed
// (image_hash_file_count) and the image each call resolves to, not time.
// Waits of INPUT_STAMP_RACY_NS let a stamp be trusted (a file changed less
// than that before its stamp never is).
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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
#include "vmm/image/image_impl.h"
#include "vmm/image/input_stamp.h"
}

namespace {

const char kEntry[] = "linux-image-9.9.9-stamp_9.9.9-1";
const char kRelease[] = "9.9.9-stamp";

void WriteFile(const std::string& path, const std::string& data) { akvm::WriteFileMkdir(path, data); }

std::string ReadFile(const std::string& path) { return akvm::ReadWholeFile(path); }

void FakeKernel(const std::string& store) { akvm::FakeKernel(store, kEntry, kRelease); }

void WaitPastRacy() {
  struct timespec ts = {(time_t)(INPUT_STAMP_RACY_NS / 1000000000u), 200 * 1000 * 1000};
  nanosleep(&ts, nullptr);
}

class StampTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char bb[PATH_MAX];
    if (proc_which("busybox", bb, sizeof(bb)) < 0) GTEST_SKIP() << "busybox not installed (tools/deps.sh)";
    dir_ = akvm::MakeTempDir("akstamp");
    ASSERT_FALSE(dir_.empty());
    store_dir_ = dir_ + "/store";
    FakeKernel(store_dir_);
    guest_ = dir_ + "/bin/ak-guest";
    WriteFile(guest_, ReadFile("guest/ak-guest"));
    ASSERT_EQ(chmod(guest_.c_str(), 0755), 0);
    struct ak_error err = {};
    ASSERT_EQ(image_store_open(store_dir_.c_str(), &s_, &err), 0) << err.msg;
    ASSERT_EQ(image_store_set_guest_binary(s_, guest_.c_str(), &err), 0) << err.msg;
  }
  void TearDown() override {
    image_store_free(s_);
    if (!dir_.empty()) akvm::RemoveDir(dir_);
  }

  // Resolves base: its hash; *hashed = files hashed meanwhile.
  std::string Base(uint64_t* hashed) {
    struct image_info info;
    struct ak_error err = {};
    uint64_t before = image_hash_file_count();
    int r = image_build_base(s_, nullptr, &info, &err);
    *hashed = image_hash_file_count() - before;
    EXPECT_EQ(r, 0) << err.msg;
    return r == 0 ? std::string(info.hash) : std::string();
  }
  std::string StampPath() const { return store_dir_ + "/stamps/base"; }
  std::string NamesBase() const { return ReadFile(store_dir_ + "/names/base"); }

  std::string dir_, store_dir_, guest_;
  struct image_store* s_ = nullptr;
};

// A stamp hit hashes nothing, resolves the same image and writes no name.
TEST_F(StampTest, HitHashesNothing) {
  WaitPastRacy();  // the copied ak-guest is older than the racy window
  uint64_t hashed;
  std::string h1 = Base(&hashed);
  ASSERT_FALSE(h1.empty());
  EXPECT_GE(hashed, 2u);  // busybox, ak-guest (+ a dynamic ak-guest's libraries)
  struct stat names1, names2;
  ASSERT_EQ(stat((store_dir_ + "/names").c_str(), &names1), 0);
  std::string h2 = Base(&hashed);
  EXPECT_EQ(hashed, 0u);
  EXPECT_EQ(h2, h1);
  ASSERT_EQ(stat((store_dir_ + "/names").c_str(), &names2), 0);
  EXPECT_EQ(names1.st_mtim.tv_sec, names2.st_mtim.tv_sec);
  EXPECT_EQ(names1.st_mtim.tv_nsec, names2.st_mtim.tv_nsec);
  EXPECT_EQ(NamesBase(), h1 + "\n");
}

// Each kind of change to an input is seen (after the racy window, so the
// stat comparison alone decides): a touch re-hashes to the same image; a
// replacement by rename with the old size and mtime, and a rewrite in place
// with size and times put back, re-hash to a new image that names/base
// then points at.
TEST_F(StampTest, EveryChangeToAnInputIsSeen) {
  WaitPastRacy();
  uint64_t hashed;
  std::string h1 = Base(&hashed);
  ASSERT_FALSE(h1.empty());
  ASSERT_EQ(Base(&hashed), h1);
  ASSERT_EQ(hashed, 0u);

  // Touch: same bytes, new mtime.
  ASSERT_EQ(utimensat(AT_FDCWD, guest_.c_str(), nullptr, 0), 0);
  WaitPastRacy();
  EXPECT_EQ(Base(&hashed), h1);
  EXPECT_GE(hashed, 2u);
  EXPECT_EQ(Base(&hashed), h1);
  EXPECT_EQ(hashed, 0u);

  // Replaced by rename: same size, same mtime, other bytes, new inode.
  struct stat old;
  ASSERT_EQ(stat(guest_.c_str(), &old), 0);
  std::string bytes = ReadFile(guest_);
  bytes[bytes.size() - 1] ^= 0x5a;
  std::string next = dir_ + "/bin/ak-guest.next";
  WriteFile(next, bytes);
  ASSERT_EQ(chmod(next.c_str(), 0755), 0);
  struct timespec times[2] = {old.st_atim, old.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, next.c_str(), times, 0), 0);
  ASSERT_EQ(rename(next.c_str(), guest_.c_str()), 0);
  WaitPastRacy();
  std::string h2 = Base(&hashed);
  EXPECT_GE(hashed, 2u);
  ASSERT_FALSE(h2.empty());
  EXPECT_NE(h2, h1);
  EXPECT_EQ(NamesBase(), h2 + "\n");
  EXPECT_EQ(ReadFile(store_dir_ + "/" + h2 + "/initrd.cpio").find(bytes.substr(bytes.size() - 64)) != std::string::npos,
            true);
  EXPECT_EQ(Base(&hashed), h2);
  EXPECT_EQ(hashed, 0u);

  // Rewritten in place: same inode, size and mtime; only ctime moves.
  ASSERT_EQ(stat(guest_.c_str(), &old), 0);
  int fd = open(guest_.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  char c = bytes[bytes.size() - 2] ^ 0x33;
  ASSERT_EQ(pwrite(fd, &c, 1, (off_t)bytes.size() - 2), 1);
  close(fd);
  struct timespec back[2] = {old.st_atim, old.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, guest_.c_str(), back, 0), 0);
  struct stat now;
  ASSERT_EQ(stat(guest_.c_str(), &now), 0);
  ASSERT_EQ(now.st_ino, old.st_ino);
  ASSERT_EQ(now.st_size, old.st_size);
  ASSERT_EQ(now.st_mtim.tv_nsec, old.st_mtim.tv_nsec);
  WaitPastRacy();
  std::string h3 = Base(&hashed);
  EXPECT_GE(hashed, 2u);
  EXPECT_NE(h3, h2);
  EXPECT_NE(h3, h1);
  EXPECT_EQ(NamesBase(), h3 + "\n");
}

// A stamp written while an input was racily fresh is not trusted.
TEST_F(StampTest, RacyInputIsHashedAgain) {
  ASSERT_EQ(utimensat(AT_FDCWD, guest_.c_str(), nullptr, 0), 0);
  uint64_t hashed;
  std::string h1 = Base(&hashed);
  ASSERT_FALSE(h1.empty());
  struct input_stamp* st = new input_stamp;
  std::string text = ReadFile(StampPath());
  struct ak_error err = {};
  ASSERT_EQ(input_stamp_parse(text.data(), text.size(), st, &err), 0) << err.msg;
  struct stat g;
  ASSERT_EQ(stat(guest_.c_str(), &g), 0);
  uint64_t ctime_ns = (uint64_t)g.st_ctim.tv_sec * 1000000000u + (uint64_t)g.st_ctim.tv_nsec;
  bool racy = st->recorded_ns - ctime_ns < INPUT_STAMP_RACY_NS;
  delete st;
  if (!racy) GTEST_SKIP() << "the machine took longer than the racy window between touch and build";
  EXPECT_EQ(Base(&hashed), h1);
  EXPECT_GE(hashed, 2u);
}

// Damaged or foreign stamps are ignored: a full hash, the right image, and
// a good stamp written in their place.
TEST_F(StampTest, CorruptStampIsIgnored) {
  WaitPastRacy();
  uint64_t hashed;
  std::string h1 = Base(&hashed);
  ASSERT_FALSE(h1.empty());
  std::string good = ReadFile(StampPath());
  ASSERT_FALSE(good.empty());
  std::string other_hash(64, 'e');
  std::string pointing_elsewhere = good;
  pointing_elsewhere.replace(pointing_elsewhere.find("hash ") + 5, 64, other_hash);
  std::string truncated = good.substr(0, good.size() - 1);
  std::string nul = good;
  nul[nul.find("file ")] = '\0';
  for (const std::string& bad : {std::string("garbage\n"), truncated, nul, pointing_elsewhere,
                                 std::string(INPUT_STAMP_MAX_BYTES + 10, 'x'), std::string()}) {
    WriteFile(StampPath(), bad);
    EXPECT_EQ(Base(&hashed), h1);
    EXPECT_GE(hashed, 2u);
    EXPECT_EQ(ReadFile(StampPath()).substr(0, 17), "ak-input-stamp 1\n");
  }
  EXPECT_EQ(Base(&hashed), h1);
  EXPECT_EQ(hashed, 0u);
}

// With a dynamic ak-guest (sanitizer builds) ldd decides the libraries: a
// library search path set in the environment, or an environment other than
// the stamp's, is never a hit.
TEST_F(StampTest, DynamicGuestWithAnotherEnvironmentHashesAgain) {
  WaitPastRacy();
  uint64_t hashed;
  std::string h1 = Base(&hashed);
  ASSERT_FALSE(h1.empty());
  if (ReadFile(StampPath()).find("\nfile lib ") == std::string::npos)
    GTEST_SKIP() << "ak-guest is static in this build (run under --config=asan for the dynamic one)";
  ASSERT_EQ(Base(&hashed), h1);
  ASSERT_EQ(hashed, 0u);
  setenv("LD_LIBRARY_PATH", (dir_ + "/no-such-dir").c_str(), 1);
  EXPECT_EQ(Base(&hashed), h1);
  EXPECT_GE(hashed, 2u);
  EXPECT_EQ(Base(&hashed), h1);
  EXPECT_GE(hashed, 2u);
  unsetenv("LD_LIBRARY_PATH");
  EXPECT_EQ(Base(&hashed), h1);  // the stamp's environment was the other one
  EXPECT_GE(hashed, 2u);
  EXPECT_EQ(Base(&hashed), h1);
  EXPECT_EQ(hashed, 0u);
}

// The parser: what it writes it reads back; the refusals name the line.
TEST(InputStampParse, RoundTripAndRefusals) {
  const std::string good =
      "ak-input-stamp 1\nformat ak-base-v3\nkernel linux-image-6.1_6.1-2\nenv " + std::string(64, 'a') +
      "\nhash " + std::string(64, 'b') + "\nrecorded 5000000000\nfile busybox 1 2 3 4 5 /usr/bin/busybox\n"
      "file guest 0 10 20 30 40 /a dir/ak-guest\n";
  struct input_stamp* st = new input_stamp;
  struct ak_error err = {};
  ASSERT_EQ(input_stamp_parse(good.data(), good.size(), st, &err), 0) << err.msg;
  EXPECT_EQ(st->n_files, 2u);
  EXPECT_STREQ(st->files[1].path, "/a dir/ak-guest");
  EXPECT_EQ(st->files[1].ctime_ns, 40u);
  EXPECT_EQ(st->recorded_ns, 5000000000u);
  char out[INPUT_STAMP_MAX_BYTES + 1];
  ASSERT_EQ(input_stamp_format(st, out, sizeof(out)), (int)good.size());
  EXPECT_EQ(std::string(out), good);

  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  for (const std::string& bad :
       {good.substr(0, good.size() - 1), replace("ak-input-stamp 1", "ak-input-stamp 2"),
        replace("recorded 5000000000", "recorded 05000000000"), replace("recorded 5000000000", "recorded -1"),
        replace("recorded 5000000000", "recorded 99999999999999999999"), replace(" /usr/bin/busybox", " usr/bin"),
        replace("file busybox 1", "file Busybox 1"), replace("file busybox 1 2", "file busybox 1  2"),
        replace("env a", "env A"), replace("kernel linux", "kernel li nux"),
        replace("format ak-base-v3\n", ""), good + "extra line\n",
        good.substr(0, good.find("file busybox"))}) {
    struct ak_error e = {};
    EXPECT_EQ(input_stamp_parse(bad.data(), bad.size(), st, &e), -EINVAL) << bad;
    EXPECT_NE(e.msg[0], 0) << bad;
  }
  std::string many = good;
  for (int i = 0; i < INPUT_STAMP_MAX_FILES; i++) many += "file lib 1 2 3 4 5 /lib/x.so\n";
  EXPECT_EQ(input_stamp_parse(many.data(), many.size(), st, &err), -E2BIG);
  std::string huge = good + "file lib 1 2 3 4 5 /" + std::string(INPUT_STAMP_MAX_BYTES, 'p') + "\n";
  EXPECT_EQ(input_stamp_parse(huge.data(), huge.size(), st, &err), -E2BIG);
  delete st;
}

}  // namespace
