// ak-executor as a real process on loopback with a real microVM (TCG here),
// signing through a real ak-signer: lifecycle, exec with streamed output and
// a receipt that verifies and whose output_sha256 is the hash of the bytes
// the command wrote, cancellation that kills the guest command, files,
// errors. One VM boot for the suite: sandbox t1, made by the first test that
// needs it and removed by the lifecycle test, which runs last.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
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
    if (t1_ && ch_) {  // a filtered run that skipped the lifecycle test
      Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
      rm.name = const_cast<char*>("t1");
      Unary("RemoveSandbox", &rm.base, nullptr, nullptr);
    }
    if (t1_) protobuf_c_message_free_unpacked(&t1_->base, nullptr);
    t1_ = nullptr;
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

  static Ak__V1__CreateSandboxRequest T1Request(Ak__V1__SandboxSpec* spec) {
    *spec = AK__V1__SANDBOX_SPEC__INIT;
    spec->name = const_cast<char*>("t1");
    spec->persistent = true;
    spec->tenant = const_cast<char*>("team-a");  // as the scheduler stamps it
    Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
    cr.spec = spec;
    return cr;
  }
  // The suite's VM (sandbox t1), booted on first use; *e says why not.
  static int T1(std::string* e) {
    if (t1_) return RPC_OK;
    Ak__V1__SandboxSpec spec;
    Ak__V1__CreateSandboxRequest cr = T1Request(&spec);
    ProtobufCMessage* resp = nullptr;
    int r = Unary("CreateSandbox", &cr.base, &resp, e);
    if (r == RPC_OK) t1_ = reinterpret_cast<Ak__V1__Sandbox*>(resp);
    return r;
  }

  static std::string dir_;
  static ServiceProcess *signer_, *exec_;
  static struct rpc_channel* ch_;
  static Ak__V1__Sandbox* t1_;  // CreateSandbox's answer for t1
};

std::string ExecutorTest::dir_;
ServiceProcess* ExecutorTest::signer_;
ServiceProcess* ExecutorTest::exec_;
struct rpc_channel* ExecutorTest::ch_;
Ak__V1__Sandbox* ExecutorTest::t1_;

#define NEED_T1()                                                        \
  do {                                                                   \
    std::string why;                                                     \
    int r_ = T1(&why);                                                   \
    if (r_ != RPC_OK && akvm::KernelUnavailable(why)) GTEST_SKIP() << why; \
    ASSERT_EQ(r_, RPC_OK) << why;                                        \
  } while (0)

// SHA-256 of s by the host's sha256sum (coreutils), not our crypto code.
std::string Sha256sum(const std::string& dir, const std::string& s) {
  std::string path = dir + "/sha-input";
  {
    std::ofstream f(path, std::ios::binary);
    f.write(s.data(), static_cast<std::streamsize>(s.size()));
  }
  std::string cmd = "sha256sum '" + path + "'";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return "";
  char buf[128] = {};
  size_t n = fread(buf, 1, 64, p);
  pclose(p);
  unlink(path.c_str());
  return std::string(buf, n);
}

