// bench/vm: the microVM runtime's figures, each beside a baseline measured in
// the same run.
//
//   cold boot to guest-agent ping   vs  the same kernel + initramfs booting to
//                                       an init that exits (the kernel's floor)
//   exec round trip via the bridge  vs  the same guest agent on the host over
//                                       its Unix listener (the bridge's floor),
//                                       and the bridge alone (a fake in-process
//                                       guest) vs a socketpair echo
//   64 MiB through the bridge       vs  a socketpair (fake guest, both ways),
//                                       and end to end into a real VM
//   host memory per VM              RSS of QEMU + the ak-vmm supervisor
//
//   bazel run -c opt //bench/vm -- [--boots N] [--iterations N] [--mib N]
//
// Under TCG (no KVM here) the guest's own work dominates the VM figures; the
// fake-guest figures isolate what the bridge costs.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "lib/base/time.h"
#include "vmm/testing/vm_fixture.h"
#include "vmm/virtio/testing/fake_guest.h"

extern "C" {
#include "lib/base/binpath.h"
#include "lib/encoding/base64.h"
#include "lib/guest/frame.h"
#include "lib/guest/guest_client.h"
#include "vmm/image/image.h"
#include "vmm/virtio/vsock_bridge.h"
#include "vmm/vm.h"
#include "vmm/vm_registry.h"
}

extern char** environ;

namespace {

int g_boots = 5, g_iterations = 200, g_mib = 64;

// The p-th quantile; an empty sample set means every attempt failed, which
// must not print as 0: say which set and stop.
double P(std::vector<double> v, double p, const char* what = "a sample set") {
  if (v.empty()) {
    fprintf(stderr, "vm_bench: no samples for %s (every attempt failed; see the errors above)\n", what);
    exit(1);
  }
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * (v.size() - 1) + 0.5)];
}

void Row(const char* what, double value, const char* unit, const char* base_what, double base, const char* note = "") {
  printf("  %-38s %10.3f %-5s | %-34s %10.3f %-5s %s\n", what, value, unit, base_what, base, unit, note);
}

// ---------------------------------------------------------------- boot

struct Images {
  struct image_boot boot = {};
  bool ok = false;
  std::string why;
};

Images ResolveBase() {
  Images im;
  char home[PATH_MAX], dir[PATH_MAX];
  struct ak_error err = {};
  if (vm_registry_ak_home(home, &err) < 0) {
    im.why = err.msg;
    return im;
  }
  if (snprintf(dir, sizeof(dir), "%s/images", home) >= static_cast<int>(sizeof(dir))) {
    im.why = "AK_HOME too long";
    return im;
  }
  struct image_store* s = nullptr;
  if (image_store_open(dir, &s, &err) == 0 && image_resolve_boot(s, "base", nullptr, &im.boot, &err) == 0)
    im.ok = true;
  else
    im.why = err.msg;
  image_store_free(s);
  return im;
}

// The floor: the same QEMU, kernel and initramfs, init = /bin/true (the
// kernel then panics and QEMU exits): start to exit.
double KernelFloorMs(const Images& im, const std::string& dir, bool* ok) {
  struct vmm_config c = {};
  std::string con = dir + "/floor-console.log", qmp = dir + "/floor-qmp.sock";
  c.kernel = im.boot.kernel;
  c.initrd = im.boot.initrd;
  // The same kernel parameters, translation cache and balloon as vm.c's VMs.
  c.cmdline = "quiet panic=-1 " VM_LEAN_KERNEL_ARGS " rdinit=/bin/true";
  c.tcg_tb_mb = VM_TCG_TB_MB;
  c.balloon = true;
  c.vcpus = 1;
  c.memory_mb = 256;
  c.console_log = con.c_str();
  c.control_socket = qmp.c_str();
  struct vmm* v = nullptr;
  struct ak_error err = {};
  double t0 = (ak_mono_ns() / 1e6);
  if (vmm_qemu_ops.start(&c, &v, &err) < 0) {
    fprintf(stderr, "floor: %s\n", err.msg);
    *ok = false;
    return 0;
  }
  int status;
  while (vmm_qemu_ops.poll_exit(v, &status) == 0) {
    if ((ak_mono_ns() / 1e6) - t0 > 60000) {
      *ok = false;
      break;
    }
    usleep(2000);
  }
  double ms = (ak_mono_ns() / 1e6) - t0;
  vmm_qemu_ops.free(v);
  *ok = *ok && true;
  return ms;
}

