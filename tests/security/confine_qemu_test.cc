// QEMU confined: one real microVM booted through vm.c (as the executor and
// ak-vmm do), looked at from the host through /proc/PID. Booted under a
// umask of 0 with AK_ variables and a fake $AK_HOME (run/ sockets, a key, a
// token file) in the environment, as a careless executor would be.
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lib/guest/guest_client.h"
#include "vmm/testing/vm_fixture.h"
#include "vmm/vm.h"

namespace {

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string StatusField(pid_t pid, const std::string& name) {
  std::istringstream in(Slurp("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(name + ":", 0) == 0) return line.substr(name.size() + 1);
  return "";
}

mode_t Mode(const std::string& p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0 ? (st.st_mode & 07777) : 07777;
}

void Touch(const std::string& p, const std::string& data) {
  std::ofstream f(p);
  f << data;
}

class ConfineQemuTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) {
      skip_ = "needs root: the jail changes the VMM's uid";
      return;
    }
    home_ = akvm::MakeTempDir("akhome");
    ASSERT_FALSE(home_.empty());
    ASSERT_EQ(0, mkdir((home_ + "/run").c_str(), 0700));
    ASSERT_EQ(0, mkdir((home_ + "/receipts").c_str(), 0700));
    Touch(home_ + "/run/tokens", "secret-token\n");
    Touch(home_ + "/receipts/signing-key.der", "not really a key");
    setenv("AK_HOME", home_.c_str(), 1);
    setenv("AK_TOKEN_SECRET", "do-not-leak", 1);
    dir_ = home_ + "/run/vm";  // the VM directory lives inside run/, as in ak up
    old_umask_ = umask(0);
    // As `ak vm boot` used to make it: 0755, here 0777 under the umask.
    ASSERT_EQ(0, mkdir(dir_.c_str(), 0755));
    // An fd without O_CLOEXEC, as a library might leave one: QEMU must
    // not inherit it.
    int leak = open((home_ + "/run/tokens").c_str(), O_RDONLY);
    vm_ = akvm::BootVm("base", dir_, false, &skip_, &error_);
    if (leak >= 0) close(leak);
    umask(old_umask_);
    unsetenv("AK_TOKEN_SECRET");
    if (vm_) pid_ = vm_pid(vm_);
  }
  static void TearDownTestSuite() {
    vm_free(vm_);
    vm_ = nullptr;
    unsetenv("AK_HOME");
    if (!home_.empty()) akvm::RemoveDir(home_);
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_NE(vm_, nullptr) << error_;
    ASSERT_GT(pid_, 0);
  }
  // A path as QEMU sees it: through its own root.
  static std::string Inside(const std::string& p) { return "/proc/" + std::to_string(pid_) + "/root" + p; }

  static std::string home_, dir_, skip_, error_;
  static struct vm* vm_;
  static pid_t pid_;
  static mode_t old_umask_;
};

std::string ConfineQemuTest::home_, ConfineQemuTest::dir_, ConfineQemuTest::skip_, ConfineQemuTest::error_;
struct vm* ConfineQemuTest::vm_ = nullptr;
pid_t ConfineQemuTest::pid_ = -1;
mode_t ConfineQemuTest::old_umask_ = 022;

