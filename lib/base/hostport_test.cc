#include <gtest/gtest.h>
#include <errno.h>

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
