// ak-scheduler as a real process on loopback, fake executors (real lib/rpc
// servers) registering and heartbeating through the real client, and the
// test calling the scheduler through the real client.
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "services/scheduler/testing/fake_executor.h"
#include "services/scheduler/testing/scheduler_process.h"

extern "C" {
#include "protos/ak/v1/scheduler.pb-c.h"
}

namespace {

using akt::Client;
using akt::FakeExecutor;
using akt::SchedulerProcess;

const char kToken[] = "test-token-0123456789abcdef";

bool WaitFor(const std::function<bool()> &pred, int timeout_ms = 10000)
{
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        while (std::chrono::steady_clock::now() < until) {
                if (pred())
                        return true;
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return pred();
}

class SchedulerTest : public ::testing::Test {
      protected:
        void SetUp() override
        {
                std::ofstream(sched.Path("tokens")) << "# test clients\n" << kToken << "\n";
                ASSERT_TRUE(sched.Start(Args()));
                client = std::make_unique<Client>(sched.address(), kToken);
        }
        void TearDown() override
        {
                client.reset();
                executors.clear();
                int st = sched.Stop();
                EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
                        << "ak-scheduler exit status " << st << "\n" << sched.Log();
        }
        std::vector<std::string> Args()
        {
                return {"--token-file", sched.Path("tokens"), "--heartbeat-interval-ms", "100",
                        "--lost-after-ms", "1500"};
        }
        FakeExecutor *AddExecutor(const std::string &id, std::map<std::string, std::string> labels = {})
        {
                FakeExecutor::Options o;
                o.id = id;
                o.labels = labels;
                o.token = kToken;
                executors.push_back(std::make_unique<FakeExecutor>(o));
                EXPECT_EQ(RPC_OK, executors.back()->Start(sched.address()));
                return executors.back().get();
        }
        // CreateSandbox; returns the status, fills the name and executor.
        int Create(const std::string &name, std::string *got_name = nullptr, std::string *executor = nullptr,
                   std::string *err = nullptr, uint32_t vcpus = 0,
                   const std::map<std::string, std::string> &selector = {})
        {
                Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
                spec.name = (char *)name.c_str();
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
                Ak__V1__CreateSandboxRequest req = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
                req.spec = &spec;
                ProtobufCMessage *resp = nullptr;
                int r = client->Call("CreateSandbox", &req.base, &resp, err);
                if (r == RPC_OK) {
                        auto *sb = (Ak__V1__Sandbox *)resp;
                        if (got_name)
                                *got_name = sb->spec->name;
                        if (executor)
                                *executor = sb->executor_id;
                        protobuf_c_message_free_unpacked(resp, nullptr);
                }
                return r;
        }
        // Exec; collects stdout; returns the final status (the stream's).
        int Exec(const std::string &sandbox, std::vector<std::string> argv, std::string *out,
                 std::string *err = nullptr, int64_t timeout_ms = 10000)
        {
                std::vector<char *> av;
                for (auto &a : argv)
                        av.push_back((char *)a.c_str());
                Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
                req.sandbox = (char *)sandbox.c_str();
                req.n_argv = av.size();
                req.argv = av.data();
                struct rpc_stream *st;
                int r = client->Open("Exec", &req.base, &st, timeout_ms);
                if (r != RPC_OK)
                        return r;
                ProtobufCMessage *msg;
                struct ak_error e = {};
                int n;
                bool result = false;
                while ((n = rpc_stream_next(st, &msg, &e)) == 1) {
                        auto *c = (Ak__V1__OutputChunk *)msg;
                        if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_STDOUT)
                                out->append((char *)c->stdout.data, c->stdout.len);
                        if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_RESULT)
                                result = true;
                        protobuf_c_message_free_unpacked(msg, nullptr);
                }
                rpc_stream_free(st);
                if (err)
                        *err = n < 0 ? e.msg : "";
                if (n == 0 && !result)
                        return -1;
                return n == 0 ? RPC_OK : -n;
        }
        std::string ReadFile(const std::string &sandbox, const std::string &path, int *code = nullptr)
        {
                Ak__V1__ReadFileRequest req = AK__V1__READ_FILE_REQUEST__INIT;
                req.sandbox = (char *)sandbox.c_str();
                req.path = (char *)path.c_str();
                ProtobufCMessage *resp = nullptr;
                std::string err;
                int r = client->Call("ReadFile", &req.base, &resp, &err);
                if (code)
                        *code = r;
                if (r != RPC_OK)
                        return err;
                auto *rr = (Ak__V1__ReadFileResponse *)resp;
                std::string s((char *)rr->content.data, rr->content.len);
                protobuf_c_message_free_unpacked(resp, nullptr);
                return s;
        }
        // ListExecutors: id → lost.
        std::map<std::string, bool> Executors()
        {
                Ak__V1__ListExecutorsRequest req = AK__V1__LIST_EXECUTORS_REQUEST__INIT;
                ProtobufCMessage *resp = nullptr;
                std::map<std::string, bool> m;
                if (client->Call("ListExecutors", &req.base, &resp) != RPC_OK)
                        return m;
                auto *r = (Ak__V1__ListExecutorsResponse *)resp;
                for (size_t i = 0; i < r->n_executors; i++)
                        m[r->executors[i]->status->executor_id] = r->executors[i]->lost;
                protobuf_c_message_free_unpacked(resp, nullptr);
                return m;
        }
        // ListSandboxes: name → executor.
        std::map<std::string, std::string> Sandboxes()
        {
                Ak__V1__ListSandboxesRequest req = AK__V1__LIST_SANDBOXES_REQUEST__INIT;
                ProtobufCMessage *resp = nullptr;
                std::map<std::string, std::string> m;
                if (client->Call("ListSandboxes", &req.base, &resp) != RPC_OK)
                        return m;
                auto *r = (Ak__V1__ListSandboxesResponse *)resp;
                for (size_t i = 0; i < r->n_sandboxes; i++)
                        m[r->sandboxes[i]->spec->name] = r->sandboxes[i]->executor_id;
                protobuf_c_message_free_unpacked(resp, nullptr);
                return m;
        }

