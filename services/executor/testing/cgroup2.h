// cgroup v2 directories for the tests of ak-executor --vm-cgroup: where the
// host's cgroup2 hierarchy is mounted, and a "container" cgroup that a test
// puts a process into and then stops as a container runtime does (runc,
// crun: write 1 into cgroup.kill, or SIGKILL every pid in cgroup.procs).
#pragma once

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace aktest {

// The mount point of the cgroup2 hierarchy ("" when there is none):
// /sys/fs/cgroup on a unified host, /sys/fs/cgroup/unified on a hybrid one.
inline std::string Cgroup2Mount() {
  std::ifstream f("/proc/self/mounts");
  std::string dev, dir, type, rest;
  while (f >> dev >> dir >> type && std::getline(f, rest))
    if (type == "cgroup2") return dir;
  return "";
}

// The pids in dir/cgroup.procs.
inline std::vector<pid_t> CgroupProcs(const std::string& dir) {
  std::ifstream f(dir + "/cgroup.procs");
  std::vector<pid_t> out;
  for (pid_t p; f >> p;) out.push_back(p);
  return out;
}

inline bool CgroupHas(const std::string& dir, pid_t pid) {
  for (pid_t p : CgroupProcs(dir))
    if (p == pid) return true;
  return false;
}

// Writes text into a cgroup file: 0 or errno.
inline int CgroupWrite(const std::string& path, const std::string& text) {
  FILE* f = fopen(path.c_str(), "we");
  if (!f) return errno;
  int r = fputs(text.c_str(), f) < 0 ? errno : 0;
  if (fclose(f) != 0 && !r) r = errno;
  return r;
}

// rmdir of a cgroup, retried for 5 s while its processes finish exiting.
inline bool CgroupRemove(const std::string& dir) {
  for (int i = 0; i < 500; i++) {
    if (rmdir(dir.c_str()) == 0 || errno == ENOENT) return true;
    if (errno != EBUSY) return false;
    usleep(10000);
  }
  return false;
}

// A container's cgroup: made by Make, removed by the destructor.
class FakeContainer {
 public:
  FakeContainer() = default;
  FakeContainer(const FakeContainer&) = delete;
  FakeContainer& operator=(const FakeContainer&) = delete;
  ~FakeContainer() {
    if (!dir.empty()) CgroupRemove(dir);
  }
  // mkdir at path: "" or what failed.
  std::string Make(const std::string& path) {
    if (mkdir(path.c_str(), 0755) < 0) return "mkdir " + path + ": " + strerror(errno);
    dir = path;
    return "";
  }
  // Moves pid (the whole process) in: "" or what failed.
  std::string Add(pid_t pid) {
    int r = CgroupWrite(dir + "/cgroup.procs", std::to_string(pid));
    return r ? "move " + std::to_string(pid) + " into " + dir + ": " + strerror(r) : "";
  }
  // The container stops: cgroup.kill (Linux 5.14+), as runc does where it
  // can. "" or what failed.
  std::string Kill() {
    int r = CgroupWrite(dir + "/cgroup.kill", "1");
    return r ? "write 1 into " + dir + "/cgroup.kill: " + strerror(r) : "";
  }
  // The older way: SIGKILL to every pid listed (repeated until none is).
  void KillEach() {
    for (int round = 0; round < 50; round++) {
      std::vector<pid_t> procs = CgroupProcs(dir);
      if (procs.empty()) return;
      for (pid_t p : procs) kill(p, SIGKILL);
      usleep(20000);
    }
  }
  std::string dir;
};

}  // namespace aktest
