// The stack the secrets network tests share (secrets_net_fixture.h).
#include "tests/security/secrets_net_fixture.h"

#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

extern "C" {
#include "vmm/image/image.h"
}
#include "tests/testing/netns.h"
#include "vmm/testing/vm_fixture.h"

extern char** environ;

using aktest::Runfile;
using aktest::ServiceProcess;
using aktest::Sh;
using aktest::Slurp;

std::string SecretsNetFixture::dir_, SecretsNetFixture::home_, SecretsNetFixture::audit_,
    SecretsNetFixture::placeholder_, SecretsNetFixture::skip_, SecretsNetFixture::setup_error_;
std::string SecretsNetFixture::api_addr_, SecretsNetFixture::bad_addr_;
std::vector<std::string> SecretsNetFixture::exec_args_;
bool SecretsNetFixture::secret_sandbox_, SecretsNetFixture::created_;
ServiceProcess *SecretsNetFixture::aud_, *SecretsNetFixture::exec_;
struct rpc_channel* SecretsNetFixture::ch_;
std::string SecretsNetFixture::netns_, SecretsNetFixture::dev_;
std::vector<pid_t> SecretsNetFixture::servers_;

namespace {

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

bool WaitFile(const std::string& path, int seconds) {
  struct stat st;
  for (int i = 0; i < seconds * 10; i++) {
    if (stat(path.c_str(), &st) == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace

void SecretsNetFixture::SetUpSuite(bool secret_sandbox) {
  secret_sandbox_ = secret_sandbox;
  if (geteuid() != 0) {
    skip_ = "needs root (network namespaces, a confined VM)";
    return;
  }
  aktest::PathWithSbin();
  if (Sh("nft --version") != 0 || Sh("ip -V") != 0 || Sh("openssl version") != 0 || Sh("python3 -V") != 0) {
    setup_error_ = "nft, ip, openssl or python3 missing: run tools/deps.sh";
    return;
  }
  if (!BuildImage() || !MakeNetns()) return;
  dir_ = akvm::MakeTempDir("aksnet");
  if (!MakeCerts() || !StartServers()) return;
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
  if (secret_sandbox) CreateSecretSandbox();
}

// This run's namespace (the API hosts' addresses .1 and .3) and the host's
// end of its veth (.2), in a /24 nothing on the host uses; the namespace
// routes back through the host (the VM's NAT).
bool SecretsNetFixture::MakeNetns() {
  aktest::RemoveStaleNetns("aksapi");
  std::string net = aktest::FreeSubnet24("198.19", 100, 199);
  if (net.empty()) {
    setup_error_ = "no free 198.19.X.0/24 (X in 100..199) on this host for the API namespace";
    return false;
  }
  netns_ = aktest::RunName("aksapi");
  dev_ = aktest::RunName("aks");
  static bool registered = false;
  if (!registered) atexit(RemoveNetns);  // also when a test exits early
  registered = true;
  api_addr_ = net + ".1";
  bad_addr_ = net + ".3";
  if (!aktest::MakeOutsideNetns(netns_, dev_, api_addr_, net + ".2") ||
      Sh("ip -n " + netns_ + " addr add " + bad_addr_ + "/24 dev eth0") != 0 ||
      Sh("ip -n " + netns_ + " route add default via " + net + ".2") != 0 ||
      Sh("sysctl -qw net.ipv4.ip_forward=1") != 0) {
    setup_error_ = "could not make namespace " + netns_ + " (link " + dev_ + ", " + net + ".0/24)";
    return false;
  }
  return true;
}

// Idempotent: the suite's end and exit both call it.
void SecretsNetFixture::RemoveNetns() {
  if (netns_.empty()) return;
  Sh("ip netns pids " + netns_ + " | xargs -r kill -9");
  Sh("ip netns del " + netns_);
  Sh("ip link del " + dev_);
  netns_.clear();
}

void SecretsNetFixture::CreateSecretSandbox() {
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
  int r = CreateSandbox(&cr, &resp, &e);
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

int SecretsNetFixture::CreateSandbox(Ak__V1__CreateSandboxRequest* cr, ProtobufCMessage** resp,
                                     std::string* error) {
  int r = RPC_RESOURCE_EXHAUSTED;
  for (int i = 0; i < 36 && r == RPC_RESOURCE_EXHAUSTED; i++) {
    if (i) std::this_thread::sleep_for(std::chrono::seconds(5));
    error->clear();
    r = aktest::ExecutorUnary(ch_, "CreateSandbox", &cr->base, 300000, resp, error);
    if (error->find("memory pressure") == std::string::npos) break;
  }
  return r;
}

void SecretsNetFixture::TearDownTestSuite() {
  if (created_) {
    Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
    rm.name = const_cast<char*>(kSandbox);
    std::string e;
    EXPECT_EQ(aktest::ExecutorUnary(ch_, "RemoveSandbox", &rm.base, 60000, nullptr, &e), RPC_OK) << e;
    created_ = false;
  }
  rpc_channel_free(ch_);
  ch_ = nullptr;
  if (exec_) {
    EXPECT_EQ(exec_->Stop(), 0) << Slurp(exec_->err);
    // Nothing the executor or the auditor wrote holds a value.
    for (const std::string& f : {exec_->err, exec_->out, audit_, HookFile("req.jsonl"), HookFile("resp.jsonl")})
      for (const char* v : {kValue1, kValue2, kBadValue})
        EXPECT_EQ(Slurp(f).find(v), std::string::npos) << f << " holds a secret's value";
  }
  delete exec_;
  delete aud_;
  exec_ = aud_ = nullptr;
  for (pid_t pid : servers_) {
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
  }
  servers_.clear();
  if (!dir_.empty()) akvm::RemoveDir(dir_);
  RemoveNetns();
}

void SecretsNetFixture::SetUp() {
  if (!skip_.empty()) GTEST_SKIP() << skip_;
  ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  ASSERT_NE(ch_, nullptr);
  if (!secret_sandbox_) return;
  ASSERT_TRUE(created_);
  ASSERT_EQ(placeholder_.rfind("AKSECRET_", 0), 0u) << placeholder_;
}

bool SecretsNetFixture::StartServers() {
  aktest::WriteFile(dir_ + "/server.py", kServer);
  Serve(api_addr_, 443, dir_ + "/api.pem", dir_ + "/api.key", dir_ + "/api.log");
  Serve(api_addr_, 80, "-", "-", dir_ + "/plain.log");
  Serve(bad_addr_, 443, dir_ + "/bad.pem", dir_ + "/bad.key", dir_ + "/bad.log");
  for (const char* log : {"/api.log.ready", "/plain.log.ready", "/bad.log.ready"})
    if (!WaitFile(dir_ + log, 20)) {
      setup_error_ = std::string("the API server did not start: ") + log;
      return false;
    }
  return true;
}

std::string SecretsNetFixture::HookFile(const std::string& name, const char* sandbox) {
  return dir_ + "/st/proxy-hooks/" + sandbox + "/" + name;
}

bool SecretsNetFixture::BuildImage() {
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

bool SecretsNetFixture::MakeCerts() {
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

void SecretsNetFixture::Serve(const std::string& addr, int port, const std::string& cert, const std::string& key,
                              const std::string& log) {
  std::vector<std::string> args = {
      "ip", "netns", "exec", netns_, "python3", dir_ + "/server.py", addr, std::to_string(port), cert, key, log};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, "ip", nullptr, nullptr, argv.data(), environ) == 0) servers_.push_back(pid);
}

bool SecretsNetFixture::SetSecret(const std::string& name, const std::string& value) {
  aktest::WriteFile(dir_ + "/value", value);
  std::string cmd = Runfile("cli/ak") + " secret set " + name + " < " + dir_ + "/value > " + dir_ +
                    "/secret.out 2>&1";
  int r = system(cmd.c_str());
  unlink((dir_ + "/value").c_str());
  if (r != 0) setup_error_ = "ak secret set " + name + ": " + Slurp(dir_ + "/secret.out");
  return r == 0;
}

void SecretsNetFixture::Guest(bool sudo, const std::vector<std::string>& argv, aktest::StreamOut* o,
                              const char* sandbox) {
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

std::string SecretsNetFixture::Request(bool tls, const std::string& addr, int port, const std::string& sni,
                                       const std::string& host, const std::string& path, const std::string& header,
                                       const char* sandbox) {
  aktest::StreamOut o;
  Guest(false, {"python3", "-c", kClient, tls ? "1" : "0", addr, std::to_string(port), sni, host, path, header}, &o,
        sandbox);
  EXPECT_EQ(o.status, 0) << o.error << o.err;
  return o.out;
}

bool SecretsNetFixture::Audited(const std::string& text) {
  for (int i = 0; i < 200; i++) {
    if (Slurp(audit_).find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

void SecretsNetFixture::RestartExecutor(bool hard, const std::string& tag) {
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