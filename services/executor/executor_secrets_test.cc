// SandboxSpec.secrets on a real ak-executor process with a real VM (issue
// 19): the executor reads the values from a mounted Kubernetes Secret
// directory (--secrets-dir), refuses bad bindings, unknown secrets, values
// that cannot stand in a header and sandboxes without network (naming the
// secret, never showing the value), and in a booted sandbox every command
// sees NAME holding a placeholder, the sandbox's CA is in the guest's trust
// store, and the value is nowhere in the guest's environment or files.
// Secret files (the weaker way) put the value in 0400 files of the
// sandbox's user, by default on a tmpfs.
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/stat.h>

#include <string>
#include <vector>

extern "C" {
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/executor.pb-c.h"
}
#include "services/executor/testing/executor_client.h"
#include "tests/testing/service_process.h"
#include "vmm/testing/vm_fixture.h"

using aktest::Runfile;
using aktest::ServiceProcess;
using aktest::Slurp;

namespace {

const char kCanary[] = "sk-canary-5e1f0c2b9d7a4e31";

void WriteFile(const std::string& path, const std::string& text) {
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  fputs(text.c_str(), f);
  fclose(f);
}

class SecretsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = akvm::MakeTempDir("aksec");
    std::string mounted = dir_ + "/k8s-secret";
    ASSERT_EQ(mkdir(mounted.c_str(), 0700), 0);
    WriteFile(mounted + "/API_TOKEN", kCanary);
    WriteFile(mounted + "/BROKEN", std::string("first\r\nX-Evil: ") + kCanary);
    // Tenant acme's own Secret, mounted under tenants/ (it has no API_TOKEN).
    ASSERT_EQ(mkdir((mounted + "/tenants").c_str(), 0700), 0);
    ASSERT_EQ(mkdir((mounted + "/tenants/acme").c_str(), 0700), 0);
    WriteFile(mounted + "/tenants/acme/ACME_ONLY", "acme-value");
    exec_ = new ServiceProcess;
    setenv("AK_GUEST_BIN", Runfile("guest/ak-guest").c_str(), 1);
    ASSERT_TRUE(exec_->Start({Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure",
                              "--state-dir", dir_ + "/st", "--images", akvm::ImageStoreDir(), "--signer",
                              "127.0.0.1:1", "--min-warm", "0", "--secrets-dir", mounted},
                             dir_, "executor"))
        << Slurp(exec_->err);
    struct ak_error err = {};
    ASSERT_EQ(rpc_channel_new(exec_->addr.c_str(), nullptr, &ch_, &err), 0) << err.msg;
  }
  static void TearDownTestSuite() {
    rpc_channel_free(ch_);
    if (exec_) {
      EXPECT_EQ(exec_->Stop(), 0) << Slurp(exec_->err);
      // Nothing the executor logged holds the value.
      EXPECT_EQ(Slurp(exec_->err).find(kCanary), std::string::npos);
      EXPECT_EQ(Slurp(exec_->out).find(kCanary), std::string::npos);
    }
    delete exec_;
    akvm::RemoveDir(dir_);
  }

  static int Create(const char* name, const char* profile, const char* secret, std::string* e,
                    Ak__V1__Sandbox** ret = nullptr, std::vector<const char*> files = {},
                    const char* tenant = nullptr) {
    Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
    spec.tenant = const_cast<char*>(tenant);
    char* secrets[] = {const_cast<char*>(secret)};
    spec.name = const_cast<char*>(name);
    spec.profile = const_cast<char*>(profile);
    spec.persistent = true;
    spec.secrets = secrets;
    spec.n_secrets = secret ? 1 : 0;
    spec.secret_files = const_cast<char**>(files.data());
    spec.n_secret_files = files.size();
    Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
    cr.spec = &spec;
    ProtobufCMessage* resp = nullptr;
    int r = aktest::ExecutorUnary(ch_, "CreateSandbox", &cr.base, 240000, &resp, e);
    if (ret)
      *ret = reinterpret_cast<Ak__V1__Sandbox*>(resp);
    else if (resp)
      protobuf_c_message_free_unpacked(resp, nullptr);
    return r;
  }

  static void Sh(const char* sandbox, bool sudo, const std::string& script, aktest::StreamOut* o) {
    Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
    const char* argv[] = {"/bin/sh", "-c", script.c_str()};
    req.sandbox = const_cast<char*>(sandbox);
    req.argv = const_cast<char**>(argv);
    req.n_argv = 3;
    req.sudo = sudo;
    req.timeout_ms = 60000;
    aktest::ExecutorStream(ch_, "Exec", &req.base, 240000, o);
  }

  static std::string dir_;
  static ServiceProcess* exec_;
  static struct rpc_channel* ch_;
};

std::string SecretsTest::dir_;
ServiceProcess* SecretsTest::exec_;
struct rpc_channel* SecretsTest::ch_;

