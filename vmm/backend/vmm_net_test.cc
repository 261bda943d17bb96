// The pure parts of vmm_net.c: CIDRs, resolv.conf, the namespace's rules.
// (The data path itself is tests/security:net_test, with real VMs.)
#include <string.h>

#include <string>

#include <gtest/gtest.h>

extern "C" {
#include "vmm/backend/vmm_net.h"
}

namespace {

std::string Cidr(const char* in) {
  char out[64];
  struct ak_error err = {};
  if (vmm_net_cidr_parse(in, out, sizeof(out), &err) < 0) return std::string("error: ") + err.msg;
  return out;
}

TEST(VmmNet, CidrParse) {
  EXPECT_EQ(Cidr("10.0.0.0/8"), "10.0.0.0/8");
  EXPECT_EQ(Cidr("192.168.1.7"), "192.168.1.7/32");
  EXPECT_EQ(Cidr("FD00:0::/8"), "fd00::/8");
  EXPECT_EQ(Cidr("::1"), "::1/128");
  EXPECT_EQ(Cidr("0.0.0.0/0"), "0.0.0.0/0");
  // Host bits set: refused, saying so.
  EXPECT_NE(Cidr("10.0.0.1/8").find("bits set past the /8"), std::string::npos);
  for (const char* bad : {"", "/8", "10.0.0.0/", "10.0.0.0/33", "fd00::/129", "10.0.0.0/8x", "10.0.0/8",
                          "10.0.0.0/-1", "example.com", "10.0.0.0/0008"})
    EXPECT_NE(Cidr(bad).find("error: "), std::string::npos) << bad;
}

TEST(VmmNet, Resolvers) {
  char res[4][64];
  const char* text =
      "# comment\nnameserver 127.0.0.53\nnameserver 10.255.255.53\n  nameserver\tfe80::1%eth0\n"
      "nameserver not-an-address\nsearch x\nnameserver ::1\n";
  ASSERT_EQ(vmm_net_resolvers(text, true, res, 4), 2u);
  EXPECT_STREQ(res[0], "10.255.255.53");
  EXPECT_STREQ(res[1], "fe80::1");
  EXPECT_EQ(vmm_net_resolvers(text, false, res, 4), 4u);
  EXPECT_EQ(vmm_net_resolvers(text, false, res, 1), 1u);
  EXPECT_EQ(vmm_net_resolvers("", true, res, 4), 0u);
}

TEST(VmmNet, NamespaceRules) {
  const char* host[] = {"192.0.2.2/32", "2001:db8::2/128"};
  const char* deny[] = {"203.0.113.0/24"};
  char res[1][64] = {"10.255.255.53"};
  char* rules = nullptr;
  ASSERT_EQ(vmm_net_ns_rules("100.96.0.0/16", host, 2, deny, 1, res, 1, &rules), 0);
  std::string r = rules;
  free(rules);
  for (const char* want :
       {"hook output", "oifname \"lo\" drop", "ip daddr 127.0.0.0/8 drop", "ip daddr 169.254.0.0/16 drop",
        "ip daddr 10.0.0.0/8 drop", "ip daddr 172.16.0.0/12 drop", "ip daddr 192.168.0.0/16 drop",
        "ip daddr 100.64.0.0/10 drop", "ip6 daddr fe80::/10 drop", "ip6 daddr fc00::/7 drop",
        "ip daddr 100.96.0.0/16 drop", "ip daddr 192.0.2.2/32 drop", "ip6 daddr 2001:db8::2/128 drop",
        "ip daddr 203.0.113.0/24 drop"})
    EXPECT_NE(r.find(want), std::string::npos) << want << " in\n" << r;
  // DNS to the resolver is allowed before the private ranges drop it.
  size_t dns = r.find("ip daddr 10.255.255.53 meta l4proto { tcp, udp } th dport 53 accept");
  ASSERT_NE(dns, std::string::npos) << r;
  EXPECT_LT(dns, r.find("ip daddr 10.0.0.0/8 drop"));
}

}  // namespace
