#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
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
