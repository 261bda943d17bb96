// ak-executor as a real process with real microVMs (TCG here) and a real
// ak-auditor, its signer unreachable (nothing listens on 127.0.0.1:1): a
// warm pool of base/restrictive (one VM) serves a create without a boot
// while moderate misses, each profile is seen from inside its guest, TTLs
// expire, Run removes its sandbox unless keep, receipts stay unsigned and
// say why, audit events reach the auditor's file destination, and a PTY
// shell runs; a pool VM runs a warm-up command before it is ready, and its
// refill waits while the Run that took it runs (at most 1 s). Boots: the
// pool VM and its refills, one moderate VM, and the Run and shell
// sandboxes (or pool hits).
#include <dirent.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/executor.pb-c.h"
}
#include "services/executor/testing/executor_client.h"
#include "tests/testing/json_log.h"
#include "tests/testing/service_process.h"
#include "vmm/testing/vm_fixture.h"

using aktest::ServiceProcess;
using aktest::Runfile;
using aktest::Slurp;

namespace {

using Out = aktest::StreamOut;

class ExecutorFeaturesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = akvm::MakeTempDir("akexf");
    auditor_ = new ServiceProcess;
    exec_ = new ServiceProcess;
    audit_out_ = dir_ + "/audit.jsonl";
    {
      std::string cfg = R"({"destination":{"type":"file","path":")" + audit_out_ +
                        R"("},"batch_size":1,"flush_interval_secs":1})";
      FILE* f = fopen((dir_ + "/audit.json").c_str(), "w");
      ASSERT_NE(f, nullptr);
      fputs(cfg.c_str(), f);
      fclose(f);
    }
    ASSERT_TRUE(auditor_->Start({Runfile("services/auditor/ak-auditor"), "--listen", "127.0.0.1:0", "--insecure", "--config",
                                 dir_ + "/audit.json", "--spool", dir_ + "/spool"},
                                dir_, "auditor"))
        << Slurp(auditor_->err);
    setenv("AK_GUEST_BIN", Runfile("guest/ak-guest").c_str(), 1);
    ASSERT_TRUE(exec_->Start({Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure", "--state-dir",
                              dir_ + "/st", "--images", akvm::ImageStoreDir(), "--auditor", auditor_->addr,
                              "--signer", "127.0.0.1:1", "--pool", "base/restrictive", "--min-warm", "1",
                              "--max-warm", "1", "--max-age", "900", "--log-level", "debug", "--log-format",
                              "json"},
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
    if (auditor_) auditor_->Stop();
    delete exec_;
    delete auditor_;
    akvm::RemoveDir(dir_);
  }

  static int Unary(const char* method, const ProtobufCMessage* req, ProtobufCMessage** resp, std::string* e) {
    return aktest::ExecutorUnary(ch_, method, req, 240000, resp, e);
  }

  static void Stream(const char* method, const ProtobufCMessage* req, Out* o) {
    aktest::ExecutorStream(ch_, method, req, 240000, o);
  }

  static void Sh(const std::string& sandbox, const std::string& script, Out* o) {
    Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
    const char* argv[] = {"/bin/sh", "-c", script.c_str()};
    req.sandbox = const_cast<char*>(sandbox.c_str());
    req.argv = const_cast<char**>(argv);
    req.n_argv = 3;
    req.sudo = true;
    req.timeout_ms = 60000;
    Stream("Exec", &req.base, o);
  }

  static Ak__V1__ExecutorStatus* Status() {
    Ak__V1__GetExecutorStatusRequest sr = AK__V1__GET_EXECUTOR_STATUS_REQUEST__INIT;
    ProtobufCMessage* resp = nullptr;
    std::string e;
    EXPECT_EQ(Unary("GetStatus", &sr.base, &resp, &e), RPC_OK) << e;
    return reinterpret_cast<Ak__V1__ExecutorStatus*>(resp);
  }

  // Whether, within ms, every VM directory under the state dir has its QEMU
  // and both match what the status accounts for (sandboxes + pool VMs):
  // no VM is left behind by a removal that finished in the background.
  static bool VmsSettle(int ms) {
    std::string where = dir_ + "/st/v/";
    for (int waited = 0; waited <= ms; waited += 100) {
      Ak__V1__ExecutorStatus* st = Status();
      if (!st) return false;
      size_t want = st->n_sandboxes;
      for (size_t i = 0; i < st->n_pools; i++) want += st->pools[i]->ready + st->pools[i]->booting;
      protobuf_c_message_free_unpacked(&st->base, nullptr);
      size_t dirs = 0;
      if (DIR* d = opendir(where.c_str())) {
        while (struct dirent* e = readdir(d))
          if (e->d_name[0] != '.') dirs++;
        closedir(d);
      }
      if (dirs == want && static_cast<size_t>(aktest::ProcessesMentioning(where)) == want) return true;
      usleep(100000);
    }
    return false;
  }

  // The warm pool's counters (one pool: base/restrictive).
  static void Pool(uint32_t* ready, uint64_t* hits, uint64_t* misses) {
    Ak__V1__ExecutorStatus* st = Status();
    ASSERT_NE(st, nullptr);
    ASSERT_EQ(st->n_pools, 1u);
    EXPECT_STREQ(st->pools[0]->profile, "restrictive");
    *ready = st->pools[0]->ready;
    *hits = st->pools[0]->hits;
    *misses = st->pools[0]->misses;
    protobuf_c_message_free_unpacked(&st->base, nullptr);
  }

  // The pool's ready and booting VMs and its hits, in one status.
  static void PoolNow(uint32_t* ready, uint32_t* booting, uint64_t* hits) {
    Ak__V1__ExecutorStatus* st = Status();
    ASSERT_NE(st, nullptr);
    ASSERT_EQ(st->n_pools, 1u);
    *ready = st->pools[0]->ready;
    *booting = st->pools[0]->booting;
    *hits = st->pools[0]->hits;
    protobuf_c_message_free_unpacked(&st->base, nullptr);
  }

  static size_t Count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) n++;
    return n;
  }

  static bool WaitPoolReady() {
    for (int i = 0; i < 2400; i++) {
      uint32_t ready;
      uint64_t h, m;
      Pool(&ready, &h, &m);
      if (ready >= 1) return true;
      usleep(100000);
    }
    return false;
  }

  static int Create(const char* name, const char* profile, uint32_t ttl, bool* from_pool, std::string* e) {
    Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
    spec.name = const_cast<char*>(name);
    spec.profile = const_cast<char*>(profile);
    spec.persistent = true;
    spec.ttl_seconds = ttl;
    Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
    cr.spec = &spec;
    ProtobufCMessage* resp = nullptr;
    int r = Unary("CreateSandbox", &cr.base, &resp, e);
    if (r == RPC_OK) {
      *from_pool = reinterpret_cast<Ak__V1__Sandbox*>(resp)->from_pool;
      protobuf_c_message_free_unpacked(resp, nullptr);
    }
    return r;
  }

  static int Get(const char* name) {
    Ak__V1__GetSandboxRequest g = AK__V1__GET_SANDBOX_REQUEST__INIT;
    g.name = const_cast<char*>(name);
    ProtobufCMessage* resp = nullptr;
    std::string e;
    int r = Unary("GetSandbox", &g.base, &resp, &e);
    if (resp) protobuf_c_message_free_unpacked(resp, nullptr);
    return r;
  }

  static void Remove(const char* name) {
    Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
    rm.name = const_cast<char*>(name);
    ProtobufCMessage* resp = nullptr;
    std::string e;
    EXPECT_EQ(Unary("RemoveSandbox", &rm.base, &resp, &e), RPC_OK) << e;
    if (resp) protobuf_c_message_free_unpacked(resp, nullptr);
  }

  static long MemTotalKb(const std::string& sandbox) {
    Out o;
    Sh(sandbox, "sed -n 's/^MemTotal: *\\([0-9]*\\) kB$/\\1/p' /proc/meminfo", &o);
    EXPECT_EQ(o.status, 0) << o.error;
    return atol(o.out.c_str());
  }

  static std::string dir_, audit_out_;
  static ServiceProcess *auditor_, *exec_;
  static struct rpc_channel* ch_;
};

