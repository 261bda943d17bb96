/* AuditEvent -> OCSF 1.3.0. Class choices are in ocsf.h.
 *
 * Policy decisions: OCSF 1.3.0 has no class for "a policy engine allowed or
 * denied a request". Authorize Session (3003) reports privileges assigned to
 * a new logon; the Findings classes (2004 Detection Finding, 2003 Compliance
 * Finding) report detections and compliance checks, not decisions, and a
 * permit is neither. What an agentkernel policy decides is whether an API
 * request (Run, Exec, Network, ...) may proceed, so the event is that API
 * Activity (6003), and the decision and the policy go where OCSF puts an
 * authorization outcome: actor.authorizations[] (Authorization Result:
 * decision + policy {uid, name, version}). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/json/json.h"
#include "lib/json/writer.h"
#include "services/auditor/ocsf.h"

struct activity_name {
        const char *word;
        unsigned id;
};

/* Sandbox API calls by type_name. */
static const struct activity_name type_activities[] = {
        { "sandbox_created", 1 }, { "sandbox_started", 3 }, { "sandbox_stopped", 3 },
        { "sandbox_removed", 4 }, { "file_written", 3 },    { "file_read", 2 },
        { "sandbox_error", 99 },
};

/* Other events (policy decisions, agentkernel's own types) by their action. */
static const struct activity_name action_activities[] = {
        { "create", 1 }, { "run", 1 },       { "read", 2 },        { "fileread", 2 },  { "get", 2 },
        { "list", 2 },   { "update", 3 },    { "exec", 3 },        { "write", 3 },     { "filewrite", 3 },
        { "start", 3 },  { "stop", 3 },      { "network", 3 },     { "delete", 4 },    { "remove", 4 },
};

static const char *api_activity_caption(unsigned id)
{
        switch (id) {
        case 1:
                return "Create";
        case 2:
                return "Read";
        case 3:
                return "Update";
        case 4:
                return "Delete";
        default:
                return "Other";
        }
}

void ocsf_classify(const struct audit_event *e, unsigned *ret_class_uid, unsigned *ret_activity_id)
{
        if (ocsf_is_network_event(e)) {
                *ret_class_uid = OCSF_CLASS_NETWORK_ACTIVITY;
                *ret_activity_id = 5; /* Refuse */
                return;
        }
        if (strcmp(e->type_name, "command_executed") == 0) {
                *ret_class_uid = OCSF_CLASS_PROCESS_ACTIVITY;
                *ret_activity_id = 1; /* Launch */
                return;
        }
        *ret_class_uid = OCSF_CLASS_API_ACTIVITY;
        for (size_t i = 0; i < sizeof(type_activities) / sizeof(type_activities[0]); i++)
                if (strcmp(e->type_name, type_activities[i].word) == 0) {
                        *ret_activity_id = type_activities[i].id;
                        return;
                }
        for (size_t i = 0; i < sizeof(action_activities) / sizeof(action_activities[0]); i++)
                if (strcasecmp(e->action, action_activities[i].word) == 0) {
                        *ret_activity_id = action_activities[i].id;
                        return;
                }
        *ret_activity_id = 99;
}

static const char *severity_caption(uint32_t id)
{
        static const char *const names[] = { "Unknown", "Informational", "Low", "Medium", "High", "Critical",
                                             "Fatal" };
        return id < 7 ? names[id] : "Other";
}

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

static bool is_policy_event(const struct audit_event *e)
{
        return e->policy || strncmp(e->type_name, "policy_", 7) == 0;
}

static const char *decision(enum audit_outcome o)
{
        switch (o) {
        case AUDIT_OUTCOME_PERMIT:
                return "Allowed";
        case AUDIT_OUTCOME_DENY:
                return "Denied";
        case AUDIT_OUTCOME_ERROR:
                return "Error";
        default:
                return "Not Applicable";
        }
}

static bool has_user(const struct audit_event *e)
{
        return e->actor && (e->actor->user_id || e->actor->email);
}

