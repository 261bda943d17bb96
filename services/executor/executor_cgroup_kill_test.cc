// ak-executor --vm-supervisors --vm-cgroup PATH: VMs outlive the
// executor's *container*. Each executor runs in a "container" cgroup of its
// own (a cgroup v2 directory the test makes and moves it into), which the
// test then stops as a container runtime does: cgroup.kill, or SIGKILL to
// every pid in cgroup.procs. With --vm-cgroup the VM's ak-vmm and QEMU live
// in PATH/vm<N>, outside it: the persistent sandbox, its state and exec
// come back under the next executor (in a fresh container cgroup), and
// after removal no process and no cgroup of it is left. Without
// --vm-cgroup the same stop kills the VM (the next executor lists the
// sandbox in ERROR): that is what the flag is for. And an executor whose
// --vm-cgroup lies inside its own cgroup refuses to start, saying so.
//
// Needs root and a writable cgroup2 mount; skipped by name otherwise.
// Tagged exclusive: it moves processes between cgroups of the host.
#include <gtest/gtest.h>
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "services/executor/testing/cgroup2.h"
#include "services/executor/testing/executor_client.h"
#include "services/executor/testing/vm_state.h"
#include "tests/testing/service_process.h"
#include "vmm/testing/vm_fixture.h"

using aktest::ExecutorStream;
using aktest::ExecutorUnary;
using aktest::FakeContainer;
using aktest::ServiceProcess;
using aktest::StreamOut;
using aktest::Runfile;
using aktest::Slurp;

