// The agent binary over --listen unix:, every request type and failure.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "guest/agent_harness.h"

namespace {

using akt::Agent;
using akt::B64;
using akt::Call;
using akt::Recv;
using akt::Reply;
using akt::Req;
using akt::UnB64;

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(agent_.Start());
    fd_ = agent_.Connect();
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    if (fd_ >= 0) close(fd_);
    agent_.Stop();
  }
  Reply Run(std::vector<std::string> cmd) {
    Req r;
    r.type = "run";
    r.Cmd(std::move(cmd));
    return Call(fd_, r);
  }
  void ExpectAlive(int fd) {
    Req p;
    p.id = "alive";
    Reply r = Call(fd, p);
    ASSERT_EQ(r.err, 0);
    EXPECT_EQ(r.raw, R"({"id":"alive","exit_code":0})");
  }
  std::string Tmp(const std::string& name) { return agent_.dir() + "/" + name; }

  Agent agent_;
  int fd_ = -1;
};

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST_F(AgentTest, Ping) {
  Req r;
  r.id = "p-1";
  Reply rep = Call(fd_, r);
  ASSERT_EQ(rep.err, 0);
  EXPECT_EQ(rep.raw, R"({"id":"p-1","exit_code":0})");
}

TEST_F(AgentTest, RunCapturesOutputAndExitCode) {
  Reply r = Run({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.raw, R"({"id":"1","exit_code":3,"stdout":"out\n","stderr":"err\n"})");
}

TEST_F(AgentTest, RunEnvAddsToTheAgentsEnvironment) {
  Req r;
  r.type = "run";
  r.Cmd({"sh", "-c", "echo \"$AKT_X-${PATH:+haspath}\""});
  r.env["AKT_X"] = "val ue";
  Reply rep = Call(fd_, r);
  EXPECT_EQ(rep.stdout_s, "val ue-haspath\n");
}

TEST_F(AgentTest, RunCwd) {
  Req r;
  r.type = "run";
  r.Cmd({"pwd"});
  r.cwd = agent_.dir();
  EXPECT_EQ(Call(fd_, r).stdout_s, agent_.dir() + "\n");
  r.cwd = agent_.dir() + "/missing";
  Reply rep = Call(fd_, r);
  EXPECT_TRUE(rep.has_error);
  EXPECT_FALSE(rep.has_exit_code);
  EXPECT_NE(rep.error.find("No such file or directory (os error 2)"), std::string::npos) << rep.error;
}

TEST_F(AgentTest, RunStdinIsDevNullAndOwnProcessGroup) {
  Reply r = Run({"sh", "-c", "cat; readlink /proc/self/fd/0; echo $$ $(cut -d' ' -f5 /proc/$$/stat)"});
  ASSERT_EQ(r.exit_code, 0);
  std::string out = r.stdout_s;
  ASSERT_EQ(out.substr(0, 10), "/dev/null\n");
  std::string ids = out.substr(10);
  auto sp = ids.find(' ');
  ASSERT_NE(sp, std::string::npos);
  EXPECT_EQ(ids.substr(0, sp) + "\n", ids.substr(sp + 1)) << "pgid != pid: " << ids;
  EXPECT_NE(ids.substr(0, sp), std::to_string(agent_.pid()));
}

TEST_F(AgentTest, RunErrors) {
  Reply r = Run({"/nonexistent/prog"});
  EXPECT_EQ(r.raw, R"J({"id":"1","error":"Failed to run command: No such file or directory (os error 2)"})J");
  r = Run({"no-such-program-akt"});
  EXPECT_EQ(r.error, "Failed to run command: No such file or directory (os error 2)");
  r = Run({});
  EXPECT_EQ(r.raw, R"({"id":"1","error":"Empty command"})");
  Req q;
  q.type = "run";
  EXPECT_EQ(Call(fd_, q).raw, R"({"id":"1","error":"No command specified"})");
  ExpectAlive(fd_);
}

TEST_F(AgentTest, RunNonUtf8OutputIsMadeValid) {
  Reply r = Run({"sh", "-c", "printf 'a\\377b\\342\\202c\\001'"});
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.raw, "{\"id\":\"1\",\"exit_code\":0,\"stdout\":\"a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\\u0001\",\"stderr\":\"\"}");
}

