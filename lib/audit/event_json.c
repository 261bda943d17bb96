/* AuditEvent <-> serde_json bytes. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/audit/event.h"
#include "lib/audit/event_internal.h"
#include "lib/base/cleanup.h"
#include "lib/base/trace.h"
#include "lib/json/json.h"
#include "lib/json/writer.h"

/* ---- writing ------------------------------------------------------------ */

static void key(struct json_writer *w, const char *k)
{
        json_writer_key(w, k, strlen(k));
}

static void str(struct json_writer *w, const char *k, const char *v)
{
        key(w, k);
        json_writer_string_or_null(w, v);
}

void audit_event_write_json(struct json_writer *w, const struct audit_event *e)
{
        json_writer_begin_object(w);
        str(w, "time", e->time);
        key(w, "class_uid");
        json_writer_u64(w, e->class_uid);
        key(w, "category_uid");
        json_writer_u64(w, e->category_uid);
        key(w, "severity_id");
        json_writer_u64(w, e->severity_id);
        str(w, "type_name", e->type_name);
        str(w, "uid", e->uid);
        str(w, "action", e->action);
        str(w, "outcome", audit_outcome_name(e->outcome));
        key(w, "actor");
        if (e->actor) {
                json_writer_begin_object(w);
                str(w, "user_id", e->actor->user_id);
                str(w, "email", e->actor->email);
                str(w, "org_id", e->actor->org_id);
                str(w, "ip_address", e->actor->ip_address);
                json_writer_end_object(w);
        } else {
                json_writer_null(w);
        }
        key(w, "resource");
        if (e->resource) {
                const char *attrs = e->resource->attributes ? e->resource->attributes : "{}";
                json_writer_begin_object(w);
                str(w, "resource_type", e->resource->resource_type);
                str(w, "resource_id", e->resource->resource_id);
                key(w, "attributes");
                json_writer_raw(w, attrs, strlen(attrs));
                json_writer_end_object(w);
        } else {
                json_writer_null(w);
        }
        key(w, "policy");
        if (e->policy) {
                json_writer_begin_object(w);
                str(w, "policy_id", e->policy->policy_id);
                str(w, "policy_name", e->policy->policy_name);
                key(w, "policy_version");
                if (e->policy->has_policy_version)
                        json_writer_u64(w, e->policy->policy_version);
                else
                        json_writer_null(w);
                json_writer_end_object(w);
        } else {
                json_writer_null(w);
        }
        key(w, "metadata");
        json_writer_begin_object(w);
        str(w, "product_name", e->metadata.product_name);
        str(w, "vendor_name", e->metadata.vendor_name);
        str(w, "product_version", e->metadata.product_version);
        str(w, "hostname", e->metadata.hostname);
        json_writer_end_object(w);
        if (e->request_id)
                str(w, "request_id", e->request_id);
        if (e->traceparent)
                str(w, "traceparent", e->traceparent);
        json_writer_end_object(w);
}

int audit_event_to_json(const struct audit_event *e, char **ret, size_t *ret_len)
{
        struct json_writer *w;
        int r = json_writer_new(0, AUDIT_MAX_EVENT_JSON, &w);

        if (r < 0)
                return r;
        audit_event_write_json(w, e);
        r = json_writer_finish(w, ret, ret_len);
        json_writer_free(w);
        return r;
}

/* ---- attributes --------------------------------------------------------- */

static int cmp_member(const void *a, const void *b, void *data)
{
        const struct json_value *obj = data;
        size_t ia = *(const size_t *)a, ib = *(const size_t *)b, la, lb;
        const char *ka = json_object_key(obj, ia, &la), *kb = json_object_key(obj, ib, &lb);
        int c = memcmp(ka, kb, la < lb ? la : lb);

        if (c)
                return c;
        if (la != lb)
                return la < lb ? -1 : 1;
        return ia < ib ? -1 : ia > ib; /* stable: the last duplicate sorts last */
}