TEST_F(SecretsTest, RefusalsNameTheSecretNeverTheValue) {
  std::string e;
  EXPECT_EQ(Create("s1", "moderate", "API_TOKEN", &e), RPC_INVALID_ARGUMENT);
  EXPECT_NE(e.find("spec.secrets[0]"), std::string::npos) << e;
  EXPECT_NE(e.find("NAME:HOST"), std::string::npos) << e;
  EXPECT_EQ(Create("s2", "moderate", "API_TOKEN:api.example.test:443", &e), RPC_INVALID_ARGUMENT);
  EXPECT_EQ(Create("s3", "moderate", "NOPE:api.example.test", &e), RPC_FAILED_PRECONDITION);
  EXPECT_NE(e.find("NOPE"), std::string::npos) << e;
  EXPECT_NE(e.find("ak secret set"), std::string::npos) << e;
  EXPECT_EQ(Create("s4", "moderate", "BROKEN:api.example.test", &e), RPC_FAILED_PRECONDITION);
  EXPECT_NE(e.find("BROKEN"), std::string::npos) << e;
  EXPECT_EQ(e.find(kCanary), std::string::npos) << e;
  EXPECT_EQ(e.find("X-Evil"), std::string::npos) << e;
  EXPECT_EQ(Create("s5", "restrictive", "API_TOKEN:api.example.test", &e), RPC_INVALID_ARGUMENT);
  EXPECT_NE(e.find("no network"), std::string::npos) << e;
  EXPECT_EQ(Create("s6", "moderate", nullptr, &e, nullptr, {"NOPE"}), RPC_FAILED_PRECONDITION);
  EXPECT_NE(e.find("NOPE"), std::string::npos) << e;
  EXPECT_EQ(Create("s7", "moderate", nullptr, &e, nullptr, {"API_TOKEN:/etc/../root/x"}), RPC_INVALID_ARGUMENT);
  EXPECT_NE(e.find("spec.secret_files[0]"), std::string::npos) << e;
  EXPECT_EQ(Create("s8", "moderate", nullptr, &e, nullptr, {"API_TOKEN:/tmp/a", "BROKEN:/tmp/a"}),
            RPC_INVALID_ARGUMENT);
  EXPECT_NE(e.find("already"), std::string::npos) << e;
  // A tenant binds only its own tenant's secrets: the default tenant's
  // API_TOKEN is unknown to acme, acme's own secret is found (the refusal is
  // then the file path), and a tenant without a vault gets nothing.
  EXPECT_EQ(Create("t1", "moderate", "API_TOKEN:api.example.test", &e, nullptr, {}, "acme"),
            RPC_FAILED_PRECONDITION);
  EXPECT_NE(e.find("API_TOKEN"), std::string::npos) << e;
  EXPECT_EQ(Create("t2", "moderate", nullptr, &e, nullptr, {"API_TOKEN"}, "acme"), RPC_FAILED_PRECONDITION);
  EXPECT_NE(e.find("API_TOKEN"), std::string::npos) << e;
  EXPECT_EQ(Create("t3", "moderate", nullptr, &e, nullptr, {"ACME_ONLY:/etc/../x"}, "acme"), RPC_INVALID_ARGUMENT);
  EXPECT_EQ(Create("t4", "moderate", nullptr, &e, nullptr, {"ACME_ONLY"}), RPC_FAILED_PRECONDITION);
  EXPECT_NE(e.find("ACME_ONLY"), std::string::npos) << e;
  EXPECT_EQ(Create("t5", "moderate", "API_TOKEN:api.example.test", &e, nullptr, {}, "beta"),
            RPC_FAILED_PRECONDITION);
  EXPECT_NE(e.find("beta"), std::string::npos) << e;
  EXPECT_EQ(e.find(kCanary), std::string::npos) << e;
  // None of them was made.
  Ak__V1__ListSandboxesRequest lr = AK__V1__LIST_SANDBOXES_REQUEST__INIT;
  ProtobufCMessage* resp = nullptr;
  ASSERT_EQ(aktest::ExecutorUnary(ch_, "ListSandboxes", &lr.base, 10000, &resp, &e), RPC_OK) << e;
  EXPECT_EQ(reinterpret_cast<Ak__V1__ListSandboxesResponse*>(resp)->n_sandboxes, 0u);
  protobuf_c_message_free_unpacked(resp, nullptr);
}

