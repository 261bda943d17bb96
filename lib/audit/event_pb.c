/* AuditEvent <-> ak.v1.AuditEvent, with the auditor's validation and defaults. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/audit/event.h"
#include "lib/audit/event_internal.h"
#include "lib/base/cleanup.h"
#include "lib/base/trace.h"
#include "lib/base/uuid.h"

int audit_check_string(const char *field, const char *s, size_t len, size_t max, struct ak_error *err)
{
        if (len > max)
                return ak_error_set(err, -EINVAL, "%s: %zu bytes, more than the limit of %zu", field, len, max);
        if (!audit_utf8_valid(s, len))
                return ak_error_set(err, -EINVAL, "%s: not valid UTF-8 (or contains NUL)", field);
        return 0;
}

int audit_dup_string(const char *field, const char *s, size_t len, size_t max, char **ret, struct ak_error *err)
{
        int r = audit_check_string(field, s, len, max, err);

        if (r < 0)
                return r;
        *ret = strndup(s, len);
        return *ret ? 0 : ak_error_errno(err, -ENOMEM, "%s", field);
}

/* An optional string: NULL stays NULL. */
static int dup_opt(const char *field, const char *s, char **ret, struct ak_error *err)
{
        if (!s) {
                *ret = NULL;
                return 0;
        }
        return audit_dup_string(field, s, strlen(s), AUDIT_MAX_STRING, ret, err);
}

static int dup_req(const char *field, const char *s, size_t max, char **ret, struct ak_error *err)
{
        if (!s || !*s)
                return ak_error_set(err, -EINVAL, "%s: required, got an empty string", field);
        return audit_dup_string(field, s, strlen(s), max, ret, err);
}

/* "" means the default. */
static int dup_or_default(const char *field, const char *s, const char *dflt, char **ret, struct ak_error *err)
{
        return dup_opt(field, s && *s ? s : dflt, ret, err);
}

static int actor_from_pb(const Ak__V1__ActorInfo *pb, struct audit_actor **ret, struct ak_error *err)
{
        struct audit_actor *a = calloc(1, sizeof(*a));
        int r;

        if (!a)
                return ak_error_errno(err, -ENOMEM, "actor");
        *ret = a;
        if ((r = dup_opt("actor.user_id", pb->user_id_opt_case ? pb->user_id : NULL, &a->user_id, err)) < 0 ||
            (r = dup_opt("actor.email", pb->email_opt_case ? pb->email : NULL, &a->email, err)) < 0 ||
            (r = dup_opt("actor.org_id", pb->org_id_opt_case ? pb->org_id : NULL, &a->org_id, err)) < 0 ||
            (r = dup_opt("actor.ip_address", pb->ip_address_opt_case ? pb->ip_address : NULL, &a->ip_address,
                         err)) < 0)
                return r;
        return 0;
}

static int resource_from_pb(const Ak__V1__ResourceInfo *pb, struct audit_resource **ret, struct ak_error *err)
{
        struct audit_resource *res = calloc(1, sizeof(*res));
        const char *attrs = pb->attributes_json ? pb->attributes_json : "";
        int r;

        if (!res)
                return ak_error_errno(err, -ENOMEM, "resource");
        *ret = res;
        if ((r = dup_req("resource.resource_type", pb->resource_type, AUDIT_MAX_STRING, &res->resource_type,
                         err)) < 0 ||
            (r = dup_opt("resource.resource_id", pb->resource_id_opt_case ? pb->resource_id : NULL,
                         &res->resource_id, err)) < 0)
                return r;
        return audit_attributes_canonical(attrs, strlen(attrs), &res->attributes, err);
}

static int policy_from_pb(const Ak__V1__PolicyInfo *pb, struct audit_policy **ret, struct ak_error *err)
{
        struct audit_policy *p = calloc(1, sizeof(*p));
        int r;

        if (!p)
                return ak_error_errno(err, -ENOMEM, "policy");
        *ret = p;
        if ((r = dup_req("policy.policy_id", pb->policy_id, AUDIT_MAX_STRING, &p->policy_id, err)) < 0 ||
            (r = dup_opt("policy.policy_name", pb->policy_name_opt_case ? pb->policy_name : NULL, &p->policy_name,
                         err)) < 0)
                return r;
        if (pb->policy_version_opt_case) {
                p->has_policy_version = true;
                p->policy_version = pb->policy_version;
        }
        return 0;
}

