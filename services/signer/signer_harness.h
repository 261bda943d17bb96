// ak-signer as a real process on loopback, for the component tests.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "lib/rpc/rpc.h"

namespace signer_test {

// Where the built ak-signer is (the test's runfiles).
std::string SignerBinary();

struct RunResult {
        int exit_code = -1; // -1: killed by a signal
        std::string out, err;
};

// Runs ak-signer ARGS to completion (for --rotate and refusals), 20 s at most.
RunResult RunSigner(const std::vector<std::string> &args);

// A serving ak-signer: Start() spawns it with --listen 127.0.0.1:0 and waits
// for its "listening on" line; Stop() (or the destructor) sends SIGTERM and
// reaps it. stdout and stderr go to files in a directory of its own.
class Signer {
      public:
        ~Signer();
        // false (and a test failure) if it did not come up; then Output() says why.
        // tls: how Channel() connects (NULL: plaintext).
        bool Start(const std::vector<std::string> &args, const struct rpc_tls *tls = nullptr);
        // SIGTERM, wait; returns the exit code (-1 if it had to be killed).
        int Stop();
        bool Running() const { return pid_ > 0; }
        const std::string &Address() const { return addr_; }
        struct rpc_channel *Channel() const { return ch_; }
        // Everything it printed so far, stdout then stderr.
        std::string Output() const;

      private:
        pid_t pid_ = -1;
        std::string dir_, addr_;
        struct rpc_channel *ch_ = nullptr;
};

// Reads a whole file ("" if missing).
std::string ReadFile(const std::string &path);
// Writes a file with this mode (after umask: chmod'ed explicitly).
bool WriteFile(const std::string &path, const std::string &data, unsigned mode);
// A new directory under /tmp; RemoveTree deletes it.
std::string TempDir(const char *prefix);
void RemoveTree(const std::string &dir);

} // namespace signer_test
