// The host's guest client against a fake guest agent on a Unix socket that
// misbehaves in time: bytes dripped one at a time, chunks that never end.
// Every call must end at its own deadline, measured.
#include <gtest/gtest.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>

extern "C" {
#include "lib/base/time.h"
#include "lib/guest/frame.h"
#include "lib/guest/guest_client.h"
}

namespace {

std::string Frame(const std::string& body) {
  uint8_t hdr[FRAME_HEADER_SIZE];
  frame_put_header(hdr, static_cast<uint32_t>(body.size()));
  return std::string(reinterpret_cast<char*>(hdr), sizeof(hdr)) + body;
}

void Sleep(int ms) { usleep(static_cast<useconds_t>(ms) * 1000); }

// One connection: the CONNECT handshake, the request frame, then `serve`
// with the connection's fd; `stop` is set when the test is done.
class FakeGuest {
 public:
  explicit FakeGuest(std::function<void(int, const std::atomic<bool>&)> serve) : serve_(std::move(serve)) {
    char tmpl[] = "/tmp/akgcXXXXXX";
    if (!mkdtemp(tmpl)) abort();
    dir_ = tmpl;
    path_ = dir_ + "/v.sock";
    lfd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {};
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path_.c_str());
    if (bind(lfd_, reinterpret_cast<struct sockaddr*>(&a), sizeof(a)) < 0 || listen(lfd_, 4) < 0) abort();
    thread_ = std::thread([this] { Run(); });
  }
  ~FakeGuest() {
    stop_ = true;
    shutdown(lfd_, SHUT_RDWR);
    thread_.join();
    close(lfd_);
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  const char* path() const { return path_.c_str(); }

  static bool Send(int fd, const std::string& s) {
    return send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }

 private:
  void Run() {
    int c = accept4(lfd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    char ch;
    while (read(c, &ch, 1) == 1 && ch != '\n') {
    }
    Send(c, "OK 1073741824\n");
    uint8_t* body = nullptr;
    size_t len = 0;
    if (frame_read(c, FRAME_MAX, 5000, &body, &len) == 0) {
      free(body);
      serve_(c, stop_);
    }
    close(c);
  }

  std::function<void(int, const std::atomic<bool>&)> serve_;
  std::string dir_, path_;
  int lfd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct Call {
  int rc = 0;
  int64_t ms = 0;
  struct proto_reply* rep = nullptr;
  int chunks = 0;
  ~Call() { proto_reply_free(rep); }
};

void CallGuest(const FakeGuest& g, bool stream, int timeout_ms, Call* out, int stop_after_chunks = 0) {
  int fd = -1;
  ASSERT_EQ(guest_client_connect(g.path(), GUEST_AGENT_PORT, 5000, &fd), 0);
  struct proto_request_args req = PROTO_REQUEST_ARGS_INIT;
  const char* argv[] = {"true"};
  req.id = "x";
  req.type = "run";
  req.command = argv;
  req.n_command = 1;
  req.stream = stream;
  struct Ctx {
    Call* out;
    int stop_after;
  } ctx = {out, stop_after_chunks};
  int64_t t0 = ak_mono_ms();
  if (stream)
    out->rc = guest_client_call_stream(
        fd, &req, timeout_ms,
        [](void* ud, const struct proto_reply*) {
          auto* c = static_cast<Ctx*>(ud);
          return ++c->out->chunks == c->stop_after ? -EFBIG : 0;
        },
        &ctx, &out->rep);
  else
    out->rc = guest_client_call(fd, &req, timeout_ms, &out->rep);
  out->ms = ak_mono_ms() - t0;
  close(fd);
}

const char kReply[] = R"({"id":"x","exit_code":0,"stdout":"","stderr":""})";
const char kChunk[] = R"({"id":"x","stream":"stdout","output_base64":"eA=="})";

// A guest that sends its answer one byte every 100 ms (4+ s in all) cannot
// stretch a 1 s call: the deadline is the call's, not each byte's.
TEST(GuestClientDeadline, SlowDripFrameTimesOutAtTheCallDeadline) {
  FakeGuest g([](int c, const std::atomic<bool>& stop) {
    for (char b : Frame(kReply)) {
      if (stop || !FakeGuest::Send(c, std::string(1, b))) return;
      Sleep(100);
    }
  });
  Call call;
  CallGuest(g, false, 1000, &call);
  EXPECT_EQ(call.rc, -ETIMEDOUT) << strerror(-call.rc) << " after " << call.ms << " ms";
  EXPECT_GE(call.ms, 950);
  EXPECT_LT(call.ms, 1500);
}

// A streaming guest that sends a whole chunk every 100 ms and never the
// answer: the call still ends at its deadline.
TEST(GuestClientDeadline, EndlessChunksTimeOutAtTheCallDeadline) {
  FakeGuest g([](int c, const std::atomic<bool>& stop) {
    for (int i = 0; i < 100 && !stop; i++) {  // 10 s at most
      if (!FakeGuest::Send(c, Frame(kChunk))) return;
      Sleep(100);
    }
  });
  Call call;
  CallGuest(g, true, 1000, &call);
  EXPECT_EQ(call.rc, -ETIMEDOUT) << strerror(-call.rc) << " after " << call.ms << " ms";
  EXPECT_GE(call.chunks, 5);
  EXPECT_GE(call.ms, 950);
  EXPECT_LT(call.ms, 1500);
}

// The writing side is bounded the same way: a guest that never reads.
TEST(GuestClientDeadline, GuestThatNeverReadsTimesOutTheWrite) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  int small = 4096;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  std::string big(1 << 20, 'a');
  int64_t t0 = ak_mono_ms();
  EXPECT_EQ(frame_write(sv[0], big.data(), big.size(), 500), -ETIMEDOUT);
  int64_t ms = ak_mono_ms() - t0;
  EXPECT_GE(ms, 450);
  EXPECT_LT(ms, 1000);
  close(sv[0]);
  close(sv[1]);
}

// on_chunk can end a call (the executor does at max_output_bytes): the
// client returns at once with its value and reads nothing more.
TEST(GuestClientStream, ChunkCallbackStopsTheCall) {
  FakeGuest g([](int c, const std::atomic<bool>& stop) {
    while (!stop && FakeGuest::Send(c, Frame(kChunk))) {
    }
  });
  Call call;
  CallGuest(g, true, 10000, &call, 3);
  EXPECT_EQ(call.rc, -EFBIG);
  EXPECT_EQ(call.chunks, 3);
  EXPECT_LT(call.ms, 1000);
}

// The guest's error text reaches terminals through statuses and logs: its
// control characters are gone, \n and \t kept.
TEST(GuestClientReply, ErrorTextLosesEscapes) {
  FakeGuest g([](int c, const std::atomic<bool>&) {
    FakeGuest::Send(c, Frame(R"({"id":"x","error":"\u001b[2J\u001b]0;owned\u0007bad\r\n\tthing\u009b1m"})"));
  });
  Call call;
  CallGuest(g, false, 5000, &call);
  ASSERT_EQ(call.rc, 0) << strerror(-call.rc);
  ASSERT_NE(call.rep->error, nullptr);
  EXPECT_STREQ(call.rep->error, "[2J]0;ownedbad\n\tthing1m");
}

}  // namespace
