// Issue 14: a hostile guest, and a private range re-opened for one sandbox.
// Two real VMs with network, booted once for the suite:
//   hostile    the default policy; runs hostile_guest (a static program
//              pushed in with write_file) as root: hand-built IP packets with
//              spoofed sources through a raw socket, gratuitous ARP claiming
//              the gateway's and the neighbour's addresses, and a burst of
//              ~10k TCP connects per second
//   neighbour  egress.allow 10.213.0.0/16 with the operator's permission
//              (vm_config.net_allow_private, ak-executor --egress-allow-private)
// Servers count what reaches them: the host's loopback and a host address,
// the neighbour's own namespace (its pool address), a "cluster" namespace
// (CLUS.1, CLUS a free 10.213.Y.0/24 with Y in 100..199) and an "internet"
// one (INET.1, INET a free 198.19.X.0/24 with X in 50..99, public-range test
// addresses); the host address is 198.51.100.Z (Z from the pid). Nothing is
// sent anywhere else. Everything made here is the run's own: namespaces
// akhinet<pid> and akhclus<pid> (host ends akhi<pid>, akhc<pid>) and the
// veth akhd<pid> (its peer in akhclus<pid>), so the test can run beside
// net_test and beside itself in another checkout; removed after, a crashed
// run's by the next.
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/testing/netns.h"
#include "vmm/testing/vm_fixture.h"

extern "C" {
#include "lib/base/binpath.h"
#include "vmm/vm.h"
}

