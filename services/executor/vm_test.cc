// A real microVM (QEMU microvm, TCG here) booted from the base image, reached
// only through our vhost-user-vsock bridge and its hybrid vsock socket. One
// VM is shared by the suite; each test uses its own connections.
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include "guest/frame.h"
}
#include "services/executor/guest_client.h"
#include "services/executor/testing/vm_fixture.h"
#include "services/executor/vm.h"

namespace {

class VmTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = akvm::MakeTempDir("akvm");
    ASSERT_FALSE(dir_.empty());
    vm_ = akvm::BootVm("base", dir_, false, &skip_, &error_);
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
  const char* uds_ = nullptr;
};

std::string VmTest::dir_, VmTest::skip_, VmTest::error_;
struct vm* VmTest::vm_ = nullptr;

TEST_F(VmTest, Ping) {
  EXPECT_EQ(guest_client_ping(uds_, 10000), 0);
}

TEST_F(VmTest, Run) {
  std::string err;
  struct proto_reply* r = akvm::Run(uds_, {"uname", "-s"}, 20000, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_TRUE(r->has_exit_code);
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_STREQ(r->stdout_str, "Linux\n");
  proto_reply_free(r);
}

}  // namespace
