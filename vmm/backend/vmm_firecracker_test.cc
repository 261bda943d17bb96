// The Firecracker backend against testing/firecracker_double.py (a faithful
// double of Firecracker's API and hybrid vsock; no KVM needed): config
// errors, the exact API calls and bodies, fault messages, stop, cleanup, and
// a guest agent reached through the VMM's own vsock via vm.c.
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/testing/service_process.h"
#include "vmm/testing/vm_fixture.h"

extern "C" {
#include "lib/guest/guest_client.h"
#include "lib/json/json.h"
#include "vmm/backend/vmm.h"
#include "vmm/backend/vmm_firecracker.h"
#include "vmm/backend/vmm_proc.h"
#include "vmm/vm.h"
}

namespace {

using aktest::ProcessesMentioning;
using aktest::Runfile;
using aktest::Slurp;

void Put(const std::string& p, const std::string& data) { std::ofstream(p) << data; }

// The double's request log: one JSON object per line.
std::vector<std::string> LogLines(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(Slurp(path));
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

class FirecrackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = akvm::MakeTempDir("akfc");
    setenv("AK_FIRECRACKER", Runfile("vmm/backend/testing/firecracker_double.py").c_str(), 1);
    setenv("AK_FIRECRACKER_SKIP_KVM_CHECK", "1", 1);
    // Any ELF file boots in the double; Firecracker on x86_64 wants vmlinux.
    setenv("AK_FIRECRACKER_KERNEL", Runfile("guest/ak-guest").c_str(), 1);
    setenv("AK_FC_DOUBLE_LOG", (dir_ + "/requests.log").c_str(), 1);
    unsetenv("AK_FC_DOUBLE_GUEST");
    unsetenv("AK_FC_DOUBLE_CAD");
    Put(dir_ + "/vmlinuz", "not an ELF kernel");
    Put(dir_ + "/initrd", "an initramfs");
    api_ = dir_ + "/api.sock";
    uds_ = dir_ + "/vsock.sock";
    con_ = dir_ + "/console.log";
    log_ = dir_ + "/vmm.log";
    kernel_ = dir_ + "/vmlinuz";
    initrd_ = dir_ + "/initrd";
    cfg_.kernel = kernel_.c_str();
    cfg_.initrd = initrd_.c_str();
    cfg_.cmdline = "quiet panic=-1 rdinit=/sbin/ak-guest -- --init";
    cfg_.vcpus = 2;
    cfg_.memory_mb = 256;
    cfg_.console_log = con_.c_str();
    cfg_.control_socket = api_.c_str();
    cfg_.log_file = log_.c_str();
    cfg_.vsock_uds = uds_.c_str();
    cfg_.guest_cid = 3;
  }
  void TearDown() override {
    EXPECT_EQ(ProcessesMentioning(dir_), 0);
    akvm::RemoveDir(dir_);
  }
  int Start(struct vmm** vm, struct ak_error* err) { return vmm_firecracker_ops.start(&cfg_, vm, err); }

  std::string dir_, api_, uds_, con_, log_, kernel_, initrd_;
  struct vmm_config cfg_ = {};
};

TEST_F(FirecrackerTest, RegisteredAsNativeVsock) {
  ASSERT_EQ(vmm_find("firecracker"), &vmm_firecracker_ops);
  EXPECT_TRUE(vmm_firecracker_ops.native_vsock);
  EXPECT_STREQ(vmm_firecracker_ops.control_socket_name, "api.sock");
  EXPECT_FALSE(vmm_qemu_ops.native_vsock);
}

