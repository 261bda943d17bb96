// What an executor's state directory and /proc say about its VMs, for the
// component tests that restart executors around them (executor_adopt*).
#pragma once

#include <dirent.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

namespace aktest {

// Whether pid runs (a zombie does not).
inline bool ProcAlive(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  std::getline(f, s);
  size_t p = s.rfind(')');
  return !s.empty() && p != std::string::npos && p + 2 < s.size() && s[p + 2] != 'Z';
}

// How many VM directories are left in state/v once it is empty or 10 s
// have passed: a VM's directory goes when its supervisor has been reaped,
// which may be a moment after the removal answered.
inline int VmDirsLeft(const std::string& state) {
  int left = 0;
  for (int i = 0; i < 100; i++) {
    left = 0;
    DIR* d = opendir((state + "/v").c_str());
    while (d)
      if (struct dirent* e = readdir(d)) {
        if (e->d_name[0] != '.') left++;
      } else {
        break;
      }
    if (d) closedir(d);
    if (left == 0) break;
    usleep(100000);
  }
  return left;
}

// Every VM directory under state/v with the supervisor (ak-vmm) pid its
// vm.json records: (directory, pid); a directory without a record is left
// out.
inline std::vector<std::pair<std::string, pid_t>> VmSupervisors(const std::string& state) {
  std::vector<std::pair<std::string, pid_t>> out;
  DIR* d = opendir((state + "/v").c_str());
  while (d)
    if (struct dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::string dir = state + "/v/" + e->d_name;
      std::ifstream f(dir + "/vm.json");
      std::string rec((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      size_t p = rec.find("\"pid\":");
      if (p == std::string::npos) continue;
      p += 6;
      while (p < rec.size() && rec[p] == ' ') p++;
      out.emplace_back(dir, static_cast<pid_t>(atoi(rec.c_str() + p)));
    } else {
      break;
    }
  if (d) closedir(d);
  return out;
}

}  // namespace aktest
