// A real microVM behind the bridge, one per test: failures (the VMM dies in
// the middle of a call, a guest that stops answering, a guest that never
// comes up) and the network device (only when asked).
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "lib/base/time.h"
#include "lib/guest/guest_client.h"
#include "vmm/image/cpio.h"
#include "vmm/image/image.h"
#include "vmm/testing/vm_fixture.h"
#include "vmm/vm.h"

namespace {

class VmFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = akvm::MakeTempDir("akvf");
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override {
    if (vm_) {
      pid_t pid = vm_pid(vm_);
      std::string uds = vm_vsock_uds(vm_);
      vm_free(vm_);
      // Nothing is left behind: the VMM is reaped, the sockets are gone.
      EXPECT_EQ(kill(pid, 0), -1);
      EXPECT_EQ(errno, ESRCH);
      struct stat st;
      EXPECT_NE(stat(uds.c_str(), &st), 0) << uds << " left behind";
    }
    akvm::RemoveDir(dir_);
  }
  bool Boot(bool network = false) {
    std::string skip, error;
    vm_ = akvm::BootVm("base", dir_, network, &skip, &error);
    if (!skip.empty()) {
      skip_ = skip;
      return false;
    }
    EXPECT_NE(vm_, nullptr) << error;
    return vm_ != nullptr;
  }
  std::string dir_, skip_;
  struct vm* vm_ = nullptr;
};

#define BOOT_OR_SKIP(...)                      \
  do {                                         \
    if (!Boot(__VA_ARGS__)) {                  \
      if (!skip_.empty()) GTEST_SKIP() << skip_; \
      return;                                  \
    }                                          \
  } while (0)

// QEMU is killed while a command runs: the call ends with an error at once
// instead of waiting for its (long) timeout.
TEST_F(VmFaultTest, VmmKilledMidCallFailsFast) {
  BOOT_OR_SKIP();
  const char* uds = vm_vsock_uds(vm_);
  int fd = -1;
  ASSERT_EQ(guest_client_connect(uds, GUEST_AGENT_PORT, 10000, &fd), 0);
  int rc = 0;
  double took = 0;
  std::thread caller([&] {
    const char* argv[] = {"sleep", "60"};
    struct proto_request_args req = PROTO_REQUEST_ARGS_INIT;
    req.id = "long";
    req.type = "run";
    req.command = argv;
    req.n_command = 2;
    struct proto_reply* r = nullptr;
    double t0 = (ak_mono_ns() / 1e9);
    rc = guest_client_call(fd, &req, 120000, &r);
    took = (ak_mono_ns() / 1e9) - t0;
    proto_reply_free(r);
  });
  usleep(1000 * 1000);
  ASSERT_EQ(kill(vm_pid(vm_), SIGKILL), 0);
  caller.join();
  close(fd);
  EXPECT_EQ(rc, -ECONNRESET) << strerror(-rc);
  EXPECT_LT(took, 10.0);
  int status = 0;
  for (int i = 0; i < 100 && vm_poll_exit(vm_, &status) != 1; i++) usleep(20000);
  EXPECT_EQ(status, 128 + SIGKILL);
  // New connections are refused, not left hanging.
  double t0 = (ak_mono_ns() / 1e9);
  EXPECT_LT(guest_client_ping(uds, 5000), 0);
  EXPECT_LT((ak_mono_ns() / 1e9) - t0, 3.0);
}

// A guest that stops answering (its VMM frozen): calls time out as asked,
// on a new connection and on an established one; once it runs again it
// answers again.
TEST_F(VmFaultTest, FrozenGuestTimesOut) {
  BOOT_OR_SKIP();
  const char* uds = vm_vsock_uds(vm_);
  int fd = -1;
  ASSERT_EQ(guest_client_connect(uds, GUEST_AGENT_PORT, 10000, &fd), 0);
  ASSERT_EQ(kill(vm_pid(vm_), SIGSTOP), 0);
  double t0 = (ak_mono_ns() / 1e9);
  EXPECT_EQ(guest_client_ping(uds, 1500), -ETIMEDOUT);
  double took = (ak_mono_ns() / 1e9) - t0;
  EXPECT_GE(took, 1.4);
  EXPECT_LT(took, 4.0);

  struct proto_request_args req = PROTO_REQUEST_ARGS_INIT;
  req.id = "p";
  req.type = "ping";
  struct proto_reply* r = nullptr;
  t0 = (ak_mono_ns() / 1e9);
  EXPECT_EQ(guest_client_call(fd, &req, 1500, &r), -ETIMEDOUT);
  EXPECT_LT((ak_mono_ns() / 1e9) - t0, 4.0);
  proto_reply_free(r);
  close(fd);

  ASSERT_EQ(kill(vm_pid(vm_), SIGCONT), 0);
  EXPECT_EQ(guest_client_ping(uds, 20000), 0);
}

