#include <gtest/gtest.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/time.h"

namespace {

TEST(Time, MonotonicMovesOnAndAgrees) {
  uint64_t ns = ak_mono_ns();
  int64_t ms = ak_mono_ms();
  usleep(20 * 1000);
  EXPECT_GE(ak_mono_ms() - ms, 19);
  EXPECT_GE(ak_mono_ns() - ns, 19u * 1000 * 1000);
  EXPECT_LE(ms, (int64_t)(ak_mono_ns() / 1000000));
  EXPECT_GT(ak_clock_ns(CLOCK_MONOTONIC_RAW), 0u);
}

TEST(Time, RealIsUnixMilliseconds) {
  int64_t ms = ak_real_ms();
  int64_t s = (int64_t)time(nullptr);
  EXPECT_LE(ms / 1000 - s, 1);
  EXPECT_LE(s - ms / 1000, 1);
  EXPECT_GT(ms, 1600000000000LL);  // after 2020
}

TEST(Time, TimespecAfterIsNormalised) {
  for (int64_t ms : {0, 1, 999, 1000, 1500, 61001}) {
    struct timespec now, t = ak_timespec_after(CLOCK_MONOTONIC, ms);
    clock_gettime(CLOCK_MONOTONIC, &now);
    EXPECT_GE(t.tv_nsec, 0);
    EXPECT_LT(t.tv_nsec, 1000000000L);
    int64_t d = (int64_t)(t.tv_sec - now.tv_sec) * 1000 + (t.tv_nsec - now.tv_nsec) / 1000000;
    EXPECT_LE(d, ms) << ms;
    EXPECT_GE(d, ms - 50) << ms;
  }
  struct timespec now, t = ak_timespec_after(CLOCK_REALTIME, -5);
  clock_gettime(CLOCK_REALTIME, &now);
  EXPECT_LE(t.tv_sec, now.tv_sec);  // negative counts as 0: not in the future
}

}  // namespace