namespace {

const int kPort = 7931;

using aktest::Sh;
using aktest::ShOut;


// A TCP+UDP server on addr:port in the network namespace at ns_path ("":
// ours) that counts what arrives; echo: answers "echo:" + the first read,
// else closes each connection at once (a flood target).
class Server {
 public:
  Server(const std::string& ns_path, const std::string& addr, int port, bool echo = true)
      : where_(addr + ":" + std::to_string(port)), echo_(echo) {
    std::thread t([&] {
      if (!ns_path.empty()) {
        int fd = open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) return;
        close(fd);
      }
      struct sockaddr_in sa = {};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(port);
      inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
      int one = 1;
      tcp_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      udp_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      setsockopt(tcp_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      if (bind(tcp_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0 || listen(tcp_, 1024) < 0 ||
          bind(udp_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) {
        close(tcp_);
        close(udp_);
        tcp_ = udp_ = -1;
      }
    });
    t.join();  // the sockets keep the namespace they were made in
    if (ok()) serve_ = std::thread([this] { Serve(); });
  }
  ~Server() {
    stop_ = true;
    if (serve_.joinable()) serve_.join();
    if (tcp_ >= 0) close(tcp_);
    if (udp_ >= 0) close(udp_);
  }
  bool ok() const { return tcp_ >= 0 && udp_ >= 0; }
  int tcp_hits() const { return tcp_hits_; }
  int udp_hits() const { return udp_hits_; }
  const std::string& where() const { return where_; }

 private:
  void Serve() {
    while (!stop_) {
      struct pollfd p[2] = {{tcp_, POLLIN, 0}, {udp_, POLLIN, 0}};
      if (poll(p, 2, 100) <= 0) continue;
      char buf[512];
      if (p[0].revents & POLLIN) {
        int a = accept4(tcp_, nullptr, nullptr, SOCK_CLOEXEC);
        if (a >= 0) {
          tcp_hits_++;
          struct pollfd q = {a, POLLIN, 0};
          ssize_t n = echo_ && poll(&q, 1, 5000) == 1 ? read(a, buf, sizeof(buf)) : -1;
          if (n > 0) {
            (void)!write(a, "echo:", 5);
            (void)!write(a, buf, n);
          }
          close(a);
        }
      }
      if (p[1].revents & POLLIN && recv(udp_, buf, sizeof(buf), 0) >= 0) udp_hits_++;
    }
  }
  std::string where_;
  bool echo_;
  int tcp_ = -1, udp_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> tcp_hits_{0}, udp_hits_{0};
  std::thread serve_;
};

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

class NetHostileTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) {
      skip_ = "needs root (network namespaces, nftables)";
      return;
    }
    aktest::PathWithSbin();
    if (Sh("nft --version") != 0 || Sh("ip -V") != 0 || Sh("nsenter --version") != 0) {
      setup_error_ = "nft, ip or nsenter missing: run tools/deps.sh (nftables, iproute2, util-linux)";
      return;
    }
    forward_ = ReadAll("/proc/sys/net/ipv4/ip_forward");
    forward_ = forward_.substr(0, forward_.find('\n'));
    if (!MakeHosts()) return;
    char bin[4096];
    if (binpath_find("tests/security/hostile_guest", "AK_HOSTILE_GUEST_BIN", bin, sizeof(bin)) < 0) {
      setup_error_ = "tests/security/hostile_guest not found (a data dependency)";
      return;
    }
    std::string error;
    hostile_dir_ = akvm::MakeTempDir("akhh");
    hostile_ = akvm::BootVm("base", hostile_dir_, true, akvm::BootOptions(), &skip_, &error);
    if (!hostile_) {
      if (skip_.empty()) setup_error_ = "hostile VM: " + error;
      return;
    }
    akvm::BootOptions n;
    n.egress = &kAllowCluster;
    n.allow_private = true;
    neighbour_dir_ = akvm::MakeTempDir("akhn");
    neighbour_ = akvm::BootVm("base", neighbour_dir_, true, n, &skip_, &error);
    if (!neighbour_) {
      if (skip_.empty()) setup_error_ = "neighbour VM: " + error;
      return;
    }
    // The neighbour's namespace (QEMU's) and its pool address there.
    neighbour_ns_ = "/proc/" + std::to_string(vm_pid(neighbour_)) + "/ns/net";
    std::istringstream a(ShOut("nsenter --net=" + neighbour_ns_ + " ip -4 -o addr show dev eth0"));
    std::string w;
    while (a >> w)
      if (w == "inet" && a >> w) neighbour_addr_ = w.substr(0, w.find('/'));
    if (neighbour_addr_.empty()) {
      setup_error_ = "no address on eth0 in the neighbour's namespace " + neighbour_ns_;
      return;
    }
    if (!Push(hostile_, ReadAll(bin), "/tmp/hostile_guest")) setup_error_ = "could not copy hostile_guest into the guest";
  }
  static void TearDownTestSuite() {
    for (struct vm* v : {hostile_, neighbour_})
      if (v) vm_free(v);
    hostile_ = neighbour_ = nullptr;
    for (auto* d : {&hostile_dir_, &neighbour_dir_})
      if (!d->empty()) akvm::RemoveDir(*d);
    if (!forward_.empty()) Sh("sysctl -qw net.ipv4.ip_forward=" + forward_);
    if (!inet_ns_.empty()) {
      // Deleting the namespaces deletes every veth with an end in them.
      for (const std::string& ns : {inet_ns_, clus_ns_}) Sh("ip netns del " + ns);
      inet_ns_.clear();
    }
  }
  // The namespaces, links and addresses above; setup_error_ when a step fails.
  static bool MakeHosts() {
    aktest::RemoveStaleNetns("akhinet");
    aktest::RemoveStaleNetns("akhclus");
    std::string inet = aktest::FreeSubnet24("198.19", 50, 99), clus = aktest::FreeSubnet24("10.213", 100, 199);
    if (inet.empty() || clus.empty()) {
      setup_error_ = "no free 198.19.X.0/24 (X in 50..99) or 10.213.Y.0/24 (Y in 100..199) on this host";
      return false;
    }
    inet_ns_ = aktest::RunName("akhinet");
    clus_ns_ = aktest::RunName("akhclus");
    inet_ip_ = inet + ".1";
    cluster_ = clus + ".1";
    host_ip_ = "198.51.100." + std::to_string(20 + getpid() % 200);  // not .7, .9, .12: other tests' fixed ones
    const std::string dev = aktest::RunName("akhd");
    if (!aktest::MakeOutsideNetns(inet_ns_, aktest::RunName("akhi"), inet_ip_, inet + ".2") ||
        !aktest::MakeOutsideNetns(clus_ns_, aktest::RunName("akhc"), cluster_, clus + ".2") ||
        Sh("ip link add " + dev + " type veth peer name eth1 netns " + clus_ns_) != 0 ||
        Sh("ip addr add " + host_ip_ + "/32 dev " + dev) != 0 || Sh("ip link set " + dev + " up") != 0 ||
        Sh("ip -n " + clus_ns_ + " link set eth1 up") != 0 || Sh("sysctl -qw net.ipv4.ip_forward=1") != 0) {
      setup_error_ = "could not make the test's namespaces and addresses (" + inet_ns_ + ", " + clus_ns_ + ", " + dev +
                     "; ip, sysctl)";
      return false;
    }
    return true;
  }
  static bool Push(struct vm* v, const std::string& bytes, const char* path) {
    std::string b64 = akvm::Base64(bytes), err;
    struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
    a.id = "push";
    a.type = "write_file";
    a.path = path;
    a.content_base64 = b64.c_str();
    struct proto_reply* r = akvm::Call(vm_vsock_uds(v), a, 60000, &err);
    if (!r) return false;
    proto_reply_free(r);
    return Guest(v, std::string("chmod 755 ") + path + " && echo done").find("done") != std::string::npos;
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  }
  // The guest's stdout and stderr for sh -c cmd.
  static std::string Guest(struct vm* v, const std::string& cmd, int timeout_ms = 60000) {
    std::string err;
    struct proto_reply* r = akvm::Run(vm_vsock_uds(v), {"sh", "-c", cmd}, timeout_ms, &err);
    EXPECT_NE(r, nullptr) << err;
    if (!r) return "";
    std::string out = std::string(r->stdout_str ? r->stdout_str : "") + (r->stderr_str ? r->stderr_str : "");
    proto_reply_free(r);
    return out;
  }
  static std::string Tcp(struct vm* v, const std::string& addr, int port, int wait_s = 5) {
    return Guest(v, "echo hi | nc -w " + std::to_string(wait_s) + " " + addr + " " + std::to_string(port) +
                        " 2>&1; echo rc=$?");
  }
  static void Udp(struct vm* v, const std::string& addr, int port) {
    Guest(v, "timeout 3 tftp -g -r x -l /dev/null " + addr + " " + std::to_string(port) + " 2>&1; true");
  }
  static std::string skip_, setup_error_, forward_, hostile_dir_, neighbour_dir_, neighbour_ns_, neighbour_addr_;
  // This run's namespaces and addresses: the "internet" server, the
  // "cluster" server, the host's own.
  static std::string inet_ns_, clus_ns_, inet_ip_, cluster_, host_ip_;
  static struct vm *hostile_, *neighbour_;
  static const struct vmm_net_egress kAllowCluster;
};
std::string NetHostileTest::skip_, NetHostileTest::setup_error_, NetHostileTest::forward_, NetHostileTest::hostile_dir_,
    NetHostileTest::neighbour_dir_, NetHostileTest::neighbour_ns_, NetHostileTest::neighbour_addr_;
