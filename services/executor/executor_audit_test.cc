// Audit events while the auditor is down: they wait in ak-executor's bounded
// queue (GetStatus: audit_queued, nothing dropped) and arrive once an
// ak-auditor listens again on the same address. No VM: the events come from
// removing --test-guest sandboxes.
#include <gtest/gtest.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <vector>

extern "C" {
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
  std::string got;
  for (int i = 0; i < 300; i++) {
    c = Status(ch);
    got = Slurp(out);
    if (c.sent == 2 && got.find("\"gb\"") != std::string::npos) break;
    usleep(100000);
  }
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

}  // namespace
