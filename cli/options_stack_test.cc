// The new flags' effects through a real stack: the built `ak` (AK_SCHEDULER
// pointing at a real ak-scheduler) -> a registered ak-executor (label
// zone=akopt) -> real microVMs. One persistent sandbox is made with flags
// and an agentkernel.toml and checked from outside (list --json, list
// --label) and inside (exec); run -w and --node-selector are checked too.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/testing/cli_stack.h"
#include "tests/testing/service_process.h"
#include "vmm/testing/vm_fixture.h"

namespace {

using aktest::Runfile;
using aktest::ServiceProcess;
using aktest::Slurp;

class OptionsStack : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string why;
    if (!akvm::GetKernel(&skip_, &setup_error_)) return;
    dir_ = akvm::MakeTempDir("akopts");
    stack_ = new aktest::CliStack;
    aktest::CliStackOptions o;
    o.executor_id = "exopts";
    o.heartbeat_ms = 300;
    o.executor_args = {"--label", "zone=akopt"};
    stack_->Start(dir_, akvm::ImageStoreDir(), o, &setup_error_);
  }
  static void TearDownTestSuite() {
    if (stack_) Ak({"sandbox", "remove", "akopt1"});
    delete stack_;
    if (!dir_.empty()) akvm::RemoveDir(dir_);
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  }
  // bazel-bin/cli/ak with args in dir_: its exit status, stdout+stderr in *out.
  static int Ak(const std::vector<std::string>& args, std::string* out = nullptr) {
    std::string cmd = "cd '" + dir_ + "' && '" + Runfile("cli/ak") + "'";
    for (const std::string& a : args) cmd += " '" + a + "'";
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    std::string text;
    char buf[512];
    size_t n;
    while (p && (n = fread(buf, 1, sizeof(buf), p)) > 0) text.append(buf, n);
    int status = p ? pclose(p) : -1;
    if (out) *out = text;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  // Ak, retried while the executor has not registered yet.
  static int AkReady(const std::vector<std::string>& args, std::string* out) {
    int rc = -1;
    for (int i = 0; i < 100; i++) {
      rc = Ak(args, out);
      if (out->find("no executor") == std::string::npos && out->find("UNAVAILABLE") == std::string::npos) break;
      usleep(200 * 1000);
    }
    return rc;
  }
  static std::string skip_, setup_error_, dir_;
  static aktest::CliStack* stack_;
};
std::string OptionsStack::skip_, OptionsStack::setup_error_, OptionsStack::dir_;
aktest::CliStack* OptionsStack::stack_;

