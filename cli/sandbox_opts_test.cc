// agentkernel.toml < AK_* environment < flags, into the SandboxSpec the
// scheduler gets (sandbox_opts.h); and the config loader's errors.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

extern "C" {
#include "lib/base/fs.h"
#include "cli/config.h"
#include "cli/sandbox_opts.h"
}

namespace {

const char kHelp[] = "Usage: ak t\n";
const cli_command kCmd = {"t", "", nullptr, kHelp};

class SandboxOpts : public ::testing::Test {
 protected:
  void SetUp() override {
    char d[] = "/tmp/aksbo.XXXXXX";
    ASSERT_NE(mkdtemp(d), nullptr);
    dir_ = d;
    for (const char* v : {"AK_IMAGE", "AK_PROFILE", "AK_VCPUS", "AK_MEMORY"}) unsetenv(v);
    sandbox_opts_init(&so_);
  }
  void TearDown() override {
    sandbox_opts_free(&so_);
    ak_rm_rf(dir_.c_str());
  }
  std::string Write(const std::string& name, const std::string& text) {
    std::string p = dir_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  // Parses flags into so_, layers, fills spec_. Returns 0 or the exit code.
  int Build(std::vector<std::string> args) {
    static const cli_option* const tables[] = {sandbox_options, nullptr};
    args.insert(args.begin(), "t");
    args_ = args;
    std::vector<char*> argv;
    for (auto& a : args_) argv.push_back(a.data());
    cli_opts p;
    cli_opts_init(&p, &kCmd, tables, static_cast<int>(argv.size()), argv.data());
    int id;
    while ((id = cli_opts_next(&p)) != CLI_OPT_DONE) {
      if (id < 0) return 2;
      int r = sandbox_opts_flag(&so_, &p, id);
      if (r) return r;
    }
    if (sandbox_opts_layers(&so_, "t")) return 1;
    return sandbox_opts_spec(&so_, "t", &spec_);
  }
  std::string Env(const std::string& key) {
    for (size_t i = 0; i < spec_.n_env; i++)
      if (key == spec_.env[i]->key) return spec_.env[i]->value;
    return "<unset>";
  }
  std::string dir_;
  std::vector<std::string> args_;
  sandbox_opts so_;
  Ak__V1__SandboxSpec spec_ = AK__V1__SANDBOX_SPEC__INIT;
};

const char kConfig[] =
    "[sandbox]\nname = \"proj\"\nbase_image = \"cfgimg\"\n"
    "[resources]\nvcpus = 2\nmemory_mb = 768\n"
    "[security]\nprofile = \"restrictive\"\nnetwork = false\n"
    "[security.domains]\nallow = [\"pypi.org\"]\nblock = [\"evil.example\"]\n"
    "[env]\nA = \"file\"\nB = \"file\"\nC = \"file\"\n";

TEST_F(SandboxOpts, FileAlone) {
  std::string c = Write("a.toml", kConfig);
  ASSERT_EQ(0, Build({"-c", c}));
  EXPECT_STREQ(spec_.image, "cfgimg");
  EXPECT_STREQ(spec_.profile, "restrictive");
  EXPECT_EQ(spec_.vcpus, 2u);
  EXPECT_EQ(spec_.memory_mb, 768u);
  EXPECT_EQ(spec_.network, AK__V1__NETWORK__NETWORK_OFF);
  ASSERT_NE(spec_.egress, nullptr);
  ASSERT_EQ(spec_.egress->n_allow, 1u);
  EXPECT_STREQ(spec_.egress->allow[0], "pypi.org");
  ASSERT_EQ(spec_.egress->n_deny, 1u);
  EXPECT_STREQ(spec_.egress->deny[0], "evil.example");
  EXPECT_EQ(Env("A"), "file");
  EXPECT_STREQ(sandbox_opts_config_name(&so_), "proj");
}

TEST_F(SandboxOpts, EnvironmentOverFileFlagOverBoth) {
  std::string c = Write("a.toml", kConfig);
  setenv("AK_IMAGE", "envimg", 1);
  setenv("AK_VCPUS", "3", 1);
  setenv("AK_MEMORY", "1g", 1);
  setenv("AK_PROFILE", "moderate", 1);
  setenv("FROM_HERE", "caller", 1);
  Write("env", "# comment\n\nB=envfile\nFROM_HERE\n");
  ASSERT_EQ(0, Build({"--config=" + c, "--vcpus=4", "-e", "A=flag", "--env-file", dir_ + "/env", "-e",
                      "FROM_HERE", "--memory", "2GiB"}));
  EXPECT_STREQ(spec_.image, "envimg");     // env over file
  EXPECT_STREQ(spec_.profile, "moderate"); // env over file
  EXPECT_EQ(spec_.vcpus, 4u);              // flag over env over file
  EXPECT_EQ(spec_.memory_mb, 2048u);       // flag over env
  EXPECT_EQ(Env("A"), "flag");
  EXPECT_EQ(Env("B"), "envfile");
  EXPECT_EQ(Env("C"), "file");
  EXPECT_EQ(Env("FROM_HERE"), "caller");
  for (const char* v : {"AK_IMAGE", "AK_VCPUS", "AK_MEMORY", "AK_PROFILE", "FROM_HERE"}) unsetenv(v);
}

TEST_F(SandboxOpts, LabelsSelectorTtl) {
  ASSERT_EQ(0, Build({"--label", "team=ci", "--label=tier=gold", "--node-selector", "zone=a", "--ttl", "2d",
                      "--no-network"}));
  ASSERT_EQ(spec_.n_labels, 2u);
  EXPECT_STREQ(spec_.labels[0]->key, "team");
  EXPECT_STREQ(spec_.labels[1]->value, "gold");
  ASSERT_EQ(spec_.n_node_selector, 1u);
  EXPECT_STREQ(spec_.node_selector[0]->key, "zone");
  EXPECT_STREQ(spec_.node_selector[0]->value, "a");
  EXPECT_EQ(spec_.ttl_seconds, 172800u);
  EXPECT_EQ(spec_.network, AK__V1__NETWORK__NETWORK_OFF);
}

TEST_F(SandboxOpts, SecretsIntoTheSpec) {
  ASSERT_EQ(0, Build({"--secret", "API_TOKEN:api.example.com", "--secret=GH:github.example:X-Token",
                      "--secret-file", "GH", "--secret-file=API_TOKEN:/home/sandbox/.tok"}));
  ASSERT_EQ(spec_.n_secrets, 2u);
  EXPECT_STREQ(spec_.secrets[0], "API_TOKEN:api.example.com");
  EXPECT_STREQ(spec_.secrets[1], "GH:github.example:X-Token");
  ASSERT_EQ(spec_.n_secret_files, 2u);
  EXPECT_STREQ(spec_.secret_files[0], "GH");
  EXPECT_STREQ(spec_.secret_files[1], "API_TOKEN:/home/sandbox/.tok");
}

const char kSecretsConfig[] =
    "[sandbox]\nname = \"s\"\n"
    "[secrets]\nAPI_TOKEN = \"api.example.com\"\nGH = \"github.example:X-Token\"\n"
    "[[proxy.hooks]]\nname = \"log\"\nevent = \"on_request\"\n"
    "[proxy.hooks.target]\ntype = \"file\"\npath = \"proxy.jsonl\"\n"
    "[[proxy.hooks]]\nname = \"aud\"\nevent = \"on_response\"\ntarget = { type = \"audit\" }\n";

TEST_F(SandboxOpts, ConfigSecretsAndHooksIntoTheSpec) {
  std::string c = Write("s.toml", kSecretsConfig);
  ASSERT_EQ(0, Build({"-c", c}));
  ASSERT_EQ(spec_.n_secrets, 2u);
  EXPECT_STREQ(spec_.secrets[0], "API_TOKEN:api.example.com");
  EXPECT_STREQ(spec_.secrets[1], "GH:github.example:X-Token");
  ASSERT_EQ(spec_.n_proxy_hooks, 2u);
  EXPECT_STREQ(spec_.proxy_hooks[0]->name, "log");
  EXPECT_STREQ(spec_.proxy_hooks[0]->event, "on_request");
  EXPECT_STREQ(spec_.proxy_hooks[0]->type, "file");
  EXPECT_STREQ(spec_.proxy_hooks[0]->path, "proxy.jsonl");
  EXPECT_STREQ(spec_.proxy_hooks[1]->name, "aud");
  EXPECT_STREQ(spec_.proxy_hooks[1]->event, "on_response");
  EXPECT_STREQ(spec_.proxy_hooks[1]->type, "audit");
  EXPECT_STREQ(spec_.proxy_hooks[1]->path, "");
}

TEST_F(SandboxOpts, SecretFlagOverConfig) {
  std::string c = Write("s.toml", kSecretsConfig);
  ASSERT_EQ(0, Build({"-c", c, "--secret", "GH:gh.other.example"}));
  ASSERT_EQ(spec_.n_secrets, 2u);
  EXPECT_STREQ(spec_.secrets[0], "GH:gh.other.example");
  EXPECT_STREQ(spec_.secrets[1], "API_TOKEN:api.example.com");
}

TEST_F(SandboxOpts, ConfigSecretBadHostNamesLine) {
  std::string c = Write("s.toml", "[sandbox]\nname = \"s\"\n[secrets]\nOK = \"a.example\"\nTOK = \"http://x\"\n");
  testing::internal::CaptureStderr();
  EXPECT_EQ(1, Build({"-c", c}));
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find(c + ":5: [secrets] TOK: "), std::string::npos) << err;
}

TEST_F(SandboxOpts, BadValues) {
  EXPECT_EQ(2, Build({"--ttl", "3w"}));
  EXPECT_EQ(2, Build({"--vcpus", "0"}));
  EXPECT_EQ(2, Build({"--memory", "12"}));
  EXPECT_EQ(2, Build({"--label", "novalue"}));
  unsetenv("SURELY_UNSET_AKX");
  EXPECT_EQ(2, Build({"-e", "SURELY_UNSET_AKX"}));
  EXPECT_EQ(1, Build({"-c", dir_ + "/missing.toml"}));
}

struct Bad {
  const char* text;
  const char* want;  // in the message
};

TEST(Config, ErrorsNameFileLineAndKey) {
  const Bad bad[] = {
      {"[sandbox]\nname = \"x\"\n\n[resources]\nvcpus = \"two\"\n", "f.toml:5: [resources] vcpus: want an integer"},
      {"[resources]\nmemory_mb = 1\n", "f.toml:2: [resources] memory_mb: want an integer from 64"},
      {"[security]\nprofile = \"loose\"\n", "f.toml:2: [security] profile: want permissive"},
      {"[security]\nnetwork = \"no\"\n", "f.toml:2: [security] network: want true or false"},
      {"[security.domains]\n# c\nallow = \"x\"\n", "f.toml:3: [security.domains] allow: want an array"},
      {"[env]\nA = 1\n", "f.toml:2: [env] A: want a string"},
      {"[[files]]\nsource = \"a\"\ndest = \"rel\"\n", "[[files]]: want source"},
      {"[[files]]\nsource = \"a\"\ndest = \"/a\"\nmode = \"9\"\n", "mode: want octal"},
      {"sandbox = 3\n", "[sandbox] sandbox: want a table"},
      {"[network]\nports = \"80\"\n", "f.toml:2: [network] ports: want an array of port mappings"},
      {"[network]\n\nports = [\"80:0\"]\n", "f.toml:3: [network] ports[0]: want \"PORT\" or \"HOST:PORT\""},
      {"[network]\nports = [8080]\n", "f.toml:2: [network] ports[0]: want \"PORT\" or \"HOST:PORT\" (1..65535, "
                                              "optional /tcp or /udp), got an integer"},
      {"[network]\nports = [\"53/sctp\"]\n", "got \"53/sctp\""},
      {"[network]\nvsock_cid = 2\n", "f.toml:2: [network] vsock_cid: want an integer from 3"},
      {"[security]\nmount_cwd = \"yes\"\n", "f.toml:2: [security] mount_cwd: want true or false"},
      {"[sandbox\nname = 1\n", "f.toml: "},
      {"a = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n", "nested deeper"},
      {"[secrets]\nA = \"h.example\"\nB = 3\n", "f.toml:3: [secrets] B: want a host name"},
      {"[secrets]\nA = \"\"\n", "f.toml:2: [secrets] A: want a host name"},
      {"secrets = 1\n", "[secrets] secrets: want a table"},
      {"[proxy]\nhooks = 1\n", "f.toml:2: [proxy] hooks: want an array of tables"},
      {"[[proxy.hooks]]\nname = 7\n", "f.toml:2: [[proxy.hooks]] name: want a string"},
      {"[[proxy.hooks]]\nname = \"n\"\nevent = \"on_connect\"\n", "f.toml:3: [[proxy.hooks]] event: want"},
      {"[[proxy.hooks]]\nname = \"n\"\nevent = \"on_request\"\n", "f.toml:2: [[proxy.hooks]]: want name"},
      {"[[proxy.hooks]]\nname = \"n\"\nevent = \"on_request\"\n[proxy.hooks.target]\ntype = \"webhook\"\n"
       "url = \"http://x\"\n", "[proxy.hooks.target] type: \"webhook\" is not offered"},
      {"[[proxy.hooks]]\nname = \"n\"\nevent = \"on_request\"\ntarget = { type = \"file\" }\n",
       "path: a file hook wants a file name"},
      {"[[proxy.hooks]]\nname = \"n\"\nevent = \"on_request\"\ntarget = { type = 1 }\n",
       "f.toml:4: [proxy.hooks.target] type: want a string"},
  };
  for (const Bad& b : bad) {
    config* c = nullptr;
    ak_error err = {};
    EXPECT_LT(config_parse("f.toml", b.text, strlen(b.text), &c, &err), 0) << b.text;
    EXPECT_NE(std::string(err.msg).find(b.want), std::string::npos) << err.msg;
  }
}

TEST(Config, SyntaxErrorsSayTheLine) {
  const char t[] = "[sandbox]\nname = \"x\"\nvcpus = = 2\n";
  config* c = nullptr;
  ak_error err = {};
  ASSERT_LT(config_parse("f.toml", t, strlen(t), &c, &err), 0);
  EXPECT_NE(std::string(err.msg).find("line 3"), std::string::npos) << err.msg;
}

TEST(Config, UnknownKeysWarnWithLines) {
  const char t[] =
      "[sandbox]\nname = \"x\"\nnmae = \"y\"\n[weird]\nk = 1\n[template]\nhelp_text = \"\"\"\nz = 1\n\"\"\"\n"
      "[orchestrator]\nnamespace = \"n\"\n";
  config* c = nullptr;
  ak_error err = {};
  ASSERT_EQ(0, config_parse("f.toml", t, strlen(t), &c, &err)) << err.msg;
  ASSERT_EQ(c->n_warnings, 3u);
  EXPECT_NE(std::string(c->warnings[0]).find("f.toml:3: [sandbox] nmae: unknown key"), std::string::npos)
      << c->warnings[0];
  EXPECT_NE(std::string(c->warnings[1]).find("weird: unknown key"), std::string::npos) << c->warnings[1];
  EXPECT_NE(std::string(c->warnings[2]).find("[orchestrator] is agentkernel's"), std::string::npos)
      << c->warnings[2];
  config_free(c);
}

// [network] (agentkernel's vsock_cid and ports) and [security]'s host
// mounts: checked, then each named in a warning with its line, since ak
// honours none of them; network on/off and domains stay [security]'s.
TEST(Config, NetworkAndMountKeysWarnWithLines) {
  const char t[] =
      "[network]\nvsock_cid = 7\nports = [\"8080:80\", \"3000\", \"5353/udp\"]\n"
      "[security]\nnetwork = false\nmount_cwd = true\npass_env = false\nseccomp = \"default\"\n"
      "[security.domains]\nallow = [\"pypi.org\"]\n";
  config* c = nullptr;
  ak_error err = {};
  ASSERT_EQ(0, config_parse("f.toml", t, strlen(t), &c, &err)) << err.msg;
  ASSERT_EQ(c->n_warnings, 5u);
  const char* want[] = {"f.toml:2: [network] vsock_cid: not honoured", "f.toml:3: [network] ports: not honoured",
                        "f.toml:6: [security] mount_cwd: not honoured", "f.toml:7: [security] pass_env: not honoured",
                        "f.toml:8: [security] seccomp: not honoured"};
  for (size_t i = 0; i < 5; i++)
    EXPECT_NE(std::string(c->warnings[i]).find(want[i]), std::string::npos) << c->warnings[i];
  EXPECT_EQ(c->network, 0);
  ASSERT_EQ(c->n_allow, 1u);
  EXPECT_STREQ(c->allow[0], "pypi.org");
  config_free(c);
  // An empty ports list says nothing.
  const char quiet[] = "[network]\nports = []\n";
  ASSERT_EQ(0, config_parse("f.toml", quiet, strlen(quiet), &c, &err)) << err.msg;
  EXPECT_EQ(c->n_warnings, 0u);
  config_free(c);
}

TEST(Config, FilesAndRuntime) {
  const char t[] =
      "[sandbox]\nname = \"x\"\nruntime = \"python\"\n[[files]]\nsource = \"a\"\ndest = \"/a\"\n"
      "[[files]]\nsource = \"b\"\ndest = \"/b\"\nmode = \"0600\"\n[security.domains]\nallowlist_only = true\n";
  config* c = nullptr;
  ak_error err = {};
  ASSERT_EQ(0, config_parse("f.toml", t, strlen(t), &c, &err)) << err.msg;
  EXPECT_STREQ(c->image, "python");
  ASSERT_EQ(c->n_files, 2u);
  EXPECT_EQ(c->files[0].mode, 0644u);
  EXPECT_EQ(c->files[1].mode, 0600u);
  EXPECT_STREQ(c->files[1].dest, "/b");
  EXPECT_TRUE(c->allowlist_only);
  config_free(c);
}

}  // namespace