TEST_F(FirecrackerTest, ConfigErrors) {
  struct vmm* vm = nullptr;
  struct ak_error err = {};
  cfg_.accel = VMM_ACCEL_TCG;
  EXPECT_EQ(Start(&vm, &err), -EINVAL);
  EXPECT_NE(std::string(err.msg).find("KVM only"), std::string::npos) << err.msg;
  cfg_.accel = VMM_ACCEL_AUTO;
  cfg_.vcpus = 33;
  EXPECT_EQ(Start(&vm, &err), -EINVAL);
  cfg_.vcpus = 1;
  cfg_.vsock_uds = nullptr;
  EXPECT_EQ(Start(&vm, &err), -EINVAL);
  cfg_.vsock_uds = uds_.c_str();
  setenv("AK_FIRECRACKER", "/no/such/firecracker", 1);
  EXPECT_EQ(Start(&vm, &err), -ENOENT);
  EXPECT_NE(std::string(err.msg).find("AK_FIRECRACKER=/no/such/firecracker"), std::string::npos) << err.msg;
  unsetenv("AK_FIRECRACKER");
  std::string path = getenv("PATH") ? getenv("PATH") : "";
  setenv("PATH", dir_.c_str(), 1);
  int r = Start(&vm, &err);
  setenv("PATH", path.c_str(), 1);
  if (access("/usr/local/bin/firecracker", X_OK) != 0 && access("/usr/bin/firecracker", X_OK) != 0) {
    EXPECT_EQ(r, -ENOENT);
    EXPECT_NE(std::string(err.msg).find("firecracker-microvm/firecracker/releases"), std::string::npos) << err.msg;
  }
  char why[256];
  if (!vmm_kvm_usable(why, sizeof(why))) {
    unsetenv("AK_FIRECRACKER_SKIP_KVM_CHECK");
    EXPECT_EQ(Start(&vm, &err), -ENODEV);
    EXPECT_NE(std::string(err.msg).find("needs KVM"), std::string::npos) << err.msg;
  }
  EXPECT_EQ(vm, nullptr);
}

