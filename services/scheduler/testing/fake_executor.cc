#include "services/scheduler/testing/fake_executor.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <chrono>

extern "C" {
#include "lib/base/time.h"
#include "protos/ak/v1/executor.pb-c.h"
#include "protos/ak/v1/scheduler.pb-c.h"
}

namespace akt {

namespace {

FakeExecutor *Self(void *data)
{
        return static_cast<FakeExecutor *>(data);
}

void FillSandbox(Ak__V1__Sandbox *sb, Ak__V1__SandboxSpec *spec, const FakeExecutor::Sandbox &s,
                 const std::string &executor_id)
{
        ak__v1__sandbox__init(sb);
        ak__v1__sandbox_spec__init(spec);
        spec->name = (char *)s.name.c_str();
        if (!s.tenant.empty())
                spec->tenant = (char *)s.tenant.c_str();
        sb->spec = spec;
        sb->state = (Ak__V1__SandboxState)s.state;
        sb->executor_id = (char *)executor_id.c_str();
        sb->backend = (char *)"fake";
}

int ReplySandbox(struct rpc_call *call, FakeExecutor *f, const std::string &name, int new_state)
{
        std::lock_guard<std::mutex> l(f->mu);
        auto it = f->sandboxes.find(name);
        if (it == f->sandboxes.end())
                return rpc_call_fail(call, RPC_NOT_FOUND, "no sandbox named %s on %s", name.c_str(),
                                     f->id().c_str());
        if (new_state)
                it->second.state = new_state;
        Ak__V1__Sandbox sb;
        Ak__V1__SandboxSpec spec;
        FillSandbox(&sb, &spec, it->second, f->id());
        rpc_call_reply(call, &sb.base);
        return RPC_OK;
}

int Create(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        auto *f = Self(data);
        auto *req = (const Ak__V1__CreateSandboxRequest *)msg;
        std::string name = req->spec ? req->spec->name : "";
        f->Log("CreateSandbox " + name);
        {
                std::lock_guard<std::mutex> l(f->mu);
                if (name.empty())
                        return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.name: empty");
                if (f->sandboxes.count(name))
                        return rpc_call_fail(call, RPC_ALREADY_EXISTS, "sandbox %s exists on %s", name.c_str(),
                                             f->id().c_str());
                f->sandboxes[name] = {name, AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING,
                                      req->spec->tenant ? req->spec->tenant : "",
                                      req->spec->vcpus ? req->spec->vcpus : 1};
        }
        return ReplySandbox(call, f, name, 0);
}

int Start(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        auto *req = (const Ak__V1__StartSandboxRequest *)msg;
        Self(data)->Log(std::string("StartSandbox ") + req->name);
        return ReplySandbox(call, Self(data), req->name, AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING);
}

int Stop(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        auto *req = (const Ak__V1__StopSandboxRequest *)msg;
        Self(data)->Log(std::string("StopSandbox ") + req->name);
        return ReplySandbox(call, Self(data), req->name, AK__V1__SANDBOX_STATE__SANDBOX_STATE_STOPPED);
}

int Get(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        auto *req = (const Ak__V1__GetSandboxRequest *)msg;
        Self(data)->Log(std::string("GetSandbox ") + req->name);
        return ReplySandbox(call, Self(data), req->name, 0);
}

int Remove(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        auto *f = Self(data);
        auto *req = (const Ak__V1__RemoveSandboxRequest *)msg;
        f->Log(std::string("RemoveSandbox ") + req->name);
        std::lock_guard<std::mutex> l(f->mu);
        if (!f->sandboxes.erase(req->name))
                return rpc_call_fail(call, RPC_NOT_FOUND, "no sandbox named %s on %s", req->name,
                                     f->id().c_str());
        Ak__V1__RemoveSandboxResponse resp = AK__V1__REMOVE_SANDBOX_RESPONSE__INIT;
        rpc_call_reply(call, &resp.base);
        return RPC_OK;
}

int SendStdout(struct rpc_call *call, const std::string &text)
{
        Ak__V1__OutputChunk c;
        ak__v1__output_chunk__init(&c);
        c.kind_case = AK__V1__OUTPUT_CHUNK__KIND_STDOUT;
        c.stdout.len = text.size();
        c.stdout.data = (uint8_t *)text.data();
        return rpc_call_send(call, &c.base);
}

int SendResult(struct rpc_call *call, const std::string &sandbox, int exit_code)
{
        Ak__V1__ExecResult res = AK__V1__EXEC_RESULT__INIT;
        res.exit_code = exit_code;
        res.sandbox = (char *)sandbox.c_str();
        Ak__V1__OutputChunk c;
        ak__v1__output_chunk__init(&c);
        c.kind_case = AK__V1__OUTPUT_CHUNK__KIND_RESULT;
        c.result = &res;
        return rpc_call_send(call, &c.base);
}

int WaitCancelled(struct rpc_call *call, FakeExecutor *f)
{
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (std::chrono::steady_clock::now() < until) {
                if (rpc_call_cancelled(call)) {
                        f->cancelled_seen++;
                        return rpc_call_fail(call, RPC_CANCELLED, "cancelled");
                }
                usleep(2000);
        }
        return rpc_call_fail(call, RPC_INTERNAL, "never cancelled");
}

int Exec(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        auto *f = Self(data);
        auto *req = (const Ak__V1__ExecRequest *)msg;
        f->Log(std::string("Exec ") + req->sandbox);
        f->last_remaining_ms = rpc_call_remaining_ms(call);
        f->last_remaining_at_ms = ak_mono_ms();
        {
                std::lock_guard<std::mutex> l(f->mu);
                if (!f->sandboxes.count(req->sandbox))
                        return rpc_call_fail(call, RPC_NOT_FOUND, "no sandbox named %s on %s", req->sandbox,
                                             f->id().c_str());
        }
        std::string cmd = req->n_argv ? req->argv[0] : "";
        if (cmd == "echo") {
                std::string out = f->id() + ":";
                for (size_t i = 1; i < req->n_argv; i++)
                        out += std::string(" ") + req->argv[i];
                if (SendStdout(call, out) < 0)
                        return RPC_CANCELLED;
                return SendResult(call, req->sandbox, 0) < 0 ? RPC_CANCELLED : RPC_OK;
        }
        if (cmd == "steps") {
                int n = req->n_argv > 1 ? atoi(req->argv[1]) : 3;
                for (int i = 0; i < n; i++) {
                        if (i > 0 && !f->WaitAck(i - 1, call))
                                f->step_timeouts++;
                        if (SendStdout(call, "step " + std::to_string(i)) < 0)
                                return RPC_CANCELLED;
                }
                return SendResult(call, req->sandbox, 0) < 0 ? RPC_CANCELLED : RPC_OK;
        }
        if (cmd == "hang") {
                if (SendStdout(call, "started") < 0)
                        return RPC_CANCELLED;
                return WaitCancelled(call, f);
        }
        if (cmd == "silent")
                return WaitCancelled(call, f);
        if (cmd == "fail")
                return rpc_call_fail(call, RPC_FAILED_PRECONDITION, "sandbox %s is stopped", req->sandbox);
        return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "argv: unknown fake command \"%s\"", cmd.c_str());
}

int Run(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        auto *f = Self(data);
        auto *req = (const Ak__V1__RunRequest *)msg;
        std::string name = req->spec ? req->spec->name : "";
        f->Log("Run " + name);
        if (req->n_argv == 2 && std::string(req->argv[0]) == "sleep") {
                int64_t end = ak_mono_ms() + atoi(req->argv[1]);
                while (ak_mono_ms() < end && !rpc_call_cancelled(call))
                        usleep(5000);
        }
        {
                std::lock_guard<std::mutex> l(f->mu);
                f->sandboxes[name] = {name, AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING};
        }
        int r = SendStdout(call, "ran on " + f->id());
        if (r == 0)
                r = SendResult(call, name, 0);
        if (!req->keep) {
                std::lock_guard<std::mutex> l(f->mu);
                f->sandboxes.erase(name);
        }
        return r < 0 ? RPC_CANCELLED : RPC_OK;
}

bool Known(FakeExecutor *f, const char *name)
{
        std::lock_guard<std::mutex> l(f->mu);
        return f->sandboxes.count(name) > 0;
}

int ReadFile(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        auto *f = Self(data);
        auto *req = (const Ak__V1__ReadFileRequest *)msg;
        f->Log(std::string("ReadFile ") + req->sandbox);
        if (!Known(f, req->sandbox))
                return rpc_call_fail(call, RPC_NOT_FOUND, "no sandbox named %s", req->sandbox);
        if (strcmp(req->path, "/missing") == 0)
                return rpc_call_fail(call, RPC_NOT_FOUND, "no such file: /missing");
        std::string content = f->id() + ":" + req->path;
        Ak__V1__ReadFileResponse resp = AK__V1__READ_FILE_RESPONSE__INIT;
        resp.content.len = content.size();
        resp.content.data = (uint8_t *)content.data();
        rpc_call_reply(call, &resp.base);
        return RPC_OK;
}

#define ACK_METHOD(fn, Req, Resp, RESP_INIT, label)                                      \
        int fn(struct rpc_call *call, const ProtobufCMessage *msg, void *data)             \
        {                                                                                \
                auto *f = Self(data);                                                    \
                auto *req = (const Req *)msg;                                            \
                f->Log(std::string(label " ") + req->sandbox);                           \
                if (!Known(f, req->sandbox))                                             \
                        return rpc_call_fail(call, RPC_NOT_FOUND, "no sandbox named %s", \
                                             req->sandbox);                              \
                Resp resp = RESP_INIT;                                                   \
                rpc_call_reply(call, &resp.base);                                        \
                return RPC_OK;                                                           \
        }

ACK_METHOD(WriteFile, Ak__V1__WriteFileRequest, Ak__V1__WriteFileResponse, AK__V1__WRITE_FILE_RESPONSE__INIT,
           "WriteFile")
ACK_METHOD(Mkdir, Ak__V1__MkdirRequest, Ak__V1__MkdirResponse, AK__V1__MKDIR_RESPONSE__INIT, "Mkdir")
ACK_METHOD(RemoveFile, Ak__V1__RemoveFileRequest, Ak__V1__RemoveFileResponse,
           AK__V1__REMOVE_FILE_RESPONSE__INIT, "RemoveFile")
ACK_METHOD(ShellInput, Ak__V1__ShellInputRequest, Ak__V1__ShellAck, AK__V1__SHELL_ACK__INIT, "ShellInput")
ACK_METHOD(ShellResize, Ak__V1__ShellResizeRequest, Ak__V1__ShellAck, AK__V1__SHELL_ACK__INIT, "ShellResize")
ACK_METHOD(ShellClose, Ak__V1__ShellCloseRequest, Ak__V1__ShellAck, AK__V1__SHELL_ACK__INIT, "ShellClose")

int OpenShell(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        auto *f = Self(data);
        auto *req = (const Ak__V1__OpenShellRequest *)msg;
        f->Log(std::string("OpenShell ") + req->sandbox);
        if (!Known(f, req->sandbox))
                return rpc_call_fail(call, RPC_NOT_FOUND, "no sandbox named %s", req->sandbox);
        std::string session = "s-" + f->id(), out = "$ ";
        Ak__V1__ShellEvent ev = AK__V1__SHELL_EVENT__INIT;
        ev.kind = AK__V1__SHELL_EVENT__KIND__STARTED;
        ev.session_id = (char *)session.c_str();
        if (rpc_call_send(call, &ev.base) < 0)
                return RPC_CANCELLED;
        ev.kind = AK__V1__SHELL_EVENT__KIND__OUTPUT;
        ev.output.len = out.size();
        ev.output.data = (uint8_t *)out.data();
        if (rpc_call_send(call, &ev.base) < 0)
                return RPC_CANCELLED;
        ev.kind = AK__V1__SHELL_EVENT__KIND__EXITED;
        ev.output.len = 0;
        ev.output.data = nullptr;
        ev.exit_code = 3;
        return rpc_call_send(call, &ev.base) < 0 ? RPC_CANCELLED : RPC_OK;
}

int Authorize(struct rpc_call *call, void *data)
{
        auto *f = Self(data);
        if (f->options().require_token.empty())
                return RPC_OK;
        const char *auth = rpc_call_metadata(call, "authorization");
        if (auth && std::string(auth) == "Bearer " + f->options().require_token)
                return RPC_OK;
        f->Log(std::string("refused ") + rpc_call_method(call));
        return rpc_call_fail(call, RPC_UNAUTHENTICATED, "fake executor %s wants its token", f->id().c_str());
}

int GetStatus(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        auto *f = Self(data);
        f->Log("GetStatus");
        Ak__V1__ExecutorStatus st = AK__V1__EXECUTOR_STATUS__INIT;
        st.executor_id = (char *)f->id().c_str();
        st.address = (char *)f->address().c_str();
        st.backend = (char *)"fake";
        rpc_call_reply(call, &st.base);
        return RPC_OK;
}

const struct rpc_method kMethods[] = {
        {"GetStatus", RPC_UNARY, GetStatus},
        {"CreateSandbox", RPC_UNARY, Create},
        {"StartSandbox", RPC_UNARY, Start},
        {"StopSandbox", RPC_UNARY, Stop},
        {"RemoveSandbox", RPC_UNARY, Remove},
        {"GetSandbox", RPC_UNARY, Get},
        {"Exec", RPC_SERVER_STREAMING, Exec},
        {"Run", RPC_SERVER_STREAMING, Run},
        {"WriteFile", RPC_UNARY, WriteFile},
        {"ReadFile", RPC_UNARY, ReadFile},
        {"Mkdir", RPC_UNARY, Mkdir},
        {"RemoveFile", RPC_UNARY, RemoveFile},
        {"OpenShell", RPC_SERVER_STREAMING, OpenShell},
        {"ShellInput", RPC_UNARY, ShellInput},
        {"ShellResize", RPC_UNARY, ShellResize},
        {"ShellClose", RPC_UNARY, ShellClose},
};

}  // namespace

