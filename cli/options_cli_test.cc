// The built `ak`: option spellings and their errors, `attach`, `ak init`'s
// templates (each written, then loaded by the config loader ak run uses),
// and agentkernel.toml errors with file and line. No stack: every case
// here fails or finishes before ak calls a scheduler (AK_SCHEDULER points
// at a closed port, so a case that got that far says so).
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

extern "C" {
#include "lib/base/fs.h"
#include "cli/config.h"
}

namespace {

struct Result {
  int status;
  std::string out;
};

std::string g_dir;

Result Ak(const std::string& args) {
  std::string bin = std::string(getenv("TEST_SRCDIR") ? getenv("TEST_SRCDIR") : ".") + "/" +
                    (getenv("TEST_WORKSPACE") ? getenv("TEST_WORKSPACE") : "ak") + "/cli/ak";
  if (access(bin.c_str(), X_OK) != 0) bin = std::string(getcwd(nullptr, 0)) + "/cli/ak";
  std::string cmd = "cd '" + g_dir + "' && HOME='" + g_dir + "' AK_SCHEDULER=127.0.0.1:9 AK_HOME='" + g_dir + "/home' '" + bin + "' " +
                    args + " 2>&1";
  Result r{-1, ""};
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while (p && (n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int st = p ? pclose(p) : -1;
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

bool Has(const Result& r, const std::string& s) { return r.out.find(s) != std::string::npos; }

class OptionsCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char d[] = "/tmp/akopt.XXXXXX";
    ASSERT_NE(mkdtemp(d), nullptr);
    g_dir = d;
  }
  static void TearDownTestSuite() { ak_rm_rf(g_dir.c_str()); }
  void SetUp() override { unlink((g_dir + "/agentkernel.toml").c_str()); }
};

TEST_F(OptionsCli, BothSpellingsReachTheScheduler) {
  // Accepted options get as far as calling the (closed) scheduler.
  for (const char* args : {"run --profile=restrictive -- true", "run --profile restrictive -- true",
                           "run -k --ttl=1h --vcpus 2 --memory=1g -- true", "run --keep --ttl 30s -- true",
                           "run --label a=b --node-selector=zone=x -- true", "sandbox create d --ttl=2d --label=a=b",
                           "sandbox list --label a=b", "sandbox list --label=a=b --json",
                           "sandbox extend d --ttl=10m", "exec d -w /tmp --env-file /dev/null -- true",
                           "exec d --workdir=/tmp -e PATH -- true", "attach d -- true"}) {
    Result r = Ak(args);
    EXPECT_TRUE(Has(r, "127.0.0.1:9") || Has(r, "UNAVAILABLE")) << args << "\n" << r.out;
    EXPECT_FALSE(Has(r, "--help")) << args << "\n" << r.out;
  }
}

TEST_F(OptionsCli, ErrorsNameTheOptionAndTheHelp) {
  struct {
    const char* args;
    const char* want;
  } cases[] = {
      {"run --bogus -- true", "ak run: unknown option --bogus"},
      {"run -kx -- true", "ak run: unknown option -x"},
      {"run --keep=yes -- true", "option --keep takes no value"},
      {"run --ttl 5w -- true", "--ttl 5w: want 30s, 10m, 1h or 2d"},
      {"run --ttl=5w -- true", "--ttl 5w: want"},
      {"run --memory 12 -- true", "--memory 12: want 64m"},
      {"run --vcpus=0 -- true", "--vcpus 0: want 1 to 64"},
      {"run -e AK_SURELY_UNSET_Q -- true", "AK_SURELY_UNSET_Q is not set"},
      {"run --env-file /nonexistent/x -- true", "--env-file /nonexistent/x"},
      {"run --image", "option --image needs a value"},
      {"sandbox list --label novalue", "--label novalue: want KEY=VALUE"},
      {"sandbox extend d --ttl 1y", "--ttl 1y: want"},
      {"exec d --sudo=1 -- true", "--sudo takes no value"},
      {"attach --nope", "ak attach: unknown option --nope"},
      {"init --template cobol", "--template cobol: want base, python"},
      {"status --jsn", "ak status: unknown option --jsn"},
      {"status --json=yes", "--json takes no value"},
      {"up --warm=99", "--warm 99: want 0 to 16"},
      {"receipt verify --key-id", "option --key-id needs a value"},
      {"receipt show --key-id=k x", "unknown option --key-id"},
      {"sandbox exec-logs d id --follow=1", "--follow takes no value"},
      {"version --jsn", "ak version: unknown option --jsn"},
      {"image list --json=1", "--json takes no value"},
      {"image rm -x base", "unknown option -x"},
      {"mcp install claude --name", "option --name needs a value"},
  };
  for (const auto& c : cases) {
    Result r = Ak(c.args);
    EXPECT_EQ(r.status, 2) << c.args << "\n" << r.out;
    EXPECT_TRUE(Has(r, c.want)) << c.args << "\n" << r.out;
    EXPECT_TRUE(Has(r, "--help")) << c.args << "\n" << r.out;
  }
}

TEST_F(OptionsCli, McpInstallPrintBothSpellings) {
  for (const char* args : {"mcp install claude --print --name=akx", "mcp install --print claude --name akx"}) {
    Result r = Ak(args);
    EXPECT_EQ(r.status, 0) << args << "\n" << r.out;
    EXPECT_TRUE(Has(r, "akx")) << args << "\n" << r.out;
  }
}

TEST_F(OptionsCli, ReceiptTakesBothSpellings) {
  for (const char* args : {"receipt verify --key-id=abc /nonexistent/r.json",
                           "receipt verify --key-id abc -- /nonexistent/r.json"}) {
    Result r = Ak(args);
    EXPECT_NE(r.status, 2) << args << "\n" << r.out;
    EXPECT_TRUE(Has(r, "/nonexistent/r.json")) << args << "\n" << r.out;
  }
}

TEST_F(OptionsCli, InitTemplatesLoad) {
  for (const char* t : {"base", "python", "node", "go", "rust", "secure"}) {
    std::string path = g_dir + "/" + t + ".toml";
    Result r = Ak(std::string("init --template=") + t + " -c " + path + " --name proj-" + t);
    ASSERT_EQ(r.status, 0) << t << "\n" << r.out;
    config* c = nullptr;
    ak_error err = {};
    ASSERT_EQ(0, config_load(path.c_str(), &c, &err)) << t << ": " << err.msg;
    EXPECT_EQ(c->n_warnings, 0u) << t << ": " << c->warnings[0];
    EXPECT_EQ(std::string(c->name), std::string("proj-") + t);
    EXPECT_NE(c->image, nullptr) << t;
    if (std::string(t) == "secure") {
      EXPECT_EQ(c->network, 0);
      EXPECT_STREQ(c->profile, "restrictive");
    }
    config_free(c);
  }
  // A second init does not replace the file; --force does.
  EXPECT_EQ(Ak("init").status, 0);
  Result again = Ak("init -t secure");
  EXPECT_NE(again.status, 0);
  EXPECT_TRUE(Has(again, "exists; --force")) << again.out;
  EXPECT_EQ(Ak("init -ft secure").status, 0);
}

TEST_F(OptionsCli, ConfigInTheWorkingDirectory) {
  std::ofstream(g_dir + "/agentkernel.toml") << "[sandbox]\nname = \"proj\"\n\n[resources]\nvcpus = \"two\"\n";
  Result r = Ak("run -- true");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(Has(r, "agentkernel.toml:5: [resources] vcpus: want an integer")) << r.out;
  EXPECT_FALSE(Has(r, "127.0.0.1:9")) << r.out;
  // The shell's NAME comes from [sandbox] name; unknown keys warn.
  std::ofstream(g_dir + "/agentkernel.toml", std::ios::trunc) << "[sandbox]\nname = \"proj\"\nnmae = 1\n";
  r = Ak("shell");
  EXPECT_TRUE(Has(r, "agentkernel.toml:3: [sandbox] nmae: unknown key")) << r.out;
  EXPECT_TRUE(Has(r, "127.0.0.1:9") || Has(r, "UNAVAILABLE")) << r.out;
  r = Ak("sandbox create -c /nonexistent.toml x");
  EXPECT_TRUE(Has(r, "read /nonexistent.toml")) << r.out;
  std::ofstream(g_dir + "/agentkernel.toml", std::ios::trunc) << "[sandbox]\nname = = 1\n";
  r = Ak("sandbox create");
  EXPECT_TRUE(Has(r, "agentkernel.toml: ") && Has(r, "line 2")) << r.out;
}

}  // namespace
