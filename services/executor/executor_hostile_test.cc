// The guest is hostile: ak-executor (a real process) with fake guest agents
// attached through its --test-guest seam — threads of this test that speak
// the hybrid-vsock CONNECT handshake and then send garbage, announce a
// 100 MB frame, or never answer — beside a real microVM sandbox. Each bad
// guest's call fails with a clear error; the real sandbox's exec keeps
// working while a silent guest holds a call; removing the silent sandbox
// ends its call.
#include <gtest/gtest.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

extern "C" {
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

enum class Mode { kGarbage, kHuge, kSilent };

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
  static void WriteAll(int c, const void* p, size_t n) {
    const char* b = static_cast<const char*>(p);
    while (n) {
      ssize_t w = send(c, b, n, MSG_NOSIGNAL);
      if (w <= 0) return;
      b += w;
      n -= static_cast<size_t>(w);
    }
  }
  void Serve(int c) {
    if (ReadLine(c)) {
      WriteAll(c, "OK 1073741824\n", 14);
      if (mode_ == Mode::kGarbage) {
        static const char junk[] = "\x13\x00\x00\x00{\xff\xfe not json at all";
        WriteAll(c, junk, sizeof(junk) - 1);
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
  std::thread acceptor_;
  std::vector<std::thread> conns_;  // touched by the acceptor only until stop
};

struct Result {
  int status = 0;
  std::string error, out;
  int exit_code = -1;
};

class ExecutorHostileTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = akvm::MakeTempDir("akexh");
    garbage_ = new FakeGuest(dir_ + "/g.sock", Mode::kGarbage);
    huge_ = new FakeGuest(dir_ + "/h.sock", Mode::kHuge);
    silent_ = new FakeGuest(dir_ + "/s.sock", Mode::kSilent);
    exec_ = new ServiceProcess;
    setenv("AK_GUEST_BIN", Runfile("guest/ak-guest").c_str(), 1);
    ASSERT_TRUE(exec_->Start({Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure", "--state-dir",
                              dir_ + "/st", "--images", akvm::ImageStoreDir(), "--min-warm", "0", "--test-guest",
                              "garbage=" + dir_ + "/g.sock", "--test-guest", "huge=" + dir_ + "/h.sock",
                              "--test-guest", "silent=" + dir_ + "/s.sock", "--test-guest",
                              "mute=" + dir_ + "/s.sock"},
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
    akvm::RemoveDir(dir_);
  }

  static Result Exec(const char* sandbox, const char* script, uint32_t timeout_ms) {
    Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
    const char* argv[] = {"/bin/sh", "-c", script};
    req.sandbox = const_cast<char*>(sandbox);
    req.argv = const_cast<char**>(argv);
    req.n_argv = 3;
    req.timeout_ms = timeout_ms;
    aktest::StreamOut o;
    aktest::ExecutorStream(ch_, "Exec", &req.base, 240000, &o);
    Result res;
    res.status = o.status;
    res.error = o.error;
    res.out = o.out;
    if (o.result) res.exit_code = o.result->exit_code;
    return res;
  }

  static int Unary(const char* method, const ProtobufCMessage* req, std::string* e) {
    return aktest::ExecutorUnary(ch_, method, req, 240000, nullptr, e);
  }

  static std::string dir_;
  static FakeGuest *garbage_, *huge_, *silent_;
  static ServiceProcess* exec_;
  static struct rpc_channel* ch_;
};

std::string ExecutorHostileTest::dir_;
FakeGuest* ExecutorHostileTest::garbage_;
FakeGuest* ExecutorHostileTest::huge_;
FakeGuest* ExecutorHostileTest::silent_;
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

}  // namespace
