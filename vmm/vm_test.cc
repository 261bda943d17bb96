// A real microVM (QEMU microvm, TCG here) booted from the base image, reached
// only through our vhost-user-vsock bridge and its hybrid vsock socket. One
// VM is shared by the suite; each test uses its own connections.
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include "lib/base/time.h"
#include "lib/guest/frame.h"
#include "vmm/backend/vmm_proc.h"
#include "vmm/backend/vmm_qemu.h"
}
#include "lib/guest/guest_client.h"
#include "vmm/testing/vm_fixture.h"
#include "vmm/vm.h"

namespace {

class VmTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = akvm::MakeTempDir("akvm");
    ASSERT_FALSE(dir_.empty());
    vm_ = akvm::BootVm("base", dir_, false, &skip_, &error_);
  }
  static void TearDownTestSuite() {
    vm_free(vm_);
    vm_ = nullptr;
    akvm::RemoveDir(dir_);
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_NE(vm_, nullptr) << error_;
    uds_ = vm_vsock_uds(vm_);
  }
  static std::string dir_, skip_, error_;
  static struct vm* vm_;
  const char* uds_ = nullptr;
};

std::string VmTest::dir_, VmTest::skip_, VmTest::error_;
struct vm* VmTest::vm_ = nullptr;

TEST_F(VmTest, Ping) {
  EXPECT_EQ(guest_client_ping(uds_, 10000), 0);
}