// A guest that never comes up (an initramfs without the agent: the kernel
// finds no init and panics): vm_wait_ready fails early and shows the console.
TEST_F(VmFaultTest, GuestThatNeverComesUpShowsConsole) {
  struct ak_error err = {};
  struct image_store* store = nullptr;
  ASSERT_EQ(image_store_open(akvm::ImageStoreDir().c_str(), &store, &err), 0) << err.msg;
  struct image_kernel k;
  int r = image_kernel_get(store, nullptr, &k, &err);
  image_store_free(store);
  if (r == IMAGE_KERNEL_UNAVAILABLE) GTEST_SKIP() << err.msg;
  ASSERT_EQ(r, 0) << err.msg;

  std::string initrd = dir_ + "/empty.cpio";
  FILE* f = fopen(initrd.c_str(), "w");
  ASSERT_NE(f, nullptr);
  struct cpio* w = nullptr;
  ASSERT_EQ(cpio_new(fileno(f), &w), 0);
  cpio_add_dir(w, "dev", 0755);
  cpio_add_chardev(w, "dev/console", 0600, 5, 1);
  ASSERT_EQ(cpio_finish(w), 0);
  cpio_free(w);
  fclose(f);

  struct vm_config cfg = {};
  cfg.dir = dir_.c_str();
  cfg.kernel = k.vmlinuz;
  cfg.initrd = initrd.c_str();
  ASSERT_EQ(vm_start(&cfg, &vm_, &err), 0) << err.msg;
  double t0 = (ak_mono_ns() / 1e9);
  EXPECT_LT(vm_wait_ready(vm_, 60000, &err), 0);
  EXPECT_LT((ak_mono_ns() / 1e9) - t0, 50.0) << "should fail when QEMU exits, not at the timeout";
  EXPECT_NE(strstr(err.msg, "console"), nullptr) << err.msg;
  EXPECT_NE(strstr(err.msg, "panic"), nullptr) << err.msg;
}

// Networking only when asked: then QEMU user networking, with the guest
// configured (10.0.2.15, gateway 10.0.2.2), in a network namespace of its
// own (vmm/backend/vmm_net.h): the gateway 10.0.2.2 is that namespace's
// loopback, not the host's, and the host is denied anyway. A server on the
// host's 127.0.0.1 gets nothing (it used to: issue 14).
TEST_F(VmFaultTest, UserNetworkingWhenAskedDoesNotReachHostLoopback) {
  if (geteuid() != 0) GTEST_SKIP() << "the VM's network namespace needs root; without it the host is reachable";
  BOOT_OR_SKIP(true);
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(l, reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa)), 0);
  socklen_t len = sizeof(sa);
  ASSERT_EQ(getsockname(l, reinterpret_cast<struct sockaddr*>(&sa), &len), 0);
  ASSERT_EQ(listen(l, 1), 0);
  std::string err;
  std::string port = std::to_string(ntohs(sa.sin_port));
  struct proto_reply* r = akvm::Run(
      vm_vsock_uds(vm_),
      {"sh", "-c", "ip -4 addr show eth0 | grep -o 10.0.2.15/24; echo over-the-net | nc -w 3 10.0.2.2 " + port + "; echo rc=$?"},
      30000, &err);
  // Nothing connected: the listening socket has no connection queued.
  struct pollfd p = {l, POLLIN, 0};
  int queued = poll(&p, 1, 500);
  close(l);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_EQ(r->exit_code, 0) << (r->stderr_str ? r->stderr_str : "");
  EXPECT_STREQ(r->stdout_str, "10.0.2.15/24\nrc=1\n");
  EXPECT_EQ(queued, 0) << "the guest reached the host's 127.0.0.1:" << port;
  proto_reply_free(r);
}

// Without asking there is no network device at all.
TEST_F(VmFaultTest, NoNetworkDeviceByDefault) {
  BOOT_OR_SKIP();
  std::string err;
  struct proto_reply* r = akvm::Run(vm_vsock_uds(vm_), {"sh", "-c", "ls /sys/class/net"}, 30000, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_STREQ(r->stdout_str, "lo\n");
  proto_reply_free(r);
}

}  // namespace
