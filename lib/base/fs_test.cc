#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

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

}  // namespace
