// sandbox.json's network fields: the namespace's host end and the egress
// policy round-trip; records written before them still parse (no policy,
// no namespace); damaged values are refused naming the field.
#include <gtest/gtest.h>
#include <string.h>

#include <string>

extern "C" {
#include "services/executor/sandbox_record.h"
}

namespace {

const char kOld[] =
    "{\"kind\":\"sandbox\",\"image\":\"base\",\"profile\":\"moderate\",\"name\":\"keep\",\"uuid\":\"u\","
    "\"tenant\":\"default\",\"vcpus\":1,\"memory_mb\":256,\"network\":true,\"network_req\":2,\"persistent\":true,"
    "\"from_pool\":false,\"ttl_seconds\":0,\"created_at_ms\":1,\"expires_at_ms\":0,\"env\":{},\"labels\":{}";

std::string Parse(const std::string& text, struct sb_record* r) {
  struct ak_error err = {};
  return sb_record_parse(text.data(), text.size(), r, &err) == 0 ? "" : err.msg;
}

TEST(SandboxRecordTest, NetworkFieldsRoundTrip) {
  struct sb_record r;
  std::string text = std::string(kOld) +
                     ",\"net_ifname\":\"akv17\",\"egress\":{\"allow\":[\"198.18.0.0/15\"],\"deny\":[\"198.19.42.3/32\"],"
                     "\"allow_names\":[\"ok.adopt.test\"],\"deny_names\":[\"bad.adopt.test\"],\"ports\":[80,443]},"
                     "\"secrets\":true}";
  ASSERT_EQ(Parse(text, &r), "");
  EXPECT_STREQ(r.net_ifname, "akv17");
  ASSERT_EQ(r.n_egress[SB_EGRESS_ALLOW], 1u);
  EXPECT_STREQ(r.egress[SB_EGRESS_DENY][0], "198.19.42.3/32");
  EXPECT_STREQ(r.egress[SB_EGRESS_ALLOW_NAMES][0], "ok.adopt.test");
  EXPECT_STREQ(r.egress[SB_EGRESS_DENY_NAMES][0], "bad.adopt.test");
  ASSERT_EQ(r.n_egress_ports, 2u);
  EXPECT_EQ(r.egress_ports[1], 443);
  char* out = nullptr;
  size_t len = 0;
  ASSERT_EQ(sb_record_format(&r, &out, &len), 0);
  struct sb_record b;
  ASSERT_EQ(Parse(std::string(out, len), &b), "");
  EXPECT_STREQ(b.net_ifname, "akv17");
  EXPECT_EQ(b.n_egress_ports, 2u);
  EXPECT_TRUE(r.secrets);
  EXPECT_TRUE(b.secrets);
  EXPECT_STREQ(b.egress[SB_EGRESS_ALLOW][0], "198.18.0.0/15");
  free(out);
  sb_record_clear(&r);
  sb_record_clear(&b);
}

TEST(SandboxRecordTest, RecordsWithoutThemStillParse) {
  struct sb_record r;
  ASSERT_EQ(Parse(std::string(kOld) + "}", &r), "");
  EXPECT_STREQ(r.net_ifname, "");
  for (int l = 0; l < SB_EGRESS_LISTS; l++) EXPECT_EQ(r.n_egress[l], 0u);
  EXPECT_EQ(r.n_egress_ports, 0u);
  EXPECT_FALSE(r.secrets);
  sb_record_clear(&r);
  ASSERT_EQ(Parse("{\"kind\":\"pool\",\"image\":\"base\",\"profile\":\"moderate\",\"net_ifname\":\"akv3\"}", &r), "");
  EXPECT_TRUE(r.pool);
  EXPECT_STREQ(r.net_ifname, "akv3");
}

TEST(SandboxRecordTest, DamagedValuesAreRefused) {
  struct sb_record r;
  const struct {
    const char *tail, *why;
  } cases[] = {
      {",\"net_ifname\":\"akv1;rm\"}", "net_ifname"},
      {",\"net_ifname\":\"akv0123456789abcdef\"}", "net_ifname"},
      {",\"egress\":[]}", "egress"},
      {",\"secrets\":1}", "secrets"},
      {",\"secrets\":[]}", "secrets"},
      {",\"secrets\":[{\"binding\":\"A:b.test\"}]}", "secrets[0]: placeholder"},
      {",\"secrets\":[\"A:b.test\"]}", "secrets[0]"},
      {",\"proxy_hooks\":[{\"name\":\"h\",\"event\":\"on_request\",\"type\":\"audit\"}]}",
       "proxy_hooks[0]: path"},
      {",\"proxy_hooks\":{}}", "proxy_hooks"},
      {",\"egress\":{\"allow\":[],\"deny\":[],\"allow_names\":[],\"deny_names\":[]}}", "egress.ports"},
      {",\"egress\":{\"allow\":[\"\"],\"deny\":[],\"allow_names\":[],\"deny_names\":[],\"ports\":[]}}",
       "egress.allow[0]"},
      {",\"egress\":{\"allow\":[],\"deny\":[1],\"allow_names\":[],\"deny_names\":[],\"ports\":[]}}", "egress.deny[0]"},
      {",\"egress\":{\"allow\":[],\"deny\":[],\"allow_names\":[],\"deny_names\":[],\"ports\":[0]}}",
       "egress.ports[0]"},
      {",\"egress\":{\"allow\":[],\"deny\":[],\"allow_names\":[],\"deny_names\":[],\"ports\":[65536]}}",
       "egress.ports[0]"},
  };
  for (const auto& c : cases) {
    std::string why = Parse(std::string(kOld) + c.tail, &r);
    EXPECT_NE(why.find(c.why), std::string::npos) << c.tail << ": " << why;
  }
  std::string many = ",\"egress\":{\"allow\":[";
  for (int i = 0; i <= SB_RECORD_MAX_EGRESS; i++) many += std::string(i ? "," : "") + "\"1.2.3.4/32\"";
  many += "],\"deny\":[],\"allow_names\":[],\"deny_names\":[],\"ports\":[]}}";
  EXPECT_NE(Parse(std::string(kOld) + many, &r).find("more than 64"), std::string::npos);
}

// Secrets as an executor restart needs them (bindings, placeholders; never a
// value) and proxy hooks round-trip; "secrets": true stays what it was.
TEST(SandboxRecordTest, SecretsAndHooksRoundTrip) {
  struct sb_record r;
  std::string text = std::string(kOld) +
                     ",\"secrets\":[{\"binding\":\"API_TOKEN:api.test\",\"placeholder\":\"AKSECRET_0123456789abcdef0123456789abcdef\"},"
                     "{\"binding\":\"B:b.test:X-Key\",\"placeholder\":\"AKSECRET_fedcba9876543210fedcba9876543210\"}],"
                     "\"proxy_hooks\":[{\"name\":\"req\",\"event\":\"on_request\",\"type\":\"file\",\"path\":\"r.jsonl\"},"
                     "{\"name\":\"a\",\"event\":\"on_response\",\"type\":\"audit\",\"path\":\"\"}]}";
  ASSERT_EQ(Parse(text, &r), "");
  EXPECT_TRUE(r.secrets);
  ASSERT_EQ(r.n_secrets, 2u);
  EXPECT_STREQ(r.secret[1].binding, "B:b.test:X-Key");
  EXPECT_STREQ(r.secret[0].placeholder, "AKSECRET_0123456789abcdef0123456789abcdef");
  ASSERT_EQ(r.n_hooks, 2u);
  EXPECT_STREQ(r.hooks[0].path, "r.jsonl");
  EXPECT_STREQ(r.hooks[1].type, "audit");
  char* out = nullptr;
  size_t len = 0;
  ASSERT_EQ(sb_record_format(&r, &out, &len), 0);
  struct sb_record b;
  ASSERT_EQ(Parse(std::string(out, len), &b), "");
  EXPECT_NE(std::string(out, len).find("\"placeholder\":\"AKSECRET_fedcba9876543210fedcba9876543210\""), std::string::npos);
  ASSERT_EQ(b.n_secrets, 2u);
  EXPECT_STREQ(b.secret[0].binding, "API_TOKEN:api.test");
  ASSERT_EQ(b.n_hooks, 2u);
  EXPECT_STREQ(b.hooks[0].event, "on_request");
  free(out);
  sb_record_clear(&r);
  sb_record_clear(&b);

  // An older executor's "secrets": true: had secrets, none restorable.
  ASSERT_EQ(Parse(std::string(kOld) + ",\"secrets\":true}", &r), "");
  EXPECT_TRUE(r.secrets);
  EXPECT_EQ(r.n_secrets, 0u);
  ASSERT_EQ(sb_record_format(&r, &out, &len), 0);
  EXPECT_NE(std::string(out, len).find("\"secrets\":true"), std::string::npos);
  free(out);
  sb_record_clear(&r);
}

}  // namespace
