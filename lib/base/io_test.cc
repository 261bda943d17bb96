#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "lib/base/io.h"

namespace {

TEST(Io, WriteThenReadMoreThanAPipeHolds) {
  int p[2];
  ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
  std::string out(1 << 20, 'x');  // 16 pipe buffers: many short writes and reads
  for (size_t i = 0; i < out.size(); i++) out[i] = (char)(i * 7);
  std::thread w([&] {
    EXPECT_EQ(0, ak_write_full(p[1], out.data(), out.size()));
    close(p[1]);
  });
  std::string in(out.size() + 10, '\0');
  EXPECT_EQ((ssize_t)out.size(), ak_read_full(p[0], &in[0], in.size()));  // short only at EOF
  w.join();
  in.resize(out.size());
  EXPECT_EQ(out, in);
  EXPECT_EQ(0, ak_read_full(p[0], &in[0], 1));  // at EOF
  EXPECT_EQ(0, ak_write_full(p[0], "", 0));    // nothing to write
  close(p[0]);
}

TEST(Io, ErrorsAreNegativeErrno) {
  char c;
  EXPECT_EQ(-EBADF, ak_read_full(-1, &c, 1));
  EXPECT_EQ(-EBADF, ak_write_full(-1, "x", 1));
  int s[2];
  ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s));
  close(s[1]);
  signal(SIGPIPE, SIG_IGN);
  EXPECT_EQ(-EPIPE, ak_write_full(s[0], "x", 1));
  close(s[0]);
}

}  // namespace