// The receipt's output_sha256 is the hash of the bytes the command wrote
// (stdout, then stderr, as they came: agentkernel's combined output), and
// output_bytes their count, under a signature that verifies. The output
// spans many guest chunks (seq 1 30000 is 168,894 bytes).
TEST_F(ExecutorTest, ReceiptHashesTheOutput) {
  NEED_T1();
  std::string want_out;
  for (int i = 1; i <= 30000; i++) want_out += std::to_string(i) + "\n";
  ExecOut o;
  Exec("t1", {"/bin/sh", "-c", "seq 1 30000; sleep 0.2; printf 'tail\\n' >&2"}, &o);
  ASSERT_EQ(o.status, 0) << o.error;
  ASSERT_EQ(o.out, want_out);
  ASSERT_EQ(o.err, "tail\n");
  std::string combined = want_out + "tail\n";
  std::string want = Sha256sum(dir_, combined);
  ASSERT_EQ(want.size(), 64u) << "sha256sum did not run";
  ASSERT_NE(o.result, nullptr);
  EXPECT_EQ(o.result->output_bytes, combined.size());
  ASSERT_NE(o.result->receipt, nullptr) << o.result->receipt_error;
  struct receipt* rc = nullptr;
  struct ak_error err = {};
  ASSERT_EQ(receipt_proto_to_receipt(o.result->receipt, &rc, &err), 0) << err.msg;
  char* why = nullptr;
  EXPECT_EQ(receipt_verify(rc, false, &why), 0) << (why ? why : "");
  free(why);
  ASSERT_NE(rc->outcome.output_sha256, nullptr);
  EXPECT_EQ(std::string(rc->outcome.output_sha256), want);
  EXPECT_EQ(rc->outcome.output_bytes, combined.size());
  EXPECT_EQ(rc->outcome.exit_code, 0);
  EXPECT_TRUE(rc->outcome.success);
  receipt_free(rc);
  // No output at all: the hash of nothing.
  ExecOut none;
  Exec("t1", {"true"}, &none);
  ASSERT_NE(none.result, nullptr);
  ASSERT_NE(none.result->receipt, nullptr);
  rc = nullptr;
  ASSERT_EQ(receipt_proto_to_receipt(none.result->receipt, &rc, &err), 0) << err.msg;
  EXPECT_STREQ(rc->outcome.output_sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  receipt_free(rc);
}

// How many processes in t1's guest run `sleep 300` (busybox ps: one line per
// process, its command line last); -1 when ps failed.
int GuestSleepers(struct rpc_channel* ch) {
  Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
  char* argv[] = {const_cast<char*>("ps"), nullptr};
  req.sandbox = const_cast<char*>("t1");
  req.argv = argv;
  req.n_argv = 1;
  req.sudo = true;
  req.timeout_ms = 30000;
  aktest::StreamOut o;
  aktest::ExecutorStream(ch, "Exec", &req.base, 60000, &o);
  if (o.status != 0 || !o.result || o.result->exit_code != 0) return -1;
  int n = 0;
  std::istringstream in(o.out);
  for (std::string line; std::getline(in, line);)
    if (line.find("sleep 300") != std::string::npos) n++;
  return n;
}

// Cancelling an Exec after its first chunk kills the command in the guest:
// the executor's hang-up reaches the agent as a close (not a half-close)
// and the agent kills the process group. No `sleep 300` is left in the
// guest's ps within 5 s.
TEST_F(ExecutorTest, CancelKillsTheGuestCommand) {
  NEED_T1();
  ASSERT_EQ(GuestSleepers(ch_), 0);
  Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
  char* argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"), const_cast<char*>("echo started; sleep 300"),
                  nullptr};
  req.sandbox = const_cast<char*>("t1");
  req.argv = argv;
  req.n_argv = 3;
  req.sudo = true;  // no timeout_ms: only the cancellation can stop it
  struct rpc_stream* st = nullptr;
  struct ak_error err = {};
  struct rpc_call_options opt = {};
  opt.timeout_ms = 120000;
  ASSERT_EQ(rpc_stream_open(ch_, &ak__v1__executor__descriptor, "Exec", &req.base, &opt, &st, &err), RPC_OK)
      << err.msg;
  ProtobufCMessage* m = nullptr;
  ASSERT_EQ(rpc_stream_next(st, &m, &err), 1) << err.msg;
  auto* c = reinterpret_cast<Ak__V1__OutputChunk*>(m);
  ASSERT_EQ(c->kind_case, AK__V1__OUTPUT_CHUNK__KIND_STDOUT);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(c->stdout.data), c->stdout.len), "started\n");
  protobuf_c_message_free_unpacked(m, nullptr);
  // It runs (the check itself is a second connection to the agent).
  int seen = 0;
  for (int i = 0; i < 50 && seen <= 0; i++) {
    seen = GuestSleepers(ch_);
    if (seen <= 0) usleep(100 * 1000);
  }
  ASSERT_GT(seen, 0) << "sleep 300 never showed in the guest's ps";

  auto t0 = std::chrono::steady_clock::now();
  rpc_stream_cancel(st);
  int r;
  while ((r = rpc_stream_next(st, &m, &err)) > 0) protobuf_c_message_free_unpacked(m, nullptr);
  EXPECT_EQ(r, -RPC_CANCELLED) << err.msg;
  rpc_stream_free(st);
  int left = -1;
  double secs = 0;
  while (secs < 5.0) {
    left = GuestSleepers(ch_);
    secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (left == 0) break;
    usleep(200 * 1000);
  }
  EXPECT_EQ(left, 0) << "sleep 300 still running " << secs << " s after the cancel";
  if (left == 0) printf("cancel -> command gone in the guest: %.2f s\n", secs);
}

