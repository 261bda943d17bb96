// The registry with time driven by hand: registration, heartbeats, lost and
// forgotten executors, reservations, name uniqueness, routing and listing.
#include <errno.h>
#include <string.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include "services/scheduler/pbcopy.h"
#include "services/scheduler/registry.h"
}

namespace {

struct SandboxDesc {
        std::string name;
        std::map<std::string, std::string> labels;
};

struct PoolDesc {
        std::string image, profile;
        uint32_t ready;
};

// An executor's status as a test writes it; Build() gives the owned,
// unpacked message the registry takes.
struct Status {
        std::string id, address = "127.0.0.1:1";
        uint32_t vcpus = 8, alloc_vcpus = 0;
        uint64_t memory_mb = 8192, alloc_memory_mb = 0;
        std::map<std::string, std::string> labels;
        std::vector<std::string> images;
        std::vector<PoolDesc> pools;
        std::vector<SandboxDesc> sandboxes;

        Ak__V1__ExecutorStatus *Build() const
        {
                Ak__V1__ExecutorStatus st = AK__V1__EXECUTOR_STATUS__INIT;
                st.executor_id = (char *)id.c_str();
                st.address = (char *)address.c_str();
                Ak__V1__Capacity cap = AK__V1__CAPACITY__INIT, alloc = AK__V1__CAPACITY__INIT;
                cap.vcpus = vcpus;
                cap.memory_mb = memory_mb;
                alloc.vcpus = alloc_vcpus;
                alloc.memory_mb = alloc_memory_mb;
                st.capacity = &cap;
                st.allocated = &alloc;
                std::vector<Ak__V1__ExecutorStatus__LabelsEntry> lab(labels.size());
                std::vector<Ak__V1__ExecutorStatus__LabelsEntry *> labp;
                size_t i = 0;
                for (auto &kv : labels) {
                        ak__v1__executor_status__labels_entry__init(&lab[i]);
                        lab[i].key = (char *)kv.first.c_str();
                        lab[i].value = (char *)kv.second.c_str();
                        labp.push_back(&lab[i++]);
                }
                st.n_labels = labp.size();
                st.labels = labp.data();
                std::vector<char *> imgs;
                for (auto &im : images)
                        imgs.push_back((char *)im.c_str());
                st.n_images = imgs.size();
                st.images = imgs.data();
                std::vector<Ak__V1__PoolStatus> ps(pools.size());
                std::vector<Ak__V1__PoolStatus *> psp;
                for (i = 0; i < pools.size(); i++) {
                        ak__v1__pool_status__init(&ps[i]);
                        ps[i].image = (char *)pools[i].image.c_str();
                        ps[i].profile = (char *)pools[i].profile.c_str();
                        ps[i].ready = pools[i].ready;
                        psp.push_back(&ps[i]);
                }
                st.n_pools = psp.size();
                st.pools = psp.data();
                std::vector<Ak__V1__Sandbox> sbs(sandboxes.size());
                std::vector<Ak__V1__SandboxSpec> specs(sandboxes.size());
                std::vector<Ak__V1__Sandbox *> sbp;
                std::vector<std::vector<Ak__V1__SandboxSpec__LabelsEntry>> sl(sandboxes.size());
                std::vector<std::vector<Ak__V1__SandboxSpec__LabelsEntry *>> slp(sandboxes.size());
                for (i = 0; i < sandboxes.size(); i++) {
                        ak__v1__sandbox__init(&sbs[i]);
                        ak__v1__sandbox_spec__init(&specs[i]);
                        specs[i].name = (char *)sandboxes[i].name.c_str();
                        sl[i].resize(sandboxes[i].labels.size());
                        for (auto &e : sl[i])
                                ak__v1__sandbox_spec__labels_entry__init(&e);
                        size_t j = 0;
                        for (auto &kv : sandboxes[i].labels) {
                                sl[i][j].key = (char *)kv.first.c_str();
                                sl[i][j].value = (char *)kv.second.c_str();
                                slp[i].push_back(&sl[i][j++]);
                        }
                        specs[i].n_labels = slp[i].size();
                        specs[i].labels = slp[i].data();
                        sbs[i].spec = &specs[i];
                        sbs[i].state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING;
                        sbp.push_back(&sbs[i]);
                }
                st.n_sandboxes = sbp.size();
                st.sandboxes = sbp.data();
                struct ak_error err;
                EXPECT_EQ(0, spec_check_status(&st, &err)) << err.msg;
                return (Ak__V1__ExecutorStatus *)pbcopy(&st.base);
        }
};

class RegistryTest : public ::testing::Test {
      protected:
        void SetUp() override
        {
                struct registry_config cfg = {};
                cfg.heartbeat_interval_ms = 1000;
                cfg.lost_after_ms = 3000;
                cfg.forget_after_ms = 10000;
                cfg.max_executors = 4;
                ASSERT_EQ(0, registry_new(&cfg, now, &reg));
        }
        void TearDown() override { registry_free(reg); }

