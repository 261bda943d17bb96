// The device side of split virtqueues against fake guest memory: what a
// well-behaved driver does, and what a hostile one can do to the rings.
#include <string.h>

#include <gtest/gtest.h>

#include "vmm/virtio/testing/fake_guest.h"

namespace {

using fakeguest::Buf;
using fakeguest::Memory;
using fakeguest::Ring;

class VirtqueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(guest_mem_new(&gm_), 0);
    struct guest_mem_region r = mem_.Region();
    int fd = mem_.fd();
    ASSERT_EQ(guest_mem_set_table(gm_, &r, &fd, 1), 0);
  }
  void TearDown() override { guest_mem_free(gm_); }
  void Map(Ring& ring, bool indirect = false, bool event_idx = false) {
    ASSERT_EQ(vq_map_uva(&q_, gm_, ring.num(), mem_.Uva(ring.desc_gpa()), mem_.Uva(ring.avail_gpa()),
                         mem_.Uva(ring.used_gpa()), 0, indirect, event_idx),
              0);
  }
  Memory mem_;
  struct guest_mem* gm_ = nullptr;
  struct vq q_;
  struct vq_chain c_;
};

TEST_F(VirtqueueTest, EmptyRingPopsNothing) {
  Ring ring(&mem_, 8);
  Map(ring);
  EXPECT_EQ(vq_pop(&q_, &c_), 0);
}

TEST_F(VirtqueueTest, ReadableThenWritableChain) {
  Ring ring(&mem_, 8);
  Map(ring);
  uint64_t a = mem_.Alloc(100), b = mem_.Alloc(200);
  memcpy(mem_.Ptr(a), "request", 7);
  uint16_t head = ring.Add({{a, 100, false}, {b, 200, true}});
  ASSERT_EQ(vq_pop(&q_, &c_), 1);
  EXPECT_EQ(c_.head, head);
  EXPECT_EQ(c_.n_out, 1u);
  EXPECT_EQ(c_.n_in, 1u);
  EXPECT_EQ(c_.out_len, 100u);
  EXPECT_EQ(c_.in_len, 200u);
  char got[8] = {};
  EXPECT_EQ(vq_chain_read(&c_, 0, got, 7), 7u);
  EXPECT_STREQ(got, "request");
  EXPECT_EQ(vq_chain_write(&c_, 0, "reply", 5), 5u);
  EXPECT_EQ(memcmp(mem_.Ptr(b), "reply", 5), 0);
  vq_push(&q_, c_.head, 5);
  uint32_t id, len;
  ASSERT_TRUE(ring.PopUsed(&id, &len));
  EXPECT_EQ(id, head);
  EXPECT_EQ(len, 5u);
  EXPECT_EQ(vq_pop(&q_, &c_), 0);
}

TEST_F(VirtqueueTest, ChainReadAndWriteSpanBuffers) {
  Ring ring(&mem_, 8);
  Map(ring);
  uint64_t a = mem_.Alloc(3), b = mem_.Alloc(5), c = mem_.Alloc(4), d = mem_.Alloc(4);
  memcpy(mem_.Ptr(a), "abc", 3);
  memcpy(mem_.Ptr(b), "defgh", 5);
  ring.Add({{a, 3, false}, {b, 5, false}, {c, 4, true}, {d, 4, true}});
  ASSERT_EQ(vq_pop(&q_, &c_), 1);
  char got[9] = {};
  EXPECT_EQ(vq_chain_read(&c_, 1, got, 8), 7u);
  EXPECT_STREQ(got, "bcdefgh");
  EXPECT_EQ(vq_chain_write(&c_, 2, "123456789", 9), 6u);
  EXPECT_EQ(memcmp(mem_.Ptr(c) + 2, "12", 2), 0);
  EXPECT_EQ(memcmp(mem_.Ptr(d), "3456", 4), 0);
}

TEST_F(VirtqueueTest, ReadableAfterWritableIsMalformed) {
  Ring ring(&mem_, 8);
  Map(ring);
  uint64_t a = mem_.Alloc(16), b = mem_.Alloc(16);
  ring.Add({{a, 16, true}, {b, 16, false}});
  EXPECT_EQ(vq_pop(&q_, &c_), -EIO);
  EXPECT_FALSE(q_.broken);
  // The ring goes on.
  ring.Add({{a, 16, false}});
  EXPECT_EQ(vq_pop(&q_, &c_), 1);
}

TEST_F(VirtqueueTest, DescriptorLoopIsCaught) {
  Ring ring(&mem_, 8);
  Map(ring);
  uint64_t a = mem_.Alloc(16);
  struct vring_desc_le* d = ring.Desc(3);
  d->addr = a;
  d->len = 16;
  d->flags = VRING_DESC_F_NEXT;
  d->next = 3;  // itself
  ring.PublishHead(3);
  EXPECT_EQ(vq_pop(&q_, &c_), -EIO);
  EXPECT_EQ(c_.head, 3);
}

