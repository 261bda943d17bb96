#include "services/scheduler/testing/scheduler_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

extern "C" {
#include "protos/ak/v1/scheduler.pb-c.h"
}

extern char **environ;

namespace akt {

std::string SchedulerBinary()
{
        if (const char *p = getenv("AK_SCHEDULER_BIN"))
                return p;
        if (const char *d = getenv("TEST_SRCDIR")) {
                std::string ws = getenv("TEST_WORKSPACE") ? getenv("TEST_WORKSPACE") : "ak";
                return std::string(d) + "/" + ws + "/services/scheduler/ak-scheduler";
        }
        return "services/scheduler/ak-scheduler";
}

SchedulerProcess::SchedulerProcess()
{
        char tmpl[] = "/tmp/aksch.XXXXXX";
        if (!mkdtemp(tmpl))
                ADD_FAILURE() << "mkdtemp: " << strerror(errno);
        dir_ = tmpl;
        address_ = "unix:" + dir_ + "/s";
}

SchedulerProcess::~SchedulerProcess()
{
        if (pid_ > 0)
                Stop();
        std::string cmd = "rm -rf '" + dir_ + "'";
        if (system(cmd.c_str()) != 0)
                ADD_FAILURE() << "could not remove " << dir_;
}

bool SchedulerProcess::Start(const std::vector<std::string> &extra, const struct rpc_tls *tls)
{
        std::string bin = SchedulerBinary();
        std::vector<std::string> args = {bin, "--listen", address_};
        args.insert(args.end(), extra.begin(), extra.end());
        std::vector<char *> argv;
        for (auto &a : args)
                argv.push_back(const_cast<char *>(a.c_str()));
        argv.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        std::string log = Path("stderr.log");
        posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        int r = posix_spawn(&pid_, bin.c_str(), &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0) {
                pid_ = -1;
                ADD_FAILURE() << "posix_spawn " << bin << ": " << strerror(r);
                return false;
        }
        // A channel that failed to connect backs off for seconds: wait for
        // the socket file, then ask a fresh channel each time.
        std::string sock = dir_ + "/s";
        struct ak_error err = {};
        bool up = false;
        for (int i = 0; i < 1000 && !up; i++) {
                int st;
                if (waitpid(pid_, &st, WNOHANG) == pid_) {
                        pid_ = -1;
                        ADD_FAILURE() << "ak-scheduler exited early (status " << st << "): " << Log();
                        return false;
                }
                if (access(sock.c_str(), F_OK) == 0) {
                        struct rpc_channel *ch;
                        if (rpc_channel_new(address_.c_str(), tls, &ch, &err) < 0) {
                                ADD_FAILURE() << err.msg;
                                return false;
                        }
                        up = rpc_health_check(ch, "", 1000, &err) == RPC_OK;
                        rpc_channel_free(ch);
                }
                if (!up)
                        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (!up)
                ADD_FAILURE() << "ak-scheduler never answered its health check: " << err.msg << "\n" << Log();
        return up;
}

int SchedulerProcess::Stop()
{
        if (pid_ <= 0)
                return -1;
        kill(pid_, SIGTERM);
        int st = -1;
        for (int i = 0; i < 3000; i++) {
                if (waitpid(pid_, &st, WNOHANG) == pid_) {
                        pid_ = -1;
                        return st;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ADD_FAILURE() << "ak-scheduler ignored SIGTERM for 30 s; killing it";
        kill(pid_, SIGKILL);
        waitpid(pid_, &st, 0);
        pid_ = -1;
        return st;
}

std::string SchedulerProcess::Log() const
{
        std::ifstream f(Path("stderr.log"));
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
}

Client::Client(const std::string &target, const std::string &token, const struct rpc_tls *tls)
    : token_(token)
{
        struct ak_error err;
        if (rpc_channel_new(target.c_str(), tls, &ch_, &err) < 0)
                ADD_FAILURE() << err.msg;
}

Client::~Client()
{
        rpc_channel_free(ch_);
}

int Client::Call(const char *method, const ProtobufCMessage *req, ProtobufCMessage **resp,
                 std::string *err_out, int64_t timeout_ms)
{
        struct rpc_call_options o = {};
        o.timeout_ms = timeout_ms;
        o.bearer_token = token_.empty() ? nullptr : token_.c_str();
        ProtobufCMessage *r = nullptr;
        struct ak_error err = {};
        int code = rpc_unary(ch_, &ak__v1__scheduler__descriptor, method, req, &o, &r, &err);
        if (err_out)
                *err_out = code == RPC_OK ? "" : err.msg;
        if (resp)
                *resp = r;
        else if (r)
                protobuf_c_message_free_unpacked(r, nullptr);
        return code;
}

int Client::Open(const char *method, const ProtobufCMessage *req, struct rpc_stream **st, int64_t timeout_ms)
{
        struct rpc_call_options o = {};
        o.timeout_ms = timeout_ms;
        o.bearer_token = token_.empty() ? nullptr : token_.c_str();
        struct ak_error err;
        return rpc_stream_open(ch_, &ak__v1__scheduler__descriptor, method, req, &o, st, &err);
}

}  // namespace akt
