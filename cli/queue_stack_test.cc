// `ak run` says where it waits in the scheduler's queue on every path: the
// Run stream (-k keeps the sandbox: the same RPC), and the staged runs that
// create, copy in and exec (-w DIR; agentkernel.toml with [[files]]). A real
// stack (tests/testing/cli_stack.h) whose executor offers 2 vCPUs, held by a
// persistent sandbox while three runs are started at once; `ak sandbox list`
// shows the three waiting (queued, no executor), and all three print
// "waiting for capacity: position N of M" and complete once it is removed.
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/testing/cli_stack.h"
#include "tests/testing/service_process.h"
#include "vmm/testing/vm_fixture.h"

namespace {

using aktest::Runfile;
using aktest::Slurp;

class QueueStack : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!akvm::GetKernel(&skip_, &setup_error_)) return;
    dir_ = akvm::MakeTempDir("akqueue");
    stack_ = new aktest::CliStack;
    aktest::CliStackOptions o;
    o.executor_id = "exqueue";
    o.heartbeat_ms = 300;
    o.executor_args = {"--capacity-vcpus", "2"};
    stack_->Start(dir_, akvm::ImageStoreDir(), o, &setup_error_);
  }
  static void TearDownTestSuite() {
    if (stack_) {
      Ak({"sandbox", "remove", "akq-hold"});
      if (!kept_.empty()) Ak({"sandbox", "remove", kept_});
    }
    delete stack_;
    if (!dir_.empty()) akvm::RemoveDir(dir_);
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  }
  // bazel-bin/cli/ak with args in `cwd` (dir_ when empty): its exit status,
  // stdout+stderr in *out.
  static int Ak(const std::vector<std::string>& args, std::string* out = nullptr, const std::string& cwd = "") {
    std::string cmd = "cd '" + (cwd.empty() ? dir_ : cwd) + "' && '" + Runfile("cli/ak") + "'";
    for (const std::string& a : args) cmd += " '" + a + "'";
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    std::string text;
    char buf[512];
    size_t n;
    while (p && (n = fread(buf, 1, sizeof(buf), p)) > 0) text.append(buf, n);
    int status = p ? pclose(p) : -1;
    if (out) *out = text;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  static std::string skip_, setup_error_, dir_, kept_;
  static aktest::CliStack* stack_;
};
std::string QueueStack::skip_, QueueStack::setup_error_, QueueStack::dir_, QueueStack::kept_;
aktest::CliStack* QueueStack::stack_;

struct AkRun {
  std::vector<std::string> args;
  std::string cwd, out;
  int rc = -1;
};

TEST_F(QueueStack, EveryRunPathShowsItsQueuePosition) {
  std::string out;
  int rc = -1;
  for (int i = 0; i < 100; i++) {  // until the executor has registered
    rc = Ak({"sandbox", "create", "--vcpus", "2", "akq-hold"}, &out);
    if (out.find("no executor") == std::string::npos && out.find("UNAVAILABLE") == std::string::npos) break;
    usleep(200 * 1000);
  }
  if (akvm::KernelUnavailable(out)) GTEST_SKIP() << out;
  ASSERT_EQ(rc, 0) << out << "\n" << Slurp(stack_->exec.err);

  // A directory with an agentkernel.toml that copies a file in: a staged run.
  std::string proj = dir_ + "/proj";
  ASSERT_EQ(system(("mkdir -p '" + proj + "'").c_str()), 0);
  std::ofstream(proj + "/in.txt") << "from the toml\n";
  std::ofstream(proj + "/agentkernel.toml") << "[[files]]\nsource = \"in.txt\"\ndest = \"/opt/q/in.txt\"\n";

  std::vector<AkRun> runs = {
      {{"run", "-k", "--", "echo", "kept"}, "", "", -1},
      {{"run", "-w", "/tmp", "--", "echo", "staged"}, "", "", -1},
      {{"run", "--", "cat", "/opt/q/in.txt"}, proj, "", -1},
  };
  std::vector<std::thread> th;
  for (AkRun& r : runs) th.emplace_back([&r] { r.rc = Ak(r.args, &r.out, r.cwd); });
  // All three wait (the 2 vCPUs are held), listed with their places.
  bool waiting = false;
  for (int i = 0; i < 300 && !waiting; i++) {
    Ak({"sandbox", "list"}, &out);
    size_t n = 0;
    for (size_t at = 0; (at = out.find(" of 3\n", at)) != std::string::npos; at++) n++;
    waiting = n == 3 && out.find("queued: position 1 of 3") != std::string::npos &&
              out.find("queued: position 3 of 3") != std::string::npos;
    if (!waiting) usleep(100 * 1000);
  }
  EXPECT_TRUE(waiting) << out;
  sleep(1);  // ak asks every 500 ms: each has said its place
  ASSERT_EQ(Ak({"sandbox", "remove", "akq-hold"}, &out), 0) << out;
  for (std::thread& t : th) t.join();
  size_t k = runs[0].out.find("ak: kept sandbox ");
  if (k != std::string::npos) kept_ = runs[0].out.substr(k + 17, runs[0].out.find(' ', k + 17) - k - 17);
  EXPECT_FALSE(kept_.empty()) << runs[0].out;

  const char* says[] = {"kept", "staged", "from the toml"};
  for (size_t i = 0; i < runs.size(); i++) {
    EXPECT_EQ(runs[i].rc, 0) << runs[i].out;
    EXPECT_NE(runs[i].out.find("ak run: waiting for capacity: position "), std::string::npos) << runs[i].out;
    EXPECT_NE(runs[i].out.find(" in the scheduler's queue"), std::string::npos) << runs[i].out;
    EXPECT_NE(runs[i].out.find(says[i]), std::string::npos) << runs[i].out;
  }
}

}  // namespace
