// The agent's PTY shells, and what dies with a connection.
#include "guest/agent_fixture.h"

namespace akt {
namespace {

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

}  // namespace
}  // namespace akt