        SchedulerProcess sched;
        std::unique_ptr<Client> client;
        std::vector<std::unique_ptr<FakeExecutor>> executors;
};

TEST_F(SchedulerTest, HealthIsOpenEverythingElseNeedsAToken)
{
        Client anon(sched.address());
        struct ak_error err;
        EXPECT_EQ(RPC_OK, rpc_health_check(anon.channel(), "", 5000, &err)) << err.msg;
        EXPECT_EQ(RPC_OK, rpc_health_check(anon.channel(), "ak.v1.Scheduler", 5000, &err)) << err.msg;

        Ak__V1__ListExecutorsRequest req = AK__V1__LIST_EXECUTORS_REQUEST__INIT;
        std::string msg;
        EXPECT_EQ(RPC_UNAUTHENTICATED, anon.Call("ListExecutors", &req.base, nullptr, &msg));
        EXPECT_NE(std::string::npos, msg.find("no bearer token")) << msg;
        anon.set_token("wrong-token-0123456789abcdef");
        EXPECT_EQ(RPC_UNAUTHENTICATED, anon.Call("ListExecutors", &req.base, nullptr, &msg));
        EXPECT_NE(std::string::npos, msg.find("not one of the scheduler's")) << msg;
        Ak__V1__CreateSandboxRequest creq = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
        EXPECT_EQ(RPC_UNAUTHENTICATED, anon.Call("CreateSandbox", &creq.base, nullptr, &msg));
        EXPECT_EQ(RPC_OK, client->Call("ListExecutors", &req.base));

        // Executors are clients too.
        FakeExecutor::Options o;
        o.id = "intruder";
        o.token = "wrong-token-0123456789abcdef";
        FakeExecutor bad(o);
        EXPECT_EQ(RPC_UNAUTHENTICATED, bad.Start(sched.address()));
        bad.Kill();
        EXPECT_EQ(0u, Executors().size());
}

