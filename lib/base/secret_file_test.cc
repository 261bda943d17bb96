#include <gtest/gtest.h>
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "lib/base/secret_file.h"

namespace {

// A stat as fstat would fill it for a regular file.
struct stat File(uid_t uid, gid_t gid, mode_t mode) {
  struct stat st;
  memset(&st, 0, sizeof(st));
  st.st_mode = S_IFREG | mode;
  st.st_uid = uid;
  st.st_gid = gid;
  return st;
}

// A gid that is neither our effective group nor a supplementary one.
gid_t ForeignGid() {
  gid_t groups[256];
  int n = getgroups(256, groups);
  for (gid_t g = 40000;; g++) {
    bool ours = g == getegid();
    for (int i = 0; i < n; i++) ours = ours || groups[i] == g;
    if (!ours) return g;
  }
}

int Check(const char* path, const struct stat& st, std::string* msg) {
  struct ak_error err = {};
  int r = ak_secret_file_check("token file", path, &st, &err);
  *msg = r < 0 ? err.msg : "";
  return r;
}

class SecretFile : public ::testing::Test {
 protected:
  void SetUp() override { unsetenv(AK_SECRET_GROUP_DIRS_ENV); }
  void TearDown() override { unsetenv(AK_SECRET_GROUP_DIRS_ENV); }
};

TEST_F(SecretFile, OwnerOnlyFilesOfRootOrUsAreAccepted) {
  std::string msg;
  EXPECT_EQ(0, Check("/k/t", File(geteuid(), getegid(), 0600), &msg)) << msg;
  EXPECT_EQ(0, Check("/k/t", File(geteuid(), getegid(), 0400), &msg)) << msg;
  EXPECT_EQ(0, Check("/k/t", File(0, getegid(), 0400), &msg)) << msg;
}

TEST_F(SecretFile, AnotherOwnerIsRefused) {
  std::string msg;
  uid_t other = geteuid() == 4242 ? 4343 : 4242;
  EXPECT_EQ(-EPERM, Check("/k/t", File(other, getegid(), 0400), &msg));
  EXPECT_NE(std::string::npos, msg.find("belongs to uid")) << msg;
  EXPECT_NE(std::string::npos, msg.find("run: chown")) << msg;
}

TEST_F(SecretFile, WorldReadableOrOthersWritableIsRefusedEvenInANamedDir) {
  setenv(AK_SECRET_GROUP_DIRS_ENV, "/k", 1);
  std::string msg;
  for (mode_t m : {0644, 0604, 0444, 0401, 0402, 0660, 0620, 0640 | 02, 0470}) {
    EXPECT_EQ(-EPERM, Check("/k/t", File(0, getegid(), m), &msg)) << std::oct << m;
  }
  EXPECT_EQ(-EPERM, Check("/k/t", File(0, getegid(), 0644), &msg));
  EXPECT_NE(std::string::npos, msg.find("accessible by group or others (mode 0644)")) << msg;
  EXPECT_NE(std::string::npos, msg.find("run: chmod 600 /k/t")) << msg;
}

TEST_F(SecretFile, GroupReadNeedsANamedDirectory) {
  std::string msg;
  struct stat st = File(0, getegid(), 0440);
  EXPECT_EQ(-EPERM, Check("/etc/ak/tokens/t", st, &msg));
  EXPECT_NE(std::string::npos, msg.find(AK_SECRET_GROUP_DIRS_ENV)) << msg;
  setenv(AK_SECRET_GROUP_DIRS_ENV, "/srv:/etc/ak/", 1);
  EXPECT_EQ(0, Check("/etc/ak/tokens/t", st, &msg)) << msg;
  EXPECT_EQ(0, Check("/etc/ak/t", st, &msg)) << msg;
  EXPECT_EQ(0, Check("/etc/ak/tokens/t", File(geteuid(), getegid(), 0640), &msg)) << msg;
  // Not below it: a sibling with the same prefix, the directory itself,
  // relative paths, and ways out through "..".
  EXPECT_EQ(-EPERM, Check("/etc/akx/t", st, &msg));
  EXPECT_EQ(-EPERM, Check("/etc/ak/", st, &msg));
  EXPECT_EQ(-EPERM, Check("etc/ak/t", st, &msg));
  EXPECT_EQ(-EPERM, Check("/etc/ak/../shadow/t", st, &msg));
  EXPECT_EQ(-EPERM, Check("/etc/ak/./t", st, &msg));
  EXPECT_EQ(-EPERM, Check("/etc//ak/t", st, &msg));
  // "/" or a relative entry names nothing.
  setenv(AK_SECRET_GROUP_DIRS_ENV, "/:etc/ak::", 1);
  EXPECT_EQ(-EPERM, Check("/etc/ak/t", st, &msg));
}

TEST_F(SecretFile, GroupReadNeedsOurGroup) {
  setenv(AK_SECRET_GROUP_DIRS_ENV, "/etc/ak", 1);
  std::string msg;
  EXPECT_EQ(-EPERM, Check("/etc/ak/t", File(0, ForeignGid(), 0440), &msg));
  EXPECT_NE(std::string::npos, msg.find("not one of ours")) << msg;
}

TEST_F(SecretFile, OnlyRegularFiles) {
  std::string msg;
  struct stat st = File(0, getegid(), 0400);
  st.st_mode = S_IFDIR | 0700;
  EXPECT_EQ(-EINVAL, Check("/k", st, &msg));
  EXPECT_NE(std::string::npos, msg.find("not a regular file")) << msg;
}

TEST_F(SecretFile, AtMostTheLimitOfDirectoriesIsRead) {
  std::string dirs;
  for (int i = 0; i < AK_SECRET_GROUP_DIRS_MAX; i++) dirs += "/d" + std::to_string(i) + ":";
  dirs += "/late";
  setenv(AK_SECRET_GROUP_DIRS_ENV, dirs.c_str(), 1);
  std::string msg;
  struct stat st = File(0, getegid(), 0440);
  EXPECT_EQ(0, Check("/d15/t", st, &msg)) << msg;
  EXPECT_EQ(-EPERM, Check("/late/t", st, &msg));
}

}  // namespace
