// Issue 14, domain rules, from inside a VM with network: a DNS server in
// akt-inet at 198.18.0.53 (the VMs' resolvers' --dns-upstream) answers
// allowed.test -> 198.18.0.1, other.test -> 198.18.0.4, rebind.test ->
// 10.213.0.1 and 198.18.0.1; one VM denies 0.0.0.0/0 and allows
// allowed.test and rebind.test, another has no domain rules (the same checks
// fail there). (198.18.0.2 is the host's end of the akt-inet link, so
// other.test gets 198.18.0.4.) The outside hosts and VMs:
// tests/security/net_fixture.h; the rest of the data path: net_test.cc.
#include <unistd.h>

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
  static void SetUpTestSuite() { SetUpSuite(kVmPlain | kVmDomains); }
};

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
}  // namespace
