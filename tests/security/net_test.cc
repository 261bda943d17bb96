// Issue 14, the data path: from inside a VM with network (QEMU's user
// networking in a namespace of its own, vmm/backend/vmm_net.h) only the
// public internet is reachable. "Outside" hosts are network namespaces and
// addresses this test makes, and removes again (also what a crashed earlier
// run left): nothing is sent anywhere else.
//   akt-inet  198.18.0.1 (a public-range test address): reachable
//   akt-clus  10.213.0.1 (a private "cluster" address): not
//   the host's 127.0.0.1, a host address 198.51.100.7 on a device of ours
//   (public-looking: only "it is the host" denies it) and 169.254.213.7
//   (link-local, metadata-like) on the same device (a veth pair aktdum0/1:
//   this kernel may lack the dummy driver): not
// for TCP (busybox nc) and UDP (busybox tftp, which sends one request to any
// port). Servers count what reaches them: a denial is "nothing arrived",
// not only "the guest saw an error".
// Domain rules: a DNS server in akt-inet at 198.18.0.53 (the VMs' resolvers'
// --dns-upstream) answers allowed.test -> 198.18.0.1, other.test ->
// 198.18.0.4, rebind.test -> 10.213.0.1 and 198.18.0.1; a third VM denies
// 0.0.0.0/0 and allows allowed.test and rebind.test. (198.18.0.2 is the
// host's end of the akt-inet link, so other.test gets 198.18.0.4.)
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "vmm/net/net_event.h"
#include "vmm/testing/vm_fixture.h"
#include "vmm/vm.h"

namespace {

int Sh(const std::string& cmd) { return system((cmd + " >/dev/null 2>&1").c_str()); }

// One TCP+UDP echo server on addr:port inside netns (empty: ours).
class Echo {
 public:
  Echo(const std::string& netns, const std::string& addr, int port) : addr_(addr), port_(port) {
    std::thread t([&] {
      if (!netns.empty()) {
        int fd = open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) return;
        close(fd);
      }
      struct sockaddr_in sa = {};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(port_);
      inet_pton(AF_INET, addr_.c_str(), &sa.sin_addr);
      int one = 1;
      tcp_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      udp_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      setsockopt(tcp_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      if (bind(tcp_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0 || listen(tcp_, 8) < 0 ||
          bind(udp_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) {
        close(tcp_);
        close(udp_);
        tcp_ = udp_ = -1;
      }
    });
    t.join();  // the sockets keep the namespace they were made in
    if (ok()) serve_ = std::thread([this] { Serve(); });
  }
  ~Echo() {
    stop_ = true;
    if (serve_.joinable()) serve_.join();
    if (tcp_ >= 0) close(tcp_);
    if (udp_ >= 0) close(udp_);
  }
  bool ok() const { return tcp_ >= 0 && udp_ >= 0; }
  int tcp_hits() const { return tcp_hits_; }
  int udp_hits() const { return udp_hits_; }
  std::string where() const { return addr_ + ":" + std::to_string(port_); }

 private:
  void Serve() {
    while (!stop_) {
      struct pollfd p[2] = {{tcp_, POLLIN, 0}, {udp_, POLLIN, 0}};
      if (poll(p, 2, 100) <= 0) continue;
      char buf[512];
      if (p[0].revents & POLLIN) {
        int a = accept4(tcp_, nullptr, nullptr, SOCK_CLOEXEC);
        if (a < 0) continue;
        tcp_hits_++;
        struct pollfd q = {a, POLLIN, 0};
        ssize_t n = poll(&q, 1, 5000) == 1 ? read(a, buf, sizeof(buf)) : -1;
        if (n > 0) {
          (void)!write(a, "echo:", 5);
          (void)!write(a, buf, n);
        }
        close(a);
      }
      if (p[1].revents & POLLIN) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(udp_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &fl);
        if (n > 0) udp_hits_++;
      }
    }
  }
  std::string addr_;
  int port_;
  int tcp_ = -1, udp_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> tcp_hits_{0}, udp_hits_{0};
  std::thread serve_;
};

// A DNS server (UDP) on addr:53 inside netns: A records from a fixed table,
// NOERROR without records for other types of a known name, NXDOMAIN for the
// rest; counts the queries per name. Written here from RFC 1035, apart from
// the resolver's parser, so a bug in one is not hidden by the other.
class DnsServer {
 public:
  DnsServer(const std::string& netns, const std::string& addr) {
    std::thread t([&] {
      int fd = open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) return;
      close(fd);
      struct sockaddr_in sa = {};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(53);
      inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
      udp_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (bind(udp_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) {
        close(udp_);
        udp_ = -1;
      }
    });
    t.join();
    if (udp_ >= 0) serve_ = std::thread([this] { Serve(); });
  }
  ~DnsServer() {
    stop_ = true;
    if (serve_.joinable()) serve_.join();
    if (udp_ >= 0) close(udp_);
  }
  bool ok() const { return udp_ >= 0; }
  int queries(const std::string& name) {
    std::lock_guard<std::mutex> g(mu_);
    return counts_[name];
  }