TEST_F(FirecrackerTest, ApiCallsAndBodies) {
  struct vmm* vm = nullptr;
  struct ak_error err = {};
  std::string disk = dir_ + "/root.ext4";
  Put(disk, "a root filesystem");
  cfg_.root_disk = disk.c_str();
  cfg_.root_mode = VMM_DISK_RO;
  ASSERT_EQ(Start(&vm, &err), 0) << err.msg;
  EXPECT_STREQ(vmm_firecracker_ops.accel(vm), "kvm");
  EXPECT_GT(vmm_firecracker_ops.pid(vm), 0);
  int status;
  EXPECT_EQ(vmm_firecracker_ops.poll_exit(vm, &status), 0);
  auto lines = LogLines(dir_ + "/requests.log");
  std::string ak_guest = Runfile("guest/ak-guest");
  std::vector<std::string> want = {
      "{\"argv\": [\"--api-sock\", \"" + api_ + "\"]}",
      "{\"method\": \"PUT\", \"path\": \"/machine-config\", \"body\": {\"vcpu_count\": 2, \"mem_size_mib\": 256}}",
      "{\"method\": \"PUT\", \"path\": \"/boot-source\", \"body\": {\"kernel_image_path\": \"" + ak_guest +
          "\", \"initrd_path\": \"" + initrd_ +
          "\", \"boot_args\": \"console=ttyS0 reboot=k pci=off quiet panic=-1 rdinit=/sbin/ak-guest -- --init\"}}",
      "{\"method\": \"PUT\", \"path\": \"/drives/rootfs\", \"body\": {\"drive_id\": \"rootfs\", \"path_on_host\": \"" +
          disk + "\", \"is_root_device\": true, \"is_read_only\": true}}",
      "{\"method\": \"PUT\", \"path\": \"/vsock\", \"body\": {\"guest_cid\": 3, \"uds_path\": \"" + uds_ + "\"}}",
      "{\"method\": \"PUT\", \"path\": \"/actions\", \"body\": {\"action_type\": \"InstanceStart\"}}",
  };
  ASSERT_EQ(lines.size(), want.size()) << Slurp(dir_ + "/requests.log");
  for (size_t i = 0; i < want.size(); i++) EXPECT_EQ(lines[i], want[i]);
  // The serial console (Firecracker's stdout) is the console log.
  for (int i = 0; i < 100 && Slurp(con_).empty(); i++) usleep(10000);
  EXPECT_NE(Slurp(con_).find("guest started"), std::string::npos);
  // GET / through the same client: the instance runs.
  long code = 0;
  char* body = nullptr;
  ASSERT_EQ(fc_api_request(api_.c_str(), "GET", "/", nullptr, 2000, &code, &body, &err), 0) << err.msg;
  EXPECT_EQ(code, 200);
  EXPECT_NE(std::string(body).find("\"state\": \"Running\""), std::string::npos) << body;
  free(body);
  // Configuration after InstanceStart is refused, with Firecracker's words.
  EXPECT_EQ(fc_api_put(api_.c_str(), "/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":128}", 2000, &err), -EIO);
  EXPECT_STREQ(err.msg, "PUT /machine-config: HTTP 400: The requested operation is not supported after starting "
                        "the microVM.");
  vmm_firecracker_ops.free(vm);
  EXPECT_NE(access(api_.c_str(), F_OK), 0);
  EXPECT_NE(access(uds_.c_str(), F_OK), 0);
}

TEST_F(FirecrackerTest, SnapshotDiskIsACopyRemovedOnFree) {
  struct vmm* vm = nullptr;
  struct ak_error err = {};
  std::string disk = dir_ + "/root.ext4", copy = dir_ + "/rootfs.copy";
  std::string content(3 << 20, 0);
  content.replace(0, 5, "start");
  content.replace(content.size() - 3, 3, "end");
  Put(disk, content);
  cfg_.root_disk = disk.c_str();
  cfg_.root_mode = VMM_DISK_SNAPSHOT;
  ASSERT_EQ(Start(&vm, &err), 0) << err.msg;
  EXPECT_EQ(Slurp(copy), content);
  auto lines = LogLines(dir_ + "/requests.log");
  ASSERT_GE(lines.size(), 4u);
  EXPECT_NE(lines[3].find("\"path_on_host\": \"" + copy + "\", \"is_root_device\": true, \"is_read_only\": false"),
            std::string::npos)
      << lines[3];
  vmm_firecracker_ops.free(vm);
  EXPECT_NE(access(copy.c_str(), F_OK), 0);
  EXPECT_EQ(Slurp(disk), content);
}

TEST_F(FirecrackerTest, FaultMessageOfA400Surfaces) {
  struct vmm* vm = nullptr;
  struct ak_error err = {};
  setenv("AK_FIRECRACKER_KERNEL", kernel_.c_str(), 1);  // not ELF: InstanceStart fails
  EXPECT_EQ(Start(&vm, &err), -EIO);
  EXPECT_EQ(vm, nullptr);
  EXPECT_STREQ(err.msg, "firecracker: PUT /actions: HTTP 400: Start microvm error: Cannot load kernel due to invalid "
                        "memory configuration or invalid kernel image: Kernel Loader: failed to load ELF kernel image");
  EXPECT_NE(access(api_.c_str(), F_OK), 0);
}

// A VMM that exits before its API socket is up: its words reach the error.
TEST_F(FirecrackerTest, EarlyExitIsReportedWithTheLog) {
  std::string fake = dir_ + "/firecracker";
  Put(fake, "#!/bin/sh\necho \"Arguments parsing error: too old\" >&2\nexit 153\n");
  ASSERT_EQ(chmod(fake.c_str(), 0755), 0);
  setenv("AK_FIRECRACKER", fake.c_str(), 1);
  struct vmm* vm = nullptr;
  struct ak_error err = {};
  EXPECT_EQ(Start(&vm, &err), -ECHILD);
  EXPECT_NE(std::string(err.msg).find("firecracker exited with status 153 before its API socket"), std::string::npos)
      << err.msg;
  EXPECT_NE(std::string(err.msg).find("Arguments parsing error: too old"), std::string::npos) << err.msg;
  EXPECT_EQ(vm, nullptr);
}

// A VMM that dies is seen by poll_exit (and its group goes with it).
TEST_F(FirecrackerTest, DeathIsSeen) {
  setenv("AK_FC_DOUBLE_GUEST", Runfile("guest/ak-guest").c_str(), 1);
  struct vmm* vm = nullptr;
  struct ak_error err = {};
  ASSERT_EQ(Start(&vm, &err), 0) << err.msg;
  pid_t pid = vmm_firecracker_ops.pid(vm);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int status = -1, r = 0;
  for (int i = 0; i < 200 && (r = vmm_firecracker_ops.poll_exit(vm, &status)) == 0; i++) usleep(10000);
  EXPECT_EQ(r, 1);
  EXPECT_EQ(status, 128 + SIGKILL);
  // The double's guest agent was killed with it (init reaps it).
  int alive = 0;
  for (int i = 0; i < 200 && (alive = kill(-pid, 0) == 0); i++) usleep(10000);
  EXPECT_FALSE(alive);
  vmm_firecracker_ops.free(vm);
}

// Output of a command (stdout and stderr).
std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* f = popen(("PATH=/usr/sbin:/usr/bin:/sbin:/bin " + cmd + " 2>&1").c_str(), "r");
  if (!f) return out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), f)) > 0;) out.append(buf, n);
  pclose(f);
  return out;
}

