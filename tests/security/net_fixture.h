// The network tests' shared fixture (net_test.cc, net_domain_test.cc): the
// akt-* outside hosts (tests/testing/net_outside.h), a DNS server in akt-inet
// at 198.18.0.53 (the VMs' resolvers' --dns-upstream) answering
// allowed.test -> 198.18.0.1, other.test -> 198.18.0.4, rebind.test ->
// 10.213.0.1 and 198.18.0.1, direct.test -> 198.18.0.1, and up to three VMs
// with network, booted once per test binary:
//   vm_   (kVmPlain)   the operator's --deny-cidr 198.18.0.128/25 only
//   vm2_  (kVmPolicy)  plus a sandbox's own policy: 198.18.0.1 denied,
//                      only port kPort
//   vm3_  (kVmDomains) deny 0.0.0.0/0, allow allowed.test and rebind.test
//                      (its reporter's events in events3_)
// A test binary names its VMs: class NetTest : public NetFixture { static
// void SetUpTestSuite() { SetUpSuite(kVmPlain | kVmPolicy); } };
#pragma once

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/testing/net_outside.h"
#include "vmm/net/net_event.h"
#include "vmm/testing/vm_fixture.h"
#include "vmm/vm.h"

inline constexpr int kPort = 7913;

class NetFixture : public ::testing::Test {
 public:
  enum : unsigned { kVmPlain = 1, kVmPolicy = 2, kVmDomains = 4 };

 protected:
  static void SetUpSuite(unsigned vms);
  static void TearDownTestSuite();
  // The host ends of every VM's veth on this machine (akv*).
  static std::set<std::string> HostIfnames();
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    ASSERT_NE(vm_, nullptr);
  }
  // The guest's output for sh -c cmd (in vm2_ with policy, or in `in`).
  std::string Guest(const std::string& cmd, bool policy = false, struct vm* in = nullptr);
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
  static void OnEvent(void*, const struct net_event* ev);
  // Whether vm3_'s reporter passed on an event of kind for name.
  static bool Reported(enum net_event_kind kind, const std::string& name);

  static std::string skip_, setup_error_, dir_, dir2_, dir3_, forward_, ifname_;
  static struct net_reporter reporter3_;
  static std::mutex events_mu_;
  static std::vector<struct net_event> events3_;
  static struct vm *vm_, *vm2_, *vm3_;
  static aktest::DnsServer* dns_;
  static const struct vmm_net_egress kPolicy, kDnsPolicy;
  static const char* const kDnsUpstream;
};
