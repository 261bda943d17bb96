// The fixture of the agent tests: the built ak-guest on --listen unix:, one
// connection to it, and helpers the test files share.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "guest/agent_harness.h"

namespace akt {

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(agent_.Start());
    fd_ = agent_.Connect();
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    if (fd_ >= 0) close(fd_);
    agent_.Stop();
  }
  Reply Run(std::vector<std::string> cmd) {
    Req r;
    r.type = "run";
    r.Cmd(std::move(cmd));
    return Call(fd_, r);
  }
  void ExpectAlive(int fd) {
    Req p;
    p.id = "alive";
    Reply r = Call(fd, p);
    ASSERT_EQ(r.err, 0);
    EXPECT_EQ(r.raw, R"({"id":"alive","exit_code":0})");
  }
  std::string Tmp(const std::string& name) { return agent_.dir() + "/" + name; }

  Agent agent_;
  int fd_ = -1;
};

inline double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Whether pid is gone (or a zombie) within ms.
inline bool ProcessGone(pid_t pid, int ms) {
  for (int i = 0; i < ms / 10; i++) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string s;
    std::getline(f, s);
    // Gone, or a zombie waiting for the agent's reaper.
    if (!f.good() && s.empty()) return true;
    auto p = s.rfind(')');
    if (p != std::string::npos && s.size() > p + 2 && s[p + 2] == 'Z') return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace akt