TEST_F(VirtqueueTest, NextOutOfRangeIsMalformed) {
  Ring ring(&mem_, 8);
  Map(ring);
  struct vring_desc_le* d = ring.Desc(0);
  d->addr = mem_.Alloc(16);
  d->len = 16;
  d->flags = VRING_DESC_F_NEXT;
  d->next = 8;
  ring.PublishHead(0);
  EXPECT_EQ(vq_pop(&q_, &c_), -EIO);
}

TEST_F(VirtqueueTest, HeadOutOfRangeBreaksTheRing) {
  Ring ring(&mem_, 8);
  Map(ring);
  ring.PublishHead(200);
  EXPECT_EQ(vq_pop(&q_, &c_), -EPIPE);
  EXPECT_TRUE(q_.broken);
  EXPECT_EQ(vq_pop(&q_, &c_), -EPIPE);
}

TEST_F(VirtqueueTest, AvailIndexJumpBreaksTheRing) {
  Ring ring(&mem_, 8);
  Map(ring);
  ring.SetAvailIdx(9);  // 9 new entries in a ring of 8
  EXPECT_EQ(vq_pop(&q_, &c_), -EPIPE);
  EXPECT_TRUE(q_.broken);
}

TEST_F(VirtqueueTest, BufferOutsideGuestMemoryIsMalformed) {
  Ring ring(&mem_, 8);
  Map(ring);
  ring.Add({{0x1000, 16, false}});  // below the region
  EXPECT_EQ(vq_pop(&q_, &c_), -EIO);
  ring.Add({{Memory::kGpaBase + mem_.size() - 8, 16, false}});  // runs off its end
  EXPECT_EQ(vq_pop(&q_, &c_), -EIO);
  ring.Add({{~0ull - 4, 16, false}});  // wraps around
  EXPECT_EQ(vq_pop(&q_, &c_), -EIO);
}

TEST_F(VirtqueueTest, TooManyBuffersIsMalformed) {
  Ring ring(&mem_, 128);
  Map(ring);
  std::vector<Buf> bufs;
  for (int i = 0; i < VQ_MAX_IOV + 1; i++) bufs.push_back({mem_.Alloc(8), 8, false});
  ring.Add(bufs);
  EXPECT_EQ(vq_pop(&q_, &c_), -EIO);
}

TEST_F(VirtqueueTest, IndirectOnlyWhenNegotiated) {
  Ring ring(&mem_, 8);
  uint64_t table = mem_.Alloc(2 * sizeof(struct vring_desc_le));
  auto* t = reinterpret_cast<struct vring_desc_le*>(mem_.Ptr(table));
  uint64_t a = mem_.Alloc(10), b = mem_.Alloc(20);
  t[0] = {a, 10, VRING_DESC_F_NEXT, 1};
  t[1] = {b, 20, VRING_DESC_F_WRITE, 0};
  struct vring_desc_le* d = ring.Desc(0);
  d->addr = table;
  d->len = 2 * sizeof(struct vring_desc_le);
  d->flags = VRING_DESC_F_INDIRECT;
  ring.PublishHead(0);
  Map(ring, /*indirect=*/false);
  EXPECT_EQ(vq_pop(&q_, &c_), -EIO);
  ring.PublishHead(0);
  q_.indirect = true;
  ASSERT_EQ(vq_pop(&q_, &c_), 1);
  EXPECT_EQ(c_.out_len, 10u);
  EXPECT_EQ(c_.in_len, 20u);
  // A loop inside the table, and a nested indirect, are both refused.
  t[1] = {b, 20, VRING_DESC_F_NEXT, 0};
  ring.PublishHead(0);
  EXPECT_EQ(vq_pop(&q_, &c_), -EIO);
  t[1] = {table, 32, VRING_DESC_F_INDIRECT, 0};
  ring.PublishHead(0);
  EXPECT_EQ(vq_pop(&q_, &c_), -EIO);
  // A table length that is not whole descriptors.
  d->len = 17;
  ring.PublishHead(0);
  EXPECT_EQ(vq_pop(&q_, &c_), -EIO);
}

TEST_F(VirtqueueTest, BufferSpanningRegionsIsSplit) {
  // Two regions of one memfd, adjacent in guest physical space.
  Memory two(1 << 20);
  struct guest_mem_region r[2] = {{0x100000, 0x80000, 0x7000000, 0}, {0x180000, 0x80000, 0x8000000, 0x80000}};
  int fds[2] = {two.fd(), two.fd()};
  ASSERT_EQ(guest_mem_set_table(gm_, r, fds, 2), 0);
  uint64_t len = 0;
  EXPECT_NE(guest_mem_gpa_prefix(gm_, 0x17fff0, 0x20, &len), nullptr);
  EXPECT_EQ(len, 0x10u);
  EXPECT_EQ(guest_mem_gpa(gm_, 0x17fff0, 0x20), nullptr);
  EXPECT_NE(guest_mem_gpa(gm_, 0x17fff0, 0x10), nullptr);
}