 private:
  void Serve() {
    const std::multimap<std::string, std::string> table = {
        {"allowed.test", "198.18.0.1"}, {"other.test", "198.18.0.4"}, {"rebind.test", "10.213.0.1"},
        {"rebind.test", "198.18.0.1"}, {"direct.test", "198.18.0.1"}};
    while (!stop_) {
      struct pollfd p = {udp_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      unsigned char q[512], out[1024];
      struct sockaddr_storage from;
      socklen_t fl = sizeof(from);
      ssize_t n = recvfrom(udp_, q, sizeof(q), 0, reinterpret_cast<sockaddr*>(&from), &fl);
      if (n < 12 + 5 || q[4] != 0 || q[5] != 1) continue;
      std::string name;
      size_t off = 12;
      while (off < (size_t)n && q[off] != 0 && q[off] < 64 && off + 1 + q[off] < (size_t)n) {
        if (!name.empty()) name += '.';
        name.append(reinterpret_cast<char*>(q + off + 1), q[off]);
        off += 1 + q[off];
      }
      if (off + 5 > (size_t)n || q[off] != 0) continue;
      unsigned qtype = q[off + 1] << 8 | q[off + 2];
      size_t end = off + 5;
      {
        std::lock_guard<std::mutex> g(mu_);
        counts_[name]++;
      }
      memcpy(out, q, end);
      out[2] = 0x80 | (q[2] & 0x01);  // QR, RD copied
      out[3] = 0x80;                  // RA, NOERROR
      out[6] = out[7] = out[8] = out[9] = out[10] = out[11] = 0;
      size_t o = end;
      auto range = table.equal_range(name);
      if (range.first == range.second) out[3] |= 3;  // NXDOMAIN
      unsigned an = 0;
      for (auto it = range.first; qtype == 1 && it != range.second; ++it, an++) {
        unsigned char rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 0, 0, 0, 0};
        inet_pton(AF_INET, it->second.c_str(), rr + 12);
        memcpy(out + o, rr, sizeof(rr));
        o += sizeof(rr);
      }
      out[7] = an;
      sendto(udp_, out, o, 0, reinterpret_cast<sockaddr*>(&from), fl);
    }
  }
  int udp_ = -1;
  std::atomic<bool> stop_{false};
  std::thread serve_;
  std::mutex mu_;
  std::map<std::string, int> counts_;
};

// What this test makes on the host, all named akt-*: removed before (a
// crashed run's leftovers) and after.
void Cleanup() {
  Sh("ip netns del akt-inet");
  Sh("ip netns del akt-clus");
  Sh("ip link del akt-i0");
  Sh("ip link del akt-c0");
  Sh("ip link del aktdum0");  // and its peer aktdum1
}

// netns name with eth0 = inside/24, host end dev = host/24.
bool Outside(const std::string& name, const std::string& dev, const std::string& inside, const std::string& host) {
  return Sh("ip netns add " + name) == 0 &&
         Sh("ip link add " + dev + " type veth peer name eth0 netns " + name) == 0 &&
         Sh("ip addr add " + host + "/24 dev " + dev) == 0 && Sh("ip link set " + dev + " up") == 0 &&
         Sh("ip -n " + name + " addr add " + inside + "/24 dev eth0") == 0 &&
         Sh("ip -n " + name + " link set eth0 up") == 0 && Sh("ip -n " + name + " link set lo up") == 0;
}

std::string ReadLine(const char* path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

class NetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) {
      skip_ = "needs root (network namespaces, nftables)";
      return;
    }
    // Bazel's PATH has no sbin.
    setenv("PATH", (std::string(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin") + ":/usr/sbin:/sbin").c_str(), 1);
    if (Sh("nft --version") != 0 || Sh("ip -V") != 0) {
      setup_error_ = "nft or ip missing: run tools/deps.sh (nftables, iproute2)";
      return;
    }
    Cleanup();
    forward_ = ReadLine("/proc/sys/net/ipv4/ip_forward");
    if (!Outside("akt-inet", "akt-i0", "198.18.0.1", "198.18.0.2") ||
        !Outside("akt-clus", "akt-c0", "10.213.0.1", "10.213.0.2") || Sh("ip link add aktdum0 type veth peer name aktdum1") != 0 ||
        Sh("ip addr add 198.51.100.7/32 dev aktdum0") != 0 || Sh("ip addr add 169.254.213.7/32 dev aktdum0") != 0 ||
        Sh("ip link set aktdum0 up") != 0 || Sh("ip link set aktdum1 up") != 0 || Sh("sysctl -qw net.ipv4.ip_forward=1") != 0) {
      setup_error_ = "could not make the test's namespaces and addresses";
      return;
    }
    dir_ = akvm::MakeTempDir("aknet");
    std::string error;
    // 198.18.0.128/25 is public but the operator's (--deny-cidr).
    if (Sh("ip -n akt-inet addr add 198.18.0.129/24 dev eth0") != 0) {
      setup_error_ = "could not add 198.18.0.129 in akt-inet";
      return;
    }
    // The DNS server the VMs' resolvers ask, and other.test's address.
    if (Sh("ip -n akt-inet addr add 198.18.0.53/24 dev eth0") != 0 ||
        Sh("ip -n akt-inet addr add 198.18.0.4/24 dev eth0") != 0) {
      setup_error_ = "could not add 198.18.0.53 and 198.18.0.4 in akt-inet";
      return;
    }
    dns_ = new DnsServer("akt-inet", "198.18.0.53");
    if (!dns_->ok()) {
      setup_error_ = "could not serve DNS on 198.18.0.53:53 in akt-inet";
      return;
    }
    vm_ = akvm::BootVm("base", dir_, true, &skip_, &error, 1, 256, {"198.18.0.128/25"}, nullptr, {kDnsUpstream});
    if (!vm_ && skip_.empty()) setup_error_ = error;
    if (vm_) ifname_ = HostIfname();
    // A second VM with a sandbox's own policy (SandboxSpec.egress): the
    // "internet" host 198.18.0.1 denied, and only port kPort (198.18.0.3
    // is another "internet" address, reachable on that port only).
    if (vm_ && Sh("ip -n akt-inet addr add 198.18.0.3/24 dev eth0") != 0) {
      setup_error_ = "could not add 198.18.0.3 in akt-inet";
      return;
    }
    if (vm_) {
      dir2_ = akvm::MakeTempDir("aknet2");
      vm2_ = akvm::BootVm("base", dir2_, true, &skip_, &error, 1, 256, {"198.18.0.128/25"}, &kPolicy);
      if (!vm2_ && skip_.empty()) setup_error_ = error;
    }
    // A third with domain rules: deny 0.0.0.0/0, allow allowed.test and rebind.test.
    if (vm2_) {
      dir3_ = akvm::MakeTempDir("aknet4");
      akvm::BootOptions o;
      o.deny_cidrs = {"198.18.0.128/25"};
      o.egress = &kDnsPolicy;
      o.dns_upstreams = {kDnsUpstream};
      net_reporter_init(&reporter3_, OnEvent, nullptr, 1000, 1000);
      o.reporter = &reporter3_;
      vm3_ = akvm::BootVm("base", dir3_, true, o, &skip_, &error);
      if (!vm3_ && skip_.empty()) setup_error_ = error;
    }
  }
  static void TearDownTestSuite() {
    if (vm3_) vm_free(vm3_);
    vm3_ = nullptr;
    if (dir3_.size()) net_reporter_destroy(&reporter3_);
    if (!dir3_.empty()) akvm::RemoveDir(dir3_);
    delete dns_;
    dns_ = nullptr;
    if (vm2_) vm_free(vm2_);
    vm2_ = nullptr;
    if (!dir2_.empty()) akvm::RemoveDir(dir2_);
    if (vm_) vm_free(vm_);
    vm_ = nullptr;
    // The VM's veth went with it.
    if (!ifname_.empty() && if_nametoindex(ifname_.c_str()) != 0)
      ADD_FAILURE() << ifname_ << " left behind after vm_free";
    if (!dir_.empty()) akvm::RemoveDir(dir_);
    if (!forward_.empty()) Sh("sysctl -qw net.ipv4.ip_forward=" + forward_);
    Cleanup();
  }
  // The VM's host end: the one akv* link whose peer is in another namespace.
  static std::string HostIfname() {
    std::string out;
    FILE* p = popen("ip -o link show type veth | grep -o 'akv[0-9]*@' | tr -d @", "r");
    char buf[64];
    while (p && fgets(buf, sizeof(buf), p)) out = std::string(buf, strcspn(buf, "\n"));
    if (p) pclose(p);
    return out;
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    ASSERT_NE(vm_, nullptr);
  }
  // The guest's output for sh -c cmd (in vm2_ with policy, in vm3_ with
  // the domain policy).
  std::string Guest(const std::string& cmd, bool policy = false, struct vm* in = nullptr) {
    std::string err;
    if (!in) in = policy ? vm2_ : vm_;
    struct proto_reply* r = akvm::Run(vm_vsock_uds(in), {"sh", "-c", cmd}, 60000, &err);
    EXPECT_NE(r, nullptr) << err;
    if (!r) return "";
    std::string out = r->stdout_str ? r->stdout_str : "";
    proto_reply_free(r);
    return out;
  }
  std::string Tcp(const std::string& addr, int port, bool policy = false) {
    return Guest("echo hi | nc -w 3 " + addr + " " + std::to_string(port) + " 2>&1; echo rc=$?", policy);
  }
  // The guest's /etc/resolv.conf names only `server`.
  void PointResolverAt(const std::string& server) { Guest("echo nameserver " + server + " > /etc/resolv.conf"); }
  void Udp(const std::string& addr, int port, bool policy = false) {
    Guest("timeout 3 tftp -g -r x -l /dev/null " + addr + " " + std::to_string(port) + " 2>&1; true", policy);
  }
  // busybox nslookup NAME SERVER (the VM's resolver: 10.0.2.3).
  std::string Lookup(const std::string& name, struct vm* in, const std::string& server = "10.0.2.3") {
    return Guest("nslookup " + name + " " + server + " 2>&1; echo rc=$?", false, in);
  }
  static void OnEvent(void*, const struct net_event* ev) {
    std::lock_guard<std::mutex> l(events_mu_);
    events3_.push_back(*ev);
  }
  // Whether vm3_'s reporter passed on an event of kind for name.
  static bool Reported(enum net_event_kind kind, const std::string& name) {
    std::lock_guard<std::mutex> l(events_mu_);
    for (const auto& ev : events3_)
      if (ev.kind == kind && name == ev.name) return true;
    return false;
  }
  static std::string skip_, setup_error_, dir_, dir2_, dir3_, forward_, ifname_;
  static struct net_reporter reporter3_;
  static std::mutex events_mu_;
  static std::vector<struct net_event> events3_;
  static struct vm *vm_, *vm2_, *vm3_;
  static DnsServer* dns_;
  static const struct vmm_net_egress kPolicy, kDnsPolicy;
  static const char* const kDnsUpstream;
};
std::string NetTest::skip_, NetTest::setup_error_, NetTest::dir_, NetTest::dir2_, NetTest::dir3_, NetTest::forward_,
    NetTest::ifname_;
struct vm *NetTest::vm_ = nullptr, *NetTest::vm2_ = nullptr, *NetTest::vm3_ = nullptr;
DnsServer* NetTest::dns_ = nullptr;
struct net_reporter NetTest::reporter3_;
std::mutex NetTest::events_mu_;
std::vector<struct net_event> NetTest::events3_;
const char* const NetTest::kDnsUpstream = "198.18.0.53";

const int kPort = 7913;
const char* const kPolicyDeny[] = {"198.18.0.1/32"};
const uint16_t kPolicyPorts[] = {kPort};
const struct vmm_net_egress NetTest::kPolicy = {nullptr, 0, kPolicyDeny, 1, kPolicyPorts, 1};
const char* const kDnsDeny[] = {"0.0.0.0/0"};
const char* const kDnsAllowNames[] = {"allowed.test", "rebind.test"};
const struct vmm_net_egress NetTest::kDnsPolicy = {nullptr, 0, kDnsDeny, 1, nullptr, 0, kDnsAllowNames, 2, nullptr, 0};

// The public-range "internet" answers, by TCP and by UDP.
TEST_F(NetTest, PublicInternetReachable) {
  Echo inet("akt-inet", "198.18.0.1", kPort);
  ASSERT_TRUE(inet.ok());
  EXPECT_NE(Tcp("198.18.0.1", kPort).find("echo:hi"), std::string::npos);
  EXPECT_EQ(inet.tcp_hits(), 1);
  Udp("198.18.0.1", kPort);
  EXPECT_GE(inet.udp_hits(), 1);
}

// The host (loopback through slirp's 10.0.2.2 and directly, another host
// address), link-local and a private cluster network: nothing arrives.
TEST_F(NetTest, HostLinkLocalAndPrivateUnreachable) {
  std::vector<std::unique_ptr<Echo>> servers;
  servers.emplace_back(new Echo("", "127.0.0.1", kPort));
  servers.emplace_back(new Echo("", "198.51.100.7", kPort));
  servers.emplace_back(new Echo("", "169.254.213.7", kPort));
  servers.emplace_back(new Echo("akt-clus", "10.213.0.1", kPort));
  servers.emplace_back(new Echo("", "198.18.0.2", kPort));  // the "internet" link's host end
  for (auto& s : servers) ASSERT_TRUE(s->ok()) << s->where();
  const char* targets[] = {"10.0.2.2", "127.0.0.1", "198.51.100.7", "169.254.213.7", "10.213.0.1", "198.18.0.2"};
  for (const char* t : targets) {
    std::string out = Tcp(t, kPort);
    EXPECT_EQ(out.find("echo:"), std::string::npos) << t << ": " << out;
    Udp(t, kPort);
  }
  for (auto& s : servers) {
    EXPECT_EQ(s->tcp_hits(), 0) << s->where() << " was reached by TCP";
    EXPECT_EQ(s->udp_hits(), 0) << s->where() << " was reached by UDP";
  }
}

// The operator's deny list (ak-executor --deny-cidr) holds for a public
// address next to a reachable one.
TEST_F(NetTest, OperatorDeniedCidrUnreachable) {
  Echo denied("akt-inet", "198.18.0.129", kPort);
  ASSERT_TRUE(denied.ok());
  std::string out = Tcp("198.18.0.129", kPort);
  EXPECT_EQ(out.find("echo:"), std::string::npos) << out;
  Udp("198.18.0.129", kPort);
  EXPECT_EQ(denied.tcp_hits(), 0);
  EXPECT_EQ(denied.udp_hits(), 0);
}

// The VM's namespace reaches nothing on the host either through the veth's
// host end (the gateway), which is a host address.
TEST_F(NetTest, GatewayUnreachable) {
  ASSERT_FALSE(ifname_.empty());
  std::string slot = ifname_.substr(3);
  unsigned n = std::stoul(slot);
  char gw[32];
  snprintf(gw, sizeof(gw), "100.96.%u.%u", (n * 4 + 1) / 256, (n * 4 + 1) % 256);
  Echo host("", "0.0.0.0", kPort + 1);
  ASSERT_TRUE(host.ok());
  std::string out = Tcp(gw, kPort + 1);
  EXPECT_EQ(out.find("echo:"), std::string::npos) << gw << ": " << out;
  Udp(gw, kPort + 1);
  EXPECT_EQ(host.tcp_hits(), 0);
  EXPECT_EQ(host.udp_hits(), 0);
}

// A sandbox's own egress.deny: the "internet" host that the first VM
// reaches is unreachable from the VM with the policy, by TCP and UDP.
TEST_F(NetTest, SandboxDenyHoldsForThatSandboxOnly) {
  ASSERT_NE(vm2_, nullptr);
  Echo inet("akt-inet", "198.18.0.1", kPort);
  ASSERT_TRUE(inet.ok());
  std::string out = Tcp("198.18.0.1", kPort, true);
  EXPECT_EQ(out.find("echo:"), std::string::npos) << out;
  Udp("198.18.0.1", kPort, true);
  EXPECT_EQ(inet.tcp_hits(), 0);
  EXPECT_EQ(inet.udp_hits(), 0);
  // The other VM still reaches it.
  EXPECT_NE(Tcp("198.18.0.1", kPort).find("echo:hi"), std::string::npos);
  EXPECT_EQ(inet.tcp_hits(), 1);
}

// egress.ports: another public host is reachable on the allowed port and
// not on another one.
TEST_F(NetTest, SandboxPortsLimitDestinations) {
  ASSERT_NE(vm2_, nullptr);
  Echo on("akt-inet", "198.18.0.3", kPort), off("akt-inet", "198.18.0.3", kPort + 2);
  ASSERT_TRUE(on.ok() && off.ok());
  EXPECT_NE(Tcp("198.18.0.3", kPort, true).find("echo:hi"), std::string::npos);
  EXPECT_EQ(on.tcp_hits(), 1);
  std::string out = Tcp("198.18.0.3", kPort + 2, true);
  EXPECT_EQ(out.find("echo:"), std::string::npos) << out;
  Udp("198.18.0.3", kPort + 2, true);
  EXPECT_EQ(off.tcp_hits(), 0);
  EXPECT_EQ(off.udp_hits(), 0);
  // Without a policy, the other port answers.
  EXPECT_NE(Tcp("198.18.0.3", kPort + 2).find("echo:hi"), std::string::npos);
}

// An allow of a private range, or of the operator's denied range, without
// the operator's permission: the VM does not start, and the error says why
// and what would permit it.
TEST_F(NetTest, PrivateAllowRefusedWithoutOperatorFlag) {
  for (const char* allow : {"10.213.0.0/24", "198.18.0.128/25"}) {
    const char* const a[] = {allow};
    const struct vmm_net_egress e = {a, 1, nullptr, 0, nullptr, 0};
    std::string skip, error, d = akvm::MakeTempDir("aknet3");
    struct vm* v = akvm::BootVm("base", d, true, &skip, &error, 1, 256, {"198.18.0.128/25"}, &e);
    if (v) vm_free(v);
    akvm::RemoveDir(d);
    EXPECT_EQ(v, nullptr) << allow;
    EXPECT_NE(error.find("--egress-allow-private"), std::string::npos) << error;
  }
}


// ---- The guest's own network tools (issue 14, "guestnet"): busybox wget
// and nc in the base image resolve names from /etc/hosts and through DNS.

// A tiny DNS server on UDP addr:53 inside netns: A for `name` is `answer`;
// AAAA for it is an empty NOERROR; any other name is NXDOMAIN. Bytes from
// the guest are bounded (one 512-byte datagram, at most 16 labels).
class TinyDns {
 public:
  TinyDns(const std::string& netns, const std::string& addr, const std::string& name, const std::string& answer)
      : name_(name) {
    inet_pton(AF_INET, answer.c_str(), &answer_);
    std::thread t([&] {
      int fd = open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) return;
      close(fd);
      struct sockaddr_in sa = {};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(53);
      inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
      udp_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (bind(udp_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) {
        close(udp_);
        udp_ = -1;
      }
    });
    t.join();
    if (ok()) serve_ = std::thread([this] { Serve(); });
  }
  ~TinyDns() {
    stop_ = true;
    if (serve_.joinable()) serve_.join();
    if (udp_ >= 0) close(udp_);
  }
  bool ok() const { return udp_ >= 0; }
  int answered() const { return answered_; }  // A queries for name_

 private:
  // The question's name in dotted form and where the question ends; false
  // if the query is malformed.
  static bool Question(const unsigned char* q, size_t n, std::string* name, size_t* end) {
    if (n < 12 || q[4] != 0 || q[5] != 1) return false;  // QDCOUNT 1
    size_t i = 12;
    for (int labels = 0; labels < 16; labels++) {
      if (i >= n) return false;
      size_t len = q[i++];
      if (len == 0) {
        if (i + 4 > n) return false;
        *end = i + 4;
        return true;
      }
      if (len > 63 || i + len > n) return false;
      if (!name->empty()) *name += '.';
      name->append(reinterpret_cast<const char*>(q + i), len);
      i += len;
    }
    return false;
  }
  void Serve() {
    while (!stop_) {
      struct pollfd p = {udp_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      unsigned char q[512], r[600];
      struct sockaddr_storage from;
      socklen_t fl = sizeof(from);
      ssize_t n = recvfrom(udp_, q, sizeof(q), 0, reinterpret_cast<sockaddr*>(&from), &fl);
      std::string name;
      size_t end = 0;
      if (n <= 0 || !Question(q, n, &name, &end)) continue;
      unsigned qtype = q[end - 4] << 8 | q[end - 3];
      bool ours = strcasecmp(name.c_str(), name_.c_str()) == 0, a = ours && qtype == 1;
      memcpy(r, q, end);
      r[2] = 0x84 | (q[2] & 0x01);  // QR, AA, the query's RD
      r[3] = ours ? 0 : 3;          // NOERROR or NXDOMAIN
      r[6] = r[8] = r[9] = r[10] = r[11] = 0;
      r[7] = a ? 1 : 0;
      size_t len = end;
      if (a) {
        const unsigned char rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4};
        memcpy(r + len, rr, sizeof(rr));
        memcpy(r + len + sizeof(rr), &answer_, 4);
        len += sizeof(rr) + 4;
        answered_++;
      }
      sendto(udp_, r, len, 0, reinterpret_cast<sockaddr*>(&from), fl);
    }
  }
  std::string name_;
  struct in_addr answer_ = {};
  int udp_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> answered_{0};
  std::thread serve_;
};

// An HTTP/1.0 server on addr:port inside netns: every connection gets
// kBody, and a request line counts as a hit.
const char kBody[] = "hello from the internet namespace\n";
class Http {
 public:
  Http(const std::string& netns, const std::string& addr, int port) {
    std::thread t([&] {
      int fd = open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) return;
      close(fd);
      struct sockaddr_in sa = {};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(port);
      inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
      int one = 1;
      tcp_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      setsockopt(tcp_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      if (bind(tcp_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0 || listen(tcp_, 8) < 0) {
        close(tcp_);
        tcp_ = -1;
      }
    });
    t.join();
    if (ok()) serve_ = std::thread([this] { Serve(); });
  }
  ~Http() {
    stop_ = true;
    if (serve_.joinable()) serve_.join();
    if (tcp_ >= 0) close(tcp_);
  }
  bool ok() const { return tcp_ >= 0; }
  int hits() const { return hits_; }

 private:
  void Serve() {
    while (!stop_) {
      struct pollfd p = {tcp_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      int a = accept4(tcp_, nullptr, nullptr, SOCK_CLOEXEC);
      if (a < 0) continue;
      char buf[1024];
      struct pollfd q = {a, POLLIN, 0};
      if (poll(&q, 1, 5000) == 1 && read(a, buf, sizeof(buf)) > 0) {
        hits_++;
        std::string resp = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                           std::to_string(sizeof(kBody) - 1) + "\r\n\r\n" + kBody;
        (void)!write(a, resp.data(), resp.size());
      }
      close(a);
    }
  }
  int tcp_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> hits_{0};
  std::thread serve_;
};

// The guest's nameserver for the DNS cases: the tiny server in the
// "internet" namespace, written into the guest's resolv.conf by
// PointResolverAt. When the guest's resolver becomes the policy's own
// (slirp's 10.0.2.3 replaced), only these two change: the guest keeps that
// resolver and the policy's is pointed at (or allows) kDnsServer.
const char kDnsServer[] = "198.18.0.1";
const char kDnsName[] = "dns.internet.test";

// A name from the guest's /etc/hosts: wget fetches the page, nc connects.
TEST_F(NetTest, WgetAndNcResolveFromHosts) {
  Http web("akt-inet", "198.18.0.1", kPort + 3);
  ASSERT_TRUE(web.ok());
  Guest("grep -q internet.test /etc/hosts || echo '198.18.0.1 internet.test' >> /etc/hosts");
  std::string port = std::to_string(kPort + 3);
  std::string out = Guest("wget -q -O- http://internet.test:" + port + "/ 2>&1; echo rc=$?");
  EXPECT_NE(out.find(kBody), std::string::npos) << out;
  EXPECT_NE(out.find("rc=0"), std::string::npos) << out;
  out = Guest("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 internet.test " + port + " 2>&1; echo rc=$?");
  EXPECT_NE(out.find(kBody), std::string::npos) << out;
  EXPECT_EQ(web.hits(), 2);
}

// wget -T (a timeout) used to kill wget with SIGSEGV before any lookup
// (Debian's busybox-static has no -T but still parses it into NULL:
// vmm/image/busybox_wget.c). Now it is refused with busybox's usage text
// and nothing is sent.
TEST_F(NetTest, WgetTimeoutOptionRefusedNotCrashing) {
  Http web("akt-inet", "198.18.0.1", kPort + 5);
  ASSERT_TRUE(web.ok());
  std::string out = Guest("wget -T 5 -O- http://198.18.0.1:" + std::to_string(kPort + 5) + "/ 2>&1; echo rc=$?");
  EXPECT_EQ(out.find("Segmentation fault"), std::string::npos) << out;
  EXPECT_NE(out.find("rc=1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("invalid option"), std::string::npos) << out;
  EXPECT_EQ(web.hits(), 0);
}

// A name only DNS knows: the guest asks its nameserver (a tiny server in
// the "internet" namespace), then wget and nc reach the answer.
TEST_F(NetTest, WgetAndNcResolveThroughDns) {
  TinyDns dns("akt-inet", kDnsServer, kDnsName, "198.18.0.1");
  ASSERT_TRUE(dns.ok());
  Http web("akt-inet", "198.18.0.1", kPort + 4);
  ASSERT_TRUE(web.ok());
  std::string saved = Guest("cat /etc/resolv.conf");
  PointResolverAt(kDnsServer);
  std::string port = std::to_string(kPort + 4);
  std::string out = Guest(std::string("wget -q -O- http://") + kDnsName + ":" + port + "/ 2>&1; echo rc=$?");
  EXPECT_NE(out.find(kBody), std::string::npos) << out;
  EXPECT_NE(out.find("rc=0"), std::string::npos) << out;
  out = Guest(std::string("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ") + kDnsName + " " + port + " 2>&1; echo rc=$?");
  EXPECT_NE(out.find(kBody), std::string::npos) << out;
  EXPECT_GE(dns.answered(), 2);
  EXPECT_EQ(web.hits(), 2);
  Guest("printf '%s\\n' '" + saved + "' > /etc/resolv.conf");  // for later cases
}

}  // namespace

namespace {

// egress allow allowed.test under deny 0.0.0.0/0: the name resolves through
// the VM's resolver and its address becomes reachable by TCP.
TEST_F(NetTest, DomainAllowedResolvesAndConnects) {
  ASSERT_NE(vm3_, nullptr);
  Echo inet("akt-inet", "198.18.0.1", kPort);
  ASSERT_TRUE(inet.ok());
  std::string out = Lookup("allowed.test", vm3_);
  EXPECT_NE(out.find("198.18.0.1"), std::string::npos) << out;
  EXPECT_NE(Tcp("198.18.0.1", kPort, false).find("echo:hi"), std::string::npos);
  out = Guest("echo hi | nc -w 3 198.18.0.1 " + std::to_string(kPort) + " 2>&1; echo rc=$?", false, vm3_);
  EXPECT_NE(out.find("echo:hi"), std::string::npos) << out;
  EXPECT_EQ(inet.tcp_hits(), 2);
}

// A name no allow rule lists: NXDOMAIN, never asked upstream, and its
// address unreachable by IP. The VM without the policy resolves and
// reaches it (the same checks, failing without the policy).
TEST_F(NetTest, DomainUnlistedNeitherResolvesNorConnects) {
  ASSERT_NE(vm3_, nullptr);
  Echo other("akt-inet", "198.18.0.4", kPort);
  ASSERT_TRUE(other.ok());
  int before = dns_->queries("other.test");
  std::string out = Lookup("other.test", vm3_);
  EXPECT_EQ(out.find("198.18.0.4"), std::string::npos) << out;
  EXPECT_NE(out.find("NXDOMAIN"), std::string::npos) << out;
  EXPECT_EQ(dns_->queries("other.test"), before) << "an unlisted name was asked upstream";
  out = Guest("echo hi | nc -w 3 198.18.0.4 " + std::to_string(kPort) + " 2>&1; echo rc=$?", false, vm3_);
  EXPECT_EQ(out.find("echo:"), std::string::npos) << out;
  EXPECT_EQ(other.tcp_hits(), 0);
  out = Lookup("other.test", vm_);
  EXPECT_NE(out.find("198.18.0.4"), std::string::npos) << "without the policy: " << out;
  EXPECT_NE(Tcp("198.18.0.4", kPort).find("echo:hi"), std::string::npos);
}

// Asking the outside resolver directly does not get through under domain
// rules; from the VM without them it does.
TEST_F(NetTest, DomainRulesBlockOutsideResolvers) {
  ASSERT_NE(vm3_, nullptr);
  int before = dns_->queries("direct.test");
  std::string out = Lookup("direct.test", vm3_, "198.18.0.53");
  EXPECT_EQ(out.find("198.18.0.1"), std::string::npos) << out;
  EXPECT_EQ(dns_->queries("direct.test"), before) << "a query reached the outside resolver directly";
  out = Lookup("direct.test", vm_, "198.18.0.53");
  EXPECT_NE(out.find("198.18.0.1"), std::string::npos) << "without the policy: " << out;
  EXPECT_GT(dns_->queries("direct.test"), before);
}

// An allowed name answered with a private address (DNS rebinding): the
// guest gets the public address only.
TEST_F(NetTest, DomainAnswerNeverCarriesPrivateAddresses) {
  ASSERT_NE(vm3_, nullptr);
  std::string out = Lookup("rebind.test", vm3_);
  EXPECT_NE(out.find("198.18.0.1"), std::string::npos) << out;
  EXPECT_EQ(out.find("10.213.0.1"), std::string::npos) << out;
  out = Lookup("rebind.test", vm_);
  EXPECT_EQ(out.find("10.213.0.1"), std::string::npos) << "private answers are filtered for every VM: " << out;
}

// HTTP to allowed.test's address (admitted only because allowed.test
// resolved to it) naming another host: the VM's proxy answers 403 and
// reports it; naming allowed.test, the server answers. The VM without
// domain rules is not proxied: its request naming other.test is served.
TEST_F(NetTest, DomainHttpHostMustBeAllowed) {
  ASSERT_NE(vm3_, nullptr);
  Http web("akt-inet", "198.18.0.1", 80);
  ASSERT_TRUE(web.ok());
  std::string out = Lookup("allowed.test", vm3_);
  ASSERT_NE(out.find("198.18.0.1"), std::string::npos) << out;
  auto get = [&](const std::string& host, struct vm* in) {
    return Guest("printf 'GET / HTTP/1.0\\r\\nHost: " + host + "\\r\\n\\r\\n' | nc -w 5 198.18.0.1 80 2>&1; echo rc=$?",
                 false, in);
  };
  int before = web.hits();
  out = get("other.test", vm3_);
  EXPECT_NE(out.find("403"), std::string::npos) << out;
  EXPECT_EQ(out.find(kBody), std::string::npos) << out;
  EXPECT_EQ(web.hits(), before) << "a request naming other.test reached the server";
  bool seen = false;
  for (int i = 0; i < 50 && !(seen = Reported(NET_EVENT_HTTP_HOST, "other.test")); i++) usleep(100000);
  EXPECT_TRUE(seen) << "the refused Host was not reported";
  out = get("allowed.test", vm3_);
  EXPECT_NE(out.find(kBody), std::string::npos) << out;
  EXPECT_EQ(web.hits(), before + 1);
  out = get("other.test", vm_);
  EXPECT_NE(out.find(kBody), std::string::npos) << "without domain rules: " << out;
}

// A denied TCP connect fails at once (the namespace resets it) rather than
// waiting out nc's 5 s deadline as a dropped SYN did.
TEST_F(NetTest, DeniedConnectFailsFast) {
  Echo cluster("akt-clus", "10.213.0.1", kPort);
  ASSERT_TRUE(cluster.ok());
  auto start = std::chrono::steady_clock::now();
  std::string out = Guest("echo hi | nc -w 5 10.213.0.1 " + std::to_string(kPort) + " 2>&1; echo rc=$?");
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(out.find("echo:"), std::string::npos) << out;
  EXPECT_EQ(cluster.tcp_hits(), 0);
  EXPECT_LT(s, 2.0) << "a denied connect took " << s << " s: " << out;
  printf("denied connect from the guest: %.3f s (%s)\n", s, out.c_str());
}

}  // namespace
