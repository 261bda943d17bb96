// busybox_wget_patch on made-up bytes, and busybox_read_for_image on the
// machine's busybox: the packed copy's `wget -T 5` is refused, not a crash.
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

extern "C" {
#include "lib/base/io.h"
#include "lib/base/proc.h"
#include "vmm/image/busybox_wget.h"
}

namespace {

const char kOpts[] = "cqSO:o:P:Y:U:T:+t:n::";  // with its NUL

std::string Bin(int copies) {
  std::string b = "\x7f" "ELF junk ";
  for (int i = 0; i < copies; i++) b += std::string(kOpts, sizeof(kOpts)) + "-1:more junk ";
  return b;
}

TEST(BusyboxWget, RenamesTheTimeoutOptionOnce) {
  std::string b = Bin(1);
  size_t at = b.find("T:+");
  EXPECT_EQ(busybox_wget_patch(&b[0], b.size(), false), 1);
  EXPECT_EQ(b[at], '\001');
  EXPECT_EQ(b.substr(at + 1, 7), ":+t:n::");
  EXPECT_EQ(Bin(1).size(), b.size());
}

TEST(BusyboxWget, LeavesOtherBuildsAlone) {
  std::string b = Bin(1), orig = b;
  EXPECT_EQ(busybox_wget_patch(&b[0], b.size(), true), 0);  // its wget has -T
  EXPECT_EQ(b, orig);
  b = "no option string here";
  EXPECT_EQ(busybox_wget_patch(&b[0], b.size(), false), 0);
  b = std::string(kOpts, sizeof(kOpts) - 1);  // without the NUL: another string
  EXPECT_EQ(busybox_wget_patch(&b[0], b.size(), false), 0);
  b = Bin(2);
  orig = b;
  EXPECT_EQ(busybox_wget_patch(&b[0], b.size(), false), -EEXIST);
  EXPECT_EQ(b, orig);
}

// The machine's busybox as the base image packs it.
TEST(BusyboxWget, PackedCopyRefusesTimeoutOption) {
  char path[4096];
  if (proc_which("busybox", path, sizeof(path)) < 0) {
    GTEST_SKIP() << "no busybox: install busybox-static";
  }
  char* bin = nullptr;
  size_t len = 0;
  struct ak_error err = {};
  ASSERT_EQ(busybox_read_for_image(path, &bin, &len, &err), 0) << err.msg;
  char dir[] = "/tmp/akbbXXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string tmp = std::string(dir) + "/busybox";  // busybox picks the applet by its own name
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ak_write_full(fd, bin, len), 0);
  free(bin);
  close(fd);
  // Port 1 on loopback: nothing listens; a crash comes before any connect.
  std::string cmd = tmp + " wget -T 5 -O /dev/null http://127.0.0.1:1/ >/dev/null 2>&1";
  int st = system(cmd.c_str());
  std::string help = tmp + " wget --help 2>&1 | grep -q -- '-T SEC'";
  bool has_timeout = system(help.c_str()) == 0;
  unlink(tmp.c_str());
  rmdir(dir);
  // Killed by a signal: the shell's 128 + signal, or the signal itself.
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) < 128) << "wget -T 5 was killed: status " << st;
  if (!has_timeout) {
    EXPECT_EQ(WEXITSTATUS(st), 1);
  }
}

}  // namespace
