// bench/executor: ak-executor as a real process with real microVMs.
//   1. CreateSandbox served by the warm pool vs a cold boot, in the same run
//      (cold first in each round, while the pool is full and idle).
//   2. Exec round trip through the executor (gRPC stream, `true`) vs the
//      floor: the same command straight to the guest over its hybrid vsock
//      socket (connect, CONNECT line, one frame each way), interleaved.
//   3. Host memory per idle VM: PSS of each QEMU process the executor owns.
//   4. With --hold N (default 50): N sandboxes at once, created by 8 clients
//      in parallel, then `true` exec'd in all of them at the same moment;
//      errors counted, host memory measured (QEMU PSS and MemAvailable), and
//      what that says about one 24 GiB machine.
//
// bazel run -c opt //bench/executor -- [--rounds N] [--iterations N] [--hold N]
// Images: $AK_TEST_IMAGES or /var/tmp/ak-test-images (as the VM tests).
#include <dirent.h>
#include <poll.h>
#include <spawn.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "lib/base/time.h"
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/executor.pb-c.h"
#include "tests/testing/host_guest.h"
}
#include "tests/testing/service_process.h"

using aktest::ServiceProcess;
using aktest::Runfile;
using aktest::Slurp;

extern char** environ;

namespace {

struct rpc_channel* ch;

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  return v[i];
}

[[noreturn]] void Die(const std::string& what) {
  fprintf(stderr, "executor_bench: %s\n", what.c_str());
  exit(1);
}

// nullptr and *why on failure when why is given; otherwise failures end the run.
ProtobufCMessage* Unary(const char* method, const ProtobufCMessage* req, std::string* why = nullptr) {
  struct ak_error err = {};
  struct rpc_call_options o = {};
  o.timeout_ms = 300000;
  ProtobufCMessage* resp = nullptr;
  if (rpc_unary(ch, &ak__v1__executor__descriptor, method, req, &o, &resp, &err) != RPC_OK) {
    if (!why) Die(std::string(method) + ": " + err.msg);
    *why = std::string(method) + ": " + err.msg;
    return nullptr;
  }
  return resp;
}

// Creates a moderate sandbox; network off makes it a shape no pool holds.
bool Create(const char* name, bool pool_shape) {
  Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
  spec.name = const_cast<char*>(name);
  spec.persistent = true;
  if (!pool_shape) spec.network = AK__V1__NETWORK__NETWORK_OFF;
  Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
  cr.spec = &spec;
  auto* sb = reinterpret_cast<Ak__V1__Sandbox*>(Unary("CreateSandbox", &cr.base));
  bool from_pool = sb->from_pool;
  protobuf_c_message_free_unpacked(&sb->base, nullptr);
  return from_pool;
}

void Remove(const char* name) {
  Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
  rm.name = const_cast<char*>(name);
  protobuf_c_message_free_unpacked(Unary("RemoveSandbox", &rm.base), nullptr);
}

std::string accel;

uint32_t PoolReady() {
  Ak__V1__GetExecutorStatusRequest sr = AK__V1__GET_EXECUTOR_STATUS_REQUEST__INIT;
  auto* st = reinterpret_cast<Ak__V1__ExecutorStatus*>(Unary("GetStatus", &sr.base));
  uint32_t n = st->n_pools ? st->pools[0]->ready : 0;
  accel = st->accel;
  protobuf_c_message_free_unpacked(&st->base, nullptr);
  return n;
}

void WaitPool() {
  for (int i = 0; i < 3000 && PoolReady() < 1; i++) usleep(100000);
  if (PoolReady() < 1) Die("the warm pool never filled");
}

