// ak-executor as a real process on loopback with a real microVM (TCG here),
// signing through a real ak-signer: lifecycle, exec with streamed output and
// a receipt that verifies, files, errors. One VM boot for the suite.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern "C" {
#include "lib/receipt/proto/receipt_proto.h"
#include "lib/receipt/receipt.h"
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/executor.pb-c.h"
}
#include "services/executor/testing/executor_client.h"
#include "tests/testing/service_process.h"
#include "vmm/testing/vm_fixture.h"

extern char** environ;

namespace {

using aktest::ServiceProcess;
using aktest::Runfile;
using aktest::Slurp;

class ExecutorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = akvm::MakeTempDir("akex");
    signer_ = new ServiceProcess;
    exec_ = new ServiceProcess;
    ASSERT_TRUE(signer_->Start({Runfile("services/signer/ak-signer"), "--key", dir_ + "/key.pkcs8", "--listen",
                                "127.0.0.1:0", "--insecure"}, dir_, "signer"))
        << Slurp(signer_->err);
    setenv("AK_GUEST_BIN", Runfile("guest/ak-guest").c_str(), 1);
    ASSERT_TRUE(exec_->Start({Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure", "--state-dir",
                              dir_ + "/st", "--images", akvm::ImageStoreDir(), "--signer", signer_->addr,
                              "--min-warm", "0"}, dir_, "executor"))
        << Slurp(exec_->err);
    struct ak_error err = {};
    ASSERT_EQ(rpc_channel_new(exec_->addr.c_str(), nullptr, &ch_, &err), 0) << err.msg;
  }
  static void TearDownTestSuite() {
    rpc_channel_free(ch_);
    if (exec_) {
      EXPECT_EQ(exec_->Stop(), 0) << Slurp(exec_->err);
    }
    if (signer_) signer_->Stop();
    delete exec_;
    delete signer_;
    akvm::RemoveDir(dir_);
  }

  static int Unary(const char* method, const ProtobufCMessage* req, ProtobufCMessage** resp, std::string* e) {
    return aktest::ExecutorUnary(ch_, method, req, 180000, resp, e);
  }

  using ExecOut = aktest::StreamOut;


  static void Exec(const std::string& sandbox, const std::vector<std::string>& argv, ExecOut* o, bool sudo = true) {
    Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    req.sandbox = const_cast<char*>(sandbox.c_str());
    req.argv = a.data();
    req.n_argv = a.size();
    req.sudo = sudo;
    req.timeout_ms = 60000;
    aktest::ExecutorStream(ch_, "Exec", &req.base, 120000, o);
  }

  static std::string dir_;
  static ServiceProcess *signer_, *exec_;
  static struct rpc_channel* ch_;
};

std::string ExecutorTest::dir_;
ServiceProcess* ExecutorTest::signer_;
ServiceProcess* ExecutorTest::exec_;
struct rpc_channel* ExecutorTest::ch_;

