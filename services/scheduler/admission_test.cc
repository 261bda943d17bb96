#include <gtest/gtest.h>
#include <errno.h>

#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "lib/base/time.h"
#include "services/scheduler/admission.h"
}

namespace {

TEST(AdmissionTest, BoundedAndFifoWithinATenant) {
  struct admission* a = nullptr;
  ASSERT_EQ(admission_new(3, &a), 0);
  struct admission_ticket *t1, *t2, *t3, *t4;
  ASSERT_EQ(admission_enter(a, "x", &t1), 0);
  ASSERT_EQ(admission_enter(a, "x", &t2), 0);
  ASSERT_EQ(admission_enter(a, "x", &t3), 0);
  EXPECT_EQ(admission_enter(a, "x", &t4), -EAGAIN);
  unsigned waiting = 0;
  EXPECT_EQ(admission_position(a, t1, &waiting), 1u);
  EXPECT_EQ(waiting, 3u);
  EXPECT_EQ(admission_position(a, t2, nullptr), 2u);
  EXPECT_EQ(admission_position(a, t3, nullptr), 3u);
  admission_leave(a, t1);
  EXPECT_EQ(admission_position(a, t2, nullptr), 1u);
  EXPECT_EQ(admission_position(a, t3, nullptr), 2u);
  ASSERT_EQ(admission_enter(a, "x", &t4), 0);
  admission_leave(a, t3);
  admission_leave(a, t2);
  EXPECT_EQ(admission_position(a, t4, nullptr), 1u);
  admission_leave(a, t4);
  admission_free(a);
  EXPECT_EQ(admission_new(0, &a), -EINVAL);
}

// A burst of one tenant does not starve another: tenants take turns.
TEST(AdmissionTest, TenantsTakeTurns) {
  struct admission* a = nullptr;
  ASSERT_EQ(admission_new(100, &a), 0);
  std::vector<struct admission_ticket*> burst(5);
  for (auto& t : burst) ASSERT_EQ(admission_enter(a, "busy", &t), 0);
  struct admission_ticket *b1, *b2, *c1;
  ASSERT_EQ(admission_enter(a, "quiet", &b1), 0);
  ASSERT_EQ(admission_enter(a, "quiet", &b2), 0);
  ASSERT_EQ(admission_enter(a, "third", &c1), 0);
  // Order: busy0 quiet0 third0 busy1 quiet1 busy2 busy3 busy4.
  EXPECT_EQ(admission_position(a, burst[0], nullptr), 1u);
  EXPECT_EQ(admission_position(a, b1, nullptr), 2u);
  EXPECT_EQ(admission_position(a, c1, nullptr), 3u);
  EXPECT_EQ(admission_position(a, burst[1], nullptr), 4u);
  EXPECT_EQ(admission_position(a, b2, nullptr), 5u);
  EXPECT_EQ(admission_position(a, burst[4], nullptr), 8u);
  admission_leave(a, burst[0]);
  EXPECT_EQ(admission_position(a, b1, nullptr), 1u);
  EXPECT_EQ(admission_position(a, burst[1], nullptr), 3u);
  for (size_t i = 1; i < burst.size(); i++) admission_leave(a, burst[i]);
  admission_leave(a, b1);
  admission_leave(a, b2);
  admission_leave(a, c1);
  admission_free(a);
}

TEST(AdmissionTest, WaitEndsOnALeaveOrAKick) {
  struct admission* a = nullptr;
  ASSERT_EQ(admission_new(10, &a), 0);
  struct admission_ticket* t = nullptr;
  ASSERT_EQ(admission_enter(a, "x", &t), 0);
  int64_t t0 = ak_mono_ms();
  std::thread k([&] {
    usleep(50000);
    admission_kick(a);
  });
  admission_wait(a, 5000);
  EXPECT_LT(ak_mono_ms() - t0, 2000);
  k.join();
  t0 = ak_mono_ms();
  admission_wait(a, 100);  // nothing happens: the timeout
  EXPECT_GE(ak_mono_ms() - t0, 90);
  admission_leave(a, t);
  admission_free(a);
}

}  // namespace