// The command's exit code, or -1 with *why (when given) on a failed call.
int ExecTrue(const char* sandbox, std::string* why = nullptr, bool sudo = false) {
  Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
  const char* argv[] = {"true"};
  req.sandbox = const_cast<char*>(sandbox);
  req.sudo = sudo;
  req.argv = const_cast<char**>(argv);
  req.n_argv = 1;
  struct rpc_stream* st = nullptr;
  struct ak_error err = {};
  struct rpc_call_options o = {};
  o.timeout_ms = 60000;
  if (rpc_stream_open(ch, &ak__v1__executor__descriptor, "Exec", &req.base, &o, &st, &err) != RPC_OK) {
    if (!why) Die(std::string("Exec: ") + err.msg);
    *why = std::string("Exec: ") + err.msg;
    return -1;
  }
  int exit_code = -1, r;
  ProtobufCMessage* m = nullptr;
  while ((r = rpc_stream_next(st, &m, &err)) > 0) {
    auto* c = reinterpret_cast<Ak__V1__OutputChunk*>(m);
    if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_RESULT) exit_code = c->result->exit_code;
    protobuf_c_message_free_unpacked(m, nullptr);
  }
  rpc_stream_free(st);
  if (r < 0) {
    if (!why) Die(std::string("Exec: ") + err.msg);
    *why = std::string("Exec: ") + err.msg;
    return -1;
  }
  return exit_code;
}

// The floor: the guest protocol by hand on the hybrid vsock socket.
bool ReadN(int fd, void* p, size_t n) {
  char* b = static_cast<char*>(p);
  while (n) {
    struct pollfd pf = {fd, POLLIN, 0};
    if (poll(&pf, 1, 30000) <= 0) return false;
    ssize_t r = read(fd, b, n);
    if (r <= 0) return false;
    b += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// One run request (cmd_json, plus extra fields such as ,"stream":true); the
// reply frame. A streamed run of a command with no output is one frame too.
std::string GuestRun(const std::string& uds, const std::string& cmd_json, const std::string& extra = "") {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {};
  a.sun_family = AF_UNIX;
  snprintf(a.sun_path, sizeof(a.sun_path), "%s", uds.c_str());
  std::string reply;
  if (connect(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof(a)) == 0 &&
      write(fd, "CONNECT 52000\n", 14) == 14) {
    char c = 0;
    while (ReadN(fd, &c, 1) && c != '\n') {
    }
    std::string body = R"({"id":"b","type":"run","command":)" + cmd_json + extra + "}";
    uint32_t n = static_cast<uint32_t>(body.size());
    uint8_t hdr[4] = {uint8_t(n), uint8_t(n >> 8), uint8_t(n >> 16), uint8_t(n >> 24)};
    uint8_t rh[4];
    if (c == '\n' && write(fd, hdr, 4) == 4 && write(fd, body.data(), n) == static_cast<ssize_t>(n) &&
        ReadN(fd, rh, 4)) {
      uint32_t len = rh[0] | rh[1] << 8 | rh[2] << 16 | static_cast<uint32_t>(rh[3]) << 24;
      if (len <= (10u << 20)) {
        reply.resize(len);
        if (!ReadN(fd, reply.data(), len)) reply.clear();
      }
    }
  }
  close(fd);
  return reply;
}

// The sandbox's own hybrid vsock socket: the one under state/v/*/ whose
// guest holds the marker file the executor wrote.
std::string FindUds(const std::string& state, const std::string& marker) {
  DIR* d = opendir((state + "/v").c_str());
  if (!d) Die("no " + state + "/v");
  std::string found;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string uds = state + "/v/" + e->d_name + "/vsock.sock";
    std::string r = GuestRun(uds, R"(["cat",")" + marker + R"("])");
    if (r.find("\"exit_code\":0") != std::string::npos) found = uds;
  }
  closedir(d);
  return found;
}

long PssKb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string k;
  long v;
  while (f >> k) {
    if (k == "Pss:" && f >> v) return v;
  }
  return -1;
}

std::vector<pid_t> Children(pid_t pid) {
  std::vector<pid_t> out;
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/task").c_str());
  if (!d) return out;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f("/proc/" + std::to_string(pid) + "/task/" + e->d_name + "/children");
    pid_t c;
    while (f >> c) out.push_back(c);
  }
  closedir(d);
  return out;
}

long MemAvailableKb() {
  std::ifstream f("/proc/meminfo");
  std::string k;
  long v;
  while (f >> k) {
    if (k == "MemAvailable:" && f >> v) return v;
    f.ignore(1 << 10, '\n');
  }
  return -1;
}

long VmmPssKb(pid_t executor, int* ret_n) {
  long total = 0;
  *ret_n = 0;
  for (pid_t p : Children(executor)) {
    long kb = PssKb(p);
    if (kb > 0) {
      total += kb;
      ++*ret_n;
    }
  }
  return total;
}

