// A fake executor for the scheduler's component tests: a real lib/rpc server
// implementing ak.v1.Executor with canned behaviour, which registers with the
// scheduler and heartbeats its status through the real client, as
// ak-executor does. What each method does is documented on the class.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "lib/rpc/rpc.h"
}

namespace akt {

// Exec's argv[0] picks the behaviour:
//   echo ARGS...  one stdout chunk "<id>: ARGS", then a result (exit 0)
//   steps N       N stdout chunks "step i"; before chunk i+1 waits for
//                 Ack(i) from the test (up to 5 s, counted in step_timeouts)
//   hang          one stdout chunk "started", then waits until cancelled
//   silent        waits until cancelled without sending anything
//   fail          FAILED_PRECONDITION "sandbox NAME is stopped"
// Run: "ran on <id>" and a result (exit 0); with argv "sleep MS" it holds
// the run MS milliseconds first (or until cancelled).
// GetStatus answers its id and address.
// Every call is logged as "Method NAME" (NAME: the sandbox; GetStatus: none).
class FakeExecutor {
      public:
        struct Options {
                std::string id;
                std::map<std::string, std::string> labels;
                uint32_t vcpus = 8;
                uint64_t memory_mb = 8192;
                std::string token;       // sent to the scheduler
                const struct rpc_tls *tls = nullptr;  // to the scheduler
                const struct rpc_tls *serve_tls = nullptr;  // its own server
                std::string require_token;  // callers must send it (Bearer)
                std::string listen = "127.0.0.1:0";  // or "unix:/path"
                // Its channel to the scheduler fails over (lib/rpc), as
                // ak-executor's, and Register/Heartbeat are idempotent.
                bool failover = false;
        };
        explicit FakeExecutor(const Options &opts);
        ~FakeExecutor();

        // Listens on loopback, then registers with `scheduler` and keeps
        // heartbeating (re-registering on NOT_FOUND). Returns the register
        // call's status.
        int Start(const std::string &scheduler);
        // Shuts the server down (in-flight calls are cancelled) and stops
        // heartbeating: the executor is gone.
        void Kill();
        void PauseHeartbeats(bool paused) { paused_ = paused; }
        // A sandbox made on the executor directly, not through the scheduler.
        void AddSandbox(const std::string &name);

        void Ack(int step);
        std::vector<std::string> Calls();
        bool Saw(const std::string &call);
        const std::string &id() const { return opts_.id; }
        const std::string &address() const { return address_; }
        size_t SandboxCount();

        std::atomic<int> registrations{0};
        std::atomic<int> heartbeats{0};
        std::atomic<int> cancelled_seen{0};
        std::atomic<int> step_timeouts{0};
        std::atomic<int64_t> last_remaining_ms{-1};
        std::atomic<int64_t> last_remaining_at_ms{0};  // ak_mono_ms() when it was read
        std::atomic<int> last_register_code{-1};

        // Internal, for the handlers.
        struct Sandbox {
                std::string name;
                int state;
                std::string tenant;  // spec.tenant as created (kept, as the real executor does)
                uint32_t vcpus = 1;  // spec.vcpus as created (0: 1), reported as allocated
        };
        void Log(const std::string &s);
        const Options &options() const { return opts_; }
        bool WaitAck(int step, struct rpc_call *call);
        std::mutex mu;
        std::map<std::string, Sandbox> sandboxes;

      private:
        void HeartbeatLoop();
        int SendStatus(bool reg);

        Options opts_;
        struct rpc_server *srv_ = nullptr;
        struct rpc_channel *sched_ = nullptr;
        std::string address_;
        std::thread hb_;
        std::atomic<bool> stop_{false};
        std::atomic<bool> paused_{false};
        std::atomic<uint32_t> interval_ms_{100};
        std::condition_variable cv_;
        int acked_ = -1;
        std::vector<std::string> calls_;
};

}  // namespace akt
