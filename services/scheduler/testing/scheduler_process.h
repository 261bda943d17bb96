// ak-scheduler as a real process for component tests: started with
// posix_spawn (the test runs gRPC threads), listening on a Unix socket in a
// short temporary directory, reachable through the real lib/rpc client.
#ifndef AK_SCHEDULER_TESTING_SCHEDULER_PROCESS_H
#define AK_SCHEDULER_TESTING_SCHEDULER_PROCESS_H

#include <sys/types.h>

#include <string>
#include <vector>

extern "C" {
#include "lib/rpc/rpc.h"
}

namespace akt {

std::string SchedulerBinary();

class SchedulerProcess {
      public:
        SchedulerProcess();
        ~SchedulerProcess();  // Stop() and removes the directory

        // Starts ak-scheduler --listen <address()> plus `args`, and waits
        // until its health check answers. False (with a gtest failure) if not.
        bool Start(const std::vector<std::string> &args, const struct rpc_tls *tls = nullptr);
        // SIGTERM, then waits; returns the exit status as waitpid gives it.
        int Stop();
        // Where it listens: "unix:<dir>/s".
        const std::string &address() const { return address_; }
        // A file in the private directory (for token files, certificates).
        std::string Path(const std::string &name) const { return dir_ + "/" + name; }
        // Everything it wrote to stderr so far.
        std::string Log() const;

      private:
        std::string dir_, address_;
        pid_t pid_ = -1;
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

      private:
        struct rpc_channel *ch_ = nullptr;
        std::string token_;
};

}  // namespace akt

#endif
