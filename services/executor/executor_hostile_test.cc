// The guest is hostile: ak-executor (a real process) with fake guest agents
// attached through its --test-guest seam — threads of this test that speak
// the hybrid-vsock CONNECT handshake and then send garbage, announce a
// 100 MB frame, or never answer — beside a real microVM sandbox. Each bad
// guest's call fails with a clear error; the real sandbox's exec keeps
// working while a silent guest holds a call; removing the silent sandbox
// ends its call. Guests that abuse time and size instead (a byte every
// 500 ms, endless output, escape sequences in their errors) are held to the
// call's deadline, max_output_bytes and clean text.
#include <gtest/gtest.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "lib/guest/frame.h"
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/executor.pb-c.h"
}
#include "services/executor/testing/executor_client.h"
#include "tests/testing/service_process.h"
#include "vmm/testing/vm_fixture.h"

using aktest::ServiceProcess;
using aktest::Runfile;
using aktest::Slurp;

namespace {

enum class Mode { kGarbage, kHuge, kSilent, kDrip, kFlood, kEscape };

std::string Frame(const std::string& body) {
  uint8_t hdr[FRAME_HEADER_SIZE];
  frame_put_header(hdr, static_cast<uint32_t>(body.size()));
  return std::string(reinterpret_cast<char*>(hdr), sizeof(hdr)) + body;
}

// One fake guest agent on a Unix socket; one thread per connection.
class FakeGuest {
 public:
  FakeGuest(const std::string& path, Mode mode) : path_(path), mode_(mode) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {};
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
    if (bind(fd_, reinterpret_cast<struct sockaddr*>(&a), sizeof(a)) < 0 || listen(fd_, 16) < 0) abort();
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~FakeGuest() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    acceptor_.join();
    for (auto& t : conns_) t.join();
    close(fd_);
    unlink(path_.c_str());
  }
  int connections() const { return n_; }
  // kFlood: output bytes sent so far, and whether the executor hung up.
  uint64_t flooded() const { return flooded_; }
  bool hung_up() const { return hung_up_; }

 private:
  void Accept() {
    for (;;) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (stop_) return;
        if (errno == EINTR) continue;
        return;
      }
      n_++;
      conns_.emplace_back([this, c] { Serve(c); });
    }
  }
  static bool ReadLine(int c) {
    char ch;
    for (int i = 0; i < 64; i++) {
      if (read(c, &ch, 1) != 1) return false;
      if (ch == '\n') return true;
    }
    return false;
  }
  static bool WriteAll(int c, const void* p, size_t n) {
    const char* b = static_cast<const char*>(p);
    while (n) {
      ssize_t w = send(c, b, n, MSG_NOSIGNAL);
      if (w <= 0) return false;
      b += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }
  // A stream chunk of the request "exec", one byte every 500 ms, over and
  // over: no single wait is long, but it never ends (40 s at most).
  void Drip(int c) {
    std::string f = Frame(R"({"id":"exec","stream":"stdout","output_base64":"eA=="})");
    for (int i = 0; i < 80 && !stop_; i++) {
      if (!WriteAll(c, &f[i % f.size()], 1)) return;
      usleep(500 * 1000);
    }
  }
  // 48 KiB of output per chunk for as long as the executor reads (64 MiB
  // at most).
  void Flood(int c) {
    std::string b64(65536, 'Q');  // "QQQQ" is 0x41 0x04 0x10
    std::string f = Frame(R"({"id":"exec","stream":"stdout","output_base64":")" + b64 + R"("})");
    for (int i = 0; i < 1365 && !stop_; i++) {
      if (!WriteAll(c, f.data(), f.size())) {
        hung_up_ = true;
        return;
      }
      flooded_ += 49152;
    }
  }
  void Serve(int c) {
    if (ReadLine(c)) {
      WriteAll(c, "OK 1073741824\n", 14);
      if (mode_ == Mode::kGarbage) {
        static const char junk[] = "\x13\x00\x00\x00{\xff\xfe not json at all";
        WriteAll(c, junk, sizeof(junk) - 1);
      } else if (mode_ == Mode::kDrip) {
        Drip(c);
      } else if (mode_ == Mode::kFlood) {
        Flood(c);
      } else if (mode_ == Mode::kEscape) {
        std::string f =
            Frame(R"({"id":"exec","exit_code":1,"error":"\u001b[2J\u001b]0;owned\u0007no\r such\u009b1m thing"})");
        WriteAll(c, f.data(), f.size());
      } else if (mode_ == Mode::kHuge) {
        const uint8_t hdr[4] = {0x00, 0x00, 0x40, 0x06};  // 100 MiB, little-endian
        WriteAll(c, hdr, 4);
        std::string body(1 << 20, 'x');
        WriteAll(c, body.data(), body.size());
      }
      // All modes: hold the connection, never answer, until the peer goes.
      char buf[4096];
      while (!stop_) {
        struct pollfd p = {c, POLLIN, 0};
        if (poll(&p, 1, 100) > 0 && read(c, buf, sizeof(buf)) <= 0) break;
      }
    }
    close(c);
  }

  std::string path_;
  Mode mode_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> n_{0};
  std::atomic<uint64_t> flooded_{0};
  std::atomic<bool> hung_up_{false};
  std::thread acceptor_;
  std::vector<std::thread> conns_;  // touched by the acceptor only until stop
};

