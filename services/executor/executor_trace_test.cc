// A request id and W3C traceparent from the client travel through
// ak-scheduler to ak-executor: the executor's JSON log line for the exec
// and the command_executed audit event (written by ak-auditor to a file)
// carry them; an invalid traceparent is dropped on the way, and a call
// without an id gets one the scheduler made, the same in the executor's
// line. ak-gateway takes X-Request-Id and traceparent from HTTP clients,
// sends them on the same way, and answers with X-Request-Id. Real processes
// on loopback; the sandbox is ak-guest on the host behind ak-executor's
// --test-guest seam (no VM).
//
// Every service of the stack (and ak-signer beside it) runs with
// --log-format json: each one's stderr is checked line by line
// (tests/testing/json_log.h) after the calls above, and again after SIGTERM.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

extern "C" {
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/scheduler.pb-c.h"
}
#include "tests/testing/host_guest.h"
#include "tests/testing/json_log.h"
#include "tests/testing/service_process.h"
#include "vmm/testing/vm_fixture.h"

using aktest::Runfile;
using aktest::ServiceProcess;
using aktest::Slurp;

namespace {

const char kTp[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const char kTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";

class ExecutorTraceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = akvm::MakeTempDir("akxt");
    out_ = dir_ + "/audit.jsonl";
    aktest::WriteFile(dir_ + "/audit.json",
                      R"({"destination":{"type":"file","path":")" + out_ +
                          R"("},"batch_size":1,"flush_interval_secs":1})");
    aud_ = new ServiceProcess;
    ASSERT_TRUE(aud_->Start({Runfile("services/auditor/ak-auditor"), "--listen", "127.0.0.1:0", "--insecure",
                             "--config", dir_ + "/audit.json", "--spool", dir_ + "/spool", "--log-format", "json"},
                            dir_, "auditor"))
        << Slurp(aud_->err);
    signer_ = new ServiceProcess;
    ASSERT_TRUE(signer_->Start({Runfile("services/signer/ak-signer"), "--key", dir_ + "/key.pkcs8", "--listen",
                                "127.0.0.1:0", "--insecure", "--log-format", "json"},
                               dir_, "signer"))
        << Slurp(signer_->err);
    hg_ = new aktest::HostGuest;
    ASSERT_TRUE(hg_->Start(Runfile("guest/ak-guest"), dir_));
    sched_ = new ServiceProcess;
    ASSERT_TRUE(sched_->Start({Runfile("services/scheduler/ak-scheduler"), "--listen", "127.0.0.1:0", "--insecure",
                               "--heartbeat-interval-ms", "300", "--log-format", "json", "--metrics-listen",
                               "127.0.0.1:0"},
                              dir_, "sched"))
        << Slurp(sched_->err);
    ex_ = new ServiceProcess;
    ASSERT_TRUE(ex_->Start({Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure",
                            "--state-dir", dir_ + "/st", "--images", dir_ + "/images", "--min-warm", "0",
                            "--scheduler", sched_->addr, "--auditor", aud_->addr, "--signer", signer_->addr,
                            "--log-format", "json",
                            "--test-guest", "host=" + hg_->front_sock},
                           dir_, "executor"))
        << Slurp(ex_->err);
    gw_ = new ServiceProcess;
    ASSERT_TRUE(gw_->Start({Runfile("services/gateway/ak-gateway"), "--scheduler", sched_->addr, "--no-auth",
                            "--listen", "127.0.0.1:0", "--log-format", "json"},
                           dir_, "gateway"))
        << Slurp(gw_->err);
    struct ak_error err = {};
    ASSERT_EQ(rpc_channel_new(sched_->addr.c_str(), nullptr, &ch_, &err), 0) << err.msg;
    // The scheduler learns the sandbox from the executor's heartbeat.
    bool known = false;
    for (int i = 0; i < 200 && !known; i++) {
      Ak__V1__GetSandboxRequest req = AK__V1__GET_SANDBOX_REQUEST__INIT;
      req.name = const_cast<char*>("host");
      ProtobufCMessage* resp = nullptr;
      struct rpc_call_options o = {};
      o.timeout_ms = 5000;
      known = rpc_unary(ch_, &ak__v1__scheduler__descriptor, "GetSandbox", &req.base, &o, &resp, &err) == RPC_OK;
      if (resp) protobuf_c_message_free_unpacked(resp, nullptr);
      if (!known) usleep(50000);
    }
    ASSERT_TRUE(known) << err.msg << "\n" << Slurp(ex_->err);
  }
  static void TearDownTestSuite() {
    rpc_channel_free(ch_);
    // Their shutdown lines too keep the JSON contract.
    const char* names[] = {"ak-gateway", "ak-executor", "ak-scheduler", "ak-signer", "ak-auditor"};
    int i = 0;
    for (ServiceProcess* p : {gw_, ex_, sched_, signer_, aud_}) {
      if (p) {
        EXPECT_EQ(p->Stop(), 0) << Slurp(p->err);
        EXPECT_EQ(aktest::JsonLogProblem(Slurp(p->err), names[i]), "") << names[i];
      }
      delete p;
      i++;
    }
    delete hg_;
    akvm::RemoveDir(dir_);
  }

  // Scheduler.Exec of `echo <word>` in "host" with these trace options;
  // true when it ends with exit code 0.
  static bool Exec(const char* id, const char* tp, const char* word) {
    Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
    char* argv[] = {const_cast<char*>("echo"), const_cast<char*>(word)};
    req.sandbox = const_cast<char*>("host");
    req.argv = argv;
    req.n_argv = 2;
    struct rpc_call_options o = {};
    o.timeout_ms = 30000;
    o.request_id = id;
    o.traceparent = tp;
    struct rpc_stream* st = nullptr;
    struct ak_error err = {};
    EXPECT_EQ(rpc_stream_open(ch_, &ak__v1__scheduler__descriptor, "Exec", &req.base, &o, &st, &err), RPC_OK)
        << err.msg;
    int exit_code = -100;
    ProtobufCMessage* msg = nullptr;
    int r = -1;
    while (st && (r = rpc_stream_next(st, &msg, &err)) == 1) {
      auto* c = reinterpret_cast<Ak__V1__OutputChunk*>(msg);
      if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_RESULT) exit_code = c->result->exit_code;
      protobuf_c_message_free_unpacked(msg, nullptr);
    }
    EXPECT_EQ(r, 0) << err.msg;
    rpc_stream_free(st);
    return exit_code == 0;
  }

  // The first line of `path` holding every one of `parts`, waiting up to 20 s.
  static std::string WaitLine(const std::string& path, const std::vector<std::string>& parts) {
    for (int i = 0; i < 200; i++) {
      std::string all = Slurp(path);
      size_t at = 0;
      while (at < all.size()) {
        size_t nl = all.find('\n', at);
        std::string line = all.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
        bool every = true;
        for (const std::string& p : parts) every = every && line.find(p) != std::string::npos;
        if (every) return line;
        if (nl == std::string::npos) break;
        at = nl + 1;
      }
      usleep(100000);
    }
    return "";
  }

  // One HTTP/1.1 request to the gateway with `headers` (each "K: V\r\n");
  // the whole response as text.
  static std::string Http(const std::string& method, const std::string& path, const std::string& headers,
                          const std::string& body) {
    size_t colon = gw_->addr.rfind(':');
    struct sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(atoi(gw_->addr.c_str() + colon + 1)));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof(a)) < 0) {
      if (fd >= 0) close(fd);
      ADD_FAILURE() << "cannot connect to the gateway at " << gw_->addr;
      return "";
    }
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" + headers +
                      "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\n\r\n" + body;
    EXPECT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
    std::string got;
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) got.append(buf, static_cast<size_t>(n));
    close(fd);
    return got;
  }

  static std::string dir_, out_;
  static ServiceProcess *aud_, *signer_, *sched_, *ex_, *gw_;
  static aktest::HostGuest* hg_;
  static struct rpc_channel* ch_;
};