TEST_F(SecretsTest, GuestSeesPlaceholderAndTrustsItsCa) {
  std::string e;
  Ak__V1__Sandbox* sb = nullptr;
  ASSERT_EQ(Create("sec", "moderate", "API_TOKEN:API.Example.test", &e, &sb), RPC_OK) << e;
  ASSERT_NE(sb, nullptr);
  ASSERT_NE(sb->spec, nullptr);
  ASSERT_EQ(sb->spec->n_secrets, 1u);
  EXPECT_STREQ(sb->spec->secrets[0], "API_TOKEN:API.Example.test");
  std::string placeholder;
  for (size_t i = 0; i < sb->spec->n_env; i++)
    if (strcmp(sb->spec->env[i]->key, "API_TOKEN") == 0) placeholder = sb->spec->env[i]->value;
  protobuf_c_message_free_unpacked(&sb->base, nullptr);
  ASSERT_EQ(placeholder.rfind("AKSECRET_", 0), 0u) << placeholder;
  EXPECT_EQ(placeholder.size(), 9u + 32u);

  // The sandbox's user: the placeholder, and the CA through SSL_CERT_FILE.
  aktest::StreamOut o;
  Sh("sec", false,
     "echo \"tok=$API_TOKEN\"; echo \"file=$SSL_CERT_FILE\"; "
     "grep -c 'BEGIN CERTIFICATE' \"$SSL_CERT_FILE\"; cat /etc/ssl/certs/ak-sandbox-ca.pem",
     &o);
  ASSERT_EQ(o.status, 0) << o.error << o.err;
  EXPECT_NE(o.out.find("tok=" + placeholder + "\n"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("file=/etc/ssl/certs/ca-certificates.crt\n"), std::string::npos) << o.out;
  size_t pem_at = o.out.find("-----BEGIN CERTIFICATE-----");
  ASSERT_NE(pem_at, std::string::npos) << o.out;
  EXPECT_NE(o.out.find("-----END CERTIFICATE-----", pem_at), std::string::npos) << o.out;

  // The CA is name-constrained to the secret's host (checked on the host).
  std::string pem = o.out.substr(pem_at);
  WriteFile(dir_ + "/ca.pem", pem);
  std::string cmd = "openssl x509 -noout -text -in " + dir_ + "/ca.pem > " + dir_ + "/ca.txt 2>&1";
  ASSERT_EQ(system(cmd.c_str()), 0) << Slurp(dir_ + "/ca.txt");
  std::string text = Slurp(dir_ + "/ca.txt");
  EXPECT_NE(text.find("Name Constraints"), std::string::npos) << text;
  EXPECT_NE(text.find("DNS:api.example.test"), std::string::npos) << text;

  // root searching everything it can read finds no value.
  aktest::StreamOut f;
  Sh("sec", true,
     std::string("env; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'; "
                 "for d in /etc /home /root /tmp /run /var /opt /workspace; do [ -d $d ] && grep -rl -e '") +
         kCanary + "' $d 2>/dev/null; done; echo done",
     &f);
  EXPECT_NE(f.out.find("done"), std::string::npos) << f.error << f.err;
  EXPECT_NE(f.out.find(placeholder), std::string::npos) << f.out;
  EXPECT_EQ(f.out.find(kCanary), std::string::npos) << f.out;

  Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
  rm.name = const_cast<char*>("sec");
  ProtobufCMessage* resp = nullptr;
  EXPECT_EQ(aktest::ExecutorUnary(ch_, "RemoveSandbox", &rm.base, 60000, &resp, &e), RPC_OK) << e;
  if (resp) protobuf_c_message_free_unpacked(resp, nullptr);
}

TEST_F(SecretsTest, SecretFilesAreTheUsersAndReadOnly) {
  std::string e;
  Ak__V1__Sandbox* sb = nullptr;
  ASSERT_EQ(Create("secf", "moderate", nullptr, &e, &sb, {"API_TOKEN", "API_TOKEN:/home/sandbox/.cfg/tok"}), RPC_OK)
      << e;
  ASSERT_NE(sb, nullptr);
  ASSERT_EQ(sb->spec->n_secret_files, 2u);
  EXPECT_STREQ(sb->spec->secret_files[0], "API_TOKEN:/run/agentkernel/secrets/API_TOKEN");
  EXPECT_STREQ(sb->spec->secret_files[1], "API_TOKEN:/home/sandbox/.cfg/tok");
  protobuf_c_message_free_unpacked(&sb->base, nullptr);
  aktest::StreamOut o;
  Sh("secf", false,
     "cat /run/agentkernel/secrets/API_TOKEN; echo; cat /home/sandbox/.cfg/tok; echo; "
     "stat -c '%a %u %n' /run/agentkernel/secrets/API_TOKEN /home/sandbox/.cfg/tok /run/agentkernel/secrets; "
     "grep ' /run/agentkernel/secrets ' /proc/mounts; echo hi > /run/agentkernel/secrets/API_TOKEN && echo wrote",
     &o);
  std::string want = std::string(kCanary) + "\n" + kCanary + "\n";
  EXPECT_EQ(o.out.rfind(want, 0), 0u) << o.out << o.err << o.error;
  EXPECT_NE(o.out.find("400 1000 /run/agentkernel/secrets/API_TOKEN"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("400 1000 /home/sandbox/.cfg/tok"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("500 1000 /run/agentkernel/secrets\n"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("tmpfs /run/agentkernel/secrets tmpfs"), std::string::npos) << o.out;
  EXPECT_EQ(o.out.find("wrote"), std::string::npos) << o.out;
  Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
  rm.name = const_cast<char*>("secf");
  ProtobufCMessage* resp = nullptr;
  EXPECT_EQ(aktest::ExecutorUnary(ch_, "RemoveSandbox", &rm.base, 60000, &resp, &e), RPC_OK) << e;
  if (resp) protobuf_c_message_free_unpacked(resp, nullptr);
}

}  // namespace
