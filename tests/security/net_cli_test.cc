// Issue 14, a sandbox's egress policy through the whole stack: the `ak` CLI
// (AK_SCHEDULER pointing at a real ak-scheduler) -> the scheduler -> a
// registered ak-executor -> a real microVM's network namespace rules.
//   ak run --keep --egress-deny NET.1/32 -- sh -c 'nc NET.1; nc NET.3'
// reaches NET.3 and not NET.1 (servers in a namespace of the run's own
// count what arrives); `ak sandbox info` shows the policy; and
// `ak sandbox create --egress-allow 10.213.0.0/16` is refused by an executor
// without --egress-allow-private, naming the flag. Root, nft, ip. Its names
// are the run's: namespace akcinet<pid>, host link akc<pid>, NET a free
// 198.19.X.0/24 (X in 200..239; .1 and .3 inside, .2 the host's end),
// removed at the end, a crashed run's by the next.
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

class NetCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) {
      skip_ = "needs root (network namespaces, nftables)";
      return;
    }
    aktest::PathWithSbin();
    aktest::RemoveStaleNetns("akcinet");
    net_ = aktest::FreeSubnet24("198.19", 200, 239);
    if (net_.empty()) {
      setup_error_ = "no free 198.19.X.0/24 (X in 200..239) on this host";
      return;
    }
    ns_ = aktest::RunName("akcinet");
    dev_ = aktest::RunName("akc");
    std::ifstream f("/proc/sys/net/ipv4/ip_forward");
    std::getline(f, forward_);
    if (!aktest::MakeOutsideNetns(ns_, dev_, net_ + ".1", net_ + ".2") ||
        Sh("ip -n " + ns_ + " addr add " + net_ + ".3/24 dev eth0") != 0 ||
        Sh("sysctl -qw net.ipv4.ip_forward=1") != 0) {
      setup_error_ = "could not make namespace " + ns_ + " (link " + dev_ + ", " + net_ +
                     ".0/24; ip, sysctl: tools/deps.sh)";
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
    if (!ns_.empty()) {
      Sh("ip netns del " + ns_);
      Sh("ip link del " + dev_);
    }
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
  static std::string ns_, dev_, net_;  // this run's namespace, host link, /24
  static aktest::CliStack* stack_;
};
std::string NetCliTest::skip_, NetCliTest::setup_error_, NetCliTest::dir_, NetCliTest::forward_, NetCliTest::kept_;
std::string NetCliTest::ns_, NetCliTest::dev_, NetCliTest::net_;
aktest::CliStack* NetCliTest::stack_;

TEST_F(NetCliTest, RunEgressDenyThroughTheStack) {
  const std::string deny = net_ + ".1", allow = net_ + ".3";
  Echo denied(ns_, deny), other(ns_, allow);
  ASSERT_TRUE(denied.ok() && other.ok());
  std::string p = std::to_string(kPort), out;
  int rc = -1;
  // The scheduler answers UNAVAILABLE until the executor has registered.
  for (int i = 0; i < 100; i++) {
    rc = Ak({"run", "--keep", "--egress-deny", deny + "/32", "--", "sh", "-c",
             "echo hi | nc -w 5 " + deny + " " + p + "; echo hi | nc -w 5 " + allow + " " + p},
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
  EXPECT_EQ(out.find("echo-" + deny + ":"), std::string::npos) << out;
  EXPECT_NE(out.find("echo-" + allow + ":hi"), std::string::npos) << out;
  EXPECT_EQ(denied.hits(), 0) << deny << " was reached: the egress.deny did not hold";
  EXPECT_EQ(other.hits(), 1);

  ASSERT_FALSE(kept_.empty()) << out;
  std::string info;
  ASSERT_EQ(Ak({"sandbox", "info", kept_}, &info), 0) << info;
  EXPECT_NE(info.find("egress deny: " + deny + "/32"), std::string::npos) << info;
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
