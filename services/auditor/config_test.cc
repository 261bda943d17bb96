// AuditStreamConfig: agentkernel's JSON accepted unchanged, our fields, and
// errors that name the field.
#include "services/auditor/config.h"

#include <string.h>

#include <string>

#include <gtest/gtest.h>

#include "services/auditor/testing/test_util.h"

namespace {

struct audit_config *Parse(const std::string &json)
{
        struct audit_config *c = nullptr;
        struct ak_error err = {};
        EXPECT_EQ(0, audit_config_parse(json.data(), json.size(), "x.json", &c, &err)) << err.msg;
        return c;
}

std::string Error(const std::string &json)
{
        struct audit_config *c = nullptr;
        struct ak_error err = {};
        EXPECT_EQ(-EINVAL, audit_config_parse(json.data(), json.size(), "x.json", &c, &err)) << json;
        audit_config_free(c);
        return err.msg;
}

TEST(Config, AgentkernelDefaults)
{
        struct audit_config *c = Parse("{\"destination\": {\"type\": \"stdout\"}}");
        ASSERT_NE(nullptr, c);
        ASSERT_EQ(1u, c->n_dests);
        EXPECT_EQ(AUDIT_DEST_STDOUT, c->dests[0].type);
        EXPECT_STREQ("stdout", c->dests[0].name);
        EXPECT_EQ(AUDIT_FORMAT_AGENTKERNEL, c->dests[0].format);
        EXPECT_EQ(10u, c->batch_size);
        EXPECT_EQ(30000u, c->flush_interval_ms);
        EXPECT_EQ(3u, c->max_retries);
        EXPECT_TRUE(c->ocsf_enabled);
        EXPECT_EQ(1ull << 30, c->spool_max_bytes);
        EXPECT_EQ(8ull << 20, c->spool_segment_bytes);
        EXPECT_EQ(30000u, c->request_timeout_ms);
        EXPECT_EQ(10000u, c->connect_timeout_ms);
        EXPECT_EQ(nullptr, c->dead_letter_path);
        audit_config_free(c);
}

TEST(Config, TheSeedsExamples)
{
        // test_audit_stream_config_deserialization
        struct audit_config *c = Parse(R"({
            "destination": {"type": "http_webhook", "url": "https://example.com/webhook", "authorization": "Bearer tok123"},
            "batch_size": 50,
            "flush_interval_secs": 60,
            "max_retries": 5,
            "ocsf_enabled": true
        })");
        ASSERT_NE(nullptr, c);
        EXPECT_EQ(AUDIT_DEST_HTTP_WEBHOOK, c->dests[0].type);
        EXPECT_STREQ("https://example.com/webhook", c->dests[0].url);
        EXPECT_STREQ("Bearer tok123", c->dests[0].authorization);
        EXPECT_STREQ("http_webhook:https://example.com/webhook", c->dests[0].name);
        EXPECT_EQ(0u, c->dests[0].n_headers);
        EXPECT_EQ(50u, c->batch_size);
        EXPECT_EQ(60000u, c->flush_interval_ms);
        EXPECT_EQ(5u, c->max_retries);
        audit_config_free(c);

        // test_stream_destination_deserialization
        c = Parse(R"({"destination": {"type": "http_webhook", "url": "https://hooks.example.com/audit"}})");
        ASSERT_NE(nullptr, c);
        EXPECT_EQ(nullptr, c->dests[0].authorization);
        audit_config_free(c);
        c = Parse(R"({"destination": {"type": "file", "path": "/var/log/agentkernel/audit.jsonl"}})");
        ASSERT_NE(nullptr, c);
        EXPECT_STREQ("/var/log/agentkernel/audit.jsonl", c->dests[0].path);
        EXPECT_STREQ("file:/var/log/agentkernel/audit.jsonl", c->dests[0].name);
        audit_config_free(c);

        // serde: authorization: null, headers, batch_size 0.
        c = Parse(R"({"destination": {"type": "http_webhook", "url": "http://h/", "authorization": null,
                      "headers": {"X-Tenant": "acme", "X-Empty": ""}}, "batch_size": 0, "ocsf_enabled": false})");
        ASSERT_NE(nullptr, c);
        EXPECT_EQ(nullptr, c->dests[0].authorization);
        ASSERT_EQ(2u, c->dests[0].n_headers);
        EXPECT_STREQ("X-Tenant", c->dests[0].headers[0].name);
        EXPECT_STREQ("acme", c->dests[0].headers[0].value);
        EXPECT_EQ(1u, c->batch_size);
        EXPECT_FALSE(c->ocsf_enabled);
        audit_config_free(c);
}

