// ak-executor without --vm-supervisors killed with SIGKILL while it runs a
// VM: the VMM dies with it (no QEMU process is left behind), and a new
// ak-executor on the same state directory lists the sandbox in ERROR with
// the reason (its VM stopped with the executor) until it is removed, which
// clears its directory. (executor_adopt_test: VMs that survive.) The VM
// also shows a network-off request on a moderate sandbox: no network
// device in the guest.
#include <gtest/gtest.h>
#include <dirent.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

extern "C" {
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/executor.pb-c.h"
}
#include "tests/testing/json_log.h"
#include "tests/testing/service_process.h"
#include "vmm/testing/vm_fixture.h"

using aktest::ServiceProcess;
using aktest::Runfile;
using aktest::Slurp;

namespace {

std::vector<pid_t> Children(pid_t pid) {
  std::vector<pid_t> out;
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/task").c_str());
  if (!d) return out;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f("/proc/" + std::to_string(pid) + "/task/" + e->d_name + "/children");
    pid_t c;
    while (f >> c) out.push_back(c);
  }
  closedir(d);
  return out;
}

bool Alive(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  std::getline(f, s);
  size_t p = s.rfind(')');
  return !s.empty() && p != std::string::npos && p + 2 < s.size() && s[p + 2] != 'Z';
}

