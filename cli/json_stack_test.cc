// `ak run --json` and `ak exec --json` through a real stack: the built `ak`
// (AK_SCHEDULER at a real ak-scheduler) -> an ak-executor -> real microVMs.
// stdout must be exactly one JSON object (python3's json.load reads it) and
// the command's output must be on stderr.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
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

struct Result {
  int rc = -1;
  std::string out, err;
  std::map<std::string, std::string> json;  // key -> its value as JSON text
  std::string parse_error;
};

class JsonStack : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!akvm::GetKernel(&skip_, &setup_error_)) return;
    dir_ = akvm::MakeTempDir("akjson");
    stack_ = new aktest::CliStack;
    aktest::CliStackOptions o;
    o.executor_id = "exjson";
    o.heartbeat_ms = 1000;  // slow under ASan on a busy machine
    stack_->Start(dir_, akvm::ImageStoreDir(), o, &setup_error_);
  }
  static void TearDownTestSuite() {
    if (stack_ && !kept_.empty()) Ak({"sandbox", "remove", kept_});
    delete stack_;
    if (!dir_.empty()) akvm::RemoveDir(dir_);
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  }
  // bazel-bin/cli/ak with args in dir_; stdout and stderr apart, stdout
  // read by python3's json module into key -> JSON text.
  static Result Ak(const std::vector<std::string>& args) {
    Result r;
    std::string cmd = "cd '" + dir_ + "' && '" + Runfile("cli/ak") + "'";
    for (const std::string& a : args) cmd += " '" + a + "'";
    cmd += " >'" + dir_ + "/out' 2>'" + dir_ + "/err' </dev/null";
    int status = system(cmd.c_str());
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = Slurp(dir_ + "/out");
    r.err = Slurp(dir_ + "/err");
    std::string py = "/usr/bin/python3 -c 'import json,sys\n"
                     "d = json.load(open(sys.argv[1]))\n"
                     "assert isinstance(d, dict), \"not an object\"\n"
                     "for k, v in d.items(): print(k + \"=\" + json.dumps(v))' '" +
                     dir_ + "/out' >'" + dir_ + "/kv' 2>&1";
    if (system(py.c_str()) != 0) {
      r.parse_error = Slurp(dir_ + "/kv");
      return r;
    }
    std::string kv = Slurp(dir_ + "/kv");
    size_t pos = 0;
    while (pos < kv.size()) {
      size_t nl = kv.find('\n', pos), eq = kv.find('=', pos);
      if (nl == std::string::npos) nl = kv.size();
      if (eq != std::string::npos && eq < nl) r.json[kv.substr(pos, eq - pos)] = kv.substr(eq + 1, nl - eq - 1);
      pos = nl + 1;
    }
    return r;
  }
  // Ak, retried while the executor has not registered yet.
  static Result AkReady(const std::vector<std::string>& args) {
    Result r;
    for (int i = 0; i < 100; i++) {
      r = Ak(args);
      if (r.err.find("no executor") == std::string::npos && r.err.find("UNAVAILABLE") == std::string::npos) break;
      usleep(200 * 1000);
    }
    return r;
  }
  static std::string Dump(const Result& r) {
    return "rc=" + std::to_string(r.rc) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err + "\n" + r.parse_error;
  }
  static std::string skip_, setup_error_, dir_, kept_;
  static aktest::CliStack* stack_;
};
std::string JsonStack::skip_, JsonStack::setup_error_, JsonStack::dir_, JsonStack::kept_;
aktest::CliStack* JsonStack::stack_;

// A JSON string's text without its quotes ("" if it is not a string).
std::string Unquote(const std::string& v) {
  return v.size() >= 2 && v.front() == '"' && v.back() == '"' ? v.substr(1, v.size() - 2) : "";
}

