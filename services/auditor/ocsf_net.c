/* network_denied -> OCSF 1.3.0 Network Activity (class 4001, category 4).
 *
 * The executor files one event per connection or packet its VM's network
 * policy refused (services/executor/executor_netaudit.c), attributes
 * {destination, port, protocol, rule, name, suppressed}. In OCSF that is a
 * Network Activity with activity Refuse (5: "the network connection was
 * refused"), disposition Blocked (2) and action Denied (2), the destination
 * in dst_endpoint {ip, port}, the protocol in connection_info
 * {protocol_name, protocol_num}, the sandbox as src_endpoint (its name as
 * the endpoint's name and uid) and the policy rule as a firewall_rule
 * {name, type "nftables"}; events the rate limit held back before this one
 * are unmapped.suppressed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json/json.h"
#include "lib/json/writer.h"
#include "services/auditor/ocsf.h"

static void key(struct json_writer *w, const char *k)
{
        json_writer_key(w, k, strlen(k));
}

static void kstr(struct json_writer *w, const char *k, const char *v)
{
        key(w, k);
        json_writer_string(w, v, strlen(v));
}

static void ku64(struct json_writer *w, const char *k, uint64_t v)
{
        key(w, k);
        json_writer_u64(w, v);
}

static const char *attr_str(const struct json_value *attrs, const char *k)
{
        const struct json_value *v = attrs ? json_object_get(attrs, k) : NULL;
        return v && json_value_type(v) == JSON_STRING ? json_string(v, NULL) : NULL;
}

static bool attr_u64(const struct json_value *attrs, const char *k, uint64_t *ret)
{
        const struct json_value *v = attrs ? json_object_get(attrs, k) : NULL;
        return v && json_number_u64(v, ret) == 0;
}

static unsigned protocol_num(const char *name)
{
        if (!name)
                return 0;
        if (strcmp(name, "tcp") == 0)
                return 6;
        if (strcmp(name, "udp") == 0)
                return 17;
        if (strcmp(name, "icmp") == 0)
                return 1;
        if (strcmp(name, "icmpv6") == 0)
                return 58;
        return 0;
}

bool ocsf_is_network_event(const struct audit_event *e)
{
        return strcmp(e->type_name, AUDIT_TYPE_NETWORK_DENIED) == 0;
}

void ocsf_write_network(struct json_writer *w, const struct audit_event *e, int64_t ms)
{
        struct json_value *attrs = NULL;
        if (e->resource && e->resource->attributes)
                json_parse(e->resource->attributes, strlen(e->resource->attributes), &attrs, NULL);
        const char *dst = attr_str(attrs, "destination"), *proto = attr_str(attrs, "protocol");
        const char *rule = attr_str(attrs, "rule"), *name = attr_str(attrs, "name");
        uint64_t port = 0, suppressed = 0;
        bool has_port = attr_u64(attrs, "port", &port) && port > 0;
        bool has_suppressed = attr_u64(attrs, "suppressed", &suppressed);

        json_writer_begin_object(w);
        ku64(w, "activity_id", 5);
        kstr(w, "activity_name", "Refuse");
        ku64(w, "category_uid", 4);
        kstr(w, "category_name", "Network Activity");
        ku64(w, "class_uid", OCSF_CLASS_NETWORK_ACTIVITY);
        kstr(w, "class_name", "Network Activity");
        ku64(w, "type_uid", (uint64_t)OCSF_CLASS_NETWORK_ACTIVITY * 100 + 5);
        kstr(w, "type_name", "Network Activity: Refuse");
        key(w, "time");
        json_writer_i64(w, ms);
        ku64(w, "severity_id", e->severity_id <= 6 ? e->severity_id : 99);
        ku64(w, "action_id", 2);
        kstr(w, "action", "Denied");
        ku64(w, "disposition_id", 2);
        kstr(w, "disposition", "Blocked");
        ku64(w, "status_id", 2);
        kstr(w, "status", "Failure");
        key(w, "metadata");
        json_writer_begin_object(w);
        kstr(w, "version", OCSF_SCHEMA_VERSION);
        key(w, "product");
        json_writer_begin_object(w);
        kstr(w, "name", e->metadata.product_name);
        kstr(w, "vendor_name", e->metadata.vendor_name);
        kstr(w, "version", e->metadata.product_version);
        json_writer_end_object(w);
        kstr(w, "uid", e->uid);
        kstr(w, "original_time", e->time);
        kstr(w, "event_code", e->type_name);
        json_writer_end_object(w);

        key(w, "src_endpoint");
        json_writer_begin_object(w);
        const char *sb = e->resource && e->resource->resource_id ? e->resource->resource_id : "unknown";
        kstr(w, "name", sb);
        kstr(w, "uid", sb);
        kstr(w, "type", "Virtual Machine");
        if (e->actor && e->actor->org_id) {
                key(w, "owner");
                json_writer_begin_object(w);
                key(w, "org");
                json_writer_begin_object(w);
                kstr(w, "uid", e->actor->org_id);
                json_writer_end_object(w);
                json_writer_end_object(w);
        }
        json_writer_end_object(w);
        key(w, "dst_endpoint");
        json_writer_begin_object(w);
        if (dst && *dst)
                kstr(w, "ip", dst);
        if (name && *name)
                kstr(w, "hostname", name);
        if (!(dst && *dst) && !(name && *name))
                kstr(w, "name", "unknown");
        if (has_port)
                ku64(w, "port", port);
        json_writer_end_object(w);
        if (proto) {
                key(w, "connection_info");
                json_writer_begin_object(w);
                kstr(w, "protocol_name", proto);
                if (protocol_num(proto))
                        ku64(w, "protocol_num", protocol_num(proto));
                json_writer_end_object(w);
        }
        if (rule) {
                key(w, "firewall_rule");
                json_writer_begin_object(w);
                kstr(w, "name", rule);
                kstr(w, "type", "nftables");
                json_writer_end_object(w);
        }
        key(w, "unmapped");
        json_writer_begin_object(w);
        kstr(w, "type_name", e->type_name);
        kstr(w, "outcome", audit_outcome_name(e->outcome));
        if (has_suppressed)
                ku64(w, "suppressed", suppressed);
        json_writer_end_object(w);
        json_writer_end_object(w);
        json_value_free(attrs);
}
