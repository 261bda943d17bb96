// ExtendSandbox on a real ak-executor process: the expiry moves by exactly
// what is asked (from now when there was none, from the old expiry when
// there was one), refusals leave it as it was (0, past 30 days from now,
// unknown names), and the janitor removes a sandbox at its extended expiry.
// Every sandbox has its own UUIDv7 (Sandbox.uuid). Sandboxes are
// --test-guest ones: no VM boots.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

extern "C" {
#include "lib/base/time.h"
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/executor.pb-c.h"
}
#include "services/executor/testing/executor_client.h"
#include "tests/testing/service_process.h"
#include "vmm/testing/vm_fixture.h"

using aktest::Runfile;
using aktest::ServiceProcess;
using aktest::Slurp;

namespace {

class ExtendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = akvm::MakeTempDir("akext");
    exec_ = new ServiceProcess;
    ASSERT_TRUE(exec_->Start({Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure",
                              "--state-dir", dir_ + "/st", "--images", dir_ + "/img", "--min-warm", "0",
                              "--test-guest", "long=" + dir_ + "/l.sock", "--test-guest",
                              "short=" + dir_ + "/s.sock"},
                             dir_, "executor"))
        << Slurp(exec_->err);
    struct ak_error err = {};
    ASSERT_EQ(rpc_channel_new(exec_->addr.c_str(), nullptr, &ch_, &err), 0) << err.msg;
  }
  static void TearDownTestSuite() {
    rpc_channel_free(ch_);
    if (exec_) {
      EXPECT_EQ(exec_->Stop(), 0) << Slurp(exec_->err);
    }
    delete exec_;
    akvm::RemoveDir(dir_);
  }

  // The sandbox's expires_at_ms after ExtendSandbox; the call's code in *code.
  static int64_t Extend(const char* name, uint32_t by, int* code, std::string* e) {
    Ak__V1__ExtendSandboxRequest req = AK__V1__EXTEND_SANDBOX_REQUEST__INIT;
    req.name = const_cast<char*>(name);
    req.by_seconds = by;
    ProtobufCMessage* resp = nullptr;
    *code = aktest::ExecutorUnary(ch_, "ExtendSandbox", &req.base, 10000, &resp, e);
    int64_t at = resp ? reinterpret_cast<Ak__V1__Sandbox*>(resp)->expires_at_ms : -1;
    if (resp) protobuf_c_message_free_unpacked(resp, nullptr);
    return at;
  }
  static int64_t Expiry(const char* name, int* code) {
    Ak__V1__GetSandboxRequest req = AK__V1__GET_SANDBOX_REQUEST__INIT;
    req.name = const_cast<char*>(name);
    ProtobufCMessage* resp = nullptr;
    *code = aktest::ExecutorUnary(ch_, "GetSandbox", &req.base, 10000, &resp, nullptr);
    int64_t at = resp ? reinterpret_cast<Ak__V1__Sandbox*>(resp)->expires_at_ms : -1;
    if (resp) protobuf_c_message_free_unpacked(resp, nullptr);
    return at;
  }

  static std::string dir_;
  static ServiceProcess* exec_;
  static struct rpc_channel* ch_;
};

std::string ExtendTest::dir_;
ServiceProcess* ExtendTest::exec_;
struct rpc_channel* ExtendTest::ch_;

// First: the janitor test removes "short".
TEST_F(ExtendTest, EverySandboxHasItsOwnUuid) {
  std::string uuids[2];
  const char* names[2] = {"long", "short"};
  for (int i = 0; i < 2; i++) {
    Ak__V1__GetSandboxRequest req = AK__V1__GET_SANDBOX_REQUEST__INIT;
    req.name = const_cast<char*>(names[i]);
    ProtobufCMessage* resp = nullptr;
    std::string e;
    int code = aktest::ExecutorUnary(ch_, "GetSandbox", &req.base, 10000, &resp, &e);
    ASSERT_EQ(code, RPC_OK) << e;
    uuids[i] = reinterpret_cast<Ak__V1__Sandbox*>(resp)->uuid;
    protobuf_c_message_free_unpacked(resp, nullptr);
    ASSERT_EQ(uuids[i].size(), 36u) << uuids[i];
    EXPECT_EQ(uuids[i][14], '7') << "not a UUIDv7: " << uuids[i];
    EXPECT_EQ(uuids[i].find_first_not_of("0123456789abcdef-"), std::string::npos) << uuids[i];
  }
  EXPECT_NE(uuids[0], uuids[1]);
}

TEST_F(ExtendTest, MovesTheExpiryAndRefusesPast30Days) {
  int code;
  std::string e;
  ASSERT_EQ(Expiry("long", &code), 0) << "a test guest starts without a TTL";
  int64_t before = ak_real_ms();
  int64_t at = Extend("long", 3600, &code, &e);
  int64_t after = ak_real_ms();
  ASSERT_EQ(code, RPC_OK) << e;
  EXPECT_GE(at, before + 3600 * 1000);
  EXPECT_LE(at, after + 3600 * 1000);
  // With a TTL: from the old expiry, not from now.
  int64_t at2 = Extend("long", 60, &code, &e);
  ASSERT_EQ(code, RPC_OK) << e;
  EXPECT_EQ(at2, at + 60 * 1000);
  EXPECT_EQ(Expiry("long", &code), at2);

  EXPECT_EQ(Extend("long", 0, &code, &e), -1);
  EXPECT_EQ(code, RPC_INVALID_ARGUMENT);
  EXPECT_NE(e.find("by_seconds 0"), std::string::npos) << e;
  EXPECT_EQ(Extend("long", 30 * 86400 + 1, &code, &e), -1);
  EXPECT_EQ(code, RPC_INVALID_ARGUMENT);
  // 30 days on top of the hour it has: past 30 days from now.
  e.clear();
  EXPECT_EQ(Extend("long", 30 * 86400, &code, &e), -1);
  EXPECT_EQ(code, RPC_INVALID_ARGUMENT);
  EXPECT_NE(e.find("at most 30 days"), std::string::npos) << e;
  EXPECT_EQ(Expiry("long", &code), at2) << "a refused extension changed the expiry";

  e.clear();
  EXPECT_EQ(Extend("no-such", 60, &code, &e), -1);
  EXPECT_EQ(code, RPC_NOT_FOUND);
  EXPECT_NE(e.find("no-such"), std::string::npos) << e;
}

TEST_F(ExtendTest, TheJanitorRemovesAtTheExtendedExpiry) {
  int code;
  std::string e;
  int64_t at = Extend("short", 1, &code, &e);
  ASSERT_EQ(code, RPC_OK) << e;
  ASSERT_GT(at, 0);
  int64_t deadline = ak_mono_ms() + 10000;
  while (Expiry("short", &code) >= 0 && code == RPC_OK && ak_mono_ms() < deadline) usleep(100 * 1000);
  EXPECT_EQ(code, RPC_NOT_FOUND) << "the sandbox outlived its extended expiry by 9 s";
  EXPECT_GE(ak_real_ms(), at);
}

}  // namespace
