// The `uid`/`gid` extension of `run`: commands as another user, over the
// agent's Unix socket. The agent runs as root here (as in a guest).
#include "guest/agent_fixture.h"

namespace {

using akt::Call;
using akt::Req;

class UserTest : public akt::AgentTest {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "switching users needs root";
    AgentTest::SetUp();
  }
  akt::Reply Sh(const std::string& script, long long uid, long long gid = -1, const std::string& cwd = "") {
    Req r;
    r.type = "run";
    r.Cmd({"/bin/sh", "-c", script});
    r.uid = uid;
    r.gid = gid;
    r.cwd = cwd;
    return Call(fd_, r);
  }
};

TEST_F(UserTest, RunsAsTheUserWithNoOtherGroups) {
  akt::Reply r = Sh("echo $(id -u) $(id -g) $(id -G)", 1000);
  ASSERT_TRUE(r.has_exit_code) << r.raw;
  EXPECT_EQ(r.exit_code, 0) << r.raw;
  EXPECT_EQ(r.stdout_s, "1000 1000 1000\n");
  r = Sh("echo $(id -u) $(id -g)", 1000, 2000);
  EXPECT_EQ(r.stdout_s, "1000 2000\n") << r.raw;
}

TEST_F(UserTest, WithoutUidTheAgentsUser) {
  akt::Reply r = Sh("id -u", -1);
  EXPECT_EQ(r.stdout_s, "0\n") << r.raw;
}

TEST_F(UserTest, TheUserCannotWriteWhatRootOwns) {
  std::string dir = agent_.dir() + "/rootonly";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  akt::Reply r = Sh("touch " + dir + "/x", 1000);
  ASSERT_TRUE(r.has_exit_code) << r.raw;
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.stderr_s.find("ermission denied"), std::string::npos) << r.stderr_s;
  EXPECT_NE(access((dir + "/x").c_str(), F_OK), 0);
  r = Sh("touch " + dir + "/x", -1);
  EXPECT_EQ(r.exit_code, 0) << r.raw;
}

TEST_F(UserTest, ACwdTheUserMayNotEnterIsAnError) {
  std::string dir = agent_.dir() + "/private";
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  akt::Reply r = Sh("pwd", 1000, -1, dir);
  EXPECT_FALSE(r.has_exit_code) << r.raw;
  EXPECT_NE(r.error.find("Permission denied"), std::string::npos) << r.raw;
  // The connection is still usable, and root may enter.
  r = Sh("pwd", -1, -1, dir);
  EXPECT_EQ(r.stdout_s, dir + "\n") << r.raw;
}

TEST_F(UserTest, OutOfRangeIdsAreRefused) {
  for (const char* body : {R"({"id":"u","type":"run","command":["true"],"uid":70000})",
                           R"({"id":"u","type":"run","command":["true"],"uid":-1})",
                           R"({"id":"u","type":"run","command":["true"],"uid":1000,"gid":"0"})"}) {
    ASSERT_EQ(akt::SendRaw(fd_, body), 0);
    akt::Reply r = akt::Recv(fd_);
    EXPECT_EQ(r.id, "u") << body;
    EXPECT_FALSE(r.has_exit_code) << r.raw;
    EXPECT_NE(r.error.find("uid") == std::string::npos ? r.error.find("gid") : 0, std::string::npos) << r.raw;
  }
}

}  // namespace