TEST_F(SchedulerTest, PlacementSpreadsAndEveryCallReachesTheOwner)
{
        auto *a = AddExecutor("exec-a");
        auto *b = AddExecutor("exec-b");
        ASSERT_EQ(2u, Executors().size());
        std::map<std::string, std::string> owner;
        for (int i = 0; i < 6; i++) {
                std::string name = "sb" + std::to_string(i), got, exec;
                ASSERT_EQ(RPC_OK, Create(name, &got, &exec));
                EXPECT_EQ(name, got);
                owner[name] = exec;
        }
        EXPECT_EQ(3u, a->SandboxCount());
        EXPECT_EQ(3u, b->SandboxCount());
        EXPECT_EQ(owner, Sandboxes());

        for (auto &kv : owner) {
                const std::string &name = kv.first, &exec = kv.second;
                FakeExecutor *mine = exec == "exec-a" ? a : b, *other = exec == "exec-a" ? b : a;
                EXPECT_EQ(exec + ":/etc/hostname", ReadFile(name, "/etc/hostname"));
                std::string out;
                EXPECT_EQ(RPC_OK, Exec(name, {"echo", "hi"}, &out));
                EXPECT_EQ(exec + ": hi", out);

                Ak__V1__WriteFileRequest w = AK__V1__WRITE_FILE_REQUEST__INIT;
                w.sandbox = (char *)name.c_str();
                w.path = (char *)"/x";
                EXPECT_EQ(RPC_OK, client->Call("WriteFile", &w.base));
                Ak__V1__MkdirRequest mk = AK__V1__MKDIR_REQUEST__INIT;
                mk.sandbox = (char *)name.c_str();
                mk.path = (char *)"/d";
                EXPECT_EQ(RPC_OK, client->Call("Mkdir", &mk.base));
                Ak__V1__RemoveFileRequest rf = AK__V1__REMOVE_FILE_REQUEST__INIT;
                rf.sandbox = (char *)name.c_str();
                rf.path = (char *)"/x";
                EXPECT_EQ(RPC_OK, client->Call("RemoveFile", &rf.base));
                Ak__V1__StopSandboxRequest stop = AK__V1__STOP_SANDBOX_REQUEST__INIT;
                stop.name = (char *)name.c_str();
                ProtobufCMessage *resp;
                ASSERT_EQ(RPC_OK, client->Call("StopSandbox", &stop.base, &resp));
                EXPECT_EQ(AK__V1__SANDBOX_STATE__SANDBOX_STATE_STOPPED, ((Ak__V1__Sandbox *)resp)->state);
                EXPECT_EQ(exec, ((Ak__V1__Sandbox *)resp)->executor_id);
                protobuf_c_message_free_unpacked(resp, nullptr);
                Ak__V1__StartSandboxRequest start = AK__V1__START_SANDBOX_REQUEST__INIT;
                start.name = (char *)name.c_str();
                EXPECT_EQ(RPC_OK, client->Call("StartSandbox", &start.base));
                Ak__V1__GetSandboxRequest get = AK__V1__GET_SANDBOX_REQUEST__INIT;
                get.name = (char *)name.c_str();
                EXPECT_EQ(RPC_OK, client->Call("GetSandbox", &get.base));

                for (const char *m : {"ReadFile", "Exec", "WriteFile", "Mkdir", "RemoveFile", "StopSandbox",
                                      "StartSandbox", "GetSandbox"}) {
                        EXPECT_TRUE(mine->Saw(std::string(m) + " " + name)) << m << " " << name;
                        EXPECT_FALSE(other->Saw(std::string(m) + " " + name)) << m << " " << name;
                }
        }

        Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
        rm.name = (char *)"sb0";
        EXPECT_EQ(RPC_OK, client->Call("RemoveSandbox", &rm.base));
        EXPECT_EQ(0u, Sandboxes().count("sb0"));
        // For its first --lost-after-ms the scheduler cannot tell "no such
        // sandbox" from "not heard of yet" and says UNAVAILABLE; then NOT_FOUND.
        std::string err;
        int code = client->Call("RemoveSandbox", &rm.base, nullptr, &err);
        if (code == RPC_UNAVAILABLE) {
                EXPECT_NE(std::string::npos, err.find("still learning sandboxes from executor heartbeats")) << err;
        }
        EXPECT_TRUE(WaitFor([&] { return client->Call("RemoveSandbox", &rm.base, nullptr, &err) == RPC_NOT_FOUND; }));
        EXPECT_NE(std::string::npos, err.find("no sandbox named sb0 in the fleet")) << err;
}

