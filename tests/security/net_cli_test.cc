// Issue 14, a sandbox's egress policy through the whole stack: the `ak` CLI
// (AK_SCHEDULER pointing at a real ak-scheduler) -> the scheduler -> a
// registered ak-executor -> a real microVM's network namespace rules.
//   ak run --keep --egress-deny 198.18.6.1/32 -- sh -c 'nc 198.18.6.1; nc 198.18.6.3'
// reaches 198.18.6.3 and not 198.18.6.1 (servers in a namespace akc-inet
// count what arrives); `ak sandbox info` shows the policy; and
// `ak sandbox create --egress-allow 10.213.0.0/16` is refused by an executor
// without --egress-allow-private, naming the flag. Root, nft, ip; makes and
// removes akc-* (addresses differ from net_test's and net_hostile_test's).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/testing/cli_stack.h"
#include "tests/testing/netns.h"
#include "tests/testing/service_process.h"
#include "vmm/testing/vm_fixture.h"

namespace {

using aktest::Runfile;
using aktest::ServiceProcess;
using aktest::Sh;
using aktest::Slurp;

const int kPort = 7941;

// A TCP echo server on addr:port in /run/netns/<ns> that counts connections.
class Echo {
 public:
  Echo(const std::string& ns, const std::string& addr) : where_(addr) {
    fd_ = std::max(-1, aktest::SocketInNetns(ns, addr, kPort, SOCK_STREAM));
    if (fd_ >= 0) serve_ = std::thread([this] { Serve(); });
  }
  ~Echo() {
    stop_ = true;
    if (serve_.joinable()) serve_.join();
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  int hits() const { return hits_; }

 private:
  void Serve() {
    while (!stop_) {
      struct pollfd p = {fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      int a = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (a < 0) continue;
      hits_++;
      char buf[256];
      struct pollfd q = {a, POLLIN, 0};
      ssize_t n = poll(&q, 1, 5000) == 1 ? read(a, buf, sizeof(buf)) : -1;
      if (n > 0) {
        (void)!write(a, ("echo-" + where_ + ":").data(), where_.size() + 6);
        (void)!write(a, buf, n);
      }
      close(a);
    }
  }
  std::string where_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> hits_{0};
  std::thread serve_;
};

void Cleanup() {
  Sh("ip netns del akc-inet");
  Sh("ip link del akc-i0");
}

class NetCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) {
      skip_ = "needs root (network namespaces, nftables)";
      return;
    }
    aktest::PathWithSbin();
    Cleanup();
    std::ifstream f("/proc/sys/net/ipv4/ip_forward");
    std::getline(f, forward_);
    if (!aktest::MakeOutsideNetns("akc-inet", "akc-i0", "198.18.6.1", "198.18.6.2") ||
        Sh("ip -n akc-inet addr add 198.18.6.3/24 dev eth0") != 0 || Sh("sysctl -qw net.ipv4.ip_forward=1") != 0) {
      setup_error_ = "could not make namespace akc-inet (ip, sysctl; tools/deps.sh)";
      return;
    }
    dir_ = akvm::MakeTempDir("akcli");
    stack_ = new aktest::CliStack;
    aktest::CliStackOptions o;
    o.executor_id = "exnet";
    o.heartbeat_ms = 300;
    o.make_home = false;
    // No --egress-allow-private.
    stack_->Start(dir_, akvm::ImageStoreDir(), o, &setup_error_);
  }
  static void TearDownTestSuite() {
    if (!kept_.empty()) Ak({"sandbox", "remove", kept_});
    delete stack_;
    if (!dir_.empty()) akvm::RemoveDir(dir_);
    if (!forward_.empty()) Sh("sysctl -qw net.ipv4.ip_forward=" + forward_);
    Cleanup();
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  }
  // bazel-bin/cli/ak with args: its exit status, stdout+stderr in *out.
  static int Ak(const std::vector<std::string>& args, std::string* out = nullptr) {
    std::string cmd = "'" + Runfile("cli/ak") + "'";
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
  static std::string skip_, setup_error_, dir_, forward_, kept_;
  static aktest::CliStack* stack_;
};
std::string NetCliTest::skip_, NetCliTest::setup_error_, NetCliTest::dir_, NetCliTest::forward_, NetCliTest::kept_;
aktest::CliStack* NetCliTest::stack_;

TEST_F(NetCliTest, RunEgressDenyThroughTheStack) {
  Echo denied("akc-inet", "198.18.6.1"), other("akc-inet", "198.18.6.3");
  ASSERT_TRUE(denied.ok() && other.ok());
  std::string p = std::to_string(kPort), out;
  int rc = -1;
  // The scheduler answers UNAVAILABLE until the executor has registered.
  for (int i = 0; i < 100; i++) {
    rc = Ak({"run", "--keep", "--egress-deny", "198.18.6.1/32", "--", "sh", "-c",
             "echo hi | nc -w 5 198.18.6.1 " + p + "; echo hi | nc -w 5 198.18.6.3 " + p},
            &out);
    if (out.find("no executor") == std::string::npos && out.find("UNAVAILABLE") == std::string::npos) break;
    usleep(200 * 1000);
  }
  if (akvm::KernelUnavailable(out)) GTEST_SKIP() << out;
  size_t k = out.find("kept sandbox ");
  if (k != std::string::npos) {
    std::istringstream s(out.substr(k + 13));
    s >> kept_;
  }
  EXPECT_EQ(rc, 0) << out << "\n" << Slurp(stack_->exec.err);
  EXPECT_EQ(out.find("echo-198.18.6.1:"), std::string::npos) << out;
  EXPECT_NE(out.find("echo-198.18.6.3:hi"), std::string::npos) << out;
  EXPECT_EQ(denied.hits(), 0) << "198.18.6.1 was reached: the egress.deny did not hold";
  EXPECT_EQ(other.hits(), 1);

  ASSERT_FALSE(kept_.empty()) << out;
  std::string info;
  ASSERT_EQ(Ak({"sandbox", "info", kept_}, &info), 0) << info;
  EXPECT_NE(info.find("egress deny: 198.18.6.1/32"), std::string::npos) << info;
  EXPECT_NE(info.find("egress allow: -"), std::string::npos) << info;
  EXPECT_NE(info.find("egress ports: any"), std::string::npos) << info;
}

// A private range re-opened without the operator's permission: refused at
// create, through the scheduler, naming the executor's flag.
TEST_F(NetCliTest, AllowPrivateRefusedAtCreateWithoutOperatorFlag) {
  std::string out;
  int rc = -1;
  for (int i = 0; i < 100; i++) {
    rc = Ak({"sandbox", "create", "akcpriv", "--egress-allow", "10.213.0.0/16"}, &out);
    if (out.find("no executor") == std::string::npos && out.find("UNAVAILABLE") == std::string::npos) break;
    usleep(200 * 1000);
  }
  EXPECT_NE(rc, 0) << out;
  if (rc == 0) Ak({"sandbox", "remove", "akcpriv"});
  EXPECT_NE(out.find("--egress-allow-private"), std::string::npos) << out;
  std::string list;
  Ak({"sandbox", "list"}, &list);
  EXPECT_EQ(list.find("akcpriv"), std::string::npos) << list;
}

}  // namespace
