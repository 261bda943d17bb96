// ak-executor registers with a real ak-scheduler, heartbeats its sandbox
// list, and registers again after the scheduler restarts (the new one knows
// nothing). No VM: the one sandbox is a --test-guest record.
#include <gtest/gtest.h>
#include <string.h>
#include <unistd.h>

#include <string>

extern "C" {
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/scheduler.pb-c.h"
}
#include "tests/testing/service_process.h"
#include "vmm/testing/vm_fixture.h"

using aktest::ServiceProcess;
using aktest::Runfile;
using aktest::Slurp;

namespace {

// The scheduler's record of executor "exr": 1 registered with sandbox "hb"
// and not lost, 0 not (yet), -1 the call failed.
int Registered(const std::string& addr, std::string* why) {
  struct rpc_channel* ch = nullptr;
  struct ak_error err = {};
  if (rpc_channel_new(addr.c_str(), nullptr, &ch, &err) < 0) {
    *why = err.msg;
    return -1;
  }
  Ak__V1__ListExecutorsRequest req = AK__V1__LIST_EXECUTORS_REQUEST__INIT;
  ProtobufCMessage* resp = nullptr;
  struct rpc_call_options o = {};
  o.timeout_ms = 5000;
  int r = rpc_unary(ch, &ak__v1__scheduler__descriptor, "ListExecutors", &req.base, &o, &resp, &err);
  rpc_channel_free(ch);
  if (r != RPC_OK) {
    *why = err.msg;
    return -1;
  }
  auto* l = reinterpret_cast<Ak__V1__ListExecutorsResponse*>(resp);
  int found = 0;
  for (size_t i = 0; i < l->n_executors; i++) {
    Ak__V1__ExecutorStatus* st = l->executors[i]->status;
    if (!st || strcmp(st->executor_id, "exr") != 0 || l->executors[i]->lost) continue;
    for (size_t k = 0; k < st->n_sandboxes; k++)
      if (st->sandboxes[k]->spec && strcmp(st->sandboxes[k]->spec->name, "hb") == 0) found = 1;
  }
  protobuf_c_message_free_unpacked(resp, nullptr);
  return found;
}

bool WaitRegistered(const std::string& addr, std::string* why) {
  for (int i = 0; i < 150; i++) {
    int r = Registered(addr, why);
    if (r == 1) return true;
    usleep(100000);
  }
  return false;
}

TEST(ExecutorRegistrationTest, RegistersHeartbeatsAndReregistersAfterSchedulerRestart) {
  std::string dir = akvm::MakeTempDir("akexr");
  ServiceProcess sched, exec;
  ASSERT_TRUE(sched.Start({Runfile("services/scheduler/ak-scheduler"), "--listen", "127.0.0.1:0", "--insecure",
                           "--heartbeat-interval-ms", "300"},
                          dir, "sched"))
      << Slurp(sched.err);
  std::string addr = sched.addr;
  ASSERT_TRUE(exec.Start({Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure", "--state-dir",
                          dir + "/st", "--images", dir + "/images", "--min-warm", "0", "--executor-id", "exr",
                          "--scheduler", addr, "--test-guest", "hb=" + dir + "/none.sock"},
                         dir, "executor"))
      << Slurp(exec.err);
  std::string why;
  EXPECT_TRUE(WaitRegistered(addr, &why)) << why << "\n" << Slurp(exec.err);

  // A new scheduler on the same address knows nothing until the executor
  // registers again.
  sched.Stop();
  ServiceProcess again;
  ASSERT_TRUE(again.Start({Runfile("services/scheduler/ak-scheduler"), "--listen", addr, "--insecure", "--heartbeat-interval-ms",
                           "300"},
                          dir, "sched2"))
      << Slurp(again.err);
  EXPECT_TRUE(WaitRegistered(addr, &why)) << why << "\n" << Slurp(exec.err);

  EXPECT_EQ(exec.Stop(), 0) << Slurp(exec.err);
  again.Stop();
  akvm::RemoveDir(dir);
}

}  // namespace