        void Register(const Status &s)
        {
                struct ak_error err;
                ASSERT_EQ(0, registry_register(reg, s.Build(), now, &err)) << err.msg;
        }
        int Heartbeat(const Status &s)
        {
                struct ak_error err;
                return registry_heartbeat(reg, s.Build(), now, &err);
        }
        // Places a create of `name` ("" = generated) and returns the claim.
        int Place(const std::string &name, registry_claim *claim, uint32_t vcpus = 0,
                  const std::string &image = "", std::string *msg = nullptr,
                  const std::map<std::string, std::string> &selector = {})
        {
                Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
                spec.name = (char *)name.c_str();
                spec.image = (char *)image.c_str();
                spec.vcpus = vcpus;
                std::vector<Ak__V1__SandboxSpec__NodeSelectorEntry> sel(selector.size());
                std::vector<Ak__V1__SandboxSpec__NodeSelectorEntry *> selp;
                size_t i = 0;
                for (auto &kv : selector) {
                        ak__v1__sandbox_spec__node_selector_entry__init(&sel[i]);
                        sel[i].key = (char *)kv.first.c_str();
                        sel[i].value = (char *)kv.second.c_str();
                        selp.push_back(&sel[i++]);
                }
                spec.n_node_selector = selp.size();
                spec.node_selector = selp.data();
                struct spec_needs needs;
                struct ak_error err;
                EXPECT_EQ(0, spec_check(&spec, &needs, &err)) << err.msg;
                int r = registry_place(reg, &spec, &needs, claim, &err);
                if (msg)
                        *msg = r < 0 ? err.msg : "";
                return r;
        }
        std::string PlaceOn(const std::string &name = "")
        {
                registry_claim c;
                EXPECT_EQ(0, Place(name, &c));
                registry_confirm(reg, &c, nullptr);
                return c.executor_id;
        }
        std::string Owner(const std::string &name, int *code = nullptr)
        {
                struct registry_route r;
                struct ak_error err;
                int rc = registry_route(reg, name.c_str(), now, &r, &err);
                if (code)
                        *code = rc;
                return rc == 0 ? std::string(r.executor_id) : std::string(err.msg);
        }
        placement_slot Slot(const std::string &id)
        {
                placement_slot s = {};
                EXPECT_TRUE(registry_slot_of(reg, id.c_str(), &s));
                return s;
        }
        std::vector<std::string> ListNames(const std::map<std::string, std::string> &sel = {},
                                           std::vector<int> *states = nullptr)
        {
                Ak__V1__ListSandboxesRequest req = AK__V1__LIST_SANDBOXES_REQUEST__INIT;
                std::vector<Ak__V1__ListSandboxesRequest__LabelSelectorEntry> e(sel.size());
                std::vector<Ak__V1__ListSandboxesRequest__LabelSelectorEntry *> ep;
                size_t i = 0;
                for (auto &kv : sel) {
                        ak__v1__list_sandboxes_request__label_selector_entry__init(&e[i]);
                        e[i].key = (char *)kv.first.c_str();
                        e[i].value = (char *)kv.second.c_str();
                        ep.push_back(&e[i++]);
                }
                req.n_label_selector = ep.size();
                req.label_selector = ep.data();
                Ak__V1__ListSandboxesResponse *resp = nullptr;
                EXPECT_EQ(0, registry_list_sandboxes(reg, &req, now, 1 << 20, &resp));
                std::vector<std::string> names;
                for (size_t j = 0; resp && j < resp->n_sandboxes; j++) {
                        names.push_back(resp->sandboxes[j]->spec->name);
                        if (states)
                                states->push_back(resp->sandboxes[j]->state);
                }
                if (resp)
                        protobuf_c_message_free_unpacked(&resp->base, nullptr);
                return names;
        }

