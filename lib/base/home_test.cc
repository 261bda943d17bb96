#include <errno.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "lib/base/home.h"

namespace {

// Restores AK_HOME and HOME after each test.
class HomeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Save("AK_HOME", &ak_home_);
    Save("HOME", &home_);
  }
  void TearDown() override {
    Restore("AK_HOME", ak_home_);
    Restore("HOME", home_);
  }
  std::string Home() {
    char buf[PATH_MAX];
    int r = ak_home(buf);
    return r == 0 ? std::string(buf) : "error " + std::to_string(r);
  }

 private:
  static void Save(const char* name, std::pair<bool, std::string>* v) {
    const char* e = getenv(name);
    *v = {e != nullptr, e ? e : ""};
  }
  static void Restore(const char* name, const std::pair<bool, std::string>& v) {
    if (v.first) setenv(name, v.second.c_str(), 1);
    else unsetenv(name);
  }
  std::pair<bool, std::string> ak_home_, home_;
};

TEST_F(HomeTest, AkHomeWins) {
  setenv("AK_HOME", "/srv/ak", 1);
  setenv("HOME", "/home/u", 1);
  EXPECT_EQ("/srv/ak", Home());
}

TEST_F(HomeTest, ThenHome) {
  unsetenv("AK_HOME");
  setenv("HOME", "/home/u", 1);
  EXPECT_EQ("/home/u/.agentkernel", Home());
  setenv("AK_HOME", "", 1);  // empty counts as unset
  EXPECT_EQ("/home/u/.agentkernel", Home());
}

TEST_F(HomeTest, ThenPasswdNeverTmpOrRelative) {
  unsetenv("AK_HOME");
  setenv("HOME", "", 1);
  struct passwd* pw = getpwuid(getuid());
  std::string want = pw && pw->pw_dir && pw->pw_dir[0] == '/' ? std::string(pw->pw_dir) + "/.agentkernel"
                                                              : "error " + std::to_string(-ENOENT);
  EXPECT_EQ(want, Home());
  unsetenv("HOME");
  EXPECT_EQ(want, Home());
  EXPECT_EQ(Home().find("/tmp/agentkernel"), std::string::npos);
}

TEST_F(HomeTest, TooLong) {
  setenv("AK_HOME", ("/" + std::string(PATH_MAX, 'x')).c_str(), 1);
  EXPECT_EQ("error " + std::to_string(-ENAMETOOLONG), Home());
}

}  // namespace
