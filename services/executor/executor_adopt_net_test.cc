// ak-executor --vm-supervisors with a networked sandbox (issue 17): its VM's
// namespace (veth, routes, nftables rules and sets) lives on with QEMU
// under its ak-vmm, and each new executor starts the namespace's resolver,
// domain proxy and denial log again with the recorded policy. Before and
// after a SIGTERM and a SIGKILL of the executor the sandbox reaches an
// allowed host by a name its resolver answers, is refused a denied address
// (nothing arrives there), and its proxy refuses a denied Host. A sandbox
// whose namespace lost its host end while no executor ran comes back in
// ERROR saying so, its VM stopped. After removal no veth, namespace (its
// QEMU) or VM directory is left.
//
// Outside hosts are a namespace this test makes, named by the run
// (akadout<pid>, host end akad<pid>, NET a free 198.19.X.0/24 with X in
// 240..254; removed after, a crashed run's by the next): nothing is sent
// anywhere else.
//   NET.1  HTTP on kPort and 80: allowed (ok.adopt.test)
//   NET.3  HTTP on kPort: denied by the sandbox's egress.deny
//   NET.53 DNS: ok.adopt.test and bad.adopt.test -> NET.1
#include <arpa/inet.h>
#include <dirent.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/executor.pb-c.h"
}
#include "services/executor/testing/executor_client.h"
#include "services/executor/testing/vm_state.h"
#include "tests/testing/net_outside.h"
#include "tests/testing/netns.h"
#include "tests/testing/service_process.h"
#include "vmm/testing/vm_fixture.h"

using aktest::kBody;
using aktest::Runfile;
using aktest::ServiceProcess;
using aktest::Sh;
using aktest::Slurp;