struct Result {
  int status = 0;
  std::string error, out, result_error;
  int exit_code = -1;
  bool has_result = false, truncated = false;
  uint64_t output_bytes = 0, hash_bytes = 0;
};

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class ExecutorHostileTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = akvm::MakeTempDir("akexh");
    garbage_ = new FakeGuest(dir_ + "/g.sock", Mode::kGarbage);
    huge_ = new FakeGuest(dir_ + "/h.sock", Mode::kHuge);
    silent_ = new FakeGuest(dir_ + "/s.sock", Mode::kSilent);
    drip_ = new FakeGuest(dir_ + "/d.sock", Mode::kDrip);
    flood_ = new FakeGuest(dir_ + "/f.sock", Mode::kFlood);
    escape_ = new FakeGuest(dir_ + "/e.sock", Mode::kEscape);
    exec_ = new ServiceProcess;
    setenv("AK_GUEST_BIN", Runfile("guest/ak-guest").c_str(), 1);
    ASSERT_TRUE(exec_->Start({Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure", "--state-dir",
                              dir_ + "/st", "--images", akvm::ImageStoreDir(), "--min-warm", "0", "--test-guest",
                              "garbage=" + dir_ + "/g.sock", "--test-guest", "huge=" + dir_ + "/h.sock",
                              "--test-guest", "silent=" + dir_ + "/s.sock", "--test-guest",
                              "mute=" + dir_ + "/s.sock", "--test-guest", "drip=" + dir_ + "/d.sock", "--exec-timeout-ms", "2000",
                              "--test-guest", "flood=" + dir_ + "/f.sock", "--test-guest",
                              "escape=" + dir_ + "/e.sock"},
                             dir_, "executor"))
        << Slurp(exec_->err);
    struct ak_error err = {};
    ASSERT_EQ(rpc_channel_new(exec_->addr.c_str(), nullptr, &ch_, &err), 0) << err.msg;
  }
  static void TearDownTestSuite() {
    rpc_channel_free(ch_);
    if (exec_) {
      EXPECT_EQ(exec_->Stop(), 0) << Slurp(exec_->err);
    }
    delete exec_;
    delete garbage_;
    delete huge_;
    delete silent_;
    delete drip_;
    delete flood_;
    delete escape_;
    akvm::RemoveDir(dir_);
  }

  static Result Exec(const char* sandbox, const char* script, uint32_t timeout_ms, uint64_t max_output = 0) {
    Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
    const char* argv[] = {"/bin/sh", "-c", script};
    req.sandbox = const_cast<char*>(sandbox);
    req.argv = const_cast<char**>(argv);
    req.n_argv = 3;
    req.timeout_ms = timeout_ms;
    req.max_output_bytes = max_output;
    aktest::StreamOut o;
    aktest::ExecutorStream(ch_, "Exec", &req.base, 240000, &o);
    Result res;
    res.status = o.status;
    res.error = o.error;
    res.out = o.out;
    if (o.result) {
      res.exit_code = o.result->exit_code;
      res.has_result = true;
      res.truncated = o.result->truncated;
      res.output_bytes = o.result->output_bytes;
      res.result_error = o.result->error ? o.result->error : "";
      res.hash_bytes = o.result->receipt && o.result->receipt->outcome ? o.result->receipt->outcome->output_bytes : 0;
    }
    return res;
  }

  static int Unary(const char* method, const ProtobufCMessage* req, std::string* e) {
    return aktest::ExecutorUnary(ch_, method, req, 240000, nullptr, e);
  }

  static std::string dir_;
  static FakeGuest *garbage_, *huge_, *silent_, *drip_, *flood_, *escape_;
  static ServiceProcess* exec_;
  static struct rpc_channel* ch_;
};