// Last: it removes t1.
TEST_F(ExecutorTest, LifecycleExecReceiptFiles) {
  std::string e;
  NEED_T1();
  Ak__V1__Sandbox* sb = t1_;
  EXPECT_EQ(sb->state, AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING);
  EXPECT_STREQ(sb->spec->profile, "moderate");
  EXPECT_EQ(sb->spec->memory_mb, 512u);
  EXPECT_FALSE(sb->from_pool);
  Ak__V1__SandboxSpec spec;
  Ak__V1__CreateSandboxRequest cr = T1Request(&spec);
  ProtobufCMessage* resp = nullptr;

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
    // The receipt names the sandbox's tenant, in the message and in the file
    // clients store, beside a signature that still verifies.
    EXPECT_STREQ(rc->tenant, "team-a");
    receipt_free(rc);
    const char* json = o.result->receipt->json;
    ASSERT_NE(json, nullptr);
    why = nullptr;
    ASSERT_EQ(receipt_from_json(json, strlen(json), &rc, &why), 0) << (why ? why : "");
    EXPECT_STREQ(rc->tenant, "team-a") << json;
    EXPECT_EQ(receipt_verify(rc, false, &why), 0) << (why ? why : "");
    free(why);
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
  protobuf_c_message_free_unpacked(&t1_->base, nullptr);
  t1_ = nullptr;
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

// spec.egress is checked before anything boots: each bad entry is refused
// by index, with what is wrong and what to do.
TEST_F(ExecutorTest, BadEgressNamesTheEntry) {
  std::string e;
  ProtobufCMessage* resp = nullptr;
  Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
  spec.name = const_cast<char*>("egress-bad");
  Ak__V1__Egress eg = AK__V1__EGRESS__INIT;
  spec.egress = &eg;
  Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
  cr.spec = &spec;
  struct Case {
    std::vector<std::string> allow, deny;
    std::vector<uint32_t> ports;
    const char* want;
  } cases[] = {
      {{"198.18.0.0/15", "10.1.0.0/16"}, {}, {}, "spec.egress.allow[1]: 10.1.0.0/16 overlaps the private range"},
      {{"0.0.0.0/0"}, {}, {}, "--egress-allow-private"},
      {{"127.0.0.1"}, {}, {}, "always denied"},
      {{"169.254.169.254"}, {}, {}, "always denied"},
      {{}, {"198.18.0.0/15", "Example..com"}, {}, "spec.egress.deny[1]: Example..com: empty label"},
      {{}, {"example.com."}, {}, "spec.egress.deny[0]: example.com.: empty label"},
      {{"*"}, {}, {}, "spec.egress.allow[0]: *: a wildcard for every name"},
      {{"198.18.0.0/15", "*.com"}, {}, {}, "spec.egress.allow[1]: *.com: a wildcard over a whole top-level"},
      {{"exa_mple.com"}, {}, {}, "spec.egress.allow[0]: exa_mple.com: '_' is not allowed"},
      {{"a.*.example.com"}, {}, {}, "spec.egress.allow[0]: a.*.example.com: '*' is not allowed"},
      {{std::string(64, 'a') + ".com"}, {}, {}, "a label longer than 63"},
      {{"example.com", "10.1.0.0/16"}, {}, {}, "spec.egress.allow[1]: 10.1.0.0/16 overlaps the private range"},
      {{}, std::vector<std::string>(65, "example.com"), {}, "at most 64"},
      {{}, {"10.0.0.1/8"}, {}, "bits set past the /8"},
      {{}, {}, {443, 0}, "spec.egress.ports[1]: 0 is not a port"},
      {{}, {}, {65536}, "65536 is not a port"},
      {{}, std::vector<std::string>(65, "198.18.0.1"), {}, "at most 64"},
  };
  for (const Case& c : cases) {
    std::vector<char*> a, d;
    for (auto& x : c.allow) a.push_back(const_cast<char*>(x.c_str()));
    for (auto& x : c.deny) d.push_back(const_cast<char*>(x.c_str()));
    std::vector<uint32_t> p = c.ports;
    eg.allow = a.data();
    eg.n_allow = a.size();
    eg.deny = d.data();
    eg.n_deny = d.size();
    eg.ports = p.data();
    eg.n_ports = p.size();
    e.clear();
    EXPECT_EQ(Unary("CreateSandbox", &cr.base, &resp, &e), RPC_INVALID_ARGUMENT) << c.want;
    EXPECT_NE(e.find(c.want), std::string::npos) << e;
  }
  // None of them made a sandbox.
  Ak__V1__GetSandboxRequest g = AK__V1__GET_SANDBOX_REQUEST__INIT;
  g.name = const_cast<char*>("egress-bad");
  EXPECT_EQ(Unary("GetSandbox", &g.base, &resp, &e), RPC_NOT_FOUND);
}

}  // namespace
