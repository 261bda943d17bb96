// ak-guest --stdio: one connection on stdin/stdout pipes (as `container exec
// -i` gives them), the same protocol as on a socket, then exit 0; --relay:
// the same pipes carried to an agent that is already running.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "guest/agent_harness.h"

namespace {

using akt::Recv;
using akt::Reply;
using akt::Req;

struct Child {
  pid_t pid = -1;
  int in = -1, out = -1;  // our ends: we write in, read out
  bool Start(const std::vector<std::string>& args) {
    int to[2], from[2];
    if (pipe2(to, O_CLOEXEC) < 0 || pipe2(from, O_CLOEXEC) < 0) return false;
    std::string bin = akt::AgentBinary();
    pid = fork();
    if (pid == 0) {
      dup2(to[0], 0);
      dup2(from[1], 1);
      std::vector<char*> a = {const_cast<char*>(bin.c_str())};
      for (auto& s : args) a.push_back(const_cast<char*>(s.c_str()));
      a.push_back(nullptr);
      execv(a[0], a.data());
      _exit(127);
    }
    close(to[0]);
    close(from[1]);
    in = to[1];
    out = from[0];
    return pid > 0;
  }
  // Exit status after up to 10 s, else -1 (then killed).
  int Wait() {
    int st = 0;
    for (int i = 0; i < 1000; i++) {
      if (waitpid(pid, &st, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    pid = -1;
    return -1;
  }
  ~Child() {
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
};

TEST(Stdio, ServesOneConnectionOnPipesThenExits) {
  Child c;
  ASSERT_TRUE(c.Start({"--stdio"}));
  Req ping;
  ASSERT_EQ(akt::SendReq(c.in, ping), 0);
  Reply r = Recv(c.out);
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.id, "1");
  // Two requests in flight, answered on the one connection.
  Req run;
  run.id = "2";
  run.type = "run";
  run.Cmd({"sh", "-c", "sleep 0.2; echo slow"});
  Req run2;
  run2.id = "3";
  run2.type = "run";
  run2.Cmd({"sh", "-c", "echo fast; exit 4"});
  ASSERT_EQ(akt::SendReq(c.in, run), 0);
  ASSERT_EQ(akt::SendReq(c.in, run2), 0);
  Reply a = Recv(c.out), b = Recv(c.out);
  ASSERT_EQ(a.err, 0);
  ASSERT_EQ(b.err, 0);
  EXPECT_EQ(a.id, "3");
  EXPECT_EQ(a.stdout_s, "fast\n");
  EXPECT_EQ(a.exit_code, 4);
  EXPECT_EQ(b.id, "2");
  EXPECT_EQ(b.stdout_s, "slow\n");
  // EOF on stdin: a request still running is answered, then the agent exits.
  Req last;
  last.id = "4";
  last.type = "run";
  last.Cmd({"sh", "-c", "sleep 0.2; echo last"});
  ASSERT_EQ(akt::SendReq(c.in, last), 0);
  close(c.in);
  c.in = -1;
  Reply l = Recv(c.out);
  ASSERT_EQ(l.err, 0);
  EXPECT_EQ(l.stdout_s, "last\n");
  char byte;
  EXPECT_EQ(read(c.out, &byte, 1), 0);  // stdout closed
  EXPECT_EQ(c.Wait(), 0);
}

TEST(Stdio, HostGoneAbortsWhatRuns) {
  Child c;
  ASSERT_TRUE(c.Start({"--stdio"}));
  Req run;
  run.type = "run";
  run.Cmd({"sleep", "30"});
  ASSERT_EQ(akt::SendReq(c.in, run), 0);
  usleep(200000);
  close(c.out);  // nobody reads answers any more
  c.out = -1;
  EXPECT_EQ(c.Wait(), 0);  // within 10 s, not after the sleep
}

// --relay: connections carried to one running agent share its sessions.
TEST(Relay, SessionsOutliveOneConnection) {
  akt::Agent agent;
  ASSERT_TRUE(agent.Start());
  std::string to = "unix:" + agent.socket_path();
  Child a, b;
  ASSERT_TRUE(a.Start({"--relay", to}));
  ASSERT_TRUE(b.Start({"--relay", to}));
  Req shell;
  shell.id = "s";
  shell.type = "shell";
  shell.Cmd({"/bin/sh"});
  ASSERT_EQ(akt::SendReq(a.in, shell), 0);
  Reply started = Recv(a.out);
  ASSERT_EQ(started.err, 0);
  ASSERT_EQ(started.shell_event, "started") << started.raw;
  Req input;
  input.id = "i";
  input.type = "shell_input";
  input.session_id = started.session_id;
  input.input_base64 = akt::B64("echo across; exit 3\n");
  ASSERT_EQ(akt::SendReq(b.in, input), 0);
  Reply ok = Recv(b.out);
  ASSERT_EQ(ok.err, 0);
  EXPECT_FALSE(ok.has_error) << ok.raw;
  std::string out;
  for (int i = 0; i < 50; i++) {
    Reply ev = Recv(a.out);
    ASSERT_EQ(ev.err, 0);
    out += akt::UnB64(ev.output_base64);
    if (ev.shell_event == "exited") {
      EXPECT_EQ(ev.exit_code, 3);
      break;
    }
  }
  EXPECT_NE(out.find("across"), std::string::npos) << out;
  close(a.in);
  a.in = -1;
  close(b.in);
  b.in = -1;
  EXPECT_EQ(a.Wait(), 0);
  EXPECT_EQ(b.Wait(), 0);
}

TEST(Relay, NothingListening) {
  Child c;
  ASSERT_TRUE(c.Start({"--relay", "unix:/tmp/ak-no-such-agent.sock"}));
  EXPECT_EQ(c.Wait(), 1);  // after its 5 s of retries
}

TEST(Stdio, GoesAlone) {
  Child c;
  ASSERT_TRUE(c.Start({"--stdio", "--listen", "unix:/tmp/nowhere.sock"}));
  EXPECT_EQ(c.Wait(), 2);
}

}  // namespace
