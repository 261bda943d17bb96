// AuditEvent: serde bytes, serde-semantics parsing, the protobuf form with
// the auditor's defaults and validation, times, UUIDs.
#include "lib/audit/event.h"

#include <stdlib.h>
#include <string.h>

#include <string>

#include <gtest/gtest.h>

namespace {

std::string ToJson(const struct audit_event *e)
{
        char *s = nullptr;
        size_t n = 0;
        EXPECT_EQ(0, audit_event_to_json(e, &s, &n));
        std::string out(s ? s : "", n);
        free(s);
        return out;
}

struct audit_event *Parse(const std::string &json)
{
        struct audit_event *e = nullptr;
        struct ak_error err = {};
        int r = audit_event_from_json(json.data(), json.size(), &e, &err);
        EXPECT_EQ(0, r) << err.msg;
        return e;
}

std::string ParseError(const std::string &json)
{
        struct audit_event *e = nullptr;
        struct ak_error err = {};
        int r = audit_event_from_json(json.data(), json.size(), &e, &err);
        EXPECT_LT(r, 0) << json;
        audit_event_free(e);
        return err.msg;
}

// The seed's sample_deny_event with a fixed time, uid and host.
const char kDenyJson[] =
        "{\"time\":\"2026-01-02T03:04:05.123456789+00:00\",\"class_uid\":3001,\"category_uid\":3,"
        "\"severity_id\":3,\"type_name\":\"policy_decision\",\"uid\":\"0b4c2d7e-1111-4222-8333-944445555666\","
        "\"action\":\"Network\",\"outcome\":\"deny\",\"actor\":{\"user_id\":\"user-123\",\"email\":"
        "\"user@example.com\",\"org_id\":\"acme-corp\",\"ip_address\":null},\"resource\":{\"resource_type\":"
        "\"sandbox\",\"resource_id\":\"dev-sandbox\",\"attributes\":{}},\"policy\":{\"policy_id\":"
        "\"no-network-healthcare\",\"policy_name\":\"Healthcare Network Restriction\",\"policy_version\":3},"
        "\"metadata\":{\"product_name\":\"agentkernel\",\"vendor_name\":\"agentkernel\",\"product_version\":"
        "\"0.18.1\",\"hostname\":\"build-1\"}}";

TEST(Event, NewHasTheSeedDefaults)
{
        struct audit_event *e = nullptr;
        ASSERT_EQ(0, audit_event_new("policy_decision", "Run", AUDIT_OUTCOME_PERMIT, &e));
        std::string j = ToJson(e);
        EXPECT_NE(std::string::npos, j.find("\"type_name\":\"policy_decision\""));
        EXPECT_NE(std::string::npos, j.find("\"action\":\"Run\""));
        EXPECT_NE(std::string::npos, j.find("\"product_name\":\"agentkernel\""));
        EXPECT_NE(std::string::npos, j.find("\"class_uid\":3001,\"category_uid\":3,\"severity_id\":1,"));
        EXPECT_EQ(36u, strlen(e->uid));
        EXPECT_EQ('4', e->uid[14]); // UUIDv4, as uuid::Uuid::new_v4
        int64_t ms;
        EXPECT_EQ(0, audit_time_parse_ms(e->time, &ms));
        EXPECT_NE(nullptr, strstr(e->time, "+00:00"));
        audit_event_free(e);

        ASSERT_EQ(0, audit_event_new("t", "a", AUDIT_OUTCOME_DENY, &e));
        EXPECT_EQ(3u, e->severity_id);
        audit_event_free(e);
        ASSERT_EQ(0, audit_event_new("t", "a", AUDIT_OUTCOME_ERROR, &e));
        EXPECT_EQ(4u, e->severity_id);
        audit_event_free(e);
        ASSERT_EQ(0, audit_event_new("t", "a", AUDIT_OUTCOME_INFO, &e));
        EXPECT_EQ(1u, e->severity_id);
        audit_event_free(e);
        EXPECT_EQ(-EINVAL, audit_event_new("t", "a", (enum audit_outcome)0, &e));
}

TEST(Event, SerdeBytesRoundTrip)
{
        struct audit_event *e = Parse(kDenyJson);
        ASSERT_NE(nullptr, e);
        EXPECT_EQ(kDenyJson, ToJson(e));
        EXPECT_EQ(AUDIT_OUTCOME_DENY, e->outcome);
        EXPECT_STREQ("user-123", e->actor->user_id);
        EXPECT_EQ(nullptr, e->actor->ip_address);
        EXPECT_TRUE(e->policy->has_policy_version);
        EXPECT_EQ(3u, e->policy->policy_version);
        audit_event_free(e);
}

TEST(Event, ParseFollowsSerde)
{
        // Defaults for missing fields, unknown fields ignored, null Options.
        struct audit_event *e = Parse(
                "{\"time\":\"t\",\"type_name\":\"x\",\"uid\":\"u\",\"action\":\"a\",\"outcome\":\"info\","
                "\"actor\":null,\"extra\":[1,2],\"resource\":{\"resource_type\":\"file\"},"
                "\"policy\":{\"policy_id\":\"p\",\"policy_version\":null},"
                "\"metadata\":{\"hostname\":null}}");
        ASSERT_NE(nullptr, e);
        EXPECT_EQ(3001u, e->class_uid);
        EXPECT_EQ(3u, e->category_uid);
        EXPECT_EQ(1u, e->severity_id);
        EXPECT_EQ(nullptr, e->actor);
        EXPECT_STREQ("{}", e->resource->attributes);
        EXPECT_EQ(nullptr, e->resource->resource_id);
        EXPECT_FALSE(e->policy->has_policy_version);
        EXPECT_STREQ("agentkernel", e->metadata.product_name);
        EXPECT_STREQ("0.18.1", e->metadata.product_version);
        EXPECT_EQ(nullptr, e->metadata.hostname);
        EXPECT_EQ("{\"time\":\"t\",\"class_uid\":3001,\"category_uid\":3,\"severity_id\":1,\"type_name\":\"x\","
                  "\"uid\":\"u\",\"action\":\"a\",\"outcome\":\"info\",\"actor\":null,\"resource\":{"
                  "\"resource_type\":\"file\",\"resource_id\":null,\"attributes\":{}},\"policy\":{\"policy_id\":"
                  "\"p\",\"policy_name\":null,\"policy_version\":null},\"metadata\":{\"product_name\":"
                  "\"agentkernel\",\"vendor_name\":\"agentkernel\",\"product_version\":\"0.18.1\",\"hostname\":"
                  "null}}",
                  ToJson(e));
        audit_event_free(e);

        // A missing metadata is EventMetadata::default(), with this host's name.
        e = Parse("{\"time\":\"t\",\"type_name\":\"x\",\"uid\":\"u\",\"action\":\"a\",\"outcome\":\"permit\"}");
        ASSERT_NE(nullptr, e);
        if (audit_hostname()) {
                EXPECT_STREQ(audit_hostname(), e->metadata.hostname);
        }
        audit_event_free(e);
}

TEST(Event, ParseErrorsNameTheField)
{
        const std::string base = "\"time\":\"t\",\"type_name\":\"x\",\"action\":\"a\",\"outcome\":\"permit\"";
        EXPECT_EQ("uid: missing field", ParseError("{" + base + "}"));
        EXPECT_EQ("uid: duplicate field", ParseError("{" + base + ",\"uid\":\"a\",\"uid\":\"b\"}"));
        EXPECT_EQ("uid: invalid type: number, expected a string", ParseError("{" + base + ",\"uid\":7}"));
        EXPECT_EQ("outcome: unknown variant `allow`, expected one of `permit`, `deny`, `error`, `info`",
                  ParseError("{\"time\":\"t\",\"type_name\":\"x\",\"uid\":\"u\",\"action\":\"a\","
                             "\"outcome\":\"allow\"}"));
        EXPECT_EQ("class_uid: invalid value: `4294967296`, expected u32",
                  ParseError("{" + base + ",\"uid\":\"u\",\"class_uid\":4294967296}"));
        EXPECT_EQ("severity_id: invalid type: string, expected an unsigned integer",
                  ParseError("{" + base + ",\"uid\":\"u\",\"severity_id\":\"1\"}"));
        EXPECT_EQ("actor.email: invalid type: boolean, expected a string",
                  ParseError("{" + base + ",\"uid\":\"u\",\"actor\":{\"email\":true}}"));
        EXPECT_EQ("resource.resource_type: missing field",
                  ParseError("{" + base + ",\"uid\":\"u\",\"resource\":{}}"));
        EXPECT_EQ("resource.attributes: invalid type: array, expected a map",
                  ParseError("{" + base + ",\"uid\":\"u\",\"resource\":{\"resource_type\":\"f\",\"attributes\":[]}}"));
        EXPECT_EQ("metadata.product_name: invalid type: null, expected a string",
                  ParseError("{" + base + ",\"uid\":\"u\",\"metadata\":{\"product_name\":null}}"));
        EXPECT_EQ("invalid type: array, expected struct AuditEvent", ParseError("[]"));
        EXPECT_EQ("uid: not valid UTF-8 (or contains NUL)", ParseError("{" + base + ",\"uid\":\"a\\u0000b\"}"));
        EXPECT_EQ(0u, ParseError("{\"time\":").find("event: "));
}

TEST(Event, AttributesAreCanonical)
{
        char *out = nullptr;
        struct ak_error err = {};
        const char in[] = "{\"b\":1, \"a\":{\"z\":[1,2.50,\"\\u00e9\"],\"y\":null},\"b\":2}";
        ASSERT_EQ(0, audit_attributes_canonical(in, strlen(in), &out, &err)) << err.msg;
        EXPECT_STREQ("{\"a\":{\"y\":null,\"z\":[1,2.50,\"\xc3\xa9\"]},\"b\":2}", out);
        free(out);
        ASSERT_EQ(0, audit_attributes_canonical("", 0, &out, &err));
        EXPECT_STREQ("{}", out);
        free(out);
        EXPECT_EQ(-EINVAL, audit_attributes_canonical("[1]", 3, &out, &err));
        EXPECT_STREQ("resource.attributes_json: invalid type: array, expected a map", err.msg);
        EXPECT_EQ(-EINVAL, audit_attributes_canonical("{", 1, &out, &err));
        EXPECT_EQ(0, strncmp(err.msg, "resource.attributes_json: not JSON: ", 36)) << err.msg;
        std::string big = "{\"k\":\"" + std::string(AUDIT_MAX_ATTRIBUTES, 'x') + "\"}";
        EXPECT_EQ(-EINVAL, audit_attributes_canonical(big.data(), big.size(), &out, &err));
}

TEST(Event, FromProtobufFillsDefaults)
{
        Ak__V1__AuditEvent pb = AK__V1__AUDIT_EVENT__INIT;
        pb.type_name = (char *)"sandbox_created";
        pb.action = (char *)"create";
        pb.outcome = AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_DENY;
        struct audit_event *e = nullptr;
        struct ak_error err = {};
        ASSERT_EQ(0, audit_event_from_pb(&pb, &e, &err)) << err.msg;
        EXPECT_EQ(3001u, e->class_uid);
        EXPECT_EQ(3u, e->category_uid);
        EXPECT_EQ(3u, e->severity_id); // the seed's mapping for deny
        EXPECT_EQ(36u, strlen(e->uid));
        EXPECT_EQ('7', e->uid[14]); // UUIDv7
        int64_t ms;
        EXPECT_EQ(0, audit_time_parse_ms(e->time, &ms));
        EXPECT_STREQ("agentkernel", e->metadata.vendor_name);
        EXPECT_STREQ("0.18.1", e->metadata.product_version);
        EXPECT_EQ(nullptr, e->actor);
        audit_event_free(e);

        // Given values stay; an empty metadata field takes its default.
        Ak__V1__EventMetadata md = AK__V1__EVENT_METADATA__INIT;
        md.product_name = (char *)"ak";
        Ak__V1__ResourceInfo res = AK__V1__RESOURCE_INFO__INIT;
        res.resource_type = (char *)"sandbox";
        res.attributes_json = (char *)"{\"z\":1,\"a\":true}";
        pb.metadata = &md;
        pb.resource = &res;
        pb.uid = (char *)"my-uid";
        pb.time = (char *)"2026-01-02T03:04:05Z";
        pb.severity_id = 5;
        ASSERT_EQ(0, audit_event_from_pb(&pb, &e, &err)) << err.msg;
        EXPECT_STREQ("my-uid", e->uid);
        EXPECT_STREQ("2026-01-02T03:04:05Z", e->time);
        EXPECT_EQ(5u, e->severity_id);
        EXPECT_STREQ("ak", e->metadata.product_name);
        EXPECT_STREQ("agentkernel", e->metadata.vendor_name);
        EXPECT_EQ(nullptr, e->metadata.hostname);
        EXPECT_STREQ("{\"a\":true,\"z\":1}", e->resource->attributes);

        // And back: the view carries the same event.
        struct audit_event_pb view;
        audit_event_to_pb(e, &view);
        struct audit_event *e2 = nullptr;
        ASSERT_EQ(0, audit_event_from_pb(&view.event, &e2, &err)) << err.msg;
        EXPECT_EQ(ToJson(e), ToJson(e2));
        audit_event_free(e2);
        audit_event_free(e);
}

std::string PbError(void (*edit)(Ak__V1__AuditEvent *))
{
        Ak__V1__AuditEvent pb = AK__V1__AUDIT_EVENT__INIT;
        pb.type_name = (char *)"t";
        pb.action = (char *)"a";
        pb.outcome = AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT;
        edit(&pb);
        struct audit_event *e = nullptr;
        struct ak_error err = {};
        EXPECT_EQ(-EINVAL, audit_event_from_pb(&pb, &e, &err));
        audit_event_free(e);
        return err.msg;
}

TEST(Event, FromProtobufRejectsNamingTheField)
{
        EXPECT_EQ("outcome: unspecified (set permit, deny, error or info)",
                  PbError([](Ak__V1__AuditEvent *p) { p->outcome = AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_UNSPECIFIED; }));
        EXPECT_EQ("outcome: unknown value (set permit, deny, error or info)",
                  PbError([](Ak__V1__AuditEvent *p) { p->outcome = (Ak__V1__EventOutcome)9; }));
        EXPECT_EQ("type_name: required, got an empty string",
                  PbError([](Ak__V1__AuditEvent *p) { p->type_name = (char *)""; }));
        EXPECT_EQ("action: required, got an empty string",
                  PbError([](Ak__V1__AuditEvent *p) { p->action = (char *)""; }));
        EXPECT_EQ(0u, PbError([](Ak__V1__AuditEvent *p) { p->time = (char *)"yesterday"; })
                              .find("time: \"yesterday\" is not RFC 3339"));
        EXPECT_EQ("action: not valid UTF-8 (or contains NUL)",
                  PbError([](Ak__V1__AuditEvent *p) { p->action = (char *)"\xff"; }));
        static std::string long_uid(AUDIT_MAX_UID + 1, 'u');
        EXPECT_EQ("uid: 129 bytes, more than the limit of 128",
                  PbError([](Ak__V1__AuditEvent *p) { p->uid = (char *)long_uid.c_str(); }));
        static Ak__V1__ResourceInfo res = AK__V1__RESOURCE_INFO__INIT;
        EXPECT_EQ("resource.resource_type: required, got an empty string",
                  PbError([](Ak__V1__AuditEvent *p) { p->resource = &res; }));
        static Ak__V1__PolicyInfo pol = AK__V1__POLICY_INFO__INIT;
        EXPECT_EQ("policy.policy_id: required, got an empty string",
                  PbError([](Ak__V1__AuditEvent *p) { p->policy = &pol; }));
}

// ak's request_id and traceparent: after metadata, only when set (an
// agentkernel event keeps its bytes: SerdeBytesRoundTrip), through JSON and
// protobuf, refused when not valid.
TEST(Event, RequestIdAndTraceparent)
{
        const char tp[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        std::string json = std::string(kDenyJson, sizeof(kDenyJson) - 2) +
                           ",\"request_id\":\"req-1\",\"traceparent\":\"" + tp + "\"}";
        struct audit_event *e = Parse(json);
        ASSERT_NE(nullptr, e);
        EXPECT_STREQ("req-1", e->request_id);
        EXPECT_STREQ(tp, e->traceparent);
        EXPECT_EQ(json, ToJson(e));
        struct audit_event_pb view;
        audit_event_to_pb(e, &view);
        EXPECT_STREQ("req-1", view.event.request_id);
        struct audit_event *e2 = nullptr;
        struct ak_error err = {};
        ASSERT_EQ(0, audit_event_from_pb(&view.event, &e2, &err)) << err.msg;
        EXPECT_EQ(json, ToJson(e2));
        audit_event_free(e2);
        audit_event_free(e);

        e = Parse(std::string(kDenyJson, sizeof(kDenyJson) - 2) + ",\"request_id\":null}");
        ASSERT_NE(nullptr, e);
        EXPECT_EQ(nullptr, e->request_id);
        EXPECT_EQ(kDenyJson, ToJson(e));
        audit_event_free(e);

        EXPECT_EQ("request_id: invalid value: want 1..128 of [A-Za-z0-9._:-]",
                  ParseError(std::string(kDenyJson, sizeof(kDenyJson) - 2) + ",\"request_id\":\"a b\"}"));
        EXPECT_EQ("traceparent: invalid value: want a W3C version-00 traceparent",
                  ParseError(std::string(kDenyJson, sizeof(kDenyJson) - 2) + ",\"traceparent\":\"00-x\"}"));
        EXPECT_EQ("request_id: not 1..128 of [A-Za-z0-9._:-]",
                  PbError([](Ak__V1__AuditEvent *p) { p->request_id = (char *)"a\"b"; }));
        EXPECT_EQ("traceparent: not a W3C version-00 traceparent",
                  PbError([](Ak__V1__AuditEvent *p) {
                          p->traceparent = (char *)"00-00000000000000000000000000000000-00f067aa0ba902b7-01";
                  }));
}

TEST(Event, TimesAsChrono)
{
        char buf[AUDIT_TIME_MAX];
        audit_time_format(1767322245, 0, buf);
        EXPECT_STREQ("2026-01-02T02:50:45+00:00", buf);
        audit_time_format(1767322245, 123000000, buf);
        EXPECT_STREQ("2026-01-02T02:50:45.123+00:00", buf);
        audit_time_format(1767322245, 123456000, buf);
        EXPECT_STREQ("2026-01-02T02:50:45.123456+00:00", buf);
        audit_time_format(1767322245, 1, buf);
        EXPECT_STREQ("2026-01-02T02:50:45.000000001+00:00", buf);

        int64_t ms = 0;
        EXPECT_EQ(0, audit_time_parse_ms("2026-01-02T02:50:45.123456789+00:00", &ms));
        EXPECT_EQ(1767322245123, ms);
        EXPECT_EQ(0, audit_time_parse_ms("2026-01-02T03:50:45.5+01:00", &ms));
        EXPECT_EQ(1767322245500, ms);
        EXPECT_EQ(0, audit_time_parse_ms("1970-01-01t00:00:00z", &ms));
        EXPECT_EQ(0, ms);
        EXPECT_EQ(0, audit_time_parse_ms("1969-12-31T23:59:59Z", &ms));
        EXPECT_EQ(-1000, ms);
        EXPECT_EQ(0, audit_time_parse_ms("2024-02-29T00:00:00Z", &ms));
        for (const char *bad : {"2023-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-02T24:00:00Z",
                                "2026-01-02T00:00:00", "2026-01-02T00:00:00.Z", "2026-01-02T00:00:00+0100",
                                "2026-01-02T00:00:00Zx", "", "2026-01-02"})
                EXPECT_EQ(-EINVAL, audit_time_parse_ms(bad, &ms)) << bad;
}

TEST(Event, Utf8Validation)
{
        EXPECT_TRUE(audit_utf8_valid("ascii \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 17));
        EXPECT_FALSE(audit_utf8_valid("\xc0\xaf", 2));         // overlong
        EXPECT_FALSE(audit_utf8_valid("\xed\xa0\x80", 3));     // surrogate
        EXPECT_FALSE(audit_utf8_valid("\xf4\x90\x80\x80", 4)); // past U+10FFFF
        EXPECT_FALSE(audit_utf8_valid("\xe2\x82", 2));         // cut short
        EXPECT_FALSE(audit_utf8_valid("a\0b", 3));
}

TEST(Event, OutcomeNames)
{
        enum audit_outcome o;
        EXPECT_EQ(0, audit_outcome_from_name("error", &o));
        EXPECT_EQ(AUDIT_OUTCOME_ERROR, o);
        EXPECT_EQ(-EINVAL, audit_outcome_from_name("Permit", &o));
        EXPECT_STREQ("info", audit_outcome_name(AUDIT_OUTCOME_INFO));
        EXPECT_EQ(nullptr, audit_outcome_name((enum audit_outcome)0));
}

}  // namespace