namespace {

// The recorded ak-vmm and QEMU pids of sandbox `name`'s VM, and its
// directory's number ("" when there is none).
struct VmPids {
  pid_t sup = 0, qemu = 0;
  std::string n;
};

int IntField(const std::string& json, const std::string& key) {
  size_t p = json.find("\"" + key + "\":");
  if (p == std::string::npos) return 0;
  p += key.size() + 3;
  while (p < json.size() && json[p] == ' ') p++;
  return atoi(json.c_str() + p);
}

VmPids PidsOf(const std::string& state, const std::string& name) {
  VmPids out;
  DIR* d = opendir((state + "/v").c_str());
  for (struct dirent* e; d && (e = readdir(d));) {
    std::string vm = state + "/v/" + e->d_name;
    if (e->d_name[0] == '.' || Slurp(vm + "/sandbox.json").find("\"name\":\"" + name + "\"") == std::string::npos)
      continue;
    std::string rec = Slurp(vm + "/vm.json");
    out.sup = IntField(rec, "pid");
    out.qemu = IntField(rec, "vmm_pid");
    out.n = e->d_name;
  }
  if (d) closedir(d);
  return out;
}

int Create(const std::string& addr, const char* name, std::string* why) {
  Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
  spec.name = const_cast<char*>(name);
  spec.persistent = true;
  spec.network = AK__V1__NETWORK__NETWORK_OFF;
  Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
  cr.spec = &spec;
  struct rpc_channel* ch = nullptr;
  struct ak_error err = {};
  if (rpc_channel_new(addr.c_str(), nullptr, &ch, &err) < 0) {
    *why = err.msg;
    return RPC_UNAVAILABLE;
  }
  int r = ExecutorUnary(ch, "CreateSandbox", &cr.base, 240000, nullptr, why);
  rpc_channel_free(ch);
  return r;
}

// sh -c cmd in sandbox: its exit code (-1: the call failed) and stdout.
int Exec(const std::string& addr, const char* sandbox, const char* cmd, std::string* out) {
  const char* argv[] = {"/bin/sh", "-c", cmd};
  Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
  req.sandbox = const_cast<char*>(sandbox);
  req.argv = const_cast<char**>(argv);
  req.n_argv = 3;
  struct rpc_channel* ch = nullptr;
  struct ak_error err = {};
  if (rpc_channel_new(addr.c_str(), nullptr, &ch, &err) < 0) {
    *out = err.msg;
    return -1;
  }
  StreamOut so;
  ExecutorStream(ch, "Exec", &req.base, 120000, &so);
  rpc_channel_free(ch);
  *out = so.status == 0 && so.result ? so.out : so.error;
  return so.status == 0 && so.result ? so.result->exit_code : -1;
}

// "STATE error" of sandbox name as the executor lists it.
std::string StateOf(const std::string& addr, const char* name) {
  Ak__V1__GetSandboxRequest req = AK__V1__GET_SANDBOX_REQUEST__INIT;
  req.name = const_cast<char*>(name);
  struct rpc_channel* ch = nullptr;
  struct ak_error err = {};
  if (rpc_channel_new(addr.c_str(), nullptr, &ch, &err) < 0) return err.msg;
  ProtobufCMessage* resp = nullptr;
  std::string why;
  int r = ExecutorUnary(ch, "GetSandbox", &req.base, 30000, &resp, &why);
  rpc_channel_free(ch);
  if (r != RPC_OK) return "GetSandbox: " + why;
  auto* sb = reinterpret_cast<Ak__V1__Sandbox*>(resp);
  std::string out = std::string(protobuf_c_enum_descriptor_get_value(&ak__v1__sandbox_state__descriptor,
                                                                     sb->state)->name) + " " +
                    (sb->error ? sb->error : "");
  protobuf_c_message_free_unpacked(resp, nullptr);
  return out;
}

int Remove(const std::string& addr, const char* name) {
  Ak__V1__RemoveSandboxRequest rr = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
  rr.name = const_cast<char*>(name);
  struct rpc_channel* ch = nullptr;
  struct ak_error err = {};
  if (rpc_channel_new(addr.c_str(), nullptr, &ch, &err) < 0) return RPC_UNAVAILABLE;
  int r = ExecutorUnary(ch, "RemoveSandbox", &rr.base, 60000, nullptr, nullptr);
  rpc_channel_free(ch);
  return r;
}

// Runs args to their end (stdin /dev/null, a 60 s limit): the exit code,
// stdout and stderr into *out.
int RunToExit(const std::vector<std::string>& args, std::string* out) {
  std::string cmd = "timeout 60";
  for (const std::string& a : args) cmd += " '" + a + "'";
  cmd += " </dev/null 2>&1";
  out->clear();
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[512];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) out->append(buf, n);
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

bool DiesWithin(pid_t pid, int ms) {
  for (int i = 0; i < ms / 20 && aktest::ProcAlive(pid); i++) usleep(20000);
  return !aktest::ProcAlive(pid);
}

class ExecutorCgroupKillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mount_ = aktest::Cgroup2Mount();
    if (mount_.empty()) GTEST_SKIP() << "no cgroup2 mount in /proc/self/mounts";
    base_ = mount_ + "/kcg-test-" + std::to_string(getpid());
    if (mkdir(base_.c_str(), 0755) < 0)
      GTEST_SKIP() << "cannot make a cgroup (" << base_ << ": " << strerror(errno) << "): needs root";
    if (access((base_ + "/cgroup.kill").c_str(), W_OK) < 0) {
      rmdir(base_.c_str());
      GTEST_SKIP() << "no cgroup.kill (Linux 5.14+) in " << base_;
    }
    dir_ = akvm::MakeTempDir("akcgk");
    state_ = dir_ + "/st";
    vms_ = base_ + "/vms";
    setenv("AK_GUEST_BIN", Runfile("guest/ak-guest").c_str(), 1);
    setenv("AK_VMM_BIN", Runfile("vmm/ak-vmm").c_str(), 1);
  }
  void TearDown() override {
    if (base_.empty() || dir_.empty()) return;
    // What a failed test left: its VMs' processes and cgroups.
    for (const char* leftover : {"vm0", "vm1", "vm2"}) {
      std::string vm = vms_ + "/" + leftover;
      if (!aktest::CgroupProcs(vm).empty()) aktest::CgroupWrite(vm + "/cgroup.kill", "1");
      aktest::CgroupRemove(vm);
    }
    aktest::CgroupRemove(vms_);
    EXPECT_TRUE(aktest::CgroupRemove(base_)) << base_ << " stayed";
    akvm::RemoveDir(dir_);
  }

  std::vector<std::string> Args(bool vm_cgroup) const {
    std::vector<std::string> a = {Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure",
                                  "--state-dir", state_, "--images", akvm::ImageStoreDir(), "--min-warm", "0",
                                  "--vm-supervisors"};
    if (vm_cgroup) {
      a.push_back("--vm-cgroup");
      a.push_back(vms_);
    }
    return a;
  }

  // An executor started and then moved into container cgroup ct (it
  // spawns nothing before its first create).
  void StartIn(ServiceProcess* ex, FakeContainer* ct, const std::string& tag, bool vm_cgroup) {
    ASSERT_EQ(ct->Make(base_ + "/" + tag), "");
    ASSERT_TRUE(ex->Start(Args(vm_cgroup), dir_, tag)) << Slurp(ex->err);
    ASSERT_EQ(ct->Add(ex->pid), "");
  }

  // The container stops; its executor is reaped.
  static void StopContainer(ServiceProcess* ex, FakeContainer* ct, bool each) {
    if (each)
      ct->KillEach();
    else
      ASSERT_EQ(ct->Kill(), "");
    int st = 0;
    ASSERT_EQ(waitpid(ex->pid, &st, 0), ex->pid);
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << "status " << st;
    ex->pid = -1;
  }

  std::string mount_, base_, dir_, state_, vms_;
};

