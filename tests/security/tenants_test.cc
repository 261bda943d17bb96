// Identities and tenants through the real ak-scheduler (a child process on
// a Unix socket) and fake executors that register and heartbeat through the
// real client. Each test failed before executors and tenants had
// credentials of their own: any token registered, heartbeated, saw, exec'd
// into, read and removed everything.
#include <sys/stat.h>
#include <sys/wait.h>

#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "services/scheduler/testing/fake_executor.h"
#include "services/scheduler/testing/scheduler_fixture.h"
#include "services/scheduler/testing/scheduler_process.h"

extern "C" {
#include "protos/ak/v1/scheduler.pb-c.h"
}

namespace {

using akt::Client;
using akt::FakeExecutor;
using akt::SchedulerProcess;
using akt::WaitFor;

const std::string kAlice = "alice-token-0123456789abcdef";
const std::string kBob = "bob-token-0123456789abcdef01";
const std::string kOps = "ops-admin-token-0123456789ab";
const std::string kNode1 = "node1-exec-token-0123456789";
const std::string kNode2 = "node2-exec-token-0123456789";

void WritePrivate(const std::string &path, const std::string &text)
{
        std::ofstream(path) << text;
        chmod(path.c_str(), 0600);
}

class Tenants : public ::testing::Test {
      protected:
        void SetUp() override
        {
                WritePrivate(sched.Path("tokens"), "# clients\ntenant=alice " + kAlice + "\ntenant=bob " + kBob +
                                                           "\ntenant=ops admin " + kOps + "\n");
                WritePrivate(sched.Path("executors"),
                             "executor=node1 " + kNode1 + "\nexecutor=node2 " + kNode2 + "\n");
                ASSERT_TRUE(sched.Start({"--token-file", sched.Path("tokens"), "--registration-token-file",
                                         sched.Path("executors"), "--heartbeat-interval-ms", "100",
                                         "--tenant-quota", "bob:sandboxes=2,vcpus=3",
                                         "--tenant-quota", "*:memory-mb=4096"}));
                alice = std::make_unique<Client>(sched.address(), kAlice);
                bob = std::make_unique<Client>(sched.address(), kBob);
                ops = std::make_unique<Client>(sched.address(), kOps);
        }
        void TearDown() override
        {
                alice.reset();
                bob.reset();
                ops.reset();
                executors.clear();
                int st = sched.Stop();
                EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st << "\n" << sched.Log();
        }
        FakeExecutor *AddExecutor(const std::string &id, const std::string &token, int *code = nullptr)
        {
                FakeExecutor::Options o;
                o.id = id;
                o.token = token;
                executors.push_back(std::make_unique<FakeExecutor>(o));
                int r = executors.back()->Start(sched.address());
                if (code)
                        *code = r;
                else
                        EXPECT_EQ(RPC_OK, r);
                return executors.back().get();
        }
        int Create(Client *c, const std::string &name, std::string *err = nullptr, uint32_t vcpus = 0,
                   uint32_t memory_mb = 0, const char *tenant = nullptr, std::string *got_tenant = nullptr)
        {
                Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
                spec.name = (char *)name.c_str();
                spec.vcpus = vcpus;
                spec.memory_mb = memory_mb;
                if (tenant)
                        spec.tenant = (char *)tenant;
                Ak__V1__CreateSandboxRequest req = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
                req.spec = &spec;
                ProtobufCMessage *resp = nullptr;
                int r = c->Call("CreateSandbox", &req.base, &resp, err);
                if (r == RPC_OK) {
                        if (got_tenant)
                                *got_tenant = ((Ak__V1__Sandbox *)resp)->spec->tenant;
                        protobuf_c_message_free_unpacked(resp, nullptr);
                }
                return r;
        }
        std::set<std::string> List(Client *c)
        {
                Ak__V1__ListSandboxesRequest req = AK__V1__LIST_SANDBOXES_REQUEST__INIT;
                ProtobufCMessage *resp = nullptr;
                std::set<std::string> names;
                EXPECT_EQ(RPC_OK, c->Call("ListSandboxes", &req.base, &resp));
                auto *l = (Ak__V1__ListSandboxesResponse *)resp;
                for (size_t i = 0; l && i < l->n_sandboxes; i++)
                        names.insert(l->sandboxes[i]->spec->name);
                if (resp)
                        protobuf_c_message_free_unpacked(resp, nullptr);
                return names;
        }
        // Every sandbox name any executor status shows to c.
        std::set<std::string> InStatuses(Client *c)
        {
                Ak__V1__ListExecutorsRequest req = AK__V1__LIST_EXECUTORS_REQUEST__INIT;
                ProtobufCMessage *resp = nullptr;
                std::set<std::string> names;
                EXPECT_EQ(RPC_OK, c->Call("ListExecutors", &req.base, &resp));
                auto *l = (Ak__V1__ListExecutorsResponse *)resp;
                for (size_t i = 0; l && i < l->n_executors; i++)
                        for (size_t j = 0; l->executors[i]->status && j < l->executors[i]->status->n_sandboxes; j++)
                                names.insert(l->executors[i]->status->sandboxes[j]->spec->name);
                if (resp)
                        protobuf_c_message_free_unpacked(resp, nullptr);
                return names;
        }
        int Exec(Client *c, const std::string &sandbox, std::string *err)
        {
                char a0[] = "echo", a1[] = "hi";
                char *argv[] = {a0, a1};
                Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
                req.sandbox = (char *)sandbox.c_str();
                req.n_argv = 2;
                req.argv = argv;
                struct rpc_stream *st = nullptr;
                int r = c->Open("Exec", &req.base, &st);
                if (r != RPC_OK)
                        return r;
                ProtobufCMessage *m;
                struct ak_error e = {};
                int n;
                while ((n = rpc_stream_next(st, &m, &e)) == 1)
                        protobuf_c_message_free_unpacked(m, nullptr);
                rpc_stream_free(st);
                *err = e.msg;
                return n == 0 ? RPC_OK : -n;
        }
        int ReadFile(Client *c, const std::string &sandbox, std::string *err)
        {
                Ak__V1__ReadFileRequest req = AK__V1__READ_FILE_REQUEST__INIT;
                req.sandbox = (char *)sandbox.c_str();
                req.path = (char *)"/etc/secret";
                ProtobufCMessage *resp = nullptr;
                int r = c->Call("ReadFile", &req.base, &resp, err);
                if (resp)
                        protobuf_c_message_free_unpacked(resp, nullptr);
                return r;
        }
        int Extend(Client *c, const std::string &name, std::string *err)
        {
                Ak__V1__ExtendSandboxRequest req = AK__V1__EXTEND_SANDBOX_REQUEST__INIT;
                req.name = (char *)name.c_str();
                req.by_seconds = 60;
                ProtobufCMessage *resp = nullptr;
                int r = c->Call("ExtendSandbox", &req.base, &resp, err);
                if (resp)
                        protobuf_c_message_free_unpacked(resp, nullptr);
                return r;
        }
        int Remove(Client *c, const std::string &name, std::string *err)
        {
                Ak__V1__RemoveSandboxRequest req = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
                req.name = (char *)name.c_str();
                return c->Call("RemoveSandbox", &req.base, nullptr, err);
        }
        int Register(const std::string &token, const std::string &id, const std::string &address, bool heartbeat,
                     std::string *err)
        {
                Client c(sched.address(), token);
                Ak__V1__ExecutorStatus st = AK__V1__EXECUTOR_STATUS__INIT;
                st.executor_id = (char *)id.c_str();
                st.address = (char *)address.c_str();
                if (heartbeat) {
                        Ak__V1__HeartbeatRequest req = AK__V1__HEARTBEAT_REQUEST__INIT;
                        req.status = &st;
                        return c.Call("Heartbeat", &req.base, nullptr, err);
                }
                Ak__V1__RegisterExecutorRequest req = AK__V1__REGISTER_EXECUTOR_REQUEST__INIT;
                req.status = &st;
                return c.Call("RegisterExecutor", &req.base, nullptr, err);
        }