std::string ExecutorTraceTest::dir_, ExecutorTraceTest::out_;
ServiceProcess *ExecutorTraceTest::aud_, *ExecutorTraceTest::signer_, *ExecutorTraceTest::sched_,
    *ExecutorTraceTest::ex_, *ExecutorTraceTest::gw_;
aktest::HostGuest* ExecutorTraceTest::hg_;
struct rpc_channel* ExecutorTraceTest::ch_;

TEST_F(ExecutorTraceTest, RequestIdAndTraceparentReachTheExecLogAndTheAuditEvent) {
  ASSERT_TRUE(Exec("trace-t1", kTp, "one"));
  std::string log = WaitLine(ex_->err, {"\"msg\":\"exec\"", "\"request_id\":\"trace-t1\""});
  ASSERT_FALSE(log.empty()) << Slurp(ex_->err);
  EXPECT_NE(log.find("\"sandbox\":\"host\""), std::string::npos) << log;
  EXPECT_NE(log.find(std::string("\"trace_id\":\"") + kTraceId + "\""), std::string::npos) << log;
  std::string ev = WaitLine(out_, {"command_executed", "\"request_id\":\"trace-t1\""});
  ASSERT_FALSE(ev.empty()) << Slurp(out_);
  EXPECT_NE(ev.find(std::string("\"traceparent\":\"") + kTp + "\""), std::string::npos) << ev;
}

