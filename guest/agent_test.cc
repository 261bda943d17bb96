// The agent binary over --listen unix:: run, framing and protocol errors,
// many connections, a host that stops reading, shutdown.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "guest/agent_fixture.h"

namespace akt {
namespace {

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

// The processes of process group pgid still running (zombies aside).
static std::vector<pid_t> GroupMembers(pid_t pgid) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (struct dirent* e = readdir(d)) {
    pid_t pid = atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
    std::string st;
    std::getline(f, st);
    auto p = st.rfind(')');
    if (p == std::string::npos) continue;
    char state = 0;
    int ppid = 0, pg = 0;
    if (sscanf(st.c_str() + p + 1, " %c %d %d", &state, &ppid, &pg) == 3 && pg == pgid && state != 'Z')
      out.push_back(pid);
  }
  closedir(d);
  return out;
}

static bool GroupGone(pid_t pgid, int ms) {
  for (int i = 0; i < ms / 10; i++) {
    if (GroupMembers(pgid).empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Starts `echo started $$; sleep 300 & sleep 300` streamed on fd and returns
// the group id from its first chunk (the shell leads its own group).
static pid_t StartSleeper(int fd) {
  Req r;
  r.id = "sleeper";
  r.type = "run";
  r.Cmd({"sh", "-c", "echo started $$; sleep 300 & sleep 300"});
  r.stream = 1;
  if (akt::SendReq(fd, r) != 0) return -1;
  Reply c = Recv(fd);
  if (c.err || c.stream != "stdout") return -1;
  std::string out = UnB64(c.output_base64);
  if (out.rfind("started ", 0) != 0) return -1;
  return atoi(out.c_str() + 8);
}

// Cancellation: the host hangs up after the first chunk, and the command's
// whole process group is killed (SIGKILL), not left to run for 300 s.
TEST_F(AgentTest, HangUpKillsTheProcessGroup) {
  pid_t pg = StartSleeper(fd_);
  ASSERT_GT(pg, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(GroupMembers(pg).size(), 3u) << "sh and two sleeps";
  close(fd_);
  fd_ = -1;
  EXPECT_TRUE(GroupGone(pg, 5000));
  ExpectAlive(agent_.Connect());
}

// The executor cancels with shutdown(SHUT_RDWR) (another thread may still
// read the socket): a hang-up too.
TEST_F(AgentTest, ShutdownBothWaysKillsTheProcessGroup) {
  pid_t pg = StartSleeper(fd_);
  ASSERT_GT(pg, 1);
  ASSERT_EQ(shutdown(fd_, SHUT_RDWR), 0);
  EXPECT_TRUE(GroupGone(pg, 5000));
}

// A half-close is not a hang-up: the command keeps running (its answer is
// still wanted) until the host closes for good.
TEST_F(AgentTest, HalfCloseKeepsTheCommandUntilTheHangUp) {
  pid_t pg = StartSleeper(fd_);
  ASSERT_GT(pg, 1);
  ASSERT_EQ(shutdown(fd_, SHUT_WR), 0);
  EXPECT_FALSE(GroupGone(pg, 500));
  close(fd_);
  fd_ = -1;
  EXPECT_TRUE(GroupGone(pg, 5000));
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
}  // namespace akt