FakeExecutor::FakeExecutor(const Options &opts) : opts_(opts) {}

FakeExecutor::~FakeExecutor()
{
        Kill();
        rpc_channel_free(sched_);
}

int FakeExecutor::Start(const std::string &scheduler)
{
        struct ak_error err;
        struct rpc_server_options so = {};
        so.authorize = Authorize;
        so.authorize_data = this;
        if (rpc_server_new(&so, &srv_, &err) < 0 ||
            rpc_server_add_service(srv_, &ak__v1__executor__descriptor, kMethods,
                                   sizeof(kMethods) / sizeof(kMethods[0]), this, &err) < 0)
                return RPC_INTERNAL;
        int port = 0;
        if (rpc_server_listen(srv_, opts_.listen.c_str(), opts_.serve_tls, &port, &err) < 0 ||
            rpc_server_start(srv_, &err) < 0)
                return RPC_INTERNAL;
        if (opts_.listen.compare(0, 5, "unix:") == 0)
                address_ = opts_.listen;
        else
                address_ = opts_.listen.substr(0, opts_.listen.rfind(':') + 1) + std::to_string(port);
        if (rpc_channel_new(scheduler.c_str(), opts_.tls, &sched_, &err) < 0)
                return RPC_INTERNAL;
        struct rpc_failover fo = {};
        if (opts_.failover && rpc_channel_set_failover(sched_, &fo) < 0)
                return RPC_INTERNAL;
        int r = SendStatus(true);
        hb_ = std::thread([this] { HeartbeatLoop(); });
        return r;
}

