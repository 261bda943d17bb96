// The QEMU command line, config checks, KVM detection and VM records,
// without starting a VM.
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "vmm/testing/vm_fixture.h"

extern "C" {
#include "vmm/backend/vmm.h"
#include "vmm/backend/vmm_qemu.h"
#include "vmm/vm_registry.h"
}

namespace {

std::vector<std::string> Argv(const struct vmm_config& cfg, bool kvm, const struct vmm_qemu_fds* fds = nullptr) {
  char** v = nullptr;
  EXPECT_EQ(vmm_qemu_argv(&cfg, "/usr/bin/qemu-system-x86_64", kvm, fds, &v), 0);
  std::vector<std::string> out;
  for (char** p = v; p && *p; p++) {
    out.push_back(*p);
    free(*p);
  }
  free(v);
  return out;
}

std::string After(const std::vector<std::string>& v, const std::string& flag, int nth = 0) {
  for (size_t i = 0; i + 1 < v.size(); i++)
    if (v[i] == flag && nth-- == 0) return v[i + 1];
  return "";
}

struct vmm_config Config() {
  struct vmm_config c = {};
  c.kernel = "/k/vmlinuz";
  c.initrd = "/k/initrd";
  c.cmdline = "quiet rdinit=/sbin/ak-guest -- --init";
  c.vcpus = 2;
  c.memory_mb = 512;
  c.console_log = "/d/console.log";
  c.control_socket = "/d/qmp.sock";
  c.vhost_user_socket = "/d/vhost.sock";
  return c;
}

TEST(VmmQemu, CommandLine) {
  auto v = Argv(Config(), false);
  EXPECT_EQ(v[0], "/usr/bin/qemu-system-x86_64");
  EXPECT_EQ(After(v, "-sandbox"), "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
  EXPECT_EQ(After(v, "-name"), "guest=/d");
  EXPECT_EQ(After(v, "-M"), "microvm,memory-backend=mem");
  EXPECT_EQ(After(v, "-accel"), "tcg");
  EXPECT_EQ(After(v, "-cpu"), "max");
  EXPECT_EQ(After(v, "-object"), "memory-backend-memfd,id=mem,size=512M,share=on");
  EXPECT_EQ(After(v, "-m"), "512M");
  EXPECT_EQ(After(v, "-smp"), "2");
  EXPECT_EQ(After(v, "-serial"), "file:/d/console.log");
  EXPECT_EQ(After(v, "-qmp"), "unix:/d/qmp.sock,server=on,wait=off");
  EXPECT_EQ(After(v, "-chardev"), "socket,id=vsock0,path=/d/vhost.sock");
  EXPECT_EQ(After(v, "-device"), "vhost-user-vsock-device,chardev=vsock0");
  EXPECT_EQ(After(v, "-drive"), "");
  EXPECT_EQ(After(v, "-netdev"), "");
  std::string append = After(v, "-append");
  // Under TCG the TSC rate goes on the kernel's side of "--".
  EXPECT_EQ(append.rfind("console=ttyS0 tsc_early_khz=", 0), 0u) << append;
  EXPECT_NE(append.find(" quiet rdinit=/sbin/ak-guest -- --init"), std::string::npos) << append;
  EXPECT_LT(append.find("tsc_early_khz"), append.find(" -- "));
  for (const char* flag : {"-nodefaults", "-no-user-config", "-no-reboot"})
    EXPECT_NE(std::find(v.begin(), v.end(), flag), v.end()) << flag;
}

// ak's small kernel (image_kernel.no_acpi) gets microvm without ACPI and a
// triple-fault reboot; a Debian kernel's command line stays as it was, byte
// for byte.
TEST(VmmQemu, NoAcpiKernel) {
  struct vmm_config c = Config();
  const std::vector<std::string> debian = {
      "/usr/bin/qemu-system-x86_64", "-sandbox",
      "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny", "-name", "guest=/d", "-M",
      "microvm,memory-backend=mem", "-accel", "kvm", "-cpu", "host", "-nodefaults", "-no-user-config", "-display",
      "none", "-no-reboot", "-object", "memory-backend-memfd,id=mem,size=512M,share=on", "-m", "512M", "-smp", "2",
      "-kernel", "/k/vmlinuz", "-initrd", "/k/initrd", "-append", "console=ttyS0 quiet rdinit=/sbin/ak-guest -- --init",
      "-serial", "file:/d/console.log", "-qmp", "unix:/d/qmp.sock,server=on,wait=off", "-chardev",
      "socket,id=vsock0,path=/d/vhost.sock", "-device", "vhost-user-vsock-device,chardev=vsock0"};
  EXPECT_EQ(Argv(c, true), debian);

  c.no_acpi = true;
  auto small = Argv(c, true);
  ASSERT_EQ(small.size(), debian.size());
  for (size_t i = 0; i < small.size(); i++) {
    if (debian[i] == "microvm,memory-backend=mem")
      EXPECT_EQ(small[i], "microvm,acpi=off,memory-backend=mem");
    else if (i > 0 && debian[i - 1] == "-append")
      // No "--": QEMU appends the virtio-mmio devices, which must reach the kernel.
      EXPECT_EQ(small[i], "console=ttyS0 reboot=t quiet rdinit=/sbin/ak-guest --init");
    else
      EXPECT_EQ(small[i], debian[i]) << i;
  }
  // Under TCG: reboot=t and the TSC rate, still no "--".
  std::string append = After(Argv(c, false), "-append");
  EXPECT_EQ(append.rfind("console=ttyS0 reboot=t tsc_early_khz=", 0), 0u) << append;
  EXPECT_EQ(append.find(" -- "), std::string::npos) << append;
}

// The VM's directory names the guest (ps shows which VM a confined QEMU
// is); a comma in it is doubled, as QEMU's option syntax wants.
TEST(VmmQemu, NameIsTheVmDirectory) {
  struct vmm_config c = Config();
  c.console_log = "/srv/a,b/vm1/console.log";
  EXPECT_EQ(After(Argv(c, false), "-name"), "guest=/srv/a,,b/vm1");
  c.console_log = "console.log";
  EXPECT_EQ(After(Argv(c, false), "-name"), "");
}

// What vmm_qemu.c's start passes: sockets and the console as fds, so that
// a confined QEMU needs no access to the VM directory.
TEST(VmmQemu, SocketsAndConsoleAsFds) {
  struct vmm_qemu_fds fds = {3, 4, 5};
  auto v = Argv(Config(), false, &fds);
  // The console: a socket whose other end console_ring reads (capped).
  EXPECT_EQ(After(v, "-chardev"), "socket,id=con0,fd=5");
  EXPECT_EQ(After(v, "-serial"), "chardev:con0");
  EXPECT_EQ(After(v, "-add-fd"), "");
  EXPECT_EQ(After(v, "-chardev", 1), "socket,id=qmp,fd=3,server=on,wait=off");
  EXPECT_EQ(After(v, "-mon"), "chardev=qmp,mode=control");
  EXPECT_EQ(After(v, "-chardev", 2), "socket,id=vsock0,fd=4");
  EXPECT_EQ(After(v, "-qmp"), "");
  for (const auto& a : v) EXPECT_EQ(a.find("/d/"), std::string::npos) << a;
}

TEST(VmmQemu, KvmDisksAndNetwork) {
  struct vmm_config c = Config();
  c.root_disk = "/i/rootfs.ext4";
  c.root_mode = VMM_DISK_SNAPSHOT;
  c.network = true;
  auto v = Argv(c, true);
  EXPECT_EQ(After(v, "-accel"), "kvm");
  EXPECT_EQ(After(v, "-cpu"), "host");
  EXPECT_EQ(After(v, "-append").find("tsc_early_khz"), std::string::npos);
  EXPECT_EQ(After(v, "-drive"), "id=root,file=/i/rootfs.ext4,format=raw,if=none,snapshot=on");
  EXPECT_EQ(After(v, "-device", 1), "virtio-blk-device,drive=root");
  EXPECT_EQ(After(v, "-netdev"), "user,id=n0");
  EXPECT_EQ(After(v, "-device", 2), "virtio-net-device,netdev=n0");
  c.root_mode = VMM_DISK_RO;
  EXPECT_EQ(After(Argv(c, true), "-drive"), "id=root,file=/i/rootfs.ext4,format=raw,if=none,readonly=on");
  c.root_mode = VMM_DISK_RW;
  EXPECT_EQ(After(Argv(c, true), "-drive"), "id=root,file=/i/rootfs.ext4,format=raw,if=none");
}

// The density settings: a sized TCG translation cache (never with KVM) and
// the free-page-reporting balloon, both off unless asked for.
TEST(VmmQemu, TranslationCacheAndBalloon) {
  struct vmm_config c = Config();
  auto plain = Argv(c, false);
  EXPECT_EQ(After(plain, "-accel"), "tcg");
  for (const auto& a : plain) EXPECT_EQ(a.find("balloon"), std::string::npos) << a;
  c.tcg_tb_mb = 32;
  c.balloon = true;
  auto v = Argv(c, false);
  EXPECT_EQ(After(v, "-accel"), "tcg,tb-size=32");
  EXPECT_EQ(After(v, "-device", 1), "virtio-balloon-device,free-page-reporting=on");
  auto k = Argv(c, true);
  EXPECT_EQ(After(k, "-accel"), "kvm");
  EXPECT_EQ(After(k, "-device", 1), "virtio-balloon-device,free-page-reporting=on");
}

TEST(VmmQemu, HostTscRateIsMeasured) {
  unsigned long khz = vmm_qemu_host_tsc_khz();
  EXPECT_GT(khz, 100000u);   // > 100 MHz
  EXPECT_LT(khz, 10000000u); // < 10 GHz
  EXPECT_EQ(vmm_qemu_host_tsc_khz(), khz);  // measured once
}

TEST(Vmm, ConfigChecks) {
  struct ak_error err = {};
  struct vmm_config c = Config();
  c.kernel = "/bin/sh";
  c.initrd = "/bin/sh";
  EXPECT_EQ(vmm_config_check(&c, &err), 0) << err.msg;
  c.vcpus = 0;
  EXPECT_EQ(vmm_config_check(&c, &err), -EINVAL);
  c.vcpus = VMM_MAX_VCPUS + 1;
  EXPECT_EQ(vmm_config_check(&c, &err), -EINVAL);
  c.vcpus = 1;
  c.memory_mb = 16;
  EXPECT_EQ(vmm_config_check(&c, &err), -EINVAL);
  c.memory_mb = 256;
  c.tcg_tb_mb = VMM_MAX_TCG_TB_MB + 1;
  EXPECT_EQ(vmm_config_check(&c, &err), -EINVAL);
  EXPECT_NE(strstr(err.msg, "translation cache"), nullptr) << err.msg;
  c.tcg_tb_mb = VMM_MAX_TCG_TB_MB;
  EXPECT_EQ(vmm_config_check(&c, &err), 0) << err.msg;
  c.console_log = "/tmp/a,b";  // QEMU's option separator
  EXPECT_EQ(vmm_config_check(&c, &err), -EINVAL);
  c.console_log = "/d/console.log";
  c.kernel = "/no/such/kernel";
  EXPECT_EQ(vmm_config_check(&c, &err), -ENOENT);
  EXPECT_NE(strstr(err.msg, "/no/such/kernel"), nullptr);
  EXPECT_EQ(vmm_find("qemu"), &vmm_qemu_ops);
  EXPECT_EQ(vmm_find("bochs"), nullptr);
}

TEST(Vmm, KvmDetectionSaysWhy) {
  char why[256] = "";
  bool usable = vmm_kvm_usable(why, sizeof(why));
  if (!usable) {
    EXPECT_NE(why[0], 0);
  }
}

TEST(VmRegistry, RecordRoundTrip) {
  std::string dir = akvm::MakeTempDir("akreg");
  struct vm_record r = {};
  snprintf(r.name, sizeof(r.name), "dev");
  r.pid = getpid();
  ASSERT_EQ(vm_proc_start_time(r.pid, &r.pid_start), 0);
  r.vmm_pid = 1;
  snprintf(r.dir, sizeof(r.dir), "%s", dir.c_str());
  snprintf(r.vsock_uds, sizeof(r.vsock_uds), "%s/vsock.sock", dir.c_str());
  snprintf(r.console_log, sizeof(r.console_log), "%s/console \"log\"", dir.c_str());
  snprintf(r.image, sizeof(r.image), "base");
  snprintf(r.accel, sizeof(r.accel), "tcg");
  r.vcpus = 2;
  r.memory_mb = 512;
  r.network = true;
  r.created_at = 1700000000;
  struct ak_error err = {};
  ASSERT_EQ(vm_record_write(dir.c_str(), &r, &err), 0) << err.msg;
  struct vm_record got;
  ASSERT_EQ(vm_record_read(dir.c_str(), &got, &err), 0) << err.msg;
  EXPECT_STREQ(got.console_log, r.console_log);
  EXPECT_EQ(got.pid, r.pid);
  EXPECT_EQ(got.pid_start, r.pid_start);
  EXPECT_EQ(got.vcpus, 2u);
  EXPECT_TRUE(got.network);
  EXPECT_TRUE(vm_proc_alive(got.pid, got.pid_start));
  EXPECT_FALSE(vm_proc_alive(got.pid, got.pid_start + 1));  // a recycled pid
  EXPECT_FALSE(vm_proc_alive(999999999, 0));
  EXPECT_EQ(vm_record_read("/nonexistent", &got, &err), -ENOENT);
  akvm::RemoveDir(dir);
  EXPECT_EQ(vm_name_check("dev-1"), 0);
  EXPECT_LT(vm_name_check("../x"), 0);
}

}  // namespace
