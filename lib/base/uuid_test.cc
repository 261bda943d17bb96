#include <gtest/gtest.h>

#include <set>
#include <string>

#include "lib/base/time.h"
#include "lib/base/uuid.h"

namespace {

uint64_t Millis(const std::string& id) {
  return std::stoull(id.substr(0, 8) + id.substr(9, 4), nullptr, 16);
}

TEST(Uuid, V7LayoutTimeAndUniqueness) {
  std::set<std::string> seen;
  uint64_t before = (uint64_t)ak_real_ms();
  std::string prev;
  for (int i = 0; i < 1000; i++) {
    char id[AK_UUID_LEN + 1];
    ASSERT_EQ(0, ak_uuid7(id));
    std::string s(id);
    ASSERT_EQ((size_t)AK_UUID_LEN, s.size());
    EXPECT_EQ('-', s[8]);
    EXPECT_EQ('-', s[13]);
    EXPECT_EQ('-', s[18]);
    EXPECT_EQ('-', s[23]);
    EXPECT_EQ('7', s[14]);
    EXPECT_NE(std::string("89ab").find(s[19]), std::string::npos) << s;
    EXPECT_EQ(s.find_first_not_of("0123456789abcdef-"), std::string::npos) << s;
    EXPECT_TRUE(seen.insert(s).second) << s;
    if (!prev.empty()) {
      EXPECT_LE(Millis(prev), Millis(s));  // time-ordered by millisecond
    }
    prev = s;
  }
  uint64_t after = (uint64_t)ak_real_ms();
  EXPECT_GE(Millis(*seen.begin()), before);
  EXPECT_LE(Millis(prev), after);
}

}  // namespace
