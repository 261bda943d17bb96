// Proxy hooks ([[proxy.hooks]]) on a real VM (the stack:
// secrets_net_fixture.h, without the secret sandbox): bad hooks are refused
// before a sandbox is made, and a sandbox without secrets tells its hooks of
// all the traffic its egress proxy carries. The hooks of a secret sandbox's
// relayed requests: secrets_net_test.cc.
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/security/secrets_net_fixture.h"

namespace {

using aktest::Slurp;

class SecretsNetTest : public SecretsNetFixture {
 protected:
  static void SetUpTestSuite() { SetUpSuite(false); }
};

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
  ASSERT_EQ(CreateSandbox(&cr, nullptr, &e), RPC_OK) << e;
  std::string out = Request(false, api_addr_, 80, "", "plain.test", "/plain/x?token=1", "X-A: b", kPlain);
  EXPECT_NE(out.find(" 200"), std::string::npos) << out;
  // TLS to api.test is not decrypted here: the guest does not trust the test
  // CA, so its handshake fails, but the tunnel carried bytes both ways.
  out = Request(true, api_addr_, 443, "api.test", "api.test", "/tls", "X-A: b", kPlain);
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

}  // namespace