std::string ExecutorFeaturesTest::dir_;
std::string ExecutorFeaturesTest::audit_out_;
ServiceProcess* ExecutorFeaturesTest::auditor_;
ServiceProcess* ExecutorFeaturesTest::exec_;
struct rpc_channel* ExecutorFeaturesTest::ch_;

// Virtio device ids the guest sees (0x0001 is a network card) and its
// network interfaces.
const char kDevices[] = "cat /sys/bus/virtio/devices/*/device | sort | tr '\\n' ' '; echo; ls /sys/class/net";

TEST_F(ExecutorFeaturesTest, PoolHitRestrictiveProfileUnsignedReceipt) {
  // Only a machine that cannot download the kernel excuses an empty pool.
  std::string skip, why;
  if (!akvm::GetKernel(&skip, &why)) {
    if (!skip.empty()) GTEST_SKIP() << skip;
    FAIL() << why;
  }
  ASSERT_TRUE(WaitPoolReady()) << "the warm pool never filled: " << Slurp(exec_->err);
  uint32_t ready;
  uint64_t hits0, misses0, hits1, misses1;
  Pool(&ready, &hits0, &misses0);
  bool from_pool = false;
  std::string e;
  ASSERT_EQ(Create("r1", "restrictive", 0, &from_pool, &e), RPC_OK) << e;
  EXPECT_TRUE(from_pool);
  Pool(&ready, &hits1, &misses1);
  EXPECT_EQ(hits1, hits0 + 1);
  EXPECT_EQ(misses1, misses0);
  {  // The log: a line per pool refill, and r1's boot (from the pool).
    std::string log = Slurp(exec_->err);
    EXPECT_EQ(aktest::JsonLogProblem(log, "ak-executor"), "");
    std::vector<std::string> refills = aktest::JsonLogLines(log, "pool refill");
    ASSERT_FALSE(refills.empty()) << log;
    EXPECT_NE(refills[0].find("\"profile\":\"restrictive\""), std::string::npos) << refills[0];
    EXPECT_NE(refills[0].find("\"boot_ms\":"), std::string::npos) << refills[0];
    bool r1 = false;
    for (const std::string& l : aktest::JsonLogLines(log, "sandbox booted"))
      r1 |= l.find("\"sandbox\":\"r1\"") != std::string::npos && l.find("\"from_pool\":1") != std::string::npos;
    EXPECT_TRUE(r1) << log;
  }

  {  // No network device at all; only lo.
    Out o;
    Sh("r1", kDevices, &o);
    ASSERT_EQ(o.status, 0) << o.error;
    EXPECT_EQ(o.out.find("0x0001"), std::string::npos) << o.out;
    EXPECT_EQ(o.out.substr(o.out.find('\n') + 1), "lo\n") << o.out;
  }
  {  // Read-only root, writable /tmp (a 64 MiB tmpfs).
    Out o;
    Sh("r1", "touch /rootfile 2>/dev/null && echo root-writable; touch /tmp/ok && echo tmp-ok; "
             "df -k /tmp | tail -1 | awk '{print $2}'", &o);
    ASSERT_EQ(o.status, 0) << o.error;
    EXPECT_EQ(o.out, "tmp-ok\n65536\n");
  }
  long kb = MemTotalKb("r1");
  EXPECT_GT(kb, 150 * 1024);
  EXPECT_LE(kb, 256 * 1024);
  {  // The signer is unreachable: the run completes, the receipt comes
     // unsigned and says why.
    Out o;
    Sh("r1", "echo hi", &o);
    ASSERT_EQ(o.status, 0) << o.error;
    ASSERT_NE(o.result, nullptr);
    EXPECT_EQ(o.result->exit_code, 0);
    EXPECT_NE(std::string(o.result->receipt_error).find("signer unreachable"), std::string::npos)
        << o.result->receipt_error;
    ASSERT_NE(o.result->receipt, nullptr);
    EXPECT_EQ(o.result->receipt->signature, nullptr);
    ASSERT_NE(o.result->receipt->outcome, nullptr);
    EXPECT_EQ(o.result->receipt->outcome->exit_code, 0);
  }
  Remove("r1");

  // r1's lifecycle and commands reached the auditor's file destination.
  std::string got;
  for (int i = 0; i < 300; i++) {
    got = Slurp(audit_out_);
    if (got.find("sandbox_removed") != std::string::npos) break;
    usleep(100000);
  }
  for (const char* type : {"sandbox_created", "sandbox_started", "command_executed", "sandbox_stopped",
                           "sandbox_removed"})
    EXPECT_NE(got.find(type), std::string::npos) << type << " missing in:\n" << got.substr(0, 4000);
  EXPECT_NE(got.find("\"r1\""), std::string::npos) << got.substr(0, 4000);
}