// N persistent moderate sandboxes at once (network off: no pool holds that
// shape, so every one is a real boot), `true` in all of them concurrently.
void Hold(int n, pid_t executor) {
  long avail0 = MemAvailableKb();
  std::atomic<int> next{0}, failed{0};
  std::mutex mu;
  std::vector<std::string> errors;
  std::vector<double> create_ms(n), exec_ms(n);
  auto fail = [&](const std::string& why) {
    failed++;
    std::lock_guard<std::mutex> g(mu);
    if (errors.size() < 5) errors.push_back(why);
  };
  double t0 = (ak_mono_ns() / 1e6);
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; t++)
    ts.emplace_back([&] {
      for (int i; (i = next++) < n;) {
        std::string name = "hold" + std::to_string(i), why;
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        spec.name = const_cast<char*>(name.c_str());
        spec.persistent = true;
        spec.network = AK__V1__NETWORK__NETWORK_OFF;
        Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
        cr.spec = &spec;
        double c0 = (ak_mono_ns() / 1e6);
        ProtobufCMessage* sb = Unary("CreateSandbox", &cr.base, &why);
        create_ms[i] = (ak_mono_ns() / 1e6) - c0;
        if (!sb) fail(name + ": " + why);
        else protobuf_c_message_free_unpacked(sb, nullptr);
      }
    });
  for (auto& t : ts) t.join();
  ts.clear();
  double all_up = ((ak_mono_ns() / 1e6) - t0) / 1e3;
  int up = n - failed.load();
  sleep(5);  // let the guests settle to idle before measuring
  int vms = 0;
  long pss = VmmPssKb(executor, &vms), avail1 = MemAvailableKb();
  std::atomic<int> exec_failed{0};
  for (int i = 0; i < n; i++)
    ts.emplace_back([&, i] {
      std::string name = "hold" + std::to_string(i), why;
      double e0 = (ak_mono_ns() / 1e6);
      int code = ExecTrue(name.c_str(), &why);
      exec_ms[i] = (ak_mono_ns() / 1e6) - e0;
      if (code != 0) {
        exec_failed++;
        fail(name + ": exec true: " + (why.empty() ? "exit " + std::to_string(code) : why));
      }
    });
  for (auto& t : ts) t.join();
  int rm_failed = 0;
  for (int i = 0; i < n; i++) {
    std::string name = "hold" + std::to_string(i), why;
    Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
    rm.name = const_cast<char*>(name.c_str());
    if (ProtobufCMessage* r = Unary("RemoveSandbox", &rm.base, &why)) protobuf_c_message_free_unpacked(r, nullptr);
    else if (i < up) rm_failed++;
  }
  printf("%d sandboxes at once (moderate, 512 MiB guests, network off, accel %s)\n", n, accel.c_str());
  printf("  up: %d of %d in %.1f s (8 clients creating; create p50 %.0f ms, max %.0f ms)\n", up, n, all_up,
         Pct(create_ms, 0.5), Pct(create_ms, 1));
  printf("  exec `true` in all %d at once: %d failed; p50 %.1f ms, max %.1f ms\n", n, exec_failed.load(),
         Pct(exec_ms, 0.5), Pct(exec_ms, 1));
  printf("  errors: %d (create + exec), %d removes failed\n", failed.load(), rm_failed);
  for (auto& e : errors) printf("    %s\n", e.c_str());
  if (vms > 0 && avail0 > 0 && avail1 > 0) {
    double per_pss = pss / 1024.0 / vms, per_avail = (avail0 - avail1) / 1024.0 / std::max(up, 1);
    printf("  host memory: QEMU PSS %.1f MiB per VM (%d VMs incl. warm pool); MemAvailable fell %.1f MiB per "
           "sandbox\n", per_pss, vms, per_avail);
    double per = std::max(per_pss, per_avail);
    printf("  one 24 GiB machine holds ~%.0f such idle sandboxes (by the larger of the two; %d if every guest "
           "touches all 512 MiB)\n", 24 * 1024 / per, 24 * 1024 / 512);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 3, iterations = 200, hold = 50;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--rounds")) rounds = std::max(1, atoi(argv[i + 1]));
    else if (!strcmp(argv[i], "--iterations")) iterations = std::max(1, atoi(argv[i + 1]));
    else if (!strcmp(argv[i], "--hold")) hold = std::max(0, atoi(argv[i + 1]));
    else Die(std::string("unknown flag ") + argv[i] + " (--rounds N, --iterations N, --hold N)");
  }
  char tmpl[] = "/tmp/akxb.XXXXXX";
  if (!mkdtemp(tmpl)) Die("mkdtemp");
  std::string dir = tmpl, state = dir + "/st";
  const char* images = getenv("AK_TEST_IMAGES");
  setenv("AK_GUEST_BIN", Runfile("guest/ak-guest").c_str(), 1);
  aktest::HostGuest hg;
  if (!hg.Start(Runfile("guest/ak-guest"), dir)) Die("could not start the host guest agent and its vsock front");
  ServiceProcess ex;
  if (!ex.Start({Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure", "--state-dir", state,
                 "--test-guest", "host=" + hg.front_sock,
                 "--images", images && *images ? images : "/var/tmp/ak-test-images", "--pool", "base/moderate",
                 "--min-warm", "1", "--max-warm", "1", "--max-age", "3600",
                 // Guests touch little of their RAM; admit the --hold phase's
                 // sandboxes (the figures below say what they really use).
                 "--capacity-vcpus", "4096", "--capacity-memory-mb", "1048576"},
                dir, "executor"))
    Die("ak-executor did not start: " + Slurp(ex.err));
  struct ak_error err = {};
  if (rpc_channel_new(ex.addr.c_str(), nullptr, &ch, &err) < 0) Die(err.msg);

  std::vector<double> hit, cold;
  for (int r = 0; r < rounds; r++) {
    WaitPool();
    std::string c = "cold" + std::to_string(r), h = "hit" + std::to_string(r);
    double t0 = (ak_mono_ns() / 1e6);
    if (Create(c.c_str(), false)) Die("a create that no pool holds came from the pool");
    cold.push_back((ak_mono_ns() / 1e6) - t0);
    Remove(c.c_str());
    t0 = (ak_mono_ns() / 1e6);
    if (!Create(h.c_str(), true)) Die("the pool was full but the create booted");
    hit.push_back((ak_mono_ns() / 1e6) - t0);
    Remove(h.c_str());
  }
  printf("create, %d rounds (accel %s)\n", rounds, accel.c_str());
  printf("  pool hit    p50 %8.2f ms  max %8.2f ms\n", Pct(hit, 0.5), Pct(hit, 1));
  printf("  cold boot   p50 %8.2f ms  max %8.2f ms   (baseline, same run)\n", Pct(cold, 0.5), Pct(cold, 1));

  WaitPool();
  Create("ex", true);
  {
    Ak__V1__WriteFileRequest w = AK__V1__WRITE_FILE_REQUEST__INIT;
    w.sandbox = const_cast<char*>("ex");
    w.path = const_cast<char*>("/tmp/bench-marker");
    w.content.data = reinterpret_cast<uint8_t*>(const_cast<char*>("x"));
    w.content.len = 1;
    protobuf_c_message_free_unpacked(Unary("WriteFile", &w.base), nullptr);
  }
  std::string uds = FindUds(state, "/tmp/bench-marker");
  if (uds.empty()) Die("could not find the sandbox's vsock socket");
  // The floor sends what the executor sends for an exec without sudo
  // (streamed output, its output limit, the sandbox user in its home); the
  // plain request, agentkernel's (root, posix_spawn), is shown beside it.
  const std::string same =
      R"(,"cwd":"/home/sandbox","env":{"HOME":"/home/sandbox","USER":"sandbox"},"stream":true,)"
      R"("max_output_bytes":10485760,"uid":1000,"gid":1000)";
  std::vector<double> via, floor, plain;
  for (int i = 0; i < 5; i++) {  // warm up every path
    ExecTrue("ex");
    GuestRun(uds, R"(["true"])", same);
    GuestRun(uds, R"(["true"])");
  }
  // The guest (one emulated vCPU) is still tidying up after a call when the
  // next one starts, so the three take turns at going first.
  for (int i = 0; i < iterations; i++) {
    for (int k = 0; k < 3; k++) {
      double t0 = (ak_mono_ns() / 1e6);
      switch ((i + k) % 3) {
        case 0:
          if (ExecTrue("ex") != 0) Die("exec true failed");
          via.push_back((ak_mono_ns() / 1e6) - t0);
          break;
        case 1:
          if (GuestRun(uds, R"(["true"])", same).find("\"exit_code\":0") == std::string::npos)
            Die("guest run true failed");
          floor.push_back((ak_mono_ns() / 1e6) - t0);
          break;
        default:
          if (GuestRun(uds, R"(["true"])").find("\"exit_code\":0") == std::string::npos)
            Die("guest run true failed");
          plain.push_back((ak_mono_ns() / 1e6) - t0);
      }
    }
  }
  printf("exec `true`, %d iterations, interleaved\n", iterations);
  printf("  via ak-executor    p50 %7.3f ms  p99 %7.3f ms\n", Pct(via, 0.5), Pct(via, 0.99));
  printf("  straight to guest  p50 %7.3f ms  p99 %7.3f ms   (floor: the same request)\n", Pct(floor, 0.5),
         Pct(floor, 0.99));
  printf("  plain guest run    p50 %7.3f ms  p99 %7.3f ms   (agentkernel's request: as root)\n", Pct(plain, 0.5),
         Pct(plain, 0.99));
  printf("  executor adds      p50 %7.3f ms\n", Pct(via, 0.5) - Pct(floor, 0.5));

  // The same without the emulated guest: what the executor itself adds.
  const std::string host_same = R"(,"env":{"HOME":"/root","USER":"root"},"stream":true,"max_output_bytes":10485760)";
  std::vector<double> hvia, hfloor;
  for (int i = 0; i < 20; i++) {
    ExecTrue("host", nullptr, true);
    GuestRun(hg.front_sock, R"(["true"])", host_same);
  }
  for (int i = 0; i < iterations; i++) {
    for (int k = 0; k < 2; k++) {
      double t0 = (ak_mono_ns() / 1e6);
      if ((i + k) % 2 == 0) {
        if (ExecTrue("host", nullptr, true) != 0) Die("exec true on the host guest failed");
        hvia.push_back((ak_mono_ns() / 1e6) - t0);
      } else {
        if (GuestRun(hg.front_sock, R"(["true"])", host_same).find("\"exit_code\":0") == std::string::npos)
          Die("host guest run true failed");
        hfloor.push_back((ak_mono_ns() / 1e6) - t0);
      }
    }
  }
  printf("exec `true` with the guest agent on the host (no VM, the same vsock front), %d iterations\n", iterations);
  printf("  via ak-executor    p50 %7.3f ms  p99 %7.3f ms\n", Pct(hvia, 0.5), Pct(hvia, 0.99));
  printf("  straight to agent  p50 %7.3f ms  p99 %7.3f ms   (floor: the same request)\n", Pct(hfloor, 0.5),
         Pct(hfloor, 0.99));
  printf("  executor adds      p50 %7.3f ms   target <= 1 ms\n", Pct(hvia, 0.5) - Pct(hfloor, 0.5));

  int n = 0;
  long total = VmmPssKb(ex.pid, &n);
  double per = n ? total / 1024.0 / n : 0.0;
  printf("host memory per idle VM (QEMU PSS, %d VMs: 1 sandbox + 1 warm)  %.1f MiB  (guest RAM 512 MiB)\n", n, per);
  if (per > 0)
    printf("one 24 GiB machine: ~%.0f idle moderate sandboxes by that PSS; %d if every guest touches all of "
           "its 512 MiB\n", 24 * 1024 / per, 24 * 1024 / 512);

  Remove("ex");
  if (hold > 0) Hold(hold, ex.pid);
  rpc_channel_free(ch);
  if (ex.Stop() != 0) fprintf(stderr, "executor_bench: ak-executor exit: %s\n", Slurp(ex.err).c_str());
  std::string rm = "rm -rf " + dir;
  if (system(rm.c_str()) != 0) fprintf(stderr, "executor_bench: could not remove %s\n", dir.c_str());
  return 0;
}
