// ak-guest run on the host (no VM) behind a hybrid-vsock front: a Unix
// socket that takes "CONNECT <port>\n", answers "OK 1\n" and then splices
// bytes to the agent. Give front_sock to ak-executor's --test-guest seam
// and its sandbox runs commands for real, in a fraction of a boot's time.
// The commands run on the host as the test's user: only for tests and
// benchmarks.
//
// Not thread-safe: one object per test; the destructor stops the agent.
#pragma once

#include <sys/types.h>

#include <string>
#include <thread>

namespace aktest {

class HostGuest {
      public:
        HostGuest() = default;
        ~HostGuest();
        HostGuest(const HostGuest &) = delete;
        HostGuest &operator=(const HostGuest &) = delete;

        // Starts the agent binary (guest/ak-guest) listening on
        // <dir>/agent.sock and the front on <dir>/hg.sock; false when either
        // does not come up. dir must be short (sun_path).
        bool Start(const std::string &agent_bin, const std::string &dir);

        std::string agent_sock, front_sock;

      private:
        void Serve(int c);
        pid_t agent_ = -1;
        int listen_fd_ = -1;
        std::thread acceptor_;
};

}  // namespace aktest