TEST_F(ExecutorTraceTest, InvalidTraceparentIsDropped) {
  ASSERT_TRUE(Exec("trace-t2", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "two"));
  std::string log = WaitLine(ex_->err, {"\"msg\":\"exec\"", "\"request_id\":\"trace-t2\""});
  ASSERT_FALSE(log.empty()) << Slurp(ex_->err);
  EXPECT_EQ(log.find("trace_id"), std::string::npos) << log;
  std::string ev = WaitLine(out_, {"command_executed", "\"request_id\":\"trace-t2\""});
  ASSERT_FALSE(ev.empty()) << Slurp(out_);
  EXPECT_EQ(ev.find("traceparent"), std::string::npos) << ev;
}

TEST_F(ExecutorTraceTest, ACallWithoutAnIdGetsTheSchedulersOnTheWholeWay) {
  ASSERT_TRUE(Exec(nullptr, nullptr, "three-with-a-length-of-its-own"));
  // The exec's audit event (known by its output's length, the word and a
  // newline) has the id the scheduler made; the executor's exec line has
  // the same one.
  std::string ev = WaitLine(out_, {"command_executed", "\"output_bytes\":31,", "\"request_id\":\""});
  ASSERT_FALSE(ev.empty()) << Slurp(out_);
  size_t at = ev.find("\"request_id\":\"") + 14;
  std::string id = ev.substr(at, ev.find('"', at) - at);
  EXPECT_EQ(id.size(), 36u) << ev;  // a UUIDv7
  EXPECT_FALSE(WaitLine(ex_->err, {"\"msg\":\"exec\"", "\"request_id\":\"" + id + "\""}).empty()) << Slurp(ex_->err);
}