void BenchBoot(const Images& im, const std::string& dir, std::string* accel) {
  std::vector<double> ours, floor;
  for (int i = 0; i < g_boots; i++) {
    bool ok = true;
    double f = KernelFloorMs(im, dir, &ok);
    if (ok) floor.push_back(f);
    struct vm_config cfg = {};
    cfg.dir = dir.c_str();
    cfg.kernel = im.boot.kernel;
    cfg.initrd = im.boot.initrd;
    struct vm* v = nullptr;
    struct ak_error err = {};
    double t0 = (ak_mono_ns() / 1e6);
    if (vm_start(&cfg, &v, &err) < 0 || vm_wait_ready(v, 120000, &err) < 0) {
      fprintf(stderr, "boot: %s\n", err.msg);
      vm_free(v);
      continue;
    }
    ours.push_back((ak_mono_ns() / 1e6) - t0);
    *accel = vm_accel(v);
    vm_free(v);
  }
  printf("cold boot (%s, 1 vCPU, 256 MiB, base image), p50 of %d:\n", accel->c_str(), g_boots);
  Row("QEMU start -> guest agent ping", P(ours, 0.5, "cold boots") / 1000, "s", "kernel floor (init=/bin/true)",
      P(floor, 0.5, "kernel floor boots") / 1000);
  printf("    min/max %.3f/%.3f s; target <= 3 s under TCG\n", P(ours, 0) / 1000, P(ours, 1) / 1000);
  char why[256] = "";
  if (!vmm_kvm_usable(why, sizeof(why)))
    printf("    KVM: not available here (%s). On a KVM host the same code runs -accel kvm\n"
           "    -cpu host; not measured here (TCG emulation is what makes boot slow here).\n", why);
}

// ---------------------------------------------------------------- round trips

double CallMs(int fd, const char* type, bool run_true) {
  const char* argv[] = {"true"};
  struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
  a.id = "b";
  a.type = type;
  if (run_true) {
    a.command = argv;
    a.n_command = 1;
  }
  struct proto_reply* r = nullptr;
  double t0 = (ak_mono_ns() / 1e6);
  int rc = guest_client_call(fd, &a, 30000, &r);
  double ms = (ak_mono_ns() / 1e6) - t0;
  proto_reply_free(r);
  return rc == 0 ? ms : -1;
}

void Measure(int fd, int n, bool run_true, std::vector<double>* out) {
  for (int i = 0; i < n; i++) {
    double ms = CallMs(fd, run_true ? "run" : "ping", run_true);
    if (ms >= 0) out->push_back(ms);
  }
}

int ConnectUnix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {};
  sa.sun_family = AF_UNIX;
  strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
  if (connect(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa)) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

pid_t StartHostAgent(const std::string& sock) {
  char bin[PATH_MAX];
  if (binpath_find("guest/ak-guest", "AK_GUEST_BIN", bin, sizeof(bin)) < 0) return -1;
  std::string listen = "unix:" + sock;
  const char* argv[] = {bin, "--listen", listen.c_str(), nullptr};
  pid_t pid;
  if (posix_spawn(&pid, bin, nullptr, nullptr, const_cast<char* const*>(argv), environ) != 0) return -1;
  for (int i = 0; i < 500; i++) {
    int fd = ConnectUnix(sock);
    if (fd >= 0) {
      close(fd);
      return pid;
    }
    usleep(10000);
  }
  return pid;
}

