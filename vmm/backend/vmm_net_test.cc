// The pure parts of vmm_net.c: CIDRs, resolv.conf, the namespace's rules.
// (The data path itself is tests/security:net_test, with real VMs.)
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

extern "C" {
#include "vmm/backend/vmm_net.h"
#include "vmm/backend/vmm_net_proxy.h"
#include "vmm/backend/vmm_net_sys.h"
}

namespace {

std::string Cidr(const char* in) {
  char out[64];
  struct ak_error err = {};
  if (vmm_net_cidr_parse(in, out, sizeof(out), &err) < 0) return std::string("error: ") + err.msg;
  return out;
}

// The body of chain name in an nft ruleset text ("" if none).
std::string Chain(const std::string& r, const std::string& name) {
  size_t at = r.find("\tchain " + name + " {\n");
  if (at == std::string::npos) return "";
  at = r.find('\n', at) + 1;
  return r.substr(at, r.find("\t}\n", at) - at);
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
  ASSERT_EQ(vmm_net_ns_rules("100.96.0.0/16", host, 2, deny, 1, res, 1, NULL, &rules), 0);
  std::string r = rules;
  free(rules);
  for (const char* want :
       {"hook output", "oifname \"lo\" jump deny_loopback", "ip daddr 127.0.0.0/8 jump deny_loopback", "ip daddr 169.254.0.0/16 jump deny_link_local",
        "ip daddr 10.0.0.0/8 jump deny_private", "ip daddr 172.16.0.0/12 jump deny_private", "ip daddr 192.168.0.0/16 jump deny_private",
        "ip daddr 100.64.0.0/10 jump deny_private", "ip6 daddr fe80::/10 jump deny_link_local", "ip6 daddr fc00::/7 jump deny_private",
        "ip daddr 100.96.0.0/16 jump deny_pool", "ip daddr 192.0.2.2/32 jump deny_host", "ip6 daddr 2001:db8::2/128 jump deny_host",
        "ip daddr 203.0.113.0/24 jump deny_operator_deny"})
    EXPECT_NE(r.find(want), std::string::npos) << want << " in\n" << r;
  // DNS to the resolver is allowed before the private ranges drop it.
  size_t dns = r.find("ip daddr 10.255.255.53 meta l4proto { tcp, udp } th dport 53 accept");
  ASSERT_NE(dns, std::string::npos) << r;
  EXPECT_LT(dns, r.find("ip daddr 10.0.0.0/8 jump deny_private"));
  // Each drop logs under the shared limit (NFLOG, its rule as the prefix),
  // then refuses whether logged or not: TCP with a reset (a dropped SYN
  // leaves a local connect() retrying for minutes), the rest with ICMP.
  EXPECT_NE(r.find("limit deny_log { rate 2000/second burst 10000 packets; }"), std::string::npos) << r;
  for (const char* rule : {"loopback", "link-local", "pool", "host", "private", "operator-deny"}) {
    std::string chain = std::string("chain deny_") + (std::string(rule) == "link-local" ? "link_local"
                                                      : std::string(rule) == "operator-deny" ? "operator_deny"
                                                                                              : rule);
    std::string body = " {\n\t\tlimit name \"deny_log\" log prefix \"" + std::string(rule) +
                       "\" group 7\n\t\tcounter\n\t\tmeta l4proto tcp reject with tcp reset\n"
                       "\t\tmeta iiftype ether reject with icmpx admin-prohibited\n\t\tdrop\n\t}";
    EXPECT_NE(r.find(chain + body), std::string::npos) << chain << " in\n" << r;
  }
}

TEST(VmmNet, EgressRulesOrder) {
  const char* deny[] = {"203.0.113.0/24"};
  const char* e_allow[] = {"10.1.0.0/16"};
  const char* e_deny[] = {"198.18.0.1/32", "2001:db8::/32"};
  const uint16_t ports[] = {80, 443};
  struct vmm_net_egress e = {e_allow, 1, e_deny, 2, ports, 2};
  char* rules = nullptr;
  ASSERT_EQ(vmm_net_ns_rules("100.96.0.0/16", nullptr, 0, deny, 1, nullptr, 0, &e, &rules), 0);
  std::string r = rules;
  free(rules);
  size_t lo = r.find("ip daddr 127.0.0.0/8 jump deny_loopback"), link = r.find("ip daddr 169.254.0.0/16 jump deny_link_local"),
         proto = r.find("meta l4proto != { tcp, udp } jump deny_egress_ports"), port = r.find("th dport != { 80, 443 } jump deny_egress_ports"),
         allow = r.find("ip daddr 10.1.0.0/16 accept"), d4 = r.find("ip daddr 198.18.0.1/32 jump deny_egress_deny"),
         d6 = r.find("ip6 daddr 2001:db8::/32 jump deny_egress_deny"), priv = r.find("ip daddr 10.0.0.0/8 jump deny_private"),
         op = r.find("ip daddr 203.0.113.0/24 jump deny_operator_deny");
  for (size_t at : {lo, link, proto, port, allow, d4, d6, priv, op}) ASSERT_NE(at, std::string::npos) << r;
  // Always-denied first (allow cannot re-open them), then ports, then the
  // sandbox's allow before its deny, then private and operator ranges.
  EXPECT_LT(lo, allow);
  EXPECT_LT(link, allow);
  EXPECT_LT(port, allow);
  EXPECT_LT(allow, d4);
  EXPECT_LT(d6, priv);
  EXPECT_LT(allow, op);
  // Without a policy: no port filter, no accept rule but the VM
  // resolver's loopback pair, no DNS drop and no dynamic set in the chain.
  ASSERT_EQ(vmm_net_ns_rules("100.96.0.0/16", nullptr, 0, nullptr, 0, nullptr, 0, nullptr, &rules), 0);
  r = rules;
  free(rules);
  EXPECT_EQ(r.find("dport !="), std::string::npos);
  std::string policy = Chain(r, "vm_policy");
  size_t accepts = 0;
  for (size_t at = policy.find("accept\n"); at != std::string::npos; at = policy.find("accept\n", at + 1)) accepts++;
  EXPECT_EQ(accepts, 2u) << r;
  EXPECT_EQ(r.find("dport { 53, 853 }"), std::string::npos) << r;
  EXPECT_EQ(r.find("@allow_dyn4"), std::string::npos) << r;
}

// The drops live in a regular chain that both the output hook (slirp's
// sockets) and the forward hook (a tap's guest) jump to; forward lets the
// replies of what the policy let out back in, and nothing else.
TEST(VmmNet, PolicyChainHookedIntoOutputAndForward) {
  const char* host[] = {"192.0.2.2/32"};
  char* rules = nullptr;
  ASSERT_EQ(vmm_net_ns_rules("100.96.0.0/16", host, 1, nullptr, 0, nullptr, 0, nullptr, &rules), 0);
  std::string r = rules;
  free(rules);
  std::string policy = Chain(r, "vm_policy"), out = Chain(r, "output"), fwd = Chain(r, "forward");
  EXPECT_EQ(policy.find("hook"), std::string::npos) << r;
  EXPECT_NE(policy.find("ip daddr 192.0.2.2/32 jump deny_host"), std::string::npos) << r;
  EXPECT_NE(policy.find("ip daddr 10.0.0.0/8 jump deny_private"), std::string::npos) << r;
  // The refusals' own resets and ICMP errors (to slirp's sockets over lo,
  // to a tap guest) pass before the policy, which would refuse them again.
  EXPECT_EQ(out, "\t\ttype filter hook output priority filter; policy accept;\n"
                 "\t\tmeta l4proto tcp tcp flags & rst == rst accept\n"
                 "\t\ticmp type destination-unreachable accept\n"
                 "\t\ticmpv6 type destination-unreachable accept\n\t\tjump vm_policy\n")
      << r;
  EXPECT_EQ(fwd, "\t\ttype filter hook forward priority filter; policy accept;\n"
                 "\t\tct state established,related accept\n\t\tjump vm_policy\n")
      << r;
  // The policy chain comes before the chains that jump to it (nft -f).
  EXPECT_LT(r.find("chain vm_policy"), r.find("chain output"));
}

TEST(VmmNet, TapRules) {
  char* rules = nullptr;
  ASSERT_EQ(vmm_net_tap_rules("tap0", "192.0.2.53", &rules), 0);
  std::string r = rules;
  free(rules);
  EXPECT_EQ(r.rfind("table inet ak_tap {}\ndelete table inet ak_tap\n", 0), 0u) << r;
  EXPECT_NE(Chain(r, "prerouting").find("iifname \"tap0\" ip daddr 10.0.2.3 meta l4proto { tcp, udp } th dport 53 "
                                        "dnat ip to 192.0.2.53"),
            std::string::npos)
      << r;
  EXPECT_NE(Chain(r, "postrouting").find("oifname \"eth0\" ip saddr 10.0.2.0/24 masquerade"), std::string::npos) << r;
  EXPECT_NE(Chain(r, "input").find("iifname \"tap0\" drop"), std::string::npos) << r;
  std::string fwd = Chain(r, "forward");
  for (const char* want : {"iifname \"tap0\" meta nfproto != ipv4 drop", "iifname \"tap0\" ip saddr != 10.0.2.15 drop",
                           "oifname \"tap0\" ct state != { established, related } drop"})
    EXPECT_NE(fwd.find(want), std::string::npos) << want << " in\n" << r;
  // The VM's own resolver: DNATed DNS to 127.0.0.1 is input, accepted
  // before the drop; nothing else from the tap is.
  ASSERT_EQ(vmm_net_tap_rules("tap0", "127.0.0.1", &rules), 0);
  r = rules;
  free(rules);
  std::string in = Chain(r, "input");
  size_t dns = in.find("iifname \"tap0\" ip daddr 127.0.0.1 meta l4proto { tcp, udp } th dport 53 ct status dnat accept"),
         drop = in.find("iifname \"tap0\" drop");
  ASSERT_NE(dns, std::string::npos) << r;
  EXPECT_LT(dns, drop) << r;
  // No resolver: no DNAT.
  ASSERT_EQ(vmm_net_tap_rules("tap0", nullptr, &rules), 0);
  r = rules;
  free(rules);
  EXPECT_EQ(r.find("dnat"), std::string::npos) << r;
  // Names and addresses go into rule text: only plain ones.
  EXPECT_EQ(vmm_net_tap_rules("tap0\" accept", nullptr, &rules), -EINVAL);
  EXPECT_EQ(vmm_net_tap_rules("", nullptr, &rules), -EINVAL);
  EXPECT_EQ(vmm_net_tap_rules("a-very-long-name0", nullptr, &rules), -EINVAL);
  EXPECT_EQ(vmm_net_tap_rules("tap0", "2001:db8::53", &rules), -EINVAL);
  EXPECT_EQ(vmm_net_tap_rules("tap0", "1.2.3.4; drop", &rules), -EINVAL);
}

// Domain rules: the resolver's sets in the chain, after the always-denied
// drops and the port filter, allow_dyn before deny_dyn and the sandbox's
// CIDRs; DNS to anything but the VM's resolver dropped first.
TEST(VmmNet, DomainRulesOrder) {
  const char* e_deny[] = {"0.0.0.0/0"};
  const char* names[] = {"allowed.test"};
  const uint16_t ports[] = {443};
  struct vmm_net_egress e = {nullptr, 0, e_deny, 1, ports, 1, names, 1, nullptr, 0};
  char* rules = nullptr;
  ASSERT_EQ(vmm_net_ns_rules("100.96.0.0/16", nullptr, 0, nullptr, 0, nullptr, 0, &e, &rules), 0);
  std::string r = rules;
  free(rules);
  size_t lo_ok = r.find("oifname \"lo\" ip daddr 127.0.0.1 meta l4proto { tcp, udp } th dport 53 accept"),
         lo_back = r.find("\t\tip saddr 127.0.0.1 meta l4proto { tcp, udp } th sport 53 accept"),
         lo = r.find("oifname \"lo\" jump deny_loopback"), dns = r.find("meta l4proto { tcp, udp } th dport { 53, 853 } jump deny_egress_dns"),
         link = r.find("ip daddr 169.254.0.0/16 jump deny_link_local"), port = r.find("th dport != { 443 } jump deny_egress_ports"),
         dyn = r.find("ip daddr @allow_dyn4 accept"), dyn6 = r.find("ip6 daddr @allow_dyn6 accept"),
         ddyn = r.find("ip daddr @deny_dyn4 jump deny_egress_domain"), all = r.find("ip daddr 0.0.0.0/0 jump deny_egress_deny"),
         set = r.find("set allow_dyn4 { type ipv4_addr; flags timeout;");
  for (size_t at : {lo_ok, lo_back, lo, dns, link, port, dyn, dyn6, ddyn, all, set})
    ASSERT_NE(at, std::string::npos) << r;
  EXPECT_LT(lo_ok, lo);
  EXPECT_LT(lo_back, lo);
  EXPECT_LT(dns, link);
  EXPECT_LT(link, dyn);
  EXPECT_LT(port, dyn);
  EXPECT_LT(dyn, ddyn);
  EXPECT_LT(ddyn, all);
  EXPECT_LT(set, lo_ok);
  // The proxy's redirected connections (to 127.0.0.1) pass before the
  // loopback drops, and only those (ct status dnat, its port), whatever
  // device the output hook names (the redirect's packet still has eth0's).
  size_t proxy = r.find("\t\tmeta l4proto tcp ct status dnat ct reply proto-src 900 accept");
  ASSERT_NE(proxy, std::string::npos) << r;
  EXPECT_LT(proxy, lo);
  // Both new drops log under a rule of their own.
  EXPECT_NE(r.find("chain deny_egress_domain {"), std::string::npos) << r;
  EXPECT_NE(r.find("log prefix \"egress.dns\""), std::string::npos) << r;
}

// The proxy's policy: the name a connection carries against the domain
// rules, and whether the CIDR rules alone let its destination out.
TEST(VmmNet, ProxyDecide) {
  const char* deny_all[] = {"0.0.0.0/0"};
  const char* allow_names[] = {"allowed.test", "*.ok.test"};
  const char* deny_names[] = {"bad.test"};
  const char* allow_cidr[] = {"198.18.9.0/24"};
  const char* op[] = {"203.0.113.0/24"};
  struct vmm_net_egress e = {allow_cidr, 1, deny_all, 1, nullptr, 0, allow_names, 2, deny_names, 1};
  // Only allow_dyn admits 198.18.0.1: the name must be an allowed one.
  EXPECT_EQ(vmm_net_proxy_decide(&e, op, 1, "allowed.test", "198.18.0.1"), 1);
  EXPECT_EQ(vmm_net_proxy_decide(&e, op, 1, "a.ok.test", "198.18.0.1"), 1);
  EXPECT_EQ(vmm_net_proxy_decide(&e, op, 1, "other.test", "198.18.0.1"), 0);
  EXPECT_EQ(vmm_net_proxy_decide(&e, op, 1, nullptr, "198.18.0.1"), 0);
  // An allowed CIDR: any name but a denied one, or none.
  EXPECT_EQ(vmm_net_proxy_decide(&e, op, 1, "other.test", "198.18.9.7"), 1);
  EXPECT_EQ(vmm_net_proxy_decide(&e, op, 1, nullptr, "198.18.9.7"), 1);
  EXPECT_EQ(vmm_net_proxy_decide(&e, op, 1, "bad.test", "198.18.9.7"), 0);
  // Without a default deny: public addresses pass, private and the
  // operator's ranges need an allowed name.
  struct vmm_net_egress open = {nullptr, 0, nullptr, 0, nullptr, 0, allow_names, 2, deny_names, 1};
  EXPECT_EQ(vmm_net_proxy_decide(&open, op, 1, "other.test", "198.18.0.1"), 1);
  EXPECT_EQ(vmm_net_proxy_decide(&open, op, 1, "bad.test", "198.18.0.1"), 0);
  EXPECT_EQ(vmm_net_proxy_decide(&open, op, 1, "other.test", "203.0.113.5"), 0);
  EXPECT_EQ(vmm_net_proxy_decide(&open, op, 1, "other.test", "10.1.2.3"), 0);
  EXPECT_EQ(vmm_net_proxy_decide(&open, op, 1, "allowed.test", "10.1.2.3"), 1);
  EXPECT_EQ(vmm_net_proxy_decide(&open, op, 1, nullptr, "2001:db8::1"), 1);
}

// Pool against the routes of a /proc/net/route text: "" when none overlaps.
std::string PoolRoutes(const char* pool, const std::string& routes) {
  const char* tmp = getenv("TEST_TMPDIR");
  std::string path = std::string(tmp ? tmp : "/tmp") + "/route";
  std::ofstream(path) << routes;
  struct vmm_net_pool p = {};
  struct ak_error err = {};
  EXPECT_EQ(0, vmm_net_pool_parse(pool, &p, &err)) << err.msg;
  int r = vmm_net_pool_routes(&p, path.c_str(), &err);
  return r == 0 ? "" : std::to_string(r) + ": " + err.msg;
}

TEST(VmmNet, PoolMustNotOverlapARoute) {
  const std::string head = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";
  // A node's table: default via eth0, its own /24, a veth of ours.
  std::string node = head + "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
                     "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
                     "akv3\t0C006064\t00000000\t0001\t0\t0\t0\tFCFFFFFF\t0\t0\t0\n";
  EXPECT_EQ(PoolRoutes("100.96.0.0/16", node), "");
  // kops' pod network 100.96.0.0/11 (a CNI route per node's /24) over the default pool.
  std::string kops = node + "cali1\t00016064\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
  EXPECT_EQ(PoolRoutes("100.96.0.0/16", kops),
            "-98: VM network pool 100.96.0.0/16: the host routes 100.96.1.0/24 via cali1 into it (a pod or service "
            "network?); pick a pool no route overlaps with --net-pool");
  EXPECT_EQ(PoolRoutes("100.98.0.0/16", kops), "");
  // A wider route holding the pool counts too, and one host route inside it.
  EXPECT_NE(PoolRoutes("100.96.0.0/16", head + "tun0\t00000064\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n"), "");
  EXPECT_NE(PoolRoutes("100.96.0.0/16", head + "wg0\t05076064\t00000000\t0005\t0\t0\t0\tFFFFFFFF\t0\t0\t0\n"), "");
  // Lines it does not understand are skipped, not trusted as overlaps; a missing file is an error.
  EXPECT_EQ(PoolRoutes("100.96.0.0/16", head + "garbage\nx\tzz\t00\t0\t0\t0\t0\t00\n\n"), "");
  struct vmm_net_pool p = {};
  struct ak_error err = {};
  ASSERT_EQ(0, vmm_net_pool_parse("100.96.0.0/16", &p, &err));
  EXPECT_EQ(-ENOENT, vmm_net_pool_routes(&p, "/nonexistent/route", &err));
  EXPECT_NE(std::string(err.msg).find("/nonexistent/route"), std::string::npos) << err.msg;
  // This host's own table (whatever it holds) reads without error.
  EXPECT_LE(vmm_net_pool_routes(&p, "/proc/net/route", &err), 0);
}

TEST(VmmNet, Overlaps) {
  EXPECT_EQ(vmm_net_cidr_overlaps("10.0.0.0/8", "10.1.2.3/32"), 1);
  EXPECT_EQ(vmm_net_cidr_overlaps("10.1.2.3/32", "10.0.0.0/8"), 1);
  EXPECT_EQ(vmm_net_cidr_overlaps("0.0.0.0/0", "192.168.0.0/16"), 1);
  EXPECT_EQ(vmm_net_cidr_overlaps("11.0.0.0/8", "10.0.0.0/8"), 0);
  EXPECT_EQ(vmm_net_cidr_overlaps("fd00::/8", "fc00::/7"), 1);
  EXPECT_EQ(vmm_net_cidr_overlaps("fd00::/8", "10.0.0.0/8"), 0);
  EXPECT_EQ(vmm_net_cidr_overlaps("10.0.0.0", "10.0.0.0/8"), -EINVAL);
}

std::string Check(const char* allow, bool allow_private) {
  const char* op[] = {"198.18.0.128/25", "203.0.113.7"};
  struct ak_error err = {};
  int r = vmm_net_egress_check(allow, op, 2, allow_private, &err);
  return r == 0 ? "ok" : std::to_string(r) + ": " + err.msg;
}

TEST(VmmNet, EgressCheck) {
  EXPECT_EQ(Check("198.18.0.0/25", false), "ok");
  EXPECT_EQ(Check("2001:db8::/32", false), "ok");
  // Private ranges and the operator's deny list: only with the flag.
  std::string s = Check("10.1.0.0/16", false);
  EXPECT_NE(s.find("private range 10.0.0.0/8"), std::string::npos) << s;
  EXPECT_NE(s.find("--egress-allow-private"), std::string::npos) << s;
  EXPECT_NE(Check("0.0.0.0/0", false).find("private range"), std::string::npos);
  EXPECT_NE(Check("fd00::/8", false).find("fc00::/7"), std::string::npos);
  s = Check("198.18.0.129/32", false);
  EXPECT_NE(s.find("--deny-cidr"), std::string::npos) << s;
  EXPECT_NE(Check("203.0.113.0/24", false).find("--deny-cidr"), std::string::npos);  // operator entry not canonical
  EXPECT_EQ(Check("10.1.0.0/16", true), "ok");
  EXPECT_EQ(Check("198.18.0.129/32", true), "ok");
  // Loopback, link-local: never, flag or not.
  for (bool flag : {false, true}) {
    EXPECT_NE(Check("127.0.0.1/32", flag).find("always denied"), std::string::npos);
    EXPECT_NE(Check("169.254.169.254/32", flag).find("always denied"), std::string::npos);
    EXPECT_NE(Check("fe80::1/128", flag).find("always denied"), std::string::npos);
  }
  EXPECT_NE(Check("10.0.0.1", false).find("not a canonical"), std::string::npos);
}

}  // namespace
