// --init as PID 1 of fresh PID + mount namespaces: mounts, module list,
// orphan reaping, and power off on `shutdown` (which ends the namespace).
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "guest/agent_harness.h"
#include "guest/init.h"

namespace {

using akt::Call;
using akt::Reply;
using akt::Req;

int ConnectTo(const std::string& path) {
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (connect(fd, (struct sockaddr*)&addr, sizeof(addr)) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

Reply Sh(int fd, const std::string& script) {
  Req r;
  r.type = "run";
  r.Cmd({"sh", "-c", script});
  return Call(fd, r);
}

TEST(InitMode, RefusedUnlessPid1) {
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    std::string bin = akt::AgentBinary();
    execl(bin.c_str(), bin.c_str(), "--init", "--listen", "unix:/nonexistent/s", (char*)nullptr);
    _exit(127);
  }
  int st;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  EXPECT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 2);
}

TEST(InitMode, Pid1InNamespaces) {
  // Not under /tmp: the agent mounts a fresh tmpfs there.
  char dir[] = "/var/tmp/aki.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string sock = std::string(dir) + "/s", mods = std::string(dir) + "/modules";
  {
    std::ofstream f(mods);
    f << "# comment\n\nno_such_module_akt\n/nonexistent/x.ko\n";
  }
  std::string bin = akt::AgentBinary();
  std::string listen = "unix:" + sock;

  pid_t outer = fork();
  ASSERT_GE(outer, 0);
  if (outer == 0) {
    if (unshare(CLONE_NEWPID | CLONE_NEWNS) < 0) _exit(77);
    // Nothing mounted in here may reach the host's namespace.
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) _exit(78);
    pid_t inner = fork();
    if (inner == 0) {
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 2);
      execl(bin.c_str(), bin.c_str(), "--init", "--modules", mods.c_str(), "--listen", listen.c_str(),
            (char*)nullptr);
      _exit(127);
    }
    int st;
    waitpid(inner, &st, 0);
    _exit(WIFSIGNALED(st) ? 100 + WTERMSIG(st) : WEXITSTATUS(st));
  }

  int fd = -1;
  for (int i = 0; i < 500 && fd < 0; i++) {
    fd = ConnectTo(sock);
    if (fd < 0) {
      int st;
      if (waitpid(outer, &st, WNOHANG) == outer) {
        if (WIFEXITED(st) && (WEXITSTATUS(st) == 77 || WEXITSTATUS(st) == 78))
          GTEST_SKIP() << "no PID/mount namespaces here (unshare/mount refused)";
        FAIL() << "init agent exited early: " << st;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ASSERT_GE(fd, 0);

  Reply r = Sh(fd, "echo $PPID; tr '\\0' ' ' < /proc/1/cmdline");
  EXPECT_NE(r.stdout_s.find("--init"), std::string::npos) << r.raw;
  EXPECT_EQ(r.stdout_s.substr(0, 2), "1\n") << r.raw;  // the agent is PID 1
  r = Sh(fd, "stat -f -c %T /tmp /sys; test -c /dev/null && echo devnull; test -d /dev/pts && echo pts");
  EXPECT_EQ(r.stdout_s, "tmpfs\nsysfs\ndevnull\npts\n") << r.raw;

  // An orphan: its parent exits at once, PID 1 (the agent) must reap it.
  r = Sh(fd, "sleep 0.2 & exit 0");
  EXPECT_EQ(r.exit_code, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  r = Sh(fd, "cat /proc/[0-9]*/stat 2>/dev/null | awk '$3 == \"Z\"' | wc -l");
  EXPECT_EQ(r.stdout_s, "0\n") << r.raw;

  // A shell works too (devpts is mounted).
  Req s;
  s.type = "shell";
  EXPECT_EQ(Call(fd, s).shell_event, "started");

  Req sd;
  sd.id = "off";
  sd.type = "shutdown";
  ASSERT_EQ(akt::SendReq(fd, sd), 0);
  // The shell's output (its prompt) belongs to this connection too and may
  // come before the reply.
  Reply off;
  do
    off = akt::Recv(fd);
  while (off.err == 0 && !off.session_id.empty() && off.id != "off");
  EXPECT_EQ(off.raw, R"({"id":"off","exit_code":0})");
  close(fd);
  int st = -1;
  for (int i = 0; i < 1000; i++) {
    if (waitpid(outer, &st, WNOHANG) == outer) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (st == -1) {
    kill(outer, SIGKILL);
    waitpid(outer, &st, 0);
    FAIL() << "init agent did not power off";
  }
  // reboot(RB_POWER_OFF) in a PID namespace kills its init with SIGINT.
  EXPECT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 100 + SIGINT);
  unlink(sock.c_str());
  unlink(mods.c_str());
  rmdir(dir);
}

}  // namespace

namespace {

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// The sysfs write behind --page-reporting-order, on a file of the test's.
TEST(PageReportingOrder, WritesTheOrderAndRefusesOutOfRange) {
  char dir[] = "/tmp/akpro.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/page_reporting_order";
  { std::ofstream f(path); f << "9\n"; }
  EXPECT_EQ(init_set_page_reporting_order(path.c_str(), 0), 0);
  EXPECT_EQ(Slurp(path), "0\n");
  EXPECT_EQ(init_set_page_reporting_order(path.c_str(), INIT_PAGE_REPORTING_ORDER_MAX), 0);
  EXPECT_EQ(Slurp(path), "10\n");
  EXPECT_EQ(init_set_page_reporting_order(path.c_str(), -1), -EINVAL);
  EXPECT_EQ(init_set_page_reporting_order(path.c_str(), INIT_PAGE_REPORTING_ORDER_MAX + 1), -EINVAL);
  EXPECT_EQ(Slurp(path), "10\n");
  EXPECT_EQ(init_set_page_reporting_order((std::string(dir) + "/missing/x").c_str(), 3), -ENOENT);
  unlink(path.c_str());
  rmdir(dir);
}

}  // namespace
