// bench/net: what the sandbox's network policy (vmm/backend/vmm_net.h) costs,
// each figure beside a baseline measured in the same run.
//
//   guest -> "internet" throughput,    policy path: QEMU user networking in a
//   TCP connect p50/p99                namespace of the VM's own, veth, NAT and
//                                      the namespace's nft output chain (what
//                                      the executor starts)
//                                  vs  unrestricted: the same QEMU user
//                                      networking in the host's namespace, no
//                                      rules (vm_config.no_jail, the
//                                      unconfined QEMU ak ran before issue 14)
//   a sandbox policy of 128 entries    (64 allow + 64 deny, VMM_NET_MAX_EGRESS
//                                      per list, none matching)
//                                  vs  the policy path without one
//   1,000 nft rules, no VM             connect and throughput between two
//                                      namespaces with 1,000 `ip daddr X drop`
//                                      rules (and one 1,000-element set) in
//                                      the client's output chain vs none
//
//   bazel run -c opt //bench/net -- [--runs N] [--connects N] [--mib N]
//
// Root, ip and nft. The "internet" is a namespace akb-inet (198.18.0.1, a
// public-range test address); everything this makes is named akb-* and
// removed before and after. Under TCG the guest's own TCP stack dominates
// the VM figures; the ratios are what the targets (policy >= 0.8x the
// unrestricted throughput, connect p50 within +1 ms) are about.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "vmm/testing/vm_fixture.h"

extern "C" {
#include "lib/base/binpath.h"
#include "lib/base/time.h"
#include "vmm/vm.h"
}

namespace {

int g_runs = 3, g_connects = 200, g_mib = 32;
const int kPort = 7920;

int Sh(const std::string& cmd) { return system((cmd + " >/dev/null 2>&1").c_str()); }

double P(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * (v.size() - 1) + 0.5)];
}

void Row(const char* what, double value, const char* unit, const char* base_what, double base, const char* note = "") {
  printf("  %-34s %10.3f %-6s | %-30s %10.3f %-6s %s\n", what, value, unit, base_what, base, unit, note);
}

// Runs fn on a thread inside /run/netns/<ns> (sockets it makes stay there).
bool InNetns(const std::string& ns, const std::function<void()>& fn) {
  bool ok = false;
  std::thread t([&] {
    int fd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
      if (fd >= 0) close(fd);
      return;
    }
    close(fd);
    fn();
    ok = true;
  });
  t.join();
  return ok;
}

// A TCP sink in a namespace: reads each connection to EOF, answers "ok".
class Sink {
 public:
  Sink(const std::string& ns, const char* addr) {
    InNetns(ns, [&] {
      struct sockaddr_in sa = {};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(kPort);
      inet_pton(AF_INET, addr, &sa.sin_addr);
      int one = 1;
      fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0 || listen(fd_, 1024) < 0) {
        close(fd_);
        fd_ = -1;
      }
    });
    if (fd_ >= 0) t_ = std::thread([this] { Serve(); });
  }
  ~Sink() {
    stop_ = true;
    if (t_.joinable()) t_.join();
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0; }

 private:
  void Serve() {
    static char buf[1 << 16];
    while (!stop_) {
      struct pollfd p = {fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      int a = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (a < 0) continue;
      while (read(a, buf, sizeof(buf)) > 0) {
      }
      (void)!write(a, "ok\n", 3);
      close(a);
    }
  }
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread t_;
};

void Cleanup() {
  Sh("ip netns del akb-inet");
  Sh("ip link del akb-i0");
  Sh("ip netns del akb-c");
  Sh("ip netns del akb-s");
}

// ---------------------------------------------------------------- VMs

std::string GuestRun(struct vm* v, const std::string& cmd) {
  std::string err;
  struct proto_reply* r = akvm::Run(vm_vsock_uds(v), {"sh", "-c", cmd}, 600000, &err);
  if (!r) return "error: " + err;
  std::string out = r->stdout_str ? r->stdout_str : "";
  if (r->stderr_str) out += r->stderr_str;
  proto_reply_free(r);
  return out;
}

bool PushProbe(struct vm* v, const std::string& bytes) {
  std::string b64 = akvm::Base64(bytes), err;
  struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
  a.id = "probe";
  a.type = "write_file";
  a.path = "/tmp/net_probe";
  a.content_base64 = b64.c_str();
  struct proto_reply* r = akvm::Call(vm_vsock_uds(v), a, 60000, &err);
  if (!r) return false;
  proto_reply_free(r);
  return GuestRun(v, "chmod 755 /tmp/net_probe && echo done").find("done") != std::string::npos;
}

