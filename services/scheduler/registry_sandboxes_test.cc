// The registry's sandboxes: placement through it, reservations between
// heartbeats, fleet-wide names, routing and listing.
#include "services/scheduler/testing/registry_fixture.h"

#include <set>

namespace {

using akt::Exec;
using akt::RegistryTest;
using akt::Status;

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

// Back to back one-shot runs on a full executor: the run that ended frees its
// share of the reported allocation at once, not at the next heartbeat.
TEST_F(RegistryTest, AnEndedRunFreesItsShareBeforeTheNextHeartbeat)
{
        Status a = Exec("a");
        Register(a);
        registry_claim c;
        ASSERT_EQ(0, Place("r1", &c, 8));
        a.sandboxes = {{"r1", {}}};
        a.alloc_vcpus = 8;
        a.alloc_memory_mb = 512;
        EXPECT_EQ(0, Heartbeat(a));  // sent while r1 ran
        EXPECT_EQ(0u, Slot("a").free_vcpus);
        registry_release(reg, &c);  // the run ended
        EXPECT_EQ(8u, Slot("a").free_vcpus);
        registry_release(reg, &c);  // once per status
        EXPECT_EQ(8u, Slot("a").free_vcpus);
        registry_claim c2;
        ASSERT_EQ(0, Place("r2", &c2, 8));
        registry_confirm(reg, &c2, nullptr);  // a persistent one
        // A status from before the end still counts r1: it stands until the next.
        a.sandboxes = {{"r1", {}}};
        EXPECT_EQ(0, Heartbeat(a));
        EXPECT_EQ(0u, Slot("a").free_vcpus);
        a.sandboxes = {{"r2", {}}};
        EXPECT_EQ(0, Heartbeat(a));
        EXPECT_EQ(0u, Slot("a").free_vcpus);
        // RemoveSandbox of a persistent one frees its share the same way.
        registry_sandbox_gone(reg, "a", "r2");
        EXPECT_EQ(8u, Slot("a").free_vcpus);
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
        // No executor has it: not a shortage of room, and the words say how
        // to make it.
        EXPECT_EQ(-ENOENT, Place("", &c, 0, "nowhere", &msg));
        EXPECT_NE(nullptr, strstr(msg.c_str(), "no executor has image \"nowhere\": build it on an executor's node "
                                               "with `ak image build nowhere`")) << msg;
}

// What an executor reports is what placement goes by: an image built on a
// node after it registered is placed there from its next heartbeat on, and
// a removed one no longer is.
TEST_F(RegistryTest, ImagesFollowHeartbeats)
{
        Status a = Exec("a"), b = Exec("b");
        Register(a);
        Register(b);
        registry_claim c;
        std::string msg;
        EXPECT_EQ(-ENOENT, Place("", &c, 0, "py", &msg)) << msg;
        b.images = {"base", "py"};
        EXPECT_EQ(0, Heartbeat(b));
        for (int i = 0; i < 3; i++) {
                ASSERT_EQ(0, Place("", &c, 0, "py"));
                EXPECT_STREQ("b", c.executor_id);
                EXPECT_EQ(PLACEMENT_IMAGE, c.tier);
        }
        b.images = {"base"};
        EXPECT_EQ(0, Heartbeat(b));
        EXPECT_EQ(-ENOENT, Place("", &c, 0, "py", &msg)) << msg;
}

// An OCI reference is pulled by an executor that lacks it: placed anywhere,
// preferring an executor that reports it.
TEST_F(RegistryTest, OciReferencesPreferButDoNotRequireTheImage)
{
        Status a = Exec("a"), b = Exec("b");
        b.alloc_vcpus = 4;
        Register(a);
        Register(b);
        registry_claim c;
        ASSERT_EQ(0, Place("", &c, 0, "python:3.12-alpine"));
        EXPECT_STREQ("a", c.executor_id);  // the least loaded
        EXPECT_EQ(PLACEMENT_ANY, c.tier);
        b.images = {"base", "ghcr.io/org/ci@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"};
        EXPECT_EQ(0, Heartbeat(b));
        ASSERT_EQ(0, Place("", &c, 0, "ghcr.io/org/ci@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
        EXPECT_STREQ("b", c.executor_id);  // has it, though busier
        EXPECT_EQ(PLACEMENT_IMAGE, c.tier);
        EXPECT_TRUE(spec_image_is_local("py"));
        EXPECT_FALSE(spec_image_is_local("python:3.12"));
        EXPECT_FALSE(spec_image_is_local("docker.io/library/python"));
}

// Executors report references normalized (docker.io/library/python:3.12);
// a client may spell one any way docker accepts: placement matches them,
// and a reference docker would refuse is refused before placement.
TEST_F(RegistryTest, OciReferencesAreMatchedNormalized)
{
        Status a = Exec("a"), b = Exec("b");
        b.images = {"base", "docker.io/library/python:3.12", "127.0.0.1:5000/test/busy:1",
                    "docker.io/library/alpine:latest"};
        Register(a);
        Register(b);
        registry_claim c;
        for (const char *ref : {"python:3.12", "docker.io/python:3.12", "index.docker.io/library/python:3.12",
                                "127.0.0.1:5000/test/busy:1", "alpine", "alpine:latest"}) {
                if (spec_image_is_local(ref))
                        continue;  // "alpine": a local name, which b does not have
                ASSERT_EQ(0, Place("", &c, 0, ref)) << ref;
                EXPECT_STREQ("b", c.executor_id) << ref;
                EXPECT_EQ(PLACEMENT_IMAGE, c.tier) << ref;
        }
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        struct spec_needs needs;
        struct ak_error err;
        spec.image = (char *)"Python:3.12";
        EXPECT_EQ(-EINVAL, spec_check(&spec, &needs, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "spec.image")) << err.msg;
        EXPECT_NE(nullptr, strstr(err.msg, "lowercase")) << err.msg;
        spec.image = (char *)"ghcr.io/org/ci@sha256:0123";
        EXPECT_EQ(-EINVAL, spec_check(&spec, &needs, &err));
        std::string longest = "r.io/" + std::string(240, 'a') + ":" + std::string(128, 't') + "@sha256:" +
                              std::string(64, 'f');
        spec.image = (char *)longest.c_str();
        ASSERT_EQ(0, spec_check(&spec, &needs, &err)) << err.msg;
        EXPECT_STREQ(longest.c_str(), needs.image);
        // An executor that has it reports it (its heartbeat is not refused
        // for a name longer than a label) and is where it is placed.
        b.images = {"base", longest};
        ASSERT_EQ(0, Heartbeat(b));
        ASSERT_EQ(0, Place("", &c, 0, longest));
        EXPECT_STREQ("b", c.executor_id);
        EXPECT_EQ(PLACEMENT_IMAGE, c.tier);
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

// A create in flight is not listed, unless its executor says it is pulling
// the create's image: then it is CREATING with that pull (ak sandbox list
// while a create waits on a pull).
TEST_F(RegistryTest, ListShowsACreateWaitingOnAPull)
{
        Status a = Exec("a");
        Register(a);
        registry_claim c, d, f;
        ASSERT_EQ(0, Place("waits", &c, 0, "127.0.0.1:5000/test/big:1"));
        ASSERT_EQ(0, Place("other", &d, 0, "127.0.0.1:5000/test/small:1"));
        ASSERT_EQ(0, Place("local", &f));
        EXPECT_EQ((std::vector<std::string>{}), ListNames());
        a.pulls = {{"127.0.0.1:5000/test/big:1", "pulling"}, {"127.0.0.1:5000/test/small:1", "failed"}};
        ASSERT_EQ(0, Heartbeat(a));
        std::vector<int> states;
        EXPECT_EQ((std::vector<std::string>{"waits"}), ListNames({}, &states));
        EXPECT_EQ((std::vector<int>{AK__V1__SANDBOX_STATE__SANDBOX_STATE_CREATING}), states);
        Ak__V1__ListSandboxesRequest req = AK__V1__LIST_SANDBOXES_REQUEST__INIT;
        Ak__V1__ListSandboxesResponse *resp = nullptr;
        ASSERT_EQ(0, registry_list_sandboxes(reg, &req, nullptr, now, 1 << 20, &resp));
        ASSERT_EQ(1u, resp->n_sandboxes);
        const Ak__V1__Sandbox *sb = resp->sandboxes[0];
        ASSERT_NE(nullptr, sb->image_pull);
        EXPECT_STREQ("pulling", sb->image_pull->state);
        EXPECT_EQ(5u, sb->image_pull->bytes_done);
        EXPECT_EQ(10u, sb->image_pull->bytes_total);
        EXPECT_STREQ("127.0.0.1:5000/test/big:1", sb->spec->image);
        EXPECT_STREQ("a", sb->executor_id);
        protobuf_c_message_free_unpacked(&resp->base, nullptr);
        // Another tenant does not see it; a label selector lists only sandboxes.
        struct registry_scope other = { "someone-else", false };
        ASSERT_EQ(0, registry_list_sandboxes(reg, &req, &other, now, 1 << 20, &resp));
        EXPECT_EQ(0u, resp->n_sandboxes);
        protobuf_c_message_free_unpacked(&resp->base, nullptr);
        EXPECT_EQ((std::vector<std::string>{}), ListNames({{"team", "x"}}));
        // The create returned: the executor's Sandbox from then on.
        Ak__V1__Sandbox done = AK__V1__SANDBOX__INIT;
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        spec.name = (char *)"waits";
        done.spec = &spec;
        done.state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING;
        registry_confirm(reg, &c, &done);
        states.clear();
        EXPECT_EQ((std::vector<std::string>{"waits"}), ListNames({}, &states));
        EXPECT_EQ((std::vector<int>{AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING}), states);
        registry_release(reg, &d);
        registry_release(reg, &f);
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

TEST_F(RegistryTest, RestartedExecutorOrphansWhatItNoLongerLists)
{
        Status a = Exec("a");
        a.sandboxes = {{"s1", {}}, {"s2", {}}};
        Register(a);
        registry_claim c;
        ASSERT_EQ(0, Place("s3", &c));
        registry_confirm(reg, &c, nullptr);  // created, not listed yet
        ASSERT_EQ(0, Place("s4", &c));       // still being created
        now += 500;
        a.sandboxes = {{"s2", {}}};          // a new process kept only s2
        Register(a);

        int code;
        std::string why = Owner("s1", &code);
        EXPECT_EQ(-EHOSTDOWN, code);
        EXPECT_NE(nullptr, strstr(why.c_str(), "sandbox s1 was lost with executor a: the executor restarted 0 ms "
                                               "ago and no longer has it"))
                << why;
        EXPECT_NE(nullptr, strstr(why.c_str(), "`ak sandbox remove s1`")) << why;
        // s3 was created but not listed yet: lost only if the next status
        // (the grace a create gets) still lacks it.
        EXPECT_EQ("a", Owner("s3"));
        now += 100;
        EXPECT_EQ(0, Heartbeat(a));
        Owner("s3", &code);
        EXPECT_EQ(-EHOSTDOWN, code);
        EXPECT_EQ("a", Owner("s2"));
        EXPECT_EQ("a", Owner("s4"));  // its create is still in flight
        Owner("never", &code);
        EXPECT_EQ(-ENOENT, code);
        std::vector<int> states;
        EXPECT_EQ((std::vector<std::string>{"s1", "s2"}), ListNames({}, &states));  // s3, s4: no Sandbox yet
        EXPECT_EQ(AK__V1__SANDBOX_STATE__SANDBOX_STATE_ERROR, states[0]);
        EXPECT_NE(AK__V1__SANDBOX_STATE__SANDBOX_STATE_ERROR, states[1]);

        // Heartbeats keep orphans; a status listing the name again adopts it.
        now += 500;
        EXPECT_EQ(0, Heartbeat(a));
        Owner("s1", &code);
        EXPECT_EQ(-EHOSTDOWN, code);
        a.sandboxes = {{"s2", {}}, {"s3", {}}};
        EXPECT_EQ(0, Heartbeat(a));
        EXPECT_EQ("a", Owner("s3"));

        // Remove forgets an orphan only; a create may reuse its name.
        EXPECT_EQ(-ENOENT, registry_forget_orphan(reg, "s2", nullptr));
        EXPECT_EQ(0, registry_forget_orphan(reg, "s1", nullptr));
        Owner("s1", &code);
        EXPECT_EQ(-ENOENT, code);
        a.sandboxes = {};
        Register(a);
        Owner("s2", &code);
        EXPECT_EQ(-EHOSTDOWN, code);
        ASSERT_EQ(0, Place("s2", &c));
        EXPECT_STREQ("a", c.executor_id);

        // The reaper drops orphans forget_after_ms (10 s here) after.
        Owner("s3", &code);
        EXPECT_EQ(-EHOSTDOWN, code);
        now += 10001;
        EXPECT_EQ(0, Heartbeat(a));
        registry_reap(reg, now, nullptr, nullptr);
        Owner("s3", &code);
        EXPECT_EQ(-ENOENT, code);
        struct registry_stats st;
        registry_stats(reg, &st);
        EXPECT_EQ(2u, st.sandboxes);  // s2 (placing) and s4 (placing)
}

}  // namespace
