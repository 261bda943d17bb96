// vmm_net's tap mode on the real kernel (root): a stand-in guest (a network
// namespace "akf-g" whose eth0 is a tap, pumped frame by frame to and from
// the VM namespace's tap0, as Firecracker's virtio-net would) reaches a
// server in an "internet" namespace through the forward hook, the NAT and
// the host, and nothing else: not the host's addresses, not link-local,
// not a private "cluster" namespace, not the VM namespace itself, and not
// the internet from a spoofed source address. Test addresses: the pool
// 198.18.8.0/28, internet 198.18.8.128/30, host 198.18.8.200, cluster
// 172.30.8.0/30; names akf-*.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "vmm/testing/vm_fixture.h"

extern "C" {
#include "vmm/backend/vmm_net.h"
#include "vmm/net/net_event.h"
}

namespace {

constexpr int kPort = 7408;

int Sh(const std::string& cmd) {
  return system(("PATH=/usr/sbin:/usr/bin:/sbin:/bin; " + cmd + " >/dev/null 2>&1").c_str());
}

// fn run on a thread that joined the namespace nsfd (sockets keep it).
int InNs(int nsfd, const std::function<int()>& fn) {
  int r = -EIO;
  std::thread t([&] { r = setns(nsfd, CLONE_NEWNET) < 0 ? -errno : fn(); });
  t.join();
  return r;
}

int OpenTap(const char* name) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct ifreq ifr = {};
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  return fd;
}

int Listener(const char* addr) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  struct sockaddr_in sa = {};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(kPort);
  inet_pton(AF_INET, addr, &sa.sin_addr);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, (struct sockaddr*)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  return fd;
}

// 0 when a TCP connection to addr:kPort from src (NULL: any) is accepted
// within ms, else -errno (-ETIMEDOUT for a drop).
int Connect(const char* src, const char* addr, int ms) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  struct sockaddr_in sa = {};
  sa.sin_family = AF_INET;
  if (src) {
    inet_pton(AF_INET, src, &sa.sin_addr);
    if (bind(fd, (struct sockaddr*)&sa, sizeof(sa)) < 0) return close(fd), -errno;
  }
  sa.sin_port = htons(kPort);
  inet_pton(AF_INET, addr, &sa.sin_addr);
  int r = connect(fd, (struct sockaddr*)&sa, sizeof(sa));
  if (r < 0 && errno == EINPROGRESS) {
    struct pollfd p = {fd, POLLOUT, 0};
    int e = 0;
    socklen_t len = sizeof(e);
    if (poll(&p, 1, ms) != 1)
      r = -ETIMEDOUT;
    else
      r = getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0 ? -errno : -e;
  } else if (r < 0) {
    r = -errno;
  }
  close(fd);
  return r;
}

struct Sink {
  std::mutex mu;
  std::vector<net_event> events;
};

void Collect(void* ctx, const net_event* ev) {
  auto* s = static_cast<Sink*>(ctx);
  std::lock_guard<std::mutex> l(s->mu);
  s->events.push_back(*ev);
}

const char* const kAllowNames[] = {"allowed.test"};
const char* const kDenyNames[] = {"denied.test"};
const struct vmm_net_egress kEgress = {nullptr, 0, nullptr, 0, nullptr, 0, kAllowNames, 1, kDenyNames, 1};
const char* const kUpstreams[] = {"198.18.8.130"};