TEST_F(ExecutorCgroupKillTest, VmsOutliveTheContainerWithVmCgroup) {
  ServiceProcess ex1;
  FakeContainer ct1;
  StartIn(&ex1, &ct1, "ct1", true);
  std::string why, out;
  int r = Create(ex1.addr, "keep", &why);
  if (r != RPC_OK && akvm::KernelUnavailable(why)) GTEST_SKIP() << why;
  ASSERT_EQ(r, RPC_OK) << why;
  ASSERT_EQ(Exec(ex1.addr, "keep", "echo kept-state > state.txt && cat state.txt", &out), 0) << out;
  ASSERT_EQ(out, "kept-state\n");
  VmPids vm = PidsOf(state_, "keep");
  ASSERT_GT(vm.sup, 0);
  ASSERT_GT(vm.qemu, 0);
  // Supervisor and QEMU in the VM's cgroup; only the executor in the container's.
  std::string vmcg = vms_ + "/vm" + vm.n;
  EXPECT_TRUE(aktest::CgroupHas(vmcg, vm.sup)) << vmcg;
  EXPECT_TRUE(aktest::CgroupHas(vmcg, vm.qemu)) << vmcg;
  EXPECT_EQ(aktest::CgroupProcs(ct1.dir), std::vector<pid_t>{ex1.pid});

  // The container stops (cgroup.kill): the VM runs on.
  StopContainer(&ex1, &ct1, false);
  EXPECT_TRUE(aktest::ProcAlive(vm.sup)) << "ak-vmm died with the container";
  EXPECT_TRUE(aktest::ProcAlive(vm.qemu)) << "QEMU died with the container";

  // A new executor in a fresh container: same sandbox, same state.
  ServiceProcess ex2;
  FakeContainer ct2;
  StartIn(&ex2, &ct2, "ct2", true);
  EXPECT_EQ(StateOf(ex2.addr, "keep"), "SANDBOX_STATE_RUNNING ");
  out.clear();
  EXPECT_EQ(Exec(ex2.addr, "keep", "cat state.txt && echo more >> state.txt", &out), 0) << out;
  EXPECT_EQ(out, "kept-state\n");

  // Stopped the older way (SIGKILL to each pid of the container): the same.
  StopContainer(&ex2, &ct2, true);
  EXPECT_TRUE(aktest::ProcAlive(vm.sup) && aktest::ProcAlive(vm.qemu));
  ServiceProcess ex3;
  FakeContainer ct3;
  StartIn(&ex3, &ct3, "ct3", true);
  out.clear();
  EXPECT_EQ(Exec(ex3.addr, "keep", "cat state.txt", &out), 0) << out;
  EXPECT_EQ(out, "kept-state\nmore\n");
  EXPECT_EQ(PidsOf(state_, "keep").sup, vm.sup) << "not the same VM";

  // Removal: no ak-vmm, no QEMU, no VM directory, no VM cgroup left.
  EXPECT_EQ(Remove(ex3.addr, "keep"), RPC_OK);
  EXPECT_TRUE(DiesWithin(vm.sup, 10000)) << "ak-vmm " << vm.sup << " left";
  EXPECT_TRUE(DiesWithin(vm.qemu, 10000)) << "QEMU " << vm.qemu << " left";
  EXPECT_EQ(aktest::VmDirsLeft(state_), 0);
  EXPECT_NE(access(vmcg.c_str(), F_OK), 0) << vmcg << " stayed";
  EXPECT_EQ(ex3.Stop(), 0) << Slurp(ex3.err);
  EXPECT_EQ(access(vms_.c_str(), F_OK), 0) << "--vm-cgroup's directory is the operator's: it stays";
}