        SchedulerProcess sched;
        std::unique_ptr<Client> alice, bob, ops;
        std::vector<std::unique_ptr<FakeExecutor>> executors;
};

// A client's token (an admin's too) cannot register or heartbeat as an
// executor, so it cannot point an executor_id, and every call for that
// executor's sandboxes, at an address of its own.
TEST_F(Tenants, ClientTokensCannotRegisterOrHeartbeat)
{
        FakeExecutor *e = AddExecutor("node1", kNode1);
        ASSERT_EQ(RPC_OK, Create(alice.get(), "a1"));
        std::string err;
        for (const std::string &t : {kAlice, kOps}) {
                EXPECT_EQ(RPC_PERMISSION_DENIED, Register(t, "node1", "127.0.0.1:1", false, &err));
                EXPECT_NE(std::string::npos, err.find("not an executor's")) << err;
                EXPECT_EQ(RPC_PERMISSION_DENIED, Register(t, "node1", "127.0.0.1:1", true, &err));
                EXPECT_EQ(RPC_PERMISSION_DENIED, Register(t, "fresh-id", "127.0.0.1:1", false, &err));
        }
        ASSERT_EQ(RPC_OK, Exec(alice.get(), "a1", &err)) << err;
        EXPECT_TRUE(e->Saw("Exec a1"));
}

// An executor identity cannot take over another's executor_id; the owner
// can register again (a restart) and keeps it.
TEST_F(Tenants, ExecutorIdentityCannotTakeOverAnothersId)
{
        FakeExecutor *e = AddExecutor("node1", kNode1);
        ASSERT_EQ(RPC_OK, Create(alice.get(), "a1"));
        std::string err;
        EXPECT_EQ(RPC_PERMISSION_DENIED, Register(kNode2, "node1", "127.0.0.1:1", false, &err));
        EXPECT_NE(std::string::npos, err.find("bound to another identity")) << err;
        EXPECT_EQ(RPC_PERMISSION_DENIED, Register(kNode2, "node1", "127.0.0.1:1", true, &err));
        EXPECT_NE(std::string::npos, sched.Log().find("executor registration refused executor=node1")) << sched.Log();
        ASSERT_EQ(RPC_OK, Exec(alice.get(), "a1", &err)) << err;
        EXPECT_TRUE(e->Saw("Exec a1"));
        // The owner, restarted under the same identity: welcome back.
        EXPECT_EQ(RPC_OK, Register(kNode1, "node1", e->address(), false, &err)) << err;
        // Its own id: fine for node2.
        int code;
        AddExecutor("node2", kNode2, &code);
        EXPECT_EQ(RPC_OK, code);
}

// Tenant A cannot see, exec into, read files of, or remove B's sandbox;
// every refusal is NOT_FOUND in the words of a sandbox that does not exist.
TEST_F(Tenants, OneTenantCannotSeeOrTouchAnothersSandbox)
{
        FakeExecutor *e = AddExecutor("node1", kNode1);
        std::string tenant, err;
        ASSERT_EQ(RPC_OK, Create(bob.get(), "bobs", nullptr, 0, 0, "alice", &tenant));
        ASSERT_EQ(RPC_OK, Create(alice.get(), "alices"));
        // Heartbeats have listed both.
        ASSERT_TRUE(WaitFor([&] { return e->heartbeats >= 3; }));

        EXPECT_EQ(std::set<std::string>{"alices"}, List(alice.get()));
        EXPECT_EQ(std::set<std::string>{"bobs"}, List(bob.get()));
        EXPECT_EQ(0u, InStatuses(alice.get()).count("bobs"));
        EXPECT_EQ(RPC_NOT_FOUND, ReadFile(alice.get(), "bobs", &err));
        EXPECT_NE(std::string::npos, err.find("NOT_FOUND: no sandbox named bobs in the fleet")) << err;
        EXPECT_EQ(RPC_NOT_FOUND, Exec(alice.get(), "bobs", &err)) << err;
        Ak__V1__GetSandboxRequest get = AK__V1__GET_SANDBOX_REQUEST__INIT;
        get.name = (char *)"bobs";
        EXPECT_EQ(RPC_NOT_FOUND, alice->Call("GetSandbox", &get.base));
        EXPECT_EQ(RPC_NOT_FOUND, Remove(alice.get(), "bobs", &err));
        {  // Detached commands: every call is scoped as the others.
                char a0[] = "true";
                char *argv[] = {a0};
                Ak__V1__ExecDetachedRequest x = AK__V1__EXEC_DETACHED_REQUEST__INIT;
                x.sandbox = (char *)"bobs";
                x.argv = argv;
                x.n_argv = 1;
                Ak__V1__DetachedRef ref = AK__V1__DETACHED_REF__INIT;
                ref.sandbox = (char *)"bobs";
                ref.id = (char *)"0123";
                Ak__V1__ListDetachedRequest l = AK__V1__LIST_DETACHED_REQUEST__INIT;
                l.sandbox = (char *)"bobs";
                Ak__V1__DetachedLogsRequest lg = AK__V1__DETACHED_LOGS_REQUEST__INIT;
                lg.sandbox = (char *)"bobs";
                lg.id = (char *)"0123";
                EXPECT_EQ(RPC_NOT_FOUND, alice->Call("ExecDetached", &x.base));
                EXPECT_EQ(RPC_NOT_FOUND, alice->Call("GetDetached", &ref.base));
                EXPECT_EQ(RPC_NOT_FOUND, alice->Call("KillDetached", &ref.base));
                EXPECT_EQ(RPC_NOT_FOUND, alice->Call("ListDetached", &l.base));
                EXPECT_EQ(RPC_NOT_FOUND, alice->Call("DetachedLogs", &lg.base, nullptr, &err));
                EXPECT_NE(std::string::npos, err.find("no sandbox named bobs")) << err;
                for (const char *m : {"ExecDetached", "GetDetached", "KillDetached", "ListDetached", "DetachedLogs"})
                        EXPECT_FALSE(e->Saw(std::string(m) + " bobs")) << m;
                // Bob's reach the executor (this fake has no detached calls:
                // its answer is UNIMPLEMENTED, not the scheduler's NOT_FOUND).
                EXPECT_EQ(RPC_UNIMPLEMENTED, bob->Call("GetDetached", &ref.base));
                EXPECT_EQ(RPC_UNIMPLEMENTED, bob->Call("ListDetached", &l.base));
        }
        EXPECT_FALSE(e->Saw("Exec bobs"));
        EXPECT_FALSE(e->Saw("ReadFile bobs"));
        EXPECT_FALSE(e->Saw("RemoveSandbox bobs"));
        // A taken name does not say where.
        EXPECT_EQ(RPC_ALREADY_EXISTS, Create(alice.get(), "bobs", &err));
        EXPECT_EQ(std::string::npos, err.find("node1")) << err;

        // Bob's own calls work, and the sandbox is his whatever he asked.
        EXPECT_EQ("bob", tenant);
        EXPECT_EQ(RPC_OK, ReadFile(bob.get(), "bobs", &err)) << err;
        EXPECT_EQ(RPC_OK, Exec(bob.get(), "bobs", &err)) << err;
        EXPECT_EQ(RPC_OK, Remove(bob.get(), "bobs", &err)) << err;
}

// An admin sees every tenant's sandboxes and acts on them, and may create
// one for a tenant.
TEST_F(Tenants, AdminSeesAll)
{
        AddExecutor("node1", kNode1);
        std::string tenant, err;
        ASSERT_EQ(RPC_OK, Create(alice.get(), "a1"));
        ASSERT_EQ(RPC_OK, Create(bob.get(), "b1"));
        ASSERT_EQ(RPC_OK, Create(ops.get(), "for-bob", nullptr, 0, 0, "bob", &tenant));
        EXPECT_EQ("bob", tenant);
        EXPECT_EQ((std::set<std::string>{"a1", "b1", "for-bob"}), List(ops.get()));
        EXPECT_EQ((std::set<std::string>{"b1", "for-bob"}), List(bob.get()));
        EXPECT_EQ(RPC_OK, ReadFile(ops.get(), "a1", &err)) << err;
        EXPECT_EQ(RPC_OK, Exec(ops.get(), "b1", &err)) << err;
        EXPECT_EQ(RPC_OK, Remove(ops.get(), "a1", &err)) << err;
        EXPECT_EQ(std::set<std::string>{}, List(alice.get()));
}

// An admin naming a tenant in x-ak-tenant (how ak-gateway serves its API
// keys' tenants) acts for that tenant alone: another tenant's sandbox is
// NOT_FOUND for every call, as for that tenant's own token. A non-admin may
// name only its own tenant.
TEST_F(Tenants, AdminActingForATenantIsScopedToIt)
{
        FakeExecutor *e = AddExecutor("node1", kNode1);
        std::string tenant, err;
        ASSERT_EQ(RPC_OK, Create(alice.get(), "a1"));
        ASSERT_EQ(RPC_OK, Create(bob.get(), "b1"));
        ASSERT_TRUE(WaitFor([&] { return e->heartbeats >= 3; }));
        Client as_bob(sched.address(), kOps);
        as_bob.set_tenant("bob");

        EXPECT_EQ(std::set<std::string>{"b1"}, List(&as_bob));
        EXPECT_EQ(0u, InStatuses(&as_bob).count("a1"));
        EXPECT_EQ(RPC_NOT_FOUND, Exec(&as_bob, "a1", &err)) << err;
        EXPECT_NE(std::string::npos, err.find("no sandbox named a1")) << err;
        EXPECT_EQ(RPC_NOT_FOUND, ReadFile(&as_bob, "a1", &err)) << err;
        EXPECT_EQ(RPC_NOT_FOUND, Extend(&as_bob, "a1", &err)) << err;
        EXPECT_EQ(RPC_NOT_FOUND, Remove(&as_bob, "a1", &err)) << err;
        Ak__V1__GetSandboxRequest get = AK__V1__GET_SANDBOX_REQUEST__INIT;
        get.name = (char *)"a1";
        EXPECT_EQ(RPC_NOT_FOUND, as_bob.Call("GetSandbox", &get.base));
        EXPECT_FALSE(e->Saw("Exec a1"));
        EXPECT_FALSE(e->Saw("ReadFile a1"));
        EXPECT_FALSE(e->Saw("RemoveSandbox a1"));
        // Bob's own sandbox works; a create is bob's whatever the spec says.
        EXPECT_EQ(RPC_OK, Exec(&as_bob, "b1", &err)) << err;
        EXPECT_EQ(RPC_OK, ReadFile(&as_bob, "b1", &err)) << err;
        ASSERT_EQ(RPC_OK, Create(&as_bob, "b2", &err, 0, 0, "alice", &tenant)) << err;
        EXPECT_EQ("bob", tenant);
        EXPECT_EQ(RPC_OK, Remove(&as_bob, "b1", &err)) << err;

        // A tenant's own token may name itself, never another tenant.
        Client alice_as_bob(sched.address(), kAlice);
        alice_as_bob.set_tenant("bob");
        EXPECT_EQ(RPC_PERMISSION_DENIED, ReadFile(&alice_as_bob, "b2", &err));
        EXPECT_NE(std::string::npos, err.find("only an admin may act for another tenant")) << err;
        Client alice_as_alice(sched.address(), kAlice);
        alice_as_alice.set_tenant("alice");
        EXPECT_EQ(RPC_OK, ReadFile(&alice_as_alice, "a1", &err)) << err;
        Client bad(sched.address(), kOps);
        bad.set_tenant("../x");
        EXPECT_EQ(RPC_INVALID_ARGUMENT, ReadFile(&bad, "a1", &err));
        EXPECT_NE(std::string::npos, err.find("not a tenant name")) << err;
        // The admin without x-ak-tenant still sees all.
        EXPECT_EQ((std::set<std::string>{"a1", "b2"}), List(ops.get()));
}

// Quotas refuse with RESOURCE_EXHAUSTED naming the quota; other tenants
// are not held back by one tenant's usage.
TEST_F(Tenants, QuotasRefuseNamingTheQuota)
{
        AddExecutor("node1", kNode1);
        std::string err;
        ASSERT_EQ(RPC_OK, Create(bob.get(), "b1", &err, 2)) << err;
        EXPECT_EQ(RPC_RESOURCE_EXHAUSTED, Create(bob.get(), "b2", &err, 2));
        EXPECT_NE(std::string::npos, err.find("tenant bob: quota vcpus=3")) << err;
        ASSERT_EQ(RPC_OK, Create(bob.get(), "b2", &err, 1)) << err;
        EXPECT_EQ(RPC_RESOURCE_EXHAUSTED, Create(bob.get(), "b3", &err));
        EXPECT_NE(std::string::npos, err.find("tenant bob: quota sandboxes=2 reached")) << err;
        // "*" holds for alice: memory.
        EXPECT_EQ(RPC_RESOURCE_EXHAUSTED, Create(alice.get(), "a1", &err, 1, 8192));
        EXPECT_NE(std::string::npos, err.find("tenant alice: quota memory-mb=4096")) << err;
        EXPECT_EQ(RPC_OK, Create(alice.get(), "a1", &err, 4, 1024)) << err;
        // Removing frees the quota.
        ASSERT_EQ(RPC_OK, Remove(bob.get(), "b1", &err)) << err;
        EXPECT_EQ(RPC_OK, Create(bob.get(), "b3", &err)) << err;
}

}  // namespace
