// The agent's file requests: write/read/mkdir/remove, path rules, limits.
#include "guest/agent_fixture.h"

namespace akt {
namespace {

TEST_F(AgentTest, Files) {
  Req w;
  w.type = "write_file";
  w.path = Tmp("a/b/c.txt");
  w.content_base64 = B64(std::string("hi\0there", 8));
  EXPECT_EQ(Call(fd_, w).raw, R"({"id":"1","exit_code":0})");
  Req rd;
  rd.type = "read_file";
  rd.path = w.path;
  Reply r = Call(fd_, rd);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(UnB64(r.content_base64), std::string("hi\0there", 8));
  EXPECT_EQ(r.raw, R"({"id":"1","exit_code":0,"content_base64":")" + w.content_base64 + "\"}");

  w.content_base64 = B64("x");  // truncates
  Call(fd_, w);
  EXPECT_EQ(UnB64(Call(fd_, rd).content_base64), "x");

  Req rm;
  rm.type = "remove_file";
  rm.path = w.path;
  EXPECT_EQ(Call(fd_, rm).exit_code, 0);
  r = Call(fd_, rm);
  EXPECT_EQ(r.error, "Failed to remove file: No such file or directory (os error 2)");
  r = Call(fd_, rd);
  EXPECT_EQ(r.error, "Failed to read file: No such file or directory (os error 2)");

  // The "mode" extension: exact bits whatever the umask, on a new file and
  // on an existing one; absent, a new file is 0666 under the umask.
  Req wm;
  wm.type = "write_file";
  wm.path = Tmp("modes/run.sh");
  wm.content_base64 = B64("#!/bin/sh\n");
  wm.mode = 0755;
  EXPECT_EQ(Call(fd_, wm).raw, R"({"id":"1","exit_code":0})");
  struct stat ms;
  ASSERT_EQ(stat(wm.path.c_str(), &ms), 0);
  EXPECT_EQ(ms.st_mode & 07777, 0755u);
  wm.mode = 0600;
  EXPECT_EQ(Call(fd_, wm).exit_code, 0);
  ASSERT_EQ(stat(wm.path.c_str(), &ms), 0);
  EXPECT_EQ(ms.st_mode & 07777, 0600u);
  wm.mode = -1;
  wm.path = Tmp("modes/plain");
  mode_t old = umask(022);
  EXPECT_EQ(Call(fd_, wm).exit_code, 0);
  umask(old);
  ASSERT_EQ(stat(wm.path.c_str(), &ms), 0);
  EXPECT_EQ(ms.st_mode & 0777 & ~0644u, 0u);
  wm.mode = 010000;  // beyond the permission bits: refused by the parser
  EXPECT_NE(Call(fd_, wm).error.find("mode"), std::string::npos);

  Req mk;
  mk.type = "mkdir";
  mk.path = Tmp("m/n/o");
  EXPECT_NE(Call(fd_, mk).error.find("Failed to create directory"), std::string::npos);
  mk.recursive = 1;
  EXPECT_EQ(Call(fd_, mk).exit_code, 0);
  EXPECT_EQ(Call(fd_, mk).exit_code, 0);  // exists: fine when recursive
  mk.recursive = 0;
  EXPECT_EQ(Call(fd_, mk).error, "Failed to create directory: File exists (os error 17)");
  struct stat st;
  EXPECT_EQ(stat(Tmp("m/n/o").c_str(), &st), 0);
  // A path with "dev" as an inner component is fine.
  mk.path = Tmp("x/dev/proc");
  mk.recursive = 1;
  EXPECT_EQ(Call(fd_, mk).exit_code, 0);
}

TEST_F(AgentTest, FileErrors) {
  Req w;
  w.type = "write_file";
  w.path = Tmp("f");
  w.content_base64 = "not base64!";
  EXPECT_EQ(Call(fd_, w).error, "Invalid base64: invalid length");
  w.content_base64 = "eA=x";
  EXPECT_EQ(Call(fd_, w).error, "Invalid base64: invalid padding");
  w.content_base64 = "eA==eA==";
  EXPECT_EQ(Call(fd_, w).error, "Invalid base64: invalid padding");
  w.content_base64 = "eA!=";
  EXPECT_EQ(Call(fd_, w).error, "Invalid base64: invalid byte");
  w.content_base64 = "eB==";
  EXPECT_EQ(Call(fd_, w).error, "Invalid base64: invalid last symbol");
  Req nopath;
  nopath.type = "read_file";
  EXPECT_EQ(Call(fd_, nopath).error, "No path specified");
  Req nocontent;
  nocontent.type = "write_file";
  nocontent.path = Tmp("g");
  EXPECT_EQ(Call(fd_, nocontent).raw, R"({"id":"1","error":"No content specified"})");

  struct {
    const char* path;
    const char* msg;
  } cases[] = {
      {"relative/x", "Path must be absolute"},
      {"/tmp/../etc/hostname", "Path traversal not allowed"},
      {"/proc/self/status", "Cannot access system path: /proc"},
      {"/sys/kernel/hostname", "Cannot access system path: /sys"},
      {"/dev/null", "Cannot access system path: /dev"},
      {"//dev/null", "Cannot access system path: /dev"},
      {"/etc/passwd", "Cannot access system path: /etc/passwd"},
      {"/etc/shadow", "Cannot access system path: /etc/shadow"},
  };
  for (auto& c : cases) {
    for (const char* type : {"read_file", "write_file", "remove_file", "mkdir"}) {
      Req r;
      r.type = type;
      r.path = c.path;
      r.content_base64 = "";
      Reply rep = Call(fd_, r);
      EXPECT_EQ(rep.error, c.msg) << type << " " << c.path;
    }
  }
  // Through a symlink, too.
  ASSERT_EQ(symlink("/proc", Tmp("p").c_str()), 0);
  Req r;
  r.type = "read_file";
  r.path = Tmp("p/self/status");
  EXPECT_EQ(Call(fd_, r).error, "Cannot access system path: /proc");
  // A FIFO must not wedge the agent.
  ASSERT_EQ(mkfifo(Tmp("fifo").c_str(), 0600), 0);
  r.path = Tmp("fifo");
  EXPECT_NE(Call(fd_, r).error.find("not a regular file"), std::string::npos);
  Req wf;
  wf.type = "write_file";
  wf.path = Tmp("fifo");
  wf.content_base64 = B64("x");
  EXPECT_TRUE(Call(fd_, wf).has_error);
  // A directory.
  r.path = agent_.dir();
  EXPECT_NE(Call(fd_, r).error.find("Is a directory"), std::string::npos);
  ExpectAlive(fd_);
}

TEST_F(AgentTest, ReadFileTooLargeForAFrame) {
  {
    std::ofstream f(Tmp("big"));
    f << std::string(8 * 1024 * 1024, 'z');
  }
  Req r;
  r.type = "read_file";
  r.path = Tmp("big");
  Reply rep = Call(fd_, r);
  EXPECT_NE(rep.error.find("too large"), std::string::npos) << rep.raw.substr(0, 200);
  {
    std::ofstream f(Tmp("big"));
    f << std::string(7 * 1024 * 1024, 'z');
  }
  rep = Call(fd_, r);
  EXPECT_EQ(UnB64(rep.content_base64).size(), 7u * 1024 * 1024);
}

}  // namespace
}  // namespace akt
