// ak-scheduler when things go wrong: executors that go silent, die
// mid-stream or hang; the scheduler itself restarted; mTLS refusing
// strangers.
#include "services/scheduler/testing/scheduler_fixture.h"

#include <set>

namespace {

using akt::Client;
using akt::FakeExecutor;
using akt::kExecToken;
using akt::kToken;
using akt::SchedulerProcess;
using akt::SchedulerTest;
using akt::WaitFor;

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

// An executor SIGKILLed and started again at once under the same id (as a
// service manager does) registers with none of its old sandboxes: their VMs
// died with it. Their calls fail fast UNAVAILABLE saying so, never NOT_FOUND
// (which was what a client got once the new process had registered).
TEST_F(SchedulerTest, SandboxesOfARestartedExecutorFailFastNotNotFound)
{
        auto *a = AddExecutor("exec-a");
        ASSERT_EQ(RPC_OK, Create("s"));
        std::string out, err;
        ASSERT_EQ(RPC_OK, Exec("s", {"echo", "hi"}, &out));
        // Past the window after its start when unknown names may still turn
        // up: NOT_FOUND is for names no executor reported.
        ASSERT_TRUE(WaitFor([&] { return Exec("never", {"echo"}, &out, &err) == RPC_NOT_FOUND; })) << err;
        a->Kill();
        auto *again = AddExecutor("exec-a");
        ASSERT_EQ(2, again->registrations.load() + a->registrations.load());

        EXPECT_EQ(RPC_UNAVAILABLE, Exec("s", {"echo"}, &out, &err));
        EXPECT_NE(std::string::npos, err.find("sandbox s was lost with executor exec-a: the executor restarted"))
                << err;
        EXPECT_NE(std::string::npos, err.find("`ak sandbox remove s`")) << err;
        int code;
        std::string msg = ReadFile("s", "/x", &code);
        EXPECT_EQ(RPC_UNAVAILABLE, code) << msg;
        Ak__V1__GetSandboxRequest get = AK__V1__GET_SANDBOX_REQUEST__INIT;
        get.name = (char *)"s";
        EXPECT_EQ(RPC_UNAVAILABLE, client->Call("GetSandbox", &get.base, nullptr, &msg)) << msg;
        EXPECT_EQ((std::map<std::string, std::string>{{"s", "exec-a"}}), Sandboxes());
        // Later heartbeats of the new process keep it so.
        int beats = again->heartbeats.load();
        ASSERT_TRUE(WaitFor([&] { return again->heartbeats.load() >= beats + 3; }));
        EXPECT_EQ(RPC_UNAVAILABLE, Exec("s", {"echo"}, &out, &err)) << err;
        EXPECT_TRUE(again->Calls().empty());  // nothing for s was sent to the new process
        EXPECT_EQ(RPC_NOT_FOUND, Exec("never", {"echo"}, &out, &err)) << err;

        // Removing forgets the name; then it is free for a new sandbox.
        Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
        rm.name = (char *)"s";
        EXPECT_EQ(RPC_OK, client->Call("RemoveSandbox", &rm.base, nullptr, &msg)) << msg;
        EXPECT_EQ(RPC_NOT_FOUND, Exec("s", {"echo"}, &out, &err)) << err;
        ASSERT_EQ(RPC_OK, Create("s"));
        out.clear();
        EXPECT_EQ(RPC_OK, Exec("s", {"echo", "new"}, &out));
        EXPECT_EQ("exec-a: new", out);
}

// Killed, not yet lost: the first call finds it gone (and the scheduler's
// health check confirms it); the calls after that fail fast, naming it and
// saying what to do, without trying it again.
TEST_F(SchedulerTest, UnreachableExecutorFailsFastNamingIt)
{
        ASSERT_EQ(0, sched.Stop());
        ASSERT_TRUE(sched.Start({"--token-file", sched.Path("tokens"), "--registration-token-file", sched.Path("executors"), "--heartbeat-interval-ms", "100",
                                 "--lost-after-ms", "60000"}));
        auto *a = AddExecutor("exec-a");
        ASSERT_EQ(RPC_OK, Create("s"));
        a->Kill();
        std::string out, err;
        EXPECT_EQ(RPC_UNAVAILABLE, Exec("s", {"echo"}, &out, &err));
        EXPECT_NE(std::string::npos, err.find("executor exec-a (" + a->address() + ")")) << err;
        for (int i = 0; i < 3; i++) {
                EXPECT_EQ(RPC_UNAVAILABLE, Exec("s", {"echo"}, &out, &err));
                EXPECT_NE(std::string::npos,
                          err.find("sandbox s: executor exec-a (" + a->address() + ") is unreachable"))
                        << err;
                EXPECT_NE(std::string::npos, err.find("check that ak-executor exec-a runs")) << err;
        }
        EXPECT_FALSE(Executors()["exec-a"]);  // not lost (yet)
}

// The owner died and another executor now listens at its address: that
// one's NOT_FOUND is not the owner's word. Before, the client got NOT_FOUND
// and the scheduler forgot the name.
TEST_F(SchedulerTest, AnotherExecutorAtTheOwnersAddressIsNotBelieved)
{
        ASSERT_EQ(0, sched.Stop());
        ASSERT_TRUE(sched.Start({"--token-file", sched.Path("tokens"), "--registration-token-file",
                                 sched.Path("executors"), "--heartbeat-interval-ms", "100", "--lost-after-ms",
                                 "60000"}));
        FakeExecutor::Options o;
        o.id = "exec-a";
        o.token = kExecToken;
        o.listen = "unix:" + sched.Path("x.sock");
        executors.push_back(std::make_unique<FakeExecutor>(o));
        auto *a = executors.back().get();
        ASSERT_EQ(RPC_OK, a->Start(sched.address()));
        ASSERT_EQ(RPC_OK, Create("s"));
        a->Kill();
        o.id = "exec-b";
        executors.push_back(std::make_unique<FakeExecutor>(o));
        auto *b = executors.back().get();
        ASSERT_EQ(RPC_OK, b->Start(sched.address()));

        Ak__V1__GetSandboxRequest get = AK__V1__GET_SANDBOX_REQUEST__INIT;
        get.name = (char *)"s";
        std::string msg, out;
        EXPECT_EQ(RPC_UNAVAILABLE, client->Call("GetSandbox", &get.base, nullptr, &msg)) << msg;
        EXPECT_NE(std::string::npos, msg.find("executor exec-a (" + o.listen + ") is unreachable: executor "
                                              "exec-b answers at its address now"))
                << msg;
        EXPECT_TRUE(b->Saw("GetSandbox s"));
        // The name stays exec-a's; its calls now fail without reaching exec-b.
        size_t calls = b->Calls().size();
        EXPECT_EQ(RPC_UNAVAILABLE, Exec("s", {"echo"}, &out, &msg));
        EXPECT_NE(std::string::npos, msg.find("executor exec-a (" + o.listen + ") is unreachable")) << msg;
        EXPECT_EQ(calls, b->Calls().size());
        EXPECT_EQ("exec-a", Sandboxes()["s"]);
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

TEST(SchedulerTls, MutualTlsToClientsAndExecutors)
{
        SchedulerProcess sched;
        std::string dir = sched.Path("");
        ASSERT_EQ(0, system(("services/scheduler/testdata/make_certs.sh " + dir).c_str()));
        std::string ca = dir + "ca.pem", cert = dir + "client.pem", key = dir + "client.key";
        std::string server_cert = dir + "server.pem", server_key = dir + "server.key";
        std::ofstream(sched.Path("tokens")) << kToken << "\n";
        chmod(sched.Path("tokens").c_str(), 0600);  // token files must be private
        std::ofstream(sched.Path("executors")) << kExecToken << "\n";
        chmod(sched.Path("executors").c_str(), 0600);
        struct rpc_tls client_tls = {};
        client_tls.ca_file = ca.c_str();
        client_tls.cert_file = cert.c_str();
        client_tls.key_file = key.c_str();
        client_tls.server_name = "localhost";
        ASSERT_TRUE(sched.Start({"--token-file", sched.Path("tokens"), "--registration-token-file",
                                 sched.Path("executors"), "--heartbeat-interval-ms", "100", "--tls-cert", server_cert, "--tls-key", server_key, "--tls-ca", ca,
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
        o.token = kExecToken;
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
