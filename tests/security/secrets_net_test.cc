// Issue 19 end to end on a real VM: a sandbox with --secret API_TOKEN:api.test
// (and BAD_TOKEN:badapi.test) on a real ak-executor whose vault is the one
// `ak secret set` fills ($AK_HOME/secrets), with a real ak-auditor (a JSONL
// file). The "API host" is python3's http.server behind ssl in a network
// namespace (aks-api) with a test CA the executor is told to trust
// (--secrets-upstream-ca); the guest (python3 in the test-python image)
// reaches it by address with the host's name as the TLS server name and Host.
//   - the request with "Authorization: Bearer $API_TOKEN" arrives with the
//     real value; after `ak secret set API_TOKEN` with a new value, the next
//     request carries the new one (rotation);
//   - the placeholder to another host (plain HTTP Host other.test, a TLS
//     server name holding it) and in the URL to the bound host is refused,
//     reaches no server, and the auditor gets secret.exfiltration events;
//   - badapi.test answers with a certificate of a CA nobody trusts: the
//     request fails, the server sees none, the auditor gets secret.upstream-tls;
//   - the guest (root) finds no value in its environment, processes' environ
//     or files; the executor's and auditor's output holds none either;
//   - proxy hooks (files and the auditor) see method, host, path, status and
//     sizes of each relayed request, never a header or a value; bad hooks
//     are refused;
//   - the executor runs with --vm-supervisors: after a SIGTERM and after a
//     SIGKILL of it, the next executor serves the same placeholder to the
//     same host with the vault's value (the CA the guest trusts came back
//     from its 0600 file), still refuses the placeholder elsewhere, its
//     hooks still fire, and no file under its state directory holds a value;
//   - on one keep-alive guest connection, a second request with the
//     placeholder in its URL is refused like a first one would be.
//
// Host-side names, all aks-*: namespace aks-api (198.18.19.1 and .3, the
// host's end aks-a0 198.18.19.2); removed before and after.
#include <dirent.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/executor.pb-c.h"
#include "vmm/image/image.h"
}
#include "services/executor/testing/executor_client.h"
#include "tests/testing/netns.h"
#include "tests/testing/service_process.h"
#include "vmm/testing/vm_fixture.h"

extern char** environ;

namespace {

using aktest::Runfile;
using aktest::ServiceProcess;
using aktest::Sh;
using aktest::Slurp;

constexpr char kSandbox[] = "secnet1";
constexpr char kImage[] = "test-python";
constexpr char kValue1[] = "sk-live-canary-7d41e0a9c3b2";
constexpr char kValue2[] = "sk-live-rotated-19f2c8e4a6d0";
constexpr char kBadValue[] = "sk-bad-canary-0b8e5d3f1a27";

void Cleanup() {
  Sh("ip netns del aks-api");
  Sh("ip link del aks-a0");
}

// The API hosts: GET answers "ok"; each request a JSON line in the log.
const char kServer[] = R"PY(
import http.server, json, ssl, sys
addr, port, cert, key, log = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        with open(log, "a") as f:
            f.write(json.dumps({"path": self.path, "host": self.headers.get("Host"),
                                "auth": self.headers.get("Authorization")}) + "\n")
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer((addr, port), H)
if cert != "-":
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    s.socket = ctx.wrap_socket(s.socket, server_side=True)
open(log + ".ready", "w").close()
s.serve_forever()
)PY";

// The guest's client: TLS (or plain with tls=0) to addr:port, server name
// sni, Host host, path, one header made from the environment.
const char kClient[] = R"PY(
import os, socket, ssl, sys
tls, addr, port, sni, host, path, header = sys.argv[1:8]
try:
    s = socket.create_connection((addr, int(port)), timeout=30)
    if tls == "1":
        s = ssl.create_default_context().wrap_socket(s, server_hostname=sni)
    req = "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\nConnection: close\r\n\r\n" % (path, host, header.format(**os.environ))
    s.sendall(req.encode())
    d = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        d += c
    print("RESP " + (d.split(b"\r\n")[0].decode() if d else "(none)"))
except Exception as e:
    print("ERR %s %s" % (type(e).__name__, e))
)PY";

// The guest's keep-alive client: two requests on one TLS connection to
// api.test, the first with the placeholder in Authorization, the second with
// it in the URL; each answer's status line, and whether the relay then
// ended the connection.
const char kKeepAlive[] = R"PY(
import os, socket, ssl
ph = os.environ["API_TOKEN"]
s = ssl.create_default_context().wrap_socket(socket.create_connection(("198.18.19.1", 443), timeout=30),
                                             server_hostname="api.test")