void FakeExecutor::Kill()
{
        stop_ = true;
        cv_.notify_all();
        if (hb_.joinable())
                hb_.join();
        rpc_server_shutdown(srv_, 0);
        srv_ = nullptr;
}

void FakeExecutor::AddSandbox(const std::string &name)
{
        std::lock_guard<std::mutex> l(mu);
        sandboxes[name] = {name, AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING};
}

size_t FakeExecutor::SandboxCount()
{
        std::lock_guard<std::mutex> l(mu);
        return sandboxes.size();
}

void FakeExecutor::Log(const std::string &s)
{
        std::lock_guard<std::mutex> l(mu);
        calls_.push_back(s);
}

std::vector<std::string> FakeExecutor::Calls()
{
        std::lock_guard<std::mutex> l(mu);
        return calls_;
}

bool FakeExecutor::Saw(const std::string &call)
{
        std::lock_guard<std::mutex> l(mu);
        for (auto &c : calls_)
                if (c == call)
                        return true;
        return false;
}

void FakeExecutor::Ack(int step)
{
        std::lock_guard<std::mutex> l(mu);
        if (step > acked_)
                acked_ = step;
        cv_.notify_all();
}

bool FakeExecutor::WaitAck(int step, struct rpc_call *call)
{
        std::unique_lock<std::mutex> l(mu);
        return cv_.wait_for(l, std::chrono::seconds(5), [&] { return acked_ >= step || stop_; }) && !stop_;
}