static void write_actor(struct json_writer *w, const struct audit_event *e)
{
        key(w, "actor");
        json_writer_begin_object(w);
        if (has_user(e)) {
                key(w, "user");
                json_writer_begin_object(w);
                if (e->actor->user_id)
                        kstr(w, "uid", e->actor->user_id);
                else
                        kstr(w, "name", e->actor->email); /* a user needs a name or uid */
                if (e->actor->email)
                        kstr(w, "email_addr", e->actor->email);
                if (e->actor->org_id) {
                        key(w, "org");
                        json_writer_begin_object(w);
                        kstr(w, "uid", e->actor->org_id);
                        json_writer_end_object(w);
                }
                json_writer_end_object(w);
        } else {
                kstr(w, "app_name", e->metadata.product_name);
        }
        if (is_policy_event(e)) {
                key(w, "authorizations");
                json_writer_begin_array(w);
                json_writer_begin_object(w);
                kstr(w, "decision", decision(e->outcome));
                if (e->policy) {
                        key(w, "policy");
                        json_writer_begin_object(w);
                        kstr(w, "uid", e->policy->policy_id);
                        if (e->policy->policy_name)
                                kstr(w, "name", e->policy->policy_name);
                        if (e->policy->has_policy_version) {
                                char v[24];
                                snprintf(v, sizeof(v), "%llu", (unsigned long long)e->policy->policy_version);
                                kstr(w, "version", v);
                        }
                        json_writer_end_object(w);
                }
                json_writer_end_object(w);
                json_writer_end_array(w);
        }
        json_writer_end_object(w);
}

static void write_resources(struct json_writer *w, const struct audit_resource *r)
{
        key(w, "resources");
        json_writer_begin_array(w);
        json_writer_begin_object(w);
        kstr(w, "type", r->resource_type);
        /* resource_details needs a name or a uid. */
        kstr(w, "name", r->resource_id ? r->resource_id : r->resource_type);
        if (r->resource_id)
                kstr(w, "uid", r->resource_id);
        if (r->attributes && strcmp(r->attributes, "{}") != 0) {
                key(w, "data");
                json_writer_raw(w, r->attributes, strlen(r->attributes));
        }
        json_writer_end_object(w);
        json_writer_end_array(w);
}

/* process.cmd_line from attributes.command (a string, or strings joined by
 * spaces); NULL when absent. */
static char *command_line(const struct json_value *attrs)
{
        const struct json_value *c = attrs ? json_object_get(attrs, "command") : NULL;
        char *out = NULL;
        size_t len = 0;
        FILE *f;

        if (!c)
                return NULL;
        if (json_value_type(c) == JSON_STRING)
                return strdup(json_string(c, NULL));
        if (json_value_type(c) != JSON_ARRAY || !(f = open_memstream(&out, &len)))
                return NULL;
        for (size_t i = 0; i < json_array_size(c); i++) {
                const char *s = json_string(json_array_get(c, i), NULL);
                fprintf(f, "%s%s", i ? " " : "", s ? s : "");
        }
        fclose(f);
        return out;
}

static void write_process_parts(struct json_writer *w, const struct audit_event *e)
{
        struct json_value *attrs = NULL;
        const struct json_value *v;
        char *cmd;
        uint64_t u;
        int64_t i;

        if (e->resource && e->resource->attributes)
                json_parse(e->resource->attributes, strlen(e->resource->attributes), &attrs, NULL);
        key(w, "device");
        json_writer_begin_object(w);
        if (e->metadata.hostname) {
                kstr(w, "hostname", e->metadata.hostname);
                kstr(w, "name", e->metadata.hostname);
        } else {
                kstr(w, "name", "unknown");
        }
        ku64(w, "type_id", 0);
        kstr(w, "type", "Unknown");
        json_writer_end_object(w);

        key(w, "process");
        json_writer_begin_object(w);
        kstr(w, "uid", e->uid); /* this execution; the guest's pid is not reported */
        cmd = command_line(attrs);
        if (cmd) {
                kstr(w, "cmd_line", cmd);
                free(cmd);
        }
        if (attrs && (v = json_object_get(attrs, "pid")) && json_number_u64(v, &u) == 0)
                ku64(w, "pid", u);
        json_writer_end_object(w);
        if (attrs && (v = json_object_get(attrs, "exit_code")) && json_number_i64(v, &i) == 0) {
                key(w, "exit_code");
                json_writer_i64(w, i);
        }
        json_value_free(attrs);
}

static void write_src_endpoint(struct json_writer *w, const struct audit_event *e)
{
        key(w, "src_endpoint");
        json_writer_begin_object(w);
        if (e->actor && e->actor->ip_address)
                kstr(w, "ip", e->actor->ip_address);
        else if (e->metadata.hostname)
                kstr(w, "hostname", e->metadata.hostname);
        else
                kstr(w, "name", e->metadata.product_name);
        json_writer_end_object(w);
}