void BenchRoundTrips(struct vm* v, const std::string& dir) {
  int fd = -1;
  if (guest_client_connect(vm_vsock_uds(v), GUEST_AGENT_PORT, 10000, &fd) < 0) {
    fprintf(stderr, "round trips: cannot connect\n");
    return;
  }
  std::vector<double> vm_ping, vm_run, host_ping, host_run;
  Measure(fd, 20, false, &vm_ping);  // warm up
  vm_ping.clear();
  Measure(fd, g_iterations, false, &vm_ping);
  Measure(fd, g_iterations / 4, true, &vm_run);
  close(fd);
  std::string sock = dir + "/agent.sock";
  pid_t agent = StartHostAgent(sock);
  int hfd = ConnectUnix(sock);
  if (hfd >= 0) {
    Measure(hfd, 20, false, &host_ping);
    host_ping.clear();
    Measure(hfd, g_iterations, false, &host_ping);
    Measure(hfd, g_iterations / 4, true, &host_run);
    close(hfd);
  }
  if (agent > 0) {
    kill(agent, SIGKILL);
    waitpid(agent, nullptr, 0);
  }
  printf("exec round trip, p50 (guest agent in the VM via the bridge | the same agent on the host, Unix socket):\n");
  Row("ping via bridge (TCG guest)", P(vm_ping, 0.5, "pings via the bridge"), "ms", "ping, host agent",
      P(host_ping, 0.5, "pings of the host agent"));
  Row("run [true] via bridge (TCG guest)", P(vm_run, 0.5, "runs via the bridge"), "ms", "run [true], host agent",
      P(host_run, 0.5, "runs on the host agent"));
}

// ---------------------------------------------------------------- bridge alone

// A guest that speaks virtio-vsock in-process (no VM): accepts connections,
// echoes or sinks RW payloads, or sources bytes, honouring credit both ways.
class FakeGuest {
 public:
  enum Mode { kEcho, kSink, kSource };
  FakeGuest(const std::string& vhost, Mode mode, uint64_t source_bytes = 0)
      : mode_(mode), source_left_(source_bytes) {
    int fd = ConnectUnix(vhost);
    std::string err;
    if (fd < 0 || !fe_.Attach(fd, &mem_, &drv_, &err)) {
      fprintf(stderr, "fake guest: %s\n", err.c_str());
      return;
    }
    drv_.PostRx(30);
    fe_.KickRx();
    ok_ = true;
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeGuest() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  bool ok() const { return ok_; }
  uint64_t received() const { return received_.load(); }

 private:
  void Loop() {
    while (!stop_) {
      fe_.WaitCall(0, 2);
      drv_.ReclaimTx();
      bool sent = false;
      for (auto& p : drv_.Receive()) {
        const auto& h = p.hdr;
        if (h.op == VSOCK_OP_REQUEST) {
          port_ = h.dst_port;
          peer_ = h.src_port;
          peer_buf_ = h.buf_alloc;
          peer_fwd_ = h.fwd_cnt;
          drv_.Send(drv_.Hdr(VSOCK_OP_RESPONSE, port_, peer_, kBufAlloc, fwd_));
          sent = true;
        } else if (h.op == VSOCK_OP_RW) {
          received_ += p.payload.size();
          fwd_ += static_cast<uint32_t>(p.payload.size());
          peer_buf_ = h.buf_alloc;
          peer_fwd_ = h.fwd_cnt;
          if (mode_ == kEcho) {
            drv_.Send(drv_.Hdr(VSOCK_OP_RW, port_, peer_, kBufAlloc, fwd_), p.payload);
            tx_cnt_ += p.payload.size();
            sent = true;
          }
        } else if (h.op == VSOCK_OP_CREDIT_UPDATE || h.op == VSOCK_OP_SHUTDOWN) {
          peer_buf_ = h.buf_alloc;
          peer_fwd_ = h.fwd_cnt;
        }
      }
      // As Linux does: tell the device when our free space runs low.
      if (fwd_ - fwd_sent_ >= kBufAlloc / 2 && port_) {
        drv_.Send(drv_.Hdr(VSOCK_OP_CREDIT_UPDATE, port_, peer_, kBufAlloc, fwd_));
        fwd_sent_ = fwd_;
        sent = true;
      }
      if (mode_ == kSource && port_) {
        while (source_left_ && drv_.tx().AvailIdx() - drv_.tx().UsedIdx() < 24) {
          uint32_t credit = peer_buf_ - (tx_cnt_ - peer_fwd_);
          size_t n = std::min<uint64_t>({source_left_, 64 * 1024, credit});
          if (n == 0) break;
          drv_.Send(drv_.Hdr(VSOCK_OP_RW, port_, peer_, kBufAlloc, fwd_), std::string(n, 'g'));
          tx_cnt_ += static_cast<uint32_t>(n);
          source_left_ -= n;
          sent = true;
        }
      }
      if (sent) fe_.KickTx();
      fe_.KickRx();
    }
  }
  static constexpr uint32_t kBufAlloc = 256 * 1024;
  Mode mode_;
  uint64_t source_left_;
  fakeguest::Memory mem_{32 << 20};
  fakeguest::VsockDriver drv_{&mem_, 3};
  fakeguest::Frontend fe_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> received_{0};
  bool ok_ = false;
  uint32_t port_ = 0, peer_ = 0, peer_buf_ = 0, peer_fwd_ = 0, tx_cnt_ = 0, fwd_ = 0, fwd_sent_ = 0;
};

struct Bridge {
  explicit Bridge(const std::string& dir) : vhost(dir + "/bv.sock"), uds(dir + "/bu.sock") {
    struct vsock_bridge_config c = {};
    c.vhost_path = vhost.c_str();
    c.uds_path = uds.c_str();
    c.guest_cid = 3;
    struct ak_error err = {};
    if (vsock_bridge_new(&c, &b, &err) < 0 || vsock_bridge_start(b, &err) < 0) fprintf(stderr, "bridge: %s\n", err.msg);
  }
  ~Bridge() { vsock_bridge_free(b); }
  int Connect() {
    for (int i = 0; i < 200; i++) {
      int fd = -1;
      if (guest_client_connect(uds.c_str(), 52000, 5000, &fd) == 0) return fd;
      usleep(5000);
    }
    return -1;
  }
  std::string vhost, uds;
  struct vsock_bridge* b = nullptr;
};

bool ReadFull(int fd, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t k = read(fd, buf + got, n - got);
    if (k <= 0) return false;
    got += k;
  }
  return true;
}