static int metadata_from_pb(const Ak__V1__EventMetadata *pb, struct audit_metadata *m, struct ak_error *err)
{
        int r;

        if (!pb) {
                r = audit_metadata_default(m);
                return r < 0 ? ak_error_errno(err, r, "metadata") : 0;
        }
        if ((r = dup_or_default("metadata.product_name", pb->product_name, AUDIT_DEFAULT_PRODUCT_NAME,
                                &m->product_name, err)) < 0 ||
            (r = dup_or_default("metadata.vendor_name", pb->vendor_name, AUDIT_DEFAULT_VENDOR_NAME,
                                &m->vendor_name, err)) < 0 ||
            (r = dup_or_default("metadata.product_version", pb->product_version, AUDIT_DEFAULT_PRODUCT_VERSION,
                                &m->product_version, err)) < 0 ||
            (r = dup_opt("metadata.hostname", pb->hostname_opt_case ? pb->hostname : NULL, &m->hostname, err)) < 0)
                return r;
        return 0;
}

/* ak's request_id and traceparent: "" is none; anything else must be valid
 * (lib/base/trace.h). */
static int trace_from_pb(const Ak__V1__AuditEvent *pb, struct audit_event *e, struct ak_error *err)
{
        int r;
        if (pb->request_id && *pb->request_id) {
                if (!ak_request_id_valid(pb->request_id, strlen(pb->request_id)))
                        return ak_error_set(err, -EINVAL, "request_id: not 1..%d of [A-Za-z0-9._:-]",
                                            AK_REQUEST_ID_MAX);
                if ((r = dup_opt("request_id", pb->request_id, &e->request_id, err)) < 0)
                        return r;
        }
        if (pb->traceparent && *pb->traceparent) {
                if (!ak_traceparent_valid(pb->traceparent, strlen(pb->traceparent)))
                        return ak_error_set(err, -EINVAL, "traceparent: not a W3C version-00 traceparent");
                if ((r = dup_opt("traceparent", pb->traceparent, &e->traceparent, err)) < 0)
                        return r;
        }
        return 0;
}

static int fill_from_pb(const Ak__V1__AuditEvent *pb, struct audit_event *e, struct ak_error *err)
{
        char buf[AUDIT_TIME_MAX > AUDIT_UUID_LEN + 1 ? AUDIT_TIME_MAX : AUDIT_UUID_LEN + 1];
        int64_t ms;
        int r;

        if (pb->time && *pb->time) {
                r = dup_req("time", pb->time, AUDIT_MAX_STRING, &e->time, err);
                if (r < 0)
                        return r;
                if (audit_time_parse_ms(e->time, &ms) < 0)
                        return ak_error_set(err, -EINVAL,
                                            "time: \"%.64s\" is not RFC 3339 (e.g. 2026-01-02T03:04:05.678+00:00); "
                                            "leave it empty for now",
                                            e->time);
        } else {
                audit_time_now(buf);
                e->time = strdup(buf);
                if (!e->time)
                        return ak_error_errno(err, -ENOMEM, "time");
        }
        if (pb->outcome < AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT ||
            pb->outcome > AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_INFO)
                return ak_error_set(err, -EINVAL, "outcome: %s (set permit, deny, error or info)",
                                    pb->outcome == 0 ? "unspecified" : "unknown value");
        e->outcome = (enum audit_outcome)pb->outcome;
        e->class_uid = pb->class_uid ? pb->class_uid : AUDIT_DEFAULT_CLASS_UID;
        e->category_uid = pb->category_uid ? pb->category_uid : AUDIT_DEFAULT_CATEGORY_UID;
        e->severity_id = pb->severity_id ? pb->severity_id : audit_severity_for_outcome(e->outcome);
        if ((r = dup_req("type_name", pb->type_name, AUDIT_MAX_STRING, &e->type_name, err)) < 0 ||
            (r = dup_req("action", pb->action, AUDIT_MAX_STRING, &e->action, err)) < 0)
                return r;
        if (pb->uid && *pb->uid) {
                r = dup_req("uid", pb->uid, AUDIT_MAX_UID, &e->uid, err);
                if (r < 0)
                        return r;
        } else {
                r = ak_uuid7(buf);
                if (r < 0)
                        return ak_error_errno(err, r, "uid");
                e->uid = strdup(buf);
                if (!e->uid)
                        return ak_error_errno(err, -ENOMEM, "uid");
        }
        if (pb->actor && (r = actor_from_pb(pb->actor, &e->actor, err)) < 0)
                return r;
        if (pb->resource && (r = resource_from_pb(pb->resource, &e->resource, err)) < 0)
                return r;
        if (pb->policy && (r = policy_from_pb(pb->policy, &e->policy, err)) < 0)
                return r;
        if ((r = metadata_from_pb(pb->metadata, &e->metadata, err)) < 0)
                return r;
        return trace_from_pb(pb, e, err);
}