TEST_F(ExecutorCgroupKillTest, WithoutVmCgroupTheContainerStopKillsTheVm) {
  ServiceProcess ex1;
  FakeContainer ct1;
  StartIn(&ex1, &ct1, "ct1", false);
  std::string why, out;
  int r = Create(ex1.addr, "gone", &why);
  if (r != RPC_OK && akvm::KernelUnavailable(why)) GTEST_SKIP() << why;
  ASSERT_EQ(r, RPC_OK) << why;
  VmPids vm = PidsOf(state_, "gone");
  ASSERT_GT(vm.sup, 0);
  EXPECT_TRUE(aktest::CgroupHas(ct1.dir, vm.sup)) << "ak-vmm is not in the executor's container";

  StopContainer(&ex1, &ct1, false);
  EXPECT_TRUE(DiesWithin(vm.sup, 5000)) << "ak-vmm outlived the container";
  EXPECT_TRUE(DiesWithin(vm.qemu, 5000)) << "QEMU outlived the container";

  ServiceProcess ex2;
  FakeContainer ct2;
  StartIn(&ex2, &ct2, "ct2", false);
  std::string st = StateOf(ex2.addr, "gone");
  EXPECT_EQ(st.rfind("SANDBOX_STATE_ERROR lost in an executor restart", 0), 0u) << st;
  EXPECT_EQ(Remove(ex2.addr, "gone"), RPC_OK);
  EXPECT_EQ(aktest::VmDirsLeft(state_), 0);
  EXPECT_EQ(ex2.Stop(), 0) << Slurp(ex2.err);
}

TEST_F(ExecutorCgroupKillTest, RefusesAVmCgroupInsideItsOwnCgroup) {
  // The executor starts inside container ct (this process joins ct for the
  // spawn and goes back), with --vm-cgroup below ct.
  FakeContainer ct;
  ASSERT_EQ(ct.Make(base_ + "/ct"), "");
  std::string home = aktest::Slurp("/proc/self/cgroup");
  size_t p = home.find("0::");
  ASSERT_NE(p, std::string::npos) << home;
  std::string mine = mount_ + home.substr(p + 3, home.find('\n', p) - p - 3);
  std::vector<std::string> args = Args(false);
  args.push_back("--vm-cgroup");
  args.push_back(ct.dir + "/vms");
  ASSERT_EQ(ct.Add(getpid()), "");
  std::string log;
  int code = RunToExit(args, &log);
  ASSERT_EQ(aktest::CgroupWrite(mine + "/cgroup.procs", std::to_string(getpid())), 0) << "back to " << mine;
  EXPECT_EQ(code, 1) << log;
  EXPECT_NE(log.find("lies inside this executor's own cgroup " + ct.dir), std::string::npos) << log;
  EXPECT_NE(log.find("give --vm-cgroup a cgroup v2 directory outside"), std::string::npos) << log;
  EXPECT_NE(access((ct.dir + "/vms").c_str(), F_OK), 0) << "it made the directory anyway";

  // Started outside ct, the same --vm-cgroup is fine (and made).
  args[args.size() - 1] = base_ + "/vms";
  ServiceProcess ex;
  ASSERT_TRUE(ex.Start(args, dir_, "outside")) << Slurp(ex.err);
  EXPECT_EQ(access((base_ + "/vms/cgroup.procs").c_str(), F_OK), 0) << "no cgroup " << base_ << "/vms";
  EXPECT_EQ(ex.Stop(), 0) << Slurp(ex.err);

  // Under kubepods, and without --vm-supervisors: refused the same way.
  args = Args(false);
  args.push_back("--vm-cgroup");
  args.push_back(mount_ + "/kubepods.slice/vms");
  EXPECT_EQ(RunToExit(args, &log), 1) << log;
  EXPECT_NE(log.find("Kubernetes' pod cgroups"), std::string::npos) << log;
  args = Args(true);
  args.erase(std::find(args.begin(), args.end(), "--vm-supervisors"));
  EXPECT_EQ(RunToExit(args, &log), 2) << log;
  EXPECT_NE(log.find("--vm-cgroup needs --vm-supervisors"), std::string::npos) << log;
}

}  // namespace
