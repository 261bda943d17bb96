// Placement rules on hand-built views: filters, tiers, least loaded, spreading
// ties, and the census behind RESOURCE_EXHAUSTED.
#include <errno.h>
#include <string.h>

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include "services/scheduler/bitset.h"
#include "services/scheduler/placement.h"
}

namespace {

// A fleet of n slots; every slot present and live with 8 vCPUs / 8 GiB free
// and load 0 unless a test changes it.
struct Fleet {
        explicit Fleet(size_t n)
            : slots(n), present(BITSET_WORDS(n) + 1), live(BITSET_WORDS(n) + 1)
        {
                for (size_t i = 0; i < n; i++) {
                        slots[i] = {8192, 8, 0};
                        bitset_set(present.data(), i);
                        bitset_set(live.data(), i);
                }
        }
        std::vector<uint64_t> &Bits(const std::string &name)
        {
                auto &b = sets[name];
                b.resize(live.size());
                return b;
        }
        void Set(const std::string &name, std::initializer_list<size_t> ids)
        {
                auto &b = Bits(name);
                for (size_t i : ids)
                        bitset_set(b.data(), i);
        }
        struct placement_view View() const
        {
                return {slots.data(), slots.size(), present.data(), live.data()};
        }
        std::vector<placement_slot> slots;
        std::vector<uint64_t> present, live;
        std::map<std::string, std::vector<uint64_t>> sets;
};

struct placement_request Req(uint32_t vcpus = 1, uint64_t mem = 512)
{
        struct placement_request r = {};
        r.vcpus = vcpus;
        r.memory_mb = mem;
        return r;
}

int Choose(const Fleet &f, const placement_request &req, placement_choice *c)
{
        auto v = f.View();
        return placement_choose(&v, &req, c);
}

size_t ChooseSlot(const Fleet &f, const placement_request &req)
{
        placement_choice c;
        EXPECT_EQ(0, Choose(f, req, &c));
        return c.slot;
}

TEST(Placement, EmptyFleetHasNoRoom)
{
        Fleet f(0);
        placement_choice c;
        auto req = Req();
        EXPECT_EQ(-ENOSPC, Choose(f, req, &c));
}

TEST(Placement, PicksLeastLoaded)
{
        Fleet f(5);
        for (size_t i = 0; i < 5; i++)
                f.slots[i].load_ppm = 500000 - i * 1000;
        f.slots[2].load_ppm = 1000;
        EXPECT_EQ(2u, ChooseSlot(f, Req()));
}

TEST(Placement, FiltersByFreeVcpusAndMemory)
{
        Fleet f(3);
        f.slots[0] = {8192, 1, 0};      // too few vCPUs
        f.slots[1] = {256, 8, 0};       // too little memory
        f.slots[2] = {4096, 4, 900000}; // fits, busy
        placement_choice c;
        auto req = Req(2, 1024);
        ASSERT_EQ(0, Choose(f, req, &c));
        EXPECT_EQ(2u, c.slot);
        EXPECT_EQ(PLACEMENT_ANY, c.tier);
        req = Req(8, 1024);
        EXPECT_EQ(-ENOSPC, Choose(f, req, &c));
}

TEST(Placement, ExactFitPasses)
{
        Fleet f(1);
        f.slots[0] = {512, 1, 999999};
        EXPECT_EQ(0u, ChooseSlot(f, Req(1, 512)));
}

TEST(Placement, LostExecutorsAreSkipped)
{
        Fleet f(2);
        f.slots[1].load_ppm = 10;
        bitset_clear(f.live.data(), 0);
        EXPECT_EQ(1u, ChooseSlot(f, Req()));
        bitset_clear(f.live.data(), 1);
        placement_choice c;
        EXPECT_EQ(-ENOSPC, Choose(f, Req(), &c));
}

TEST(Placement, NodeSelectorNeedsEveryLabel)
{
        Fleet f(4);
        f.Set("zone=a", {1, 2});
        f.Set("gpu=yes", {2, 3});
        f.slots[1].load_ppm = 0;
        f.slots[2].load_ppm = 500000;
        const uint64_t *sel[2] = {f.Bits("zone=a").data(), f.Bits("gpu=yes").data()};
        auto req = Req();
        req.selector = sel;
        req.n_selector = 2;
        EXPECT_EQ(2u, ChooseSlot(f, req));  // the only one with both, though busier
        req.n_selector = 1;
        EXPECT_EQ(1u, ChooseSlot(f, req));
}

TEST(Placement, UnknownLabelMatchesNothing)
{
        Fleet f(2);
        const uint64_t *sel[1] = {nullptr};
        auto req = Req();
        req.selector = sel;
        req.n_selector = 1;
        placement_choice c;
        EXPECT_EQ(-ENOSPC, Choose(f, req, &c));
}

TEST(Placement, WarmPoolHitBeatsCachedImageBeatsLoad)
{
        Fleet f(4);
        f.Set("image", {1, 2});
        f.Set("pool", {2});
        f.slots[0].load_ppm = 0;       // idle, nothing cached
        f.slots[1].load_ppm = 100000;  // image cached
        f.slots[2].load_ppm = 700000;  // warm VM ready, busiest
        f.slots[3].load_ppm = 0;
        auto req = Req();
        req.image = f.Bits("image").data();
        req.pool = f.Bits("pool").data();
        placement_choice c;
        ASSERT_EQ(0, Choose(f, req, &c));
        EXPECT_EQ(2u, c.slot);
        EXPECT_EQ(PLACEMENT_POOL, c.tier);

        req.pool = nullptr;  // no warm VM anywhere
        ASSERT_EQ(0, Choose(f, req, &c));
        EXPECT_EQ(1u, c.slot);
        EXPECT_EQ(PLACEMENT_IMAGE, c.tier);

        req.image = nullptr;
        ASSERT_EQ(0, Choose(f, req, &c));
        EXPECT_EQ(PLACEMENT_ANY, c.tier);
        EXPECT_TRUE(c.slot == 0 || c.slot == 3);
}

// The warm VM a pool hit takes over is already counted as allocated: an
// executor whose only room is that VM still takes a sandbox of its shape.
TEST(Placement, PoolHitTakesOverTheWarmVmsShare)
{
        Fleet f(2);
        f.Set("pool", {0});
        f.slots[0].free_vcpus = 0;
        f.slots[0].free_memory_mb = 0;
        auto req = Req(1, 512);
        req.pool = f.Bits("pool").data();
        placement_choice c;
        ASSERT_EQ(0, Choose(f, req, &c));
        EXPECT_EQ(0u, c.slot);
        EXPECT_EQ(PLACEMENT_POOL, c.tier);
        // Not without the pool VM.
        req.pool = nullptr;
        ASSERT_EQ(0, Choose(f, req, &c));
        EXPECT_EQ(1u, c.slot);
}

TEST(Placement, PoolHitWithoutRoomFallsBackToNextTier)
{
        Fleet f(3);
        f.Set("pool", {0});
        f.Set("image", {0, 1});
        f.slots[0].free_vcpus = 0;
        auto req = Req(2);  // more than the warm VM it would take over
        req.pool = f.Bits("pool").data();
        req.image = f.Bits("image").data();
        placement_choice c;
        ASSERT_EQ(0, Choose(f, req, &c));
        EXPECT_EQ(1u, c.slot);
        EXPECT_EQ(PLACEMENT_IMAGE, c.tier);
}

TEST(Placement, RequiredImageFilters)
{
        Fleet f(3);
        f.Set("image", {2});
        f.slots[2].load_ppm = 900000;
        auto req = Req();
        req.image = f.Bits("image").data();
        req.image_required = true;
        EXPECT_EQ(2u, ChooseSlot(f, req));
        req.image = nullptr;  // nobody has it
        placement_choice c;
        EXPECT_EQ(-ENOSPC, Choose(f, req, &c));
}

TEST(Placement, TiesSpreadWithStart)
{
        Fleet f(4);
        std::map<size_t, int> seen;
        for (size_t start = 0; start < 8; start++) {
                auto req = Req();
                req.start = start;
                seen[ChooseSlot(f, req)]++;
        }
        ASSERT_EQ(4u, seen.size());
        for (auto &kv : seen)
                EXPECT_EQ(2, kv.second);
}

TEST(Placement, TieBreakingWrapsAcrossWords)
{
        // 200 slots: ties at 5 and 130; starting after 130 wraps to 5.
        Fleet f(200);
        for (auto &s : f.slots)
                s.load_ppm = 500000;
        f.slots[5].load_ppm = 10;
        f.slots[130].load_ppm = 10;
        auto req = Req();
        req.start = 131;
        EXPECT_EQ(5u, ChooseSlot(f, req));
        req.start = 6;
        EXPECT_EQ(130u, ChooseSlot(f, req));
        req.start = 130;
        EXPECT_EQ(130u, ChooseSlot(f, req));
        req.start = 5 + 200 * 7;  // any value works
        EXPECT_EQ(5u, ChooseSlot(f, req));
}

TEST(Placement, StartInsideAWordSeesEveryBit)
{
        // One word, start in the middle: slots below start are still seen.
        Fleet f(40);
        for (auto &s : f.slots)
                s.free_vcpus = 0;
        f.slots[3].free_vcpus = 4;
        auto req = Req();
        req.start = 20;
        EXPECT_EQ(3u, ChooseSlot(f, req));
        f.slots[3].free_vcpus = 0;
        f.slots[39].free_vcpus = 4;
        req.start = 39;
        EXPECT_EQ(39u, ChooseSlot(f, req));
}

TEST(Placement, AbsentSlotsAreNeverChosen)
{
        Fleet f(70);
        for (size_t i = 0; i < 70; i++)
                if (i != 66) {
                        bitset_clear(f.present.data(), i);
                        bitset_clear(f.live.data(), i);
                }
        auto req = Req();
        req.start = 67;
        EXPECT_EQ(66u, ChooseSlot(f, req));
}

TEST(Placement, CensusCountsFirstFailingFilter)
{
        Fleet f(7);
        f.Set("zone=a", {1, 2, 3, 4, 5, 6});
        f.Set("image", {2, 3, 4, 5, 6});
        bitset_clear(f.live.data(), 1);  // lost (though it has the label)
        bitset_clear(f.present.data(), 6);
        bitset_clear(f.live.data(), 6);  // not registered at all
        f.slots[3].free_vcpus = 1;
        f.slots[4].free_memory_mb = 100;
        f.slots[4].free_vcpus = 1;       // vCPUs are checked first
        f.slots[5].free_memory_mb = 100;
        const uint64_t *sel[1] = {f.Bits("zone=a").data()};
        auto req = Req(2, 1024);
        req.selector = sel;
        req.n_selector = 1;
        req.image = f.Bits("image").data();
        req.image_required = true;
        auto v = f.View();
        struct placement_census c;
        placement_census(&v, &req, &c);
        EXPECT_EQ(6u, c.executors);
        EXPECT_EQ(1u, c.lost);
        EXPECT_EQ(1u, c.labels);  // slot 0
        EXPECT_EQ(0u, c.image);
        EXPECT_EQ(2u, c.vcpus);   // 3, 4
        EXPECT_EQ(1u, c.memory);  // 5
        EXPECT_EQ(1u, c.fit);     // 2

        char msg[512];
        placement_explain(&c, &req, "py", "zone=a", msg, sizeof(msg));
        EXPECT_NE(nullptr, strstr(msg, "2 vCPUs, 1024 MB, image \"py\", node_selector zone=a"))
                << msg;
        EXPECT_NE(nullptr, strstr(msg, "of 6 executors, 1 lost, unreachable or draining, 1 lack the node_selector "
                                       "labels, 2 have fewer than 2 free vCPUs, 1 have less than "
                                       "1024 MB free memory"))
                << msg;
}

TEST(Placement, ExplainWithNoExecutors)
{
        struct placement_census c = {};
        auto req = Req();
        char msg[256];
        placement_explain(&c, &req, "base", "", msg, sizeof(msg));
        EXPECT_STREQ("no executor can take the sandbox (1 vCPU, 512 MB): no executor is registered "
                     "(start ak-executor with --scheduler pointing here)",
                     msg);
}

TEST(Placement, ExplainTruncatesSafely)
{
        struct placement_census c = {5, 1, 1, 1, 1, 1, 0};
        auto req = Req();
        char msg[16];
        placement_explain(&c, &req, "x", "a=b", msg, sizeof(msg));
        EXPECT_EQ(15u, strlen(msg));
}

}  // namespace