TEST_F(ConfineQemuTest, GuestStillAnswers) {
  EXPECT_EQ(guest_client_ping(vm_vsock_uds(vm_), 10000), 0);
  std::string err;
  struct proto_reply* r = akvm::Run(vm_vsock_uds(vm_), {"echo", "confined"}, 20000, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_EQ(r->exit_code, 0);
  proto_reply_free(r);
}

TEST_F(ConfineQemuTest, RunsAsAnUnprivilegedUidUnderSeccomp) {
  std::string uid = StatusField(pid_, "Uid"), gid = StatusField(pid_, "Gid");
  std::istringstream u(uid), g(gid);
  for (int i = 0; i < 4; i++) {  // real, effective, saved, filesystem
    long id = -1;
    u >> id;
    EXPECT_GT(id, 0) << "Uid:" << uid;
    g >> id;
    EXPECT_GT(id, 0) << "Gid:" << gid;
  }
  std::string seccomp = StatusField(pid_, "Seccomp");
  EXPECT_EQ(seccomp.find_first_not_of(" \t"), seccomp.find('2')) << "Seccomp:" << seccomp;
  EXPECT_NE(seccomp.find('2'), std::string::npos) << "Seccomp:" << seccomp;
  std::string groups = StatusField(pid_, "Groups");
  EXPECT_EQ(groups.find_first_not_of(" \t"), std::string::npos) << "Groups:" << groups;
  EXPECT_NE(StatusField(pid_, "NoNewPrivs").find('1'), std::string::npos);
}

TEST_F(ConfineQemuTest, MountNamespaceHasNoRunDirKeysOrTokens) {
  char self[64], its[64];
  std::string me = "/proc/self/ns/mnt", it = "/proc/" + std::to_string(pid_) + "/ns/mnt";
  ssize_t a = readlink(me.c_str(), self, sizeof(self) - 1), b = readlink(it.c_str(), its, sizeof(its) - 1);
  ASSERT_GT(a, 0);
  ASSERT_GT(b, 0);
  EXPECT_NE(std::string(self, a), std::string(its, b)) << "QEMU shares our mount namespace";
  // What it needs is there (so the checks below can fail)...
  struct stat st;
  EXPECT_EQ(0, stat(Inside("/usr/bin").c_str(), &st));
  EXPECT_EQ(0, stat(Inside("/dev/null").c_str(), &st));
  // ...and none of this is.
  for (const std::string& p : {home_ + "/run", home_ + "/run/tokens", home_ + "/receipts/signing-key.der", dir_,
                               dir_ + "/vsock.sock", dir_ + "/qmp.sock", std::string("/etc/passwd"),
                               std::string("/root"), std::string("/tmp")}) {
    errno = 0;
    EXPECT_NE(0, stat(Inside(p).c_str(), &st)) << p << " is visible to QEMU";
    EXPECT_EQ(ENOENT, errno) << p;
  }
  std::string mi = Slurp("/proc/" + std::to_string(pid_) + "/mountinfo");
  // Mount points (the 5th field): the root, the base system, the images,
  // VMM_JAIL_TMP; nothing under $AK_HOME. (The 4th field may name where
  // its temporary directory comes from: that is not a path it can use.)
  std::istringstream lines(mi);
  std::string line;
  int mounts = 0;
  bool own_root = false;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    std::string id, parent, dev, root, point;
    f >> id >> parent >> dev >> root >> point;
    mounts++;
    EXPECT_NE(point.rfind(home_, 0), 0u) << line;
    own_root |= point == "/" && line.find(" - tmpfs ") != std::string::npos;
  }
  EXPECT_TRUE(own_root) << mi;
  EXPECT_LT(mounts, 16) << mi;
}

TEST_F(ConfineQemuTest, EnvironmentHasNoAkVariables) {
  std::string env = Slurp("/proc/" + std::to_string(pid_) + "/environ");
  ASSERT_FALSE(env.empty());
  std::vector<std::string> vars;
  for (size_t s = 0, e; s < env.size(); s = e + 1) {
    e = env.find('\0', s);
    if (e == std::string::npos) e = env.size();
    vars.push_back(env.substr(s, e - s));
  }
  for (const auto& v : vars) {
    EXPECT_NE(v.rfind("AK_", 0), 0u) << v;
    EXPECT_TRUE(v.rfind("PATH=", 0) == 0 || v.rfind("TMPDIR=", 0) == 0) << v;
  }
}

TEST_F(ConfineQemuTest, InheritsNoFdOfOurs) {
  // The tokens file was open (no O_CLOEXEC) in the booting process.
  std::string fddir = "/proc/" + std::to_string(pid_) + "/fd/";
  for (int fd = 0; fd < 1024; fd++) {
    char target[512];
    ssize_t n = readlink((fddir + std::to_string(fd)).c_str(), target, sizeof(target) - 1);
    if (n <= 0) continue;
    std::string t(target, n);
    EXPECT_EQ(t.find(home_ + "/run/tokens"), std::string::npos) << fd << " -> " << t;
    EXPECT_EQ(t.find("signing-key"), std::string::npos) << fd << " -> " << t;
  }
}

TEST_F(ConfineQemuTest, DirectoryAndSocketsArePrivateUnderUmaskZero) {
  EXPECT_EQ(0700u, Mode(dir_));
  for (const char* s : {"vsock.sock", "vhost.sock", "qmp.sock"}) EXPECT_EQ(0600u, Mode(dir_ + "/" + s)) << s;
  EXPECT_EQ(0600u, Mode(dir_ + "/console.log"));
  EXPECT_EQ(0600u, Mode(dir_ + "/vmm.log"));
}

}  // namespace
