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
// The shared set-up (namespaces, addresses, the VMs) is
// tests/security/net_fixture.h over tests/testing/net_outside.h; the domain
// rules are net_domain_test.cc.
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "tests/security/net_fixture.h"

namespace {

using aktest::Echo;
using aktest::Http;
using aktest::kBody;

class NetTest : public NetFixture {
 protected:
  static void SetUpTestSuite() { SetUpSuite(kVmPlain | kVmPolicy); }
};

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
    udp_ = std::max(-1, aktest::SocketInNetns(netns, addr, 53, SOCK_DGRAM));
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
