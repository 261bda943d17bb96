// The stack the secrets network tests share (secrets_net_test.cc: a secret
// sandbox's egress; secrets_hooks_test.cc: proxy hooks), one per test binary:
//   - a real ak-executor (--vm-supervisors) whose vault is the one
//     `ak secret set` fills ($AK_HOME/secrets), holding API_TOKEN (kValue1)
//     and BAD_TOKEN (kBadValue), told to trust the test CA
//     (--secrets-upstream-ca); a real ak-auditor writing a JSONL file;
//   - the "API hosts": python3's http.server in a network namespace of this
//     run's own, joined to the host by a veth: api.test by TLS (test CA) at
//     api_addr_:443 and by plain HTTP at api_addr_:80; badapi.test at
//     bad_addr_:443 with a certificate of a CA nobody trusts. Each server
//     logs every request as a JSON line (path, host, auth) in dir_/api.log,
//     plain.log, bad.log;
//   - with SetUpSuite(true), the sandbox kSandbox (test-python image, moderate
//     profile) with --secret API_TOKEN:api.test and BAD_TOKEN:badapi.test and
//     [[proxy.hooks]] req (on_request, file req.jsonl), resp (on_response,
//     file resp.jsonl), aud (on_response, the auditor); one VM.
//
// Global names are this run's: namespace aksapi<pid>, host link aks<pid>, a
// free 198.19.X.0/24 (X from the pid; .1 and .3 inside, .2 the host's end),
// removed at the suite's end and at exit, and a crashed run's are removed by
// the next run. Nothing leaves the machine.
//
// A test binary: class SecretsNetTest : public SecretsNetFixture { static
// void SetUpTestSuite() { SetUpSuite(true); } };
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/executor.pb-c.h"
}
#include "services/executor/testing/executor_client.h"
#include "tests/testing/service_process.h"

inline constexpr char kSandbox[] = "secnet1";
inline constexpr char kImage[] = "test-python";
inline constexpr char kValue1[] = "sk-live-canary-7d41e0a9c3b2";
inline constexpr char kValue2[] = "sk-live-rotated-19f2c8e4a6d0";
inline constexpr char kBadValue[] = "sk-bad-canary-0b8e5d3f1a27";
inline constexpr char kBearer[] = "Authorization: Bearer {API_TOKEN}";

class SecretsNetFixture : public ::testing::Test {
 protected:
  // Starts the stack above; with secret_sandbox, creates kSandbox too. On a
  // machine without root, a kernel or the Debian mirror, skip_ says why;
  // a failed step sets setup_error_ (every test then fails with it).
  static void SetUpSuite(bool secret_sandbox);
  // Removes kSandbox, stops the services (checking that nothing they wrote
  // holds a value), the servers, the namespace and the directory.
  static void TearDownTestSuite();
  void SetUp() override;

  // A proxy hook's file of `sandbox` under the executor's state directory.
  static std::string HookFile(const std::string& name, const char* sandbox = kSandbox);
  // `ak secret set NAME` with value on stdin (the vault the executor reads).
  static bool SetSecret(const std::string& name, const std::string& value);
  // CreateSandbox, waiting up to 3 minutes while the node refuses it under
  // memory pressure (a loaded shared machine): the rpc status.
  static int CreateSandbox(Ak__V1__CreateSandboxRequest* cr, ProtobufCMessage** resp, std::string* error);
  // argv run in `sandbox` (as root with sudo), its output in *o.
  static void Guest(bool sudo, const std::vector<std::string>& argv, aktest::StreamOut* o,
                    const char* sandbox = kSandbox);
  // One request from the guest: TLS (or plain HTTP) to addr:port with server
  // name sni, Host host, path, and one header line formatted from the
  // guest's environment ("{API_TOKEN}"): what the client printed ("RESP
  // <status line>" or "ERR ...").
  static std::string Request(bool tls, const std::string& addr, int port, const std::string& sni,
                             const std::string& host, const std::string& path, const std::string& header,
                             const char* sandbox = kSandbox);
  // Waits up to 20 s for the auditor's file to hold text.
  static bool Audited(const std::string& text);
  // Stops the executor (SIGKILL when hard, else SIGTERM) and starts the
  // next one on the same state directory; ch_ then reaches it. Neither log
  // of the stopped one holds a value.
  static void RestartExecutor(bool hard, const std::string& tag);

  static std::string dir_, home_, audit_, placeholder_, skip_, setup_error_;
  static std::string api_addr_, bad_addr_;  // in this run's namespace
  static std::vector<std::string> exec_args_;
  static bool secret_sandbox_, created_;
  static aktest::ServiceProcess *aud_, *exec_;
  static struct rpc_channel* ch_;

 private:
  static bool MakeNetns();
  static void RemoveNetns();
  static bool BuildImage();
  static bool MakeCerts();
  static bool StartServers();
  static void Serve(const std::string& addr, int port, const std::string& cert, const std::string& key,
                    const std::string& log);
  static void CreateSecretSandbox();

  static std::string netns_, dev_;
  static std::vector<pid_t> servers_;
};
