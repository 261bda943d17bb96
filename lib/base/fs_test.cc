#include <gtest/gtest.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "lib/base/fs.h"

namespace {

mode_t Mode(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode) ? (st.st_mode & 07777) : 0;
}

TEST(MkdirP, MakesWhatIsMissingWithItsMode) {
  char tmpl[] = "/tmp/akfs.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string d = tmpl;
  umask(0);
  EXPECT_EQ(0, ak_mkdir_p((d + "/a/b/c").c_str(), 0700, false));
  EXPECT_EQ(0700u, Mode(d + "/a/b/c"));
  EXPECT_EQ(0, ak_mkdir_p((d + "/a/b/c").c_str(), 0755, false));  // exists: left as it is
  EXPECT_EQ(0700u, Mode(d + "/a/b/c"));
  EXPECT_EQ(0, ak_mkdir_p((d + "/p/q/file").c_str(), 0750, true));
  EXPECT_EQ(0750u, Mode(d + "/p/q"));
  EXPECT_EQ(0u, Mode(d + "/p/q/file"));
  EXPECT_EQ(-ENAMETOOLONG, ak_mkdir_p(std::string(5000, 'x').c_str(), 0700, false));
  FILE* f = fopen((d + "/plain").c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  EXPECT_EQ(-ENOTDIR, ak_mkdir_p((d + "/plain/x").c_str(), 0700, false));
  std::string rm = "rm -rf " + d;
  ASSERT_EQ(0, system(rm.c_str()));
}

TEST(RmRf, RemovesTreesLinksAndMissingPaths) {
  char tmpl[] = "/tmp/akfs.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string d = tmpl;
  std::string outside = d + "/outside";
  ASSERT_EQ(0, ak_mkdir_p((outside + "/keep").c_str(), 0700, false));
  ASSERT_EQ(0, ak_mkdir_p((d + "/t/a/b").c_str(), 0700, false));
  FILE* f = fopen((d + "/t/a/b/file").c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  ASSERT_EQ(0, symlink(outside.c_str(), (d + "/t/a/link").c_str()));
  ASSERT_EQ(0, chmod((d + "/t/a").c_str(), 0500));  // read-only dirs are still walked...
  if (geteuid() != 0) {
    EXPECT_EQ(-EACCES, ak_rm_rf((d + "/t").c_str()));  // ...but not emptied
    EXPECT_EQ(0500u, Mode(d + "/t/a"));
  }
  ASSERT_EQ(0, chmod((d + "/t/a").c_str(), 0700));
  EXPECT_EQ(0, ak_rm_rf((d + "/t").c_str()));
  EXPECT_EQ(0u, Mode(d + "/t"));
  EXPECT_EQ(0700u, Mode(outside + "/keep"));  // the link was removed, not followed
  EXPECT_EQ(0, ak_rm_rf((d + "/t").c_str()));  // already gone
  f = fopen((d + "/plain").c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  EXPECT_EQ(0, ak_rm_rf((d + "/plain").c_str()));  // a file
  EXPECT_NE(0, access((d + "/plain").c_str(), F_OK));
  EXPECT_EQ(0, ak_rm_rf(d.c_str()));
  EXPECT_EQ(0u, Mode(d));
}

}  // namespace

namespace {

mode_t AnyMode(const std::string& p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

TEST(PrivateDir, MakesAndTightensOwnDirectoriesWhateverTheUmask) {
  char tmpl[] = "/tmp/akfs.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string d = tmpl;
  mode_t old = umask(0);
  struct ak_error err = {};
  EXPECT_EQ(0, ak_private_dir((d + "/home/run").c_str(), &err)) << err.msg;
  EXPECT_EQ(0700u, AnyMode(d + "/home"));
  EXPECT_EQ(0700u, AnyMode(d + "/home/run"));
  ASSERT_EQ(0, mkdir((d + "/open").c_str(), 0755));
  EXPECT_EQ(0, ak_private_dir((d + "/open").c_str(), &err)) << err.msg;
  EXPECT_EQ(0700u, AnyMode(d + "/open"));
  umask(old);
  ASSERT_EQ(0, system(("rm -rf " + d).c_str()));
}

TEST(PrivateDir, RefusesOtherOwnersWritableAndLinks) {
  char tmpl[] = "/tmp/akfs.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string d = tmpl;
  struct ak_error err = {};
  ASSERT_EQ(0, mkdir((d + "/gw").c_str(), 0700));
  ASSERT_EQ(0, chmod((d + "/gw").c_str(), 0770));
  EXPECT_EQ(-EACCES, ak_private_dir((d + "/gw").c_str(), &err));
  EXPECT_NE(std::string(err.msg).find("chmod 700"), std::string::npos) << err.msg;
  EXPECT_EQ(0770u, AnyMode(d + "/gw"));  // refused, not repaired
  ASSERT_EQ(0, symlink((d + "/gw").c_str(), (d + "/link").c_str()));
  EXPECT_EQ(-ENOTDIR, ak_private_dir((d + "/link").c_str(), &err));
  FILE* f = fopen((d + "/plain").c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  EXPECT_EQ(-ENOTDIR, ak_private_dir((d + "/plain").c_str(), &err));
  if (geteuid() == 0) {
    ASSERT_EQ(0, mkdir((d + "/theirs").c_str(), 0700));
    ASSERT_EQ(0, chown((d + "/theirs").c_str(), 65534, 65534));
    EXPECT_EQ(-EPERM, ak_private_dir((d + "/theirs").c_str(), &err));
    EXPECT_NE(std::string(err.msg).find("uid 65534"), std::string::npos) << err.msg;
  } else {
    GTEST_SKIP() << "chown to another uid needs root";
  }
  ASSERT_EQ(0, system(("rm -rf " + d).c_str()));
}

TEST(PrivateFile, SocketsGet0600WhateverTheUmask) {
  char tmpl[] = "/tmp/akfs.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string d = tmpl;
  mode_t old = umask(0);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  struct sockaddr_un sa = {};
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s.sock", d.c_str());
  ASSERT_EQ(0, bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa)));
  umask(old);
  EXPECT_EQ(0777u, AnyMode(sa.sun_path));
  struct ak_error err = {};
  EXPECT_EQ(0, ak_private_file(sa.sun_path, &err)) << err.msg;
  EXPECT_EQ(0600u, AnyMode(sa.sun_path));
  ASSERT_EQ(0, symlink(sa.sun_path, (d + "/l").c_str()));
  EXPECT_EQ(-ELOOP, ak_private_file((d + "/l").c_str(), &err));
  close(fd);
  ASSERT_EQ(0, system(("rm -rf " + d).c_str()));
}

TEST(WriteKernelFile, OneWriteIntoAnExistingFileNeverCreates) {
  char tmpl[] = "/tmp/ak-fs-kfXXXXXX";
  ASSERT_NE(nullptr, mkdtemp(tmpl));
  std::string d = tmpl, f = d + "/knob";
  EXPECT_EQ(-ENOENT, ak_write_kernel_file(f.c_str(), "1"));
  EXPECT_NE(0, access(f.c_str(), F_OK)) << "it created the file";
  FILE* fp = fopen(f.c_str(), "we");
  ASSERT_NE(nullptr, fp);
  fputs("0123456789", fp);
  fclose(fp);
  EXPECT_EQ(0, ak_write_kernel_file(f.c_str(), "ab"));
  char buf[32] = {};
  fp = fopen(f.c_str(), "re");
  ASSERT_NE(nullptr, fp);
  size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
  fclose(fp);
  EXPECT_EQ("ab23456789", std::string(buf, n)) << "not truncated, written from the start";
  EXPECT_EQ(-EISDIR, ak_write_kernel_file(d.c_str(), "x"));
  // The kernel's own refusal comes back: cgroup.procs and the like answer
  // a bad write with its errno; /proc/self/oom_score_adj takes only numbers.
  EXPECT_EQ(-EINVAL, ak_write_kernel_file("/proc/self/oom_score_adj", "not a number"));
  ASSERT_EQ(0, system(("rm -rf " + d).c_str()));
}

}  // namespace