        struct registry *reg = nullptr;
        int64_t now = 1000000;
};

Status Exec(const std::string &id)
{
        Status s;
        s.id = id;
        s.address = "127.0.0.1:" + std::to_string(1000 + id.back());
        return s;
}

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
        EXPECT_EQ(-EUSERS, registry_register(reg, Exec("e").Build(), now, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "limit"));
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

TEST_F(RegistryTest, BurstSpreadsOverEqualExecutors)
{
        Register(Exec("a"));
        Register(Exec("b"));
        std::map<std::string, int> count;
        for (int i = 0; i < 8; i++)
                count[PlaceOn()]++;
        EXPECT_EQ(4, count["a"]);
        EXPECT_EQ(4, count["b"]);
        // 8 vCPUs each, 1 per sandbox: 8 more fit, the 17th does not.
        for (int i = 0; i < 8; i++)
                PlaceOn();
        registry_claim c;
        std::string msg;
        EXPECT_EQ(-ENOSPC, Place("", &c, 0, "", &msg));
        EXPECT_NE(nullptr, strstr(msg.c_str(), "of 2 executors, 2 have fewer than 1 free vCPUs")) << msg;
}

TEST_F(RegistryTest, ReservationEndsWhenAHeartbeatListsTheSandbox)
{
        Status a = Exec("a");
        Register(a);
        registry_claim c;
        ASSERT_EQ(0, Place("s1", &c, 2));
        EXPECT_EQ(6u, Slot("a").free_vcpus);
        EXPECT_GT(Slot("a").load_ppm, 0u);
        registry_confirm(reg, &c, nullptr);
        EXPECT_EQ(6u, Slot("a").free_vcpus);
        // The executor now reports it and counts its allocation.
        a.sandboxes = {{"s1", {}}};
        a.alloc_vcpus = 2;
        a.alloc_memory_mb = 512;
        EXPECT_EQ(0, Heartbeat(a));
        EXPECT_EQ(6u, Slot("a").free_vcpus);  // not counted twice
        struct registry_stats st;
        registry_stats(reg, &st);
        EXPECT_EQ(0u, st.reserved_entries);
}

TEST_F(RegistryTest, ConfirmedButUnlistedSurvivesOneHeartbeatNotTwo)
{
        Status a = Exec("a");
        Register(a);
        registry_claim c;
        ASSERT_EQ(0, Place("s1", &c));
        registry_confirm(reg, &c, nullptr);
        EXPECT_EQ(0, Heartbeat(a));  // sent before the create returned
        EXPECT_EQ("a", Owner("s1"));
        EXPECT_EQ(7u, Slot("a").free_vcpus);
        EXPECT_EQ(0, Heartbeat(a));  // still absent: gone
        int code;
        Owner("s1", &code);
        EXPECT_EQ(-ENOENT, code);
        EXPECT_EQ(8u, Slot("a").free_vcpus);
}

TEST_F(RegistryTest, InFlightCreateSurvivesHeartbeats)
{
        Status a = Exec("a");
        Register(a);
        registry_claim c;
        ASSERT_EQ(0, Place("s1", &c));
        for (int i = 0; i < 3; i++)
                EXPECT_EQ(0, Heartbeat(a));
        EXPECT_EQ("a", Owner("s1"));
        EXPECT_EQ(7u, Slot("a").free_vcpus);
        registry_release(reg, &c);
        int code;
        Owner("s1", &code);
        EXPECT_EQ(-ENOENT, code);
        EXPECT_EQ(8u, Slot("a").free_vcpus);
        ASSERT_EQ(0, Place("s1", &c));  // the name is free again
}

TEST_F(RegistryTest, ReleaseOfAListedSandboxKeepsTheName)
{
        Status a = Exec("a");
        Register(a);
        registry_claim c;
        ASSERT_EQ(0, Place("s1", &c));
        a.sandboxes = {{"s1", {}}};
        EXPECT_EQ(0, Heartbeat(a));
        registry_release(reg, &c);
        EXPECT_EQ("a", Owner("s1"));
}

TEST_F(RegistryTest, NamesAreUniqueAcrossTheFleet)
{
        Status a = Exec("a");
        a.sandboxes = {{"direct", {}}};  // made on the executor, not through us
        Register(a);
        Register(Exec("b"));
        registry_claim c;
        std::string msg;
        ASSERT_EQ(0, Place("s1", &c));
        EXPECT_EQ(-EEXIST, Place("s1", &c, 0, "", &msg));
        EXPECT_NE(nullptr, strstr(msg.c_str(), "sandbox s1 already exists (on executor")) << msg;
        EXPECT_EQ(-EEXIST, Place("direct", &c, 0, "", &msg));
        EXPECT_NE(nullptr, strstr(msg.c_str(), "on executor a")) << msg;

        std::set<std::string> names;
        for (int i = 0; i < 10; i++) {
                ASSERT_EQ(0, Place("", &c));
                struct ak_error err;
                EXPECT_EQ(0, spec_check_name("name", c.name, &err)) << err.msg;
                EXPECT_EQ(0, strncmp(c.name, "sb-", 3));
                names.insert(c.name);
        }
        EXPECT_EQ(10u, names.size());
}

TEST_F(RegistryTest, FirstClaimantKeepsAContestedName)
{
        Status a = Exec("a"), b = Exec("b");
        a.sandboxes = {{"dup", {}}};
        b.sandboxes = {{"dup", {}}};
        Register(a);
        Register(b);
        EXPECT_EQ("a", Owner("dup"));
        a.sandboxes.clear();
        EXPECT_EQ(0, Heartbeat(a));
        int code;
        Owner("dup", &code);
        EXPECT_EQ(-ENOENT, code);
        EXPECT_EQ(0, Heartbeat(b));
        EXPECT_EQ("b", Owner("dup"));
}

TEST_F(RegistryTest, WarmPoolHitIsCountedUntilTheNextHeartbeat)
{
        Status a = Exec("a"), b = Exec("b");
        b.pools = {{"base", "moderate", 1}};
        Register(a);
        Register(b);
        registry_claim c;
        ASSERT_EQ(0, Place("", &c));
        EXPECT_STREQ("b", c.executor_id);
        EXPECT_EQ(PLACEMENT_POOL, c.tier);
        ASSERT_EQ(0, Place("", &c));  // b's only warm VM is taken
        EXPECT_STREQ("a", c.executor_id);
        EXPECT_EQ(PLACEMENT_ANY, c.tier);
        EXPECT_EQ(0, Heartbeat(b));   // refilled
        ASSERT_EQ(0, Place("", &c));
        EXPECT_EQ(PLACEMENT_POOL, c.tier);
}

TEST_F(RegistryTest, CachedImagePreferredAndRequiredForCustomImages)
{
        Status a = Exec("a"), b = Exec("b");
        b.images = {"base", "py"};
        b.alloc_vcpus = 4;
        Register(a);
        Register(b);
        registry_claim c;
        ASSERT_EQ(0, Place("", &c));
        EXPECT_STREQ("b", c.executor_id);  // base cached, though busier
        EXPECT_EQ(PLACEMENT_IMAGE, c.tier);
        for (int i = 0; i < 3; i++) {
                ASSERT_EQ(0, Place("", &c, 0, "py"));
                EXPECT_STREQ("b", c.executor_id);
        }
        std::string msg;
        EXPECT_EQ(-ENOSPC, Place("", &c, 0, "py", &msg));
        EXPECT_NE(nullptr, strstr(msg.c_str(), "1 lack the image, 1 have fewer than 1 free vCPUs")) << msg;
        EXPECT_EQ(-ENOSPC, Place("", &c, 0, "nowhere", &msg));
        EXPECT_NE(nullptr, strstr(msg.c_str(), "image \"nowhere\"): of 2 executors, 2 lack the image")) << msg;
}

TEST_F(RegistryTest, NodeSelector)
{
        Status a = Exec("a"), b = Exec("b");
        a.labels = {{"zone", "x"}};
        b.labels = {{"zone", "y"}, {"gpu", "1"}};
        Register(a);
        Register(b);
        registry_claim c;
        for (int i = 0; i < 3; i++) {
                ASSERT_EQ(0, Place("", &c, 0, "", nullptr, {{"zone", "y"}}));
                EXPECT_STREQ("b", c.executor_id);
        }
        std::string msg;
        EXPECT_EQ(-ENOSPC, Place("", &c, 0, "", &msg, {{"zone", "x"}, {"gpu", "1"}}));
        EXPECT_NE(nullptr, strstr(msg.c_str(), "node_selector gpu=1,zone=x): of 2 executors, 2 lack the "
                                               "node_selector labels"))
                << msg;
        // Labels change with the next status.
        a.labels = {{"zone", "x"}, {"gpu", "1"}};
        EXPECT_EQ(0, Heartbeat(a));
        ASSERT_EQ(0, Place("", &c, 0, "", nullptr, {{"zone", "x"}, {"gpu", "1"}}));
        EXPECT_STREQ("a", c.executor_id);
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

TEST_F(RegistryTest, ListSandboxesFiltersByLabelsAndSortsByName)
{
        Status a = Exec("a");
        a.sandboxes = {{"zeta", {{"team", "x"}}}, {"alpha", {{"team", "y"}}}};
        Register(a);
        Register(Exec("b"));
        registry_claim c;
        ASSERT_EQ(0, Place("middle", &c));  // in flight: not listed yet
        EXPECT_EQ((std::vector<std::string>{"alpha", "zeta"}), ListNames());
        Ak__V1__Sandbox sb = AK__V1__SANDBOX__INIT;
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        spec.name = (char *)"middle";
        sb.spec = &spec;
        registry_confirm(reg, &c, &sb);
        EXPECT_EQ((std::vector<std::string>{"alpha", "middle", "zeta"}), ListNames());
        EXPECT_EQ((std::vector<std::string>{"zeta"}), ListNames({{"team", "x"}}));
        EXPECT_EQ((std::vector<std::string>{}), ListNames({{"team", "x"}, {"other", "1"}}));
}

TEST_F(RegistryTest, SeenAndGone)
{
        Status a = Exec("a");
        a.sandboxes = {{"s1", {}}};
        Register(a);
        Ak__V1__Sandbox sb = AK__V1__SANDBOX__INIT;
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        spec.name = (char *)"s1";
        sb.spec = &spec;
        sb.state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_STOPPED;
        registry_sandbox_seen(reg, "a", &sb);
        registry_sandbox_seen(reg, "b", &sb);  // not the owner: ignored
        std::vector<int> states;
        ListNames({}, &states);
        EXPECT_EQ(AK__V1__SANDBOX_STATE__SANDBOX_STATE_STOPPED, states.at(0));
        registry_sandbox_gone(reg, "b", "s1");
        EXPECT_EQ("a", Owner("s1"));
        registry_sandbox_gone(reg, "a", "s1");
        int code;
        Owner("s1", &code);
        EXPECT_EQ(-ENOENT, code);
}

TEST_F(RegistryTest, RebuildingWindow)
{
        EXPECT_TRUE(registry_rebuilding(reg, now + 2999));
        EXPECT_FALSE(registry_rebuilding(reg, now + 3000));
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
                ASSERT_EQ(0, registry_register(reg, s.Build(), 0, &err)) << err.msg;
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
        ASSERT_EQ(0, registry_place(reg, &spec, &needs, &c, &err)) << err.msg;
        EXPECT_STREQ("e250", c.executor_id);  // the idle one in rack 5
        registry_free(reg);
}

}  // namespace