TEST_F(SchedulerTest, ShellSessionsGoToTheOwner)
{
        AddExecutor("exec-a");
        auto *b = AddExecutor("exec-b");
        std::string name, exec;
        ASSERT_EQ(RPC_OK, Create("", &name, &exec));
        EXPECT_EQ(0, name.compare(0, 3, "sb-"));
        Ak__V1__OpenShellRequest req = AK__V1__OPEN_SHELL_REQUEST__INIT;
        req.sandbox = (char *)name.c_str();
        struct rpc_stream *st;
        ASSERT_EQ(RPC_OK, client->Open("OpenShell", &req.base, &st));
        std::vector<int> kinds;
        std::string session;
        ProtobufCMessage *msg;
        struct ak_error e;
        int n;
        while ((n = rpc_stream_next(st, &msg, &e)) == 1) {
                auto *ev = (Ak__V1__ShellEvent *)msg;
                kinds.push_back(ev->kind);
                if (ev->kind == AK__V1__SHELL_EVENT__KIND__STARTED)
                        session = ev->session_id;
                if (ev->kind == AK__V1__SHELL_EVENT__KIND__EXITED) {
                        EXPECT_EQ(3, ev->exit_code);
                }
                protobuf_c_message_free_unpacked(msg, nullptr);
        }
        rpc_stream_free(st);
        EXPECT_EQ(0, n) << e.msg;
        EXPECT_EQ((std::vector<int>{1, 2, 3}), kinds);
        EXPECT_EQ("s-" + exec, session);
        Ak__V1__ShellInputRequest in = AK__V1__SHELL_INPUT_REQUEST__INIT;
        in.sandbox = (char *)name.c_str();
        EXPECT_EQ(RPC_OK, client->Call("ShellInput", &in.base));
        Ak__V1__ShellResizeRequest rs = AK__V1__SHELL_RESIZE_REQUEST__INIT;
        rs.sandbox = (char *)name.c_str();
        EXPECT_EQ(RPC_OK, client->Call("ShellResize", &rs.base));
        Ak__V1__ShellCloseRequest cl = AK__V1__SHELL_CLOSE_REQUEST__INIT;
        cl.sandbox = (char *)name.c_str();
        EXPECT_EQ(RPC_OK, client->Call("ShellClose", &cl.base));
        FakeExecutor *owner = exec == "exec-b" ? b : executors[0].get();
        for (const char *m : {"OpenShell", "ShellInput", "ShellResize", "ShellClose"})
                EXPECT_TRUE(owner->Saw(std::string(m) + " " + name)) << m;
}

TEST_F(SchedulerTest, StreamsPassThroughChunkByChunk)
{
        auto *a = AddExecutor("exec-a");
        ASSERT_EQ(RPC_OK, Create("s"));
        Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
        char *argv[] = {(char *)"steps", (char *)"5"};
        req.sandbox = (char *)"s";
        req.n_argv = 2;
        req.argv = argv;
        struct rpc_stream *st;
        ASSERT_EQ(RPC_OK, client->Open("Exec", &req.base, &st));
        // The fake sends step i+1 only after we acknowledge step i, which we
        // can only do once step i came through the scheduler: buffering the
        // output anywhere would stall it (and count a step timeout).
        int steps = 0;
        ProtobufCMessage *msg;
        struct ak_error e;
        int n;
        while ((n = rpc_stream_next(st, &msg, &e)) == 1) {
                auto *c = (Ak__V1__OutputChunk *)msg;
                if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_STDOUT) {
                        EXPECT_EQ("step " + std::to_string(steps),
                                  std::string((char *)c->stdout.data, c->stdout.len));
                        a->Ack(steps++);
                }
                protobuf_c_message_free_unpacked(msg, nullptr);
        }
        rpc_stream_free(st);
        EXPECT_EQ(0, n) << e.msg;
        EXPECT_EQ(5, steps);
        EXPECT_EQ(0, a->step_timeouts.load());
}

TEST_F(SchedulerTest, ClientCancelReachesTheExecutor)
{
        auto *a = AddExecutor("exec-a");
        ASSERT_EQ(RPC_OK, Create("s"));
        Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
        char *argv[] = {(char *)"hang"};
        req.sandbox = (char *)"s";
        req.n_argv = 1;
        req.argv = argv;
        struct rpc_stream *st;
        ASSERT_EQ(RPC_OK, client->Open("Exec", &req.base, &st, 60000));
        ProtobufCMessage *msg;
        struct ak_error e;
        ASSERT_EQ(1, rpc_stream_next(st, &msg, &e)) << e.msg;
        protobuf_c_message_free_unpacked(msg, nullptr);
        EXPECT_EQ(0, a->cancelled_seen.load());
        rpc_stream_cancel(st);
        EXPECT_TRUE(WaitFor([&] { return a->cancelled_seen.load() == 1; }));
        rpc_stream_free(st);
}

