// Detached commands through a real ak-executor and a real microVM (one VM
// for every case): a command that prints, sleeps and exits 3 is running,
// then completed with exit 3; its logs read from an offset and in bounded
// pieces; a `sleep 100` is killed (failed, 137) and KillDetached is
// idempotent; list shows both, oldest first; max_log_bytes keeps the first
// bytes and the command still runs to its end; bad ids and unknown ids fail
// with INVALID_ARGUMENT and NOT_FOUND; a running command's logs show its
// output so far; the 257th command of a sandbox is
// RESOURCE_EXHAUSTED (last: it fills the sandbox's table).
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

extern "C" {
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

class DetachedTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = akvm::MakeTempDir("akdet");
    exec_ = new ServiceProcess;
    setenv("AK_GUEST_BIN", Runfile("guest/ak-guest").c_str(), 1);
    ASSERT_TRUE(exec_->Start({Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure",
                              "--state-dir", dir_ + "/st", "--images", akvm::ImageStoreDir(), "--min-warm", "0"},
                             dir_, "executor"))
        << Slurp(exec_->err);
    struct ak_error err = {};
    ASSERT_EQ(rpc_channel_new(exec_->addr.c_str(), nullptr, &ch_, &err), 0) << err.msg;
    Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
    spec.name = const_cast<char*>("det");
    Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
    cr.spec = &spec;
    std::string e;
    int r = aktest::ExecutorUnary(ch_, "CreateSandbox", &cr.base, 240000, nullptr, &e);
    if (r != RPC_OK && akvm::KernelUnavailable(e.c_str())) {
      skip_ = e;
      return;
    }
    ASSERT_EQ(r, RPC_OK) << e;
  }
  static void TearDownTestSuite() {
    rpc_channel_free(ch_);
    if (exec_) {
      EXPECT_EQ(exec_->Stop(), 0) << Slurp(exec_->err);
    }
    delete exec_;
    akvm::RemoveDir(dir_);
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
  }

  static int Call(const char* method, const ProtobufCMessage* req, ProtobufCMessage** resp, std::string* e) {
    return aktest::ExecutorUnary(ch_, method, req, 60000, resp, e);
  }
  // Starts argv detached; returns its record (caller frees) or fails.
  static Ak__V1__DetachedCommand* Start(std::initializer_list<const char*> argv, uint64_t max_log = 0) {
    std::vector<char*> v;
    for (const char* a : argv) v.push_back(const_cast<char*>(a));
    Ak__V1__ExecDetachedRequest req = AK__V1__EXEC_DETACHED_REQUEST__INIT;
    req.sandbox = const_cast<char*>("det");
    req.argv = v.data();
    req.n_argv = v.size();
    req.max_log_bytes = max_log;
    ProtobufCMessage* m = nullptr;
    std::string e;
    EXPECT_EQ(Call("ExecDetached", &req.base, &m, &e), RPC_OK) << e;
    return reinterpret_cast<Ak__V1__DetachedCommand*>(m);
  }
  static Ak__V1__DetachedCommand* Get(const std::string& id, int want = RPC_OK) {
    Ak__V1__DetachedRef ref = AK__V1__DETACHED_REF__INIT;
    ref.sandbox = const_cast<char*>("det");
    ref.id = const_cast<char*>(id.c_str());
    ProtobufCMessage* m = nullptr;
    std::string e;
    EXPECT_EQ(Call("GetDetached", &ref.base, &m, &e), want) << e;
    return reinterpret_cast<Ak__V1__DetachedCommand*>(m);
  }
  // Waits (up to 60 s) until id is no longer running.
  static Ak__V1__DetachedCommand* WaitDone(const std::string& id) {
    for (int i = 0; i < 600; i++) {
      Ak__V1__DetachedCommand* d = Get(id);
      if (!d || strcmp(d->status, "running") != 0) return d;
      protobuf_c_message_free_unpacked(&d->base, nullptr);
      usleep(100000);
    }
    return nullptr;
  }
  static std::string Logs(const std::string& id, bool err, uint64_t off, uint32_t max, uint64_t* next = nullptr) {
    Ak__V1__DetachedLogsRequest req = AK__V1__DETACHED_LOGS_REQUEST__INIT;
    req.sandbox = const_cast<char*>("det");
    req.id = const_cast<char*>(id.c_str());
    req.stderr = err;
    req.offset = off;
    req.max_bytes = max;
    ProtobufCMessage* m = nullptr;
    std::string e;
    EXPECT_EQ(Call("DetachedLogs", &req.base, &m, &e), RPC_OK) << e;
    if (!m) return "<failed>";
    auto* r = reinterpret_cast<Ak__V1__DetachedLogsResponse*>(m);
    std::string s(reinterpret_cast<char*>(r->data.data), r->data.len);
    if (next) *next = r->next_offset;
    protobuf_c_message_free_unpacked(m, nullptr);
    return s;
  }

  static std::string dir_, skip_;
  static ServiceProcess* exec_;
  static struct rpc_channel* ch_;
};
std::string DetachedTest::dir_, DetachedTest::skip_;
ServiceProcess* DetachedTest::exec_;
struct rpc_channel* DetachedTest::ch_;

