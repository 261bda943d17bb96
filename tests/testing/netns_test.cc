// A run's own network names (netns.h): RunName, RemoveStaleNetns and
// FreeSubnet24. Root for the namespace cases (skipped by name otherwise);
// everything they make is named aktn<pid>... and lives in namespaces of
// their own, so nothing on the host's network changes.
#include "tests/testing/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace {

using aktest::Sh;

bool NetnsExists(const std::string& name) { return access(("/run/netns/" + name).c_str(), F_OK) == 0; }

// A pid that has been and no longer is: a child, reaped.
pid_t DeadPid() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

class NetnsRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (ip netns add)";
    aktest::PathWithSbin();
    if (Sh("ip -V") != 0) GTEST_SKIP() << "needs ip (iproute2): run tools/deps.sh";
  }
};

TEST(RunName, IsThePrefixAndThisPid) {
  EXPECT_EQ(aktest::RunName("aks"), "aks" + std::to_string(getpid()));
  // pid_max is at most 4194304 (7 digits): an 8-character prefix fits IFNAMSIZ.
  EXPECT_LE(aktest::RunName("abcdefgh").size() - std::to_string(getpid()).size() + 7, 15u);
}

// A crashed run's namespace (its pid gone) is removed with the process left
// in it; this run's, a live process's and a name that only starts like one
// are kept.
TEST_F(NetnsRoot, RemoveStaleNetnsRemovesOnlyDeadRunsNamespaces) {
  const std::string prefix = "aktn" + std::to_string(getpid()) + "x";
  const std::string dead = prefix + std::to_string(DeadPid()), mine = prefix + std::to_string(getpid()),
                    live = prefix + "1", other = prefix + "1a";
  for (const std::string& n : {dead, mine, live, other}) ASSERT_EQ(Sh("ip netns add " + n), 0) << n;
  // A process left behind in the dead run's namespace (not our child).
  char pidfile[] = "/tmp/aktn_pid.XXXXXX";
  int pfd = mkstemp(pidfile);
  ASSERT_GE(pfd, 0);
  close(pfd);
  ASSERT_EQ(Sh("ip netns exec " + dead + " sh -c 'echo $$ > " + pidfile + "; exec sleep 600' & sleep 0.5"), 0);
  FILE* f = fopen(pidfile, "re");
  pid_t left = 0;
  ASSERT_TRUE(f && fscanf(f, "%d", &left) == 1) << pidfile;
  fclose(f);
  unlink(pidfile);
  ASSERT_EQ(kill(left, 0), 0);
  aktest::RemoveStaleNetns(prefix);
  EXPECT_FALSE(NetnsExists(dead));
  EXPECT_TRUE(NetnsExists(mine));
  EXPECT_TRUE(NetnsExists(live));
  EXPECT_TRUE(NetnsExists(other));
  bool gone = false;
  for (int i = 0; i < 50 && !gone; i++, usleep(100000)) gone = kill(left, 0) < 0 && errno == ESRCH;
  EXPECT_TRUE(gone) << "pid " << left << " in " << dead << " still runs";
  if (!gone) kill(left, SIGKILL);
  for (const std::string& n : {dead, mine, live, other}) Sh("ip netns del " + n);
}

// FreeSubnet24 asks the namespace it is called in: in one of the test's
// own, a /24 on an address or a route is taken, the next one is free.
TEST_F(NetnsRoot, FreeSubnet24SkipsSubnetsInUse) {
  const std::string ns = aktest::RunName("aktn");
  ASSERT_EQ(Sh("ip netns add " + ns), 0);
  struct Del {
    std::string ns;
    ~Del() { Sh("ip netns del " + ns); }
  } del{ns};
  ASSERT_EQ(Sh("ip -n " + ns + " link add d0 type veth peer name d1"), 0);
  ASSERT_EQ(Sh("ip -n " + ns + " link set d0 up"), 0);
  ASSERT_EQ(Sh("ip -n " + ns + " addr add 198.19.250.7/24 dev d0"), 0);
  ASSERT_EQ(Sh("ip -n " + ns + " route add 198.19.252.0/24 dev d0"), 0);
  std::string one, two, three, none, bad;
  std::thread t([&] {
    int fd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) return;
    close(fd);
    one = aktest::FreeSubnet24("198.19", 250, 250);
    two = aktest::FreeSubnet24("198.19", 250, 251);
    three = aktest::FreeSubnet24("198.19", 252, 253);
    none = aktest::FreeSubnet24("198.19", 252, 252);
    bad = aktest::FreeSubnet24("198.19", 9, 8);
  });
  t.join();
  EXPECT_EQ(one, "");
  EXPECT_EQ(two, "198.19.251");
  EXPECT_EQ(three, "198.19.253");
  EXPECT_EQ(none, "");
  EXPECT_EQ(bad, "");
}

}  // namespace