TEST(Config, OurFields)
{
        struct audit_config *c = Parse(R"({
            "destinations": [
                {"type": "file", "path": "/a.jsonl", "format": "ocsf"},
                {"type": "http_webhook", "url": "http://127.0.0.1:9/x"},
                {"type": "stdout", "format": "agentkernel"}
            ],
            "format": "ocsf",
            "flush_interval_secs": 0,
            "spool_max_bytes": 1048576, "spool_segment_bytes": 65536,
            "request_timeout_secs": 5, "connect_timeout_secs": 2,
            "retry_backoff_initial_ms": 50, "retry_backoff_max_secs": 2,
            "dead_letter_path": "/tmp/dl.jsonl"
        })");
        ASSERT_NE(nullptr, c);
        ASSERT_EQ(3u, c->n_dests);
        EXPECT_EQ(AUDIT_FORMAT_OCSF, c->dests[0].format);
        EXPECT_EQ(AUDIT_FORMAT_OCSF, c->dests[1].format); // the top-level default
        EXPECT_EQ(AUDIT_FORMAT_AGENTKERNEL, c->dests[2].format);
        EXPECT_EQ(0u, c->flush_interval_ms);
        EXPECT_EQ(1048576u, c->spool_max_bytes);
        EXPECT_EQ(65536u, c->spool_segment_bytes);
        EXPECT_EQ(5000u, c->request_timeout_ms);
        EXPECT_EQ(2000u, c->connect_timeout_ms);
        EXPECT_EQ(50u, c->backoff_initial_ms);
        EXPECT_EQ(2000u, c->backoff_max_ms);
        EXPECT_STREQ("/tmp/dl.jsonl", c->dead_letter_path);
        audit_config_free(c);
}