std::vector<double> EchoRtts(int fd, int n) {
  std::vector<double> out;
  char msg[64] = "ping", buf[64];
  for (int i = 0; i < n; i++) {
    double t0 = (ak_mono_ns() / 1e6);
    if (write(fd, msg, sizeof(msg)) != sizeof(msg) || !ReadFull(fd, buf, sizeof(buf))) break;
    out.push_back(((ak_mono_ns() / 1e6) - t0) * 1000);
  }
  return out;
}

void BenchBridgeAlone(const std::string& dir) {
  std::vector<double> bridge_rtt, pair_rtt;
  {
    Bridge br(dir);
    FakeGuest g(br.vhost, FakeGuest::kEcho);
    int fd = g.ok() ? br.Connect() : -1;
    if (fd >= 0) {
      EchoRtts(fd, 100);
      bridge_rtt = EchoRtts(fd, g_iterations * 10);
      close(fd);
    }
  }
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
  std::thread echo([&] {
    char buf[64];
    while (ReadFull(sv[1], buf, sizeof(buf)) && write(sv[1], buf, sizeof(buf)) == sizeof(buf)) {
    }
  });
  EchoRtts(sv[0], 100);
  pair_rtt = EchoRtts(sv[0], g_iterations * 10);
  close(sv[0]);
  echo.join();
  close(sv[1]);
  printf("bridge alone (fake in-process guest, no VM), 64-byte echo round trip:\n");
  Row("via hybrid socket + vhost-user-vsock", P(bridge_rtt, 0.5, "bridge echoes"), "us", "socketpair echo thread",
      P(pair_rtt, 0.5, "socketpair echoes"));
  printf("    the bridge adds %.3f ms p50 (target <= 0.3 ms); p99 %.1f us\n",
         (P(bridge_rtt, 0.5) - P(pair_rtt, 0.5)) / 1000, P(bridge_rtt, 0.99));
}

double PairMibps(uint64_t bytes) {
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
  std::vector<char> buf(64 * 1024, 'x');
  double t0 = (ak_mono_ns() / 1e6);
  std::thread sink([&] {
    std::vector<char> b(64 * 1024);
    uint64_t got = 0;
    while (got < bytes) {
      ssize_t k = read(sv[1], b.data(), b.size());
      if (k <= 0) break;
      got += k;
    }
  });
  for (uint64_t sent = 0; sent < bytes;) {
    ssize_t k = write(sv[0], buf.data(), std::min<uint64_t>(buf.size(), bytes - sent));
    if (k <= 0) break;
    sent += k;
  }
  sink.join();
  double ms = (ak_mono_ns() / 1e6) - t0;
  close(sv[0]);
  close(sv[1]);
  return bytes / 1048576.0 / (ms / 1000);
}