TEST_F(DetachedTest, RunsThenCompletesWithItsExitCodeAndLogs) {
  Ak__V1__DetachedCommand* d = Start({"sh", "-c", "echo a; echo err >&2; sleep 2; echo b; exit 3"});
  ASSERT_NE(d, nullptr);
  std::string id = d->id;
  EXPECT_STREQ(d->status, "running");
  EXPECT_FALSE(d->has_exit_code);
  EXPECT_GT(d->pid, 1);
  EXPECT_GT(d->started_at_ms, 1700000000000);
  ASSERT_EQ(d->n_argv, 3u);
  EXPECT_STREQ(d->argv[2], "echo a; echo err >&2; sleep 2; echo b; exit 3");
  protobuf_c_message_free_unpacked(&d->base, nullptr);
  d = WaitDone(id);
  ASSERT_NE(d, nullptr);
  EXPECT_STREQ(d->status, "completed");
  EXPECT_TRUE(d->has_exit_code);
  EXPECT_EQ(d->exit_code, 3);
  EXPECT_EQ(d->stdout_bytes, 4u);
  protobuf_c_message_free_unpacked(&d->base, nullptr);
  uint64_t next = 0;
  EXPECT_EQ(Logs(id, false, 0, 0, &next), "a\nb\n");
  EXPECT_EQ(next, 4u);
  EXPECT_EQ(Logs(id, false, 2, 0, &next), "b\n");
  EXPECT_EQ(Logs(id, false, 1, 2, &next), "\nb");
  EXPECT_EQ(next, 3u);
  EXPECT_EQ(Logs(id, false, 100, 0, &next), "");
  EXPECT_EQ(next, 100u);
  EXPECT_EQ(Logs(id, true, 0, 0), "err\n");
}

// Output is readable while the command still runs: each stream's log
// grows as the command writes, not only when it ends.
TEST_F(DetachedTest, LogsOfARunningCommandShowItsOutputSoFar) {
  Ak__V1__DetachedCommand* d = Start({"sh", "-c", "echo early; echo warn >&2; sleep 100; echo late"});
  ASSERT_NE(d, nullptr);
  std::string id = d->id;
  protobuf_c_message_free_unpacked(&d->base, nullptr);
  std::string out, err;
  for (int i = 0; i < 200 && (out.empty() || err.empty()); i++) {
    usleep(100000);
    out = Logs(id, false, 0, 0);
    err = Logs(id, true, 0, 0);
  }
  EXPECT_EQ(out, "early\n");
  EXPECT_EQ(err, "warn\n");
  d = Get(id);
  ASSERT_NE(d, nullptr);
  EXPECT_STREQ(d->status, "running");
  EXPECT_EQ(d->stdout_bytes, 6u);
  protobuf_c_message_free_unpacked(&d->base, nullptr);
  Ak__V1__DetachedRef ref = AK__V1__DETACHED_REF__INIT;
  ref.sandbox = const_cast<char*>("det");
  ref.id = const_cast<char*>(id.c_str());
  ProtobufCMessage* m = nullptr;
  std::string e;
  ASSERT_EQ(Call("KillDetached", &ref.base, &m, &e), RPC_OK) << e;
  protobuf_c_message_free_unpacked(m, nullptr);
  EXPECT_EQ(Logs(id, false, 0, 0), "early\n");
}

TEST_F(DetachedTest, KillEndsTheCommandAndIsIdempotent) {
  Ak__V1__DetachedCommand* d = Start({"sleep", "100"});
  ASSERT_NE(d, nullptr);
  std::string id = d->id;
  protobuf_c_message_free_unpacked(&d->base, nullptr);
  Ak__V1__DetachedRef ref = AK__V1__DETACHED_REF__INIT;
  ref.sandbox = const_cast<char*>("det");
  ref.id = const_cast<char*>(id.c_str());
  for (int i = 0; i < 2; i++) {
    ProtobufCMessage* m = nullptr;
    std::string e;
    ASSERT_EQ(Call("KillDetached", &ref.base, &m, &e), RPC_OK) << e;
    d = reinterpret_cast<Ak__V1__DetachedCommand*>(m);
    EXPECT_STREQ(d->status, "failed");
    EXPECT_TRUE(d->has_exit_code);
    EXPECT_EQ(d->exit_code, 137);
    protobuf_c_message_free_unpacked(m, nullptr);
  }
}