TEST(Config, ErrorsNameTheField)
{
        EXPECT_EQ("config x.json: destination.url: expected a string, got number",
                  Error(R"({"destination": {"type": "http_webhook", "url": 5}})"));
        EXPECT_EQ("config x.json: destination.url: missing",
                  Error(R"({"destination": {"type": "http_webhook"}})"));
        EXPECT_EQ("config x.json: destination.url: \"ftp://h/x\" is not an http:// or https:// URL",
                  Error(R"({"destination": {"type": "http_webhook", "url": "ftp://h/x"}})"));
        EXPECT_EQ("config x.json: batchsize: unknown field (expected one of: destination, destinations, "
                  "batch_size, flush_interval_secs, max_retries, ocsf_enabled, format, spool_max_bytes, "
                  "spool_segment_bytes, request_timeout_secs, connect_timeout_secs, retry_backoff_initial_ms, "
                  "retry_backoff_max_secs, dead_letter_path)",
                  Error(R"({"destination": {"type": "stdout"}, "batchsize": 3})"));
        EXPECT_EQ("config x.json: destination.mode: unknown field (expected one of: type, path, format)",
                  Error(R"({"destination": {"type": "file", "path": "/x", "mode": 1}})"));
        EXPECT_EQ("config x.json: destination.type: unknown destination type \"kafka\" (expected http_webhook, "
                  "file or stdout)",
                  Error(R"({"destination": {"type": "kafka"}})"));
        EXPECT_EQ("config x.json: destination.type: missing", Error(R"({"destination": {}})"));
        EXPECT_EQ("config x.json: destination: missing (where should events go? e.g. {\"type\": \"stdout\"})",
                  Error(R"({"batch_size": 3})"));
        EXPECT_EQ("config x.json: destinations[1].headers.Bad Name: not a valid HTTP header name",
                  Error(R"({"destinations": [{"type": "stdout"},
                           {"type": "http_webhook", "url": "http://h/", "headers": {"Bad Name": "v"}}]})"));
        EXPECT_EQ("config x.json: destination.headers.X: header values are at most 8192 bytes of UTF-8 without "
                  "CR, LF or NUL",
                  Error(R"({"destination": {"type": "http_webhook", "url": "http://h/", "headers": {"X": "a\r\nB: c"}}})"));
        EXPECT_EQ("config x.json: destination.headers.X: expected a string, got number",
                  Error(R"({"destination": {"type": "http_webhook", "url": "http://h/", "headers": {"X": 1}}})"));
        EXPECT_EQ("config x.json: batch_size: 10001 is out of range (0 to 10000)",
                  Error(R"({"destination": {"type": "stdout"}, "batch_size": 10001})"));
        EXPECT_EQ("config x.json: flush_interval_secs: expected an unsigned integer, got 1.5",
                  Error(R"({"destination": {"type": "stdout"}, "flush_interval_secs": 1.5})"));
        EXPECT_EQ("config x.json: max_retries: expected an unsigned integer, got -1",
                  Error(R"({"destination": {"type": "stdout"}, "max_retries": -1})"));
        EXPECT_EQ("config x.json: ocsf_enabled: expected true or false, got string",
                  Error(R"({"destination": {"type": "stdout"}, "ocsf_enabled": "yes"})"));
        EXPECT_EQ("config x.json: batch_size: duplicate field",
                  Error(R"({"destination": {"type": "stdout"}, "batch_size": 1, "batch_size": 2})"));
        EXPECT_EQ("config x.json: destinations: give either destination or destinations, not both",
                  Error(R"({"destination": {"type": "stdout"}, "destinations": [{"type": "stdout"}]})"));
        EXPECT_EQ("config x.json: destinations[1]: the same destination as destinations[0] (stdout)",
                  Error(R"({"destinations": [{"type": "stdout"}, {"type": "stdout"}]})"));
        EXPECT_EQ("config x.json: destinations: 0 destinations (give 1 to 16)", Error(R"({"destinations": []})"));
        EXPECT_EQ("config x.json: destination.format: unknown format \"cef\" (expected agentkernel or ocsf)",
                  Error(R"({"destination": {"type": "stdout", "format": "cef"}})"));
        EXPECT_EQ("config x.json: destination.path: must not be empty",
                  Error(R"({"destination": {"type": "file", "path": ""}})"));
        EXPECT_EQ("config x.json: spool_max_bytes: 1000 is out of range (65536 to 1099511627776)",
                  Error(R"({"destination": {"type": "stdout"}, "spool_max_bytes": 1000})"));
        EXPECT_EQ("config x.json: retry_backoff_max_secs: shorter than retry_backoff_initial_ms",
                  Error(R"({"destination": {"type": "stdout"}, "retry_backoff_initial_ms": 5000,
                           "retry_backoff_max_secs": 1})"));
        EXPECT_EQ("config x.json: expected a JSON object, got array", Error("[]"));
        EXPECT_EQ("config x.json: not valid JSON: EOF while parsing an object at line 1 column 2", Error("{"));
}

TEST(Config, LoadFromFile)
{
        auditor_test::TempDir dir;
        auditor_test::WriteFile(dir / "a.json", R"({"destination": {"type": "file", "path": "/x"}})");
        struct audit_config *c = nullptr;
        struct ak_error err = {};
        ASSERT_EQ(0, audit_config_load((dir / "a.json").c_str(), &c, &err)) << err.msg;
        EXPECT_STREQ("/x", c->dests[0].path);
        audit_config_free(c);

        EXPECT_EQ(-ENOENT, audit_config_load((dir / "missing.json").c_str(), &c, &err));
        EXPECT_EQ("config " + (dir / "missing.json") + ": No such file or directory", std::string(err.msg));

        auditor_test::WriteFile(dir / "b.json", R"({"destination": {"type": "http_webhook", "url": true}})");
        EXPECT_EQ(-EINVAL, audit_config_load((dir / "b.json").c_str(), &c, &err));
        EXPECT_EQ("config " + (dir / "b.json") + ": destination.url: expected a string, got boolean",
                  std::string(err.msg));
}

}  // namespace

namespace {

// --webhook-token-file: the credential from a Secret, not from the config.
TEST(Config, WebhookTokenFromItsOwnFile)
{
        struct audit_config *c = Parse(R"({"destinations":[{"type":"http_webhook","url":"https://a/x"},
                {"type":"stdout"},{"type":"http_webhook","url":"https://b/y","headers":{"X-K":"v"}}]})");
        ASSERT_NE(nullptr, c);
        struct ak_error err = {};
        ASSERT_EQ(0, audit_config_set_webhook_token(c, "s3cret-token-0123", &err)) << err.msg;
        EXPECT_STREQ("Bearer s3cret-token-0123", c->dests[0].authorization);
        EXPECT_EQ(nullptr, c->dests[1].authorization);
        EXPECT_STREQ("Bearer s3cret-token-0123", c->dests[2].authorization);
        audit_config_free(c);

        c = Parse(R"({"destination":{"type":"stdout"}})");
        EXPECT_EQ(0, audit_config_set_webhook_token(c, "s3cret-token-0123", &err)) << err.msg;
        EXPECT_EQ(-EINVAL, audit_config_set_webhook_token(c, "two words", &err));
        EXPECT_EQ(-EINVAL, audit_config_set_webhook_token(c, "", &err));
        EXPECT_EQ(-EINVAL, audit_config_set_webhook_token(c, "a\r\nX-Evil: 1", &err));
        audit_config_free(c);
}

TEST(Config, WebhookTokenRefusesASecondCredential)
{
        for (const char *json : {R"({"destination":{"type":"http_webhook","url":"https://a/x","authorization":"Bearer t"}})",
                                 R"({"destination":{"type":"http_webhook","url":"https://a/x","headers":{"authorization":"t"}}})"}) {
                struct audit_config *c = Parse(json);
                ASSERT_NE(nullptr, c);
                struct ak_error err = {};
                EXPECT_EQ(-EINVAL, audit_config_set_webhook_token(c, "s3cret-token-0123", &err)) << json;
                EXPECT_NE(nullptr, strstr(err.msg, "keep the credential in the token file")) << err.msg;
                audit_config_free(c);
        }
}

}  // namespace