TEST_F(VmTest, Run) {
  std::string err;
  struct proto_reply* r = akvm::Run(uds_, {"uname", "-s"}, 20000, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_TRUE(r->has_exit_code);
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_STREQ(r->stdout_str, "Linux\n");
  proto_reply_free(r);
}

TEST_F(VmTest, EnvAndCwd) {
  const char* argv[] = {"sh", "-c", "echo \"$GREETING\"; pwd"};
  const char* keys[] = {"GREETING"};
  const char* values[] = {"hello from the host"};
  struct proto_request_args req = PROTO_REQUEST_ARGS_INIT;
  req.id = "envcwd";
  req.type = "run";
  req.command = argv;
  req.n_command = 3;
  req.env_keys = keys;
  req.env_values = values;
  req.n_env = 1;
  req.cwd = "/tmp";
  std::string err;
  struct proto_reply* r = akvm::Call(uds_, req, 20000, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_STREQ(r->stdout_str, "hello from the host\n/tmp\n");
  proto_reply_free(r);
}

// Every byte value, 1 MiB, written and read back through the bridge, and
// hashed inside the guest against the host's own hash.
TEST_F(VmTest, BinaryFileRoundTrip) {
  std::string blob;
  uint32_t x = 12345;
  for (int i = 0; i < (1 << 20); i++) {
    x = x * 1103515245u + 12345u;
    blob.push_back(static_cast<char>(i < 256 ? i : x >> 24));
  }
  std::string b64 = akvm::Base64(blob);
  struct proto_request_args w = PROTO_REQUEST_ARGS_INIT;
  w.id = "w";
  w.type = "write_file";
  w.path = "/tmp/blob.bin";
  w.content_base64 = b64.c_str();
  std::string err;
  struct proto_reply* r = akvm::Call(uds_, w, 30000, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_EQ(r->exit_code, 0) << (r->error ? r->error : "");
  proto_reply_free(r);

  struct proto_request_args rd = PROTO_REQUEST_ARGS_INIT;
  rd.id = "r";
  rd.type = "read_file";
  rd.path = "/tmp/blob.bin";
  r = akvm::Call(uds_, rd, 30000, &err);
  ASSERT_NE(r, nullptr) << err;
  ASSERT_NE(r->content_base64, nullptr) << (r->error ? r->error : "");
  EXPECT_TRUE(akvm::Unbase64(r->content_base64) == blob);
  proto_reply_free(r);

  r = akvm::Run(uds_, {"wc", "-c", "/tmp/blob.bin"}, 30000, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_STREQ(r->stdout_str, "1048576 /tmp/blob.bin\n");
  proto_reply_free(r);
}

struct StreamSink {
  std::string out, err;
  int chunks = 0;
};

static int OnChunk(void* userdata, const struct proto_reply* chunk) {
  auto* s = static_cast<StreamSink*>(userdata);
  if (!chunk->output_base64 || !chunk->stream) return 0;
  (strcmp(chunk->stream, "stdout") == 0 ? s->out : s->err) += akvm::Unbase64(chunk->output_base64);
  s->chunks++;
  return 0;
}

static std::string Seq(int from, int to) {
  std::string s;
  for (int i = from; i <= to; i++) s += std::to_string(i) + "\n";
  return s;
}

// 12 MB of ordered output from one command, streamed through the bridge and
// checked byte for byte. (The agent keeps at most 10 MiB per stream, so it
// is split over stdout and stderr.)
TEST_F(VmTest, TwelveMegabytesOfOutput) {
  const char* argv[] = {"sh", "-c", "seq 1 900000; seq 900001 1650000 >&2"};
  struct proto_request_args req = PROTO_REQUEST_ARGS_INIT;
  req.id = "seq";
  req.type = "run";
  req.command = argv;
  req.n_command = 3;
  req.stream = 1;
  int fd = -1;
  ASSERT_EQ(guest_client_connect(uds_, GUEST_AGENT_PORT, 10000, &fd), 0);
  StreamSink sink;
  struct proto_reply* r = nullptr;
  int rc = guest_client_call_stream(fd, &req, 60000, OnChunk, &sink, &r);
  close(fd);
  ASSERT_EQ(rc, 0) << strerror(-rc);
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_FALSE(r->truncated);
  proto_reply_free(r);
  std::string want_out = Seq(1, 900000), want_err = Seq(900001, 1650000);
  EXPECT_EQ(sink.out.size(), want_out.size());
  EXPECT_EQ(sink.err.size(), want_err.size());
  EXPECT_TRUE(sink.out == want_out) << "stdout differs from seq 1 900000";
  EXPECT_TRUE(sink.err == want_err) << "stderr differs from seq 900001 1650000";
  EXPECT_GT(sink.out.size() + sink.err.size(), 12000000u);
}

// 16 connections at once, each with a command that takes a while: they run
// concurrently (well under 16 x 1 s) and each gets its own answer.
TEST_F(VmTest, SixteenConcurrentConnections) {
  std::atomic<int> ok{0};
  std::vector<std::string> errors(16);
  std::vector<std::thread> threads;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < 16; i++) {
    threads.emplace_back([&, i] {
      std::string err;
      struct proto_reply* r = akvm::Run(uds_, {"sh", "-c", "sleep 1; echo $0", std::to_string(i)}, 60000, &err);
      if (!r) {
        errors[i] = err;
        return;
      }
      if (r->exit_code == 0 && r->stdout_str && std::string(r->stdout_str) == std::to_string(i) + "\n") ok++;
      else errors[i] = r->stdout_str ? r->stdout_str : "(no stdout)";
      proto_reply_free(r);
    });
  }
  for (auto& t : threads) t.join();
  clock_gettime(CLOCK_MONOTONIC, &t1);
  for (int i = 0; i < 16; i++) EXPECT_TRUE(errors[i].empty()) << i << ": " << errors[i];
  EXPECT_EQ(ok.load(), 16);
  double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  EXPECT_LT(secs, 12.0) << "the 16 commands did not run concurrently";
}

static struct proto_reply* ReadReply(int fd, int timeout_ms) {
  uint8_t* body = nullptr;
  size_t len = 0;
  if (frame_read(fd, FRAME_MAX, timeout_ms, &body, &len) < 0) return nullptr;
  struct proto_reply* r = nullptr;
  proto_reply_parse(body, len, &r);
  free(body);
  return r;
}

static bool SendRequest(int fd, const struct proto_request_args& a) {
  // The same JSON guest_client builds; one call so the frame goes out whole.
  struct proto_reply* unused = nullptr;
  (void)unused;
  std::string json = "{\"id\":\"" + std::string(a.id) + "\",\"type\":\"" + a.type + "\"";
  if (a.session_id) json += ",\"session_id\":\"" + std::string(a.session_id) + "\"";
  if (a.input_base64) json += ",\"input_base64\":\"" + std::string(a.input_base64) + "\"";
  if (a.command) json += ",\"command\":[\"/bin/sh\"]";
  json += "}";
  return frame_write(fd, json.data(), json.size(), 10000) == 0;
}

// A PTY shell: start it, type a command, see its output, close it.
TEST_F(VmTest, PtyShell) {
  int fd = -1;
  ASSERT_EQ(guest_client_connect(uds_, GUEST_AGENT_PORT, 10000, &fd), 0);
  struct proto_request_args start = PROTO_REQUEST_ARGS_INIT;
  start.id = "sh";
  start.type = "shell";
  const char* sh[] = {"/bin/sh"};
  start.command = sh;
  start.n_command = 1;
  ASSERT_TRUE(SendRequest(fd, start));
  struct proto_reply* r = ReadReply(fd, 20000);
  ASSERT_NE(r, nullptr);
  ASSERT_NE(r->session_id, nullptr) << (r->error ? r->error : "");
  EXPECT_STREQ(r->shell_event, "started");
  std::string session = r->session_id;
  proto_reply_free(r);

  std::string input = akvm::Base64("echo tty=$(tty | cut -c1-8) answer=$((6*7))\n");
  struct proto_request_args in = PROTO_REQUEST_ARGS_INIT;
  in.id = "in";
  in.type = "shell_input";
  in.session_id = session.c_str();
  in.input_base64 = input.c_str();
  ASSERT_TRUE(SendRequest(fd, in));
  std::string screen;
  for (int i = 0; i < 200 && screen.find("answer=42") == std::string::npos; i++) {
    r = ReadReply(fd, 20000);
    ASSERT_NE(r, nullptr) << "no output; screen so far: " << screen;
    if (r->output_base64) screen += akvm::Unbase64(r->output_base64);
    proto_reply_free(r);
  }
  EXPECT_NE(screen.find("tty=/dev/pts answer=42"), std::string::npos) << screen;

  struct proto_request_args cl = PROTO_REQUEST_ARGS_INIT;
  cl.id = "close";
  cl.type = "shell_close";
  cl.session_id = session.c_str();
  ASSERT_TRUE(SendRequest(fd, cl));
  bool exited = false;
  for (int i = 0; i < 100 && !exited; i++) {
    r = ReadReply(fd, 20000);
    ASSERT_NE(r, nullptr);
    exited = r->shell_event && strcmp(r->shell_event, "exited") == 0;
    proto_reply_free(r);
  }
  EXPECT_TRUE(exited);
  close(fd);
}

// Nobody listens on that guest port: the bridge closes the connection
// (Firecracker's behaviour) instead of answering OK.
TEST_F(VmTest, ConnectToPortNobodyListensOnIsClosed) {
  int fd = -1;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  EXPECT_EQ(guest_client_connect(uds_, 4444, 10000, &fd), -ECONNREFUSED);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  EXPECT_LT(t1.tv_sec - t0.tv_sec, 5) << "the guest's RST should close it promptly";
  // And the bridge still serves the next one.
  EXPECT_EQ(guest_client_ping(uds_, 10000), 0);
}

// Bytes written right after the CONNECT line (before OK) still reach the
// guest, and a malformed CONNECT line is refused.
TEST_F(VmTest, MalformedConnectLineIsClosed) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  struct sockaddr_un sa = {};
  sa.sun_family = AF_UNIX;
  strncpy(sa.sun_path, uds_, sizeof(sa.sun_path) - 1);
  ASSERT_EQ(connect(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa)), 0);
  const char line[] = "CONNECT 52000 please\n";
  ASSERT_EQ(write(fd, line, sizeof(line) - 1), (ssize_t)sizeof(line) - 1);
  char c;
  EXPECT_EQ(read(fd, &c, 1), 0);
  close(fd);
}

static off_t FileSize(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 ? st.st_size : -1;
}

// A guest that floods its serial console (3 MiB into /dev/ttyS0) cannot
// fill the host's disk: console.log stays within 1 MiB plus one rotated
// file, and still ends with the newest line for boot-error tails.
TEST_F(VmTest, ConsoleFloodIsCapped) {
  std::string log = vm_console_log(vm_);
  std::string err;
  int64_t t0 = ak_mono_ms();
  struct proto_reply* r = akvm::Run(
      uds_, {"/bin/sh", "-c", "head -c 3145728 /dev/zero > /dev/ttyS0 && echo console-flood-done > /dev/ttyS0"},
      600000, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_EQ(r->exit_code, 0) << (r->stderr_str ? r->stderr_str : "");
  proto_reply_free(r);
  int64_t ms = ak_mono_ms() - t0;
  char tail[256] = "";
  for (int i = 0; i < 100; i++) {  // the reader thread may be a moment behind
    vmm_log_tail(log.c_str(), 1, tail, sizeof(tail));
    if (strstr(tail, "console-flood-done")) break;
    usleep(50 * 1000);
  }
  EXPECT_NE(strstr(tail, "console-flood-done"), nullptr) << tail;
  off_t cur = FileSize(log), rotated = FileSize(log + ".1");
  EXPECT_LE(cur, 1 << 20);
  EXPECT_LE(rotated, 1 << 20);
  EXPECT_GT(rotated, 0) << "3 MiB must have rotated once at least";
  RecordProperty("console_flood_ms", static_cast<int>(ms));
  RecordProperty("console_log_bytes", static_cast<int>(cur));
}

// The density settings reach the guest, and memory the guest frees goes
// back to the host through the shared memfd: 96 MiB written to the guest's
// tmpfs grow what QEMU's memfd holds; once removed, free page reporting
// (virtio-balloon) punches most of it out again within seconds.
TEST_F(VmTest, FreedGuestMemoryGoesBackToTheHost) {
  std::string err;
  struct proto_reply* r = akvm::Run(uds_, {"cat", "/proc/cmdline"}, 20000, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_NE(strstr(r->stdout_str, "cryptomgr.notests"), nullptr) << r->stdout_str;
  proto_reply_free(r);
  // From the initramfs, under TCG: the smaller translation cache.
  std::string qemu_argv = akvm::QemuArgv(vm_);
  ASSERT_NE(qemu_argv.find(" -accel "), std::string::npos) << "QEMU's argv: " << qemu_argv;
  if (qemu_argv.find("-accel tcg") != std::string::npos) {
    EXPECT_NE(qemu_argv.find("-accel tcg,tb-size=" + std::to_string(VM_TCG_TB_MB_INITRAMFS) + " "), std::string::npos)
        << qemu_argv;
  }
  // The guest's init set the reporting order (the kernel would keep 9).
  r = akvm::Run(uds_, {"cat", "/sys/module/page_reporting/parameters/page_reporting_order"}, 20000, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_EQ(std::string(r->stdout_str ? r->stdout_str : ""), std::to_string(VM_PAGE_REPORTING_ORDER) + "\n");
  proto_reply_free(r);
  uint64_t before = 0, full = 0, after = 0;
  ASSERT_EQ(vmm_qemu_guest_ram_bytes(vm_pid(vm_), &before), 0);
  r = akvm::Run(uds_, {"/bin/sh", "-c", "head -c 100663296 /dev/zero > /tmp/fill"}, 120000, &err);
  ASSERT_NE(r, nullptr) << err;
  ASSERT_EQ(r->exit_code, 0) << (r->stderr_str ? r->stderr_str : "");
  proto_reply_free(r);
  ASSERT_EQ(vmm_qemu_guest_ram_bytes(vm_pid(vm_), &full), 0);
  EXPECT_GE(full, before + (48ull << 20)) << "before " << before << " full " << full;
  r = akvm::Run(uds_, {"rm", "/tmp/fill"}, 20000, &err);
  ASSERT_NE(r, nullptr) << err;
  proto_reply_free(r);
  int64_t t0 = ak_mono_ms();
  do {
    usleep(250 * 1000);
    ASSERT_EQ(vmm_qemu_guest_ram_bytes(vm_pid(vm_), &after), 0);
  } while (after > full - (64ull << 20) && ak_mono_ms() - t0 < 60000);
  EXPECT_LE(after, full - (64ull << 20)) << "before " << before << " full " << full << " after " << after;
  RecordProperty("reported_back_ms", static_cast<int>(ak_mono_ms() - t0));
  RecordProperty("guest_ram_mib_idle", static_cast<int>(before >> 20));
}

}  // namespace