TEST_F(ExecutorFeaturesTest, ModerateMissesThePoolAndExpires) {
  uint32_t ready;
  uint64_t hits0, misses0, hits1, misses1;
  Pool(&ready, &hits0, &misses0);
  bool from_pool = true;
  std::string e;
  int64_t t0 = time(nullptr);
  int r = Create("m1", "moderate", 30, &from_pool, &e);
  if (r != RPC_OK && akvm::KernelUnavailable(e)) GTEST_SKIP() << e;
  ASSERT_EQ(r, RPC_OK) << e;
  EXPECT_FALSE(from_pool);
  Pool(&ready, &hits1, &misses1);
  EXPECT_EQ(hits1, hits0);  // another profile's pool is not touched
  {  // A network card (virtio id 0x0001) and its interface beside lo.
    Out o;
    Sh("m1", kDevices, &o);
    ASSERT_EQ(o.status, 0) << o.error;
    EXPECT_NE(o.out.find("0x0001"), std::string::npos) << o.out;
    EXPECT_NE(o.out.substr(o.out.find('\n') + 1), "lo\n") << o.out;
  }
  {  // A writable root.
    Out o;
    Sh("m1", "touch /rootfile && echo root-writable", &o);
    EXPECT_EQ(o.out, "root-writable\n");
  }
  long kb = MemTotalKb("m1");
  EXPECT_GT(kb, 256 * 1024);
  EXPECT_LE(kb, 512 * 1024);
  // The TTL (30 s from the create) removes it.
  EXPECT_EQ(Get("m1"), RPC_OK);
  int got = RPC_OK;
  while (got == RPC_OK && time(nullptr) - t0 < 90) {
    usleep(250000);
    got = Get("m1");
  }
  EXPECT_EQ(got, RPC_NOT_FOUND);
  EXPECT_GE(time(nullptr) - t0, 29);
}