// The capability set line ("CapEff:", "CapBnd:") of /proc/<pid>/status.
unsigned long long Caps(pid_t pid, const std::string& which) {
  std::istringstream in(Slurp("/proc/" + std::to_string(pid) + "/status"));
  for (std::string l; std::getline(in, l);)
    if (l.rfind(which, 0) == 0) return std::stoull(l.substr(which.size()), nullptr, 16);
  return ~0ull;
}

// With network: Firecracker runs in the VM's namespace (vmm_net's tap
// mode), attaches to tap0 there (the double does TUNSETIFF as Firecracker
// does, in its own namespace, with its own credentials), and has lost the
// capabilities that would let it change or leave that namespace.
TEST_F(FirecrackerTest, NetworkIsATapInTheVmsNamespace) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, nft)";
  struct vmm* vm = nullptr;
  struct ak_error err = {};
  cfg_.network = true;
  cfg_.net_pool = "198.18.8.16/28";  // vmm_net_tap_test has .0/28
  ASSERT_EQ(Start(&vm, &err), 0) << err.msg << "\n" << Slurp(log_);
  auto lines = LogLines(dir_ + "/requests.log");
  std::string log = Slurp(dir_ + "/requests.log");
  EXPECT_NE(log.find("{\"method\": \"PUT\", \"path\": \"/network-interfaces/eth0\", \"body\": {\"iface_id\": "
                     "\"eth0\", \"host_dev_name\": \"tap0\", \"guest_mac\": \"06:00:0a:00:02:0f\"}}\n"
                     "{\"tap\": \"tap0\", \"opened\": true}\n"
                     "{\"method\": \"PUT\", \"path\": \"/vsock\""),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("InstanceStart"), std::string::npos) << log;
  pid_t pid = vmm_firecracker_ops.pid(vm);
  std::string ns = "/proc/" + std::to_string(pid) + "/ns/net";
  char mine[64] = "", its[64] = "";
  ASSERT_GT(readlink("/proc/self/ns/net", mine, sizeof(mine) - 1), 0);
  ASSERT_GT(readlink(ns.c_str(), its, sizeof(its) - 1), 0);
  EXPECT_STRNE(mine, its);
  std::string tap = Shell("nsenter --net=" + ns + " ip -d addr show dev tap0");
  for (const char* want : {"tun type tap", "user root", "inet 10.0.2.2/24"})
    EXPECT_NE(tap.find(want), std::string::npos) << want << " in\n" << tap;
  EXPECT_EQ(Shell("nsenter --net=" + ns + " sysctl -n net.ipv4.ip_forward"), "1\n");
  std::string rules = Shell("nsenter --net=" + ns + " nft list ruleset");
  for (const char* want : {"table inet ak_vm", "chain forward", "table inet ak_tap", "iifname \"tap0\" drop"})
    EXPECT_NE(rules.find(want), std::string::npos) << want << " in\n" << rules;
  EXPECT_EQ(Shell("ip link show dev tap0").find("tap0:"), std::string::npos) << "no tap0 on the host";
  const unsigned long long dropped = 1ull << 12 | 1ull << 13 | 1ull << 21 | 1ull << 16 | 1ull << 19;
  EXPECT_EQ(Caps(pid, "CapEff:") & dropped, 0u);
  EXPECT_EQ(Caps(pid, "CapBnd:") & dropped, 0u);
  vmm_firecracker_ops.free(vm);
  // The namespace went with the VM: the pool's host end is gone.
  std::string addrs = Shell("ip -4 addr show");
  for (int k = 16; k < 32; k++)
    EXPECT_EQ(addrs.find("inet 198.18.8." + std::to_string(k) + "/"), std::string::npos) << addrs;
}