size_t Entries(const std::string& dir) {
  size_t n = 0;
  DIR* d = opendir(dir.c_str());
  if (!d) return 0;
  while (struct dirent* e = readdir(d))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

TEST(ExecutorRestartTest, KilledExecutorLeavesNoVmmAndRestartsClean) {
  std::string dir = akvm::MakeTempDir("akexk");
  setenv("AK_GUEST_BIN", Runfile("guest/ak-guest").c_str(), 1);
  std::vector<std::string> argv = {Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure",
                                   "--state-dir", dir + "/st", "--images", akvm::ImageStoreDir(), "--min-warm",
                                   "0", "--log-format", "json"};
  ServiceProcess ex;
  ASSERT_TRUE(ex.Start(argv, dir, "executor1")) << Slurp(ex.err);
  struct rpc_channel* ch = nullptr;
  struct ak_error err = {};
  ASSERT_EQ(rpc_channel_new(ex.addr.c_str(), nullptr, &ch, &err), 0) << err.msg;
  struct rpc_call_options o = {};
  o.timeout_ms = 240000;

  Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
  spec.name = const_cast<char*>("nonet");
  spec.persistent = true;
  spec.network = AK__V1__NETWORK__NETWORK_OFF;  // moderate would have one
  Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
  cr.spec = &spec;
  ProtobufCMessage* resp = nullptr;
  int r = rpc_unary(ch, &ak__v1__executor__descriptor, "CreateSandbox", &cr.base, &o, &resp, &err);
  if (r != RPC_OK && akvm::KernelUnavailable(err.msg)) {
    rpc_channel_free(ch);
    ex.Stop();
    akvm::RemoveDir(dir);
    GTEST_SKIP() << err.msg;
  }
  ASSERT_EQ(r, RPC_OK) << err.msg;
  auto* sb = reinterpret_cast<Ak__V1__Sandbox*>(resp);
  EXPECT_STREQ(sb->spec->profile, "moderate");
  protobuf_c_message_free_unpacked(resp, nullptr);

  {  // No network device in the guest.
    Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
    const char* cmd[] = {"/bin/sh", "-c",
                         "cat /sys/bus/virtio/devices/*/device | tr '\\n' ' '; echo; ls /sys/class/net"};
    req.sandbox = const_cast<char*>("nonet");
    req.argv = const_cast<char**>(cmd);
    req.n_argv = 3;
    struct rpc_stream* st = nullptr;
    ASSERT_EQ(rpc_stream_open(ch, &ak__v1__executor__descriptor, "Exec", &req.base, &o, &st, &err), RPC_OK);
    std::string out;
    ProtobufCMessage* m = nullptr;
    while ((r = rpc_stream_next(st, &m, &err)) > 0) {
      auto* c = reinterpret_cast<Ak__V1__OutputChunk*>(m);
      if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_STDOUT)
        out.append(reinterpret_cast<char*>(c->stdout.data), c->stdout.len);
      protobuf_c_message_free_unpacked(m, nullptr);
    }
    rpc_stream_free(st);
    EXPECT_EQ(r, 0) << err.msg;
    EXPECT_NE(out.find("0x0013"), std::string::npos) << out;  // the vsock device is there
    EXPECT_EQ(out.find("0x0001"), std::string::npos) << out;
    EXPECT_EQ(out.substr(out.find('\n') + 1), "lo\n") << out;
  }
  rpc_channel_free(ch);
  // Its life so far on the log: booted (how long it took), created, started.
  std::string log = Slurp(ex.err);
  EXPECT_EQ(aktest::JsonLogProblem(log, "ak-executor"), "");
  std::vector<std::string> booted = aktest::JsonLogLines(log, "sandbox booted");
  ASSERT_EQ(booted.size(), 1u) << log;
  EXPECT_NE(booted[0].find("\"sandbox\":\"nonet\""), std::string::npos) << booted[0];
  EXPECT_NE(booted[0].find("\"boot_ms\":"), std::string::npos) << booted[0];
  EXPECT_EQ(aktest::JsonLogLines(log, "sandbox_created").size(), 1u) << log;
  EXPECT_EQ(aktest::JsonLogLines(log, "sandbox_started").size(), 1u) << log;

  std::vector<pid_t> vmms = Children(ex.pid);
  ASSERT_FALSE(vmms.empty());
  EXPECT_GT(Entries(dir + "/st/v"), 0u);
  kill(ex.pid, SIGKILL);
  waitpid(ex.pid, nullptr, 0);
  ex.pid = -1;
  // The VMMs die with their owner (PR_SET_PDEATHSIG); reparented zombies
  // are reaped by init, so "gone or a zombie" is dead.
  bool any = true;
  for (int i = 0; i < 100 && any; i++) {
    any = false;
    for (pid_t p : vmms) any = any || Alive(p);
    if (any) usleep(100000);
  }
  EXPECT_FALSE(any) << "a VMM outlived its executor";
  for (pid_t p : vmms)
    if (Alive(p)) kill(p, SIGKILL);

  ServiceProcess again;
  ASSERT_TRUE(again.Start(argv, dir, "executor2")) << Slurp(again.err);
  EXPECT_EQ(Entries(dir + "/st/v"), 1u);
  ASSERT_EQ(rpc_channel_new(again.addr.c_str(), nullptr, &ch, &err), 0) << err.msg;
  Ak__V1__GetSandboxRequest g = AK__V1__GET_SANDBOX_REQUEST__INIT;
  g.name = const_cast<char*>("nonet");
  resp = nullptr;
  ASSERT_EQ(rpc_unary(ch, &ak__v1__executor__descriptor, "GetSandbox", &g.base, &o, &resp, &err), RPC_OK) << err.msg;
  sb = reinterpret_cast<Ak__V1__Sandbox*>(resp);
  EXPECT_EQ(sb->state, AK__V1__SANDBOX_STATE__SANDBOX_STATE_ERROR);
  EXPECT_NE(std::string(sb->error ? sb->error : "").find("stopped with it"), std::string::npos) << sb->error;
  protobuf_c_message_free_unpacked(resp, nullptr);
  Ak__V1__RemoveSandboxRequest rr = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
  rr.name = const_cast<char*>("nonet");
  resp = nullptr;
  EXPECT_EQ(rpc_unary(ch, &ak__v1__executor__descriptor, "RemoveSandbox", &rr.base, &o, &resp, &err), RPC_OK) << err.msg;
  if (resp) protobuf_c_message_free_unpacked(resp, nullptr);
  EXPECT_EQ(Entries(dir + "/st/v"), 0u);
  rpc_channel_free(ch);
  EXPECT_EQ(again.Stop(), 0) << Slurp(again.err);
  // The next executor's log: the sandbox adopted in ERROR with the reason,
  // then removed.
  log = Slurp(again.err);
  EXPECT_EQ(aktest::JsonLogProblem(log, "ak-executor"), "");
  std::vector<std::string> adopted = aktest::JsonLogLines(log, "sandbox adopted");
  ASSERT_EQ(adopted.size(), 1u) << log;
  EXPECT_NE(adopted[0].find("\"level\":\"error\""), std::string::npos) << adopted[0];
  EXPECT_NE(adopted[0].find("\"state\":\"error\""), std::string::npos) << adopted[0];
  EXPECT_NE(adopted[0].find("stopped with it"), std::string::npos) << adopted[0];
  EXPECT_EQ(aktest::JsonLogLines(log, "sandbox_removed").size(), 1u) << log;
  akvm::RemoveDir(dir);
}

}  // namespace
