// Test harness: starts the built ak-guest on a Unix socket under a short
// /tmp directory and talks to it through the public protocol library.
// Everything it starts is killed and reaped by Stop() / the destructor.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

extern "C" {
#include "lib/guest/frame.h"
#include "lib/guest/protocol.h"
}

namespace akt {

// Path of the ak-guest binary among the test's runfiles.
std::string AgentBinary();

class Agent {
 public:
  ~Agent() { Stop(); }
  // Starts the agent with extra arguments; returns false (with a gtest
  // failure) if its socket does not come up in 10 s.
  bool Start(const std::vector<std::string>& extra = {});
  // SIGTERM, wait up to 5 s, then SIGKILL; returns the wait status.
  int Stop();
  // Waits up to timeout_ms for the agent to exit by itself; -1 on timeout.
  int WaitExit(int timeout_ms);
  pid_t pid() const { return pid_; }
  const std::string& socket_path() const { return sock_; }
  const std::string& dir() const { return dir_; }
  // A new connection (blocking fd, CLOEXEC); -1 on failure.
  int Connect() const;

 private:
  pid_t pid_ = -1;
  std::string dir_, sock_;
};

struct Reply {
  int err = 0;  // 0, or the -errno of reading/parsing the frame
  std::string raw;
  std::string id, stdout_s, stderr_s, error, content_base64, session_id, output_base64, shell_event,
      stream;
  bool has_exit_code = false, has_error = false, has_stdout = false;
  int exit_code = 0;
  bool truncated = false, timed_out = false;
  int signal = 0;
};

// A request in builder form: the JSON is written by proto_request_write.
struct Req {
  std::string id = "1", type = "ping";
  std::vector<std::string> command;
  bool has_command = false;
  std::map<std::string, std::string> env;
  std::string cwd, path, content_base64, session_id, input_base64;
  int recursive = -1, rows = -1, cols = -1, stream = -1;
  long long timeout_ms = -1, max_output_bytes = -1, uid = -1, gid = -1;
  int stdin_pipe = -1, eof = -1, mode = -1;
  Req& Cmd(std::vector<std::string> c) {
    command = std::move(c);
    has_command = true;
    return *this;
  }
};

std::string ToJson(const Req& r);
int SendRaw(int fd, const std::string& body);
int SendReq(int fd, const Req& r);
Reply Recv(int fd, int timeout_ms = 10000);
Reply Call(int fd, const Req& r, int timeout_ms = 10000);
std::string B64(const std::string& s);
std::string UnB64(const std::string& s);

}  // namespace akt