TEST_F(AgentTest, RunKilledBySignalReportsMinusOne) {
  Reply r = Run({"sh", "-c", "kill -TERM $$"});
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.signal, SIGTERM);
}

TEST_F(AgentTest, RunTimeoutKillsTheWholeGroup) {
  Req r;
  r.type = "run";
  r.Cmd({"sh", "-c", "echo started; sleep 30 & sleep 30; echo never"});
  r.timeout_ms = 300;
  auto t0 = std::chrono::steady_clock::now();
  Reply rep = Call(fd_, r);
  EXPECT_LT(Seconds(t0), 5.0);
  EXPECT_TRUE(rep.timed_out);
  EXPECT_EQ(rep.exit_code, -1);
  EXPECT_EQ(rep.stdout_s, "started\n");
  EXPECT_NE(rep.error.find("timed out"), std::string::npos);
}

TEST_F(AgentTest, RunStreamed) {
  Req r;
  r.id = "s1";
  r.type = "run";
  r.Cmd({"sh", "-c", "echo one; sleep 0.1; echo two >&2; sleep 0.1; echo three"});
  r.stream = 1;
  ASSERT_EQ(akt::SendReq(fd_, r), 0);
  std::string out, err;
  Reply fin;
  for (int i = 0; i < 100; i++) {
    Reply c = Recv(fd_);
    ASSERT_EQ(c.err, 0);
    ASSERT_EQ(c.id, "s1");
    if (c.has_exit_code) {
      fin = c;
      break;
    }
    ASSERT_FALSE(c.stream.empty()) << c.raw;
    (c.stream == "stdout" ? out : err) += UnB64(c.output_base64);
  }
  EXPECT_EQ(out, "one\nthree\n");
  EXPECT_EQ(err, "two\n");
  EXPECT_EQ(fin.exit_code, 0);
  EXPECT_EQ(fin.stdout_s, "");
}

TEST_F(AgentTest, RunMaxOutputBytes) {
  Req r;
  r.type = "run";
  r.Cmd({"sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x; echo e >&2"});
  r.max_output_bytes = 100;
  Reply rep = Call(fd_, r);
  EXPECT_EQ(rep.stdout_s, std::string(100, 'x'));
  EXPECT_EQ(rep.stderr_s, "e\n");
  EXPECT_TRUE(rep.truncated);
  EXPECT_EQ(rep.exit_code, 0);
}

TEST_F(AgentTest, Run12MBOfOutputIsCutToOneValidFrame) {
  Reply r = Run({"sh", "-c", "head -c 12000000 /dev/zero | tr '\\0' y; echo tail >&2"});
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.raw.size(), FRAME_MAX);  // 1-byte units: the budget is filled exactly
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.stderr_s, "tail\n");
  EXPECT_EQ(r.stdout_s, std::string(r.stdout_s.size(), 'y'));
  ExpectAlive(fd_);
}

TEST_F(AgentTest, HugeEscapedOutputStillFits) {
  // Every byte invalid: 3 bytes of U+FFFD each, and control characters: 6.
  Reply r = Run({"sh", "-c", "head -c 4000000 /dev/zero | tr '\\0' '\\377'; head -c 3000000 /dev/zero >&2"});
  ASSERT_EQ(r.err, 0);
  EXPECT_LE(r.raw.size(), FRAME_MAX);
  EXPECT_TRUE(r.truncated);
  EXPECT_GT(r.stdout_s.size(), 1000000u);
  EXPECT_GT(r.stderr_s.size(), 100000u);
  // Both overflow half the budget, so each gets half, cut on whole units:
  // 3 bytes per U+FFFD in stdout, 6 per \u0000 in stderr.
  size_t n_out = r.stdout_s.size() / 3, n_err = r.stderr_s.size();
  EXPECT_EQ(r.stdout_s.size(), 3 * n_out);
  size_t budget = FRAME_MAX - (r.raw.size() - (2 + 3 * n_out) - (2 + 6 * n_err));
  EXPECT_EQ(n_out, (budget / 2 - 2) / 3);
  EXPECT_EQ(n_err, (budget - budget / 2 - 2) / 6);
}

