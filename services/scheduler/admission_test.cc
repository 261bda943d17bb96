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

// Behind a head that cannot fit, the next ADMISSION_LOOKAHEAD may try too,
// during the head's first ADMISSION_HEAD_GRACE_MS; after that only the head.
TEST(AdmissionTest, LaterTicketsTryOnlyDuringTheHeadsGrace) {
  struct admission* a = nullptr;
  ASSERT_EQ(admission_new(100, &a), 0);
  std::vector<struct admission_ticket*> t(ADMISSION_LOOKAHEAD + 1);
  for (auto& x : t) ASSERT_EQ(admission_enter(a, "x", &x), 0);
  int64_t now = ak_mono_ms();
  EXPECT_TRUE(admission_may_try(a, t[0], now));
  EXPECT_TRUE(admission_may_try(a, t[1], now));
  EXPECT_TRUE(admission_may_try(a, t[ADMISSION_LOOKAHEAD - 1], now));
  EXPECT_FALSE(admission_may_try(a, t[ADMISSION_LOOKAHEAD], now));  // too deep
  int64_t later = now + ADMISSION_HEAD_GRACE_MS + 1;
  EXPECT_TRUE(admission_may_try(a, t[0], later));
  EXPECT_FALSE(admission_may_try(a, t[1], later));
  // The head leaves: the next is head, with a grace of its own from its entry.
  admission_leave(a, t[0]);
  EXPECT_TRUE(admission_may_try(a, t[1], later));
  for (size_t i = 1; i < t.size(); i++) admission_leave(a, t[i]);
  admission_free(a);
}

TEST(AdmissionTest, NamedCreatesAreListedWithTheirPlace) {
  struct admission* a = nullptr;
  ASSERT_EQ(admission_new(10, &a), 0);
  struct admission_ticket *run, *c1, *c2;
  ASSERT_EQ(admission_enter(a, "t1", &run), 0);
  ASSERT_EQ(admission_enter_named(a, "t1", "box-a", &c1), 0);
  ASSERT_EQ(admission_enter_named(a, "t2", "box-b", &c2), 0);
  EXPECT_EQ(admission_waiting(a), 3u);
  struct admission_entry e;
  ASSERT_EQ(admission_lookup(a, "box-b", &e), 0);
  EXPECT_STREQ(e.tenant, "t2");
  EXPECT_EQ(e.position, 2u);  // t2's first turn comes before t1's second
  EXPECT_EQ(e.waiting, 3u);
  EXPECT_EQ(admission_lookup(a, "nope", &e), -ENOENT);
  EXPECT_EQ(admission_lookup(a, "", &e), -ENOENT);
  struct admission_entry* v = nullptr;
  size_t n = 0;
  ASSERT_EQ(admission_list(a, &v, &n), 0);
  ASSERT_EQ(n, 2u);
  EXPECT_STREQ(v[0].name, "box-a");
  EXPECT_EQ(v[0].position, 3u);
  EXPECT_STREQ(v[1].name, "box-b");
  free(v);
  admission_leave(a, run);
  admission_leave(a, c1);
  admission_leave(a, c2);
  EXPECT_EQ(admission_waiting(a), 0u);
  admission_free(a);
}
