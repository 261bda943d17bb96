// The apple backend against testing/container_double (Apple's `container`
// CLI, state in a directory, every call logged): the command lines are
// agentkernel's apple_backend.rs ones, the system is started when it is not
// running, CLI errors surface, stop + delete leave nothing, the guest agent
// is reached through `container exec -i ... ak-guest --stdio`.
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/testing/service_process.h"
#include "vmm/testing/vm_fixture.h"

extern "C" {
#include "lib/guest/frame.h"
#include "lib/guest/guest_client.h"
#include "lib/guest/protocol.h"
#include "vmm/backend/vmm.h"
#include "vmm/backend/vmm_apple.h"
#include "vmm/vm.h"
}

namespace {

using aktest::ProcessesMentioning;
using aktest::Runfile;
using aktest::Slurp;

class AppleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = akvm::MakeTempDir("akap");
    state_ = dir_ + "/state";
    cli_ = Runfile("vmm/backend/testing/container_double");
    setenv("AK_CONTAINER_CLI", cli_.c_str(), 1);
    setenv("AK_CONTAINER_DOUBLE_STATE", state_.c_str(), 1);
    setenv("AK_CONTAINER_DOUBLE_GUEST", Runfile("guest/ak-guest").c_str(), 1);
    setenv("AK_APPLE_IMAGE", "ghcr.io/example/ak-guest:1", 1);
    unsetenv("AK_CONTAINER_DOUBLE_VERSION");
    unsetenv("AK_CONTAINER_DOUBLE_FAIL");
    uds_ = dir_ + "/vsock.sock";
    con_ = dir_ + "/console.log";
    log_ = dir_ + "/vmm.log";
    cfg_.kernel = "/unused";
    cfg_.initrd = "/unused";
    cfg_.vcpus = 2;
    cfg_.memory_mb = 512;
    cfg_.console_log = con_.c_str();
    cfg_.log_file = log_.c_str();
    cfg_.vsock_uds = uds_.c_str();
    cfg_.guest_cid = 3;
    apple_container_name(uds_.c_str(), name_);
  }
  void TearDown() override {
    EXPECT_EQ(Containers(), 0);
    EXPECT_EQ(ProcessesMentioning(dir_), 0);
    akvm::RemoveDir(dir_);
  }
  // The CLI calls so far, one JSON array each.
  std::vector<std::string> Calls() {
    std::vector<std::string> out;
    std::istringstream in(Slurp(state_ + "/calls.log"));
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }
  int Containers() {
    int n = 0;
    DIR* d = opendir(state_.c_str());
    while (struct dirent* e = d ? readdir(d) : nullptr) n += std::string(e->d_name).rfind("c-", 0) == 0;
    if (d) closedir(d);
    return n;
  }
  // Runs the double by hand (as someone at the Mac would).
  int Cli(const std::string& args) { return system((cli_ + " " + args + " >/dev/null 2>&1").c_str()); }
  int Start(struct vmm** vm, struct ak_error* err) { return vmm_apple_ops.start(&cfg_, vm, err); }
  std::string N() { return name_; }

  std::string dir_, state_, cli_, uds_, con_, log_;
  char name_[20];
  struct vmm_config cfg_ = {};
};