TEST_F(AgentTest, GarbageFramesGetErrorsAndTheConnectionStaysUsable) {
  for (std::string bad : {"garbage", "", "[1]", "{\"type\":\"ping\"}", "\xff\xfe", "{\"id\":\"k\",\"type\":\"x\"}",
                          "{\"id\":\"a\",\"type\":\"ping\",\"x\":1e400}", "{\"id\":\"a\",\"type\":\"ping\",\"x\":{\"y\":1,\"y\":2}}"}) {
    ASSERT_EQ(akt::SendRaw(fd_, bad), 0);
    Reply r = Recv(fd_);
    ASSERT_EQ(r.err, 0) << bad;
    EXPECT_TRUE(r.has_error) << bad;
    EXPECT_EQ(r.error.rfind("Invalid request: ", 0), 0u) << r.error;
    EXPECT_EQ(r.id, bad[2] == 'i' && bad[7] == 'k' ? "k" : "") << bad;
  }
  // Reals are read in the C locale by the static binary too.
  ASSERT_EQ(akt::SendRaw(fd_, R"({"id":"r","type":"ping","x":[1.5e308,-2.5e-400]})"), 0);
  Reply ok = Recv(fd_);
  EXPECT_FALSE(ok.has_error) << ok.error;
  EXPECT_EQ(ok.id, "r");
  ExpectAlive(fd_);
}

TEST_F(AgentTest, UnknownTypeAndBadFieldsEchoTheId) {
  ASSERT_EQ(akt::SendRaw(fd_, R"({"id":"u1","type":"fly"})"), 0);
  Reply r = Recv(fd_);
  EXPECT_EQ(r.id, "u1");
  EXPECT_NE(r.error.find("unknown variant `fly`"), std::string::npos);
  ASSERT_EQ(akt::SendRaw(fd_, R"({"id":"u2","type":"run","command":"ls"})"), 0);
  r = Recv(fd_);
  EXPECT_EQ(r.id, "u2");
  EXPECT_TRUE(r.has_error);
  ASSERT_EQ(akt::SendRaw(fd_, R"({"id":"u3","type":"ping","future_field":{"x":[1,2]}})"), 0);
  EXPECT_EQ(Recv(fd_).raw, R"({"id":"u3","exit_code":0})");
}

TEST_F(AgentTest, OversizeFrameIsDrained) {
  std::string big(FRAME_MAX + 1000, 'x');
  uint8_t h[4];
  frame_put_header(h, (uint32_t)big.size());
  std::string all = std::string((char*)h, 4) + big;
  std::thread writer([&] {
    size_t off = 0;
    while (off < all.size()) {
      ssize_t n = send(fd_, all.data() + off, all.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += (size_t)n;
    }
  });
  Reply r = Recv(fd_);
  writer.join();
  EXPECT_EQ(r.id, "");
  EXPECT_NE(r.error.find("too large"), std::string::npos) << r.raw;
  ExpectAlive(fd_);
}

TEST_F(AgentTest, PipelinedRequestsInOneWrite) {
  std::string all;
  for (int i = 0; i < 50; i++) {
    Req p;
    p.id = "q" + std::to_string(i);
    std::string j = akt::ToJson(p);
    uint8_t h[4];
    frame_put_header(h, (uint32_t)j.size());
    all += std::string((char*)h, 4) + j;
  }
  ASSERT_EQ(write(fd_, all.data(), all.size()), (ssize_t)all.size());
  for (int i = 0; i < 50; i++) EXPECT_EQ(Recv(fd_).id, "q" + std::to_string(i));
}

TEST_F(AgentTest, Files) {
  Req w;
  w.type = "write_file";
  w.path = Tmp("a/b/c.txt");
  w.content_base64 = B64(std::string("hi\0there", 8));
  EXPECT_EQ(Call(fd_, w).raw, R"({"id":"1","exit_code":0})");
  Req rd;
  rd.type = "read_file";
  rd.path = w.path;
  Reply r = Call(fd_, rd);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(UnB64(r.content_base64), std::string("hi\0there", 8));
  EXPECT_EQ(r.raw, R"({"id":"1","exit_code":0,"content_base64":")" + w.content_base64 + "\"}");

  w.content_base64 = B64("x");  // truncates
  Call(fd_, w);
  EXPECT_EQ(UnB64(Call(fd_, rd).content_base64), "x");

  Req rm;
  rm.type = "remove_file";
  rm.path = w.path;
  EXPECT_EQ(Call(fd_, rm).exit_code, 0);
  r = Call(fd_, rm);
  EXPECT_EQ(r.error, "Failed to remove file: No such file or directory (os error 2)");
  r = Call(fd_, rd);
  EXPECT_EQ(r.error, "Failed to read file: No such file or directory (os error 2)");

  Req mk;
  mk.type = "mkdir";
  mk.path = Tmp("m/n/o");
  EXPECT_NE(Call(fd_, mk).error.find("Failed to create directory"), std::string::npos);
  mk.recursive = 1;
  EXPECT_EQ(Call(fd_, mk).exit_code, 0);
  EXPECT_EQ(Call(fd_, mk).exit_code, 0);  // exists: fine when recursive
  mk.recursive = 0;
  EXPECT_EQ(Call(fd_, mk).error, "Failed to create directory: File exists (os error 17)");
  struct stat st;
  EXPECT_EQ(stat(Tmp("m/n/o").c_str(), &st), 0);
  // A path with "dev" as an inner component is fine.
  mk.path = Tmp("x/dev/proc");
  mk.recursive = 1;
  EXPECT_EQ(Call(fd_, mk).exit_code, 0);
}