TEST_F(ExecutorFeaturesTest, RunRemovesItsSandboxUnlessKeep) {
  for (bool keep : {false, true}) {
    Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
    spec.name = const_cast<char*>(keep ? "run-keep" : "run-once");
    spec.profile = const_cast<char*>("restrictive");
    Ak__V1__RunRequest req = AK__V1__RUN_REQUEST__INIT;
    const char* argv[] = {"/bin/sh", "-c", "echo ran; exit 4"};
    req.spec = &spec;
    req.argv = const_cast<char**>(argv);
    req.n_argv = 3;
    req.keep = keep;
    req.timeout_ms = 60000;
    Out o;
    Stream("Run", &req.base, &o);
    ASSERT_EQ(o.status, 0) << o.error;
    EXPECT_EQ(o.out, "ran\n");
    ASSERT_NE(o.result, nullptr);
    EXPECT_EQ(o.result->exit_code, 4);
    ASSERT_NE(o.result->receipt, nullptr);
    EXPECT_EQ(Get(spec.name), keep ? RPC_OK : RPC_NOT_FOUND) << spec.name;
    if (keep) Remove(spec.name);
    // The one-shot run answered before its VM went; it goes all the same.
    EXPECT_TRUE(VmsSettle(15000)) << "a VM outlived its sandbox";
  }
}