TEST_F(ExecutorTest, LifecycleExecReceiptFiles) {
  std::string e;
  Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
  spec.name = const_cast<char*>("t1");
  spec.persistent = true;
  Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
  cr.spec = &spec;
  ProtobufCMessage* resp = nullptr;
  int r = Unary("CreateSandbox", &cr.base, &resp, &e);
  if (r != RPC_OK && akvm::KernelUnavailable(e)) GTEST_SKIP() << e;
  ASSERT_EQ(r, RPC_OK) << e;
  auto* sb = reinterpret_cast<Ak__V1__Sandbox*>(resp);
  EXPECT_EQ(sb->state, AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING);
  EXPECT_STREQ(sb->spec->profile, "moderate");
  EXPECT_EQ(sb->spec->memory_mb, 512u);
  EXPECT_FALSE(sb->from_pool);
  protobuf_c_message_free_unpacked(resp, nullptr);

  // The name is taken.
  EXPECT_EQ(Unary("CreateSandbox", &cr.base, &resp, &e), RPC_ALREADY_EXISTS);

  {
    ExecOut o;
    Exec("t1", {"/bin/sh", "-c", "echo hello; echo oops >&2; exit 3"}, &o);
    ASSERT_EQ(o.status, 0) << o.error;
    EXPECT_EQ(o.out, "hello\n");
    EXPECT_EQ(o.err, "oops\n");
    ASSERT_NE(o.result, nullptr);
    EXPECT_EQ(o.result->exit_code, 3);
    EXPECT_EQ(o.result->output_bytes, 11u);
    EXPECT_STREQ(o.result->receipt_error, "");
    ASSERT_NE(o.result->receipt, nullptr);
    struct receipt* rc = nullptr;
    struct ak_error err = {};
    ASSERT_EQ(receipt_proto_to_receipt(o.result->receipt, &rc, &err), 0) << err.msg;
    char* why = nullptr;
    EXPECT_EQ(receipt_verify(rc, false, &why), 0) << (why ? why : "");
    free(why);
    EXPECT_EQ(rc->invocation.mode, RECEIPT_MODE_EXEC);
    EXPECT_STREQ(rc->invocation.exec.name, "t1");
    EXPECT_EQ(rc->outcome.exit_code, 3);
    receipt_free(rc);
  }
  // Without sudo: the sandbox's user, in its home, unable to write root's
  // files; with sudo: root. The sandbox's env and the request's merge (the
  // request's wins), and the receipt records sudo.
  {
    ExecOut o;
    Exec("t1", {"/bin/sh", "-c", "echo $(id -u) $(id -g) $(id -un) $HOME $USER $(pwd); touch /etc/x 2>/dev/null || "
                "echo denied; touch ~/mine && echo home-ok"}, &o, false);
    ASSERT_EQ(o.status, 0) << o.error;
    EXPECT_EQ(o.out, "1000 1000 sandbox /home/sandbox sandbox /home/sandbox\ndenied\nhome-ok\n") << o.err;
    ASSERT_NE(o.result, nullptr);
    struct receipt* rc = nullptr;
    struct ak_error err = {};
    ASSERT_EQ(receipt_proto_to_receipt(o.result->receipt, &rc, &err), 0) << err.msg;
    EXPECT_FALSE(rc->invocation.exec.sudo);
    receipt_free(rc);
    ExecOut root;
    Exec("t1", {"/bin/sh", "-c", "echo $(id -u) $HOME; touch /etc/x && echo wrote"}, &root, true);
    EXPECT_EQ(root.out, "0 /root\nwrote\n") << root.err;
  }
  // Files round trip.
  std::string data("bin\0ary\n", 8);
  Ak__V1__WriteFileRequest w = AK__V1__WRITE_FILE_REQUEST__INIT;
  w.sandbox = const_cast<char*>("t1");
  w.path = const_cast<char*>("/tmp/d/f.bin");
  w.content.data = reinterpret_cast<uint8_t*>(data.data());
  w.content.len = data.size();
  ASSERT_EQ(Unary("WriteFile", &w.base, &resp, &e), RPC_OK) << e;
  protobuf_c_message_free_unpacked(resp, nullptr);
  Ak__V1__ReadFileRequest rd = AK__V1__READ_FILE_REQUEST__INIT;
  rd.sandbox = const_cast<char*>("t1");
  rd.path = const_cast<char*>("/tmp/d/f.bin");
  ASSERT_EQ(Unary("ReadFile", &rd.base, &resp, &e), RPC_OK) << e;
  auto* rr = reinterpret_cast<Ak__V1__ReadFileResponse*>(resp);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(rr->content.data), rr->content.len), data);
  protobuf_c_message_free_unpacked(resp, nullptr);
  rd.path = const_cast<char*>("/etc/shadow");
  EXPECT_EQ(Unary("ReadFile", &rd.base, &resp, &e), RPC_PERMISSION_DENIED);
  Ak__V1__RemoveFileRequest rf = AK__V1__REMOVE_FILE_REQUEST__INIT;
  rf.sandbox = const_cast<char*>("t1");
  rf.path = const_cast<char*>("/tmp/d/f.bin");
  ASSERT_EQ(Unary("RemoveFile", &rf.base, &resp, &e), RPC_OK) << e;
  protobuf_c_message_free_unpacked(resp, nullptr);
  rd.path = const_cast<char*>("/tmp/d/f.bin");
  EXPECT_EQ(Unary("ReadFile", &rd.base, &resp, &e), RPC_FAILED_PRECONDITION);

  // Status lists it; list finds it.
  Ak__V1__GetExecutorStatusRequest sr = AK__V1__GET_EXECUTOR_STATUS_REQUEST__INIT;
  ASSERT_EQ(Unary("GetStatus", &sr.base, &resp, &e), RPC_OK) << e;
  auto* st = reinterpret_cast<Ak__V1__ExecutorStatus*>(resp);
  ASSERT_EQ(st->n_sandboxes, 1u);
  EXPECT_STREQ(st->sandboxes[0]->spec->name, "t1");
  EXPECT_GE(st->allocated->memory_mb, 512u);
  protobuf_c_message_free_unpacked(resp, nullptr);

  Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
  rm.name = const_cast<char*>("t1");
  ASSERT_EQ(Unary("RemoveSandbox", &rm.base, &resp, &e), RPC_OK) << e;
  protobuf_c_message_free_unpacked(resp, nullptr);
  EXPECT_EQ(Unary("RemoveSandbox", &rm.base, &resp, &e), RPC_NOT_FOUND);
  ExecOut gone;
  Exec("t1", {"true"}, &gone);
  EXPECT_EQ(gone.status, -RPC_NOT_FOUND);
}

TEST_F(ExecutorTest, BadRequestsNameTheField) {
  std::string e;
  ProtobufCMessage* resp = nullptr;
  Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
  spec.name = const_cast<char*>("Bad Name");
  Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
  cr.spec = &spec;
  EXPECT_EQ(Unary("CreateSandbox", &cr.base, &resp, &e), RPC_INVALID_ARGUMENT);
  EXPECT_NE(e.find("spec.name"), std::string::npos) << e;
  spec.name = const_cast<char*>("ok");
  spec.profile = const_cast<char*>("lax");
  EXPECT_EQ(Unary("CreateSandbox", &cr.base, &resp, &e), RPC_INVALID_ARGUMENT);
  EXPECT_NE(e.find("spec.profile"), std::string::npos) << e;
  Ak__V1__GetSandboxRequest g = AK__V1__GET_SANDBOX_REQUEST__INIT;
  g.name = const_cast<char*>("nope");
  EXPECT_EQ(Unary("GetSandbox", &g.base, &resp, &e), RPC_NOT_FOUND);
}

}  // namespace