TEST_F(AgentTest, FileErrors) {
  Req w;
  w.type = "write_file";
  w.path = Tmp("f");
  w.content_base64 = "not base64!";
  EXPECT_EQ(Call(fd_, w).error, "Invalid base64: invalid length");
  w.content_base64 = "eA=x";
  EXPECT_EQ(Call(fd_, w).error, "Invalid base64: invalid padding");
  w.content_base64 = "eA==eA==";
  EXPECT_EQ(Call(fd_, w).error, "Invalid base64: invalid padding");
  w.content_base64 = "eA!=";
  EXPECT_EQ(Call(fd_, w).error, "Invalid base64: invalid byte");
  w.content_base64 = "eB==";
  EXPECT_EQ(Call(fd_, w).error, "Invalid base64: invalid last symbol");
  Req nopath;
  nopath.type = "read_file";
  EXPECT_EQ(Call(fd_, nopath).error, "No path specified");
  Req nocontent;
  nocontent.type = "write_file";
  nocontent.path = Tmp("g");
  EXPECT_EQ(Call(fd_, nocontent).raw, R"({"id":"1","error":"No content specified"})");

  struct {
    const char* path;
    const char* msg;
  } cases[] = {
      {"relative/x", "Path must be absolute"},
      {"/tmp/../etc/hostname", "Path traversal not allowed"},
      {"/proc/self/status", "Cannot access system path: /proc"},
      {"/sys/kernel/hostname", "Cannot access system path: /sys"},
      {"/dev/null", "Cannot access system path: /dev"},
      {"//dev/null", "Cannot access system path: /dev"},
      {"/etc/passwd", "Cannot access system path: /etc/passwd"},
      {"/etc/shadow", "Cannot access system path: /etc/shadow"},
  };
  for (auto& c : cases) {
    for (const char* type : {"read_file", "write_file", "remove_file", "mkdir"}) {
      Req r;
      r.type = type;
      r.path = c.path;
      r.content_base64 = "";
      Reply rep = Call(fd_, r);
      EXPECT_EQ(rep.error, c.msg) << type << " " << c.path;
    }
  }
  // Through a symlink, too.
  ASSERT_EQ(symlink("/proc", Tmp("p").c_str()), 0);
  Req r;
  r.type = "read_file";
  r.path = Tmp("p/self/status");
  EXPECT_EQ(Call(fd_, r).error, "Cannot access system path: /proc");
  // A FIFO must not wedge the agent.
  ASSERT_EQ(mkfifo(Tmp("fifo").c_str(), 0600), 0);
  r.path = Tmp("fifo");
  EXPECT_NE(Call(fd_, r).error.find("not a regular file"), std::string::npos);
  Req wf;
  wf.type = "write_file";
  wf.path = Tmp("fifo");
  wf.content_base64 = B64("x");
  EXPECT_TRUE(Call(fd_, wf).has_error);
  // A directory.
  r.path = agent_.dir();
  EXPECT_NE(Call(fd_, r).error.find("Is a directory"), std::string::npos);
  ExpectAlive(fd_);
}

