// `ak run -t` and `ak exec -t/-it` through a real stack (the built ak ->
// ak-scheduler -> ak-executor -> real microVMs), driven from a real
// pseudo-terminal (pty_drive.py: the pty is ak's controlling terminal, so
// a window change reaches ak as SIGWINCH). One kept sandbox serves the exec
// cases; `run -t` boots one VM of its own. -t writes a receipt as the
// command without -t does (its output hash over the PTY's output).
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

struct Tty {
  int rc = -1;       // ak's exit code, -1 when a signal ended it
  int signal = 0;
  std::string out;   // what the terminal showed
  std::string before, after;  // stty -g around the run
  std::string log;   // pty_drive's report and complaints
};

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string Field(const std::string& text, const std::string& key) {
  size_t p = text.find("\n" + key + "=");
  if (p == std::string::npos) p = text.rfind(key + "=", 0) == 0 ? 0 : std::string::npos;
  else p++;
  if (p == std::string::npos) return "";
  size_t e = text.find('\n', p);
  return text.substr(p + key.size() + 1, e == std::string::npos ? std::string::npos : e - p - key.size() - 1);
}

class TtyStack : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!akvm::GetKernel(&skip_, &setup_error_)) return;
    dir_ = akvm::MakeTempDir("aktty");
    stack_ = new aktest::CliStack;
    aktest::CliStackOptions o;
    o.executor_id = "extty";
    stack_->Start(dir_, akvm::ImageStoreDir(), o, &setup_error_);
  }
  static void TearDownTestSuite() {
    if (stack_ && !kept_.empty()) Plain({"sandbox", "remove", kept_}, nullptr);
    delete stack_;
    if (!dir_.empty()) akvm::RemoveDir(dir_);
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  }
  static std::string AkCmd(const std::vector<std::string>& args) {
    std::string cmd = Quote(Runfile("cli/ak"));
    for (const std::string& a : args) cmd += " " + Quote(a);
    return cmd;
  }
  // ak without a terminal: stdin /dev/null, stdout and stderr together.
  static int Plain(const std::vector<std::string>& args, std::string* out) {
    std::string cmd = "cd " + Quote(dir_) + " && " + AkCmd(args) + " >" + Quote(dir_ + "/plain") + " 2>&1 </dev/null";
    int status = system(cmd.c_str());
    if (out) *out = Slurp(dir_ + "/plain");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  // ak on a ROWSxCOLS pseudo-terminal, with pty_drive's steps (JSON).
  static Tty Drive(int rows, int cols, const std::string& steps, const std::vector<std::string>& args) {
    Tty t;
    std::string cmd = "cd " + Quote(dir_) + " && /usr/bin/python3 " + Quote(Runfile("cli/pty_drive.py")) + " " +
                      std::to_string(rows) + " " + std::to_string(cols) + " " + Quote(steps) + " " +
                      Quote(dir_ + "/tty.out") + " -- " + AkCmd(args) + " >" + Quote(dir_ + "/drive") + " 2>&1";
    int status = system(cmd.c_str());
    t.log = Slurp(dir_ + "/drive");
    t.out = Slurp(dir_ + "/tty.out");
    std::string rc = Field(t.log, "rc"), sig = Field(t.log, "signal");
    t.rc = rc.empty() ? -1 : atoi(rc.c_str());
    t.signal = sig.empty() ? 0 : atoi(sig.c_str());
    t.before = Field(t.log, "before");
    t.after = Field(t.log, "after");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) t.log += "\n(pty_drive failed)";
    return t;
  }
  static std::string Dump(const Tty& t) { return "terminal:\n" + t.out + "\ndriver:\n" + t.log; }
  // The kept sandbox of the exec cases, created once.
  static const std::string& Kept() {
    if (!kept_.empty()) return kept_;
    std::string out;
    for (int i = 0; i < 100; i++) {
      int rc = Plain({"sandbox", "create", "aktty1"}, &out);
      if (rc == 0) {
        kept_ = "aktty1";
        break;
      }
      if (out.find("no executor") == std::string::npos && out.find("UNAVAILABLE") == std::string::npos) break;
      usleep(200 * 1000);
    }
    create_out_ = out;
    return kept_;
  }
  static std::string skip_, setup_error_, dir_, kept_, create_out_;
  static aktest::CliStack* stack_;
};
std::string TtyStack::skip_, TtyStack::setup_error_, TtyStack::dir_, TtyStack::kept_, TtyStack::create_out_;
aktest::CliStack* TtyStack::stack_;

TEST_F(TtyStack, RunTtyGivesPtySizeAndExitCode) {
  Tty t;
  for (int i = 0; i < 100; i++) {  // until the executor has registered
    t = Drive(33, 101, "[]", {"run", "-t", "--receipt", dir_ + "/run-t.json", "--", "sh", "-c", "tty; stty size; exit 3"});
    if (t.out.find("no executor") == std::string::npos && t.out.find("UNAVAILABLE") == std::string::npos) break;
    usleep(200 * 1000);
  }
  if (akvm::KernelUnavailable(t.out)) GTEST_SKIP() << t.out;
  EXPECT_EQ(t.rc, 3) << Dump(t) << Slurp(stack_->exec.err);
  EXPECT_NE(t.out.find("/dev/pts/"), std::string::npos) << Dump(t);
  EXPECT_NE(t.out.find("33 101"), std::string::npos) << Dump(t);
  EXPECT_EQ(t.before, t.after) << Dump(t);
  EXPECT_FALSE(t.before.empty()) << Dump(t);
  // The receipt, as run without -t writes one: exec mode, the command, its exit code.
  std::string receipt = Slurp(dir_ + "/run-t.json");
  EXPECT_NE(t.out.find("ak: receipt: " + dir_ + "/run-t.json"), std::string::npos) << Dump(t);
  EXPECT_NE(receipt.find("\"exit_code\": 3,"), std::string::npos) << receipt;
  EXPECT_NE(receipt.find("tty; stty size; exit 3"), std::string::npos) << receipt;
  EXPECT_NE(receipt.find("\"output_bytes\": 20,"), std::string::npos) << receipt;  // "/dev/pts/N\r\n33 101\r\n"
}

