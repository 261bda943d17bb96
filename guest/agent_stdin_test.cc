// `run` with "stdin": true: the host feeds the command's stdin with
// shell_input frames (session_id = the run's id), one at a time, each
// answered once written; "eof": true closes it.
#include <stdio.h>

#include <random>

#include "guest/agent_fixture.h"

namespace akt {
namespace {

class StdinTest : public AgentTest {
 protected:
  void StartRun(const std::string& id, std::vector<std::string> cmd) {
    Req r;
    r.id = id;
    r.type = "run";
    r.stdin_pipe = 1;
    r.Cmd(std::move(cmd));
    ASSERT_EQ(SendReq(fd_, r), 0);
    // The agent says when the command takes input.
    Reply ready = Recv(fd_);
    ASSERT_EQ(ready.raw, "{\"id\":\"" + id + "\",\"stream\":\"stdin\"}");
  }
  // Sends one input on fd and returns the answer.
  Reply Input(int fd, const std::string& id, const std::string& data, bool eof) {
    Req in;
    in.id = "in-" + id;
    in.type = "shell_input";
    in.session_id = id;
    in.input_base64 = B64(data);
    if (eof) in.eof = 1;
    return Call(fd, in, 20000);
  }
};

std::string LocalSha256(const std::string& data, const std::string& path) {
  FILE* f = fopen(path.c_str(), "wb");
  fwrite(data.data(), 1, data.size(), f);
  fclose(f);
  FILE* p = popen(("sha256sum " + path).c_str(), "r");
  char buf[65] = {0};
  size_t n = fread(buf, 1, 64, p);
  pclose(p);
  return std::string(buf, n);
}

TEST_F(StdinTest, BytesArriveWholeThroughManyInputs) {
  std::mt19937 rng(18);
  std::string data(6 << 20, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  StartRun("sum", {"sha256sum"});
  int in = agent_.Connect();
  ASSERT_GE(in, 0);
  const size_t chunk = 512 << 10;
  for (size_t off = 0; off < data.size(); off += chunk) {
    Reply a = Input(in, "sum", data.substr(off, chunk), false);
    ASSERT_EQ(a.err, 0);
    ASSERT_FALSE(a.has_error) << a.raw;
    EXPECT_TRUE(a.has_exit_code);
  }
  Reply e = Input(in, "sum", "", true);
  ASSERT_FALSE(e.has_error) << e.raw;
  Reply r = Recv(fd_, 20000);
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.exit_code, 0) << r.raw;
  EXPECT_EQ(r.stdout_s.substr(0, 64), LocalSha256(data, Tmp("sum.bin")));
  // The run is over: its id no longer takes input.
  Reply late = Input(in, "sum", "x", false);
  EXPECT_EQ(late.error, "Failed to write to session: Session not found");
  close(in);
}

TEST_F(StdinTest, EofAloneIsAnEmptyStdin) {
  StartRun("empty", {"wc", "-c"});
  Reply e = Input(fd_, "empty", "", true);
  ASSERT_FALSE(e.has_error) << e.raw;
  Reply r = Recv(fd_);
  EXPECT_EQ(r.exit_code, 0) << r.raw;
  EXPECT_EQ(r.stdout_s, "0\n");
}

TEST_F(StdinTest, CommandThatNeverReadsIsAnsweredWhenItExits) {
  StartRun("noread", {"sh", "-c", "sleep 0.3; echo done"});
  int in = agent_.Connect();
  ASSERT_GE(in, 0);
  // More than a pipe holds: the answer waits for the command's exit.
  Reply a = Input(in, "noread", std::string(1 << 20, 'x'), false);
  // Its stdin went with it: which of the two the agent saw first is a race.
  EXPECT_TRUE(a.error == "Failed to write to session: the command has exited" ||
              a.error == "Failed to write to session: the command closed its stdin")
      << a.raw;
  Reply r = Recv(fd_);
  EXPECT_EQ(r.exit_code, 0) << r.raw;
  EXPECT_EQ(r.stdout_s, "done\n");
  close(in);
}

TEST_F(StdinTest, ClosedStdinAndSecondInputAreRefused) {
  StartRun("head", {"head", "-c", "3"});
  Reply a = Input(fd_, "head", "abcdef", false);
  ASSERT_FALSE(a.has_error) << a.raw;
  Reply r = Recv(fd_);
  EXPECT_EQ(r.stdout_s, "abc");
  // Without stdin: no run of that id takes input.
  Req plain;
  plain.id = "plain";
  plain.type = "run";
  plain.Cmd({"sleep", "0.5"});
  ASSERT_EQ(SendReq(fd_, plain), 0);
  Reply n = Input(fd_, "plain", "x", false);
  EXPECT_EQ(n.error, "Failed to write to session: Session not found");
  EXPECT_EQ(Recv(fd_).exit_code, 0);
  // One input at a time per run.
  StartRun("slow", {"sh", "-c", "sleep 0.5; cat >/dev/null"});
  Req in;
  in.type = "shell_input";
  in.session_id = "slow";
  in.id = "one";
  in.input_base64 = B64(std::string(256 << 10, 'y'));
  ASSERT_EQ(SendReq(fd_, in), 0);
  in.id = "two";
  ASSERT_EQ(SendReq(fd_, in), 0);
  Reply two = Recv(fd_);
  EXPECT_EQ(two.id, "two");
  EXPECT_EQ(two.error, "Failed to write to session: input pending (wait for its answer)");
  Reply one = Recv(fd_);
  EXPECT_EQ(one.id, "one");
  EXPECT_FALSE(one.has_error) << one.raw;
  ASSERT_FALSE(Input(fd_, "slow", "", true).has_error);
  EXPECT_EQ(Recv(fd_).exit_code, 0);
}

}  // namespace
}  // namespace akt
