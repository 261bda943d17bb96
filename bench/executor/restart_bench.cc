// bench/executor restart: ak-executor --vm-supervisors with N persistent
// sandboxes; the executor gets SIGTERM (odd rounds: SIGKILL) and a new one
// starts on the same state directory and address. Measured: from the
// signal to the new executor serving with all N adopted (ListSandboxes
// answers with N RUNNING: it listens only once adoption is done), and to
// every sandbox answering an exec (`true`, N clients in parallel, each
// retrying on a fresh channel until it answers) — and, as baselines in the
// same run, what the sandboxes cost without re-adoption: creating N anew
// (cold boots, 8 at a time), and the same N execs on a running executor
// (once, and again just before each round, at that moment's load); rounds
// 3-4 adopt one VM at a time (--adopt-workers 1) beside the default 16.
//
// bazel run -c opt //bench/executor:restart -- [--sandboxes N] [--rounds R] [--memory-mb M]
// (--memory-mb 80: the least the base image boots with under TCG here; 72 panics.)
// Images: $AK_TEST_IMAGES or /var/tmp/ak-test-images (as the VM tests).
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "lib/base/time.h"
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/executor.pb-c.h"
}
#include "tests/testing/service_process.h"

using aktest::ServiceProcess;
using aktest::Runfile;
using aktest::Slurp;

namespace {

// The bench's state directory and running executor, for Die's cleanup.
std::string g_dir;
std::atomic<pid_t> g_executor{-1};

// Every ak-vmm this bench started (its --dir lies under g_dir) gets
// SIGTERM (it stops its VM), then the directory goes.
void StopOwnVms() {
  if (g_dir.empty()) return;
  std::string needle = std::string("--dir") + '\0' + g_dir + "/";
  DIR* d = opendir("/proc");
  std::vector<pid_t> pids;
  for (struct dirent* e; d && (e = readdir(d));) {
    pid_t pid = static_cast<pid_t>(atoi(e->d_name));
    if (pid <= 0) continue;
    std::string cmd = Slurp("/proc/" + std::string(e->d_name) + "/cmdline");
    if (cmd.find(needle) != std::string::npos) pids.push_back(pid);
  }
  if (d) closedir(d);
  for (pid_t p : pids) kill(p, SIGTERM);
  for (int i = 0; i < 100 && !pids.empty(); i++) {
    usleep(50000);
    pids.erase(std::remove_if(pids.begin(), pids.end(), [](pid_t p) { return kill(p, 0) != 0; }), pids.end());
  }
  for (pid_t p : pids) kill(p, SIGKILL);
  std::string rm = "rm -rf " + g_dir;
  if (system(rm.c_str()) != 0) fprintf(stderr, "restart_bench: could not remove %s\n", g_dir.c_str());
}

[[noreturn]] void Die(const std::string& what) {
  fprintf(stderr, "restart_bench: %s\n", what.c_str());
  pid_t ex = g_executor;
  if (ex > 0) {
    kill(ex, SIGKILL);
    waitpid(ex, nullptr, 0);
  }
  StopOwnVms();
  exit(1);
}

// One call on a fresh channel (a failed channel backs off before it tries
// again; a new one does not). RPC_OK or the code.
int Call(const std::string& addr, const char* method, const ProtobufCMessage* req, std::string* why) {
  struct rpc_channel* ch = nullptr;
  struct ak_error err = {};
  if (rpc_channel_new(addr.c_str(), nullptr, &ch, &err) < 0) {
    *why = err.msg;
    return RPC_UNAVAILABLE;
  }
  struct rpc_call_options o = {};
  o.timeout_ms = 300000;
  int code;
  if (strcmp(method, "Exec") == 0) {
    struct rpc_stream* st = nullptr;
    code = rpc_stream_open(ch, &ak__v1__executor__descriptor, method, req, &o, &st, &err);
    ProtobufCMessage* m = nullptr;
    int r = 0, exit_code = -1;
    while (code == RPC_OK && (r = rpc_stream_next(st, &m, &err)) > 0) {
      auto* c = reinterpret_cast<Ak__V1__OutputChunk*>(m);
      if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_RESULT && c->result) exit_code = c->result->exit_code;
      protobuf_c_message_free_unpacked(m, nullptr);
    }
    rpc_stream_free(st);
    if (code == RPC_OK && (r < 0 || exit_code != 0)) code = RPC_UNKNOWN;
  } else {
    ProtobufCMessage* resp = nullptr;
    code = rpc_unary(ch, &ak__v1__executor__descriptor, method, req, &o, &resp, &err);
    if (resp) protobuf_c_message_free_unpacked(resp, nullptr);
  }
  rpc_channel_free(ch);
  *why = err.msg;
  return code;
}

// The 1-minute load average now, as /proc/loadavg says it.
std::string Load() {
  std::string l = Slurp("/proc/loadavg");
  return l.substr(0, l.find(' '));
}

std::string Name(int i) { return "rs" + std::to_string(i); }