std::string NetHostileTest::inet_ns_, NetHostileTest::clus_ns_, NetHostileTest::inet_ip_, NetHostileTest::cluster_,
    NetHostileTest::host_ip_;
struct vm *NetHostileTest::hostile_ = nullptr, *NetHostileTest::neighbour_ = nullptr;
const char* const kCluster[] = {"10.213.0.0/16"};
const struct vmm_net_egress NetHostileTest::kAllowCluster = {kCluster, 1, nullptr, 0, nullptr, 0};

// --egress-allow-private: the cluster answers the sandbox whose egress.allow
// re-opens it, by TCP and UDP, and not its neighbour with the default policy.
TEST_F(NetHostileTest, AllowPrivateReopensClusterForThatSandboxOnly) {
  Server clus("/run/netns/" + clus_ns_, cluster_, kPort);
  ASSERT_TRUE(clus.ok());
  std::string out = Tcp(hostile_, cluster_, kPort);
  EXPECT_EQ(out.find("echo:"), std::string::npos) << out;
  Udp(hostile_, cluster_, kPort);
  EXPECT_EQ(clus.tcp_hits(), 0) << "the cluster reached from a sandbox without egress.allow";
  EXPECT_EQ(clus.udp_hits(), 0);
  EXPECT_NE(Tcp(neighbour_, cluster_, kPort).find("echo:hi"), std::string::npos);
  EXPECT_EQ(clus.tcp_hits(), 1);
  Udp(neighbour_, cluster_, kPort);
  EXPECT_GE(clus.udp_hits(), 1);
}

