#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include <string>

#include "lib/base/hostport.h"

namespace {

std::string Bracket(const char* in, int* r) {
  char out[AK_HOSTPORT_MAX + 8] = "untouched";
  *r = ak_hostport_bracket(in, out, sizeof(out));
  return out;
}

TEST(Hostport, BracketsABareIPv6Host) {
  int r;
  EXPECT_EQ("[fd00::7]:7440", Bracket("fd00::7:7440", &r));
  EXPECT_EQ(0, r);
  EXPECT_EQ("[2001:db8:1:2:3:4:5:6]:1", Bracket("2001:db8:1:2:3:4:5:6:1", &r));
  EXPECT_EQ(0, r);
  EXPECT_EQ("[::1]:65535", Bracket("::1:65535", &r));
  EXPECT_EQ(0, r);
  EXPECT_EQ("[::ffff:10.0.0.7]:7440", Bracket("::ffff:10.0.0.7:7440", &r));
  EXPECT_EQ(0, r);
}

TEST(Hostport, LeavesWhatIsAlreadyATarget) {
  int r;
  for (const char* a : {"10.0.0.7:7440", "node-1:7440", "[fd00::7]:7440", "unix:/tmp/e.sock",
                        "unix:/tmp/a:b:c.sock", "unix-abstract:x:y", "dns:///ak-executor:7440",
                        "localhost"}) {
    EXPECT_EQ(a, Bracket(a, &r));
    EXPECT_EQ(0, r) << a;
  }
}

TEST(Hostport, RefusesWhatIsNeitherAndWritesNothing) {
  int r;
  for (const char* a : {"", "fd00::7", "fd00::7:", "fd00::7:0", "fd00::7:65536", "fd00::7:74x0",
                        "fe80::1%eth0:7440", "not:an:address:1", "fd00::7]:7440", "1:2:3:4:5:6:7:8:9:1"}) {
    EXPECT_EQ("untouched", Bracket(a, &r)) << a;
    EXPECT_EQ(-EINVAL, r) << a;
  }
  std::string huge(AK_HOSTPORT_MAX + 1, 'a');
  EXPECT_EQ(-EINVAL, ak_hostport_bracket(huge.c_str(), nullptr, 0));
  EXPECT_EQ(-EINVAL, ak_hostport_bracket(nullptr, nullptr, 0));
}

TEST(Hostport, SaysWhenTheBufferIsTooSmall) {
  char out[14];
  EXPECT_EQ(-ENOSPC, ak_hostport_bracket("fd00::7:7440", out, sizeof(out)));  // needs 15
  char fits[15];
  EXPECT_EQ(0, ak_hostport_bracket("fd00::7:7440", fits, sizeof(fits)));
  EXPECT_STREQ("[fd00::7]:7440", fits);
  char small[4];
  EXPECT_EQ(-ENOSPC, ak_hostport_bracket("a:1234", small, sizeof(small)));
}

}  // namespace

namespace {

// ak_listen_addr_parse: the family, port and "every address" of addr.
int Listen(const char* addr, int* family, int* port, int* any, std::string* why = nullptr) {
  struct sockaddr_storage ss;
  struct ak_error err = {};
  *family = *port = *any = -1;
  int r = ak_listen_addr_parse(addr, &ss, any, &err);
  if (why) *why = err.msg;
  if (r == 0) {
    *family = ss.ss_family;
    *port = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }
  return r;
}

TEST(ListenAddr, TakesIPv4IPv6AndLocalhost) {
  int f, p, any;
  ASSERT_EQ(0, Listen("127.0.0.1:9100", &f, &p, &any));
  EXPECT_EQ(AF_INET, f);
  EXPECT_EQ(9100, p);
  EXPECT_EQ(0, any);
  ASSERT_EQ(0, Listen(":80", &f, &p, &any));
  EXPECT_EQ(AF_INET, f);
  EXPECT_EQ(1, any);
  ASSERT_EQ(0, Listen("0.0.0.0:0", &f, &p, &any));
  EXPECT_EQ(1, any);
  ASSERT_EQ(0, Listen("localhost:1", &f, &p, &any));
  EXPECT_EQ(AF_INET, f);
  ASSERT_EQ(0, Listen("[::1]:18888", &f, &p, &any));
  EXPECT_EQ(AF_INET6, f);
  EXPECT_EQ(18888, p);
  EXPECT_EQ(0, any);
  ASSERT_EQ(0, Listen("[::]:65535", &f, &p, &any));
  EXPECT_EQ(AF_INET6, f);
  EXPECT_EQ(1, any);
  ASSERT_EQ(0, Listen("[fd00::7]:0", &f, &p, &any));
  // Unbracketed, as $(POD_IP):PORT is on an IPv6 pod: the last group is the port.
  ASSERT_EQ(0, Listen("fd00::7:7470", &f, &p, &any));
  EXPECT_EQ(AF_INET6, f);
  EXPECT_EQ(7470, p);
  EXPECT_EQ(0, any);
  ASSERT_EQ(0, Listen("::1:9100", &f, &p, &any));
  EXPECT_EQ(9100, p);
}

TEST(ListenAddr, RefusesWhatItCannotBindAsWritten) {
  int f, p, any;
  std::string why;
  for (const char* bad : {"", "9100", "127.0.0.1", "fd00::", "::1", "[::1]9100", "[::1:9100", "[127.0.0.1]:1",
                          "[localhost]:1", "example.com:1", "127.0.0.1:65536", "127.0.0.1:-1", "[::1]:x",
                          "[]:1", "1.2.3.4.5:1"}) {
    EXPECT_EQ(-EINVAL, Listen(bad, &f, &p, &any, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
    EXPECT_EQ(-1, f) << "nothing written for " << bad;
  }
  Listen("node-1:7440", &f, &p, &any, &why);
  EXPECT_EQ(why, "listen address 'node-1:7440': 'node-1' is not a numeric IPv4 address, [IPv6] address or "
                 "localhost (host names are not resolved)");
  std::string huge(AK_HOSTPORT_MAX + 1, '1');
  EXPECT_EQ(-EINVAL, Listen(huge.c_str(), &f, &p, &any));
}

}  // namespace