struct Figures {
  std::vector<double> mibps, p50_ms, p99_ms, mean_ms;
};

void Measure(struct vm* v, Figures* f) {
  std::string port = std::to_string(kPort);
  std::istringstream s(GuestRun(v, "/tmp/net_probe send 198.18.0.1 " + port + " " + std::to_string(g_mib)));
  std::string tag;
  double x = 0;
  if (s >> tag >> x && tag == "send_mibps") f->mibps.push_back(x);
  std::istringstream c(
      GuestRun(v, "/tmp/net_probe connect 198.18.0.1 " + port + " " + std::to_string(g_connects)));
  double p50 = 0, p99 = 0, mean = 0;
  int ok = 0, n = 0;
  if (c >> tag >> p50 >> p99 >> ok >> n >> mean && tag == "connect_us" && ok == n) {
    f->p50_ms.push_back(p50 / 1000);
    f->p99_ms.push_back(p99 / 1000);
    f->mean_ms.push_back(mean / 1000);
  }
}

double Mid(const std::vector<double>& v) { return P(v, 0.5); }

void Report(const char* name, const Figures& a, const char* base_name, const Figures& b) {
  for (size_t i = 0; i < a.mibps.size() && i < b.mibps.size(); i++)
    printf("    run %zu: %.2f vs %.2f MiB/s (%.2fx); connect p50 %.3f vs %.3f ms, p99 %.3f vs %.3f ms\n", i + 1,
           a.mibps[i], b.mibps[i], a.mibps[i] / b.mibps[i], i < a.p50_ms.size() ? a.p50_ms[i] : 0,
           i < b.p50_ms.size() ? b.p50_ms[i] : 0, i < a.p99_ms.size() ? a.p99_ms[i] : 0,
           i < b.p99_ms.size() ? b.p99_ms[i] : 0);
  char note[96];
  double ratio = Mid(b.mibps) > 0 ? Mid(a.mibps) / Mid(b.mibps) : 0;
  snprintf(note, sizeof(note), "ratio %.2fx (target >= 0.8x)", ratio);
  Row((std::string(name) + " throughput").c_str(), Mid(a.mibps), "MiB/s", base_name, Mid(b.mibps), note);
  snprintf(note, sizeof(note), "%+.3f ms (target <= +1 ms)", Mid(a.p50_ms) - Mid(b.p50_ms));
  Row((std::string(name) + " connect p50").c_str(), Mid(a.p50_ms), "ms", base_name, Mid(b.p50_ms), note);
  Row((std::string(name) + " connect p99").c_str(), Mid(a.p99_ms), "ms", base_name, Mid(b.p99_ms));
  snprintf(note, sizeof(note), "%+.3f ms", Mid(a.mean_ms) - Mid(b.mean_ms));
  Row((std::string(name) + " connect mean").c_str(), Mid(a.mean_ms), "ms", base_name, Mid(b.mean_ms), note);
}

struct vm* Boot(const char* tag, const akvm::BootOptions& o, const std::string& probe, std::string* dir) {
  std::string skip, error;
  *dir = akvm::MakeTempDir(tag);
  struct vm* v = akvm::BootVm("base", *dir, true, o, &skip, &error);
  if (!v) {
    fprintf(stderr, "%s: %s\n", tag, (skip.empty() ? error : skip).c_str());
    return nullptr;
  }
  if (!PushProbe(v, probe)) {
    fprintf(stderr, "%s: could not copy net_probe into the guest\n", tag);
    vm_free(v);
    return nullptr;
  }
  return v;
}

