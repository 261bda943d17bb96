// OCSF 1.3.0 mapping: classes, type_uid, times, required attributes.
#include "services/auditor/ocsf.h"

#include <stdlib.h>
#include <string.h>

#include <string>

#include <gtest/gtest.h>

#include "lib/json/json.h"

namespace {

struct audit_event *Event(const std::string &json)
{
        struct audit_event *e = nullptr;
        struct ak_error err = {};
        EXPECT_EQ(0, audit_event_from_json(json.data(), json.size(), &e, &err)) << err.msg;
        return e;
}

std::string Base(const std::string &type, const std::string &action, const std::string &outcome,
                 const std::string &extra = "")
{
        return "{\"time\":\"2026-01-02T02:50:45.123456789+00:00\",\"severity_id\":3,\"type_name\":\"" + type +
               "\",\"uid\":\"u-1\",\"action\":\"" + action + "\",\"outcome\":\"" + outcome +
               "\",\"metadata\":{\"product_name\":\"agentkernel\",\"vendor_name\":\"agentkernel\","
               "\"product_version\":\"0.18.1\",\"hostname\":\"node-1\"}" +
               extra + "}";
}

// The OCSF JSON of an event, parsed.
struct Ocsf {
        struct json_value *root = nullptr;
        explicit Ocsf(const std::string &event_json)
        {
                struct audit_event *e = Event(event_json);
                char *out = nullptr;
                size_t len = 0;
                EXPECT_EQ(0, ocsf_event_to_json(e, &out, &len));
                EXPECT_EQ(0, json_parse(out, len, &root, nullptr)) << out;
                free(out);
                audit_event_free(e);
        }
        ~Ocsf() { json_value_free(root); }
        const struct json_value *at(const std::string &path) const
        {
                const struct json_value *v = root;
                size_t start = 0;
                while (v && start <= path.size()) {
                        size_t dot = path.find('.', start);
                        std::string k = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
                        if (json_value_type(v) == JSON_ARRAY)
                                v = json_array_get(v, strtoul(k.c_str(), nullptr, 10));
                        else
                                v = json_object_get(v, k.c_str());
                        if (dot == std::string::npos)
                                break;
                        start = dot + 1;
                }
                return v;
        }
        uint64_t num(const std::string &path) const
        {
                uint64_t u = ~0ull;
                const struct json_value *v = at(path);
                EXPECT_TRUE(v && json_number_u64(v, &u) == 0) << path;
                return u;
        }
        std::string str(const std::string &path) const
        {
                const struct json_value *v = at(path);
                EXPECT_TRUE(v && json_value_type(v) == JSON_STRING) << path;
                return v && json_value_type(v) == JSON_STRING ? json_string(v, nullptr) : "";
        }
};

TEST(Ocsf, Classes)
{
        struct {
                const char *type, *action;
                unsigned cls, act;
        } cases[] = {
                { "command_executed", "exec", 1007, 1 },  { "sandbox_created", "create", 6003, 1 },
                { "sandbox_started", "start", 6003, 3 },  { "sandbox_stopped", "stop", 6003, 3 },
                { "sandbox_removed", "remove", 6003, 4 }, { "file_written", "write_file", 6003, 3 },
                { "file_read", "read_file", 6003, 2 },    { "sandbox_error", "boot", 6003, 99 },
                { "policy_decision", "Run", 6003, 1 },    { "policy_decision", "Network", 6003, 3 },
                { "policy_violation", "Delete", 6003, 4 }, { "auth_event", "login", 6003, 99 },
        };
        for (auto &c : cases) {
                struct audit_event *e = Event(Base(c.type, c.action, "permit"));
                unsigned cls, act;
                ocsf_classify(e, &cls, &act);
                EXPECT_EQ(c.cls, cls) << c.type;
                EXPECT_EQ(c.act, act) << c.type << " " << c.action;
                audit_event_free(e);
                Ocsf o(Base(c.type, c.action, "permit"));
                EXPECT_EQ(cls, o.num("class_uid"));
                EXPECT_EQ(act, o.num("activity_id"));
                EXPECT_EQ(cls * 100 + act, o.num("type_uid"));
                EXPECT_EQ(cls == 1007 ? 1u : 6u, o.num("category_uid"));
        }
}

TEST(Ocsf, RequestIdIsTheCorrelationUid)
{
        Ocsf o(Base("command_executed", "exec", "permit",
                    ",\"request_id\":\"req-5\",\"traceparent\":"
                    "\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\""));
        EXPECT_EQ("req-5", o.str("metadata.correlation_uid"));
        EXPECT_EQ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", o.str("unmapped.traceparent"));
        Ocsf none(Base("command_executed", "exec", "permit"));
        EXPECT_EQ(nullptr, none.at("metadata.correlation_uid"));
}

TEST(Ocsf, BaseAttributes)
{
        Ocsf o(Base("sandbox_created", "create", "deny",
                    ",\"actor\":{\"user_id\":\"user-123\",\"email\":\"u@example.com\",\"org_id\":\"acme\","
                    "\"ip_address\":\"10.0.0.7\"},\"resource\":{\"resource_type\":\"sandbox\",\"resource_id\":"
                    "\"dev\",\"attributes\":{\"image\":\"python:3.12\"}}"));
        EXPECT_EQ(1767322245123u, o.num("time"));
        EXPECT_EQ("API Activity", o.str("class_name"));
        EXPECT_EQ("Application Activity", o.str("category_name"));
        EXPECT_EQ("Create", o.str("activity_name"));
        EXPECT_EQ("API Activity: Create", o.str("type_name"));
        EXPECT_EQ(3u, o.num("severity_id"));
        EXPECT_EQ("Medium", o.str("severity"));
        EXPECT_EQ(2u, o.num("status_id"));
        EXPECT_EQ("Failure", o.str("status"));
        EXPECT_EQ("1.3.0", o.str("metadata.version"));
        EXPECT_EQ("agentkernel", o.str("metadata.product.name"));
        EXPECT_EQ("agentkernel", o.str("metadata.product.vendor_name"));
        EXPECT_EQ("0.18.1", o.str("metadata.product.version"));
        EXPECT_EQ("u-1", o.str("metadata.uid"));
        EXPECT_EQ("2026-01-02T02:50:45.123456789+00:00", o.str("metadata.original_time"));
        EXPECT_EQ("user-123", o.str("actor.user.uid"));
        EXPECT_EQ("u@example.com", o.str("actor.user.email_addr"));
        EXPECT_EQ("acme", o.str("actor.user.org.uid"));
        EXPECT_EQ(nullptr, o.at("actor.authorizations")); // not a policy decision
        EXPECT_EQ("create", o.str("api.operation"));
        EXPECT_EQ("agentkernel", o.str("api.service.name"));
        EXPECT_EQ("10.0.0.7", o.str("src_endpoint.ip"));
        EXPECT_EQ("sandbox", o.str("resources.0.type"));
        EXPECT_EQ("dev", o.str("resources.0.uid"));
        EXPECT_EQ("python:3.12", o.str("resources.0.data.image"));
        EXPECT_EQ("sandbox_created", o.str("unmapped.type_name"));
        EXPECT_EQ("deny", o.str("unmapped.outcome"));
}

TEST(Ocsf, PolicyDecisionCarriesTheAuthorization)
{
        Ocsf o(Base("policy_decision", "Network", "deny",
                    ",\"policy\":{\"policy_id\":\"no-network\",\"policy_name\":\"Healthcare\",\"policy_version\":3}"));
        EXPECT_EQ(6003u, o.num("class_uid"));
        EXPECT_EQ("Denied", o.str("actor.authorizations.0.decision"));
        EXPECT_EQ("no-network", o.str("actor.authorizations.0.policy.uid"));
        EXPECT_EQ("Healthcare", o.str("actor.authorizations.0.policy.name"));
        EXPECT_EQ("3", o.str("actor.authorizations.0.policy.version"));
        EXPECT_EQ("agentkernel", o.str("actor.app_name")); // an actor needs one of its identities
        EXPECT_EQ("node-1", o.str("src_endpoint.hostname"));

        Ocsf p(Base("policy_decision", "Run", "permit"));
        EXPECT_EQ("Allowed", p.str("actor.authorizations.0.decision"));
        EXPECT_EQ(1u, p.num("status_id"));
}

TEST(Ocsf, CommandExecutedIsProcessActivity)
{
        Ocsf o(Base("command_executed", "exec", "info",
                    ",\"resource\":{\"resource_type\":\"sandbox\",\"resource_id\":\"dev\",\"attributes\":"
                    "{\"command\":[\"python3\",\"-c\",\"print(1)\"],\"exit_code\":0}}"));
        EXPECT_EQ(1007u, o.num("class_uid"));
        EXPECT_EQ(100701u, o.num("type_uid"));
        EXPECT_EQ("Launch", o.str("activity_name"));
        EXPECT_EQ("System Activity", o.str("category_name"));
        EXPECT_EQ("python3 -c print(1)", o.str("process.cmd_line"));
        EXPECT_EQ("u-1", o.str("process.uid"));
        EXPECT_EQ(0u, o.num("exit_code"));
        EXPECT_EQ("node-1", o.str("device.hostname"));
        EXPECT_EQ(0u, o.num("device.type_id"));
        EXPECT_EQ("agentkernel", o.str("actor.app_name"));
        EXPECT_EQ("dev", o.str("unmapped.resource.resource_id"));
        EXPECT_EQ(nullptr, o.at("api"));
        EXPECT_EQ(1u, o.num("status_id"));
        EXPECT_EQ(1u, o.num("severity_id") == 3 ? 1u : 0u);
}

TEST(Ocsf, OddValuesStayValid)
{
        // Severity outside OCSF's enum; a time that is not RFC 3339.
        std::string j = Base("x", "y", "error");
        j.replace(j.find("\"severity_id\":3"), 15, "\"severity_id\":42");
        j.replace(j.find("2026-01-02T02:50:45.123456789+00:00"), 35, "not a time");
        Ocsf o(j);
        EXPECT_EQ(99u, o.num("severity_id"));
        EXPECT_EQ("Other", o.str("severity"));
        EXPECT_EQ(42u, o.num("unmapped.severity_id"));
        EXPECT_EQ(0u, o.num("time"));
        EXPECT_EQ("not a time", o.str("unmapped.time"));
        EXPECT_EQ("y", o.str("activity_name"));
        EXPECT_EQ("API Activity: Other", o.str("type_name"));
}

}  // namespace