TEST_F(SchedulerTest, DeadlinesPropagate)
{
        auto *a = AddExecutor("exec-a");
        ASSERT_EQ(RPC_OK, Create("s"));
        std::string out, err;
        EXPECT_EQ(RPC_DEADLINE_EXCEEDED, Exec("s", {"silent"}, &out, &err, 700));
        int64_t seen = a->last_remaining_ms.load();
        // Without propagation it would be INT64_MAX; grpc-timeout rounds up
        // by a millisecond or so on each hop.
        EXPECT_GT(seen, 0);
        EXPECT_LE(seen, 710);
        // The executor's side ends too, not just ours.
        EXPECT_TRUE(WaitFor([&] { return a->cancelled_seen.load() == 1; }));
}

TEST_F(SchedulerTest, ExecutorStatusesPassThrough)
{
        AddExecutor("exec-a");
        ASSERT_EQ(RPC_OK, Create("s"));
        int code;
        std::string msg = ReadFile("s", "/missing", &code);
        EXPECT_EQ(RPC_NOT_FOUND, code);
        EXPECT_EQ("/ak.v1.Scheduler/ReadFile: NOT_FOUND: no such file: /missing", msg);
        std::string out;
        EXPECT_EQ(RPC_FAILED_PRECONDITION, Exec("s", {"fail"}, &out, &msg));
        EXPECT_NE(std::string::npos, msg.find("FAILED_PRECONDITION: sandbox s is stopped")) << msg;
        EXPECT_TRUE(WaitFor([&] {
                ReadFile("nope", "/x", &code);
                return code == RPC_NOT_FOUND;
        }));
        msg = ReadFile("Bad Name", "/x", &code);
        EXPECT_EQ(RPC_INVALID_ARGUMENT, code);
        EXPECT_NE(std::string::npos, msg.find("sandbox: \"Bad Name\" is not a sandbox name")) << msg;
}

TEST_F(SchedulerTest, LostExecutorFailsFastAndComesBack)
{
        auto *a = AddExecutor("exec-a");
        auto *b = AddExecutor("exec-b");
        std::string on_b, exec;
        for (int i = 0; on_b.empty() && i < 4; i++) {
                std::string name = "s" + std::to_string(i);
                ASSERT_EQ(RPC_OK, Create(name, nullptr, &exec));
                if (exec == "exec-b")
                        on_b = name;
        }
        ASSERT_FALSE(on_b.empty());
        b->PauseHeartbeats(true);
        ASSERT_TRUE(WaitFor([&] { return Executors()["exec-b"]; })) << "exec-b never marked lost";
        EXPECT_FALSE(Executors()["exec-a"]);

        size_t calls_before = b->Calls().size();
        std::string out, err;
        EXPECT_EQ(RPC_UNAVAILABLE, Exec(on_b, {"echo"}, &out, &err));
        EXPECT_NE(std::string::npos, err.find("executor exec-b (" + b->address() + ") is lost: no heartbeat for"))
                << err;
        int code;
        ReadFile(on_b, "/x", &code);
        EXPECT_EQ(RPC_UNAVAILABLE, code);
        EXPECT_EQ(calls_before, b->Calls().size());  // never reached it

        for (int i = 0; i < 3; i++) {
                ASSERT_EQ(RPC_OK, Create("new" + std::to_string(i), nullptr, &exec));
                EXPECT_EQ("exec-a", exec);
        }
        (void)a;

        b->PauseHeartbeats(false);
        ASSERT_TRUE(WaitFor([&] { return !Executors()["exec-b"]; }));
        EXPECT_EQ(RPC_OK, Exec(on_b, {"echo", "back"}, &out));
}