// A DNS query for name (type A) to server:53 over UDP: the answer's rcode,
// or -errno (-ETIMEDOUT: no answer within ms).
int DnsQuery(const char* server, const char* name, int ms) {
  unsigned char q[512] = {0x4a, 0x6b, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  size_t n = 12;
  for (const char* p = name; *p;) {
    const char* dot = strchr(p, '.');
    size_t len = dot ? (size_t)(dot - p) : strlen(p);
    q[n++] = (unsigned char)len;
    memcpy(q + n, p, len);
    n += len;
    p += len + (dot ? 1 : 0);
  }
  q[n++] = 0;
  q[n++] = 0, q[n++] = 1, q[n++] = 0, q[n++] = 1;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(53);
  inet_pton(AF_INET, server, &sa.sin_addr);
  if (sendto(fd, q, n, 0, (struct sockaddr*)&sa, sizeof(sa)) < 0) return close(fd), -errno;
  struct pollfd p = {fd, POLLIN, 0};
  unsigned char a[512];
  ssize_t got = poll(&p, 1, ms) == 1 ? recv(fd, a, sizeof(a), 0) : -1;
  close(fd);
  if (got < 12 || a[0] != 0x4a || a[1] != 0x6b) return -ETIMEDOUT;
  return a[3] & 0x0f;
}

class TapNet : public ::testing::Test {
 protected:
  void SetUp() override {
    net_reporter_init(&rep_, Collect, &sink_, 1000, 1000);
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, nft, tun)";
    TearDownNet();
    dir_ = akvm::MakeTempDir("akftap");
    // Host addresses the guest must not reach (added before setup, which
    // reads the host's addresses).
    ASSERT_EQ(Sh("ip link add akf-h type veth peer name akf-hp && ip link set akf-hp up && ip addr add 198.18.8.200/32 dev akf-h && "
                 "ip addr add 169.254.77.1/32 dev akf-h && ip link set akf-h up"), 0);
    for (auto [ns, veth, host, peer] :
         {std::tuple{"akf-inet", "akf-i", "198.18.8.129", "198.18.8.130"},
          std::tuple{"akf-clu", "akf-c", "172.30.8.1", "172.30.8.2"}}) {
      ASSERT_EQ(Sh(std::string("ip netns add ") + ns + " && ip link add " + veth + " type veth peer name eth0 netns " +
                   ns + " && ip addr add " + host + "/30 dev " + veth + " && ip link set " + veth + " up && ip -n " +
                   ns + " addr add " + peer + "/30 dev eth0 && ip -n " + ns + " link set eth0 up && ip -n " + ns +
                   " link set lo up && ip -n " + ns + " route add default via " + host),
                0)
          << ns;
    }
    ASSERT_EQ(Sh("ip netns add akf-g"), 0);
    struct ak_error err = {};
    struct vmm_net_config cfg = {};
    cfg.pool = "198.18.8.0/28";
    cfg.work_dir = dir_.c_str();
    cfg.tap = VMM_NET_TAP_NAME;
    cfg.reporter = &rep_;
    // Domain rules (tap mode had none before: EOPNOTSUPP) and the VM's
    // resolver's upstream (nothing answers there: denied names are
    // answered without it).
    cfg.egress = &kEgress;
    cfg.dns_upstreams = kUpstreams;
    cfg.n_dns_upstreams = 1;
    ASSERT_EQ(vmm_net_setup(&cfg, &net_, &err), 0) << err.msg;
    int vmns = vmm_net_netns_fd(net_);
    // The VMM's end: tap0 in the VM's namespace (exists: no creation).
    vm_tap_ = InNs(vmns, [] { return OpenTap(VMM_NET_TAP_NAME); });
    ASSERT_GE(vm_tap_, 0) << strerror(-vm_tap_);
    // The guest's end: a tap "eth0" in akf-g, made by opening it.
    g_ns_ = open("/run/netns/akf-g", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(g_ns_, 0);
    g_tap_ = InNs(g_ns_, [] { return OpenTap("eth0"); });
    ASSERT_GE(g_tap_, 0) << strerror(-g_tap_);
    ASSERT_EQ(Sh("ip -n akf-g link set lo up && ip -n akf-g link set eth0 up && "
                 "ip -n akf-g addr add " VMM_NET_TAP_GUEST "/24 dev eth0 && "
                 "ip -n akf-g addr add 10.0.2.16/24 dev eth0 && "
                 "ip -n akf-g route add default via " VMM_NET_TAP_GATEWAY " src " VMM_NET_TAP_GUEST),
              0);
    pump_ = std::thread([this] { Pump(); });
  }

  void Pump() {
    char buf[65536];
    struct pollfd p[2] = {{vm_tap_, POLLIN, 0}, {g_tap_, POLLIN, 0}};
    while (!stop_) {
      if (poll(p, 2, 50) <= 0) continue;
      for (int i = 0; i < 2; i++) {
        if (!(p[i].revents & POLLIN)) continue;
        ssize_t n = read(p[i].fd, buf, sizeof(buf));
        if (n > 0) (void)!write(p[1 - i].fd, buf, (size_t)n);
      }
    }
  }

  void TearDownNet() {
    Sh("ip link del akf-h; ip link del akf-i; ip link del akf-c; ip netns del akf-inet; ip netns del akf-clu; "
       "ip netns del akf-g");
  }

  void TearDown() override {
    stop_ = true;
    if (pump_.joinable()) pump_.join();
    if (vm_tap_ >= 0) close(vm_tap_);
    if (g_tap_ >= 0) close(g_tap_);
    if (g_ns_ >= 0) close(g_ns_);
    vmm_net_free(net_);
    net_reporter_destroy(&rep_);
    TearDownNet();
    if (!dir_.empty()) akvm::RemoveDir(dir_);
  }

  // A listener on addr:kPort in the namespace nsfd (-1: the host's).
  int ListenIn(int nsfd, const char* addr) {
    int fd = nsfd < 0 ? Listener(addr) : InNs(nsfd, [addr] { return Listener(addr); });
    if (fd >= 0) listeners_.push_back(fd);
    return fd;
  }

  int FromGuest(const char* src, const char* addr, int ms) {
    return InNs(g_ns_, [=] { return Connect(src, addr, ms); });
  }

  std::string dir_;
  struct vmm_net* net_ = nullptr;
  int vm_tap_ = -1, g_tap_ = -1, g_ns_ = -1;
  std::atomic<bool> stop_{false};
  std::thread pump_;
  std::vector<int> listeners_;
  net_reporter rep_;
  Sink sink_;
};

// Two pools on one host (two executors, or tests, with different
// --net-pool): setting up the second keeps the first's masquerade. Before,
// the one host table masqueraded only the last pool, and the tap guest's
// connections left unmasqueraded (the internet has no route back).
TEST_F(TapNet, TwoPoolsBothReachTheInternet) {
  int inet = open("/run/netns/akf-inet", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(inet, 0);
  ASSERT_GE(ListenIn(inet, "198.18.8.130"), 0);
  close(inet);
  // The internet knows no way back to either pool: only the masquerade
  // (to the host's 198.18.8.129) brings the answers back.
  ASSERT_EQ(Sh("ip -n akf-inet route del default"), 0);
  struct ak_error err = {};
  struct vmm_net_config cfg = {};
  cfg.pool = "198.18.8.16/28";
  cfg.work_dir = dir_.c_str();
  struct vmm_net* other = nullptr;
  ASSERT_EQ(vmm_net_setup(&cfg, &other, &err), 0) << err.msg;
  EXPECT_EQ(FromGuest(nullptr, "198.18.8.130", 5000), 0) << "the first pool's guest";
  EXPECT_EQ(InNs(vmm_net_netns_fd(other), [] { return Connect(nullptr, "198.18.8.130", 5000); }), 0)
      << "the second pool's namespace";
  vmm_net_free(other);
}

// The tap guest's DNS (10.0.2.3) is the VM's resolver, which applies the
// domain rules: a denied name is NXDOMAIN (3) and reported. Before, a tap
// sandbox with domain rules was refused (EOPNOTSUPP) and its DNS went to the
// host's resolver. Asking the namespace's 127.0.0.1 directly stays dropped.
TEST_F(TapNet, GuestDnsIsTheVmResolver) {
  EXPECT_EQ(InNs(g_ns_, [] { return DnsQuery(VMM_NET_TAP_DNS, "denied.test", 3000); }), 3);
  bool seen = false;
  for (int i = 0; i < 50 && !seen; i++) {
    {
      std::lock_guard<std::mutex> l(sink_.mu);
      for (const auto& ev : sink_.events)
        if (ev.kind == NET_EVENT_DNS && std::string(ev.name) == "denied.test") seen = true;
    }
    if (!seen) usleep(50000);
  }
  EXPECT_TRUE(seen) << "the denied name was not reported";
  EXPECT_EQ(InNs(g_ns_, [] { return DnsQuery(VMM_NET_TAP_GATEWAY, "denied.test", 1000); }), -ETIMEDOUT);
}

TEST_F(TapNet, GuestReachesTheInternetOnlyThroughThePolicy) {
  int inet = open("/run/netns/akf-inet", O_RDONLY | O_CLOEXEC), clu = open("/run/netns/akf-clu", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(inet, 0);
  ASSERT_GE(clu, 0);
  ASSERT_GE(ListenIn(inet, "198.18.8.130"), 0);
  ASSERT_GE(ListenIn(clu, "172.30.8.2"), 0);
  ASSERT_GE(ListenIn(-1, "198.18.8.200"), 0);
  ASSERT_GE(ListenIn(-1, "169.254.77.1"), 0);
  ASSERT_GE(ListenIn(vmm_net_netns_fd(net_), "0.0.0.0"), 0);
  // The way out works (and the stand-in guest is wired up right).
  EXPECT_EQ(FromGuest(nullptr, "198.18.8.130", 5000), 0);
  // Each of these would be reached without the policy: the cluster through
  // the host's forwarding, the VM namespace itself directly. The policy's
  // refusals reset the guest's connect at once (reject with tcp reset); the
  // namespace's own addresses are dropped by ak_tap (no reply).
  EXPECT_EQ(FromGuest(nullptr, "172.30.8.2", 1000), -ECONNREFUSED) << "private cluster";
  EXPECT_EQ(FromGuest(nullptr, "198.18.8.200", 1000), -ECONNREFUSED) << "a host address";
  EXPECT_EQ(FromGuest(nullptr, "169.254.77.1", 1000), -ECONNREFUSED) << "link-local";
  EXPECT_EQ(FromGuest(nullptr, VMM_NET_TAP_GATEWAY, 1000), -ETIMEDOUT) << "the VM namespace itself";
  // Forwarded refusals are reported as the guest's (the denial log reads
  // the forward hook's drops too): the cluster's as "private".
  bool seen = false;
  for (int i = 0; i < 200 && !seen; i++) {
    {
      std::lock_guard<std::mutex> l(sink_.mu);
      for (const auto& ev : sink_.events)
        seen |= ev.kind == NET_EVENT_CONNECT && std::string(ev.dst) == "172.30.8.2" && ev.dst_port == kPort &&
                ev.protocol == IPPROTO_TCP && std::string(ev.rule) == "private";
    }
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(seen) << net_reporter_denied(&rep_) << " denials reported, none for 172.30.8.2:" << kPort;
  // A spoofed source does not get out.
  EXPECT_EQ(FromGuest("10.0.2.16", "198.18.8.130", 1000), -ETIMEDOUT) << "spoofed source";
  // And the way out still works afterwards.
  EXPECT_EQ(FromGuest(nullptr, "198.18.8.130", 5000), 0);
  for (int fd : listeners_) close(fd);
  close(inet);
  close(clu);
}

}  // namespace
