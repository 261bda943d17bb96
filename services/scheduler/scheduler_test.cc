// ak-scheduler as a real process on loopback, fake executors (real lib/rpc
// servers) registering and heartbeating through the real client: auth,
// placement, routing of every call, streaming, cancellation, deadlines.
#include "services/scheduler/testing/scheduler_fixture.h"

#include <set>

extern "C" {
#include "lib/base/time.h"
}

namespace {

using akt::Client;
using akt::FakeExecutor;
using akt::kExecToken;
using akt::kToken;
using akt::SchedulerProcess;
using akt::SchedulerTest;
using akt::WaitFor;

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

        // Executors authenticate too.
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
        int64_t sent = ak_mono_ms();
        EXPECT_EQ(RPC_DEADLINE_EXCEEDED, Exec("s", {"silent"}, &out, &err, 700));
        int64_t seen = a->last_remaining_ms.load();
        // Without propagation it would be INT64_MAX, or the server's default
        // (10 min). Compared as instants on one clock (the fake executor runs
        // in this process), the deadline the executor saw is the client's,
        // however long the hops took: a scheduler that sent the client's
        // whole timeout on instead of what is left would be late by its own
        // time. What may move it later is each hop's conversion between
        // gRPC's clocks (two clock reads, so a thread preempted between them
        // shifts it: 11 ms was seen on a loaded machine): 50 ms of slack.
        const int64_t slack = 50;
        EXPECT_GT(seen, 0);
        EXPECT_LE(seen, 700 + slack);
        EXPECT_LE(a->last_remaining_at_ms.load() + seen, sent + 700 + slack);
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
        Client exec(sched.address(), kExecToken);
        EXPECT_EQ(RPC_INVALID_ARGUMENT, exec.Call("RegisterExecutor", &reg.base, nullptr, &err));
        EXPECT_NE(std::string::npos, err.find("status.executor_id")) << err;
        st.executor_id = (char *)"ghost";
        Ak__V1__HeartbeatRequest hb = AK__V1__HEARTBEAT_REQUEST__INIT;
        hb.status = &st;
        EXPECT_EQ(RPC_NOT_FOUND, exec.Call("Heartbeat", &hb.base, nullptr, &err));
        EXPECT_NE(std::string::npos, err.find("register again")) << err;
        ProtobufCMessage *resp;
        ASSERT_EQ(RPC_OK, exec.Call("RegisterExecutor", &reg.base, &resp));
        EXPECT_EQ(100u, ((Ak__V1__RegisterExecutorResponse *)resp)->heartbeat_interval_ms);
        protobuf_c_message_free_unpacked(resp, nullptr);
        EXPECT_EQ(RPC_OK, exec.Call("Heartbeat", &hb.base));
}

// A client's token is not an executor's: with it, RegisterExecutor and
// Heartbeat are refused (before the fix both succeeded, and a client could
// point an existing executor_id, and every call for its sandboxes, at an
// address of its own). An executor's token is no client's either.
TEST_F(SchedulerTest, ClientTokensCannotRegisterOrHeartbeat)
{
        FakeExecutor *e = AddExecutor("e1");
        ASSERT_EQ(RPC_OK, Create("s1"));
        Ak__V1__ExecutorStatus st = AK__V1__EXECUTOR_STATUS__INIT;
        st.executor_id = (char *)"e1";
        st.address = (char *)"127.0.0.1:1";
        Ak__V1__RegisterExecutorRequest reg = AK__V1__REGISTER_EXECUTOR_REQUEST__INIT;
        reg.status = &st;
        Ak__V1__HeartbeatRequest hb = AK__V1__HEARTBEAT_REQUEST__INIT;
        hb.status = &st;
        std::string err;
        EXPECT_EQ(RPC_PERMISSION_DENIED, client->Call("RegisterExecutor", &reg.base, nullptr, &err));
        EXPECT_NE(std::string::npos, err.find("not an executor's")) << err;
        EXPECT_EQ(RPC_PERMISSION_DENIED, client->Call("Heartbeat", &hb.base, nullptr, &err));
        std::string out;
        EXPECT_EQ(RPC_OK, Exec("s1", {"echo", "hi"}, &out));
        EXPECT_EQ("e1: hi", out);
        EXPECT_TRUE(e->Saw("Exec s1"));

        Client exec(sched.address(), kExecToken);
        Ak__V1__ListSandboxesRequest lreq = AK__V1__LIST_SANDBOXES_REQUEST__INIT;
        EXPECT_EQ(RPC_PERMISSION_DENIED, exec.Call("ListSandboxes", &lreq.base, nullptr, &err));
        EXPECT_NE(std::string::npos, err.find("may only register and heartbeat")) << err;
}


TEST_F(SchedulerTest, ExecutorTokenIsSentToExecutors)
{
        FakeExecutor::Options o;
        o.id = "exec-locked";
        o.token = kExecToken;
        o.require_token = "executor-token-0123456789abcdef";
        executors.push_back(std::make_unique<FakeExecutor>(o));
        FakeExecutor *e = executors.back().get();
        ASSERT_EQ(RPC_OK, e->Start(sched.address()));
        std::string err;
        EXPECT_EQ(RPC_UNAUTHENTICATED, Create("s1", nullptr, nullptr, &err));
        EXPECT_TRUE(e->Saw("refused /ak.v1.Executor/CreateSandbox"));

        std::ofstream(sched.Path("executor-token")) << "# for executors\n" << o.require_token << "\n";
        chmod(sched.Path("executor-token").c_str(), 0600);  // token files must be private
        int st = sched.Stop();
        EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
        std::vector<std::string> args = Args();
        args.push_back("--executor-token-file");
        args.push_back(sched.Path("executor-token"));
        ASSERT_TRUE(sched.Start(args));
        ASSERT_TRUE(WaitFor([&] { return Create("s2", nullptr, nullptr, &err) == RPC_OK; })) << err;
        EXPECT_TRUE(e->Saw("CreateSandbox s2"));
}

}  // namespace
