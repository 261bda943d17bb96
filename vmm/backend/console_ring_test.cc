// The capped console: whatever the guest writes, console.log stays at or
// under its limit plus one rotated file, and holds the newest bytes.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

extern "C" {
#include "vmm/backend/console_ring.h"
#include "vmm/backend/vmm_proc.h"
}
#include "vmm/testing/vm_fixture.h"

namespace {

off_t SizeOf(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 ? st.st_size : -1;
}

void WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t w = write(fd, s.data() + off, s.size() - off);
    ASSERT_GT(w, 0);
    off += static_cast<size_t>(w);
  }
}

TEST(ConsoleRing, FloodStaysUnderTheCapAndTheTailIsNewest) {
  std::string dir = akvm::MakeTempDir("akcr");
  std::string log = dir + "/console.log";
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  struct console_ring* c = nullptr;
  struct ak_error err = {};
  ASSERT_EQ(console_ring_start(p[0], log.c_str(), 0, &c, &err), 0) << err.msg;
  EXPECT_EQ(SizeOf(log), 0);  // there from the start, for early tails
  // 5 MiB of boot noise, then the lines a boot error would quote.
  std::string junk(64 << 10, '\0');
  for (int i = 0; i < 80; i++) WriteAll(p[1], junk);
  WriteAll(p[1], "\nlast words 1\n\x1b[31mlast words 2\r\n");
  close(p[1]);
  console_ring_free(c);
  EXPECT_LE(SizeOf(log), static_cast<off_t>(CONSOLE_RING_MAX_BYTES));
  EXPECT_EQ(SizeOf(log + ".1"), static_cast<off_t>(CONSOLE_RING_MAX_BYTES));
  EXPECT_EQ(SizeOf(log + ".2"), -1);
  char tail[256];
  vmm_log_tail(log.c_str(), 2, tail, sizeof(tail));
  EXPECT_STREQ(tail, "last words 1\n[31mlast words 2");
  akvm::RemoveDir(dir);
}

TEST(ConsoleRing, LimitOnlyGoesDown) {
  std::string dir = akvm::MakeTempDir("akcr");
  std::string log = dir + "/console.log";
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  struct console_ring* c = nullptr;
  struct ak_error err = {};
  EXPECT_EQ(console_ring_start(p[0], log.c_str(), CONSOLE_RING_MAX_BYTES + 1, &c, &err), -EINVAL);
  EXPECT_NE(std::string(err.msg).find("console limit"), std::string::npos) << err.msg;
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);  // the first read end was taken and closed
  ASSERT_EQ(console_ring_start(p[0], log.c_str(), 8192, &c, &err), 0) << err.msg;
  WriteAll(p[1], std::string(20000, 'x'));
  close(p[1]);
  console_ring_free(c);
  EXPECT_EQ(SizeOf(log), 20000 - 2 * 8192);
  EXPECT_EQ(SizeOf(log + ".1"), 8192);
  akvm::RemoveDir(dir);
}

}  // namespace