std::string ExecutorHostileTest::dir_;
FakeGuest* ExecutorHostileTest::garbage_;
FakeGuest* ExecutorHostileTest::huge_;
FakeGuest* ExecutorHostileTest::silent_;
FakeGuest* ExecutorHostileTest::drip_;
FakeGuest* ExecutorHostileTest::flood_;
FakeGuest* ExecutorHostileTest::escape_;
ServiceProcess* ExecutorHostileTest::exec_;
struct rpc_channel* ExecutorHostileTest::ch_;

TEST_F(ExecutorHostileTest, BadGuestsFailClearlyAndOthersKeepWorking) {
  // A guest that never answers: one call held until the sandbox goes
  // (silent), one that gives up at its timeout plus the grace (mute).
  std::atomic<bool> silent_done{false};
  Result silent, mute;
  std::thread ts([&] {
    silent = Exec("silent", "true", 600000);
    silent_done = true;
  });
  std::thread tm([&] { mute = Exec("mute", "true", 1000); });

  Result g = Exec("garbage", "true", 10000);
  EXPECT_EQ(g.status, -RPC_UNAVAILABLE) << g.error;
  EXPECT_NE(g.error.find("malformed or oversized frame"), std::string::npos) << g.error;
  Result h = Exec("huge", "true", 10000);
  EXPECT_EQ(h.status, -RPC_UNAVAILABLE) << h.error;
  EXPECT_NE(h.error.find("malformed or oversized frame"), std::string::npos) << h.error;

  // A real sandbox boots and runs while the silent guest holds its call.
  Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
  spec.name = const_cast<char*>("real");
  spec.persistent = true;
  Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
  cr.spec = &spec;
  std::string e;
  int r = Unary("CreateSandbox", &cr.base, &e);
  bool no_kernel = r != RPC_OK && akvm::KernelUnavailable(e);
  EXPECT_TRUE(r == RPC_OK || no_kernel) << e;
  if (r == RPC_OK) {
    Result ok = Exec("real", "echo fine", 60000);
    EXPECT_EQ(ok.status, 0) << ok.error;
    EXPECT_EQ(ok.out, "fine\n");
    EXPECT_EQ(ok.exit_code, 0);
  }
  EXPECT_FALSE(silent_done.load());

  // The bad sandboxes can be removed; that ends the silent guest's call.
  for (const char* name : {"garbage", "huge", "silent"}) {
    Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
    rm.name = const_cast<char*>(name);
    EXPECT_EQ(Unary("RemoveSandbox", &rm.base, &e), RPC_OK) << name << ": " << e;
  }
  ts.join();
  EXPECT_LT(silent.status, 0);
  EXPECT_NE(silent.error.find("silent"), std::string::npos) << silent.error;
  tm.join();
  EXPECT_EQ(mute.status, -RPC_UNAVAILABLE) << mute.error;
  EXPECT_NE(mute.error.find("did not answer in time"), std::string::npos) << mute.error;
  EXPECT_GE(garbage_->connections(), 1);
  EXPECT_GE(huge_->connections(), 1);
  if (no_kernel) GTEST_SKIP() << "the real sandbox part needs the guest kernel: " << e;
}