TEST_F(AppleTest, CommandLinesAreAgentkernels) {
  struct vmm* vm = nullptr;
  struct ak_error err = {};
  ASSERT_EQ(Start(&vm, &err), 0) << err.msg;
  EXPECT_STREQ(vmm_apple_ops.accel(vm), "vz");
  EXPECT_TRUE(vmm_apple_ops.native_vsock);
  EXPECT_EQ(vmm_find("apple"), &vmm_apple_ops);
  auto calls = Calls();
  std::vector<std::string> want = {
      "[\"system\", \"status\"]",
      "[\"system\", \"start\"]",
      "[\"delete\", \"-f\", \"" + N() + "\"]",
      "[\"run\", \"-d\", \"--name\", \"" + N() +
          "\", \"--cpus\", \"2\", \"--memory\", \"512M\", \"--network\", \"none\", \"ghcr.io/example/ak-guest:1\", "
          "\"sleep\", \"infinity\"]",
      "[\"exec\", \"-d\", \"" + N() + "\", \"/usr/local/bin/ak-guest\", \"--listen\", \"unix:/run/ak-guest.sock\"]",
  };
  EXPECT_EQ(calls, want);
  // `system start` got its "Y": the default kernel was installed.
  EXPECT_EQ(access((state_ + "/default-kernel").c_str(), F_OK), 0);
  EXPECT_EQ(Slurp(con_), N() + "\n");  // what `container run` printed
  EXPECT_EQ(N().rfind("ak-", 0), 0u);
  EXPECT_EQ(N().size(), 19u);
  int status = -1;
  EXPECT_EQ(vmm_apple_ops.poll_exit(vm, &status), 0);
  sleep(1);
  EXPECT_EQ(vmm_apple_ops.poll_exit(vm, &status), 0);  // inspect: running
  EXPECT_EQ(Calls().back(), "[\"inspect\", \"" + N() + "\"]");
  size_t before = Calls().size();
  EXPECT_EQ(vmm_apple_ops.stop(vm, 1000, &status), 1);
  EXPECT_EQ(status, 0);
  calls = Calls();
  ASSERT_EQ(calls.size(), before + 2);
  EXPECT_EQ(calls[before], "[\"stop\", \"-t\", \"1\", \"" + N() + "\"]");
  EXPECT_EQ(calls[before + 1], "[\"delete\", \"-f\", \"" + N() + "\"]");
  EXPECT_EQ(Containers(), 0);
  vmm_apple_ops.free(vm);
  EXPECT_EQ(Calls().size(), before + 2);  // free after stop calls nothing
  EXPECT_NE(access(uds_.c_str(), F_OK), 0);
}

TEST_F(AppleTest, RunningSystemIsNotStartedAgainAndNetworkIsTheDefault) {
  ASSERT_EQ(Cli("system start </dev/null"), 0);  // the double asks, "" means yes
  unlink((state_ + "/calls.log").c_str());
  cfg_.network = true;
  struct vmm* vm = nullptr;
  struct ak_error err = {};
  ASSERT_EQ(Start(&vm, &err), 0) << err.msg;
  auto calls = Calls();
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[0], "[\"system\", \"status\"]");
  EXPECT_EQ(calls[2], "[\"run\", \"-d\", \"--name\", \"" + N() +
                          "\", \"--cpus\", \"2\", \"--memory\", \"512M\", \"ghcr.io/example/ak-guest:1\", \"sleep\", "
                          "\"infinity\"]");
  // free without stop: a forced delete, nothing else.
  vmm_apple_ops.free(vm);
  EXPECT_EQ(Calls().back(), "[\"delete\", \"-f\", \"" + N() + "\"]");
}

TEST_F(AppleTest, ErrorsSurface) {
  struct vmm* vm = nullptr;
  struct ak_error err = {};
  setenv("AK_CONTAINER_DOUBLE_FAIL", "run:Error: notFound: \"image ghcr.io/example/ak-guest:1 not found\"", 1);
  EXPECT_EQ(Start(&vm, &err), -EIO);
  EXPECT_NE(std::string(err.msg).find("apple: container run -d failed (status 1): Error: notFound: \"image "
                                      "ghcr.io/example/ak-guest:1 not found\""),
            std::string::npos)
      << err.msg;
  setenv("AK_CONTAINER_DOUBLE_FAIL", "system:Error: launchd refused the apiserver", 1);
  unlink((state_ + "/system-running").c_str());
  EXPECT_EQ(Start(&vm, &err), -EIO);
  EXPECT_NE(std::string(err.msg).find("`container system start` failed (status 1): Error: launchd refused"),
            std::string::npos)
      << err.msg;
  unsetenv("AK_CONTAINER_DOUBLE_FAIL");
  unsetenv("AK_APPLE_IMAGE");
  EXPECT_EQ(Start(&vm, &err), -EINVAL);
  EXPECT_NE(std::string(err.msg).find("AK_APPLE_IMAGE"), std::string::npos) << err.msg;
  setenv("AK_APPLE_IMAGE", "--privileged", 1);
  EXPECT_EQ(Start(&vm, &err), -EINVAL);
  setenv("AK_APPLE_IMAGE", "ghcr.io/example/ak-guest:1", 1);
  cfg_.root_disk = "/images/rootfs.ext4";
  EXPECT_EQ(Start(&vm, &err), -EOPNOTSUPP);
  cfg_.root_disk = nullptr;
  setenv("AK_CONTAINER_CLI", "/no/such/container", 1);
  EXPECT_EQ(Start(&vm, &err), -ENOENT);
  unsetenv("AK_CONTAINER_CLI");
  std::string path = getenv("PATH") ? getenv("PATH") : "";
  setenv("PATH", dir_.c_str(), 1);
  int r = Start(&vm, &err);
  setenv("PATH", path.c_str(), 1);
  EXPECT_EQ(r, -ENOENT);
  EXPECT_NE(std::string(err.msg).find("github.com/apple/container"), std::string::npos) << err.msg;
  EXPECT_EQ(vm, nullptr);
}