TEST_F(TtyStack, ExecItTypesInputFollowsResizeRestoresTerminal) {
  ASSERT_FALSE(Kept().empty()) << create_out_ << Slurp(stack_->exec.err);
  // Typed input through the pty; a window change mid-run reaches the guest.
  Tty t = Drive(40, 100,
                R"([["expect", "size:40 100"], ["resize", 50, 132], ["sleep", 2], ["send", "hello\r"],)"
                R"( ["expect", "got:hello"]])",
                {"exec", "-it", Kept(), "--", "sh", "-c",
                 "echo size:$(stty size); read x; echo got:$x; echo size:$(stty size); exit 4"});
  EXPECT_EQ(t.rc, 4) << Dump(t);
  EXPECT_NE(t.out.find("got:hello"), std::string::npos) << Dump(t);
  EXPECT_NE(t.out.find("size:50 132"), std::string::npos) << Dump(t);
  EXPECT_EQ(t.before, t.after) << Dump(t);
  size_t at = t.out.find("ak: receipt: ");
  ASSERT_NE(at, std::string::npos) << Dump(t);
  std::string path = t.out.substr(at + 13, t.out.find_first_of(" \r\n", at + 13) - at - 13);
  std::string receipt = Slurp(path);
  EXPECT_NE(receipt.find("\"exit_code\": 4,"), std::string::npos) << path << ": " << receipt;
  EXPECT_NE(receipt.find("\"mode\": \"exec\""), std::string::npos) << receipt;

  // -w and the sandbox's user (as exec without a terminal); --sudo is root.
  t = Drive(24, 80, "[]", {"exec", "-t", "-w", "/tmp", Kept(), "--", "sh", "-c", "echo who:$(id -u):$(pwd):$HOME"});
  EXPECT_EQ(t.rc, 0) << Dump(t);
  EXPECT_NE(t.out.find("who:1000:/tmp:/home/sandbox"), std::string::npos) << Dump(t);
  t = Drive(24, 80, "[]", {"exec", "-t", "--sudo", Kept(), "--", "sh", "-c", "echo who:$(id -u)"});
  EXPECT_NE(t.out.find("who:0"), std::string::npos) << Dump(t);
}

TEST_F(TtyStack, SignalRestoresTerminal) {
  ASSERT_FALSE(Kept().empty()) << create_out_;
  Tty t = Drive(24, 80, R"([["expect", "ready"], ["signal", "SIGTERM"]])",
                {"exec", "-it", Kept(), "--", "sh", "-c", "echo ready; sleep 60"});
  EXPECT_EQ(t.signal, 15) << Dump(t);
  EXPECT_FALSE(t.before.empty()) << Dump(t);
  EXPECT_EQ(t.before, t.after) << Dump(t);
}

TEST_F(TtyStack, ItWithoutTerminalIsRefusedTAloneWorks) {
  ASSERT_FALSE(Kept().empty()) << create_out_;
  std::string out;
  EXPECT_EQ(Plain({"exec", "-it", Kept(), "--", "true"}, &out), 2) << out;
  EXPECT_NE(out.find("the input device is not a TTY"), std::string::npos) << out;
  EXPECT_EQ(Plain({"run", "-i", "--tty", "--", "true"}, &out), 2) << out;
  EXPECT_NE(out.find("the input device is not a TTY"), std::string::npos) << out;
  // -t alone reads no stdin, as docker: fine from a script.
  EXPECT_EQ(Plain({"exec", "-t", Kept(), "--", "sh", "-c", "tty; exit 5"}, &out), 5) << out;
  EXPECT_NE(out.find("/dev/pts/"), std::string::npos) << out;
  EXPECT_EQ(Plain({"exec", "-t", "--json", Kept(), "--", "true"}, &out), 2) << out;
  EXPECT_NE(out.find("-t and --json"), std::string::npos) << out;
}

// `ak shell` on the same session code (pty_session.c): piped stdin is typed
// in and end-of-file types ^D; the shell's exit code is ak's.
TEST_F(TtyStack, ShellTypesPipedInput) {
  ASSERT_FALSE(Kept().empty()) << create_out_;
  std::string cmd = "cd " + Quote(dir_) + " && printf 'echo via-$((6*7))\\nexit 6\\n' | " +
                    AkCmd({"shell", Kept()}) + " >" + Quote(dir_ + "/shell") + " 2>&1";
  int status = system(cmd.c_str());
  std::string out = Slurp(dir_ + "/shell");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 6) << status << "\n" << out;
  EXPECT_NE(out.find("via-42"), std::string::npos) << out;
}

}  // namespace