void BenchVms(const std::string& probe) {
  std::string d1, d2, d3;
  akvm::BootOptions policy, open;
  open.no_jail = true;
  struct vm* vp = Boot("aknbp", policy, probe, &d1);
  struct vm* vu = vp ? Boot("aknbu", open, probe, &d2) : nullptr;
  if (vp && vu) {
    // Under a loaded TCG host the guest may mark its TSC unstable and fall
    // back to jiffies (4 ms steps): then p50/p99 are quantized, the mean is
    // what to read.
    std::string cs = GuestRun(vp, "cat /sys/devices/system/clocksource/clocksource0/current_clocksource");
    printf("guest clocksource: %s", cs.c_str());
    Figures fp, fu;
    for (int i = 0; i < g_runs; i++) {  // interleaved, so drift hits both
      Measure(vp, &fp);
      Measure(vu, &fu);
    }
    printf("guest -> akb-inet 198.18.0.1 (%d MiB on one connection; %d connects), median of %d runs:\n", g_mib,
           g_connects, g_runs);
    Report("policy path", fp, "unrestricted (no_jail)", fu);
  }
  if (vu) vm_free(vu);
  if (!d2.empty()) akvm::RemoveDir(d2);
  // 128 egress entries that all miss: every packet slirp sends walks them.
  std::vector<std::string> allow, deny;
  for (int i = 0; i < VMM_NET_MAX_EGRESS; i++) {
    allow.push_back("192.0.2." + std::to_string(i) + "/32");
    deny.push_back("203.0.113." + std::to_string(i) + "/32");
  }
  std::vector<const char*> a, d;
  for (auto& s : allow) a.push_back(s.c_str());
  for (auto& s : deny) d.push_back(s.c_str());
  const struct vmm_net_egress e = {a.data(), a.size(), d.data(), d.size(), nullptr, 0};
  akvm::BootOptions rules;
  rules.egress = &e;
  struct vm* vr = vp ? Boot("aknbr", rules, probe, &d3) : nullptr;
  if (vp && vr) {
    Figures fr, fp;
    for (int i = 0; i < g_runs; i++) {
      Measure(vr, &fr);
      Measure(vp, &fp);
    }
    printf("\na sandbox egress policy of %d entries (none matching) vs none, median of %d runs:\n",
           2 * VMM_NET_MAX_EGRESS, g_runs);
    Report("128 entries", fr, "policy path, no entries", fp);
  }
  if (vr) vm_free(vr);
  if (vp) vm_free(vp);
  for (auto* s : {&d1, &d3})
    if (!s->empty()) akvm::RemoveDir(*s);
}

// ---------------------------------------------------------------- nft only

// akb-c (198.18.2.2) -- veth -- akb-s (198.18.2.1, the sink).
bool NsPair() {
  return Sh("ip netns add akb-c") == 0 && Sh("ip netns add akb-s") == 0 &&
         Sh("ip -n akb-c link add eth0 type veth peer name eth0 netns akb-s") == 0 &&
         Sh("ip -n akb-c addr add 198.18.2.2/24 dev eth0") == 0 && Sh("ip -n akb-s addr add 198.18.2.1/24 dev eth0") == 0 &&
         Sh("ip -n akb-c link set eth0 up") == 0 && Sh("ip -n akb-s link set eth0 up") == 0 &&
         Sh("ip -n akb-c link set lo up") == 0 && Sh("ip -n akb-s link set lo up") == 0;
}

// The client namespace's output chain: none, n `ip daddr X drop` rules, or
// one set of n elements.
bool LoadRules(int n, bool as_set) {
  std::string path = "/tmp/akb-rules.nft";
  std::ofstream f(path);
  f << "table inet akb {}\ndelete table inet akb\n";
  if (n > 0) {
    f << "table inet akb {\n";
    std::vector<std::string> addrs;
    for (int i = 0; i < n; i++)
      addrs.push_back("10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".1");
    if (as_set) {
      f << "\tset deny { type ipv4_addr; elements = { ";
      for (int i = 0; i < n; i++) f << (i ? ", " : "") << addrs[i];
      f << " } }\n";
    }
    f << "\tchain output {\n\t\ttype filter hook output priority filter; policy accept;\n";
    if (as_set)
      f << "\t\tip daddr @deny drop\n";
    else
      for (auto& a : addrs) f << "\t\tip daddr " << a << " drop\n";
    f << "\t}\n}\n";
  }
  f.close();
  int r = Sh("ip netns exec akb-c nft -f " + path);
  unlink(path.c_str());
  return r == 0;
}

struct NsFigures {
  double p50_us = 0, p99_us = 0, mibps = 0;
};

NsFigures NsMeasure() {
  NsFigures out;
  InNetns("akb-c", [&] {
    struct sockaddr_in sa = {};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(kPort);
    inet_pton(AF_INET, "198.18.2.1", &sa.sin_addr);
    std::vector<double> us;
    for (int i = 0; i < 2000; i++) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      uint64_t t0 = ak_mono_ns();
      if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) us.push_back((ak_mono_ns() - t0) / 1e3);
      close(fd);
    }
    out.p50_us = P(us, 0.5);
    out.p99_us = P(us, 0.99);
    static char buf[1 << 16];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    uint64_t t0 = ak_mono_ns(), bytes = 512ull << 20;
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) {
      uint64_t left = bytes;
      while (left > 0) {
        ssize_t w = write(fd, buf, std::min<uint64_t>(left, sizeof(buf)));
        if (w <= 0) break;
        left -= w;
      }
      shutdown(fd, SHUT_WR);
      char r[8];
      if (left == 0 && read(fd, r, sizeof(r)) > 0) out.mibps = (bytes >> 20) / ((ak_mono_ns() - t0) / 1e9);
    }
    close(fd);
  });
  return out;
}