void BenchThroughput(const std::string& dir) {
  uint64_t bytes = static_cast<uint64_t>(g_mib) << 20;
  double to_guest = 0, from_guest = 0;
  {
    Bridge br(dir);
    FakeGuest g(br.vhost, FakeGuest::kSink);
    int fd = g.ok() ? br.Connect() : -1;
    if (fd >= 0) {
      std::vector<char> buf(64 * 1024, 'h');
      double t0 = (ak_mono_ns() / 1e6);
      for (uint64_t sent = 0; sent < bytes;) {
        ssize_t k = write(fd, buf.data(), std::min<uint64_t>(buf.size(), bytes - sent));
        if (k <= 0) break;
        sent += k;
      }
      while (g.received() < bytes && (ak_mono_ns() / 1e6) - t0 < 120000) usleep(200);
      to_guest = bytes / 1048576.0 / (((ak_mono_ns() / 1e6) - t0) / 1000);
      close(fd);
    }
  }
  {
    Bridge br(dir);
    FakeGuest g(br.vhost, FakeGuest::kSource, bytes);
    int fd = g.ok() ? br.Connect() : -1;
    if (fd >= 0) {
      std::vector<char> buf(256 * 1024);
      uint64_t got = 0;
      double t0 = (ak_mono_ns() / 1e6);
      while (got < bytes) {
        ssize_t k = read(fd, buf.data(), buf.size());
        if (k <= 0) break;
        got += k;
      }
      from_guest = got / 1048576.0 / (((ak_mono_ns() / 1e6) - t0) / 1000);
      close(fd);
    }
  }
  double floor = PairMibps(bytes);
  printf("%d MiB through the bridge alone (fake in-process guest; Linux-sized 4 KiB rx buffers, 64 KiB tx packets):\n",
         g_mib);
  Row("host -> guest", to_guest, "MiB/s", "socketpair, 64 KiB writes", floor);
  Row("guest -> host", from_guest, "MiB/s", "socketpair, 64 KiB writes", floor, "(target >= 200)");
}

void BenchVmThroughput(struct vm* v) {
  // Host -> guest: write_file in 6 MiB pieces (base64 in 10 MiB frames).
  const size_t piece = 6 << 20;
  uint64_t bytes = static_cast<uint64_t>(g_mib) << 20;
  std::string data(piece, 'd');
  std::string b64 = akvm::Base64(data);
  int fd = -1;
  if (guest_client_connect(vm_vsock_uds(v), GUEST_AGENT_PORT, 10000, &fd) < 0) return;
  double t0 = (ak_mono_ns() / 1e6);
  uint64_t sent = 0;
  for (int i = 0; sent < bytes; i++) {
    struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
    a.id = "w";
    a.type = "write_file";
    a.path = "/tmp/bench.bin";
    a.content_base64 = b64.c_str();
    struct proto_reply* r = nullptr;
    int rc = guest_client_call(fd, &a, 120000, &r);
    if (rc < 0 || !r || r->error) {
      fprintf(stderr, "vm_bench: write_file of %zu bytes to /tmp/bench.bin failed: %s\n", piece,
              rc < 0 ? strerror(-rc) : r && r->error ? r->error : "no reply");
      proto_reply_free(r);
      close(fd);
      exit(1);
    }
    proto_reply_free(r);
    sent += piece;
  }
  double in_mibps = sent / 1048576.0 / (((ak_mono_ns() / 1e6) - t0) / 1000);
  // Guest -> host: streamed output, 8 MiB on stdout and 8 on stderr per run.
  struct Sink {
    uint64_t bytes = 0;
  } sink;
  t0 = (ak_mono_ns() / 1e6);
  uint64_t got_total = 0;
  while (got_total < bytes) {
    const char* argv[] = {"sh", "-c", "head -c 8388608 /dev/zero; head -c 8388608 /dev/zero >&2"};
    struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
    a.id = "s";
    a.type = "run";
    a.command = argv;
    a.n_command = 3;
    a.stream = 1;
    struct proto_reply* r = nullptr;
    sink.bytes = 0;
    int rc = guest_client_call_stream(
        fd, &a, 120000,
        [](void* ud, const struct proto_reply* c) {
          if (c->output_base64) static_cast<Sink*>(ud)->bytes += base64_decoded_max(strlen(c->output_base64));
          return 0;
        },
        &sink, &r);
    proto_reply_free(r);
    if (rc < 0 || sink.bytes == 0) break;
    got_total += sink.bytes;
  }
  double out_mibps = got_total / 1048576.0 / (((ak_mono_ns() / 1e6) - t0) / 1000);
  close(fd);
  printf("%d MiB end to end into a real VM (TCG guest agent; includes its base64 and file I/O):\n", g_mib);
  printf("  %-38s %10.1f MiB/s\n", "host -> guest (write_file)", in_mibps);
  printf("  %-38s %10.1f MiB/s\n", "guest -> host (streamed run output)", out_mibps);
}