// The pool VM ran its warm-up command before it was ready (the executor's
// debug line, exit code 0: busybox has `true`). A Run that takes it: no
// refill boots beside it for the first part of a second (before, the boot
// started at the take), one starts within POOL_REFILL_DEFER_MS (1 s) of
// the take although the Run still runs, and is warmed up in turn; the
// Run's receipt is there, its sandbox and VM gone afterwards.
TEST_F(ExecutorFeaturesTest, PoolRefillWaitsForTheRunAndWarmsUp) {
  std::string skip, why;
  if (!akvm::GetKernel(&skip, &why)) {
    if (!skip.empty()) GTEST_SKIP() << skip;
    FAIL() << why;
  }
  ASSERT_TRUE(WaitPoolReady()) << "the warm pool never filled: " << Slurp(exec_->err);
  for (int i = 0; i < 100 && Count(Slurp(exec_->err), "pool vm warmed up") == 0; i++) usleep(100000);
  std::string log = Slurp(exec_->err);
  size_t warmed = Count(log, "pool vm warmed up");
  ASSERT_GE(warmed, 1u) << log;
  {  // debug ak-executor: {..."msg":"pool vm warmed up","dir":...,"exit_code":0,"duration_us":...}
    std::vector<std::string> lines = aktest::JsonLogLines(log, "pool vm warmed up");
    ASSERT_FALSE(lines.empty()) << log;
    EXPECT_NE(lines[0].find("\"level\":\"debug\""), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find("\"exit_code\":0,"), std::string::npos) << lines[0];
  }

  uint32_t ready, booting;
  uint64_t hits0, hits;
  PoolNow(&ready, &booting, &hits0);
  ASSERT_EQ(ready, 1u);
  Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
  spec.name = const_cast<char*>("run-defer");
  spec.profile = const_cast<char*>("restrictive");
  Ak__V1__RunRequest req = AK__V1__RUN_REQUEST__INIT;
  const char* argv[] = {"/bin/sh", "-c", "sleep 4; echo slept"};
  req.spec = &spec;
  req.argv = const_cast<char**>(argv);
  req.n_argv = 3;
  req.timeout_ms = 60000;
  Out o;
  std::atomic<bool> done{false};
  std::thread run([&] {
    Stream("Run", &req.base, &o);
    done = true;
  });
  // The take: hits moves. From then on, for 500 ms, nothing boots.
  int64_t waited = 0;
  for (; waited < 120000; waited += 20) {
    PoolNow(&ready, &booting, &hits);
    if (hits > hits0 || done) break;
    usleep(20000);
  }
  ASSERT_EQ(hits, hits0 + 1) << "the Run did not take the pool VM";
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  bool booted_early = false, booted_while_running = false;
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
    PoolNow(&ready, &booting, &hits);
    if (ms < 500 && booting + ready > 0) booted_early = true;
    if (!done && booting + ready > 0) booted_while_running = true;
    if (done || booted_while_running) break;
    usleep(20000);
  }
  EXPECT_FALSE(booted_early) << "a refill booted beside the Run that took the pool VM";
  EXPECT_TRUE(booted_while_running) << "the refill waited for the whole Run (more than 1 s)";
  run.join();
  ASSERT_EQ(o.status, 0) << o.error;
  EXPECT_EQ(o.out, "slept\n");
  ASSERT_NE(o.result, nullptr);
  EXPECT_EQ(o.result->exit_code, 0);
  ASSERT_NE(o.result->receipt, nullptr);  // unsigned here: the signer is unreachable
  ASSERT_NE(o.result->receipt->outcome, nullptr);
  EXPECT_EQ(o.result->receipt->outcome->exit_code, 0);
  EXPECT_EQ(Get("run-defer"), RPC_NOT_FOUND);
  ASSERT_TRUE(WaitPoolReady()) << Slurp(exec_->err);
  for (int i = 0; i < 100 && Count(Slurp(exec_->err), "pool vm warmed up") <= warmed; i++) usleep(100000);
  EXPECT_GT(Count(Slurp(exec_->err), "pool vm warmed up"), warmed) << "the refill was not warmed up";
  EXPECT_TRUE(VmsSettle(15000)) << "a VM outlived its sandbox";
}