int FakeExecutor::SendStatus(bool reg)
{
        std::lock_guard<std::mutex> l(mu);
        Ak__V1__ExecutorStatus st = AK__V1__EXECUTOR_STATUS__INIT;
        st.executor_id = (char *)opts_.id.c_str();
        st.address = (char *)address_.c_str();
        Ak__V1__Capacity cap = AK__V1__CAPACITY__INIT, alloc = AK__V1__CAPACITY__INIT;
        cap.vcpus = opts_.vcpus;
        cap.memory_mb = opts_.memory_mb;
        for (auto &kv : sandboxes)
                alloc.vcpus += kv.second.vcpus;
        alloc.memory_mb = 512 * sandboxes.size();
        st.capacity = &cap;
        st.allocated = &alloc;
        std::vector<Ak__V1__ExecutorStatus__LabelsEntry> lab(opts_.labels.size());
        std::vector<Ak__V1__ExecutorStatus__LabelsEntry *> labp;
        size_t i = 0;
        for (auto &kv : opts_.labels) {
                ak__v1__executor_status__labels_entry__init(&lab[i]);
                lab[i].key = (char *)kv.first.c_str();
                lab[i].value = (char *)kv.second.c_str();
                labp.push_back(&lab[i++]);
        }
        st.n_labels = labp.size();
        st.labels = labp.data();
        std::vector<Ak__V1__Sandbox> sbs(sandboxes.size());
        std::vector<Ak__V1__SandboxSpec> specs(sandboxes.size());
        std::vector<Ak__V1__Sandbox *> sbp;
        i = 0;
        for (auto &kv : sandboxes) {
                FillSandbox(&sbs[i], &specs[i], kv.second, opts_.id);
                sbp.push_back(&sbs[i++]);
        }
        st.n_sandboxes = sbp.size();
        st.sandboxes = sbp.data();
        st.backend = (char *)"fake";

        struct rpc_call_options o = {};
        o.timeout_ms = 2000;
        o.idempotent = opts_.failover;
        o.bearer_token = opts_.token.empty() ? nullptr : opts_.token.c_str();
        ProtobufCMessage *resp = nullptr;
        struct ak_error err;
        int r;
        if (reg) {
                Ak__V1__RegisterExecutorRequest req = AK__V1__REGISTER_EXECUTOR_REQUEST__INIT;
                req.status = &st;
                r = rpc_unary(sched_, &ak__v1__scheduler__descriptor, "RegisterExecutor", &req.base, &o, &resp,
                              &err);
                last_register_code = r;
                if (r == RPC_OK) {
                        registrations++;
                        interval_ms_ = ((Ak__V1__RegisterExecutorResponse *)resp)->heartbeat_interval_ms;
                }
        } else {
                Ak__V1__HeartbeatRequest req = AK__V1__HEARTBEAT_REQUEST__INIT;
                req.status = &st;
                r = rpc_unary(sched_, &ak__v1__scheduler__descriptor, "Heartbeat", &req.base, &o, &resp, &err);
                if (r == RPC_OK)
                        heartbeats++;
        }
        if (resp)
                protobuf_c_message_free_unpacked(resp, nullptr);
        return r;
}

void FakeExecutor::HeartbeatLoop()
{
        bool registered = last_register_code == RPC_OK;
        while (!stop_) {
                {
                        std::unique_lock<std::mutex> l(mu);
                        uint32_t ms = interval_ms_ ? interval_ms_.load() : 100;
                        cv_.wait_for(l, std::chrono::milliseconds(ms), [&] { return stop_.load(); });
                }
                if (stop_)
                        break;
                if (paused_)
                        continue;
                if (!registered) {
                        registered = SendStatus(true) == RPC_OK;
                        continue;
                }
                if (SendStatus(false) == RPC_NOT_FOUND)
                        registered = SendStatus(true) == RPC_OK;
        }
}

}  // namespace akt