TEST_F(AgentTest, ReadFileTooLargeForAFrame) {
  {
    std::ofstream f(Tmp("big"));
    f << std::string(8 * 1024 * 1024, 'z');
  }
  Req r;
  r.type = "read_file";
  r.path = Tmp("big");
  Reply rep = Call(fd_, r);
  EXPECT_NE(rep.error.find("too large"), std::string::npos) << rep.raw.substr(0, 200);
  {
    std::ofstream f(Tmp("big"));
    f << std::string(7 * 1024 * 1024, 'z');
  }
  rep = Call(fd_, r);
  EXPECT_EQ(UnB64(rep.content_base64).size(), 7u * 1024 * 1024);
}

// Reads shell frames until pred says stop; returns the decoded output.
std::string ReadShell(int fd, const std::string& sid, Reply* exited, const std::string& until = "") {
  std::string out;
  for (int i = 0; i < 500; i++) {
    Reply r = Recv(fd, 10000);
    if (r.err) break;
    EXPECT_EQ(r.session_id, sid);
    if (r.shell_event == "output") out += UnB64(r.output_base64);
    if (r.shell_event == "exited") {
      if (exited) *exited = r;
      break;
    }
    if (!until.empty() && out.find(until) != std::string::npos) break;
  }
  return out;
}

TEST_F(AgentTest, ShellSession) {
  Req s;
  s.id = "sh1";
  s.type = "shell";
  s.Cmd({"/bin/sh"});
  s.rows = 30;
  s.cols = 100;
  s.env["AKT_SHELL"] = "yes";
  Reply st = Call(fd_, s);
  ASSERT_EQ(st.shell_event, "started") << st.raw;
  ASSERT_EQ(st.session_id.size(), 36u);
  EXPECT_EQ(st.raw, R"({"id":"sh1","session_id":")" + st.session_id + R"(","shell_event":"started"})");
  std::string sid = st.session_id;

  Req in;
  in.id = "in1";
  in.type = "shell_input";
  in.session_id = sid;
  in.input_base64 = B64("stty size; echo $AKT_SHELL $TERM; tty\n");
  ASSERT_EQ(akt::SendReq(fd_, in), 0);
  std::string out;
  bool acked = false;
  for (int i = 0; i < 100 && (!acked || out.find("/dev/pts/") == std::string::npos); i++) {
    Reply r = Recv(fd_);
    ASSERT_EQ(r.err, 0);
    if (r.id == "in1") {
      EXPECT_EQ(r.raw, R"({"id":"in1","exit_code":0})");
      acked = true;
    } else {
      EXPECT_EQ(r.id, "sh1");
      EXPECT_EQ(r.shell_event, "output");
      out += UnB64(r.output_base64);
    }
  }
  EXPECT_NE(out.find("30 100"), std::string::npos) << out;
  EXPECT_NE(out.find("yes xterm-256color"), std::string::npos) << out;

  Req rs;
  rs.id = "rs";
  rs.type = "shell_resize";
  rs.session_id = sid;
  rs.rows = 50;
  rs.cols = 132;
  ASSERT_EQ(akt::SendReq(fd_, rs), 0);
  in.input_base64 = B64("stty size; exit 7\n");
  ASSERT_EQ(akt::SendReq(fd_, in), 0);
  Reply exited;
  out.clear();
  for (int i = 0; i < 100; i++) {
    Reply r = Recv(fd_);
    ASSERT_EQ(r.err, 0);
    if (r.shell_event == "output") out += UnB64(r.output_base64);
    if (r.shell_event == "exited") {
      exited = r;
      break;
    }
  }
  EXPECT_NE(out.find("50 132"), std::string::npos) << out;
  EXPECT_EQ(exited.id, "sh1");
  EXPECT_EQ(exited.exit_code, 7);
  EXPECT_EQ(exited.raw, R"({"id":"sh1","exit_code":7,"session_id":")" + sid + R"(","shell_event":"exited"})");

  // The session is gone now.
  Reply gone = Call(fd_, in);
  EXPECT_NE(gone.error.find("Failed to write to session"), std::string::npos);
}