TEST_F(VirtqueueTest, MemoryTableChecks) {
  struct guest_mem_region r = mem_.Region();
  int fd = mem_.fd();
  r.size = mem_.size() + 4096;  // larger than the file: would SIGBUS
  EXPECT_EQ(guest_mem_set_table(gm_, &r, &fd, 1), -EINVAL);
  r = mem_.Region();
  r.size = 0;
  EXPECT_EQ(guest_mem_set_table(gm_, &r, &fd, 1), -EINVAL);
  struct guest_mem_region two[2] = {mem_.Region(), mem_.Region()};  // overlapping
  int fds[2] = {fd, fd};
  EXPECT_EQ(guest_mem_set_table(gm_, two, fds, 2), -EINVAL);
  // The old table is still in place after the failures.
  EXPECT_EQ(guest_mem_n_regions(gm_), 1u);
}

TEST_F(VirtqueueTest, RingMustFitAndAlign) {
  Ring ring(&mem_, 8);
  EXPECT_EQ(vq_map_uva(&q_, gm_, 8, mem_.Uva(ring.desc_gpa()) + 1, mem_.Uva(ring.avail_gpa()),
                       mem_.Uva(ring.used_gpa()), 0, false, false),
            -EINVAL);
  EXPECT_EQ(vq_map_uva(&q_, gm_, 6, mem_.Uva(ring.desc_gpa()), mem_.Uva(ring.avail_gpa()),
                       mem_.Uva(ring.used_gpa()), 0, false, false),
            -EINVAL);
  EXPECT_EQ(vq_map_uva(&q_, gm_, 8, Memory::kUvaBase + mem_.size() - 16, mem_.Uva(ring.avail_gpa()),
                       mem_.Uva(ring.used_gpa()), 0, false, false),
            -EINVAL);
}

TEST_F(VirtqueueTest, NotificationSuppression) {
  Ring ring(&mem_, 8);
  Map(ring);
  uint64_t a = mem_.Alloc(16);
  ring.Add({{a, 16, true}});
  ASSERT_EQ(vq_pop(&q_, &c_), 1);
  vq_push(&q_, c_.head, 0);
  EXPECT_TRUE(vq_should_notify(&q_));
  ring.SetAvailFlags(VRING_AVAIL_F_NO_INTERRUPT);
  EXPECT_FALSE(vq_should_notify(&q_));
}

TEST_F(VirtqueueTest, EventIndex) {
  Ring ring(&mem_, 8);
  Map(ring, false, /*event_idx=*/true);
  uint64_t a = mem_.Alloc(16);
  // Empty: the device asks for a kick at the next entry (avail_event).
  EXPECT_EQ(vq_pop(&q_, &c_), 0);
  uint16_t avail_event;
  memcpy(&avail_event, mem_.Ptr(ring.used_gpa()) + 4 + 8 * 8, 2);
  EXPECT_EQ(avail_event, 0);
  for (int i = 0; i < 3; i++) {
    ring.Add({{a, 16, true}});
    ASSERT_EQ(vq_pop(&q_, &c_), 1);
    vq_push(&q_, c_.head, 0);
  }
  // used_event = 0: the driver wanted an interrupt after entry 0 only.
  EXPECT_TRUE(vq_should_notify(&q_));  // first time: always
  ring.Add({{a, 16, true}});
  ASSERT_EQ(vq_pop(&q_, &c_), 1);
  vq_push(&q_, c_.head, 0);
  EXPECT_FALSE(vq_should_notify(&q_));
  uint16_t used_event = 4;  // now it wants one once entry 4 is used
  memcpy(mem_.Ptr(ring.avail_gpa()) + 4 + 2 * 8, &used_event, 2);
  ring.Add({{a, 16, true}});
  ASSERT_EQ(vq_pop(&q_, &c_), 1);
  vq_push(&q_, c_.head, 0);
  EXPECT_TRUE(vq_should_notify(&q_));
}

TEST_F(VirtqueueTest, UnpopGivesTheChainBack) {
  Ring ring(&mem_, 8);
  Map(ring);
  uint64_t a = mem_.Alloc(16);
  uint16_t head = ring.Add({{a, 16, true}});
  ASSERT_EQ(vq_pop(&q_, &c_), 1);
  vq_unpop(&q_);
  ASSERT_EQ(vq_pop(&q_, &c_), 1);
  EXPECT_EQ(c_.head, head);
}

}  // namespace
