// `ak vm` and `ak image` as a user runs them: a real microVM booted by the
// built binary, reached through the vsock_uds it prints, listed, refused
// twice, stopped without leaving processes or files behind. The image store
// is the VM tests' cache (kernel download and base image reused).
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "vmm/testing/vm_fixture.h"

extern "C" {
#include "lib/guest/guest_client.h"
#include "lib/json/json.h"
#include "vmm/vm_registry.h"
}

namespace {

struct Result {
  int status;
  std::string out;
};

class VmCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    home_ = akvm::MakeTempDir("akcli");
    // Share the VM tests' image cache (kernel + base image).
    std::string store = akvm::ImageStoreDir();
    mkdir(store.c_str(), 0755);
    ASSERT_EQ(symlink(store.c_str(), (home_ + "/images").c_str()), 0) << strerror(errno);
  }
  static void TearDownTestSuite() {
    Ak("vm stop dev");
    akvm::RemoveDir(home_);
  }
  static Result Ak(const std::string& args) {
    std::string cmd = "AK_HOME=" + home_ + " cli/ak " + args + " 2>&1";
    Result r{-1, ""};
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
    int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
  }
  static std::string Field(const struct json_value* o, const char* k) {
    const struct json_value* v = json_object_get(o, k);
    if (!v) return "";
    if (json_value_type(v) == JSON_STRING) return json_string(v, nullptr);
    if (json_value_type(v) == JSON_NUMBER) return json_number_text(v);
    return "?";
  }
  static std::string home_;
};

std::string VmCliTest::home_;

TEST_F(VmCliTest, BootListStop) {
  Result r = Ak("vm boot dev --memory-mb 192");
  if (r.status != 0 && akvm::KernelUnavailable(r.out)) GTEST_SKIP() << r.out;
  ASSERT_EQ(r.status, 0) << r.out;
  // stderr comes along: a first boot that builds the base image has
  // progress lines ("ak: [   1.0s] initramfs: ...") before the JSON.
  size_t json_at = r.out.find("\n{");
  std::string json = r.out[0] == '{' || json_at == std::string::npos ? r.out : r.out.substr(json_at + 1);
  struct json_value* v = nullptr;
  ASSERT_EQ(json_parse(json.data(), json.size(), &v, nullptr), 0) << r.out;
  std::string uds = Field(v, "vsock_uds"), console = Field(v, "console_log");
  pid_t pid = atoi(Field(v, "pid").c_str()), sup = atoi(Field(v, "supervisor_pid").c_str());
  EXPECT_EQ(Field(v, "name"), "dev");
  EXPECT_EQ(Field(v, "memory_mb"), "192");
  json_value_free(v);
  EXPECT_EQ(uds, home_ + "/vms/dev/vsock.sock");
  EXPECT_EQ(access(console.c_str(), R_OK), 0) << console;
  EXPECT_EQ(kill(pid, 0), 0);
  EXPECT_EQ(kill(sup, 0), 0);

  // The user's own client, through the printed socket.
  EXPECT_EQ(guest_client_ping(uds.c_str(), 10000), 0);
  std::string err;
  struct proto_reply* rep = akvm::Run(uds.c_str(), {"cat", "/proc/meminfo"}, 20000, &err);
  ASSERT_NE(rep, nullptr) << err;
  EXPECT_NE(strstr(rep->stdout_str, "MemTotal:"), nullptr);
  proto_reply_free(rep);

  r = Ak("vm list");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("dev"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("running"), std::string::npos) << r.out;
  r = Ak("vm list --json");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(json_parse(r.out.data(), r.out.size(), &v, nullptr), 0) << r.out;
  ASSERT_EQ(json_array_size(v), 1u);
  EXPECT_EQ(Field(json_array_get(v, 0), "state"), "running");
  json_value_free(v);

  r = Ak("vm boot dev");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("is running"), std::string::npos) << r.out;

  // The image it runs from cannot be removed under it.
  r = Ak("image rm base");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("in use by VM dev"), std::string::npos) << r.out;

  r = Ak("vm stop dev");
  EXPECT_EQ(r.status, 0) << r.out;
  // Gone (a zombie waiting for a subreaper to reap it counts as gone).
  uint64_t start;
  EXPECT_LT(vm_proc_start_time(pid, &start), 0) << "QEMU still runs";
  EXPECT_LT(vm_proc_start_time(sup, &start), 0) << "ak-vmm still runs";
  struct stat st;
  EXPECT_NE(stat((home_ + "/vms/dev").c_str(), &st), 0) << "VM directory left behind";
  r = Ak("vm stop dev");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("no VM named dev"), std::string::npos);
}

// A guest that does not answer in time: the error shows the console, and
// nothing is left running.
TEST_F(VmCliTest, BootTimeoutCleansUp) {
  Result r = Ak("vm boot slow --timeout 1");
  if (r.status != 0 && akvm::KernelUnavailable(r.out)) GTEST_SKIP() << r.out;
  if (r.status == 0) {  // a fast (KVM) host boots within the second
    Ak("vm stop slow");
    GTEST_SKIP() << "the VM booted within 1 s: no timeout to test here";
  }
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("did not answer within 1 s"), std::string::npos) << r.out;
  struct stat st;
  EXPECT_NE(stat((home_ + "/vms/slow").c_str(), &st), 0) << "VM directory left behind";
  Result list = Ak("vm list --json");
  EXPECT_EQ(list.out, "[]\n");
}

TEST_F(VmCliTest, ClearErrors) {
  Result r = Ak("vm boot x --image nope");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("no image named 'nope'"), std::string::npos) << r.out;
  r = Ak("vm boot Bad");
  EXPECT_EQ(r.status, 2);
  r = Ak("vm boot x --vcpus 100");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("--vcpus 100"), std::string::npos);
  r = Ak("image build x --packages 'bad name'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("not a Debian package name"), std::string::npos) << r.out;
  r = Ak("image list");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("NAME"), std::string::npos);
  for (const char* c : {"vm", "image"}) {
    r = Ak(std::string(c) + " --help");
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out.find("Usage: ak "), 0u) << r.out;
    EXPECT_NE(r.out.find("Examples:"), std::string::npos);
  }
}

}  // namespace
