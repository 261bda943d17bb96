// A service binary (ak-executor, ak-signer, ak-auditor, ak-scheduler) as a
// child process for component tests: stdout/stderr to files, Start waits for
// its "listening on ADDR" line, Stop sends SIGTERM, then SIGKILL, and reaps.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace aktest {

// A data dependency's path: under the test's runfiles (bazel test), or under
// the working directory, which `bazel run` makes the workspace's runfiles.
inline std::string Runfile(const std::string& rel) {
  const char* s = getenv("TEST_SRCDIR");
  if (!s) s = getenv("RUNFILES_DIR");
  if (!s) return rel;
  const char* w = getenv("TEST_WORKSPACE");
  return std::string(s) + "/" + (w ? w : "ak") + "/" + rel;
}

inline std::string Slurp(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct Proc {
  pid_t pid = -1;
  std::string out, err, addr;
  std::vector<std::string> argv;
  // Waits up to 60 s for "listening on ADDR" (ADDR ends at a space or newline).
  bool Start(const std::vector<std::string>& args, const std::string& dir, const std::string& tag) {
    argv = args;
    out = dir + "/" + tag + ".out";
    err = dir + "/" + tag + ".err";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    int r = posix_spawn(&pid, a[0], &fa, nullptr, a.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (r != 0) return false;
    for (int i = 0; i < 600; i++) {
      std::string o = Slurp(out) + Slurp(err);
      size_t at = o.find("listening on ");
      if (at != std::string::npos) {
        size_t end = o.find_first_of(" \n", at + 13);
        if (end != std::string::npos) {
          addr = o.substr(at + 13, end - at - 13);
          if (!addr.empty() && addr.back() == ':') addr.pop_back();
          // ak-auditor and ak-scheduler say "listening on 127.0.0.1:0 (port N)".
          size_t port = o.find(" (port ", end);
          if (port == end && addr.size() > 2 && addr.compare(addr.size() - 2, 2, ":0") == 0)
            addr = addr.substr(0, addr.size() - 1) + std::to_string(atoi(o.c_str() + port + 7));
          return true;
        }
      }
      int st;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        pid = -1;
        return false;
      }
      usleep(100000);
    }
    return false;
  }
  // Exit status, or -1 when it had to be killed or was not running.
  int Stop() {
    if (pid <= 0) return -1;
    kill(pid, SIGTERM);
    int st = 0;
    pid_t w = 0;
    for (int i = 0; i < 300 && (w = waitpid(pid, &st, WNOHANG)) == 0; i++) usleep(100000);
    if (w == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      st = -1;
    }
    pid = -1;
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
};

// Processes whose command line mentions s (a test's directory, say).
inline int ProcessesMentioning(const std::string& s) {
  int n = 0;
  DIR* d = opendir("/proc");
  while (struct dirent* e = d ? readdir(d) : nullptr) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::string cl = Slurp(std::string("/proc/") + e->d_name + "/cmdline");
    for (auto& c : cl)
      if (!c) c = ' ';
    if (cl.find(s) != std::string::npos) n++;
  }
  if (d) closedir(d);
  return n;
}

}  // namespace aktest