int audit_event_from_pb(const Ak__V1__AuditEvent *pb, struct audit_event **ret, struct ak_error *err)
{
        struct audit_event *e = calloc(1, sizeof(*e));
        int r;

        if (!e)
                return ak_error_errno(err, -ENOMEM, "event");
        r = fill_from_pb(pb, e, err);
        if (r < 0) {
                audit_event_free(e);
                return r;
        }
        *ret = e;
        return 0;
}

static char *s(const char *p)
{
        return (char *)(p ? p : "");
}

void audit_event_to_pb(const struct audit_event *e, struct audit_event_pb *out)
{
        Ak__V1__AuditEvent ev = AK__V1__AUDIT_EVENT__INIT;
        Ak__V1__ActorInfo actor = AK__V1__ACTOR_INFO__INIT;
        Ak__V1__ResourceInfo res = AK__V1__RESOURCE_INFO__INIT;
        Ak__V1__PolicyInfo pol = AK__V1__POLICY_INFO__INIT;
        Ak__V1__EventMetadata meta = AK__V1__EVENT_METADATA__INIT;

        out->event = ev;
        out->actor = actor;
        out->resource = res;
        out->policy = pol;
        out->metadata = meta;
        out->event.time = s(e->time);
        out->event.class_uid = e->class_uid;
        out->event.category_uid = e->category_uid;
        out->event.severity_id = e->severity_id;
        out->event.type_name = s(e->type_name);
        out->event.uid = s(e->uid);
        out->event.action = s(e->action);
        out->event.outcome = (Ak__V1__EventOutcome)e->outcome;
        if (e->actor) {
                out->event.actor = &out->actor;
#define OPT(msg, field, CASE)                          \
        if (e->actor->field) {                         \
                msg.field##_opt_case = CASE;           \
                msg.field = e->actor->field;           \
        }
                OPT(out->actor, user_id, AK__V1__ACTOR_INFO__USER_ID_OPT_USER_ID)
                OPT(out->actor, email, AK__V1__ACTOR_INFO__EMAIL_OPT_EMAIL)
                OPT(out->actor, org_id, AK__V1__ACTOR_INFO__ORG_ID_OPT_ORG_ID)
                OPT(out->actor, ip_address, AK__V1__ACTOR_INFO__IP_ADDRESS_OPT_IP_ADDRESS)
#undef OPT
        }
        if (e->resource) {
                out->event.resource = &out->resource;
                out->resource.resource_type = s(e->resource->resource_type);
                out->resource.attributes_json = s(e->resource->attributes);
                if (e->resource->resource_id) {
                        out->resource.resource_id_opt_case = AK__V1__RESOURCE_INFO__RESOURCE_ID_OPT_RESOURCE_ID;
                        out->resource.resource_id = e->resource->resource_id;
                }
        }
        if (e->policy) {
                out->event.policy = &out->policy;
                out->policy.policy_id = s(e->policy->policy_id);
                if (e->policy->policy_name) {
                        out->policy.policy_name_opt_case = AK__V1__POLICY_INFO__POLICY_NAME_OPT_POLICY_NAME;
                        out->policy.policy_name = e->policy->policy_name;
                }
                if (e->policy->has_policy_version) {
                        out->policy.policy_version_opt_case = AK__V1__POLICY_INFO__POLICY_VERSION_OPT_POLICY_VERSION;
                        out->policy.policy_version = e->policy->policy_version;
                }
        }
        out->event.metadata = &out->metadata;
        out->metadata.product_name = s(e->metadata.product_name);
        out->metadata.vendor_name = s(e->metadata.vendor_name);
        out->metadata.product_version = s(e->metadata.product_version);
        if (e->metadata.hostname) {
                out->metadata.hostname_opt_case = AK__V1__EVENT_METADATA__HOSTNAME_OPT_HOSTNAME;
                out->metadata.hostname = e->metadata.hostname;
        }
        out->event.request_id = s(e->request_id);
        out->event.traceparent = s(e->traceparent);
}