TEST_F(AppleTest, PollExitSeesTheContainerStopOrGo) {
  for (const char* version : {"0", "1"}) {
    setenv("AK_CONTAINER_DOUBLE_VERSION", version, 1);
    struct vmm* vm = nullptr;
    struct ak_error err = {};
    ASSERT_EQ(Start(&vm, &err), 0) << err.msg;
    ASSERT_EQ(Cli("stop " + N()), 0);
    int status = -1, r = 0;
    for (int i = 0; i < 40 && (r = vmm_apple_ops.poll_exit(vm, &status)) == 0; i++) usleep(100000);
    EXPECT_EQ(r, 1) << version;
    EXPECT_EQ(status, 0);
    vmm_apple_ops.free(vm);

    ASSERT_EQ(Start(&vm, &err), 0) << err.msg;
    ASSERT_EQ(Cli("delete -f " + N()), 0);
    for (int i = 0; i < 40 && (r = vmm_apple_ops.poll_exit(vm, &status)) == 0; i++) usleep(100000);
    EXPECT_EQ(r, 1) << version;
    EXPECT_EQ(status, 255);
    vmm_apple_ops.free(vm);
  }
}

TEST_F(AppleTest, GuestAgentThroughContainerExec) {
  struct vm_config vc = {};
  vc.dir = dir_.c_str();
  vc.kernel = "/unused";
  vc.initrd = "/unused";
  vc.network = true;  // configured by the runtime: vm.c must not touch it
  vc.vmm = &vmm_apple_ops;
  struct vm* vm = nullptr;
  struct ak_error err = {};
  ASSERT_EQ(vm_start(&vc, &vm, &err), 0) << err.msg;
  ASSERT_EQ(vm_wait_ready(vm, 20000, &err), 0) << err.msg;
  EXPECT_NE(access((dir_ + "/vhost.sock").c_str(), F_OK), 0);
  std::string e;
  struct proto_reply* rep = akvm::Run(vm_vsock_uds(vm), {"sh", "-c", "echo in the container"}, 10000, &e);
  ASSERT_NE(rep, nullptr) << e;
  EXPECT_STREQ(rep->stdout_str, "in the container\n");
  proto_reply_free(rep);
  std::string exec =
      "[\"exec\", \"-i\", \"" + N() + "\", \"/usr/local/bin/ak-guest\", \"--relay\", \"unix:/run/ak-guest.sock\"]";
  EXPECT_EQ(Calls().back(), exec);
  // One agent in the container: a shell opened on one connection takes
  // input from another, as in a VM.
  int a = -1;
  ASSERT_EQ(guest_client_connect(vm_vsock_uds(vm), GUEST_AGENT_PORT, 5000, &a), 0);
  const char* sh[] = {"/bin/sh"};
  struct proto_request_args shell = PROTO_REQUEST_ARGS_INIT;
  shell.id = "s";
  shell.type = "shell";
  shell.command = sh;
  shell.n_command = 1;
  struct proto_reply* started = nullptr;
  ASSERT_EQ(guest_client_call(a, &shell, 5000, &started), 0);
  ASSERT_NE(started->session_id, nullptr);
  std::string session = started->session_id;
  proto_reply_free(started);
  std::string in = akvm::Base64("echo across; exit 5\n");
  struct proto_request_args input = PROTO_REQUEST_ARGS_INIT;
  input.id = "i";
  input.type = "shell_input";
  input.session_id = session.c_str();
  input.input_base64 = in.c_str();
  struct proto_reply* ok = akvm::Call(vm_vsock_uds(vm), input, 5000, &e);
  ASSERT_NE(ok, nullptr) << e;
  EXPECT_EQ(ok->error, nullptr) << ok->error;
  proto_reply_free(ok);
  std::string out;
  int exit_code = -1;
  for (int i = 0; i < 50 && exit_code < 0; i++) {
    uint8_t* body = nullptr;
    size_t len = 0;
    ASSERT_EQ(frame_read(a, FRAME_MAX, 5000, &body, &len), 0);
    struct proto_reply* ev = nullptr;
    int pr = proto_reply_parse(body, len, &ev);
    free(body);
    ASSERT_EQ(pr, 0);
    if (ev->output_base64) out += akvm::Unbase64(ev->output_base64);
    if (ev->shell_event && strcmp(ev->shell_event, "exited") == 0) exit_code = ev->exit_code;
    proto_reply_free(ev);
  }
  close(a);
  EXPECT_NE(out.find("across"), std::string::npos) << out;
  EXPECT_EQ(exit_code, 5);
  int fd = -1;
  EXPECT_LT(guest_client_connect(vm_vsock_uds(vm), 52001, 2000, &fd), 0);  // only the agent's port
  pid_t helper = vm_pid(vm);
  ASSERT_GT(helper, 0);
  // The helper keeps stdin, stdout, stderr and its listener, none of ours.
  int fds = 0;
  DIR* d = opendir(("/proc/" + std::to_string(helper) + "/fd").c_str());
  ASSERT_NE(d, nullptr);
  while (struct dirent* ent = readdir(d)) fds += ent->d_name[0] != '.';
  closedir(d);
  EXPECT_EQ(fds, 4);
  int status;
  EXPECT_EQ(vm_stop(vm, 1000, &status), 1);
  vm_free(vm);
  EXPECT_NE(access(uds_.c_str(), F_OK), 0);
  // The helper and every `container exec` it started are gone (one group,
  // SIGKILLed; the orphans' reaping by init is not ours to wait for).
  int alive = 0;
  for (int i = 0; i < 200 && (alive = kill(-helper, 0) == 0); i++) usleep(10000);
  EXPECT_FALSE(alive);
}

TEST(AppleInspect, Parse) {
  char s[16];
  const char v0[] = "[{\"status\":\"running\",\"configuration\":{\"id\":\"x\"},\"networks\":[]}]";
  ASSERT_EQ(apple_inspect_state(v0, strlen(v0), s, sizeof(s)), 0);
  EXPECT_STREQ(s, "running");
  const char v1[] = "[{\"configuration\":{\"id\":\"x\"},\"status\":{\"state\":\"stopped\"}}]";
  ASSERT_EQ(apple_inspect_state(v1, strlen(v1), s, sizeof(s)), 0);
  EXPECT_STREQ(s, "stopped");
  EXPECT_EQ(apple_inspect_state("[]", 2, s, sizeof(s)), -ENOENT);
  for (const char* bad : {"", "{}", "[1]", "[{\"status\":1}]", "[{\"status\":{\"state\":null}}]", "[{}]", "[{"})
    EXPECT_EQ(apple_inspect_state(bad, strlen(bad), s, sizeof(s)), -EINVAL) << bad;
  char name[20], other[20];
  apple_container_name("/a/vsock.sock", name);
  apple_container_name("/b/vsock.sock", other);
  EXPECT_STRNE(name, other);
}

}  // namespace