// Runs f(i) for i in [0, n) on `par` threads.
template <typename F>
void Parallel(int n, int par, F f) {
  std::atomic<int> next{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < par; t++)
    ts.emplace_back([&] {
      for (int i; (i = next++) < n;) f(i);
    });
  for (auto& t : ts) t.join();
}

// `true` in every sandbox, each retried until it answers (deadline_ms).
// Milliseconds until the last answered.
double ExecAll(const std::string& addr, int n, int64_t t0, int64_t deadline_ms) {
  std::atomic<int> failed{0};
  Parallel(n, n, [&](int i) {
    std::string name = Name(i), why;
    const char* argv[] = {"true"};
    Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
    req.sandbox = const_cast<char*>(name.c_str());
    req.argv = const_cast<char**>(argv);
    req.n_argv = 1;
    while (Call(addr, "Exec", &req.base, &why) != RPC_OK) {
      if (ak_mono_ms() - t0 > deadline_ms) {
        failed++;
        return;
      }
      usleep(2000);
    }
  });
  if (failed) Die(std::to_string(failed.load()) + " sandboxes did not answer");
  return static_cast<double>(ak_mono_ms() - t0);
}

// Polls ListSandboxes (a fresh channel each time) from t0 until it answers
// with at least n sandboxes RUNNING: the new executor listens only after
// it has adopted every VM, so this is when adoption was done. Milliseconds
// since t0; the RUNNING count seen last into *running.
double WaitAdopted(const std::string& addr, int n, int64_t t0, int64_t deadline_ms, int* running) {
  for (;;) {
    struct rpc_channel* ch = nullptr;
    struct ak_error err = {};
    ProtobufCMessage* resp = nullptr;
    Ak__V1__ListSandboxesRequest req = AK__V1__LIST_SANDBOXES_REQUEST__INIT;
    struct rpc_call_options o = {};
    o.timeout_ms = 30000;
    if (rpc_channel_new(addr.c_str(), nullptr, &ch, &err) == 0 &&
        rpc_unary(ch, &ak__v1__executor__descriptor, "ListSandboxes", &req.base, &o, &resp, &err) == RPC_OK) {
      auto* l = reinterpret_cast<Ak__V1__ListSandboxesResponse*>(resp);
      *running = 0;
      for (size_t i = 0; i < l->n_sandboxes; i++)
        if (l->sandboxes[i]->state == AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING) (*running)++;
    }
    if (resp) protobuf_c_message_free_unpacked(resp, nullptr);
    rpc_channel_free(ch);
    if (*running >= n || ak_mono_ms() - t0 > deadline_ms) return static_cast<double>(ak_mono_ms() - t0);
    usleep(2000);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int n = 8, rounds = 3, memory_mb = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--sandboxes")) n = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--memory-mb")) memory_mb = atoi(argv[i + 1]);
    else Die(std::string("unknown flag ") + argv[i] + " (want --sandboxes N, --rounds R, --memory-mb M)");
  }
  if (n < 1 || n > 200 || rounds < 1 || rounds > 20 || memory_mb < 0 || memory_mb > 4096)
    Die("--sandboxes 1..200, --rounds 1..20, --memory-mb 0 (the default) or 64..4096");
  const char* images = getenv("AK_TEST_IMAGES") ? getenv("AK_TEST_IMAGES") : "/var/tmp/ak-test-images";
  char tmpl[] = "/tmp/akrbXXXXXX";
  if (!mkdtemp(tmpl)) Die("mkdtemp");
  std::string dir = tmpl;
  g_dir = dir;
  setenv("AK_GUEST_BIN", Runfile("guest/ak-guest").c_str(), 1);
  setenv("AK_VMM_BIN", Runfile("vmm/ak-vmm").c_str(), 1);
  std::vector<std::string> args = {Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure",
                                   "--state-dir", dir + "/st", "--images", images, "--min-warm", "0",
                                   "--capacity-vcpus", "256", "--capacity-memory-mb", "262144", "--vm-supervisors"};
  auto ex = std::make_unique<ServiceProcess>();
  if (!ex->Start(args, dir, "executor0")) Die("start: " + Slurp(ex->err));
  g_executor = ex->pid;
  std::string addr = ex->addr;
  args[2] = addr;  // restarts listen where clients know it

  // Baseline 1: N sandboxes created anew (what a restart costs without re-adoption).
  int64_t t0 = ak_mono_ms();
  std::atomic<int> bad{0}, refused{0}, retried{0};
  Parallel(n, 8, [&](int i) {
    std::string name = Name(i), why;
    Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
    spec.name = const_cast<char*>(name.c_str());
    spec.persistent = true;
    spec.network = AK__V1__NETWORK__NETWORK_OFF;
    spec.memory_mb = static_cast<uint64_t>(memory_mb);
    Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
    cr.spec = &spec;
    int code, failures = 0;
    // The executor refuses while boots make memory pressure (PSI): as a
    // client of a busy node would, wait and ask again (10 minutes at most).
    // A boot that failed (a guest too slow to answer on an overloaded
    // machine) is tried again, twice at most.
    for (int64_t t = ak_mono_ms(); (code = Call(addr, "CreateSandbox", &cr.base, &why)) != RPC_OK &&
                                   ak_mono_ms() - t < 600000;) {
      if (code != RPC_RESOURCE_EXHAUSTED && ++failures > 2) break;
      if (code != RPC_RESOURCE_EXHAUSTED) {
        // The failed sandbox stays listed (in ERROR) until removed.
        fprintf(stderr, "create %s (removed, tried again): %s\n", name.c_str(), why.c_str());
        Ak__V1__RemoveSandboxRequest rr = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
        rr.name = const_cast<char*>(name.c_str());
        std::string rwhy;
        Call(addr, "RemoveSandbox", &rr.base, &rwhy);
        retried++;
      } else {
        refused++;
      }
      sleep(2);
    }
    if (code != RPC_OK) {
      fprintf(stderr, "create %s: %s\n", name.c_str(), why.c_str());
      bad++;
    }
  });
  if (bad) Die("creates failed");
  double create_ms = static_cast<double>(ak_mono_ms() - t0);
  // Baseline 2: the same execs on a running executor.
  double steady_ms = ExecAll(addr, n, ak_mono_ms(), 60000);
  std::string cpu = Slurp("/proc/cpuinfo");
  bool kvm = access("/dev/kvm", R_OK | W_OK) == 0 &&
             (cpu.find(" vmx") != std::string::npos || cpu.find(" svm") != std::string::npos);
  printf("executor restart, %d sandboxes (%s)\n", n, kvm ? "KVM" : "TCG: no hardware virtualisation");
  printf("  baseline: create %d anew (cold boots, 8 at a time)  %8.0f ms  (guest %d MiB, load %s, %d refusals "
         "for memory pressure waited out, %d failed boots tried again)\n", n, create_ms, memory_mb, Load().c_str(),
         refused.load(), retried.load());
  fflush(stdout);
  printf("  baseline: exec in all %d, executor running          %8.0f ms\n", n, steady_ms);

  args.push_back("--adopt-workers");
  args.push_back("16");
  for (int r = 0; r < rounds; r++) {
    bool kill9 = r % 2 == 1;
    // Rounds 1-2 (5-6, ...) adopt 16 VMs at once, the default; rounds 3-4
    // one at a time, as before: the same-run baseline of the parallel
    // adoption.
    int workers = (r / 2) % 2 == 0 ? 16 : 1;
    args.back() = std::to_string(workers);
    // The floor at this moment's load: the same execs, nothing restarted.
    double before_ms = ExecAll(addr, n, ak_mono_ms(), 120000);
    int64_t start = ak_mono_ms();
    if (kill9) {
      kill(ex->pid, SIGKILL);
      waitpid(ex->pid, nullptr, 0);
      ex->pid = -1;
    } else if (ex->Stop() != 0) {
      Die("SIGTERM: the executor did not exit 0: " + Slurp(ex->err));
    }
    int64_t exited = ak_mono_ms();
    auto next = std::make_unique<ServiceProcess>();
    std::thread starter([&] {
      if (!next->Start(args, dir, "executor" + std::to_string(r + 1))) Die("restart: " + Slurp(next->err));
      g_executor = next->pid;
    });
    int running = 0;
    double adopted_ms = WaitAdopted(addr, n, start, 120000, &running);
    if (running < n) Die(std::to_string(running) + " of " + std::to_string(n) + " sandboxes RUNNING after restart");
    double all_ms = ExecAll(addr, n, start, 120000);
    starter.join();
    // The executor's own figure: its log line "sandboxes adopted ... duration_ms=N".
    std::string log = Slurp(next->err);
    size_t at = log.find("sandboxes adopted");
    at = at == std::string::npos ? at : log.find("duration_ms", at);
    long inside_ms = at == std::string::npos ? -1 : atol(log.c_str() + at + strlen("duration_ms") + 2);
    printf("  round %d (%s, --adopt-workers %2d): exited %4lld ms, serving with all %d adopted %6.0f ms (adoption "
           "itself %ld ms), every sandbox answered exec %6.0f ms after the signal; the same execs just before: "
           "%6.0f ms (load %s)\n",
           r + 1, kill9 ? "SIGKILL" : "SIGTERM", workers, static_cast<long long>(exited - start), n, adopted_ms,
           inside_ms, all_ms, before_ms, Load().c_str());
    fflush(stdout);
    ex = std::move(next);
  }
  Parallel(n, 8, [&](int i) {
    std::string name = Name(i), why;
    Ak__V1__RemoveSandboxRequest rr = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
    rr.name = const_cast<char*>(name.c_str());
    Call(addr, "RemoveSandbox", &rr.base, &why);
  });
  ex->Stop();
  StopOwnVms();
  return 0;
}