TEST_F(DetachedTest, ListShowsEveryCommandOldestFirst) {
  Ak__V1__DetachedCommand* a = Start({"true"});
  Ak__V1__DetachedCommand* b = Start({"sleep", "1"});
  ASSERT_TRUE(a && b);
  Ak__V1__ListDetachedRequest req = AK__V1__LIST_DETACHED_REQUEST__INIT;
  req.sandbox = const_cast<char*>("det");
  ProtobufCMessage* m = nullptr;
  std::string e;
  ASSERT_EQ(Call("ListDetached", &req.base, &m, &e), RPC_OK) << e;
  auto* l = reinterpret_cast<Ak__V1__ListDetachedResponse*>(m);
  ASSERT_GE(l->n_commands, 2u);
  EXPECT_STREQ(l->commands[l->n_commands - 2]->id, a->id);
  EXPECT_STREQ(l->commands[l->n_commands - 1]->id, b->id);
  EXPECT_STREQ(l->commands[l->n_commands - 1]->sandbox, "det");
  for (size_t i = 1; i < l->n_commands; i++) EXPECT_LT(strcmp(l->commands[i - 1]->id, l->commands[i]->id), 0);
  protobuf_c_message_free_unpacked(m, nullptr);
  protobuf_c_message_free_unpacked(&a->base, nullptr);
  protobuf_c_message_free_unpacked(&b->base, nullptr);
}

TEST_F(DetachedTest, OutputPastTheCapIsDroppedAndTheCommandRunsOn) {
  // 100000 bytes to a 1000-byte cap, then a marker on stderr: the command
  // was not stopped by its output.
  Ak__V1__DetachedCommand* d =
      Start({"sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x; echo done >&2; exit 0"}, 1000);
  ASSERT_NE(d, nullptr);
  std::string id = d->id;
  protobuf_c_message_free_unpacked(&d->base, nullptr);
  d = WaitDone(id);
  ASSERT_NE(d, nullptr);
  EXPECT_STREQ(d->status, "completed");
  EXPECT_EQ(d->exit_code, 0);
  EXPECT_EQ(d->stdout_bytes, 1000u);
  EXPECT_TRUE(d->stdout_truncated);
  EXPECT_FALSE(d->stderr_truncated);
  protobuf_c_message_free_unpacked(&d->base, nullptr);
  EXPECT_EQ(Logs(id, false, 0, 0), std::string(1000, 'x'));
  EXPECT_EQ(Logs(id, true, 0, 0), "done\n");
}

TEST_F(DetachedTest, BadAndUnknownIdsAndLimits) {
  Get("../../etc", RPC_INVALID_ARGUMENT);
  Get("0123-abcd", RPC_NOT_FOUND);
  Ak__V1__DetachedLogsRequest req = AK__V1__DETACHED_LOGS_REQUEST__INIT;
  req.sandbox = const_cast<char*>("det");
  req.id = const_cast<char*>("0123");
  req.max_bytes = 5u << 20;
  std::string e;
  EXPECT_EQ(Call("DetachedLogs", &req.base, nullptr, &e), RPC_INVALID_ARGUMENT);
  EXPECT_NE(e.find("max_bytes"), std::string::npos) << e;
  Ak__V1__ExecDetachedRequest x = AK__V1__EXEC_DETACHED_REQUEST__INIT;
  x.sandbox = const_cast<char*>("det");
  EXPECT_EQ(Call("ExecDetached", &x.base, nullptr, &e), RPC_INVALID_ARGUMENT);
  x.sandbox = const_cast<char*>("nosuch");
  const char* argv[] = {"true"};
  x.argv = const_cast<char**>(argv);
  x.n_argv = 1;
  EXPECT_EQ(Call("ExecDetached", &x.base, nullptr, &e), RPC_NOT_FOUND);
}

TEST_F(DetachedTest, TheSandboxHoldsAtMost256Commands) {
  // Fill the table with empty entries (as the sandbox's user may; the list
  // skips entries without a command), then one more start is refused.
  Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
  const char* cmd[] = {"sh", "-c", "cd /tmp/.ak-detached && i=0; while [ $i -lt 256 ]; do mkdir -p f$i; i=$((i+1)); done"};
  req.sandbox = const_cast<char*>("det");
  req.argv = const_cast<char**>(cmd);
  req.n_argv = 3;
  aktest::StreamOut o;
  aktest::ExecutorStream(ch_, "Exec", &req.base, 60000, &o);
  ASSERT_EQ(o.status, 0) << o.error;
  ASSERT_NE(o.result, nullptr);
  ASSERT_EQ(o.result->exit_code, 0) << o.err;
  Ak__V1__ExecDetachedRequest x = AK__V1__EXEC_DETACHED_REQUEST__INIT;
  const char* argv[] = {"true"};
  x.sandbox = const_cast<char*>("det");
  x.argv = const_cast<char**>(argv);
  x.n_argv = 1;
  std::string e;
  EXPECT_EQ(Call("ExecDetached", &x.base, nullptr, &e), RPC_RESOURCE_EXHAUSTED);
  EXPECT_NE(e.find("256 detached commands"), std::string::npos) << e;
  Ak__V1__ListDetachedRequest l = AK__V1__LIST_DETACHED_REQUEST__INIT;
  l.sandbox = const_cast<char*>("det");
  EXPECT_EQ(Call("ListDetached", &l.base, nullptr, &e), RPC_OK) << e;
}

}  // namespace
