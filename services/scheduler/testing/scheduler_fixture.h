// The component-test fixture: ak-scheduler started for real with a token
// file and fast heartbeats, fake executors added on demand, and helpers that
// call the scheduler through the real client.
#pragma once

#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "services/scheduler/testing/fake_executor.h"
#include "services/scheduler/testing/scheduler_process.h"

extern "C" {
#include "protos/ak/v1/scheduler.pb-c.h"
}

namespace akt {

inline const char kToken[] = "test-token-0123456789abcdef";
// What the fake executors present: --registration-token-file, never a client's.
inline const char kExecToken[] = "exec-token-0123456789abcdef";

inline bool WaitFor(const std::function<bool()> &pred, int timeout_ms = 10000)
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
                chmod(sched.Path("tokens").c_str(), 0600);  // token files must be private
                std::ofstream(sched.Path("executors")) << "# test executors\nexecutor=fakes " << kExecToken << "\n";
                chmod(sched.Path("executors").c_str(), 0600);
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
                return {"--token-file", sched.Path("tokens"), "--registration-token-file",
                        sched.Path("executors"), "--heartbeat-interval-ms", "100", "--lost-after-ms", "1500"};
        }
        FakeExecutor *AddExecutor(const std::string &id, std::map<std::string, std::string> labels = {})
        {
                FakeExecutor::Options o;
                o.id = id;
                o.labels = labels;
                o.token = kExecToken;
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

}  // namespace akt
