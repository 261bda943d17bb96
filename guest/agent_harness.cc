#include "guest/agent_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "lib/encoding/base64.h"

namespace akt {

std::string AgentBinary() {
  if (const char* p = getenv("AK_GUEST_BIN")) return p;
  if (const char* d = getenv("TEST_SRCDIR")) {
    std::string ws = getenv("TEST_WORKSPACE") ? getenv("TEST_WORKSPACE") : "ak";
    return std::string(d) + "/" + ws + "/guest/ak-guest";
  }
  return "guest/ak-guest";
}

static void SleepMs(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, nullptr);
}

bool Agent::Start(const std::vector<std::string>& extra) {
  char tmpl[] = "/tmp/akg.XXXXXX";
  if (!mkdtemp(tmpl)) {
    ADD_FAILURE() << "mkdtemp: " << strerror(errno);
    return false;
  }
  dir_ = tmpl;
  sock_ = dir_ + "/s";
  std::string bin = AgentBinary();
  std::vector<std::string> args = {bin, "--listen", "unix:" + sock_};
  args.insert(args.end(), extra.begin(), extra.end());
  pid_ = fork();
  if (pid_ < 0) {
    ADD_FAILURE() << "fork: " << strerror(errno);
    return false;
  }
  if (pid_ == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  for (int i = 0; i < 1000; i++) {
    int fd = Connect();
    if (fd >= 0) {
      close(fd);
      return true;
    }
    int st;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      ADD_FAILURE() << "agent " << bin << " exited early, status " << st;
      return false;
    }
    SleepMs(10);
  }
  ADD_FAILURE() << "agent socket " << sock_ << " never came up";
  return false;
}

int Agent::WaitExit(int timeout_ms) {
  if (pid_ < 0) return -1;
  for (int i = 0; i < timeout_ms / 5 + 1; i++) {
    int st;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return st;
    }
    SleepMs(5);
  }
  return -1;
}

int Agent::Stop() {
  int st = -1;
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    st = WaitExit(5000);
    if (st == -1 && pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &st, 0);
      pid_ = -1;
    }
  }
  if (!dir_.empty()) {
    std::string cmd = "rm -rf '" + dir_ + "'";
    if (system(cmd.c_str()) != 0) {
    }
    dir_.clear();
  }
  return st;
}

int Agent::Connect() const {
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (sock_.size() >= sizeof(addr.sun_path)) return -1;
  memcpy(addr.sun_path, sock_.c_str(), sock_.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr*)&addr, sizeof(addr)) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

std::string ToJson(const Req& r) {
  std::vector<const char*> cmd, keys, vals;
  for (auto& c : r.command) cmd.push_back(c.c_str());
  for (auto& kv : r.env) {
    keys.push_back(kv.first.c_str());
    vals.push_back(kv.second.c_str());
  }
  struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
  a.id = r.id.c_str();
  a.type = r.type.c_str();
  if (r.has_command) {
    static const char* const kNone[1] = {nullptr};
    a.command = cmd.empty() ? kNone : cmd.data();
    a.n_command = cmd.size();
  }
  if (!r.env.empty()) {
    a.env_keys = keys.data();
    a.env_values = vals.data();
    a.n_env = keys.size();
  }
  if (!r.cwd.empty()) a.cwd = r.cwd.c_str();
  if (!r.path.empty()) a.path = r.path.c_str();
  if (!r.content_base64.empty()) a.content_base64 = r.content_base64.c_str();
  if (!r.session_id.empty()) a.session_id = r.session_id.c_str();
  if (!r.input_base64.empty() || r.type == "shell_input") a.input_base64 = r.input_base64.c_str();
  a.recursive = r.recursive;
  a.rows = r.rows;
  a.cols = r.cols;
  a.stream = r.stream;
  a.timeout_ms = r.timeout_ms;
  a.max_output_bytes = r.max_output_bytes;
  a.stdin_pipe = r.stdin_pipe;
  a.eof = r.eof;
  a.mode = r.mode;
  a.uid = r.uid;
  a.gid = r.gid;
  char* json;
  size_t len;
  if (proto_request_json(&a, &json, &len) < 0) return "<no memory>";
  std::string out(json, len);
  free(json);
  return out;
}

int SendRaw(int fd, const std::string& body) { return frame_write(fd, body.data(), body.size(), 10000); }

int SendReq(int fd, const Req& r) { return SendRaw(fd, ToJson(r)); }

Reply Recv(int fd, int timeout_ms) {
  Reply rep;
  uint8_t* body;
  size_t len;
  int e = frame_read(fd, FRAME_MAX, timeout_ms, &body, &len);
  if (e < 0) {
    rep.err = e;
    return rep;
  }
  rep.raw.assign((char*)body, len);
  struct proto_reply* p;
  e = proto_reply_parse(body, len, &p);
  free(body);
  if (e < 0) {
    rep.err = e;
    return rep;
  }
  rep.id = p->id;
  if (p->stdout_str) {
    rep.has_stdout = true;
    rep.stdout_s.assign(p->stdout_str, p->stdout_len);
  }
  if (p->stderr_str) rep.stderr_s.assign(p->stderr_str, p->stderr_len);
  if (p->error) {
    rep.has_error = true;
    rep.error = p->error;
  }
  if (p->content_base64) rep.content_base64 = p->content_base64;
  if (p->session_id) rep.session_id = p->session_id;
  if (p->output_base64) rep.output_base64 = p->output_base64;
  if (p->shell_event) rep.shell_event = p->shell_event;
  if (p->stream) rep.stream = p->stream;
  rep.has_exit_code = p->has_exit_code;
  rep.exit_code = p->exit_code;
  rep.truncated = p->truncated;
  rep.timed_out = p->timed_out;
  rep.signal = p->signal;
  proto_reply_free(p);
  return rep;
}

Reply Call(int fd, const Req& r, int timeout_ms) {
  int e = SendReq(fd, r);
  if (e < 0) {
    Reply rep;
    rep.err = e;
    return rep;
  }
  return Recv(fd, timeout_ms);
}

std::string B64(const std::string& s) {
  char* p;
  if (base64_encode_alloc(s.data(), s.size(), &p) < 0) return "<no memory>";
  std::string out(p);
  free(p);
  return out;
}

std::string UnB64(const std::string& s) {
  uint8_t* p;
  size_t n;
  if (base64_decode_alloc(s.data(), s.size(), &p, &n) < 0) return "<bad base64>";
  std::string out((char*)p, n);
  free(p);
  return out;
}

}  // namespace akt