// `ak exec` (AK_SCHEDULER: no local stack) with the environment given;
// its exit status, its stderr in *err.
int AkExec(const std::string& scheduler, const std::string& env, const std::string& word, std::string* err) {
  char tmpl[] = "/tmp/akxtcliXXXXXX";
  int fd = mkstemp(tmpl);
  if (fd >= 0) close(fd);
  std::string cmd = "env -u AK_TOKEN AK_HOME=" + std::string(tmpl) + ".home AK_SCHEDULER=" + scheduler + " " + env +
                    " " + Runfile("cli/ak") + " exec host -- echo " + word + " >/dev/null 2>" + tmpl;
  int st = system(cmd.c_str());
  *err = Slurp(tmpl);
  unlink(tmpl);
  std::string home = std::string(tmpl) + ".home";
  std::string rm = "rm -rf " + home;
  if (system(rm.c_str()) != 0) ADD_FAILURE() << "cannot remove " << home;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST_F(ExecutorTraceTest, AkSendsItsRequestIdAndTraceparent) {
  std::string err;
  ASSERT_EQ(AkExec(sched_->addr, std::string("AK_REQUEST_ID=cli-req-1 TRACEPARENT=") + kTp, "from-ak", &err), 0)
      << err;
  std::string log = WaitLine(ex_->err, {"\"msg\":\"exec\"", "\"request_id\":\"cli-req-1\""});
  ASSERT_FALSE(log.empty()) << Slurp(ex_->err);
  EXPECT_NE(log.find(std::string("\"trace_id\":\"") + kTraceId + "\""), std::string::npos) << log;
  // A bad id is refused before any call; a bad traceparent is left out.
  EXPECT_EQ(AkExec(sched_->addr, "'AK_REQUEST_ID=a b'", "x", &err), 2);
  EXPECT_NE(err.find("AK_REQUEST_ID 'a b' is not a request id"), std::string::npos) << err;
  ASSERT_EQ(AkExec(sched_->addr, "AK_REQUEST_ID=cli-req-2 TRACEPARENT=00-zz", "y", &err), 0) << err;
  EXPECT_NE(err.find("TRACEPARENT '00-zz' is not a W3C traceparent"), std::string::npos) << err;
  log = WaitLine(ex_->err, {"\"msg\":\"exec\"", "\"request_id\":\"cli-req-2\""});
  ASSERT_FALSE(log.empty()) << Slurp(ex_->err);
  EXPECT_EQ(log.find("trace_id"), std::string::npos) << log;
}

TEST_F(ExecutorTraceTest, GatewayTakesAndEchoesTheRequestId) {
  std::string resp = Http("POST", "/sandboxes/host/exec",
                          std::string("X-Request-Id: gw-exec-1\r\ntraceparent: ") + kTp + "\r\n",
                          R"({"command":["echo","via-gateway"]})");
  EXPECT_EQ(resp.rfind("HTTP/1.1 200", 0), 0u) << resp;
  EXPECT_NE(resp.find("X-Request-Id: gw-exec-1\r\n"), std::string::npos) << resp;
  std::string log = WaitLine(ex_->err, {"\"msg\":\"exec\"", "\"request_id\":\"gw-exec-1\""});
  ASSERT_FALSE(log.empty()) << Slurp(ex_->err);
  EXPECT_NE(log.find(std::string("\"trace_id\":\"") + kTraceId + "\""), std::string::npos) << log;

  // None, or an invalid one: the gateway makes one and says which.
  for (const char* h : {"", "X-Request-Id: not valid!\r\n"}) {
    resp = Http("GET", "/health", h, "");
    EXPECT_EQ(resp.rfind("HTTP/1.1 200", 0), 0u) << resp;
    size_t at = resp.find("X-Request-Id: ");
    ASSERT_NE(at, std::string::npos) << resp;
    EXPECT_EQ(resp.find("\r\n", at) - at - 14, 36u) << resp;  // a UUIDv7
  }
  // Refusals say it too.
  resp = Http("GET", "/no/such/route", "X-Request-Id: gw-404\r\n", "");
  EXPECT_EQ(resp.rfind("HTTP/1.1 404", 0), 0u) << resp;
  EXPECT_NE(resp.find("X-Request-Id: gw-404\r\n"), std::string::npos) << resp;
}

// Each service's --help lists the log flags.
TEST(ServiceHelp, ListsTheLogFlags) {
  for (const char* name : {"scheduler", "executor", "signer", "auditor", "gateway"}) {
    std::string cmd = Runfile(std::string("services/") + name + "/ak-" + name) + " --help";
    FILE* f = popen(cmd.c_str(), "r");
    ASSERT_NE(f, nullptr) << cmd;
    std::string out;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof(buf), f)) > 0;) out.append(buf, n);
    EXPECT_EQ(pclose(f), 0) << cmd;
    EXPECT_NE(out.find("--log-format text|json"), std::string::npos) << name << ":\n" << out;
    EXPECT_NE(out.find("--log-level L"), std::string::npos) << name << ":\n" << out;
  }
}

// ak-scheduler: the executor's registration, sandbox calls and placement
// lines, all JSON.
TEST_F(ExecutorTraceTest, SchedulerLogsJsonLines) {
  ASSERT_TRUE(Exec("json-s1", nullptr, "s"));
  std::string log = Slurp(sched_->err);
  EXPECT_EQ(aktest::JsonLogProblem(log, "ak-scheduler"), "");
  EXPECT_EQ(aktest::JsonLogLines(log, "executor registered").size(), 1u) << log;
  EXPECT_EQ(aktest::JsonLogLines(log, "serving metrics").size(), 1u) << log;
  EXPECT_EQ(aktest::JsonLogLines(log, "listening on " + sched_->addr).size(), 1u) << log;
}

// ak-executor: serving, then one line per exec with its request id.
TEST_F(ExecutorTraceTest, ExecutorLogsJsonLines) {
  ASSERT_TRUE(Exec("json-e1", nullptr, "e"));
  ASSERT_FALSE(WaitLine(ex_->err, {"\"msg\":\"exec\"", "\"request_id\":\"json-e1\""}).empty()) << Slurp(ex_->err);
  std::string log = Slurp(ex_->err);
  EXPECT_EQ(aktest::JsonLogProblem(log, "ak-executor"), "");
  EXPECT_EQ(aktest::JsonLogLines(log, "serving").size(), 1u) << log;
}

// ak-signer: its key, then nothing per receipt (the exec above was signed).
TEST_F(ExecutorTraceTest, SignerLogsJsonLines) {
  ASSERT_TRUE(Exec("json-g1", nullptr, "g"));
  std::string ev = WaitLine(out_, {"command_executed", "\"request_id\":\"json-g1\""});
  ASSERT_FALSE(ev.empty()) << Slurp(out_);
  std::string log = Slurp(signer_->err);
  EXPECT_EQ(aktest::JsonLogProblem(log, "ak-signer"), "");
  EXPECT_EQ(aktest::JsonLogLines(log, "signing").size(), 1u) << log;
}

