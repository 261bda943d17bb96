// Audit events while the auditor is down: they wait in ak-executor's bounded
// queue (GetStatus: audit_queued, nothing dropped) and arrive once an
// ak-auditor listens again on the same address; with --audit-queue-dir they
// survive a SIGKILL of the executor, and a full queue fails the operation
// instead of dropping its event. No VM: the events come from removing
// --test-guest sandboxes and from ReadFile calls to them.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "lib/base/time.h"
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/executor.pb-c.h"
}
#include "tests/testing/service_process.h"
#include "vmm/testing/vm_fixture.h"

using aktest::ServiceProcess;
using aktest::Runfile;
using aktest::Slurp;

namespace {

struct Counters {
  uint64_t queued = 0, sent = 0, dropped = 0;
};

Counters Status(struct rpc_channel* ch) {
  Counters c;
  Ak__V1__GetExecutorStatusRequest sr = AK__V1__GET_EXECUTOR_STATUS_REQUEST__INIT;
  ProtobufCMessage* resp = nullptr;
  struct ak_error err = {};
  struct rpc_call_options o = {};
  o.timeout_ms = 10000;
  EXPECT_EQ(rpc_unary(ch, &ak__v1__executor__descriptor, "GetStatus", &sr.base, &o, &resp, &err), RPC_OK)
      << err.msg;
  if (!resp) return c;
  auto* st = reinterpret_cast<Ak__V1__ExecutorStatus*>(resp);
  c.queued = st->audit_queued;
  c.sent = st->audit_sent;
  c.dropped = st->audit_dropped;
  protobuf_c_message_free_unpacked(resp, nullptr);
  return c;
}

// Polls the executor's counters and the auditor's output file (up to 30 s)
// until n events were sent and `last` (the last event's sandbox, quoted)
// arrived; returns the file's text, *c the last counters.
std::string WaitSent(struct rpc_channel* ch, const std::string& out, uint64_t n, const std::string& last,
                     Counters* c) {
  std::string got;
  for (int i = 0; i < 300; i++) {
    *c = Status(ch);
    got = Slurp(out);
    if (c->sent == n && got.find(last) != std::string::npos) break;
    usleep(100000);
  }
  return got;
}

// RemoveSandbox `name`: the status code, and the message in *msg.
int Remove(struct rpc_channel* ch, const char* name, std::string* msg = nullptr) {
  Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
  rm.name = const_cast<char*>(name);
  ProtobufCMessage* resp = nullptr;
  struct ak_error err = {};
  struct rpc_call_options o = {};
  o.timeout_ms = 10000;
  int code = rpc_unary(ch, &ak__v1__executor__descriptor, "RemoveSandbox", &rm.base, &o, &resp, &err);
  if (resp) protobuf_c_message_free_unpacked(resp, nullptr);
  if (msg) *msg = err.msg;
  return code;
}

// A ReadFile in `name` (whose guest is not there: it fails, after its
// file_read event with outcome ERROR is queued).
void ReadFile(struct rpc_channel* ch, const char* name) {
  Ak__V1__ReadFileRequest rq = AK__V1__READ_FILE_REQUEST__INIT;
  rq.sandbox = const_cast<char*>(name);
  rq.path = const_cast<char*>("/etc/hostname");
  ProtobufCMessage* resp = nullptr;
  struct ak_error err = {};
  struct rpc_call_options o = {};
  o.timeout_ms = 10000;
  rpc_unary(ch, &ak__v1__executor__descriptor, "ReadFile", &rq.base, &o, &resp, &err);
  if (resp) protobuf_c_message_free_unpacked(resp, nullptr);
}

// An auditor config with a file sink at out; returns its path.
std::string AuditorConfig(const std::string& dir, const std::string& out, int batch = 1) {
  std::string cfg = dir + "/audit.json";
  FILE* f = fopen(cfg.c_str(), "w");
  EXPECT_NE(f, nullptr);
  if (!f) return cfg;
  fprintf(f, R"({"destination":{"type":"file","path":"%s"},"batch_size":%d,"flush_interval_secs":1})", out.c_str(),
          batch);
  fclose(f);
  return cfg;
}

// Starts ak-executor with the given extra flags; false when it does not serve.
bool StartExecutor(ServiceProcess* ex, const std::string& dir, const std::string& tag,
                   const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure",
                                   "--state-dir", dir + "/st", "--images", dir + "/images", "--min-warm", "0"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return ex->Start(argv, dir, tag);
}

TEST(ExecutorAuditTest, EventsWaitForTheAuditorAndArrive) {
  std::string dir = akvm::MakeTempDir("akexa");
  std::string out = dir + "/audit.jsonl", cfg = dir + "/audit.json";
  FILE* f = fopen(cfg.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fprintf(f, R"({"destination":{"type":"file","path":"%s"},"batch_size":1,"flush_interval_secs":1})", out.c_str());
  fclose(f);
  // Learn a free port from a first auditor, then stop it: the executor
  // starts with its auditor down.
  ServiceProcess aud;
  std::vector<std::string> aud_argv = {Runfile("services/auditor/ak-auditor"), "--listen", "127.0.0.1:0", "--insecure",
                                       "--config", cfg, "--spool", dir + "/spool"};
  ASSERT_TRUE(aud.Start(aud_argv, dir, "auditor1")) << Slurp(aud.err);
  std::string addr = aud.addr;
  aud.Stop();

  ServiceProcess ex;
  ASSERT_TRUE(ex.Start({Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure", "--state-dir",
                        dir + "/st", "--images", dir + "/images", "--min-warm", "0", "--auditor", addr,
                        "--test-guest", "ga=" + dir + "/none.sock", "--test-guest", "gb=" + dir + "/none.sock"},
                       dir, "executor"))
      << Slurp(ex.err);
  struct rpc_channel* ch = nullptr;
  struct ak_error err = {};
  ASSERT_EQ(rpc_channel_new(ex.addr.c_str(), nullptr, &ch, &err), 0) << err.msg;
  for (const char* name : {"ga", "gb"}) {
    Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
    rm.name = const_cast<char*>(name);
    ProtobufCMessage* resp = nullptr;
    struct rpc_call_options o = {};
    o.timeout_ms = 10000;
    EXPECT_EQ(rpc_unary(ch, &ak__v1__executor__descriptor, "RemoveSandbox", &rm.base, &o, &resp, &err), RPC_OK)
        << err.msg;
    if (resp) protobuf_c_message_free_unpacked(resp, nullptr);
  }
  Counters c = Status(ch);
  EXPECT_EQ(c.queued, 2u);  // one sandbox_removed each (no VM: no sandbox_stopped)
  EXPECT_EQ(c.sent, 0u);
  EXPECT_EQ(c.dropped, 0u);

  aud_argv[2] = addr;
  ServiceProcess again;
  ASSERT_TRUE(again.Start(aud_argv, dir, "auditor2")) << Slurp(again.err);
  std::string got = WaitSent(ch, out, 2, "\"gb\"", &c);
  EXPECT_EQ(c.sent, 2u);
  EXPECT_EQ(c.queued, 0u);
  EXPECT_EQ(c.dropped, 0u);
  EXPECT_NE(got.find("sandbox_removed"), std::string::npos) << got;
  EXPECT_NE(got.find("\"ga\""), std::string::npos) << got;
  EXPECT_NE(got.find("\"gb\""), std::string::npos) << got;

  rpc_channel_free(ch);
  EXPECT_EQ(ex.Stop(), 0) << Slurp(ex.err);
  again.Stop();
  akvm::RemoveDir(dir);
}

// --audit-queue-dir: events acknowledged while the auditor is down are on
// disk; a SIGKILL of the executor keeps them, and they arrive once both the
// executor and the auditor run again.
TEST(ExecutorAuditTest, DurableQueueKeepsEventsAcrossAnExecutorKill) {
  std::string dir = akvm::MakeTempDir("akexd");
  std::string out = dir + "/audit.jsonl", cfg = AuditorConfig(dir, out);
  ServiceProcess aud;
  std::vector<std::string> aud_argv = {Runfile("services/auditor/ak-auditor"), "--listen", "127.0.0.1:0",
                                       "--insecure", "--config", cfg, "--spool", dir + "/spool"};
  ASSERT_TRUE(aud.Start(aud_argv, dir, "auditor1")) << Slurp(aud.err);
  std::string addr = aud.addr;
  aud.Stop();

  std::vector<std::string> flags = {"--auditor", addr, "--audit-queue-dir", dir + "/aq",
                                    "--test-guest", "da=" + dir + "/none.sock",
                                    "--test-guest", "db=" + dir + "/none.sock"};
  ServiceProcess ex;
  ASSERT_TRUE(StartExecutor(&ex, dir, "executor1", flags)) << Slurp(ex.err);
  struct rpc_channel* ch = nullptr;
  struct ak_error err = {};
  ASSERT_EQ(rpc_channel_new(ex.addr.c_str(), nullptr, &ch, &err), 0) << err.msg;
  EXPECT_EQ(Remove(ch, "da"), RPC_OK);
  EXPECT_EQ(Remove(ch, "db"), RPC_OK);
  EXPECT_EQ(Status(ch).queued, 2u);
  rpc_channel_free(ch);
  // Acknowledged means on disk: kill it with no chance to flush anything.
  ex.Signal(SIGKILL);
  int st = 0;
  ASSERT_EQ(waitpid(ex.pid, &st, 0), ex.pid);
  ex.pid = -1;

  // Back, with the auditor still down: the two events wait on disk.
  ServiceProcess ex2;
  ASSERT_TRUE(StartExecutor(&ex2, dir, "executor2", flags)) << Slurp(ex2.err);
  ASSERT_EQ(rpc_channel_new(ex2.addr.c_str(), nullptr, &ch, &err), 0) << err.msg;
  Counters c = Status(ch);
  EXPECT_EQ(c.queued, 2u);
  EXPECT_EQ(c.sent, 0u);

  aud_argv[2] = addr;
  ServiceProcess again;
  ASSERT_TRUE(again.Start(aud_argv, dir, "auditor2")) << Slurp(again.err);
  std::string got = WaitSent(ch, out, 2, "\"db\"", &c);
  EXPECT_EQ(c.sent, 2u);
  EXPECT_EQ(c.queued, 0u);
  EXPECT_EQ(c.dropped, 0u);
  EXPECT_NE(got.find("\"da\""), std::string::npos) << got;
  EXPECT_NE(got.find("\"db\""), std::string::npos) << got;
  rpc_channel_free(ch);
  EXPECT_EQ(ex2.Stop(), 0) << Slurp(ex2.err);

  // Delivered and acknowledged: a third start sends nothing again.
  ServiceProcess ex3;
  ASSERT_TRUE(StartExecutor(&ex3, dir, "executor3", flags)) << Slurp(ex3.err);
  ASSERT_EQ(rpc_channel_new(ex3.addr.c_str(), nullptr, &ch, &err), 0) << err.msg;
  EXPECT_EQ(Status(ch).queued, 0u);
  rpc_channel_free(ch);
  EXPECT_EQ(ex3.Stop(), 0) << Slurp(ex3.err);
  again.Stop();
  akvm::RemoveDir(dir);
}

// A full queue on disk fails the operation (RESOURCE_EXHAUSTED, saying why)
// rather than dropping its event, and takes events again once the auditor
// has them.
TEST(ExecutorAuditTest, FullDurableQueueFailsTheOperation) {
  std::string dir = akvm::MakeTempDir("akexf");
  std::string out = dir + "/audit.jsonl", cfg = AuditorConfig(dir, out, 1000);
  ServiceProcess aud;
  std::vector<std::string> aud_argv = {Runfile("services/auditor/ak-auditor"), "--listen", "127.0.0.1:0",
                                       "--insecure", "--config", cfg, "--spool", dir + "/spool"};
  ASSERT_TRUE(aud.Start(aud_argv, dir, "auditor1")) << Slurp(aud.err);
  std::string addr = aud.addr;
  aud.Stop();

  ServiceProcess ex;
  ASSERT_TRUE(StartExecutor(&ex, dir, "executor",
                            {"--auditor", addr, "--audit-queue-dir", dir + "/aq", "--audit-queue-max-mb", "1",
                             "--test-guest", "fa=" + dir + "/none.sock", "--test-guest",
                             "fb=" + dir + "/none.sock"}))
      << Slurp(ex.err);
  struct rpc_channel* ch = nullptr;
  struct ak_error err = {};
  ASSERT_EQ(rpc_channel_new(ex.addr.c_str(), nullptr, &ch, &err), 0) << err.msg;
  // Fill it: ReadFile calls that fail each leave an event, until none fits
  // (8 at a time: the queue's appends share fsyncs).
  uint64_t before = 0, now = 0;
  int64_t t0 = ak_mono_ms();
  for (int round = 0; round < 100; round++) {
    std::vector<std::thread> ts;
    for (int t = 0; t < 8; t++)
      ts.emplace_back([&] {
        for (int i = 0; i < 25; i++) ReadFile(ch, "fa");
      });
    for (auto& t : ts) t.join();
    now = Status(ch).queued;
    if (now < before + 200) break;
    before = now;
  }
  ASSERT_LT(now, before + 200) << "the 1 MB queue never filled";
  printf("the 1 MB queue on disk filled at %llu events in %lld ms\n", (unsigned long long)now,
         (long long)(ak_mono_ms() - t0));
  std::string msg;
  EXPECT_EQ(Remove(ch, "fb", &msg), RPC_RESOURCE_EXHAUSTED) << msg;
  EXPECT_NE(msg.find("audit queue full"), std::string::npos) << msg;
  EXPECT_EQ(Status(ch).dropped, 0u);
  EXPECT_TRUE(ex.WaitLog("AUDIT QUEUE REFUSED")) << Slurp(ex.err);

  // The auditor takes them; the queue has room again.
  aud_argv[2] = addr;
  ServiceProcess again;
  ASSERT_TRUE(again.Start(aud_argv, dir, "auditor2")) << Slurp(again.err);
  Counters c;
  t0 = ak_mono_ms();
  for (int i = 0; i < 600; i++) {
    c = Status(ch);
    if (c.queued == 0) break;
    usleep(100000);
  }
  printf("delivered in %lld ms\n", (long long)(ak_mono_ms() - t0));
  EXPECT_EQ(c.queued, 0u);
  EXPECT_EQ(Remove(ch, "fa", &msg), RPC_OK) << msg;
  rpc_channel_free(ch);
  EXPECT_EQ(ex.Stop(), 0) << Slurp(ex.err);
  again.Stop();
  akvm::RemoveDir(dir);
}

}  // namespace
