// The registry's executors with time driven by hand: registration,
// heartbeats, lost and forgotten executors, capacity numbers, interned keys.
#include "services/scheduler/testing/registry_fixture.h"

#include <set>

namespace {

using akt::Exec;
using akt::RegistryTest;
using akt::Status;

TEST_F(RegistryTest, RegisterListAndHeartbeat)
{
        Register(Exec("b"));
        Register(Exec("a"));
        Ak__V1__ListExecutorsResponse *resp;
        ASSERT_EQ(0, registry_list_executors(reg, 1 << 20, &resp));
        ASSERT_EQ(2u, resp->n_executors);
        EXPECT_STREQ("a", resp->executors[0]->status->executor_id);
        EXPECT_STREQ("b", resp->executors[1]->status->executor_id);
        EXPECT_FALSE(resp->executors[0]->lost);
        EXPECT_GT(resp->executors[0]->last_heartbeat_ms, 1600000000000);
        protobuf_c_message_free_unpacked(&resp->base, nullptr);

        EXPECT_EQ(0, Heartbeat(Exec("a")));
        EXPECT_EQ(-ENOENT, Heartbeat(Exec("zz")));
        ASSERT_EQ(0, registry_list_executors(reg, 10, &resp) == -E2BIG ? 0 : -1);
}

TEST_F(RegistryTest, RegisterIsIdempotentPerId)
{
        Status s = Exec("a");
        Register(s);
        s.address = "127.0.0.1:9";
        s.vcpus = 2;
        Register(s);
        struct registry_stats st;
        registry_stats(reg, &st);
        EXPECT_EQ(1u, st.executors);
        EXPECT_EQ(2u, Slot("a").free_vcpus);
        registry_claim c;
        ASSERT_EQ(0, Place("x", &c));
        EXPECT_STREQ("127.0.0.1:9", c.address);
}

TEST_F(RegistryTest, MaxExecutors)
{
        for (char c = 'a'; c < 'e'; c++)
                Register(Exec(std::string(1, c)));
        struct ak_error err;
        EXPECT_EQ(-EUSERS, registry_register(reg, Exec("e").Build(), "test", now, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "limit"));
}

// An executor_id belongs to the identity that registered it first: another
// identity can neither re-register nor heartbeat as it (and so cannot point
// the id's sandboxes' calls at its own address); the owner can, after a
// restart, and while lost.
TEST_F(RegistryTest, ExecutorIdIsBoundToItsFirstIdentity)
{
        struct ak_error err;
        Status a = Exec("a");
        ASSERT_EQ(0, registry_register(reg, a.Build(), "token/node-a", now, &err)) << err.msg;
        Status evil = Exec("a");
        evil.address = "127.0.0.1:6666";
        EXPECT_EQ(-EPERM, registry_register(reg, evil.Build(), "token/node-b", now, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "executor a is bound to another identity")) << err.msg;
        EXPECT_NE(nullptr, strstr(err.msg, "token/node-b")) << err.msg;
        EXPECT_EQ(-EPERM, registry_heartbeat(reg, evil.Build(), "token/node-b", now, &err));
        registry_claim c;
        ASSERT_EQ(0, Place("x", &c));
        EXPECT_STRNE("127.0.0.1:6666", c.address);
        now += 5000;  // lost
        registry_reap(reg, now, nullptr, nullptr);
        EXPECT_EQ(-EPERM, registry_register(reg, evil.Build(), "token/node-b", now, &err));
        EXPECT_EQ(0, registry_register(reg, a.Build(), "token/node-a", now, &err)) << err.msg;
        EXPECT_EQ(0, registry_heartbeat(reg, a.Build(), "token/node-a", now, &err)) << err.msg;
}

TEST_F(RegistryTest, LostAfterMissedHeartbeatsThenBack)
{
        Status a = Exec("a");
        a.sandboxes = {{"s1", {}}};
        Register(a);
        Register(Exec("b"));
        now += 2000;
        EXPECT_EQ(0, Heartbeat(Exec("b")));
        now += 1500;  // a silent for 3.5 s, b for 1.5 s
        std::vector<std::string> lost;
        auto note = [](void *d, registry_event ev, const char *id, int64_t) {
                if (ev == REGISTRY_LOST)
                        ((std::vector<std::string> *)d)->push_back(id);
        };
        EXPECT_EQ(1, registry_reap(reg, now, note, &lost));
        EXPECT_EQ(std::vector<std::string>{"a"}, lost);
        EXPECT_EQ(REGISTRY_IS_LOST, registry_liveness(reg, "a", now, nullptr, 0));
        EXPECT_EQ(REGISTRY_LIVE, registry_liveness(reg, "b", now, nullptr, 0));
        EXPECT_EQ(REGISTRY_GONE, registry_liveness(reg, "c", now, nullptr, 0));

        int code;
        std::string why = Owner("s1", &code);
        EXPECT_EQ(-EHOSTDOWN, code);
        EXPECT_NE(nullptr, strstr(why.c_str(), "executor a (127.0.0.1:1097) is lost: no heartbeat for 3500 ms"))
                << why;
        std::vector<int> states;
        EXPECT_EQ(std::vector<std::string>{"s1"}, ListNames({}, &states));
        EXPECT_EQ(AK__V1__SANDBOX_STATE__SANDBOX_STATE_ERROR, states[0]);

        // New sandboxes avoid it.
        for (int i = 0; i < 3; i++)
                EXPECT_EQ("b", PlaceOn());

        EXPECT_EQ(0, Heartbeat(a));
        EXPECT_EQ(REGISTRY_LIVE, registry_liveness(reg, "a", now, nullptr, 0));
        EXPECT_EQ("a", Owner("s1"));
}

TEST_F(RegistryTest, ForgottenAfterLongSilenceWithItsSandboxes)
{
        Status a = Exec("a");
        a.labels = {{"zone", "x"}};
        a.images = {"py"};
        a.sandboxes = {{"s1", {}}};
        Register(a);
        now += 3001;
        registry_reap(reg, now, nullptr, nullptr);
        now += 10000;
        std::vector<std::string> gone;
        auto note = [](void *d, registry_event ev, const char *id, int64_t) {
                if (ev == REGISTRY_FORGOTTEN)
                        ((std::vector<std::string> *)d)->push_back(id);
        };
        registry_reap(reg, now, note, &gone);
        EXPECT_EQ(std::vector<std::string>{"a"}, gone);
        struct registry_stats st;
        registry_stats(reg, &st);
        EXPECT_EQ(0u, st.executors);
        EXPECT_EQ(0u, st.sandboxes);
        EXPECT_EQ(0u, st.keys);  // interned labels and images went with it
        int code;
        Owner("s1", &code);
        EXPECT_EQ(-ENOENT, code);
        EXPECT_EQ(-ENOENT, Heartbeat(a));  // it must register again
        Register(a);                        // reuses the slot
        EXPECT_EQ("a", Owner("s1"));
}

TEST_F(RegistryTest, UnreachableSkippedUntilNextHeartbeat)
{
        Register(Exec("a"));
        Register(Exec("b"));
        registry_mark_unreachable(reg, "a");
        registry_mark_unreachable(reg, "nobody");
        for (int i = 0; i < 3; i++)
                EXPECT_EQ("b", PlaceOn());
        EXPECT_EQ(REGISTRY_LIVE, registry_liveness(reg, "a", now, nullptr, 0));  // not lost: calls still go
        EXPECT_EQ(0, Heartbeat(Exec("a")));
        EXPECT_EQ("a", PlaceOn());
}

TEST_F(RegistryTest, CapacityFromStatusAndLoad)
{
        Status a = Exec("a");
        a.vcpus = 4;
        a.memory_mb = 1000;
        a.alloc_vcpus = 2;
        a.alloc_memory_mb = 750;
        Register(a);
        placement_slot s = Slot("a");
        EXPECT_EQ(2u, s.free_vcpus);
        EXPECT_EQ(250u, s.free_memory_mb);
        EXPECT_EQ((500000u + 750000u) / 2, s.load_ppm);
        a.alloc_vcpus = 9;  // over-reported: clamps at zero free
        EXPECT_EQ(0, Heartbeat(a));
        EXPECT_EQ(0u, Slot("a").free_vcpus);
        Status none = Exec("b");
        none.vcpus = 0;
        none.memory_mb = 0;
        Register(none);
        EXPECT_EQ(1000000u, Slot("b").load_ppm);
}

TEST_F(RegistryTest, ImageAddedIsPlaceableBeforeTheNextHeartbeat)
{
        Status a = Exec("a"), b = Exec("b");
        a.images = b.images = {"base"};
        Register(a);
        Register(b);
        registry_claim c;
        EXPECT_NE(0, Place("r1", &c, 0, "snap1"));  // a local name nobody has
        EXPECT_EQ(-ENOENT, registry_image_added(reg, "nobody", "snap1"));
        EXPECT_EQ(0, registry_image_added(reg, "b", "snap1"));
        EXPECT_EQ(0, registry_image_added(reg, "b", "snap1"));  // once
        for (int i = 0; i < 3; i++) {
                ASSERT_EQ(0, Place("", &c, 0, "snap1"));
                EXPECT_STREQ("b", c.executor_id);
                registry_release(reg, &c);
        }
        struct registry_stats st;
        registry_stats(reg, &st);
        EXPECT_EQ(2u, st.keys);  // base, snap1 (interned once)
        EXPECT_EQ(0, Heartbeat(b));  // b's own list rules again
        EXPECT_NE(0, Place("r2", &c, 0, "snap1"));
        registry_stats(reg, &st);
        EXPECT_EQ(1u, st.keys);
}

TEST_F(RegistryTest, KeysAreReleasedWhenNoExecutorHoldsThem)
{
        Status a = Exec("a");
        a.labels = {{"zone", "x"}};
        a.images = {"base", "py"};
        a.pools = {{"base", "moderate", 2}};
        Register(a);
        struct registry_stats st;
        registry_stats(reg, &st);
        EXPECT_EQ(4u, st.keys);
        a.labels.clear();
        a.images.clear();
        a.pools.clear();
        EXPECT_EQ(0, Heartbeat(a));
        registry_stats(reg, &st);
        EXPECT_EQ(0u, st.keys);
}

TEST(RegistryGrowth, ManyExecutorsAcrossSlotGrowth)
{
        struct registry_config cfg = {};
        struct registry *reg;
        ASSERT_EQ(0, registry_new(&cfg, 0, &reg));
        for (int i = 0; i < 300; i++) {
                Status s;
                s.id = "e" + std::to_string(i);
                s.labels = {{"rack", std::to_string(i % 7)}};
                s.images = {"base"};
                s.alloc_vcpus = i == 250 ? 0 : 4;
                struct ak_error err;
                ASSERT_EQ(0, registry_register(reg, s.Build(), "test", 0, &err)) << err.msg;
        }
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        Ak__V1__SandboxSpec__NodeSelectorEntry kv = AK__V1__SANDBOX_SPEC__NODE_SELECTOR_ENTRY__INIT;
        kv.key = (char *)"rack";
        kv.value = (char *)"5";  // 250 % 7 == 5
        Ak__V1__SandboxSpec__NodeSelectorEntry *kvp = &kv;
        spec.n_node_selector = 1;
        spec.node_selector = &kvp;
        struct spec_needs needs;
        struct ak_error err;
        ASSERT_EQ(0, spec_check(&spec, &needs, &err));
        registry_claim c;
        ASSERT_EQ(0, registry_place(reg, &spec, &needs, nullptr, &c, &err)) << err.msg;
        EXPECT_STREQ("e250", c.executor_id);  // the idle one in rack 5
        registry_free(reg);
}

TEST_F(RegistryTest, RebuildingWindow)
{
        EXPECT_TRUE(registry_rebuilding(reg, now + 2999));
        EXPECT_FALSE(registry_rebuilding(reg, now + 3000));
}

}  // namespace