static void write_unmapped(struct json_writer *w, const struct audit_event *e, unsigned class_uid, bool time_ok)
{
        key(w, "unmapped");
        json_writer_begin_object(w);
        kstr(w, "type_name", e->type_name);
        kstr(w, "outcome", audit_outcome_name(e->outcome));
        if (!time_ok)
                kstr(w, "time", e->time);
        if (e->severity_id > 6)
                ku64(w, "severity_id", e->severity_id);
        if (e->actor && e->actor->org_id && !has_user(e))
                kstr(w, "actor_org_id", e->actor->org_id);
        if (e->traceparent)
                kstr(w, "traceparent", e->traceparent);
        if (class_uid == OCSF_CLASS_PROCESS_ACTIVITY) {
                if (e->actor && e->actor->ip_address)
                        kstr(w, "actor_ip_address", e->actor->ip_address);
                if (e->resource) {
                        key(w, "resource");
                        json_writer_begin_object(w);
                        kstr(w, "resource_type", e->resource->resource_type);
                        key(w, "resource_id");
                        json_writer_string_or_null(w, e->resource->resource_id);
                        key(w, "attributes");
                        json_writer_raw(w, e->resource->attributes, strlen(e->resource->attributes));
                        json_writer_end_object(w);
                }
        }
        json_writer_end_object(w);
}

void ocsf_write_event(struct json_writer *w, const struct audit_event *e)
{
        unsigned class_uid, activity;
        bool process = false;
        int64_t ms = 0;
        bool time_ok = audit_time_parse_ms(e->time, &ms) == 0;
        bool success = e->outcome == AUDIT_OUTCOME_PERMIT || e->outcome == AUDIT_OUTCOME_INFO;
        char type_name[64], *message = NULL;

        if (ocsf_is_network_event(e)) {
                ocsf_write_network(w, e, time_ok ? ms : 0);
                return;
        }
        ocsf_classify(e, &class_uid, &activity);
        process = class_uid == OCSF_CLASS_PROCESS_ACTIVITY;
        const char *activity_caption = process ? "Launch" : api_activity_caption(activity);
        snprintf(type_name, sizeof(type_name), "%s: %s", process ? "Process Activity" : "API Activity",
                 activity == 99 ? "Other" : activity_caption);
        /* Whole strings: cutting bytes could split a UTF-8 character. */
        if (asprintf(&message, "%s %s: %s", e->type_name, e->action, audit_outcome_name(e->outcome)) < 0)
                message = NULL;

        json_writer_begin_object(w);
        ku64(w, "activity_id", activity);
        kstr(w, "activity_name", activity == 99 ? e->action : activity_caption);
        ku64(w, "category_uid", process ? 1 : 6);
        kstr(w, "category_name", process ? "System Activity" : "Application Activity");
        ku64(w, "class_uid", class_uid);
        kstr(w, "class_name", process ? "Process Activity" : "API Activity");
        ku64(w, "type_uid", (uint64_t)class_uid * 100 + activity);
        kstr(w, "type_name", type_name);
        key(w, "time");
        json_writer_i64(w, time_ok ? ms : 0);
        ku64(w, "severity_id", e->severity_id <= 6 ? e->severity_id : 99);
        kstr(w, "severity", severity_caption(e->severity_id));
        ku64(w, "status_id", success ? 1 : 2);
        kstr(w, "status", success ? "Success" : "Failure");
        kstr(w, "status_detail", audit_outcome_name(e->outcome));
        if (message)
                kstr(w, "message", message);
        free(message);

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
        /* ak's request id: OCSF's id shared by the events of one request. */
        if (e->request_id)
                kstr(w, "correlation_uid", e->request_id);
        json_writer_end_object(w);

        write_actor(w, e);
        if (process) {
                write_process_parts(w, e);
        } else {
                key(w, "api");
                json_writer_begin_object(w);
                kstr(w, "operation", e->action);
                key(w, "service");
                json_writer_begin_object(w);
                kstr(w, "name", e->metadata.product_name);
                json_writer_end_object(w);
                json_writer_end_object(w);
                write_src_endpoint(w, e);
                if (e->resource)
                        write_resources(w, e->resource);
        }
        write_unmapped(w, e, class_uid, time_ok);
        json_writer_end_object(w);
}

int ocsf_event_to_json(const struct audit_event *e, char **ret, size_t *ret_len)
{
        struct json_writer *w;
        int r = json_writer_new(0, 2 * AUDIT_MAX_EVENT_JSON, &w);

        if (r < 0)
                return r;
        ocsf_write_event(w, e);
        r = json_writer_finish(w, ret, ret_len);
        json_writer_free(w);
        return r;
}