TEST_F(AgentTest, ShellDefaultsAndClose) {
  Req s;
  s.type = "shell";
  Reply st = Call(fd_, s);
  ASSERT_EQ(st.shell_event, "started");
  Req in;
  in.id = "i";
  in.type = "shell_input";
  in.session_id = st.session_id;
  in.input_base64 = B64("stty size; echo $0\n");
  ASSERT_EQ(akt::SendReq(fd_, in), 0);
  std::string out;
  for (int i = 0; i < 100 && out.find("sh\r\n") == std::string::npos; i++) {
    Reply r = Recv(fd_);
    if (r.shell_event == "output") out += UnB64(r.output_base64);
  }
  EXPECT_NE(out.find("24 80"), std::string::npos) << out;

  Req c;
  c.id = "close";
  c.type = "shell_close";
  c.session_id = st.session_id;
  ASSERT_EQ(akt::SendReq(fd_, c), 0);
  Reply closed;
  for (int i = 0; i < 100; i++) {
    closed = Recv(fd_);
    if (closed.id == "close") break;
  }
  EXPECT_EQ(closed.shell_event, "exited");
  EXPECT_EQ(closed.session_id, st.session_id);
  EXPECT_TRUE(closed.has_exit_code);
  Reply again = Call(fd_, c);
  EXPECT_NE(again.error.find("Failed to close session"), std::string::npos);
}

TEST_F(AgentTest, ShellErrors) {
  Req in;
  in.type = "shell_input";
  in.input_base64 = B64("x");
  EXPECT_EQ(Call(fd_, in).error, "No session_id specified");
  in.session_id = "nope";
  in.input_base64 = "";
  Req noinput;
  noinput.type = "shell_input";
  noinput.session_id = "nope";
  std::string j = R"({"id":"n","type":"shell_input","session_id":"nope"})";
  ASSERT_EQ(akt::SendRaw(fd_, j), 0);
  EXPECT_EQ(Recv(fd_).error, "No input specified");
  in.input_base64 = "!!";
  EXPECT_EQ(Call(fd_, in).error, "Invalid base64: invalid length");
  in.input_base64 = "!!!!";
  EXPECT_EQ(Call(fd_, in).error, "Invalid base64: invalid byte");
  in.input_base64 = B64("x");
  EXPECT_NE(Call(fd_, in).error.find("Failed to write to session"), std::string::npos);
  Req rs;
  rs.type = "shell_resize";
  rs.session_id = "nope";
  EXPECT_NE(Call(fd_, rs).error.find("Failed to resize session"), std::string::npos);
  Req s;
  s.type = "shell";
  s.Cmd({"/no/such/shell"});
  EXPECT_NE(Call(fd_, s).error.find("Failed to start shell"), std::string::npos);
  ExpectAlive(fd_);
}

