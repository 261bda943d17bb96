// Any ak service as a real child process for fleet tests: posix_spawn (the
// test runs gRPC threads), its own short temporary directory for sockets,
// token files and certificates, stderr kept in a file, killed and reaped by
// the destructor.
#ifndef AK_TESTS_FLEET_SERVICE_PROCESS_H
#define AK_TESTS_FLEET_SERVICE_PROCESS_H

#include <sys/types.h>

#include <string>
#include <vector>

extern "C" {
#include "lib/rpc/rpc.h"
}

namespace fleet {

// The path of `rel` ("cli/ak") in the test's runfiles.
std::string Runfile(const std::string &rel);
// The path of ak-<name> ("scheduler", ...) in the test's runfiles.
std::string Binary(const std::string &name);

class ServiceProcess {
      public:
        explicit ServiceProcess(const std::string &name);
        ~ServiceProcess();  // Stop() and removes the directory

        // Starts ak-<name> with `args` and waits until a health check on
        // `target` answers (through `tls` when given). False with a gtest
        // failure when it exits or does not answer within 20 s.
        bool Start(const std::vector<std::string> &args, const std::string &target,
                   const struct rpc_tls *tls = nullptr);
        void Signal(int sig);
        int Stop();  // SIGTERM, then the status waitpid gives
        // A file in the private directory ("unix:" + Path("s") to listen).
        std::string Path(const std::string &name) const { return dir_ + "/" + name; }
        std::string Log() const;  // stderr so far
        // Waits up to 10 s for `text` in the log.
        bool WaitLog(const std::string &text) const;

      private:
        std::string name_, dir_;
        pid_t pid_ = -1;
};

// Writes `text` to `path` with `mode` (replacing it).
void WriteFile(const std::string &path, const std::string &text, unsigned mode = 0600);

}  // namespace fleet

#endif
