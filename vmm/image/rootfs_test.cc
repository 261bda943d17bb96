// A Debian root filesystem image (debootstrap minbase + python3) built by
// the image store, booted as the VM's root disk: python runs, the guest
// opens a vsock connection to the host (through <uds>_<port>), and writes
// do not reach the shared image. Needs root, debootstrap and the Debian
// mirror; the image is cached in the test image store between runs.
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "lib/base/proc.h"
#include "lib/guest/guest_client.h"
#include "vmm/image/image.h"
#include "vmm/testing/vm_fixture.h"
#include "vmm/vm.h"

namespace {

constexpr const char* kImage = "test-python";

class RootfsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char dbs[PATH_MAX];
    if (geteuid() != 0) {
      skip_ = "building root filesystem images needs root";
      return;
    }
    if (proc_which("debootstrap", dbs, sizeof(dbs)) < 0) {
      skip_ = "debootstrap is not installed (tools/deps.sh installs it)";
      return;
    }
    struct ak_error err = {};
    struct image_store* s = nullptr;
    if (image_store_open(akvm::ImageStoreDir().c_str(), &s, &err) < 0) {
      error_ = err.msg;
      return;
    }
    const char* pkgs[] = {"python3"};
    struct image_info info;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int r = image_build_rootfs(s, kImage, pkgs, 1, nullptr, &info, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (r == 0) {
      // The same inputs again: a cache hit, no work.
      struct timespec t2;
      struct image_info again;
      r = image_build_rootfs(s, kImage, pkgs, 1, nullptr, &again, &err);
      clock_gettime(CLOCK_MONOTONIC, &t2);
      cache_hit_ms_ = (t2.tv_sec - t1.tv_sec) * 1000 + (t2.tv_nsec - t1.tv_nsec) / 1000000;
      same_hash_ = r == 0 && strcmp(again.hash, info.hash) == 0;
    }
    image_store_free(s);
    if (r < 0) {
      // No way to reach the Debian mirror here: skipped, by name.
      if (strstr(err.msg, "debootstrap failed") && strstr(err.msg, "Release")) {
        skip_ = std::string("the Debian mirror is unreachable: ") + err.msg;
        return;
      }
      error_ = err.msg;
      return;
    }
    dir_ = akvm::MakeTempDir("akrf");
    std::string skip;
    vm_ = akvm::BootVm(kImage, dir_, false, &skip, &error_);
    if (!skip.empty()) skip_ = skip;
  }
  static void TearDownTestSuite() {
    vm_free(vm_);
    vm_ = nullptr;
    akvm::RemoveDir(dir_);
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_NE(vm_, nullptr) << error_;
    uds_ = vm_vsock_uds(vm_);
  }
  static std::string dir_, skip_, error_;
  static struct vm* vm_;
  static long cache_hit_ms_;
  static bool same_hash_;
  const char* uds_ = nullptr;
};

std::string RootfsTest::dir_, RootfsTest::skip_, RootfsTest::error_;
struct vm* RootfsTest::vm_ = nullptr;
long RootfsTest::cache_hit_ms_ = -1;
bool RootfsTest::same_hash_ = false;

TEST_F(RootfsTest, RebuildIsACacheHit) {
  EXPECT_TRUE(same_hash_);
  EXPECT_LT(cache_hit_ms_, 2000);
}

TEST_F(RootfsTest, PythonRunsFromTheRootDisk) {
  std::string err;
  struct proto_reply* r =
      akvm::Run(uds_, {"python3", "-c", "import os,sys; print(sys.version_info[0], os.path.exists('/usr/local/bin/ak-guest'))"},
                30000, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_EQ(r->exit_code, 0) << (r->stderr_str ? r->stderr_str : "");
  EXPECT_STREQ(r->stdout_str, "3 True\n");
  proto_reply_free(r);
  r = akvm::Run(uds_, {"sh", "-c", "grep ' / ' /proc/mounts | cut -d' ' -f1,3"}, 30000, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_STREQ(r->stdout_str, "/dev/vda ext4\n");
  proto_reply_free(r);
  // A root disk (python and more) keeps the larger translation cache.
  std::string qemu_argv = akvm::QemuArgv(vm_);
  ASSERT_NE(qemu_argv.find(" -accel "), std::string::npos) << "QEMU's argv: " << qemu_argv;
  if (qemu_argv.find("-accel tcg") != std::string::npos) {
    EXPECT_NE(qemu_argv.find("-accel tcg,tb-size=" + std::to_string(VM_TCG_TB_MB) + " "), std::string::npos) << qemu_argv;
  }
}

// Guest-initiated vsock: python in the guest connects to the host's CID 2,
// port 5000; the bridge connects that to <vsock_uds>_5000 (Firecracker's
// convention) where the test listens.
TEST_F(RootfsTest, GuestConnectsToTheHost) {
  std::string path = std::string(uds_) + "_5000";
  int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {};
  sa.sun_family = AF_UNIX;
  strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
  ASSERT_EQ(bind(l, reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa)), 0);
  ASSERT_EQ(listen(l, 1), 0);
  std::string got;
  std::thread host([&] {
    struct pollfd p = {l, POLLIN, 0};
    if (poll(&p, 1, 30000) != 1) return;
    int a = accept(l, nullptr, nullptr);
    char buf[64];
    ssize_t n = read(a, buf, sizeof(buf));
    if (n > 0) got.assign(buf, n);
    (void)!write(a, "hello guest", 11);
    close(a);
  });
  std::string err;
  struct proto_reply* r = akvm::Run(
      uds_,
      {"python3", "-c",
       "import socket; s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM); s.connect((2, 5000)); "
       "s.sendall(b'hello host'); print(s.recv(64).decode())"},
      30000, &err);
  host.join();
  close(l);
  unlink(path.c_str());
  ASSERT_NE(r, nullptr) << err;
  EXPECT_EQ(r->exit_code, 0) << (r->stderr_str ? r->stderr_str : "");
  EXPECT_STREQ(r->stdout_str, "hello guest\n");
  EXPECT_EQ(got, "hello host");
  proto_reply_free(r);
}

// The root disk is shared by every VM of the image: the guest may write,
// but into a throw-away overlay (QEMU snapshot=on), never into the image.
TEST_F(RootfsTest, WritesDoNotReachTheImage) {
  std::string err;
  struct proto_reply* r = akvm::Run(uds_, {"sh", "-c", "echo scratch > /etc/ak-test-marker && sync && cat /etc/ak-test-marker"},
                                    30000, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_STREQ(r->stdout_str, "scratch\n");
  proto_reply_free(r);
  // A second VM from the same image does not see it.
  std::string dir2 = akvm::MakeTempDir("akrf2");
  std::string skip, error;
  struct vm* v2 = akvm::BootVm(kImage, dir2, false, &skip, &error);
  ASSERT_NE(v2, nullptr) << error;
  r = akvm::Run(vm_vsock_uds(v2), {"sh", "-c", "test -e /etc/ak-test-marker && echo seen || echo clean"}, 30000, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_STREQ(r->stdout_str, "clean\n");
  proto_reply_free(r);
  vm_free(v2);
  akvm::RemoveDir(dir2);
}

}  // namespace