namespace {

const int kPort = 18421;

std::string ReadLine(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

// Field `key` of `file` in sandbox's VM directory, "" if none.
std::string RecordField(const std::string& state, const std::string& sandbox, const std::string& file,
                        const std::string& key) {
  DIR* d = opendir((state + "/v").c_str());
  std::string v;
  while (d && v.empty())
    if (struct dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::string vm = state + "/v/" + e->d_name;
      if (Slurp(vm + "/sandbox.json").find("\"name\":\"" + sandbox + "\"") == std::string::npos) continue;
      std::string rec = Slurp(vm + "/" + file);
      size_t p = rec.find("\"" + key + "\":");
      if (p == std::string::npos) continue;
      p += key.size() + 3;
      while (p < rec.size() && rec[p] == ' ') p++;
      if (rec[p] == '"') {
        v = rec.substr(p + 1, rec.find('"', p + 1) - p - 1);
      } else {
        v = rec.substr(p, rec.find_first_of(",}", p) - p);
      }
    } else {
      break;
    }
  if (d) closedir(d);
  return v;
}

// A sandbox `name` allowed ok.adopt.test, denied address `denied` and
// bad.adopt.test.
int Create(const std::string& addr, const char* name, const std::string& denied, std::string* why) {
  struct rpc_channel* ch = nullptr;
  struct ak_error err = {};
  if (rpc_channel_new(addr.c_str(), nullptr, &ch, &err) != RPC_OK) {
    *why = err.msg;
    return -1;
  }
  const char* allow[] = {"ok.adopt.test"};
  const std::string denied32 = denied + "/32";
  const char* deny[] = {denied32.c_str(), "bad.adopt.test"};
  Ak__V1__Egress eg = AK__V1__EGRESS__INIT;
  eg.allow = const_cast<char**>(allow);
  eg.n_allow = 1;
  eg.deny = const_cast<char**>(deny);
  eg.n_deny = 2;
  Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
  spec.name = const_cast<char*>(name);
  spec.persistent = true;
  spec.network = AK__V1__NETWORK__NETWORK_ON;
  spec.egress = &eg;
  Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
  cr.spec = &spec;
  ProtobufCMessage* resp = nullptr;
  struct rpc_call_options o = {};
  o.timeout_ms = 240000;
  int r = rpc_unary(ch, &ak__v1__executor__descriptor, "CreateSandbox", &cr.base, &o, &resp, &err);
  if (resp) protobuf_c_message_free_unpacked(resp, nullptr);
  rpc_channel_free(ch);
  *why = err.msg;
  return r;
}

int Remove(const std::string& addr, const char* name) {
  struct rpc_channel* ch = nullptr;
  struct ak_error err = {};
  if (rpc_channel_new(addr.c_str(), nullptr, &ch, &err) != RPC_OK) return -1;
  Ak__V1__RemoveSandboxRequest rr = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
  rr.name = const_cast<char*>(name);
  ProtobufCMessage* resp = nullptr;
  struct rpc_call_options o = {};
  o.timeout_ms = 60000;
  int r = rpc_unary(ch, &ak__v1__executor__descriptor, "RemoveSandbox", &rr.base, &o, &resp, &err);
  if (resp) protobuf_c_message_free_unpacked(resp, nullptr);
  rpc_channel_free(ch);
  return r;
}

// "STATE error" of sandbox name as the executor lists it.
std::string State(const std::string& addr, const std::string& name) {
  struct rpc_channel* ch = nullptr;
  struct ak_error err = {};
  if (rpc_channel_new(addr.c_str(), nullptr, &ch, &err) != RPC_OK) return err.msg;
  Ak__V1__ListSandboxesRequest req = AK__V1__LIST_SANDBOXES_REQUEST__INIT;
  ProtobufCMessage* resp = nullptr;
  struct rpc_call_options o = {};
  o.timeout_ms = 10000;
  std::string out;
  if (rpc_unary(ch, &ak__v1__executor__descriptor, "ListSandboxes", &req.base, &o, &resp, &err) == RPC_OK) {
    auto* l = reinterpret_cast<Ak__V1__ListSandboxesResponse*>(resp);
    for (size_t i = 0; i < l->n_sandboxes; i++)
      if (l->sandboxes[i]->spec && name == l->sandboxes[i]->spec->name)
        out = std::string(protobuf_c_enum_descriptor_get_value(&ak__v1__sandbox_state__descriptor,
                                                               l->sandboxes[i]->state)->name) +
              " " + (l->sandboxes[i]->error ? l->sandboxes[i]->error : "");
    protobuf_c_message_free_unpacked(resp, nullptr);
  } else {
    out = err.msg;
  }
  rpc_channel_free(ch);
  return out;
}

// sh -c cmd in the sandbox: its stdout (and the call's error, if any).
std::string Exec(const std::string& addr, const std::string& cmd) {
  struct rpc_channel* ch = nullptr;
  struct ak_error err = {};
  if (rpc_channel_new(addr.c_str(), nullptr, &ch, &err) != RPC_OK) return err.msg;
  Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
  const char* argv[] = {"/bin/sh", "-c", cmd.c_str()};
  req.sandbox = const_cast<char*>("netkeep");
  req.argv = const_cast<char**>(argv);
  req.n_argv = 3;
  aktest::StreamOut o;
  aktest::ExecutorStream(ch, "Exec", &req.base, 120000, &o);
  rpc_channel_free(ch);
  return o.out + o.error;
}

class ExecutorAdoptNetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, nftables)";
    aktest::PathWithSbin();
    if (Sh("nft --version") != 0 || Sh("ip -V") != 0) GTEST_SKIP() << "nft or ip missing: run tools/deps.sh";
    aktest::RemoveStaleNetns("akadout");
    net_ = aktest::FreeSubnet24("198.19", 240, 254);
    ASSERT_FALSE(net_.empty()) << "no free 198.19.X.0/24 (X in 240..254) on this host";
    forward_ = ReadLine("/proc/sys/net/ipv4/ip_forward");
    ns_ = aktest::RunName("akadout");
    dev_ = aktest::RunName("akad");
    ASSERT_TRUE(aktest::MakeOutsideNetns(ns_, dev_, net_ + ".1", net_ + ".2")) << ns_ << " " << dev_ << " " << net_;
    ASSERT_EQ(Sh("ip -n " + ns_ + " addr add " + net_ + ".3/24 dev eth0"), 0);
    ASSERT_EQ(Sh("ip -n " + ns_ + " addr add " + net_ + ".53/24 dev eth0"), 0);
    ASSERT_EQ(Sh("sysctl -qw net.ipv4.ip_forward=1"), 0);
  }
  void TearDown() override {
    if (!ns_.empty()) {
      Sh("ip netns del " + ns_);
      Sh("ip link del " + dev_);
    }
    if (!forward_.empty()) Sh("sysctl -qw net.ipv4.ip_forward=" + forward_);
  }
  std::string forward_, ns_, dev_, net_;  // this run's namespace, host link, /24
};

