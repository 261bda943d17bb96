#include <errno.h>
#include <gtest/gtest.h>

#include "lib/base/parse.h"

namespace {

TEST(Parse, U64) {
  uint64_t v = 42;
  EXPECT_EQ(0, ak_parse_u64("0", 0, 10, &v));
  EXPECT_EQ(0u, v);
  EXPECT_EQ(0, ak_parse_u64("18446744073709551615", 0, UINT64_MAX, &v));
  EXPECT_EQ(UINT64_MAX, v);
  EXPECT_EQ(0, ak_parse_u64("007", 0, 10, &v));
  EXPECT_EQ(7u, v);
  v = 42;
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1x", "0x10", "abc", "1.5"})
    EXPECT_EQ(-EINVAL, ak_parse_u64(bad, 0, UINT64_MAX, &v)) << bad;
  EXPECT_EQ(-EINVAL, ak_parse_u64(nullptr, 0, 1, &v));
  EXPECT_EQ(-ERANGE, ak_parse_u64("18446744073709551616", 0, UINT64_MAX, &v));
  EXPECT_EQ(-ERANGE, ak_parse_u64("11", 0, 10, &v));
  EXPECT_EQ(-ERANGE, ak_parse_u64("4", 5, 10, &v));
  EXPECT_EQ(42u, v);  // untouched on failure
}

TEST(Parse, Uint) {
  unsigned v = 42;
  EXPECT_EQ(0, ak_parse_uint("4294967295", 0, UINT32_MAX, &v));
  EXPECT_EQ(4294967295u, v);
  EXPECT_EQ(-ERANGE, ak_parse_uint("4294967296", 0, UINT32_MAX, &v));
  EXPECT_EQ(-ERANGE, ak_parse_uint("0", 1, 64, &v));
  EXPECT_EQ(-EINVAL, ak_parse_uint("-0", 0, 64, &v));
  EXPECT_EQ(0, ak_parse_uint("64", 1, 64, &v));
  EXPECT_EQ(64u, v);
}

TEST(Parse, Duration) {
  uint64_t v = 42;
  EXPECT_EQ(0, ak_parse_duration_s("30d", 0, UINT64_MAX, &v));
  EXPECT_EQ(30u * 86400, v);
  EXPECT_EQ(0, ak_parse_duration_s("10m", 0, UINT64_MAX, &v));
  EXPECT_EQ(600u, v);
  EXPECT_EQ(0, ak_parse_duration_s("1h", 0, UINT64_MAX, &v));
  EXPECT_EQ(3600u, v);
  EXPECT_EQ(0, ak_parse_duration_s("45s", 0, UINT64_MAX, &v));
  EXPECT_EQ(45u, v);
  EXPECT_EQ(0, ak_parse_duration_s("7", 0, UINT64_MAX, &v));
  EXPECT_EQ(7u, v);
  v = 42;
  for (const char* bad : {"", "d", "1w", "-1d", " 1d", "1d ", "1.5h", "1hd", "0x1s"})
    EXPECT_EQ(-EINVAL, ak_parse_duration_s(bad, 0, UINT64_MAX, &v)) << bad;
  EXPECT_EQ(-EINVAL, ak_parse_duration_s(nullptr, 0, 1, &v));
  EXPECT_EQ(-ERANGE, ak_parse_duration_s("213503982334602d", 0, UINT64_MAX, &v));
  EXPECT_EQ(-ERANGE, ak_parse_duration_s("2h", 0, 3600, &v));
  EXPECT_EQ(-ERANGE, ak_parse_duration_s("0s", 1, 3600, &v));
  EXPECT_EQ(42u, v);
}

}  // namespace