/* serde_json::Value: objects are BTreeMaps (sorted keys, last duplicate wins). */
static int write_canonical(struct json_writer *w, const struct json_value *v)
{
        size_t len;
        const char *s;

        switch (json_value_type(v)) {
        case JSON_NULL:
                json_writer_null(w);
                return 0;
        case JSON_BOOL:
                json_writer_bool(w, json_bool(v));
                return 0;
        case JSON_NUMBER:
                s = json_number_text(v);
                json_writer_raw(w, s, strlen(s));
                return 0;
        case JSON_STRING:
                s = json_string(v, &len);
                json_writer_string(w, s, len);
                return 0;
        case JSON_ARRAY:
                json_writer_begin_array(w);
                for (size_t i = 0; i < json_array_size(v); i++)
                        if (write_canonical(w, json_array_get(v, i)) < 0)
                                return -ENOMEM;
                json_writer_end_array(w);
                return 0;
        case JSON_OBJECT:
                break;
        }
        size_t n = json_object_size(v);
        _cleanup_free_ size_t *idx = calloc(n ? n : 1, sizeof(*idx));
        if (!idx)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                idx[i] = i;
        qsort_r(idx, n, sizeof(*idx), cmp_member, (void *)v);
        json_writer_begin_object(w);
        for (size_t i = 0; i < n; i++) {
                size_t kl, nl;
                const char *k = json_object_key(v, idx[i], &kl);
                if (i + 1 < n) {
                        const char *nk = json_object_key(v, idx[i + 1], &nl);
                        if (kl == nl && memcmp(k, nk, kl) == 0)
                                continue;
                }
                json_writer_key(w, k, kl);
                if (write_canonical(w, json_object_value(v, idx[i])) < 0)
                        return -ENOMEM;
        }
        json_writer_end_object(w);
        return 0;
}

static int canonical_value(const struct json_value *v, const char *field, char **ret, struct ak_error *err)
{
        struct json_writer *w;
        size_t len;
        int r;

        if (json_value_type(v) != JSON_OBJECT)
                return ak_error_set(err, -EINVAL, "%s: invalid type: %s, expected a map", field,
                                    json_type_name(json_value_type(v)));
        r = json_writer_new(0, AUDIT_MAX_ATTRIBUTES, &w);
        if (r < 0)
                return ak_error_errno(err, r, "%s", field);
        r = write_canonical(w, v);
        if (r == 0)
                r = json_writer_finish(w, ret, &len);
        json_writer_free(w);
        if (r == -E2BIG)
                return ak_error_set(err, -EINVAL, "%s: more than %d bytes of JSON", field, AUDIT_MAX_ATTRIBUTES);
        if (r < 0)
                return ak_error_errno(err, r, "%s", field);
        return 0;
}

int audit_attributes_canonical(const char *text, size_t len, char **ret, struct ak_error *err)
{
        struct json_value *v;
        struct json_error je;
        int r;

        if (!text || len == 0) {
                *ret = strdup("{}");
                return *ret ? 0 : -ENOMEM;
        }
        if (len > AUDIT_MAX_ATTRIBUTES)
                return ak_error_set(err, -EINVAL, "resource.attributes_json: more than %d bytes of JSON", AUDIT_MAX_ATTRIBUTES);
        r = json_parse(text, len, &v, &je);
        if (r == -EINVAL)
                return ak_error_set(err, -EINVAL, "resource.attributes_json: not JSON: %s", je.message);
        if (r < 0)
                return ak_error_errno(err, r, "resource.attributes_json");
        r = canonical_value(v, "resource.attributes_json", ret, err);
        json_value_free(v);
        return r;
}

/* ---- reading ------------------------------------------------------------ */

#define MAX_FIELDS 14

/* Collects an object's known members into slots[] (NULL: absent). Unknown
 * members are ignored, a repeated known member is an error (serde). */
