// An image other than base through ak-executor (a real process, a real VM):
// GetStatus reports what the image store holds as it changes, without a
// restart (a build, a removal); a sandbox boots the image and its command's
// output comes from that image; a missing image is refused before anything
// is made, with what to do. The image is a real root filesystem image built
// by image_build_rootfs from a seeded debootstrap stage (tiny_stage.h): no
// Debian mirror is reached. One VM boot.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <vector>

extern "C" {
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/executor.pb-c.h"
#include "vmm/image/image.h"
}
#include "services/executor/testing/executor_client.h"
#include "tests/testing/service_process.h"
#include "vmm/testing/tiny_stage.h"
#include "vmm/testing/vm_fixture.h"

namespace {

using aktest::Runfile;
using aktest::ServiceProcess;
using aktest::Slurp;

class ExecutorImagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = akvm::MakeTempDir("akxi");
    ASSERT_FALSE(dir_.empty());
    std::string skip, error;
    if (!akvm::GetKernel(&skip, &error)) {
      if (!skip.empty()) GTEST_SKIP() << skip;
      FAIL() << error;
    }
    setenv("AK_GUEST_BIN", Runfile("guest/ak-guest").c_str(), 1);
    // Names and the stage key of this run only, in the shared test store.
    name_ = "test-tiny-" + std::to_string(getpid());
    marker_ = "from-image-" + name_;
    akvm::UseLoopbackMirror("executor-images-test-" + std::to_string(getpid()));
    ASSERT_TRUE(exec_.Start({Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure",
                             "--state-dir", dir_ + "/st", "--images", akvm::ImageStoreDir(), "--min-warm", "0",
                             "--executor-id", "x1"},
                            dir_, "executor"))
        << Slurp(exec_.err);
    struct ak_error err = {};
    ASSERT_EQ(rpc_channel_new(exec_.addr.c_str(), nullptr, &ch_, &err), 0) << err.msg;
    ASSERT_EQ(image_store_open(akvm::ImageStoreDir().c_str(), &store_, &err), 0) << err.msg;
  }
  void TearDown() override {
    if (store_) image_remove(store_, name_.c_str(), nullptr);  // a failed run's leftover
    image_store_free(store_);
    rpc_channel_free(ch_);
    if (exec_.pid > 0) {
      EXPECT_EQ(exec_.Stop(), 0) << Slurp(exec_.err);
    }
    akvm::RemoveDir(dir_);
  }

  std::vector<std::string> Images() {
    Ak__V1__GetExecutorStatusRequest req = AK__V1__GET_EXECUTOR_STATUS_REQUEST__INIT;
    ProtobufCMessage* resp = nullptr;
    std::string e;
    std::vector<std::string> v;
    if (aktest::ExecutorUnary(ch_, "GetStatus", &req.base, 10000, &resp, &e) != RPC_OK) {
      ADD_FAILURE() << "GetStatus: " << e;
      return v;
    }
    auto* st = reinterpret_cast<Ak__V1__ExecutorStatus*>(resp);
    for (size_t i = 0; i < st->n_images; i++) v.push_back(st->images[i]);
    protobuf_c_message_free_unpacked(resp, nullptr);
    return v;
  }
  bool Has(const std::vector<std::string>& v, const std::string& s) {
    for (auto& x : v)
      if (x == s) return true;
    return false;
  }
  int Create(const std::string& sandbox, const std::string& image, std::string* e) {
    Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
    spec.name = const_cast<char*>(sandbox.c_str());
    spec.image = const_cast<char*>(image.c_str());
    spec.persistent = true;
    Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
    cr.spec = &spec;
    ProtobufCMessage* resp = nullptr;
    int r = aktest::ExecutorUnary(ch_, "CreateSandbox", &cr.base, 180000, &resp, e);
    if (resp) protobuf_c_message_free_unpacked(resp, nullptr);
    return r;
  }

  std::string dir_, name_, marker_;
  ServiceProcess exec_;
  struct rpc_channel* ch_ = nullptr;
  struct image_store* store_ = nullptr;
};

TEST_F(ExecutorImagesTest, ReportsBootsAndRefusesImagesAsTheStoreHoldsThem) {
  struct ak_error err = {};
  std::vector<std::string> before = Images();
  EXPECT_TRUE(Has(before, IMAGE_BASE));
  EXPECT_FALSE(Has(before, name_));

  // A missing image: refused before a sandbox exists, saying what to do.
  std::string e;
  EXPECT_EQ(Create("gone", name_, &e), RPC_FAILED_PRECONDITION) << e;
  EXPECT_NE(e.find("image \"" + name_ + "\" is not on executor x1"), std::string::npos) << e;
  EXPECT_NE(e.find("ak image build " + name_), std::string::npos) << e;

  // Built while the executor runs (as `ak image build` does): reported at once.
  std::string error;
  ASSERT_TRUE(akvm::SeedTinyStage(akvm::ImageStoreDir(), marker_, &error)) << error;
  struct image_info info;
  ASSERT_EQ(image_build_rootfs(store_, name_.c_str(), nullptr, 0, nullptr, &info, &err), 0) << err.msg;
  EXPECT_TRUE(Has(Images(), name_)) << "GetStatus does not report the image just built";

  // A sandbox of it runs its command in that image.
  ASSERT_EQ(Create("tiny", name_, &e), RPC_OK) << e;
  Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
  const char* argv[] = {"/bin/cat", "/etc/ak-image"};
  req.sandbox = const_cast<char*>("tiny");
  req.argv = const_cast<char**>(argv);
  req.n_argv = 2;
  req.timeout_ms = 60000;
  aktest::StreamOut o;
  aktest::ExecutorStream(ch_, "Exec", &req.base, 120000, &o);
  ASSERT_EQ(o.status, 0) << o.error;
  EXPECT_EQ(o.out, marker_ + "\n") << o.err;
  ASSERT_NE(o.result, nullptr);
  EXPECT_EQ(o.result->exit_code, 0);
  Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
  rm.name = const_cast<char*>("tiny");
  EXPECT_EQ(aktest::ExecutorUnary(ch_, "RemoveSandbox", &rm.base, 60000, nullptr, &e), RPC_OK) << e;

  // Removed while the executor runs: gone from the report at once.
  ASSERT_EQ(image_remove(store_, name_.c_str(), &err), 0) << err.msg;
  std::vector<std::string> after = Images();
  EXPECT_FALSE(Has(after, name_));
  EXPECT_TRUE(Has(after, IMAGE_BASE));
  EXPECT_EQ(Create("gone", name_, &e), RPC_FAILED_PRECONDITION) << e;
}

}  // namespace