// A PTY shell: STARTED with a session id, input echoed back through the
// terminal, a resize the program sees, close, EXITED.
TEST_F(ExecutorFeaturesTest, PtyShell) {
  bool from_pool = false;
  std::string e;
  int r = Create("sh1", "restrictive", 0, &from_pool, &e);
  if (r != RPC_OK && akvm::KernelUnavailable(e)) GTEST_SKIP() << e;
  ASSERT_EQ(r, RPC_OK) << e;

  Ak__V1__OpenShellRequest open = AK__V1__OPEN_SHELL_REQUEST__INIT;
  open.sandbox = const_cast<char*>("sh1");
  struct rpc_stream* st = nullptr;
  struct ak_error err = {};
  struct rpc_call_options opt = {};
  opt.timeout_ms = 120000;
  ASSERT_EQ(rpc_stream_open(ch_, &ak__v1__executor__descriptor, "OpenShell", &open.base, &opt, &st, &err), RPC_OK);
  std::string session, screen;
  int exited = -100, end = 1;
  // Reads events until the screen holds want (or EXITED / the end).
  auto read_until = [&](const std::string& want) {
    while ((want.empty() ? session.empty() : screen.find(want) == std::string::npos) && exited == -100) {
      ProtobufCMessage* m = nullptr;
      end = rpc_stream_next(st, &m, &err);
      if (end <= 0) return;
      auto* ev = reinterpret_cast<Ak__V1__ShellEvent*>(m);
      if (ev->kind == AK__V1__SHELL_EVENT__KIND__STARTED) session = ev->session_id;
      if (ev->kind == AK__V1__SHELL_EVENT__KIND__OUTPUT)
        screen.append(reinterpret_cast<char*>(ev->output.data), ev->output.len);
      if (ev->kind == AK__V1__SHELL_EVENT__KIND__EXITED) exited = ev->exit_code;
      protobuf_c_message_free_unpacked(m, nullptr);
    }
  };
  read_until("");
  ASSERT_FALSE(session.empty()) << err.msg;

  auto input = [&](const char* text) {
    Ak__V1__ShellInputRequest in = AK__V1__SHELL_INPUT_REQUEST__INIT;
    in.sandbox = const_cast<char*>("sh1");
    in.session_id = const_cast<char*>(session.c_str());
    in.input.data = reinterpret_cast<uint8_t*>(const_cast<char*>(text));
    in.input.len = strlen(text);
    ProtobufCMessage* resp = nullptr;
    std::string ie;
    EXPECT_EQ(Unary("ShellInput", &in.base, &resp, &ie), RPC_OK) << ie;
    if (resp) protobuf_c_message_free_unpacked(resp, nullptr);
  };
  input("echo tty=$(tty | cut -c1-8) answer=$((6*7))\n");
  read_until("answer=42");
  EXPECT_NE(screen.find("tty=/dev/pts answer=42"), std::string::npos) << screen;

  Ak__V1__ShellResizeRequest rs = AK__V1__SHELL_RESIZE_REQUEST__INIT;
  rs.sandbox = const_cast<char*>("sh1");
  rs.session_id = const_cast<char*>(session.c_str());
  rs.rows = 41;
  rs.cols = 101;
  ProtobufCMessage* resp = nullptr;
  EXPECT_EQ(Unary("ShellResize", &rs.base, &resp, &e), RPC_OK) << e;
  if (resp) protobuf_c_message_free_unpacked(resp, nullptr);
  input("echo size=$(stty size | tr ' ' x)\n");
  read_until("size=41x101");
  EXPECT_NE(screen.find("size=41x101"), std::string::npos) << screen;

  // An unknown session is the guest's "not found".
  Ak__V1__ShellInputRequest bad = AK__V1__SHELL_INPUT_REQUEST__INIT;
  bad.sandbox = const_cast<char*>("sh1");
  bad.session_id = const_cast<char*>("no-such-session");
  bad.input.data = reinterpret_cast<uint8_t*>(const_cast<char*>("x"));
  bad.input.len = 1;
  EXPECT_EQ(Unary("ShellInput", &bad.base, &resp, &e), RPC_NOT_FOUND) << e;

  Ak__V1__ShellCloseRequest cl = AK__V1__SHELL_CLOSE_REQUEST__INIT;
  cl.sandbox = const_cast<char*>("sh1");
  cl.session_id = const_cast<char*>(session.c_str());
  EXPECT_EQ(Unary("ShellClose", &cl.base, &resp, &e), RPC_OK) << e;
  if (resp) protobuf_c_message_free_unpacked(resp, nullptr);
  read_until("\x01never");
  EXPECT_NE(exited, -100) << "no EXITED event; screen: " << screen;
  if (end > 0) {
    ProtobufCMessage* m = nullptr;
    end = rpc_stream_next(st, &m, &err);
  }
  EXPECT_EQ(end, 0) << err.msg;
  rpc_stream_free(st);
  Remove("sh1");
}

}  // namespace