bool ProcessGone(pid_t pid, int ms) {
  for (int i = 0; i < ms / 10; i++) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string s;
    std::getline(f, s);
    // Gone, or a zombie waiting for the agent's reaper.
    if (!f.good() && s.empty()) return true;
    auto p = s.rfind(')');
    if (p != std::string::npos && s.size() > p + 2 && s[p + 2] == 'Z') return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST_F(AgentTest, SessionsEndWhenTheirConnectionCloses) {
  int fd = agent_.Connect();
  ASSERT_GE(fd, 0);
  Req s;
  s.type = "shell";
  s.Cmd({"sh", "-c", "echo pid=$$; exec sleep 1000"});
  Reply st = Call(fd, s);
  ASSERT_EQ(st.shell_event, "started");
  std::string out = ReadShell(fd, st.session_id, nullptr, "\n");
  auto p = out.find("pid=");
  ASSERT_NE(p, std::string::npos) << out;
  pid_t pid = atoi(out.c_str() + p + 4);
  ASSERT_GT(pid, 0);
  EXPECT_FALSE(ProcessGone(pid, 50));
  close(fd);
  EXPECT_TRUE(ProcessGone(pid, 5000));
  ExpectAlive(fd_);
}

TEST_F(AgentTest, RunsDieWithTheirConnection) {
  int fd = agent_.Connect();
  ASSERT_GE(fd, 0);
  Req r;
  r.type = "run";
  r.Cmd({"sh", "-c", "echo $$ > " + Tmp("runpid") + "; exec sleep 1000"});
  ASSERT_EQ(akt::SendReq(fd, r), 0);
  pid_t pid = 0;
  for (int i = 0; i < 500 && pid <= 0; i++) {
    std::ifstream f(Tmp("runpid"));
    f >> pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(pid, 0);
  close(fd);
  EXPECT_TRUE(ProcessGone(pid, 5000));
}

TEST_F(AgentTest, SixteenConcurrentConnections) {
  const int n = 16;
  std::vector<int> fds(n);
  for (auto& fd : fds) {
    fd = agent_.Connect();
    ASSERT_GE(fd, 0);
  }
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; i++) {
    Req r;
    r.id = "c" + std::to_string(i);
    r.type = "run";
    r.Cmd({"sh", "-c", "sleep 0.5; echo " + std::to_string(i)});
    ASSERT_EQ(akt::SendReq(fds[i], r), 0);
  }
  for (int i = 0; i < n; i++) {
    Reply rep = Recv(fds[i]);
    EXPECT_EQ(rep.id, "c" + std::to_string(i));
    EXPECT_EQ(rep.stdout_s, std::to_string(i) + "\n");
    close(fds[i]);
  }
  EXPECT_LT(Seconds(t0), 4.0);  // concurrently, not 16 x 0.5 s
}

TEST_F(AgentTest, ConcurrentRunsOnOneConnection) {
  for (int i = 0; i < 8; i++) {
    Req r;
    r.id = "k" + std::to_string(i);
    r.type = "run";
    r.Cmd({"sh", "-c", "sleep 0." + std::to_string(8 - i) + "; echo " + std::to_string(i)});
    ASSERT_EQ(akt::SendReq(fd_, r), 0);
  }
  std::set<std::string> seen;
  for (int i = 0; i < 8; i++) {
    Reply rep = Recv(fd_);
    ASSERT_EQ(rep.err, 0);
    EXPECT_EQ(rep.stdout_s, rep.id.substr(1) + "\n");
    seen.insert(rep.id);
  }
  EXPECT_EQ(seen.size(), 8u);
}

TEST_F(AgentTest, AHostThatStopsReadingDoesNotBlockOthers) {
  int slow = agent_.Connect();
  ASSERT_GE(slow, 0);
  Req r;
  r.type = "run";
  r.stream = 1;
  r.Cmd({"sh", "-c", "head -c 200000000 /dev/zero"});
  ASSERT_EQ(akt::SendReq(slow, r), 0);
  Req big;
  big.id = "big";
  big.type = "run";
  big.Cmd({"sh", "-c", "head -c 12000000 /dev/zero"});
  ASSERT_EQ(akt::SendReq(slow, big), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; i++) ExpectAlive(fd_);
  EXPECT_LT(Seconds(t0), 2.0);
  close(slow);
  ExpectAlive(fd_);
}

TEST_F(AgentTest, HalfClosedConnectionStillGetsItsAnswer) {
  Req r;
  r.type = "run";
  r.Cmd({"sh", "-c", "sleep 0.2; echo done"});
  ASSERT_EQ(akt::SendReq(fd_, r), 0);
  shutdown(fd_, SHUT_WR);
  Reply rep = Recv(fd_);
  EXPECT_EQ(rep.stdout_s, "done\n");
  EXPECT_EQ(Recv(fd_).err, -ECONNRESET);  // then the agent closes
}

TEST_F(AgentTest, ShutdownExitsTheAgent) {
  Req r;
  r.id = "bye";
  r.type = "shutdown";
  EXPECT_EQ(Call(fd_, r).raw, R"({"id":"bye","exit_code":0})");
  int st = agent_.WaitExit(5000);
  ASSERT_NE(st, -1);
  EXPECT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0);
}

TEST(AgentProcess, SigtermStopsIt) {
  Agent a;
  ASSERT_TRUE(a.Start());
  int st = a.Stop();
  EXPECT_TRUE(WIFEXITED(st)) << st;
}

TEST(AgentProcess, SeveralListeners) {
  char dir[] = "/tmp/akl.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string second = std::string(dir) + "/s2";
  Agent a;
  ASSERT_TRUE(a.Start({"--listen", "unix:" + second}));
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, second.c_str(), second.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(connect(fd, (struct sockaddr*)&addr, sizeof(addr)), 0);
  Req p;
  EXPECT_EQ(Call(fd, p).exit_code, 0);
  close(fd);
  a.Stop();
  unlink(second.c_str());
  rmdir(dir);
}

TEST(AgentProcess, BadListenSpecIsRefused) {
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    std::string bin = akt::AgentBinary();
    execl(bin.c_str(), bin.c_str(), "--listen", "tcp:1", (char*)nullptr);
    _exit(127);
  }
  int st;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  EXPECT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 2);
}

}  // namespace
