#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

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

// More entries than IOV_MAX, through a pipe (short writevs), at the fd's
// position; then pwritev at an offset into a file, leaving the rest alone.
TEST(Io, WritevFull) {
  int p[2];
  ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
  std::string want;
  std::vector<std::string> parts;
  for (int i = 0; i < IOV_MAX + 500; i++) parts.push_back(std::string(i % 300, (char)('a' + i % 26)));
  std::vector<struct iovec> iov;
  for (auto& s : parts) {
    iov.push_back({&s[0], s.size()});
    want += s;
  }
  std::thread w([&] {
    EXPECT_EQ(0, ak_writev_full(p[1], iov.data(), iov.size(), -1));
    close(p[1]);
  });
  std::string got(want.size() + 1, '\0');
  EXPECT_EQ((ssize_t)want.size(), ak_read_full(p[0], &got[0], got.size()));
  w.join();
  got.resize(want.size());
  EXPECT_EQ(want, got);
  close(p[0]);

  char path[] = "/tmp/akio.XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  ASSERT_EQ(0, ak_write_full(fd, "0123456789", 10));
  char a[] = "ab", b[] = "cd";
  struct iovec two[] = {{a, 2}, {b, 2}};
  EXPECT_EQ(0, ak_writev_full(fd, two, 2, 3));
  char back[11] = {};
  EXPECT_EQ(10, pread(fd, back, 10, 0));
  EXPECT_STREQ("012abcd789", back);
  EXPECT_EQ(-EBADF, ak_writev_full(-1, two, 2, 0));
  close(fd);
}

// Copies more than its buffer through pipes; reports which side failed.
TEST(Io, CopyFd) {
  int in[2], out[2];
  ASSERT_EQ(0, pipe2(in, O_CLOEXEC));
  ASSERT_EQ(0, pipe2(out, O_CLOEXEC));
  std::string data(200000, 'x');
  for (size_t i = 0; i < data.size(); i++) data[i] = (char)(i * 13);
  std::thread w([&] {
    EXPECT_EQ(0, ak_write_full(in[1], data.data(), data.size()));
    close(in[1]);
  });
  std::string got(data.size() + 1, '\0');
  std::thread r([&] {
    EXPECT_EQ((ssize_t)data.size(), ak_read_full(out[0], &got[0], got.size()));
  });
  bool wf = true;
  EXPECT_EQ(0, ak_copy_fd(in[0], out[1], &wf));
  close(out[1]);
  w.join();
  r.join();
  got.resize(data.size());
  EXPECT_EQ(data, got);
  close(in[0]);
  close(out[0]);

  int p[2];
  ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
  EXPECT_EQ(-EBADF, ak_copy_fd(-1, p[1], &wf));
  EXPECT_FALSE(wf);
  ASSERT_EQ(1, write(p[1], "x", 1));
  close(p[1]);
  EXPECT_EQ(-EBADF, ak_copy_fd(p[0], -1, &wf));
  EXPECT_TRUE(wf);
  EXPECT_EQ(0, ak_copy_fd(p[0], -1, NULL));  // at EOF: nothing to write
  close(p[0]);
}

TEST(ReadFdAll, ToTheEndUpToMaxElseEFBIGAndTheFdStaysOpen) {
  int p[2];
  ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
  std::string data(10000, 'k');
  std::thread w([&] {
    EXPECT_EQ(0, ak_write_full(p[1], data.data(), data.size()));
    close(p[1]);
  });
  char *got = nullptr;
  size_t len = 0;
  ASSERT_EQ(0, ak_read_fd_all(p[0], 10000, &got, &len));
  w.join();
  EXPECT_EQ(len, 10000u);
  EXPECT_EQ(std::string(got, len), data);
  EXPECT_EQ(got[len], '\0');
  free(got);
  EXPECT_EQ(0, fcntl(p[0], F_GETFD) & ~FD_CLOEXEC);  // still open
  close(p[0]);
  ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
  std::thread w2([&] {
    EXPECT_EQ(0, ak_write_full(p[1], data.data(), data.size()));
    close(p[1]);
  });
  got = nullptr;
  EXPECT_EQ(-EFBIG, ak_read_fd_all(p[0], 9999, &got, &len));
  EXPECT_EQ(got, nullptr);
  close(p[0]);
  w2.join();
}

TEST(Io, ReadFile) {
  char dir[] = "/tmp/akio.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string p = std::string(dir) + "/f";
  FILE* f = fopen(p.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("hello", f);
  fclose(f);
  char* data = nullptr;
  size_t len = 0;
  ASSERT_EQ(0, ak_read_file(p.c_str(), 5, &data, &len));
  EXPECT_EQ(5u, len);
  EXPECT_STREQ("hello", data);
  free(data);
  data = nullptr;
  EXPECT_EQ(-EFBIG, ak_read_file(p.c_str(), 4, &data, &len));
  EXPECT_EQ(nullptr, data);
  EXPECT_EQ(-ENOENT, ak_read_file((std::string(dir) + "/none").c_str(), 4, &data, &len));
  unlink(p.c_str());
  rmdir(dir);
}

}  // namespace