// The double refuses what Firecracker's serde structs refuse, pre-boot.
TEST_F(FirecrackerTest, DoubleValidatesBodiesAsFirecrackerDoes) {
  struct vmm_proc p;
  struct ak_error err = {};
  std::string dbl = Runfile("vmm/backend/testing/firecracker_double.py");
  char* argv[] = {const_cast<char*>(dbl.c_str()), const_cast<char*>("--api-sock"), const_cast<char*>(api_.c_str()),
                  nullptr};
  ASSERT_EQ(vmm_proc_exec(&p, argv, 2, 2, &err), 0) << err.msg;
  long code = 0;
  char* body = nullptr;
  int r = -1;
  for (int i = 0; i < 500 && r != 0; i++, usleep(10000))
    r = fc_api_request(api_.c_str(), "GET", "/", nullptr, 1000, &code, &body, nullptr);
  ASSERT_EQ(r, 0);
  EXPECT_NE(std::string(body).find("\"state\": \"Not started\""), std::string::npos) << body;
  free(body);
  const char* prefix = "An error occurred when deserializing the json body of a request: ";
  struct Case {
    const char *path, *body, *fault;
  } cases[] = {
      {"/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":128,\"x\":1}", "unknown field `x`"},
      {"/machine-config", "{\"vcpu_count\":1}", "missing field `mem_size_mib`."},
      {"/machine-config", "{\"vcpu_count\":\"1\",\"mem_size_mib\":128}", "invalid type: string \"1\", expected u8."},
      {"/machine-config", "{\"vcpu_count\":33,\"mem_size_mib\":128}", "The number of vCPUs"},
      {"/vsock", "{\"guest_cid\":3}", "missing field `uds_path`."},
      {"/drives/rootfs", "{\"drive_id\":\"other\",\"is_root_device\":true,\"path_on_host\":\"/dev/null\"}",
       "The id from the path does not match the id from the body!"},
      {"/boot-source", "{\"kernel_image_path\":\"/no/such/vmlinux\"}",
       "The kernel file cannot be opened: No such file or directory (os error 2)"},
      {"/actions", "{\"action_type\":\"SendCtrlAltDel\"}",
       "The requested operation is not supported before starting the microVM."},
      {"/actions", "{\"action_type\":\"InstanceStart\"}", "Cannot start microvm without kernel configuration."},
      // The double opens the tap as Firecracker does (TUNSETIFF): not a tap.
      {"/network-interfaces/eth0", "{\"iface_id\":\"eth0\",\"host_dev_name\":\"lo\"}",
       "Open tap device failed: Error while creating ifreq structure: Invalid argument (os error 22)"},
      {"/vsock", "{\"guest_cid\":3,\"uds_path\":\"/a\",\"guest_cid\":4}", "duplicate field `guest_cid`."},
      {"/vsock", "{\"guest_cid\":NaN,\"uds_path\":\"/a\"}", "expected value."},
      {"/nowhere", "{}", "Invalid request method and/or path: PUT /nowhere."},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(fc_api_put(api_.c_str(), c.path, c.body, 2000, &err), -EIO) << c.path << " " << c.body;
    EXPECT_NE(std::string(err.msg).find(c.fault), std::string::npos) << err.msg;
    EXPECT_EQ(std::string(err.msg).find("HTTP 400: "), std::string(err.msg).find("HTTP")) << err.msg;
  }
  EXPECT_NE(std::string(err.msg).find("PUT /nowhere: HTTP 400: "), std::string::npos);
  EXPECT_EQ(fc_api_put(api_.c_str(), "/vsock", "{\"guest_cid\":3,\"uds_path\":\"/x\",\"extra\":true}", 2000, &err),
            -EIO);
  EXPECT_EQ(std::string(err.msg), std::string("PUT /vsock: HTTP 400: ") + prefix +
                                      "unknown field `extra`, expected one of `guest_cid`, `uds_path`, `vsock_id`.");
  int status;
  vmm_proc_kill(&p, &status);
  unlink(api_.c_str());
}