// A denied connection from a sandbox's VM (executor_netaudit.c's event) is
// OCSF Network Activity: Refuse, Blocked, with its destination, protocol
// and the rule that refused it.
TEST(OcsfNetwork, NetworkDeniedIsNetworkActivityRefuseBlocked)
{
        std::string ev = Base("network_denied", "connect", "deny",
                              ",\"actor\":{\"user_id\":\"ak-executor\",\"email\":null,\"org_id\":\"acme\","
                              "\"ip_address\":null},\"resource\":{\"resource_type\":\"sandbox\",\"resource_id\":"
                              "\"dev\",\"attributes\":{\"destination\":\"10.213.0.1\",\"name\":\"\",\"port\":8080,"
                              "\"protocol\":\"tcp\",\"rule\":\"private\",\"suppressed\":12}}");
        struct audit_event *e = Event(ev);
        unsigned cls, act;
        ocsf_classify(e, &cls, &act);
        EXPECT_EQ(4001u, cls);
        EXPECT_EQ(5u, act);
        audit_event_free(e);
        Ocsf o(ev);
        EXPECT_EQ(4001u, o.num("class_uid"));
        EXPECT_EQ("Network Activity", o.str("class_name"));
        EXPECT_EQ(4u, o.num("category_uid"));
        EXPECT_EQ(5u, o.num("activity_id"));
        EXPECT_EQ("Refuse", o.str("activity_name"));
        EXPECT_EQ(400105u, o.num("type_uid"));
        EXPECT_EQ(2u, o.num("disposition_id"));
        EXPECT_EQ("Blocked", o.str("disposition"));
        EXPECT_EQ(2u, o.num("action_id"));
        EXPECT_EQ("Denied", o.str("action"));
        EXPECT_EQ("10.213.0.1", o.str("dst_endpoint.ip"));
        EXPECT_EQ(8080u, o.num("dst_endpoint.port"));
        EXPECT_EQ("tcp", o.str("connection_info.protocol_name"));
        EXPECT_EQ(6u, o.num("connection_info.protocol_num"));
        EXPECT_EQ("private", o.str("firewall_rule.name"));
        EXPECT_EQ("dev", o.str("src_endpoint.uid"));
        EXPECT_EQ("acme", o.str("src_endpoint.owner.org.uid"));
        EXPECT_EQ(12u, o.num("unmapped.suppressed"));
        EXPECT_EQ("1.3.0", o.str("metadata.version"));
        EXPECT_EQ(1767322245123u, o.num("time"));
}

// Without attributes (another producer's event of that type) it stays a
// valid Network Activity: a dst_endpoint with a name.
TEST(OcsfNetwork, NetworkDeniedWithoutAttributesStaysValid)
{
        Ocsf o(Base("network_denied", "connect", "deny", ""));
        EXPECT_EQ(4001u, o.num("class_uid"));
        EXPECT_EQ("unknown", o.str("dst_endpoint.name"));
        EXPECT_EQ("unknown", o.str("src_endpoint.uid"));
}