TEST_F(OptionsStack, CreateWithFlagsAndConfig) {
  std::ofstream(dir_ + "/hello.txt") << "hello from the host\n";
  std::ofstream(dir_ + "/run.sh") << "#!/bin/sh\necho ran\n";
  {  // 9 MiB: past the old one-frame limit of [[files]] (7 MiB), now sandbox cp's pieces
    std::string big(9u << 20, '\0');
    for (size_t i = 0; i < big.size(); i++) big[i] = static_cast<char>((i * 2654435761u) >> 13);
    std::ofstream(dir_ + "/big.bin", std::ios::binary) << big;
  }
  std::ofstream(dir_ + "/agentkernel.toml")
      << "[sandbox]\nname = \"akopt1\"\n\n[resources]\nvcpus = 2\nmemory_mb = 384\n\n"
         "[env]\nFROM_FILE = \"file\"\nBOTH = \"file\"\n\n"
         "[[files]]\nsource = \"hello.txt\"\ndest = \"/opt/in/hello.txt\"\nmode = \"0600\"\n"
         "[[files]]\nsource = \"run.sh\"\ndest = \"/opt/in/run.sh\"\nmode = \"0755\"\n"
         "[network]\nvsock_cid = 9\nports = [\"8080:80\"]\n"  // lines 20-22: checked, warned, not honoured
         "[[files]]\nsource = \"big.bin\"\ndest = \"/opt/big/deep/big.bin\"\n";
  setenv("AK_VCPUS", "1", 1);  // over the file's 2 (the machine may have 2 in all)
  std::string out;
  int rc = AkReady({"sandbox", "create", "--memory=512m", "--label", "team=akopt", "--label=tier=gold", "--ttl",
                    "1h", "-e", "BOTH=flag", "--node-selector=zone=akopt", "--json"},
                   &out);
  unsetenv("AK_VCPUS");
  if (akvm::KernelUnavailable(out)) GTEST_SKIP() << out;
  ASSERT_EQ(rc, 0) << out << "\n" << Slurp(stack_->exec.err);
  EXPECT_NE(out.find("\"name\":\"akopt1\""), std::string::npos) << out;  // [sandbox] name
  EXPECT_NE(out.find("agentkernel.toml:21: [network] vsock_cid: not honoured"), std::string::npos) << out;
  EXPECT_NE(out.find("agentkernel.toml:22: [network] ports: not honoured"), std::string::npos) << out;
  EXPECT_NE(out.find("\"vcpus\":1"), std::string::npos) << out;          // environment over file
  EXPECT_NE(out.find("\"memory_mb\":512"), std::string::npos) << out;    // flag over file
  EXPECT_NE(out.find("\"labels\":{\"team\":\"akopt\",\"tier\":\"gold\"}"), std::string::npos) << out;
  size_t c = out.find("\"created_at_ms\":"), e = out.find("\"expires_at_ms\":");
  ASSERT_NE(c, std::string::npos);
  ASSERT_NE(e, std::string::npos);
  long long created = atoll(out.c_str() + c + 16), expires = atoll(out.c_str() + e + 16);
  EXPECT_NEAR(static_cast<double>(expires - created), 3600e3, 60e3) << out;

  std::string list;
  ASSERT_EQ(Ak({"sandbox", "list", "--label", "team=akopt", "--json"}, &list), 0) << list;
  EXPECT_NE(list.find("akopt1"), std::string::npos) << list;
  ASSERT_EQ(Ak({"sandbox", "list", "--label=team=other", "--json"}, &list), 0) << list;
  EXPECT_EQ(list.find("akopt1"), std::string::npos) << list;

  std::string in;
  // [[files]] mode reaches the guest (WriteFileRequest.mode -> write_file's
  // "mode"); the agent's umask alone would give 0644. --sudo: the files are
  // root's, and 0600 keeps exec's default user (1000) out.
  ASSERT_EQ(Ak({"exec", "--sudo", "akopt1", "--", "sh", "-c",
                "cat /opt/in/hello.txt; echo $FROM_FILE $BOTH; stat -c %a /opt/in/hello.txt /opt/in/run.sh"},
               &in),
            0)
      << in;
  EXPECT_NE(in.find("hello from the host\nfile flag\n600\n755\n"), std::string::npos) << in;
  std::string want_sum, got_sum;
  ASSERT_EQ(Ak({"exec", "akopt1", "--", "sha256sum", "/opt/big/deep/big.bin"}, &got_sum), 0) << got_sum;
  FILE* p = popen(("sha256sum '" + dir_ + "/big.bin'").c_str(), "r");
  char line[256] = "";
  if (p && fgets(line, sizeof(line), p)) want_sum = std::string(line).substr(0, 64);
  if (p) pclose(p);
  ASSERT_EQ(want_sum.size(), 64u);
  EXPECT_NE(got_sum.find(want_sum), std::string::npos) << got_sum << " want " << want_sum;
  // exec -e NAME takes the value from ak's environment; -w both spellings.
  setenv("AKOPT_CALLER", "caller-value", 1);
  ASSERT_EQ(Ak({"exec", "-w", "/opt", "-e", "AKOPT_CALLER", "akopt1", "--", "sh", "-c", "pwd; echo $AKOPT_CALLER"},
               &in),
            0)
      << in;
  unsetenv("AKOPT_CALLER");
  EXPECT_NE(in.find("/opt\ncaller-value"), std::string::npos) << in;
  ASSERT_EQ(Ak({"exec", "--workdir=/opt/in", "akopt1", "--", "pwd"}, &in), 0) << in;
  EXPECT_NE(in.find("/opt/in"), std::string::npos) << in;
  unlink((dir_ + "/agentkernel.toml").c_str());
  EXPECT_EQ(Ak({"sandbox", "remove", "akopt1"}, &in), 0) << in;
}

TEST_F(OptionsStack, RunWorkdirAndNodeSelector) {
  std::string out;
  int rc = AkReady({"run", "-w", "/tmp", "--", "pwd"}, &out);
  if (akvm::KernelUnavailable(out)) GTEST_SKIP() << out;
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("/tmp\n"), std::string::npos) << out;
  rc = Ak({"run", "--workdir=/etc", "--node-selector", "zone=akopt", "--", "pwd"}, &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("/etc\n"), std::string::npos) << out;
  // No executor has zone=elsewhere: placement refuses.
  rc = Ak({"run", "--node-selector=zone=elsewhere", "--", "true"}, &out);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("zone"), std::string::npos) << out;
}

}  // namespace