def answer():
    d = b""
    while b"\r\n\r\n" not in d:
        c = s.recv(1)
        if not c:
            return None
        d += c
    n = [int(l.split(b":")[1]) for l in d.split(b"\r\n") if l.lower().startswith(b"content-length:")]
    body = b""
    while n and len(body) < n[0]:
        body += s.recv(n[0] - len(body))
    return d.split(b"\r\n")[0].decode()
s.sendall(("GET /ka1 HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer %s\r\n\r\n" % ph).encode())
print("RESP1", answer())
s.sendall(("GET /ka2?k=%s HTTP/1.1\r\nHost: api.test\r\n\r\n" % ph).encode())
print("RESP2", answer())
print("CLOSED" if s.recv(1) == b"" else "OPEN")
)PY";

class SecretsNetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) {
      skip_ = "needs root (network namespaces, a confined VM)";
      return;
    }
    aktest::PathWithSbin();
    if (Sh("nft --version") != 0 || Sh("ip -V") != 0 || Sh("openssl version") != 0 || Sh("python3 -V") != 0) {
      setup_error_ = "nft, ip, openssl or python3 missing: run tools/deps.sh";
      return;
    }
    if (!BuildImage()) return;
    Cleanup();
    if (!aktest::MakeOutsideNetns("aks-api", "aks-a0", "198.18.19.1", "198.18.19.2") ||
        Sh("ip -n aks-api addr add 198.18.19.3/24 dev eth0") != 0 ||
        Sh("ip -n aks-api route add default via 198.18.19.2") != 0 || Sh("sysctl -qw net.ipv4.ip_forward=1") != 0) {
      setup_error_ = "could not make namespace aks-api and its addresses";
      return;
    }
    dir_ = akvm::MakeTempDir("aksnet");
    if (!MakeCerts()) return;
    aktest::WriteFile(dir_ + "/server.py", kServer);
    Serve("198.18.19.1", 443, dir_ + "/api.pem", dir_ + "/api.key", dir_ + "/api.log");
    Serve("198.18.19.1", 80, "-", "-", dir_ + "/plain.log");
    Serve("198.18.19.3", 443, dir_ + "/bad.pem", dir_ + "/bad.key", dir_ + "/bad.log");
    for (const char* log : {"/api.log.ready", "/plain.log.ready", "/bad.log.ready"})
      if (!WaitFile(dir_ + log, 20)) {
        setup_error_ = std::string("the API server did not start: ") + log;
        return;
      }
    // The vault as `ak secret set` fills it on one machine.
    home_ = dir_ + "/home";
    setenv("AK_HOME", home_.c_str(), 1);
    if (!SetSecret("API_TOKEN", kValue1) || !SetSecret("BAD_TOKEN", kBadValue)) return;

    audit_ = dir_ + "/audit.jsonl";
    aktest::WriteFile(dir_ + "/audit.json", R"({"destination":{"type":"file","path":")" + audit_ +
                                                R"("},"batch_size":1,"flush_interval_secs":0})");
    aud_ = new ServiceProcess;
    exec_ = new ServiceProcess;
    ASSERT_TRUE(aud_->Start({Runfile("services/auditor/ak-auditor"), "--listen", "127.0.0.1:0", "--insecure",
                             "--config", dir_ + "/audit.json", "--spool", dir_ + "/spool"},
                            dir_, "auditor"))
        << Slurp(aud_->err);
    setenv("AK_GUEST_BIN", Runfile("guest/ak-guest").c_str(), 1);
    setenv("AK_VMM_BIN", Runfile("vmm/ak-vmm").c_str(), 1);
    exec_args_ = {Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure",
                  "--state-dir", dir_ + "/st", "--images", akvm::ImageStoreDir(), "--signer",
                  "127.0.0.1:1", "--min-warm", "0", "--auditor", aud_->addr,
                  "--secrets-upstream-ca", dir_ + "/ca.pem", "--vm-supervisors"};
    ASSERT_TRUE(exec_->Start(exec_args_, dir_, "executor")) << Slurp(exec_->err);
    struct ak_error err = {};
    ASSERT_EQ(rpc_channel_new(exec_->addr.c_str(), nullptr, &ch_, &err), 0) << err.msg;

    Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
    const char* secrets[] = {"API_TOKEN:api.test", "BAD_TOKEN:badapi.test"};
    spec.name = const_cast<char*>(kSandbox);
    spec.profile = const_cast<char*>("moderate");
    spec.image = const_cast<char*>(kImage);
    spec.persistent = true;
    spec.secrets = const_cast<char**>(secrets);
    spec.n_secrets = 2;
    // [[proxy.hooks]]: on_request and on_response to files, on_response to the auditor.
    Ak__V1__ProxyHook h[3];
    Ak__V1__ProxyHook* hp[3] = {&h[0], &h[1], &h[2]};
    const char* hooks[3][4] = {{"req", "on_request", "file", "req.jsonl"},
                               {"resp", "on_response", "file", "resp.jsonl"},
                               {"aud", "on_response", "audit", ""}};
    for (int i = 0; i < 3; i++) {
      ak__v1__proxy_hook__init(&h[i]);
      h[i].name = const_cast<char*>(hooks[i][0]);
      h[i].event = const_cast<char*>(hooks[i][1]);
      h[i].type = const_cast<char*>(hooks[i][2]);
      h[i].path = const_cast<char*>(hooks[i][3]);
    }
    spec.proxy_hooks = hp;
    spec.n_proxy_hooks = 3;
    Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
    cr.spec = &spec;
    ProtobufCMessage* resp = nullptr;
    std::string e;
    // A loaded shared machine: the node refuses while memory is under
    // pressure (PSI); wait for it to pass, up to 3 minutes.
    int r = RPC_RESOURCE_EXHAUSTED;
    for (int i = 0; i < 36 && r == RPC_RESOURCE_EXHAUSTED; i++) {
      if (i) std::this_thread::sleep_for(std::chrono::seconds(5));
      e.clear();
      r = aktest::ExecutorUnary(ch_, "CreateSandbox", &cr.base, 300000, &resp, &e);
      if (e.find("memory pressure") == std::string::npos) break;
    }
    if (r != RPC_OK && akvm::KernelUnavailable(e)) {
      skip_ = e;
      return;
    }
    ASSERT_EQ(r, RPC_OK) << e << "\n" << Slurp(exec_->err);
    auto* sb = reinterpret_cast<Ak__V1__Sandbox*>(resp);
    for (size_t i = 0; sb->spec && i < sb->spec->n_env; i++)
      if (strcmp(sb->spec->env[i]->key, "API_TOKEN") == 0) placeholder_ = sb->spec->env[i]->value;
    protobuf_c_message_free_unpacked(resp, nullptr);
    created_ = true;
  }

  static void TearDownTestSuite() {
    if (created_) {
      Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
      rm.name = const_cast<char*>(kSandbox);
      std::string e;
      EXPECT_EQ(aktest::ExecutorUnary(ch_, "RemoveSandbox", &rm.base, 60000, nullptr, &e), RPC_OK) << e;
    }
    rpc_channel_free(ch_);
    if (exec_) {
      EXPECT_EQ(exec_->Stop(), 0) << Slurp(exec_->err);
      // Nothing the executor or the auditor wrote holds a value.
      for (const std::string& f : {exec_->err, exec_->out, audit_, HookFile("req.jsonl"), HookFile("resp.jsonl")})
        for (const char* v : {kValue1, kValue2, kBadValue})
          EXPECT_EQ(Slurp(f).find(v), std::string::npos) << f << " holds a secret's value";
    }
    delete exec_;
    delete aud_;
    for (pid_t pid : servers_) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
    servers_.clear();
    if (!dir_.empty()) akvm::RemoveDir(dir_);
    if (geteuid() == 0) Cleanup();
  }

  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    ASSERT_TRUE(created_);
    ASSERT_EQ(placeholder_.rfind("AKSECRET_", 0), 0u) << placeholder_;
  }

  static std::string HookFile(const std::string& name, const char* sandbox = kSandbox) {
    return dir_ + "/st/proxy-hooks/" + sandbox + "/" + name;
  }

  static bool BuildImage() {
    struct ak_error err = {};
    struct image_store* s = nullptr;
    if (image_store_open(akvm::ImageStoreDir().c_str(), &s, &err) < 0) {
      setup_error_ = err.msg;
      return false;
    }
    const char* pkgs[] = {"python3"};
    struct image_info info;
    int r = image_build_rootfs(s, kImage, pkgs, 1, nullptr, &info, &err);
    image_store_free(s);
    if (r < 0 && strstr(err.msg, "debootstrap failed") && strstr(err.msg, "Release")) {
      skip_ = std::string("the Debian mirror is unreachable: ") + err.msg;
      return false;
    }
    if (r < 0) setup_error_ = std::string("image test-python: ") + err.msg;
    return r == 0;
  }

  static bool MakeCerts() {
    const std::string d = dir_;
    aktest::WriteFile(d + "/api.ext", "subjectAltName=DNS:api.test\n");
    aktest::WriteFile(d + "/bad.ext", "subjectAltName=DNS:badapi.test\n");
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes ";
    const std::vector<std::string> cmds = {
        "openssl req -x509" + ec + "-keyout " + d + "/ca.key -out " + d + "/ca.pem -days 2 -subj /CN=aks-test-ca",
        "openssl req -x509" + ec + "-keyout " + d + "/rogue.key -out " + d + "/rogue.pem -days 2 -subj /CN=aks-rogue",
        "openssl req" + ec + "-keyout " + d + "/api.key -out " + d + "/api.csr -subj /CN=api.test",
        "openssl x509 -req -in " + d + "/api.csr -CA " + d + "/ca.pem -CAkey " + d + "/ca.key -CAcreateserial -out " +
            d + "/api.pem -days 2 -extfile " + d + "/api.ext",
        "openssl req" + ec + "-keyout " + d + "/bad.key -out " + d + "/bad.csr -subj /CN=badapi.test",
        "openssl x509 -req -in " + d + "/bad.csr -CA " + d + "/rogue.pem -CAkey " + d + "/rogue.key -CAcreateserial -out " +
            d + "/bad.pem -days 2 -extfile " + d + "/bad.ext",
    };
    for (const std::string& c : cmds)
      if (Sh(c) != 0) {
        setup_error_ = "test certificates: " + c;
        return false;
      }
    return true;
  }

  static void Serve(const std::string& addr, int port, const std::string& cert, const std::string& key,
                    const std::string& log) {
    std::vector<std::string> args = {"ip", "netns", "exec", "aks-api", "python3", dir_ + "/server.py", addr,
                                     std::to_string(port), cert, key, log};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid;
    if (posix_spawnp(&pid, "ip", nullptr, nullptr, argv.data(), environ) == 0) servers_.push_back(pid);
  }

  static bool WaitFile(const std::string& path, int seconds) {
    struct stat st;
    for (int i = 0; i < seconds * 10; i++) {
      if (stat(path.c_str(), &st) == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  static bool SetSecret(const std::string& name, const std::string& value) {
    aktest::WriteFile(dir_ + "/value", value);
    std::string cmd = Runfile("cli/ak") + " secret set " + name + " < " + dir_ + "/value > " + dir_ +
                      "/secret.out 2>&1";
    int r = system(cmd.c_str());
    unlink((dir_ + "/value").c_str());
    if (r != 0) setup_error_ = "ak secret set " + name + ": " + Slurp(dir_ + "/secret.out");
    return r == 0;
  }

  static void Guest(bool sudo, const std::vector<std::string>& argv, aktest::StreamOut* o,
                    const char* sandbox = kSandbox) {
    Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
    std::vector<const char*> a;
    for (const std::string& s : argv) a.push_back(s.c_str());
    req.sandbox = const_cast<char*>(sandbox);
    req.argv = const_cast<char**>(a.data());
    req.n_argv = a.size();
    req.sudo = sudo;
    req.timeout_ms = 60000;
    aktest::ExecutorStream(ch_, "Exec", &req.base, 120000, o);
  }

  // One request from the guest: what the client printed.
  static std::string Request(bool tls, const std::string& addr, int port, const std::string& sni,
                             const std::string& host, const std::string& path, const std::string& header,
                             const char* sandbox = kSandbox) {
    aktest::StreamOut o;
    Guest(false, {"python3", "-c", kClient, tls ? "1" : "0", addr, std::to_string(port), sni, host, path, header}, &o,
          sandbox);
    EXPECT_EQ(o.status, 0) << o.error << o.err;
    return o.out;
  }

  // Waits up to 20 s for the auditor's file to hold text.
  static bool Audited(const std::string& text) {
    for (int i = 0; i < 200; i++) {
      if (Slurp(audit_).find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // Stops the executor (SIGKILL when hard, else SIGTERM) and starts the
  // next one on the same state directory; ch_ then reaches it. Neither log
  // of the stopped one holds a value.
  static void RestartExecutor(bool hard, const std::string& tag) {
    if (hard) {
      kill(exec_->pid, SIGKILL);
      waitpid(exec_->pid, nullptr, 0);
      exec_->pid = -1;
    } else {
      EXPECT_EQ(exec_->Stop(), 0) << Slurp(exec_->err);
    }
    for (const std::string& f : {exec_->err, exec_->out})
      for (const char* v : {kValue1, kValue2, kBadValue})
        EXPECT_EQ(Slurp(f).find(v), std::string::npos) << f << " holds a secret's value";
    rpc_channel_free(ch_);
    ch_ = nullptr;
    delete exec_;
    exec_ = new ServiceProcess;
    ASSERT_TRUE(exec_->Start(exec_args_, dir_, tag)) << Slurp(exec_->err);
    struct ak_error err = {};
    ASSERT_EQ(rpc_channel_new(exec_->addr.c_str(), nullptr, &ch_, &err), 0) << err.msg;
  }

  static std::string dir_, home_, audit_, placeholder_, skip_, setup_error_;
  static std::vector<std::string> exec_args_;
  static bool created_;
  static std::vector<pid_t> servers_;
  static ServiceProcess *aud_, *exec_;
  static struct rpc_channel* ch_;
};

std::string SecretsNetTest::dir_, SecretsNetTest::home_, SecretsNetTest::audit_, SecretsNetTest::placeholder_,
    SecretsNetTest::skip_, SecretsNetTest::setup_error_;
std::vector<std::string> SecretsNetTest::exec_args_;
bool SecretsNetTest::created_;
std::vector<pid_t> SecretsNetTest::servers_;
ServiceProcess *SecretsNetTest::aud_, *SecretsNetTest::exec_;
struct rpc_channel* SecretsNetTest::ch_;

const char kBearer[] = "Authorization: Bearer {API_TOKEN}";

TEST_F(SecretsNetTest, ValueReachesTheBoundHostAndRotates) {
  std::string out = Request(true, "198.18.19.1", 443, "api.test", "api.test", "/first", kBearer);
  EXPECT_NE(out.find(" 200"), std::string::npos) << out;
  std::string log = Slurp(dir_ + "/api.log");
  EXPECT_NE(log.find(std::string("\"path\": \"/first\", \"host\": \"api.test\", \"auth\": \"Bearer ") + kValue1 + "\""),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find(placeholder_), std::string::npos) << log;

  // Rotation: the vault's new value goes on the next request.
  ASSERT_TRUE(SetSecret("API_TOKEN", kValue2)) << setup_error_;
  out = Request(true, "198.18.19.1", 443, "api.test", "api.test", "/second", kBearer);
  EXPECT_NE(out.find(" 200"), std::string::npos) << out;
  log = Slurp(dir_ + "/api.log");
  EXPECT_NE(log.find(std::string("\"path\": \"/second\", \"host\": \"api.test\", \"auth\": \"Bearer ") + kValue2 +
                     "\""),
            std::string::npos)
      << log;
  ASSERT_TRUE(SetSecret("API_TOKEN", kValue1)) << setup_error_;

  // The hooks saw both requests: method, host, path, status, sizes.
  std::string req = Slurp(HookFile("req.jsonl")), resp = Slurp(HookFile("resp.jsonl"));
  EXPECT_NE(req.find(R"("hook":"req","event":"on_request")"), std::string::npos) << req;
  EXPECT_NE(req.find(R"("sandbox":"secnet1","method":"GET","host":"api.test","port":443,"path":"/first","request_bytes":)"),
            std::string::npos)
      << req;
  EXPECT_NE(req.find(R"("path":"/second")"), std::string::npos) << req;
  EXPECT_EQ(req.find("status"), std::string::npos) << req;
  EXPECT_NE(resp.find(R"("event":"on_response")"), std::string::npos) << resp;
  EXPECT_NE(resp.find(R"("path":"/first","request_bytes":)"), std::string::npos) << resp;
  EXPECT_NE(resp.find(R"("secret_injected":true,"status":200,"response_bytes":)"), std::string::npos) << resp;
  EXPECT_TRUE(Audited("proxy_response")) << Slurp(audit_);
  for (const std::string& f : {req, resp}) {
    EXPECT_EQ(f.find("Bearer"), std::string::npos) << f;
    EXPECT_EQ(f.find(placeholder_), std::string::npos) << f;
  }
}

TEST_F(SecretsNetTest, BadHooksAreRefused) {
  struct Case {
    const char *name, *event, *type, *path, *want;
    bool secrets;
  } cases[] = {
      {"w", "on_request", "webhook", "", "webhook is not offered", true},
      {"f", "on_request", "file", "../x", "want a file name", true},
      {"f", "on_request", "file", "/etc/passwd", "want a file name", true},
      {"e", "on_connect", "audit", "", "on_request or on_response", true},
      {"", "on_request", "audit", "", ".name", true},
      {"n", "on_request", "audit", "", "has no network", false},
  };
  for (const Case& c : cases) {
    Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
    const char* secrets[] = {"API_TOKEN:api.test"};
    spec.name = const_cast<char*>("secnet2");
    spec.profile = const_cast<char*>("moderate");
    spec.secrets = const_cast<char**>(secrets);
    spec.n_secrets = c.secrets ? 1 : 0;
    if (!c.secrets) spec.network = AK__V1__NETWORK__NETWORK_OFF;
    Ak__V1__ProxyHook h = AK__V1__PROXY_HOOK__INIT;
    Ak__V1__ProxyHook* hp = &h;
    h.name = const_cast<char*>(c.name);
    h.event = const_cast<char*>(c.event);
    h.type = const_cast<char*>(c.type);
    h.path = const_cast<char*>(c.path);
    spec.proxy_hooks = &hp;
    spec.n_proxy_hooks = 1;
    Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
    cr.spec = &spec;
    std::string e;
    EXPECT_EQ(aktest::ExecutorUnary(ch_, "CreateSandbox", &cr.base, 60000, nullptr, &e), RPC_INVALID_ARGUMENT)
        << c.type << " " << c.path;
    EXPECT_NE(e.find(c.want), std::string::npos) << e;
    EXPECT_NE(e.find("spec.proxy_hooks"), std::string::npos) << e;
  }
}

// Every request on a keep-alive guest connection is checked, not only the
// first: the second carries the placeholder in its URL and is refused (403,
// the connection ended), reaches no server, is audited and hooked.
TEST_F(SecretsNetTest, EveryRequestOnAKeepAliveConnectionIsChecked) {
  aktest::StreamOut o;
  Guest(false, {"python3", "-c", kKeepAlive}, &o);
  EXPECT_EQ(o.status, 0) << o.error << o.err;
  EXPECT_NE(o.out.find("RESP1 HTTP/1.1 200"), std::string::npos) << o.out << o.err;
  EXPECT_NE(o.out.find("RESP2 HTTP/1.1 403"), std::string::npos) << o.out << o.err;
  EXPECT_NE(o.out.find("CLOSED"), std::string::npos) << o.out;
  std::string log = Slurp(dir_ + "/api.log");
  EXPECT_NE(log.find(std::string("\"path\": \"/ka1\", \"host\": \"api.test\", \"auth\": \"Bearer ") + kValue1 + "\""),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("/ka2"), std::string::npos) << log;
  EXPECT_TRUE(Audited("secret.exfiltration")) << Slurp(audit_);
  std::string req;
  for (int i = 0; i < 100 && req.find(R"("path":"/ka2")") == std::string::npos; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    req = Slurp(HookFile("req.jsonl"));
  }
  EXPECT_NE(req.find(R"("path":"/ka1")"), std::string::npos) << req;
  EXPECT_NE(req.find(R"("path":"/ka2")"), std::string::npos) << req;
  EXPECT_EQ(req.find(placeholder_), std::string::npos) << req;
}

TEST_F(SecretsNetTest, PlaceholderElsewhereIsRefusedAndAudited) {
  // Plain HTTP to another host, the placeholder in a header.
  std::string out = Request(false, "198.18.19.1", 80, "", "other.test", "/leak1", "X-Key: {API_TOKEN}");
  EXPECT_NE(out.find("RESP HTTP/1.1 403"), std::string::npos) << out;
  // TLS whose server name carries it.
  out = Request(true, "198.18.19.1", 443, "x" + placeholder_ + ".other.test", "other.test", "/leak2", "X-A: b");
  EXPECT_NE(out.find("ERR"), std::string::npos) << out;
  // The bound host, but the placeholder in the URL.
  out = Request(true, "198.18.19.1", 443, "api.test", "api.test", "/leak3?k=" + placeholder_, "X-A: b");
  EXPECT_EQ(out.find(" 200"), std::string::npos) << out;
  std::string logs = Slurp(dir_ + "/plain.log") + Slurp(dir_ + "/api.log");
  EXPECT_EQ(logs.find("/leak"), std::string::npos) << logs;
  EXPECT_TRUE(Audited("secret.exfiltration")) << Slurp(audit_);
  EXPECT_TRUE(Audited("other.test")) << Slurp(audit_);
  // The hooks saw the refused plain-HTTP request, with its rule.
  std::string resp = Slurp(HookFile("resp.jsonl"));
  EXPECT_NE(resp.find(R"("method":"GET","host":"other.test","port":80,"path":"/leak1")"), std::string::npos) << resp;
  EXPECT_NE(resp.find(R"("outcome":"refused","rule":"secret.exfiltration")"), std::string::npos) << resp;
}

// [[proxy.hooks]] on a sandbox without secrets: its egress proxy tells them
// of plain HTTP (method, host, path without query, status, sizes) and of
// TLS it only tunnels (one CONNECT with the server name, port and bytes).
TEST_F(SecretsNetTest, HooksWithoutSecretsSeeAllProxiedTraffic) {
  const char* kPlain = "secnet3";
  Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
  spec.name = const_cast<char*>(kPlain);
  spec.profile = const_cast<char*>("moderate");
  spec.image = const_cast<char*>(kImage);
  Ak__V1__ProxyHook h = AK__V1__PROXY_HOOK__INIT;
  Ak__V1__ProxyHook* hp = &h;
  h.name = const_cast<char*>("all");
  h.event = const_cast<char*>("on_response");
  h.type = const_cast<char*>("file");
  h.path = const_cast<char*>("all.jsonl");
  spec.proxy_hooks = &hp;
  spec.n_proxy_hooks = 1;
  Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
  cr.spec = &spec;
  std::string e;
  int r = RPC_RESOURCE_EXHAUSTED;
  for (int i = 0; i < 36 && r == RPC_RESOURCE_EXHAUSTED; i++) {
    if (i) std::this_thread::sleep_for(std::chrono::seconds(5));
    e.clear();
    r = aktest::ExecutorUnary(ch_, "CreateSandbox", &cr.base, 300000, nullptr, &e);
    if (e.find("memory pressure") == std::string::npos) break;
  }
  ASSERT_EQ(r, RPC_OK) << e;
  std::string out = Request(false, "198.18.19.1", 80, "", "plain.test", "/plain/x?token=1", "X-A: b", kPlain);
  EXPECT_NE(out.find(" 200"), std::string::npos) << out;
  // TLS to api.test is not decrypted here: the guest does not trust the test
  // CA, so its handshake fails, but the tunnel carried bytes both ways.
  out = Request(true, "198.18.19.1", 443, "api.test", "api.test", "/tls", "X-A: b", kPlain);
  EXPECT_NE(out.find("ERR"), std::string::npos) << out;
  std::string all;
  for (int i = 0; i < 100; i++) {
    all = Slurp(HookFile("all.jsonl", kPlain));
    if (all.find("CONNECT") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(all.find(R"("sandbox":"secnet3","method":"GET","host":"plain.test","port":80,"path":"/plain/x")"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find(R"("secret_injected":false,"status":200,"response_bytes":)"), std::string::npos) << all;
  EXPECT_EQ(all.find("token"), std::string::npos) << all;
  EXPECT_NE(all.find(R"("method":"CONNECT","host":"api.test","port":443,"path":null)"), std::string::npos) << all;
  EXPECT_NE(all.find(R"("status":null)"), std::string::npos) << all;
  EXPECT_NE(all.find(R"("outcome":"tunneled")"), std::string::npos) << all;
  Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
  rm.name = const_cast<char*>(kPlain);
  EXPECT_EQ(aktest::ExecutorUnary(ch_, "RemoveSandbox", &rm.base, 60000, nullptr, &e), RPC_OK) << e;
}

TEST_F(SecretsNetTest, BoundHostWithAnUntrustedCertificateFails) {
  std::string out = Request(true, "198.18.19.3", 443, "badapi.test", "badapi.test", "/bad",
                            "Authorization: Bearer {BAD_TOKEN}");
  EXPECT_EQ(out.find(" 200"), std::string::npos) << out;
  EXPECT_EQ(Slurp(dir_ + "/bad.log").find("/bad"), std::string::npos) << Slurp(dir_ + "/bad.log");
  EXPECT_TRUE(Audited("secret.upstream-tls")) << Slurp(audit_);
}

TEST_F(SecretsNetTest, GuestFindsNoValue) {
  aktest::StreamOut f;
  std::string grep;
  for (const char* v : {kValue1, kValue2, kBadValue}) grep += std::string(" -e '") + v + "'";
  Guest(true,
        {"/bin/sh", "-c",
         "env; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'; for d in /etc /home /root /tmp /run /var /opt; do "
         "[ -d $d ] && grep -rl" +
             grep + " $d 2>/dev/null; done; echo done"},
        &f);
  EXPECT_NE(f.out.find("done"), std::string::npos) << f.error << f.err;
  EXPECT_NE(f.out.find(placeholder_), std::string::npos) << f.out;
  for (const char* v : {kValue1, kValue2, kBadValue}) EXPECT_EQ(f.out.find(v), std::string::npos) << f.out;
}

}  // namespace

namespace {

// A shell session (OpenShell) sees the placeholders as commands do.
TEST_F(SecretsNetTest, ShellSessionsGetThePlaceholder) {
  Ak__V1__OpenShellRequest open = AK__V1__OPEN_SHELL_REQUEST__INIT;
  const char* argv[] = {"/bin/sh", "-c", "echo tok=$API_TOKEN"};
  const char* env[] = {"EXTRA=1"};
  open.sandbox = const_cast<char*>(kSandbox);
  open.argv = const_cast<char**>(argv);
  open.n_argv = 3;
  open.env = const_cast<char**>(env);
  open.n_env = 1;
  struct rpc_stream* st = nullptr;
  struct ak_error err = {};
  struct rpc_call_options opt = {};
  opt.timeout_ms = 60000;
  ASSERT_EQ(rpc_stream_open(ch_, &ak__v1__executor__descriptor, "OpenShell", &open.base, &opt, &st, &err), RPC_OK)
      << err.msg;
  std::string screen;
  int exited = -100;
  while (exited == -100) {
    ProtobufCMessage* m = nullptr;
    if (rpc_stream_next(st, &m, &err) <= 0) break;
    auto* ev = reinterpret_cast<Ak__V1__ShellEvent*>(m);
    if (ev->kind == AK__V1__SHELL_EVENT__KIND__OUTPUT)
      screen.append(reinterpret_cast<char*>(ev->output.data), ev->output.len);
    if (ev->kind == AK__V1__SHELL_EVENT__KIND__EXITED) exited = ev->exit_code;
    protobuf_c_message_free_unpacked(m, nullptr);
  }
  rpc_stream_free(st);
  EXPECT_EQ(exited, 0) << err.msg << screen;
  EXPECT_NE(screen.find("tok=" + placeholder_), std::string::npos) << screen;
}

}  // namespace

namespace {

// Last: the executor goes away twice (SIGTERM, SIGKILL) under a running
// secret sandbox; each next executor takes it back with its secrets.
TEST_F(SecretsNetTest, SecretsSurviveExecutorRestarts) {
  const std::string st = dir_ + "/st";
  std::string vm;  // the sandbox's VM directory
  if (DIR* d = opendir((st + "/v").c_str())) {
    while (struct dirent* e = readdir(d))
      if (e->d_name[0] != '.' && Slurp(st + "/v/" + e->d_name + "/sandbox.json").find(kSandbox) != std::string::npos)
        vm = st + "/v/" + e->d_name;
    closedir(d);
  }
  ASSERT_FALSE(vm.empty()) << "no VM directory holds " << kSandbox << "'s sandbox.json";
  std::string record = Slurp(vm + "/sandbox.json");
  EXPECT_NE(record.find("\"placeholder\":\"" + placeholder_ + "\""), std::string::npos) << record;
  EXPECT_NE(record.find("\"binding\":\"API_TOKEN:api.test\""), std::string::npos) << record;
  struct stat ca;
  ASSERT_EQ(stat((vm + "/secrets-ca.pem").c_str(), &ca), 0);
  EXPECT_EQ(ca.st_mode & 07777, 0600u);
  for (bool hard : {false, true}) {
    const std::string when = hard ? "kill" : "term";
    SCOPED_TRACE("after SIG" + std::string(hard ? "KILL" : "TERM"));
    RestartExecutor(hard, "executor-" + when);
    // The same placeholder, the same host, the vault's value.
    std::string out = Request(true, "198.18.19.1", 443, "api.test", "api.test", "/after-" + when, kBearer);
    EXPECT_NE(out.find(" 200"), std::string::npos) << out << Slurp(exec_->err);
    std::string log = Slurp(dir_ + "/api.log");
    EXPECT_NE(log.find("\"path\": \"/after-" + when + "\", \"host\": \"api.test\", \"auth\": \"Bearer " +
                       kValue1 + "\""),
              std::string::npos)
        << log;
    // Still refused elsewhere, and audited.
    out = Request(false, "198.18.19.1", 80, "", when + ".other.test", "/leak-" + when, "X-Key: {API_TOKEN}");
    EXPECT_NE(out.find("RESP HTTP/1.1 403"), std::string::npos) << out;
    EXPECT_EQ(Slurp(dir_ + "/plain.log").find("/leak-" + when), std::string::npos);
    EXPECT_TRUE(Audited(when + ".other.test")) << Slurp(audit_);
    // The hooks came back with it: the relay's requests and the proxy's.
    EXPECT_NE(Slurp(HookFile("req.jsonl")).find("\"path\":\"/after-" + when + "\""), std::string::npos)
        << Slurp(HookFile("req.jsonl"));
    EXPECT_NE(Slurp(HookFile("resp.jsonl")).find("\"host\":\"" + when + ".other.test\",\"port\":80"), std::string::npos)
        << Slurp(HookFile("resp.jsonl"));
  }
  // Rotation still reaches the adopted relay.
  ASSERT_TRUE(SetSecret("API_TOKEN", kValue2)) << setup_error_;
  std::string out = Request(true, "198.18.19.1", 443, "api.test", "api.test", "/after-rotation", kBearer);
  EXPECT_NE(out.find(" 200"), std::string::npos) << out;
  EXPECT_NE(Slurp(dir_ + "/api.log").find("\"path\": \"/after-rotation\", \"host\": \"api.test\", \"auth\": \"Bearer " +
                                          std::string(kValue2) + "\""),
            std::string::npos);
  ASSERT_TRUE(SetSecret("API_TOKEN", kValue1)) << setup_error_;
  // No file under the executor's state directory holds a value (grep -r:
  // status 1 is "nothing found").
  std::string grep = "grep -rlF -D skip";
  for (const char* v : {kValue1, kValue2, kBadValue}) grep += std::string(" -e '") + v + "'";
  int rc = system((grep + " " + st + " > " + dir_ + "/found.txt 2>&1").c_str());
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 1) << rc << ": " << Slurp(dir_ + "/found.txt");
  rc = system(("grep -rlF -D skip -e '" + placeholder_ + "' " + st + " > /dev/null 2>&1").c_str());
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << "the grep finds nothing at all (the placeholder is in sandbox.json)";
}

}  // namespace