// Without the operator's flag the same egress.allow does not boot: refused
// before QEMU starts, naming the flag.
TEST_F(NetHostileTest, AllowPrivateRefusedWithoutOperatorFlag) {
  akvm::BootOptions o;
  o.egress = &kAllowCluster;
  std::string skip, error, d = akvm::MakeTempDir("akhr");
  struct vm* v = akvm::BootVm("base", d, true, o, &skip, &error);
  if (v) vm_free(v);
  akvm::RemoveDir(d);
  EXPECT_EQ(v, nullptr);
  EXPECT_NE(error.find("--egress-allow-private"), std::string::npos) << error;
}

// QEMU's open files under a flood of denied connects. The namespace
// rejects denied TCP with a reset, so slirp's connect fails at once and
// its socket goes; a dropped SYN instead left each one half-open in
// QEMU, retrying for ~2 minutes, up to its 20,000-file limit.
static size_t OpenFiles(pid_t pid) {
  size_t n = 0;
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  while (d && readdir(d)) n++;
  if (d) closedir(d);
  return n;
}

TEST_F(NetHostileTest, DeniedConnectFloodHoldsNoFiles) {
  Server cluster("/run/netns/" + clus_ns_, cluster_, kPort + 3);
  ASSERT_TRUE(cluster.ok());
  size_t before = OpenFiles(vm_pid(hostile_));
  std::string out = Guest(hostile_, "/tmp/hostile_guest flood 2 1000 " + cluster_ + " " + std::to_string(kPort + 3));
  ASSERT_NE(out.find("attempts"), std::string::npos) << out;
  long attempts = atol(out.c_str() + out.find("attempts") + 9);
  EXPECT_GE(attempts, 1000) << out;
  sleep(2);
  size_t after = OpenFiles(vm_pid(hostile_));
  printf("QEMU's open files: %zu before, %zu after %ld denied connects (%s)\n", before, after, attempts,
         out.substr(0, out.find('\n')).c_str());
  EXPECT_LT(after, before + 100) << "denied connects left open files in QEMU";
  EXPECT_EQ(cluster.tcp_hits(), 0);
}