// ak-auditor: listening with its spool's numbers as fields.
TEST_F(ExecutorTraceTest, AuditorLogsJsonLines) {
  ASSERT_TRUE(Exec("json-a1", nullptr, "a"));
  ASSERT_FALSE(WaitLine(out_, {"command_executed", "\"request_id\":\"json-a1\""}).empty()) << Slurp(out_);
  std::string log = Slurp(aud_->err);
  EXPECT_EQ(aktest::JsonLogProblem(log, "ak-auditor"), "");
  std::vector<std::string> l = aktest::JsonLogLines(log, "listening on " + aud_->addr);
  ASSERT_EQ(l.size(), 1u) << log;
  EXPECT_NE(l[0].find("\"positions_lost\":0"), std::string::npos) << l[0];
}

// ak-gateway: requests, a refused one among them; whatever it says is JSON.
TEST_F(ExecutorTraceTest, GatewayLogsJsonLines) {
  EXPECT_EQ(Http("GET", "/health", "", "").rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(Http("GET", "/no/such/route", "", "").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(Http("POST", "/sandboxes/host/exec", "", R"({"command":["echo","gw"]})").rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(aktest::JsonLogProblem(Slurp(gw_->err), "ak-gateway"), "");
}

// Whether this machine can bind ::1 (a container without IPv6 cannot).
bool HaveIpv6Loopback() {
  int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  struct sockaddr_in6 a = {};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool ok = bind(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

// GET /health from ak-gateway at loopback:port (::1 for AF_INET6, else
// 127.0.0.1) with Host `host`: the response ("" when it cannot connect).
std::string GetHealth(int family, int port, const std::string& host) {
  struct sockaddr_storage ss = {};
  socklen_t len;
  if (family == AF_INET6) {
    auto* a = reinterpret_cast<struct sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    a->sin6_addr = in6addr_loopback;
    len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<struct sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(*a);
  }
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<struct sockaddr*>(&ss), len) < 0) {
    if (fd >= 0) close(fd);
    return "";
  }
  std::string req = "GET /health HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  EXPECT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) got.append(buf, static_cast<size_t>(n));
  close(fd);
  return got;
}

// ak-gateway --listen [::1]:0 serves on IPv6 loopback (and says where);
// [::]:0 serves IPv6 and IPv4; a host name is refused with the reason.
TEST_F(ExecutorTraceTest, GatewayListensOnIpv6) {
  if (!HaveIpv6Loopback()) GTEST_SKIP() << "no IPv6 loopback here (cannot bind ::1): ip -6 addr show lo";
  for (const char* listen : {"[::1]:0", "[::]:0"}) {
    ServiceProcess gw;
    ASSERT_TRUE(gw.Start({Runfile("services/gateway/ak-gateway"), "--scheduler", sched_->addr, "--no-auth", "--listen",
                          listen, "--log-format", "json"},
                         dir_, "gateway6"))
        << Slurp(gw.err);
    std::string want = std::string(listen).substr(0, strlen(listen) - 1);  // "[::1]:" + port
    ASSERT_EQ(gw.addr.rfind(want, 0), 0u) << gw.addr;
    int port = atoi(gw.addr.c_str() + want.size());
    ASSERT_GT(port, 0) << gw.addr;
    std::string resp = GetHealth(AF_INET6, port, "[::1]:" + std::to_string(port));
    EXPECT_EQ(resp.rfind("HTTP/1.1 200", 0), 0u) << listen << ": " << resp;
    // [::]: every address, IPv4 too; [::1]: that one alone.
    std::string v4 = GetHealth(AF_INET, port, "localhost");
    if (std::string(listen) == "[::]:0")
      EXPECT_EQ(v4.rfind("HTTP/1.1 200", 0), 0u) << v4;
    else
      EXPECT_EQ(v4, "");
    EXPECT_EQ(gw.Stop(), 0) << Slurp(gw.err);
    EXPECT_EQ(aktest::JsonLogProblem(Slurp(gw.err), "ak-gateway"), "");
  }
  ServiceProcess bad;
  EXPECT_FALSE(bad.Start({Runfile("services/gateway/ak-gateway"), "--scheduler", sched_->addr, "--no-auth",
                          "--listen", "gateway.example:0"},
                         dir_, "gatewaybad"));
  EXPECT_NE(Slurp(bad.err).find("host names are not resolved"), std::string::npos) << Slurp(bad.err);
}

}  // namespace