TEST_F(ExecutorAdoptNetTest, NetworkedSandboxKeepsItsPolicyAcrossRestarts) {
  const std::string ok = net_ + ".1", bad = net_ + ".3", resolver = net_ + ".53";
  aktest::Http allowed(ns_, ok, kPort);
  aktest::Http allowed80(ns_, ok, 80);
  aktest::Http denied(ns_, bad, kPort);
  aktest::DnsServer dns(ns_, resolver, {{"ok.adopt.test", ok}, {"bad.adopt.test", ok}});
  ASSERT_TRUE(allowed.ok() && allowed80.ok() && denied.ok() && dns.ok());

  std::string dir = akvm::MakeTempDir("akexn");
  std::string state = dir + "/st";
  setenv("AK_GUEST_BIN", Runfile("guest/ak-guest").c_str(), 1);
  setenv("AK_VMM_BIN", Runfile("vmm/ak-vmm").c_str(), 1);
  std::vector<std::string> argv = {Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure",
                                   "--state-dir", state, "--images", akvm::ImageStoreDir(), "--min-warm", "0",
                                   "--dns-upstream", resolver, "--vm-supervisors"};
  ServiceProcess ex1;
  ASSERT_TRUE(ex1.Start(argv, dir, "executor1")) << Slurp(ex1.err);
  std::string why;
  int r = Create(ex1.addr, "netkeep", bad, &why);
  if (r != RPC_OK && akvm::KernelUnavailable(why.c_str())) {
    ex1.Stop();
    akvm::RemoveDir(dir);
    GTEST_SKIP() << why;
  }
  ASSERT_EQ(r, RPC_OK) << why;
  ASSERT_EQ(Create(ex1.addr, "netlost", bad, &why), RPC_OK) << why;
  std::string ifname = RecordField(state, "netkeep", "sandbox.json", "net_ifname");
  ASSERT_EQ(ifname.compare(0, 3, "akv"), 0) << "no net_ifname in the record";
  pid_t qemu = atoi(RecordField(state, "netkeep", "vm.json", "vmm_pid").c_str());
  ASSERT_GT(qemu, 0);
  std::string lost_if = RecordField(state, "netlost", "sandbox.json", "net_ifname");
  pid_t lost_qemu = atoi(RecordField(state, "netlost", "vm.json", "vmm_pid").c_str());
  ASSERT_GT(lost_qemu, 0);
  ASSERT_NE(lost_if, ifname);

  std::string port = std::to_string(kPort);
  // Allowed by name (the resolver), denied by address, denied Host (the
  // proxy): each time the denied server sees nothing.
  auto check = [&](const std::string& addr, const char* when) {
    SCOPED_TRACE(when);
    int before = allowed.hits(), before80 = allowed80.hits();
    std::string out = Exec(addr, "wget -q -O- http://ok.adopt.test:" + port + "/ 2>&1; echo rc=$?");
    EXPECT_NE(out.find(kBody), std::string::npos) << out;
    EXPECT_EQ(allowed.hits(), before + 1);
    out = Exec(addr, "echo hi | nc -w 3 " + bad + " " + port + " 2>&1; echo rc=$?");
    EXPECT_EQ(out.find(kBody), std::string::npos) << out;
    EXPECT_EQ(denied.hits(), 0) << out;
    out = Exec(addr, "printf 'GET / HTTP/1.0\\r\\nHost: bad.adopt.test\\r\\n\\r\\n' | nc -w 5 " + ok + " 80 2>&1");
    EXPECT_NE(out.find("403"), std::string::npos) << out;
    EXPECT_EQ(allowed80.hits(), before80) << "a request naming bad.adopt.test reached the server";
    out = Exec(addr, "printf 'GET / HTTP/1.0\\r\\nHost: ok.adopt.test\\r\\n\\r\\n' | nc -w 5 " + ok + " 80 2>&1");
    EXPECT_NE(out.find(kBody), std::string::npos) << out;
    EXPECT_EQ(allowed80.hits(), before80 + 1);
  };
  check(ex1.addr, "first executor");

  EXPECT_EQ(ex1.Stop(), 0) << Slurp(ex1.err);
  EXPECT_TRUE(aktest::ProcAlive(qemu)) << "QEMU died with the executor";
  EXPECT_NE(if_nametoindex(ifname.c_str()), 0u) << ifname << " went with the executor";
  // netlost's network loses its host end while no executor runs: the next
  // one cannot restore it, says so, and stops that VM.
  ASSERT_EQ(Sh("ip link del " + lost_if), 0);
  ServiceProcess ex2;
  ASSERT_TRUE(ex2.Start(argv, dir, "executor2")) << Slurp(ex2.err);
  std::string st = State(ex2.addr, "netlost");
  EXPECT_EQ(st.rfind("SANDBOX_STATE_ERROR", 0), 0u) << st;
  EXPECT_NE(st.find("host end " + lost_if + " is gone"), std::string::npos) << st;
  for (int i = 0; i < 100 && aktest::ProcAlive(lost_qemu); i++) usleep(100000);
  EXPECT_FALSE(aktest::ProcAlive(lost_qemu)) << "the VM whose network was lost still runs";
  EXPECT_EQ(Remove(ex2.addr, "netlost"), RPC_OK);
  check(ex2.addr, "after SIGTERM");

  kill(ex2.pid, SIGKILL);
  waitpid(ex2.pid, nullptr, 0);
  ex2.pid = -1;
  EXPECT_TRUE(aktest::ProcAlive(qemu)) << "QEMU died with the executor";
  ServiceProcess ex3;
  ASSERT_TRUE(ex3.Start(argv, dir, "executor3")) << Slurp(ex3.err);
  check(ex3.addr, "after SIGKILL");

  EXPECT_EQ(Remove(ex3.addr, "netkeep"), RPC_OK);
  for (int i = 0; i < 100 && (aktest::ProcAlive(qemu) || if_nametoindex(ifname.c_str())); i++) usleep(100000);
  EXPECT_FALSE(aktest::ProcAlive(qemu));
  EXPECT_EQ(if_nametoindex(ifname.c_str()), 0u) << ifname << " outlived its sandbox";
  EXPECT_EQ(aktest::VmDirsLeft(state), 0) << "VM directories left after removal";
  EXPECT_EQ(ex3.Stop(), 0) << Slurp(ex3.err);
  akvm::RemoveDir(dir);
}

}  // namespace