TEST_F(JsonStack, RunExitCodesTimeoutKeepAndExec) {
  Result r = AkReady({"run", "--json", "--", "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 7"});
  if (akvm::KernelUnavailable(r.err)) GTEST_SKIP() << r.err;
  ASSERT_EQ(r.rc, 7) << Dump(r) << Slurp(stack_->exec.err);
  ASSERT_TRUE(r.parse_error.empty()) << Dump(r);
  EXPECT_EQ(r.json["exit_code"], "7") << Dump(r);
  EXPECT_EQ(r.json["timed_out"], "false");
  EXPECT_EQ(r.json["kept"], "false");
  EXPECT_EQ(r.json.count("error"), 0u) << Dump(r);
  EXPECT_FALSE(Unquote(r.json["sandbox"]).empty()) << Dump(r);
  EXPECT_GT(atoll(r.json["duration_ms"].c_str()), 0) << Dump(r);
  std::string id = Unquote(r.json["receipt_id"]), path = Unquote(r.json["receipt"]);
  ASSERT_FALSE(id.empty()) << Dump(r);
  EXPECT_EQ(path, dir_ + "/home/receipts/" + id + ".json");
  EXPECT_NE(Slurp(path).find(id), std::string::npos) << path;
  // Both of the command's streams are on our stderr, in order; none on stdout.
  EXPECT_NE(r.err.find("to-stdout\nto-stderr\n"), std::string::npos) << Dump(r);
  EXPECT_EQ(r.out.find("to-stdout"), std::string::npos) << Dump(r);

  r = Ak({"run", "--json", "--receipt", dir_ + "/r0.json", "--", "true"});
  ASSERT_EQ(r.rc, 0) << Dump(r);
  EXPECT_EQ(r.json["exit_code"], "0") << Dump(r);
  EXPECT_EQ(Unquote(r.json["receipt"]), dir_ + "/r0.json");

  r = Ak({"run", "--json", "--timeout=2s", "--", "sleep", "60"});
  ASSERT_EQ(r.rc, 124) << Dump(r);
  ASSERT_TRUE(r.parse_error.empty()) << Dump(r);
  EXPECT_EQ(r.json["timed_out"], "true") << Dump(r);
  EXPECT_EQ(r.json["signal"], "9") << Dump(r);  // the timeout's SIGKILL

  r = Ak({"run", "-k", "--json", "--", "sh", "-c", "echo kept > /tmp/k"});
  ASSERT_EQ(r.rc, 0) << Dump(r);
  EXPECT_EQ(r.json["kept"], "true") << Dump(r);
  kept_ = Unquote(r.json["sandbox"]);
  ASSERT_FALSE(kept_.empty()) << Dump(r);
  const std::string& akjson1 = kept_;

  r = Ak({"exec", "--json", akjson1, "--", "sh", "-c", "cat /tmp/k; exit 3"});
  ASSERT_EQ(r.rc, 3) << Dump(r);
  ASSERT_TRUE(r.parse_error.empty()) << Dump(r);
  EXPECT_EQ(r.json["exit_code"], "3");
  EXPECT_EQ(Unquote(r.json["sandbox"]), akjson1);
  EXPECT_EQ(r.json.count("kept"), 0u) << Dump(r);
  EXPECT_FALSE(Unquote(r.json["receipt_id"]).empty()) << Dump(r);
  EXPECT_NE(r.err.find("kept\n"), std::string::npos) << Dump(r);

  // --output-base64: the output in the object (binary kept), not on stderr.
  r = Ak({"exec", "--output-base64", akjson1, "--", "sh", "-c", "printf \"a\\001b\"; echo to-err-b64 >&2; exit 2"});
  ASSERT_EQ(r.rc, 2) << Dump(r);
  ASSERT_TRUE(r.parse_error.empty()) << Dump(r);
  EXPECT_EQ(r.json["exit_code"], "2") << Dump(r);
  EXPECT_EQ(r.json["stdout_base64"], "\"YQFi\"") << Dump(r);
  EXPECT_EQ(r.json["stderr_base64"], "\"dG8tZXJyLWI2NAo=\"") << Dump(r);
  EXPECT_EQ(r.err.find("to-err-b64"), std::string::npos) << Dump(r);
  r = Ak({"exec", "--json", "--output-base64", akjson1, "--", "true"});
  ASSERT_EQ(r.rc, 0) << Dump(r);
  EXPECT_EQ(r.json["stdout_base64"], "\"\"") << Dump(r);

  r = Ak({"exec", "--json", akjson1, "--", "sh", "-c", "kill -TERM $$"});
  ASSERT_TRUE(r.parse_error.empty()) << Dump(r);
  EXPECT_EQ(r.json["signal"], "15") << Dump(r);
  EXPECT_EQ(r.json["exit_code"], "-1") << Dump(r);
  EXPECT_EQ(r.json["timed_out"], "false") << Dump(r);

  r = Ak({"exec", "-d", "--json", akjson1, "--", "sleep", "1"});
  ASSERT_EQ(r.rc, 0) << Dump(r);
  ASSERT_TRUE(r.parse_error.empty()) << Dump(r);
  EXPECT_FALSE(Unquote(r.json["id"]).empty()) << Dump(r);
  EXPECT_GT(atoll(r.json["pid"].c_str()), 0) << Dump(r);
  EXPECT_EQ(Unquote(r.json["sandbox"]), akjson1);

  // Failing before the command starts: the usual exit code, {"error": ...}.
  r = Ak({"exec", "--json", "akjson-none", "--", "true"});
  EXPECT_EQ(r.rc, 125) << Dump(r);
  ASSERT_TRUE(r.parse_error.empty()) << Dump(r);
  EXPECT_NE(r.json["error"].find("akjson-none"), std::string::npos) << Dump(r);
  EXPECT_EQ(Ak({"sandbox", "remove", akjson1}).rc, 0);
  kept_.clear();
}

TEST_F(JsonStack, UsageErrorsAreJson) {
  Result r = Ak({"run", "--json", "--timeout", "soon", "--", "true"});
  EXPECT_EQ(r.rc, 2) << Dump(r);
  ASSERT_TRUE(r.parse_error.empty()) << Dump(r);
  EXPECT_NE(r.json["error"].find("--timeout soon"), std::string::npos) << Dump(r);
  // --json after the error's option: still a JSON error.
  r = Ak({"exec", "--bogus", "--json", "x", "--", "true"});
  EXPECT_EQ(r.rc, 2) << Dump(r);
  ASSERT_TRUE(r.parse_error.empty()) << Dump(r);
  EXPECT_NE(r.json["error"].find("unknown option --bogus"), std::string::npos) << Dump(r);
  r = Ak({"run", "--output-base64", "--timeout", "soon", "--", "true"});
  EXPECT_EQ(r.rc, 2) << Dump(r);
  ASSERT_TRUE(r.parse_error.empty()) << Dump(r);
  EXPECT_NE(r.json["error"].find("--timeout soon"), std::string::npos) << Dump(r);
}

}  // namespace
