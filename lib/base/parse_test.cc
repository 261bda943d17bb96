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

TEST(Parse, DurationUnitsAndSyntax) {
  uint64_t v = 42;
  EXPECT_EQ(0, ak_parse_duration("30d", 0, UINT64_MAX, &v));
  EXPECT_EQ(30u * 86400, v);
  EXPECT_EQ(0, ak_parse_duration("10m", 0, UINT64_MAX, &v));
  EXPECT_EQ(600u, v);
  EXPECT_EQ(0, ak_parse_duration("1h", 0, UINT64_MAX, &v));
  EXPECT_EQ(3600u, v);
  EXPECT_EQ(0, ak_parse_duration("45s", 0, UINT64_MAX, &v));
  EXPECT_EQ(45u, v);
  EXPECT_EQ(0, ak_parse_duration("7", 0, UINT64_MAX, &v));
  EXPECT_EQ(7u, v);
  v = 42;
  for (const char* bad : {"", "d", "1w", "-1d", " 1d", "1d ", "1.5h", "1hd", "0x1s"})
    EXPECT_EQ(-EINVAL, ak_parse_duration(bad, 0, UINT64_MAX, &v)) << bad;
  EXPECT_EQ(-EINVAL, ak_parse_duration(nullptr, 0, 1, &v));
  EXPECT_EQ(-ERANGE, ak_parse_duration("213503982334602d", 0, UINT64_MAX, &v));
  EXPECT_EQ(-ERANGE, ak_parse_duration("2h", 0, 3600, &v));
  EXPECT_EQ(-ERANGE, ak_parse_duration("0s", 1, 3600, &v));
  EXPECT_EQ(42u, v);
}

}  // namespace

namespace {

TEST(Parse, Duration) {
  uint64_t v = 42;
  const uint64_t kMax = 30ull * 86400;
  struct {
    const char* in;
    uint64_t want;
  } good[] = {{"30s", 30}, {"10m", 600}, {"1h", 3600}, {"2d", 172800}, {"45", 45}, {"0", 0}, {"30d", kMax}};
  for (const auto& g : good) {
    ASSERT_EQ(0, ak_parse_duration(g.in, 0, kMax, &v)) << g.in;
    EXPECT_EQ(g.want, v) << g.in;
  }
  v = 42;
  for (const char* bad : {"", "s", "1x", "1hh", "1h30m", "-1s", "+1s", " 1s", "1s ", "1.5h", "1H", "1w", "h1"})
    EXPECT_EQ(-EINVAL, ak_parse_duration(bad, 0, kMax, &v)) << bad;
  EXPECT_EQ(-ERANGE, ak_parse_duration("31d", 0, kMax, &v));
  EXPECT_EQ(-ERANGE, ak_parse_duration("0s", 1, kMax, &v));
  EXPECT_EQ(-ERANGE, ak_parse_duration("99999999999999999999", 0, UINT64_MAX, &v));
  EXPECT_EQ(-ERANGE, ak_parse_duration("300000000000000000d", 0, UINT64_MAX, &v));
  EXPECT_EQ(-EINVAL, ak_parse_duration(nullptr, 0, 1, &v));
  EXPECT_EQ(42u, v);
}

TEST(Parse, MemoryMb) {
  uint64_t v = 42;
  struct {
    const char* in;
    uint64_t want;
  } good[] = {{"512", 512}, {"512m", 512}, {"512M", 512}, {"512MB", 512}, {"512mib", 512}, {"1g", 1024},
              {"2GiB", 2048}, {"1024k", 1}, {"1t", 1048576}};
  for (const auto& g : good) {
    ASSERT_EQ(0, ak_parse_memory_mb(g.in, 1, 1 << 21, &v)) << g.in;
    EXPECT_EQ(g.want, v) << g.in;
  }
  v = 42;
  for (const char* bad : {"", "m", "512x", "512mm", "512 m", "512 ", "-1g", "1.5g", "1000k", "1gibx", "512bytes"})
    EXPECT_EQ(-EINVAL, ak_parse_memory_mb(bad, 1, 1 << 21, &v)) << bad;
  EXPECT_EQ(-ERANGE, ak_parse_memory_mb("2t", 1, 1 << 20, &v));
  EXPECT_EQ(-ERANGE, ak_parse_memory_mb("0", 1, 1 << 20, &v));
  EXPECT_EQ(-ERANGE, ak_parse_memory_mb("99999999999999999g", 1, UINT64_MAX, &v));
  EXPECT_EQ(42u, v);
}

}  // namespace