// Root in the guest with raw sockets, ARP and a connect flood reaches
// neither the host (loopback, also as 10.0.2.2, and a host address) nor the
// neighbour's namespace; the neighbour fetches from the internet all along.
TEST_F(NetHostileTest, HostileGuestReachesNeitherHostNorNeighbour) {
  ASSERT_EQ(Guest(hostile_, "id -u"), "0\n");
  std::vector<std::unique_ptr<Server>> guarded;
  guarded.emplace_back(new Server("", "127.0.0.1", kPort));
  guarded.emplace_back(new Server("", host_ip_, kPort));
  guarded.emplace_back(new Server(neighbour_ns_, neighbour_addr_, kPort));
  for (auto& s : guarded) ASSERT_TRUE(s->ok()) << s->where();
  Server fetch("/run/netns/" + inet_ns_, inet_ip_, kPort + 1);
  Server flooded("/run/netns/" + inet_ns_, inet_ip_, kPort + 2, false);
  ASSERT_TRUE(fetch.ok() && flooded.ok());
  const std::string port = std::to_string(kPort);
  const char* gw = "10.0.2.2";  // slirp's gateway: the host's loopback unless confined

  // Spoofed sources: the internet host, the neighbour, the gateway.
  for (const std::string& src : {inet_ip_, neighbour_addr_, std::string(gw)})
    for (const std::string& dst : {std::string(gw), host_ip_, neighbour_addr_}) {
      std::string out = Guest(hostile_, "/tmp/hostile_guest spoof " + src + " " + dst + " " + port + " 20");
      EXPECT_NE(out.find("sent 40"), std::string::npos) << src << " -> " << dst << ": " << out;
    }
  for (const std::string& claim : {std::string(gw), std::string("10.0.2.3"), neighbour_addr_}) {
    std::string out = Guest(hostile_, "/tmp/hostile_guest arp eth0 " + claim + " 50");
    EXPECT_NE(out.find("sent 50"), std::string::npos) << claim << ": " << out;
  }

  // The burst, in the background: QEMU's user networking serves the
  // guest's thousands of half-open connections on its main loop, which
  // stalls the hostile VM itself for a while (its own problem). The
  // neighbour fetches meanwhile, for longer than the burst lasts.
  Guest(hostile_, "/tmp/hostile_guest flood 5 10000 " + std::string(gw) + " " + port + " " + host_ip_ + " " + port + " " +
                      neighbour_addr_ + " " + port + " " + inet_ip_ + " " + std::to_string(kPort + 2) +
                      " >/tmp/flood.out 2>&1 </dev/null &");
  // nc -w 20: a fetch may be slow on a loaded 2-core TCG host, but not fail.
  int fetched = 0, failed = 0;
  std::string failure;
  for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20); std::chrono::steady_clock::now() < end;) {
    std::string out = Tcp(neighbour_, inet_ip_, kPort + 1, 20);
    if (out.find("echo:hi") != std::string::npos)
      fetched++;
    else
      failed++, failure = out;
  }
  EXPECT_GE(fetched, 3) << "the neighbour fetched too little during the burst";
  EXPECT_EQ(failed, 0) << "neighbour fetches that failed during the burst, the last: " << failure;
  auto nothing_reached = [&](const char* when) {
    for (auto& s : guarded) {
      EXPECT_EQ(s->tcp_hits(), 0) << s->where() << " was reached by TCP " << when;
      EXPECT_EQ(s->udp_hits(), 0) << s->where() << " was reached by UDP " << when;
    }
  };
  nothing_reached("during the burst");
  // The burst happened: a quarter of it went to the public target, which
  // counts what it accepted (asks for 10k/s for 5 s; under TCG one vCPU
  // makes 500 to 10k/s depending on the host's load).
  EXPECT_GT(flooded.tcp_hits(), 250) << "the burst did not reach the public target";
  // The guest's own count, when the hostile VM answers again: the denied
  // connects sit in SYN-SENT in its QEMU (an nft drop does not fail a TCP
  // connect()), up to its 20000 files, for the kernel's SYN retries
  // (~2 min), and slow its main loop meanwhile. Reported, not asserted.
  std::string flood, err;
  for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
       flood.find("attempts") == std::string::npos && std::chrono::steady_clock::now() < end;) {
    struct proto_reply* r = akvm::Run(vm_vsock_uds(hostile_), {"sh", "-c", "cat /tmp/flood.out"}, 10000, &err);
    if (r && r->stdout_str) flood = r->stdout_str;
    if (r) proto_reply_free(r);
    if (flood.find("attempts") == std::string::npos) sleep(2);
  }
  printf("flood: %s; the public target accepted %d\n",
         flood.empty() ? ("no result from the hostile VM yet " + err).c_str() : flood.substr(0, flood.find('\n')).c_str(),
         flooded.tcp_hits());
  EXPECT_NE(Tcp(neighbour_, inet_ip_, kPort + 1, 20).find("echo:hi"), std::string::npos) << "after the burst";
  nothing_reached("after the burst");
}

}  // namespace