TEST_F(SchedulerTest, ExecutorDyingMidStreamEndsTheCallUnavailable)
{
        AddExecutor("exec-a");
        auto *b = AddExecutor("exec-b", {{"zone", "b"}});
        ASSERT_EQ(RPC_OK, Create("s", nullptr, nullptr, nullptr, 0, {{"zone", "b"}}));
        Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
        char *argv[] = {(char *)"hang"};
        req.sandbox = (char *)"s";
        req.n_argv = 1;
        req.argv = argv;
        struct rpc_stream *st;
        ASSERT_EQ(RPC_OK, client->Open("Exec", &req.base, &st, 30000));
        ProtobufCMessage *msg;
        struct ak_error e;
        ASSERT_EQ(1, rpc_stream_next(st, &msg, &e)) << e.msg;
        protobuf_c_message_free_unpacked(msg, nullptr);
        b->Kill();
        EXPECT_EQ(-RPC_UNAVAILABLE, rpc_stream_next(st, &msg, &e));
        EXPECT_NE(std::string::npos, std::string(e.msg).find("executor exec-b")) << e.msg;
        rpc_stream_free(st);
        // Placement stops choosing it at once (health check failed), before
        // it is even marked lost.
        std::string exec;
        ASSERT_EQ(RPC_OK, Create("t", nullptr, &exec));
        EXPECT_EQ("exec-a", exec);
        EXPECT_TRUE(WaitFor([&] { return Executors()["exec-b"]; }));
}

TEST_F(SchedulerTest, HungExecutorIsAbandonedOnceLost)
{
        auto *a = AddExecutor("exec-a");
        ASSERT_EQ(RPC_OK, Create("s"));
        Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
        char *argv[] = {(char *)"hang"};
        req.sandbox = (char *)"s";
        req.n_argv = 1;
        req.argv = argv;
        struct rpc_stream *st;
        ASSERT_EQ(RPC_OK, client->Open("Exec", &req.base, &st, 30000));
        ProtobufCMessage *msg;
        struct ak_error e;
        ASSERT_EQ(1, rpc_stream_next(st, &msg, &e)) << e.msg;
        protobuf_c_message_free_unpacked(msg, nullptr);
        // Still serving, but silent: no heartbeats, no output.
        a->PauseHeartbeats(true);
        EXPECT_EQ(-RPC_UNAVAILABLE, rpc_stream_next(st, &msg, &e));
        EXPECT_NE(std::string::npos, std::string(e.msg).find("executor exec-a (" + a->address() + ") is lost"))
                << e.msg;
        rpc_stream_free(st);
        EXPECT_TRUE(WaitFor([&] { return a->cancelled_seen.load() == 1; }));
}

TEST_F(SchedulerTest, SilentHungExecutorIsAbandonedOnceLost)
{
        // Nothing ever comes back on the call, not even a first message.
        auto *a = AddExecutor("exec-a");
        ASSERT_EQ(RPC_OK, Create("s"));
        std::thread pause([a] {
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
                a->PauseHeartbeats(true);
        });
        std::string out, err;
        EXPECT_EQ(RPC_UNAVAILABLE, Exec("s", {"silent"}, &out, &err, 30000));
        EXPECT_NE(std::string::npos, err.find("executor exec-a (" + a->address() + ") is lost")) << err;
        pause.join();
}

TEST_F(SchedulerTest, RestartRebuildsFromHeartbeats)
{
        auto *a = AddExecutor("exec-a");
        auto *b = AddExecutor("exec-b");
        std::map<std::string, std::string> owner;
        for (int i = 0; i < 4; i++) {
                std::string name = "s" + std::to_string(i), exec;
                ASSERT_EQ(RPC_OK, Create(name, nullptr, &exec));
                owner[name] = exec;
        }
        int st = sched.Stop();
        EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
        ASSERT_TRUE(sched.Start(Args()));
        // Until the executors hear NOT_FOUND and register again, names are
        // unknown; then every sandbox answers from its own executor.
        for (auto &kv : owner) {
                std::string out;
                EXPECT_TRUE(WaitFor([&] {
                        out.clear();
                        return Exec(kv.first, {"echo", "again"}, &out) == RPC_OK;
                })) << kv.first;
                EXPECT_EQ(kv.second + ": again", out);
        }
        EXPECT_GE(a->registrations.load(), 2);
        EXPECT_GE(b->registrations.load(), 2);
        EXPECT_EQ(owner, Sandboxes());
        EXPECT_EQ(RPC_ALREADY_EXISTS, Create("s0"));
}

