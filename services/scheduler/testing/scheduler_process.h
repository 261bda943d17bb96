// ak-scheduler as a real process for component tests, listening on a Unix
// socket in a short temporary directory, and a client for it through the
// real lib/rpc client.
#pragma once

#include <string>
#include <vector>

#include "tests/testing/service_process.h"

extern "C" {
#include "lib/rpc/rpc.h"
}

namespace akt {

// ak-scheduler --listen unix:<its directory>/s, started until its health
// check answers (tests/testing/service_process.h does the work).
class SchedulerProcess : public aktest::ServiceProcess {
      public:
        SchedulerProcess() : ServiceProcess("scheduler") {}

        // Starts ak-scheduler --listen <address()> plus `args`, and waits
        // until its health check answers. False (with a gtest failure) if not.
        bool Start(const std::vector<std::string> &args, const struct rpc_tls *tls = nullptr)
        {
                std::vector<std::string> a = {"--listen", address()};
                a.insert(a.end(), args.begin(), args.end());
                return ServiceProcess::Start(a, address(), tls);
        }
        // Where it listens: "unix:<dir>/s".
        std::string address() const { return "unix:" + Path("s"); }
};

// One client call helper per test: a channel to the scheduler and a token.
class Client {
      public:
        explicit Client(const std::string &target, const std::string &token = "",
                        const struct rpc_tls *tls = nullptr);
        ~Client();
        // Unary Scheduler.`method`; *resp is freed by the caller (nullptr ok
        // to drop it). err gets the message.
        int Call(const char *method, const ProtobufCMessage *req, ProtobufCMessage **resp = nullptr,
                 std::string *err = nullptr, int64_t timeout_ms = 10000);
        int Open(const char *method, const ProtobufCMessage *req, struct rpc_stream **st,
                 int64_t timeout_ms = 10000);
        struct rpc_channel *channel() { return ch_; }
        void set_token(const std::string &t) { token_ = t; }
        // Every call names tenant t in x-ak-tenant ("" : none).
        void set_tenant(const std::string &t) { tenant_ = t; }

      private:
        struct rpc_channel *ch_ = nullptr;
        std::string token_;
        std::string tenant_;
};

}  // namespace akt
