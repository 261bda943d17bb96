// CPU cgroups on this host: a VM's cgroup takes its VMM process and, on
// cgroup v1, the thread that does its vsock work in our own process.
// Skipped by name where no writable cpu hierarchy exists.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

extern "C" {
#include "services/executor/cgroup.h"
}
#include "services/executor/testing/cgroup2.h"
#include "tests/testing/service_process.h"

extern char** environ;

namespace {

std::string CpuCgroupOf(const std::string& proc_cgroup) {
  std::ifstream f(proc_cgroup);
  std::string line;
  while (std::getline(f, line)) {
    // v1: "N:cpu,cpuacct:/path" or "N:cpu:/path"; v2: "0::/path".
    size_t a = line.find(':'), b = line.find(':', a + 1);
    std::string ctrls = line.substr(a + 1, b - a - 1);
    if (ctrls.empty() || ("," + ctrls + ",").find(",cpu,") != std::string::npos) return line.substr(b + 1);
  }
  return "";
}

TEST(Cgroup, BridgeThreadJoinsTheVmCgroup) {
  struct cgroup* cg = nullptr;
  struct ak_error err = {};
  if (cgroup_new(&cg, &err) < 0) GTEST_SKIP() << "no cpu cgroup here: " << err.msg;
  std::string root = cgroup_dir(cg);
  std::string rel = root.substr(root.find("/ak-executor-"));

  // The "VMM": a child process.
  pid_t child = -1;
  char sleep_path[] = "/bin/sleep", arg[] = "30";
  char* argv[] = {sleep_path, arg, nullptr};
  ASSERT_EQ(posix_spawn(&child, "/bin/sleep", nullptr, nullptr, argv, environ), 0);
  ASSERT_EQ(cgroup_limit(cg, "vm1", child, 50, &err), 0) << err.msg;

  // The "bridge": a thread of ours.
  std::atomic<pid_t> tid{0};
  std::atomic<bool> done{false};
  std::thread t([&] {
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    while (!done) usleep(1000);
  });
  while (!tid) usleep(1000);
  std::string task = "/proc/self/task/" + std::to_string(tid.load()) + "/cgroup";
  std::string before = CpuCgroupOf(task);
  int r = cgroup_add_thread(cg, "vm1", tid, &err);
  if (std::string(cgroup_kind(cg)) == "v2") {
    EXPECT_EQ(r, -EOPNOTSUPP);
    EXPECT_NE(std::string(err.msg).find("threaded"), std::string::npos) << err.msg;
  } else {
    ASSERT_EQ(r, 0) << err.msg;
    EXPECT_NE(before, rel + "/vm1");
    EXPECT_EQ(CpuCgroupOf(task), rel + "/vm1");
    // Only that thread: the rest of the process stays where it was.
    EXPECT_NE(CpuCgroupOf("/proc/self/task/" + std::to_string(getpid()) + "/cgroup"), rel + "/vm1");
  }
  EXPECT_EQ(CpuCgroupOf("/proc/" + std::to_string(child) + "/cgroup"), rel + "/vm1");
  EXPECT_EQ(cgroup_add_thread(cg, "a/b", tid, &err), -EINVAL);

  done = true;
  t.join();
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  cgroup_release(cg, "vm1");
  EXPECT_NE(access((root + "/vm1").c_str(), F_OK), 0) << "the VM cgroup stayed behind";
  cgroup_free(cg);
}

// A killed executor's cgroups: empty ones are swept by the next executor,
// one that still holds a process stays until it is empty; our own and a
// live executor's are never touched.
TEST(Cgroup, SweepRemovesWhatAKilledExecutorLeft) {
  struct cgroup* cg = nullptr;
  struct ak_error err = {};
  if (cgroup_new(&cg, &err) < 0) GTEST_SKIP() << "no cpu cgroup here: " << err.msg;
  std::string own = cgroup_dir(cg);
  std::string parent = own.substr(0, own.rfind('/'));
  pid_t gone[2];
  char true_path[] = "/bin/true";
  char* targv[] = {true_path, nullptr};
  for (pid_t& p : gone) {
    ASSERT_EQ(posix_spawn(&p, "/bin/true", nullptr, nullptr, targv, environ), 0);
    waitpid(p, nullptr, 0);
  }
  std::string empty = parent + "/ak-executor-" + std::to_string(gone[0]);
  std::string busy = parent + "/ak-executor-" + std::to_string(gone[1]);
  ASSERT_EQ(mkdir(empty.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((empty + "/vm3").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(busy.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((busy + "/vm4").c_str(), 0755), 0);
  pid_t child = -1;
  char sleep_path[] = "/bin/sleep", arg[] = "30";
  char* argv[] = {sleep_path, arg, nullptr};
  ASSERT_EQ(posix_spawn(&child, "/bin/sleep", nullptr, nullptr, argv, environ), 0);
  {
    std::ofstream procs(busy + "/vm4/cgroup.procs");
    procs << child << std::flush;
    ASSERT_TRUE(procs.good());
  }
  EXPECT_GE(cgroup_sweep(cg), 2);
  EXPECT_NE(access(empty.c_str(), F_OK), 0) << "an empty cgroup of a dead executor stayed";
  EXPECT_EQ(access((busy + "/vm4").c_str(), F_OK), 0) << "a cgroup with a process in it went";
  EXPECT_EQ(access(own.c_str(), F_OK), 0);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  for (int i = 0; i < 50 && access(busy.c_str(), F_OK) == 0; i++) {
    cgroup_sweep(cg);
    usleep(20000);
  }
  EXPECT_NE(access(busy.c_str(), F_OK), 0) << "emptied, it stayed";
  rmdir((busy + "/vm4").c_str());
  rmdir(busy.c_str());
  cgroup_free(cg);
}

// --vm-cgroup's home: made (parents too) on the cgroup2 mount; each VM
// gets a child that a process joins and leaves; sweeping takes empty VM
// children only; PATH itself stays. Refused: a relative path, "..", a
// path under kubepods, one that is not on a cgroup2 mount.
TEST(Cgroup, HomeOutsideTheExecutor) {
  std::string mount = aktest::Cgroup2Mount();
  if (mount.empty()) GTEST_SKIP() << "no cgroup2 mount";
  std::string base = mount + "/kcg-home-" + std::to_string(getpid());
  if (mkdir(base.c_str(), 0755) < 0) GTEST_SKIP() << "cannot make a cgroup: " << strerror(errno);
  std::string home = base + "/a/vms";
  struct cgroup* cg = nullptr;
  struct ak_error err = {};
  ASSERT_EQ(cgroup_new_home(home.c_str(), &cg, &err), 0) << err.msg;
  EXPECT_TRUE(cgroup_is_home(cg));
  EXPECT_STREQ(cgroup_dir(cg), home.c_str());
  EXPECT_STREQ(cgroup_kind(cg), "v2");
  // cpu where the hierarchy offers it (not on a hybrid host's v2 mount).
  bool offered = aktest::Slurp(mount + "/cgroup.subtree_control").find("cpu") != std::string::npos;
  if (!offered) {
    EXPECT_FALSE(cgroup_has_cpu(cg));
  }

  char dir[4096];
  ASSERT_EQ(cgroup_prepare(cg, "vm7", dir, sizeof(dir), &err), 0) << err.msg;
  EXPECT_EQ(std::string(dir), home + "/vm7");
  EXPECT_EQ(cgroup_prepare(cg, "../x", dir, sizeof(dir), &err), -EINVAL);
  pid_t child = -1;
  char sleep_path[] = "/bin/sleep", arg[] = "30";
  char* argv[] = {sleep_path, arg, nullptr};
  ASSERT_EQ(posix_spawn(&child, "/bin/sleep", nullptr, nullptr, argv, environ), 0);
  ASSERT_EQ(cgroup_enter(cg, "vm8", child, &err), 0) << err.msg;
  EXPECT_TRUE(aktest::CgroupHas(home + "/vm8", child));
  ASSERT_EQ(mkdir((home + "/other").c_str(), 0755), 0);
  // Sweep: the empty vm7 goes; vm8 (a process in it) and "other" stay.
  EXPECT_EQ(cgroup_sweep(cg), 1);
  EXPECT_NE(access((home + "/vm7").c_str(), F_OK), 0);
  EXPECT_EQ(access((home + "/vm8").c_str(), F_OK), 0);
  EXPECT_EQ(access((home + "/other").c_str(), F_OK), 0);
  kill(child, SIGKILL);
  cgroup_release(cg, "vm8");  // waits for the killed process to leave
  EXPECT_NE(access((home + "/vm8").c_str(), F_OK), 0) << "released with its process just killed, it stayed";
  waitpid(child, nullptr, 0);
  cgroup_free(cg);
  EXPECT_EQ(access(home.c_str(), F_OK), 0) << "PATH is the operator's: it stays";
  // Made again over an existing PATH: fine.
  ASSERT_EQ(cgroup_new_home(home.c_str(), &cg, &err), 0) << err.msg;
  cgroup_free(cg);

  const std::string bad[] = {"relative/vms", home + "/../x", mount + "/kubepods.slice/vms", "/tmp/kcg-not-cgroup"};
  for (const std::string& b : bad) {
    cg = nullptr;
    EXPECT_LT(cgroup_new_home(b.c_str(), &cg, &err), 0) << b;
    EXPECT_EQ(cg, nullptr);
    EXPECT_NE(std::string(err.msg).find("--vm-cgroup " + b), std::string::npos) << err.msg;
  }
  EXPECT_NE(access("/tmp/kcg-not-cgroup", F_OK), 0) << "made a directory off the cgroup fs";
  rmdir((home + "/other").c_str());
  rmdir(home.c_str());
  rmdir((base + "/a").c_str());
  EXPECT_EQ(rmdir(base.c_str()), 0) << strerror(errno);
}

}  // namespace