void BenchNft() {
  if (!NsPair()) {
    printf("nft rules: could not make namespaces akb-c/akb-s\n");
    return;
  }
  Sink sink("akb-s", "198.18.2.1");
  if (!sink.ok()) return;
  printf("\nnft output chain in a namespace, no VM (2000 connects, 512 MiB over a veth), per run:\n");
  std::vector<double> p0, p1, ps, t0, t1, ts;
  for (int i = 0; i < g_runs; i++) {
    NsFigures f0, f1, fs;
    if (LoadRules(0, false)) f0 = NsMeasure();
    if (LoadRules(1000, false)) f1 = NsMeasure();
    if (LoadRules(1000, true)) fs = NsMeasure();
    printf("    run %d: connect p50 %.1f / %.1f / %.1f us, p99 %.1f / %.1f / %.1f us; %.0f / %.0f / %.0f MiB/s "
           "(0 rules / 1000 rules / 1000-element set)\n",
           i + 1, f0.p50_us, f1.p50_us, fs.p50_us, f0.p99_us, f1.p99_us, fs.p99_us, f0.mibps, f1.mibps, fs.mibps);
    p0.push_back(f0.p50_us), p1.push_back(f1.p50_us), ps.push_back(fs.p50_us);
    t0.push_back(f0.mibps), t1.push_back(f1.mibps), ts.push_back(fs.mibps);
  }
  char note[64];
  snprintf(note, sizeof(note), "%+.1f us", Mid(p1) - Mid(p0));
  Row("1000 drop rules: connect p50", Mid(p1), "us", "0 rules", Mid(p0), note);
  snprintf(note, sizeof(note), "%+.1f us", Mid(ps) - Mid(p0));
  Row("1000-element set: connect p50", Mid(ps), "us", "0 rules", Mid(p0), note);
  snprintf(note, sizeof(note), "%.2fx", Mid(t0) > 0 ? Mid(t1) / Mid(t0) : 0);
  Row("1000 drop rules: throughput", Mid(t1), "MiB/s", "0 rules", Mid(t0), note);
  snprintf(note, sizeof(note), "%.2fx", Mid(t0) > 0 ? Mid(ts) / Mid(t0) : 0);
  Row("1000-element set: throughput", Mid(ts), "MiB/s", "0 rules", Mid(t0), note);
}

std::string ReadAll(const char* path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    int v = atoi(argv[i + 1]);
    if (a == "--runs" && v > 0) g_runs = v;
    else if (a == "--connects" && v > 0) g_connects = v;
    else if (a == "--mib" && v > 0) g_mib = v;
    else {
      fprintf(stderr, "usage: net_bench [--runs N] [--connects N] [--mib N]\n");
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  if (geteuid() != 0) {
    fprintf(stderr, "net_bench: needs root (network namespaces, nftables)\n");
    return 1;
  }
  setenv("PATH", (std::string(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin") + ":/usr/sbin:/sbin").c_str(), 1);
  char probe_path[4096];
  if (binpath_find("bench/net/net_probe", "AK_NET_PROBE_BIN", probe_path, sizeof(probe_path)) < 0) {
    fprintf(stderr, "net_bench: bench/net/net_probe not found: bazel run //bench/net, or set AK_NET_PROBE_BIN\n");
    return 1;
  }
  std::string probe = ReadAll(probe_path);
  Cleanup();
  std::string forward = ReadAll("/proc/sys/net/ipv4/ip_forward");
  forward = forward.substr(0, forward.find('\n'));
  if (Sh("ip netns add akb-inet") != 0 || Sh("ip link add akb-i0 type veth peer name eth0 netns akb-inet") != 0 ||
      Sh("ip addr add 198.18.0.2/24 dev akb-i0") != 0 || Sh("ip link set akb-i0 up") != 0 ||
      Sh("ip -n akb-inet addr add 198.18.0.1/24 dev eth0") != 0 || Sh("ip -n akb-inet link set eth0 up") != 0 ||
      Sh("ip -n akb-inet link set lo up") != 0 || Sh("sysctl -qw net.ipv4.ip_forward=1") != 0) {
    fprintf(stderr, "net_bench: could not make namespace akb-inet (ip, sysctl)\n");
    Cleanup();
    return 1;
  }
  int rc = 0;
  {
    Sink inet("akb-inet", "198.18.0.1");
    printf("bench/net (each figure | its baseline from the same run)\n\n");
    if (inet.ok())
      BenchVms(probe);
    else
      rc = 1;
    BenchNft();
  }
  Sh("sysctl -qw net.ipv4.ip_forward=" + forward);
  Cleanup();
  return rc;
}