TEST_F(SchedulerTest, NamesAreUniqueAcrossTheFleet)
{
        auto *a = AddExecutor("exec-a");
        AddExecutor("exec-b");
        std::string err;
        ASSERT_EQ(RPC_OK, Create("dup"));
        EXPECT_EQ(RPC_ALREADY_EXISTS, Create("dup", nullptr, nullptr, &err));
        EXPECT_NE(std::string::npos, err.find("sandbox dup already exists (on executor exec-")) << err;
        a->AddSandbox("direct");  // made on the executor, behind our back
        ASSERT_TRUE(WaitFor([&] { return Sandboxes().count("direct") == 1; }));
        EXPECT_EQ(RPC_ALREADY_EXISTS, Create("direct", nullptr, nullptr, &err));
        std::set<std::string> names;
        for (int i = 0; i < 5; i++) {
                std::string name;
                ASSERT_EQ(RPC_OK, Create("", &name));
                names.insert(name);
        }
        EXPECT_EQ(5u, names.size());
        EXPECT_EQ(RPC_INVALID_ARGUMENT, Create("UPPER", nullptr, nullptr, &err));
}

TEST_F(SchedulerTest, NoRoomSaysWhichFilter)
{
        AddExecutor("exec-a", {{"zone", "a"}});
        AddExecutor("exec-b", {{"zone", "b"}});
        std::string err;
        EXPECT_EQ(RPC_RESOURCE_EXHAUSTED, Create("", nullptr, nullptr, &err, 64));
        EXPECT_NE(std::string::npos, err.find("of 2 executors, 2 have fewer than 64 free vCPUs")) << err;
        EXPECT_EQ(RPC_RESOURCE_EXHAUSTED, Create("", nullptr, nullptr, &err, 0, {{"zone", "c"}}));
        EXPECT_NE(std::string::npos, err.find("2 lack the node_selector labels")) << err;
        std::string exec;
        EXPECT_EQ(RPC_OK, Create("", nullptr, &exec, nullptr, 0, {{"zone", "b"}}));
        EXPECT_EQ("exec-b", exec);
}

TEST_F(SchedulerTest, RunPlacesAndStreams)
{
        AddExecutor("exec-a");
        for (bool keep : {false, true}) {
                Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
                spec.name = (char *)(keep ? "kept" : "");
                Ak__V1__RunRequest req = AK__V1__RUN_REQUEST__INIT;
                req.spec = &spec;
                req.keep = keep;
                struct rpc_stream *st;
                ASSERT_EQ(RPC_OK, client->Open("Run", &req.base, &st));
                std::string out, ran_in;
                ProtobufCMessage *msg;
                struct ak_error e;
                int n;
                while ((n = rpc_stream_next(st, &msg, &e)) == 1) {
                        auto *c = (Ak__V1__OutputChunk *)msg;
                        if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_STDOUT)
                                out.append((char *)c->stdout.data, c->stdout.len);
                        if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_RESULT)
                                ran_in = c->result->sandbox;
                        protobuf_c_message_free_unpacked(msg, nullptr);
                }
                rpc_stream_free(st);
                EXPECT_EQ(0, n) << e.msg;
                EXPECT_EQ("ran on exec-a", out);
                if (keep) {
                        EXPECT_EQ("kept", ran_in);
                        EXPECT_EQ(1u, Sandboxes().count("kept"));
                } else {
                        EXPECT_EQ(0, ran_in.compare(0, 3, "sb-")) << ran_in;
                        EXPECT_EQ(0u, Sandboxes().count(ran_in));
                }
        }
}