// ---------------------------------------------------------------- memory

long RssKib(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof(path), "/proc/%d/status", static_cast<int>(pid));
  FILE* f = fopen(path, "r");
  if (!f) return -1;
  long kib = -1;
  while (fgets(line, sizeof(line), f))
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  fclose(f);
  return kib;
}

void BenchMemory(const Images& im, const std::string& dir) {
  char vmm[PATH_MAX];
  if (binpath_find("vmm/ak-vmm", "AK_VMM_BIN", vmm, sizeof(vmm)) < 0) {
    printf("host memory per VM: ak-vmm not found\n");
    return;
  }
  std::string vdir = dir + "/m";
  mkdir(vdir.c_str(), 0755);
  const char* argv[] = {vmm, "--dir", vdir.c_str(), "--name", "bench", "--kernel", im.boot.kernel,
                        "--initrd", im.boot.initrd, nullptr};
  pid_t sup;
  if (posix_spawn(&sup, vmm, nullptr, nullptr, const_cast<char* const*>(argv), environ) != 0) return;
  struct vm_record rec = {};
  bool ready = false;
  for (int i = 0; i < 1200 && !ready; i++) {
    usleep(100000);
    if (vm_record_read(vdir.c_str(), &rec, nullptr) == 0) ready = guest_client_ping(rec.vsock_uds, 2000) == 0;
  }
  if (ready) {
    // A few calls so the bridge has done real work.
    for (int i = 0; i < 20; i++) guest_client_ping(rec.vsock_uds, 2000);
    long q = RssKib(rec.vmm_pid), s = RssKib(sup);
    printf("host memory per VM (base image, 256 MiB guest, after boot + 20 pings):\n");
    printf("  %-38s %10.1f MiB | QEMU %.1f MiB + ak-vmm (bridge) %.1f MiB; guest RAM configured 256 MiB\n",
           "RSS, QEMU + bridge", (q + s) / 1024.0, q / 1024.0, s / 1024.0);
  }
  kill(sup, SIGTERM);
  waitpid(sup, nullptr, 0);
  akvm::RemoveDir(vdir);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    int v = atoi(argv[i + 1]);
    if (a == "--boots" && v > 0) g_boots = v;
    else if (a == "--iterations" && v > 0) g_iterations = v;
    else if (a == "--mib" && v > 0) g_mib = v;
    else {
      fprintf(stderr, "usage: vm_bench [--boots N] [--iterations N] [--mib N]\n");
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  std::string dir = akvm::MakeTempDir("akb");
  printf("bench/vm (each figure | its baseline from the same run)\n\n");
  BenchBridgeAlone(dir);
  printf("\n");
  BenchThroughput(dir);
  printf("\n");
  Images im = ResolveBase();
  if (!im.ok) {  // skipped only where the kernel cannot be downloaded at all
    bool skip = akvm::KernelUnavailable(im.why);
    printf("VM figures %s: %s\n", skip ? "skipped" : "failed", im.why.c_str());
    akvm::RemoveDir(dir);
    return skip ? 0 : 1;
  }
  std::string accel = "tcg";
  BenchBoot(im, dir, &accel);
  printf("\n");
  struct vm_config cfg = {};
  cfg.dir = dir.c_str();
  cfg.kernel = im.boot.kernel;
  cfg.initrd = im.boot.initrd;
  struct vm* v = nullptr;
  struct ak_error err = {};
  if (vm_start(&cfg, &v, &err) == 0 && vm_wait_ready(v, 120000, &err) == 0) {
    BenchRoundTrips(v, dir);
    printf("\n");
    BenchVmThroughput(v);
    printf("\n");
  } else {
    fprintf(stderr, "vm: %s\n", err.msg);
  }
  vm_free(v);
  BenchMemory(im, dir);
  akvm::RemoveDir(dir);
  return 0;
}