static int collect(const struct json_value *v, const char *path, const char *what, const char *const *names,
                   size_t n, const struct json_value **slots, struct ak_error *err)
{
        memset(slots, 0, n * sizeof(*slots));
        if (json_value_type(v) != JSON_OBJECT)
                return ak_error_set(err, -EINVAL, "%s%sinvalid type: %s, expected struct %s", path,
                                    *path ? ": " : "", json_type_name(json_value_type(v)), what);
        for (size_t m = 0; m < json_object_size(v); m++) {
                size_t klen;
                const char *k = json_object_key(v, m, &klen);
                for (size_t i = 0; i < n; i++) {
                        if (strlen(names[i]) != klen || memcmp(names[i], k, klen) != 0)
                                continue;
                        if (slots[i])
                                return ak_error_set(err, -EINVAL, "%s%s%s: duplicate field", path, *path ? "." : "",
                                                    names[i]);
                        slots[i] = json_object_value(v, m);
                        break;
                }
        }
        return 0;
}

struct ctx {
        const char *path;       /* "" or "actor" */
        struct ak_error *err;
};

static int field_error(const struct ctx *c, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int field_error(const struct ctx *c, const char *name, const char *fmt, ...)
{
        char msg[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return ak_error_set(c->err, -EINVAL, "%s%s%s: %s", c->path, *c->path ? "." : "", name, msg);
}

static int get_string(const struct ctx *c, const char *name, const struct json_value *v, bool optional,
                      size_t max, char **ret)
{
        char full[64];
        const char *s;
        size_t len;

        *ret = NULL;
        if (!v) {
                if (optional)
                        return 0;
                return field_error(c, name, "missing field");
        }
        if (optional && json_value_type(v) == JSON_NULL)
                return 0;
        s = json_string(v, &len);
        if (!s)
                return field_error(c, name, "invalid type: %s, expected a string", json_type_name(json_value_type(v)));
        snprintf(full, sizeof(full), "%s%s%s", c->path, *c->path ? "." : "", name);
        return audit_dup_string(full, s, len, max, ret, c->err);
}

static int get_u64(const struct ctx *c, const char *name, const struct json_value *v, uint64_t max,
                   const char *type, uint64_t *ret)
{
        uint64_t u;
        int r;

        if (json_value_type(v) != JSON_NUMBER)
                return field_error(c, name, "invalid type: %s, expected an unsigned integer",
                                   json_type_name(json_value_type(v)));
        r = json_number_u64(v, &u);
        if (r == 0 && u > max)
                r = -ERANGE;
        if (r < 0) {
                char msg[160];
                snprintf(msg, sizeof(msg), "invalid value: `%.60s`, expected %s", json_number_text(v), type);
                return field_error(c, name, "%s", msg);
        }
        *ret = u;
        return 0;
}

static int get_u32(const struct ctx *c, const char *name, const struct json_value *v, uint32_t dflt, uint32_t *ret)
{
        uint64_t u;
        int r;

        if (!v) {
                *ret = dflt;
                return 0;
        }
        r = get_u64(c, name, v, UINT32_MAX, "u32", &u);
        if (r < 0)
                return r;
        *ret = (uint32_t)u;
        return 0;
}

static int get_actor(const struct ctx *c, const struct json_value *v, struct audit_actor **ret)
{
        static const char *const names[] = { "user_id", "email", "org_id", "ip_address" };
        const struct json_value *s[4];
        struct ctx sub = { "actor", c->err };
        struct audit_actor *a;
        int r;

        *ret = NULL;
        if (!v || json_value_type(v) == JSON_NULL)
                return 0;
        r = collect(v, "actor", "ActorInfo", names, 4, s, c->err);
        if (r < 0)
                return r;
        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        *ret = a; /* the caller's event owns it from here, even on failure */
        if ((r = get_string(&sub, "user_id", s[0], true, AUDIT_MAX_STRING, &a->user_id)) < 0 ||
            (r = get_string(&sub, "email", s[1], true, AUDIT_MAX_STRING, &a->email)) < 0 ||
            (r = get_string(&sub, "org_id", s[2], true, AUDIT_MAX_STRING, &a->org_id)) < 0 ||
            (r = get_string(&sub, "ip_address", s[3], true, AUDIT_MAX_STRING, &a->ip_address)) < 0)
                return r;
        return 0;
}

static int get_resource(const struct ctx *c, const struct json_value *v, struct audit_resource **ret)
{
        static const char *const names[] = { "resource_type", "resource_id", "attributes" };
        const struct json_value *s[3];
        struct ctx sub = { "resource", c->err };
        struct audit_resource *res;
        int r;

        *ret = NULL;
        if (!v || json_value_type(v) == JSON_NULL)
                return 0;
        r = collect(v, "resource", "ResourceInfo", names, 3, s, c->err);
        if (r < 0)
                return r;
        res = calloc(1, sizeof(*res));
        if (!res)
                return -ENOMEM;
        *ret = res;
        if ((r = get_string(&sub, "resource_type", s[0], false, AUDIT_MAX_STRING, &res->resource_type)) < 0 ||
            (r = get_string(&sub, "resource_id", s[1], true, AUDIT_MAX_STRING, &res->resource_id)) < 0)
                return r;
        if (s[2])
                return canonical_value(s[2], "resource.attributes", &res->attributes, c->err);
        res->attributes = strdup("{}");
        return res->attributes ? 0 : -ENOMEM;
}

static int get_policy(const struct ctx *c, const struct json_value *v, struct audit_policy **ret)
{
        static const char *const names[] = { "policy_id", "policy_name", "policy_version" };
        const struct json_value *s[3];
        struct ctx sub = { "policy", c->err };
        struct audit_policy *p;
        int r;

        *ret = NULL;
        if (!v || json_value_type(v) == JSON_NULL)
                return 0;
        r = collect(v, "policy", "PolicyInfo", names, 3, s, c->err);
        if (r < 0)
                return r;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        *ret = p;
        if ((r = get_string(&sub, "policy_id", s[0], false, AUDIT_MAX_STRING, &p->policy_id)) < 0 ||
            (r = get_string(&sub, "policy_name", s[1], true, AUDIT_MAX_STRING, &p->policy_name)) < 0)
                return r;
        if (s[2] && json_value_type(s[2]) != JSON_NULL) {
                r = get_u64(&sub, "policy_version", s[2], UINT64_MAX, "u64", &p->policy_version);
                if (r < 0)
                        return r;
                p->has_policy_version = true;
        }
        return 0;
}

static int get_metadata(const struct ctx *c, const struct json_value *v, struct audit_metadata *m)
{
        static const char *const names[] = { "product_name", "vendor_name", "product_version", "hostname" };
        const struct json_value *s[4];
        struct ctx sub = { "metadata", c->err };
        struct audit_metadata d = { 0 };
        int r;

        if (!v)
                return audit_metadata_default(m);
        r = collect(v, "metadata", "EventMetadata", names, 4, s, c->err);
        if (r < 0)
                return r;
        /* Each field has its own serde default; hostname's is None. */
        if ((r = get_string(&sub, "product_name", s[0], true, AUDIT_MAX_STRING, &m->product_name)) < 0 ||
            (r = get_string(&sub, "vendor_name", s[1], true, AUDIT_MAX_STRING, &m->vendor_name)) < 0 ||
            (r = get_string(&sub, "product_version", s[2], true, AUDIT_MAX_STRING, &m->product_version)) < 0 ||
            (r = get_string(&sub, "hostname", s[3], true, AUDIT_MAX_STRING, &m->hostname)) < 0)
                return r;
        /* serde's default applies to a missing field, not to null: null for a
         * String is an error. */
        for (int i = 0; i < 3; i++)
                if (s[i] && json_value_type(s[i]) == JSON_NULL)
                        return field_error(&sub, names[i], "invalid type: null, expected a string");
        if (!m->product_name || !m->vendor_name || !m->product_version) {
                r = audit_metadata_default(&d);
                if (r == 0) {
                        if (!m->product_name)
                                m->product_name = TAKE_PTR(d.product_name);
                        if (!m->vendor_name)
                                m->vendor_name = TAKE_PTR(d.vendor_name);
                        if (!m->product_version)
                                m->product_version = TAKE_PTR(d.product_version);
                }
                free(d.product_name);
                free(d.vendor_name);
                free(d.product_version);
                free(d.hostname);
        }
        return r;
}

/* ak's request_id and traceparent (absent or null: none). */
static int get_trace(const struct ctx *c, const struct json_value *id, const struct json_value *tp,
                     struct audit_event *e)
{
        int r;
        if ((r = get_string(c, "request_id", id, true, AK_REQUEST_ID_MAX, &e->request_id)) < 0 ||
            (r = get_string(c, "traceparent", tp, true, AK_TRACEPARENT_LEN, &e->traceparent)) < 0)
                return r;
        if (e->request_id && !ak_request_id_valid(e->request_id, strlen(e->request_id)))
                return field_error(c, "request_id", "invalid value: want 1..%d of [A-Za-z0-9._:-]",
                                   AK_REQUEST_ID_MAX);
        if (e->traceparent && !ak_traceparent_valid(e->traceparent, strlen(e->traceparent)))
                return field_error(c, "traceparent", "invalid value: want a W3C version-00 traceparent");
        return 0;
}

static int decode(const struct json_value *root, struct audit_event *e, struct ak_error *err)
{
        static const char *const names[] = { "time",     "class_uid", "category_uid", "severity_id",
                                             "type_name", "uid",       "action",       "outcome",
                                             "actor",    "resource",  "policy",       "metadata",
                                             "request_id", "traceparent" };
        const struct json_value *s[MAX_FIELDS];
        struct ctx c = { "", err };
        _cleanup_free_ char *outcome = NULL;
        int r;

        r = collect(root, "", "AuditEvent", names, 14, s, err);
        if (r < 0)
                return r;
        if ((r = get_string(&c, "time", s[0], false, AUDIT_MAX_STRING, &e->time)) < 0 ||
            (r = get_u32(&c, "class_uid", s[1], AUDIT_DEFAULT_CLASS_UID, &e->class_uid)) < 0 ||
            (r = get_u32(&c, "category_uid", s[2], AUDIT_DEFAULT_CATEGORY_UID, &e->category_uid)) < 0 ||
            (r = get_u32(&c, "severity_id", s[3], AUDIT_DEFAULT_SEVERITY_ID, &e->severity_id)) < 0 ||
            (r = get_string(&c, "type_name", s[4], false, AUDIT_MAX_STRING, &e->type_name)) < 0 ||
            (r = get_string(&c, "uid", s[5], false, AUDIT_MAX_UID, &e->uid)) < 0 ||
            (r = get_string(&c, "action", s[6], false, AUDIT_MAX_STRING, &e->action)) < 0 ||
            (r = get_string(&c, "outcome", s[7], false, AUDIT_MAX_STRING, &outcome)) < 0)
                return r;
        if (audit_outcome_from_name(outcome, &e->outcome) < 0)
                return field_error(&c, "outcome", "unknown variant `%s`, expected one of `permit`, `deny`, "
                                   "`error`, `info`", outcome);
        if ((r = get_actor(&c, s[8], &e->actor)) < 0 || (r = get_resource(&c, s[9], &e->resource)) < 0 ||
            (r = get_policy(&c, s[10], &e->policy)) < 0 || (r = get_metadata(&c, s[11], &e->metadata)) < 0)
                return r;
        return get_trace(&c, s[12], s[13], e);
}

int audit_event_from_json(const char *text, size_t len, struct audit_event **ret, struct ak_error *err)
{
        struct json_value *root;
        struct json_error je;
        struct audit_event *e;
        int r;

        if (len > AUDIT_MAX_EVENT_JSON)
                return ak_error_set(err, -E2BIG, "event: more than %d bytes of JSON", AUDIT_MAX_EVENT_JSON);
        r = json_parse(text, len, &root, &je);
        if (r == -EINVAL)
                return ak_error_set(err, -EINVAL, "event: %s", je.message);
        if (r < 0)
                return ak_error_errno(err, r, "event");
        e = calloc(1, sizeof(*e));
        if (!e) {
                json_value_free(root);
                return ak_error_errno(err, -ENOMEM, "event");
        }
        r = decode(root, e, err);
        json_value_free(root);
        if (r < 0) {
                if (r == -ENOMEM)
                        ak_error_errno(err, r, "event");
                audit_event_free(e);
                return r;
        }
        *ret = e;
        return 0;
}
