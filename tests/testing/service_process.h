// An ak service binary (ak-executor, ak-scheduler, ak-signer, ak-auditor) as
// a real child process for component tests and benchmarks: posix_spawn (the
// test runs gRPC threads), stdout and stderr to files, started when it says
// "listening on ADDR" or when a health check through lib/rpc answers, stopped
// with SIGTERM (SIGKILL after 30 s) and reaped. Each object owns a short
// temporary directory (/tmp/aksvc.XXXXXX: Unix sockets, token files, logs)
// that its destructor removes after stopping the process.
//
// Not thread-safe: one object is used by one thread at a time.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

extern "C" {
#include "lib/rpc/rpc.h"
}

namespace aktest {

// A data dependency's path: under the test's runfiles (bazel test), or under
// the working directory, which `bazel run` makes the workspace's runfiles.
std::string Runfile(const std::string &rel);
// ak-<name> ("scheduler", ...): $AK_<NAME>_BIN when set, else
// Runfile("services/<name>/ak-<name>").
std::string Binary(const std::string &name);
// The whole file at `path` ("" when it cannot be read).
std::string Slurp(const std::string &path);
// Writes `text` to `path` with `mode`, replacing it atomically (a gtest
// failure when it cannot).
void WriteFile(const std::string &path, const std::string &text, unsigned mode = 0600);
// A TCP port free right now on loopback (127.0.0.1, or ::1 with ipv6):
// bound, then closed. -1 when none can be bound.
int FreePort(bool ipv6 = false);
// How many processes' command lines mention `s` (a test's directory, say).
int ProcessesMentioning(const std::string &s);

class ServiceProcess {
      public:
        // `name` is the service ("scheduler"): the binary of the
        // Start(args, target, tls) form and the name in messages.
        explicit ServiceProcess(const std::string &name = "service");
        ~ServiceProcess();  // Stop(), then removes the private directory
        ServiceProcess(const ServiceProcess &) = delete;
        ServiceProcess &operator=(const ServiceProcess &) = delete;

        // Starts `args` (args[0] is the binary's path) with stdout in
        // <dir>/<tag>.out and stderr in <dir>/<tag>.err, and waits up to 60 s
        // for "listening on ADDR" in either, which it keeps in `addr` (ak-auditor
        // and ak-scheduler's "127.0.0.1:0 (port N)" becomes 127.0.0.1:N).
        // False, without a gtest failure, when it exits or never says so: the
        // caller asserts, with Slurp(err) as the message.
        bool Start(const std::vector<std::string> &args, const std::string &dir, const std::string &tag);
        // Starts ak-<name> with `args` (no binary) and stdout/stderr in the
        // private directory, and waits up to 30 s until a health check on
        // `target` answers (through `tls` when given; for a "unix:" target,
        // once the socket exists: a channel that failed to connect backs off).
        // False with a gtest failure (naming the log) when it does not.
        bool Start(const std::vector<std::string> &args, const std::string &target,
                   const struct rpc_tls *tls = nullptr);
        void Signal(int sig);  // nothing when it is not running
        // SIGTERM, then waits; after 30 s a gtest failure and SIGKILL. Returns
        // the status waitpid gives (0: it exited 0), or -1 when not running.
        int Stop();

        // A file in the private directory ("unix:" + Path("s") to listen).
        std::string Path(const std::string &name) const { return dir_ + "/" + name; }
        std::string Log() const { return Slurp(err); }  // stderr so far
        // Waits up to 10 s for `text` in stderr.
        bool WaitLog(const std::string &text) const;

        // Running child, or -1. A test that kills and reaps it itself sets -1.
        pid_t pid = -1;
        std::string out, err;            // paths of its stdout and stderr files
        std::string addr;                // the "listening on" address
        std::vector<std::string> argv;   // what it was started with

      private:
        bool Spawn(const std::vector<std::string> &args);
        std::string name_, dir_;
};

}  // namespace aktest