TEST_F(SchedulerTest, BadExecutorStatusesAreRefused)
{
        Ak__V1__ExecutorStatus st = AK__V1__EXECUTOR_STATUS__INIT;
        st.executor_id = (char *)"has space";
        st.address = (char *)"127.0.0.1:1";
        Ak__V1__RegisterExecutorRequest reg = AK__V1__REGISTER_EXECUTOR_REQUEST__INIT;
        reg.status = &st;
        std::string err;
        EXPECT_EQ(RPC_INVALID_ARGUMENT, client->Call("RegisterExecutor", &reg.base, nullptr, &err));
        EXPECT_NE(std::string::npos, err.find("status.executor_id")) << err;
        st.executor_id = (char *)"ghost";
        Ak__V1__HeartbeatRequest hb = AK__V1__HEARTBEAT_REQUEST__INIT;
        hb.status = &st;
        EXPECT_EQ(RPC_NOT_FOUND, client->Call("Heartbeat", &hb.base, nullptr, &err));
        EXPECT_NE(std::string::npos, err.find("register again")) << err;
        ProtobufCMessage *resp;
        ASSERT_EQ(RPC_OK, client->Call("RegisterExecutor", &reg.base, &resp));
        EXPECT_EQ(100u, ((Ak__V1__RegisterExecutorResponse *)resp)->heartbeat_interval_ms);
        protobuf_c_message_free_unpacked(resp, nullptr);
        EXPECT_EQ(RPC_OK, client->Call("Heartbeat", &hb.base));
}

TEST(SchedulerTls, MutualTlsToClientsAndExecutors)
{
        SchedulerProcess sched;
        std::string dir = sched.Path("");
        ASSERT_EQ(0, system(("services/scheduler/testdata/make_certs.sh " + dir).c_str()));
        std::string ca = dir + "ca.pem", cert = dir + "client.pem", key = dir + "client.key";
        std::string server_cert = dir + "server.pem", server_key = dir + "server.key";
        std::ofstream(sched.Path("tokens")) << kToken << "\n";
        struct rpc_tls client_tls = {};
        client_tls.ca_file = ca.c_str();
        client_tls.cert_file = cert.c_str();
        client_tls.key_file = key.c_str();
        client_tls.server_name = "localhost";
        ASSERT_TRUE(sched.Start({"--token-file", sched.Path("tokens"), "--heartbeat-interval-ms", "100",
                                 "--tls-cert", server_cert, "--tls-key", server_key, "--tls-ca", ca,
                                 "--tls-require-client-cert", "--executor-tls-ca", ca, "--executor-tls-cert",
                                 cert, "--executor-tls-key", key},
                                &client_tls));

        // The executor serves mTLS too, and registers with its client certificate.
        struct rpc_tls exec_serve = {};
        exec_serve.ca_file = ca.c_str();
        exec_serve.cert_file = server_cert.c_str();
        exec_serve.key_file = server_key.c_str();
        exec_serve.require_client_cert = true;
        FakeExecutor::Options o;
        o.id = "exec-tls";
        o.token = kToken;
        o.tls = &client_tls;
        o.serve_tls = &exec_serve;
        FakeExecutor exec(o);
        ASSERT_EQ(RPC_OK, exec.Start(sched.address()));

        Client client(sched.address(), kToken, &client_tls);
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        spec.name = (char *)"secure";
        Ak__V1__CreateSandboxRequest creq = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
        creq.spec = &spec;
        std::string err;
        ASSERT_EQ(RPC_OK, client.Call("CreateSandbox", &creq.base, nullptr, &err)) << err;
        Ak__V1__ReadFileRequest rreq = AK__V1__READ_FILE_REQUEST__INIT;
        rreq.sandbox = (char *)"secure";
        rreq.path = (char *)"/f";
        ProtobufCMessage *resp;
        ASSERT_EQ(RPC_OK, client.Call("ReadFile", &rreq.base, &resp, &err)) << err;
        auto *rr = (Ak__V1__ReadFileResponse *)resp;
        EXPECT_EQ("exec-tls:/f", std::string((char *)rr->content.data, rr->content.len));
        protobuf_c_message_free_unpacked(resp, nullptr);

        // No client certificate: refused before any handler runs.
        struct rpc_tls no_cert = {};
        no_cert.ca_file = ca.c_str();
        no_cert.server_name = "localhost";
        Client anon(sched.address(), kToken, &no_cert);
        Ak__V1__ListExecutorsRequest lreq = AK__V1__LIST_EXECUTORS_REQUEST__INIT;
        EXPECT_NE(RPC_OK, anon.Call("ListExecutors", &lreq.base, nullptr, &err, 3000));
        // Plaintext: refused too.
        Client plain(sched.address(), kToken);
        EXPECT_NE(RPC_OK, plain.Call("ListExecutors", &lreq.base, nullptr, &err, 3000));

        exec.Kill();
        int st = sched.Stop();
        EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st << "\n" << sched.Log();
}

}  // namespace