// A byte every 500 ms: every wait is short, the call is not. Exec with
// timeout_ms 1000 must end when the host's deadline for the whole call
// (timeout + 15 s grace) passes, not run for the guest's 40 s; without
// timeout_ms, the executor's --exec-timeout-ms (2 s here) takes its place.
TEST_F(ExecutorHostileTest, SlowDripGuestTimesOutAtTheCallDeadline) {
  int64_t t0 = NowMs(), ms_default = 0;
  Result dd;
  std::thread t([&] {
    dd = Exec("drip", "true", 0);
    ms_default = NowMs() - t0;
  });
  Result d = Exec("drip", "true", 1000);
  int64_t ms = NowMs() - t0;
  t.join();
  EXPECT_EQ(d.status, -RPC_UNAVAILABLE) << d.error;
  EXPECT_NE(d.error.find("did not answer in time"), std::string::npos) << d.error;
  EXPECT_GE(ms, 15500) << "ended before the deadline";
  EXPECT_LT(ms, 19000) << "the deadline was not the call's";
  EXPECT_EQ(dd.status, -RPC_UNAVAILABLE) << dd.error;
  EXPECT_GE(ms_default, 16500) << "ended before the deadline";
  EXPECT_LT(ms_default, 20000) << "no host-side default for an unset timeout_ms";
  RecordProperty("drip_exec_ms", static_cast<int>(ms));
  RecordProperty("drip_exec_default_ms", static_cast<int>(ms_default));
}

// Endless output: the host stops reading at max_output_bytes, hangs up
// (which kills the command) and says truncated; what it delivered is
// exactly the cap, and the receipt covers those bytes.
TEST_F(ExecutorHostileTest, EndlessOutputStopsAtTheCap) {
  const uint64_t cap = 1 << 20;
  int64_t t0 = NowMs();
  Result f = Exec("flood", "yes", 20000, cap);
  int64_t ms = NowMs() - t0;
  ASSERT_EQ(f.status, 0) << f.error;
  ASSERT_TRUE(f.has_result);
  EXPECT_TRUE(f.truncated);
  EXPECT_EQ(f.out.size(), cap);
  EXPECT_EQ(f.output_bytes, cap);
  EXPECT_EQ(f.hash_bytes, cap);
  EXPECT_EQ(f.exit_code, -1);
  EXPECT_NE(f.result_error.find("max_output_bytes"), std::string::npos) << f.result_error;
  EXPECT_LT(ms, 30000);
  // The guest saw the hang-up long before its 64 MiB: at most the cap plus
  // what the socket buffers held.
  for (int i = 0; i < 100 && !flood_->hung_up(); i++) usleep(50 * 1000);
  EXPECT_TRUE(flood_->hung_up());
  EXPECT_LT(flood_->flooded(), 16u << 20);
  RecordProperty("flood_sent_bytes", static_cast<int>(flood_->flooded()));
}

// The guest's error text reaches the user without its escape sequences.
TEST_F(ExecutorHostileTest, GuestErrorTextIsStripped) {
  Result e = Exec("escape", "true", 10000);
  ASSERT_EQ(e.status, 0) << e.error;
  ASSERT_TRUE(e.has_result);
  EXPECT_EQ(e.result_error, "[2J]0;ownedno such1m thing");
  for (char ch : e.result_error) EXPECT_FALSE(static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) << e.result_error;
}

}  // namespace