TEST_F(FirecrackerTest, StopSendsCtrlAltDelThenKills) {
  struct vmm* vm = nullptr;
  struct ak_error err = {};
  ASSERT_EQ(Start(&vm, &err), 0) << err.msg;
  int status = -1;
  // A guest that ignores Ctrl+Alt+Del: the grace passes, then SIGKILL.
  EXPECT_EQ(vmm_firecracker_ops.stop(vm, 300, &status), 1);
  EXPECT_EQ(status, 128 + 9);
  auto lines = LogLines(dir_ + "/requests.log");
  EXPECT_EQ(lines.back(), "{\"method\": \"PUT\", \"path\": \"/actions\", \"body\": {\"action_type\": \"SendCtrlAltDel\"}}");
  EXPECT_EQ(ProcessesMentioning(dir_), 0);
  vmm_firecracker_ops.free(vm);

  // A guest that powers off: Firecracker exits by itself, status 0.
  setenv("AK_FC_DOUBLE_CAD", "exit", 1);
  unlink((dir_ + "/requests.log").c_str());
  ASSERT_EQ(Start(&vm, &err), 0) << err.msg;
  EXPECT_EQ(vmm_firecracker_ops.stop(vm, 10000, &status), 1);
  EXPECT_EQ(status, 0);
  vmm_firecracker_ops.free(vm);
  EXPECT_NE(access(api_.c_str(), F_OK), 0);
}

TEST_F(FirecrackerTest, VmReachesTheGuestThroughFirecrackersVsock) {
  setenv("AK_FC_DOUBLE_GUEST", Runfile("guest/ak-guest").c_str(), 1);
  struct vm_config vc = {};
  vc.dir = dir_.c_str();
  vc.kernel = kernel_.c_str();
  vc.initrd = initrd_.c_str();
  vc.vmm = &vmm_firecracker_ops;
  struct vm* vm = nullptr;
  struct ak_error err = {};
  ASSERT_EQ(vm_start(&vc, &vm, &err), 0) << err.msg;
  ASSERT_EQ(vm_wait_ready(vm, 20000, &err), 0) << err.msg;
  EXPECT_EQ(std::string(vm_vsock_uds(vm)), uds_);
  // No vhost-user bridge: no vhost.sock; the control socket is api.sock.
  EXPECT_NE(access((dir_ + "/vhost.sock").c_str(), F_OK), 0);
  EXPECT_EQ(access(api_.c_str(), F_OK), 0);
  std::string e;
  struct proto_reply* rep = akvm::Run(vm_vsock_uds(vm), {"sh", "-c", "echo through firecracker"}, 10000, &e);
  ASSERT_NE(rep, nullptr) << e;
  EXPECT_STREQ(rep->stdout_str, "through firecracker\n");
  proto_reply_free(rep);
  // Ports nothing listens on are closed, as Firecracker does.
  int fd = -1;
  EXPECT_LT(guest_client_connect(vm_vsock_uds(vm), 52001, 2000, &fd), 0);
  int status;
  EXPECT_EQ(vm_stop(vm, 200, &status), 1);
  vm_free(vm);
  EXPECT_NE(access(uds_.c_str(), F_OK), 0);
}

TEST(FirecrackerFault, Parse) {
  char buf[64];
  const char ok[] = "{\n  \"fault_message\": \"bad\\ninput\"\n}";
  ASSERT_EQ(fc_fault_message(ok, strlen(ok), buf, sizeof(buf)), 0);
  EXPECT_STREQ(buf, "bad?input");
  const char long_msg[] = "{\"fault_message\":\"0123456789012345678901234567890123456789012345678901234567890123456\"}";
  ASSERT_EQ(fc_fault_message(long_msg, strlen(long_msg), buf, sizeof(buf)), 0);
  EXPECT_EQ(strlen(buf), sizeof(buf) - 1);
  for (const char* bad : {"", "[]", "{\"fault_message\":1}", "{\"other\":\"x\"}", "{\"fault_message\":\"x\""})
    EXPECT_EQ(fc_fault_message(bad, strlen(bad), buf, sizeof(buf)), -EINVAL) << bad;
}

}  // namespace
