/* sandbox.json: written by this executor, read back by the next one. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json/json.h"
#include "lib/json/writer.h"
#include "services/executor/sandbox_record.h"

static void key_str(struct json_writer *w, const char *k, const char *v)
{
        json_writer_key(w, k, strlen(k));
        json_writer_string(w, v, strlen(v));
}

static void key_i64(struct json_writer *w, const char *k, int64_t v)
{
        json_writer_key(w, k, strlen(k));
        json_writer_i64(w, v);
}

static void key_bool(struct json_writer *w, const char *k, bool v)
{
        json_writer_key(w, k, strlen(k));
        json_writer_bool(w, v);
}

static void key_map(struct json_writer *w, const char *k, char **keys, char **values, size_t n)
{
        json_writer_key(w, k, strlen(k));
        json_writer_begin_object(w);
        for (size_t i = 0; i < n; i++) {
                json_writer_key(w, keys[i], strlen(keys[i]));
                json_writer_string(w, values[i], strlen(values[i]));
        }
        json_writer_end_object(w);
}

static const char *const egress_keys[SB_EGRESS_LISTS] = { "allow", "deny", "allow_names", "deny_names" };

static void key_egress(struct json_writer *w, const struct sb_record *r)
{
        json_writer_key(w, "egress", 6);
        json_writer_begin_object(w);
        for (int l = 0; l < SB_EGRESS_LISTS; l++) {
                json_writer_key(w, egress_keys[l], strlen(egress_keys[l]));
                json_writer_begin_array(w);
                for (size_t i = 0; i < r->n_egress[l]; i++)
                        json_writer_string(w, r->egress[l][i], strlen(r->egress[l][i]));
                json_writer_end_array(w);
        }
        json_writer_key(w, "ports", 5);
        json_writer_begin_array(w);
        for (size_t i = 0; i < r->n_egress_ports; i++)
                json_writer_i64(w, r->egress_ports[i]);
        json_writer_end_array(w);
        json_writer_end_object(w);
}

static void key_secrets(struct json_writer *w, const struct sb_record *r)
{
        json_writer_key(w, "secrets", 7);
        if (!r->n_secrets) {
                json_writer_bool(w, true);
                return;
        }
        json_writer_begin_array(w);
        for (size_t i = 0; i < r->n_secrets; i++) {
                json_writer_begin_object(w);
                key_str(w, "binding", r->secret[i].binding);
                key_str(w, "placeholder", r->secret[i].placeholder);
                json_writer_end_object(w);
        }
        json_writer_end_array(w);
}

static void key_hooks(struct json_writer *w, const struct sb_record *r)
{
        json_writer_key(w, "proxy_hooks", 11);
        json_writer_begin_array(w);
        for (size_t i = 0; i < r->n_hooks; i++) {
                json_writer_begin_object(w);
                key_str(w, "name", r->hooks[i].name);
                key_str(w, "event", r->hooks[i].event);
                key_str(w, "type", r->hooks[i].type);
                key_str(w, "path", r->hooks[i].path);
                json_writer_end_object(w);
        }
        json_writer_end_array(w);
}

int sb_record_format(const struct sb_record *r, char **ret, size_t *ret_len)
{
        struct json_writer *w = NULL;
        if (json_writer_new(0, SB_RECORD_MAX_BYTES, &w) < 0)
                return -ENOMEM;
        json_writer_begin_object(w);
        key_str(w, "kind", r->pool ? "pool" : "sandbox");
        key_str(w, "image", r->image);
        key_str(w, "profile", r->profile);
        if (r->net_ifname[0])
                key_str(w, "net_ifname", r->net_ifname);
        if (!r->pool) {
                key_str(w, "name", r->name);
                key_str(w, "uuid", r->uuid);
                key_str(w, "tenant", r->tenant);
                key_i64(w, "vcpus", r->vcpus);
                key_i64(w, "memory_mb", r->memory_mb);
                key_bool(w, "network", r->network);
                key_i64(w, "network_req", r->network_req);
                key_bool(w, "persistent", r->persistent);
                key_bool(w, "from_pool", r->from_pool);
                key_i64(w, "ttl_seconds", r->ttl_seconds);
                key_i64(w, "created_at_ms", r->created_at_ms);
                key_i64(w, "expires_at_ms", r->expires_at_ms);
                key_map(w, "env", r->env_keys, r->env_values, r->n_env);
                key_map(w, "labels", r->label_keys, r->label_values, r->n_labels);
                key_egress(w, r);
                if (r->secrets)
                        key_secrets(w, r);
                if (r->n_hooks)
                        key_hooks(w, r);
        }
        json_writer_end_object(w);
        int rc = json_writer_finish(w, ret, ret_len);
        json_writer_free(w);
        return rc;
}

static int get_str(const struct json_value *o, const char *k, char *dst, size_t size, struct ak_error *err)
{
        size_t len;
        const struct json_value *v = json_object_get(o, k);
        const char *s = v && json_value_type(v) == JSON_STRING ? json_string(v, &len) : NULL;
        if (!s || len >= size || memchr(s, 0, len))
                return ak_error_set(err, -EINVAL, "%s: missing, not a string or longer than %zu bytes", k, size - 1);
        memcpy(dst, s, len);
        dst[len] = 0;
        return 0;
}

static int get_int(const struct json_value *o, const char *k, int64_t min, int64_t max, int64_t *ret,
                   struct ak_error *err)
{
        const struct json_value *v = json_object_get(o, k);
        if (!v || json_number_i64(v, ret) < 0 || *ret < min || *ret > max)
                return ak_error_set(err, -EINVAL, "%s: missing or not an integer in %lld..%lld", k, (long long)min,
                                    (long long)max);
        return 0;
}

static int get_bool(const struct json_value *o, const char *k, bool *ret, struct ak_error *err)
{
        const struct json_value *v = json_object_get(o, k);
        if (!v || json_value_type(v) != JSON_BOOL)
                return ak_error_set(err, -EINVAL, "%s: missing or not true/false", k);
        *ret = json_bool(v);
        return 0;
}

static char *dup_bounded(const char *s, size_t len)
{
        if (len > SB_RECORD_MAX_STRING || memchr(s, 0, len))
                return NULL;
        char *d = malloc(len + 1);
        if (d) {
                memcpy(d, s, len);
                d[len] = 0;
        }
        return d;
}

static void strv_free(char **v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                free(v[i]);
        free(v);
}

static int get_map(const struct json_value *o, const char *k, char ***rk, char ***rv, size_t *rn,
                   struct ak_error *err)
{
        const struct json_value *m = json_object_get(o, k);
        if (!m || json_value_type(m) != JSON_OBJECT || json_object_size(m) > SB_RECORD_MAX_MAP)
                return ak_error_set(err, -EINVAL, "%s: missing, not an object or more than %d entries", k,
                                    SB_RECORD_MAX_MAP);
        size_t n = json_object_size(m);
        char **keys = calloc(n + 1, sizeof(char *)), **values = calloc(n + 1, sizeof(char *));
        if (!keys || !values)
                goto fail;
        for (size_t i = 0; i < n; i++) {
                size_t kl, vl;
                const char *key = json_object_key(m, i, &kl);
                const struct json_value *v = json_object_value(m, i);
                const char *s = json_value_type(v) == JSON_STRING ? json_string(v, &vl) : NULL;
                if (!s || !(keys[i] = dup_bounded(key, kl)) || !(values[i] = dup_bounded(s, vl)))
                        goto fail;
        }
        *rk = keys;
        *rv = values;
        *rn = n;
        return 0;
fail:
        strv_free(keys, n);
        strv_free(values, n);
        return ak_error_set(err, -EINVAL, "%s: an entry is not a string of at most %d bytes", k, SB_RECORD_MAX_STRING);
}

/* One egress list: an array of at most SB_RECORD_MAX_EGRESS strings of
 * 1..SB_RECORD_MAX_EGRESS_ITEM bytes. */
static int get_list(const struct json_value *a, const char *k, char ***ret, size_t *ret_n, struct ak_error *err)
{
        if (!a || json_value_type(a) != JSON_ARRAY || json_array_size(a) > SB_RECORD_MAX_EGRESS)
                return ak_error_set(err, -EINVAL, "egress.%s: missing, not an array or more than %d entries", k,
                                    SB_RECORD_MAX_EGRESS);
        size_t n = json_array_size(a), len;
        char **v = calloc(n + 1, sizeof(char *));
        if (!v)
                return ak_error_set(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                const struct json_value *e = json_array_get(a, i);
                const char *s = json_value_type(e) == JSON_STRING ? json_string(e, &len) : NULL;
                if (!s || !len || len > SB_RECORD_MAX_EGRESS_ITEM || !(v[i] = dup_bounded(s, len))) {
                        strv_free(v, n);
                        return ak_error_set(err, -EINVAL, "egress.%s[%zu]: not a string of 1..%d bytes", k, i,
                                            SB_RECORD_MAX_EGRESS_ITEM);
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

/* "egress" (optional: records before it have none). */
static int get_egress(const struct json_value *o, struct sb_record *r, struct ak_error *err)
{
        const struct json_value *e = json_object_get(o, "egress");
        if (!e)
                return 0;
        if (json_value_type(e) != JSON_OBJECT)
                return ak_error_set(err, -EINVAL, "egress: not an object");
        for (int l = 0; l < SB_EGRESS_LISTS; l++)
                if (get_list(json_object_get(e, egress_keys[l]), egress_keys[l], &r->egress[l], &r->n_egress[l],
                             err) < 0)
                        return -EINVAL;
        const struct json_value *p = json_object_get(e, "ports");
        if (!p || json_value_type(p) != JSON_ARRAY || json_array_size(p) > SB_RECORD_MAX_EGRESS)
                return ak_error_set(err, -EINVAL, "egress.ports: missing, not an array or more than %d entries",
                                    SB_RECORD_MAX_EGRESS);
        for (size_t i = 0; i < json_array_size(p); i++) {
                int64_t v;
                if (json_number_i64(json_array_get(p, i), &v) < 0 || v < 1 || v > 65535)
                        return ak_error_set(err, -EINVAL, "egress.ports[%zu]: not a port (1..65535)", i);
                r->egress_ports[r->n_egress_ports++] = (uint16_t)v;
        }
        return 0;
}

/* "net_ifname" (optional): letters and digits, shorter than IFNAMSIZ. */
static int get_ifname(const struct json_value *o, struct sb_record *r, struct ak_error *err)
{
        if (!json_object_get(o, "net_ifname"))
                return 0;
        if (get_str(o, "net_ifname", r->net_ifname, sizeof(r->net_ifname), err) < 0)
                return -EINVAL;
        for (const char *c = r->net_ifname; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')))
                        return ak_error_set(err, -EINVAL, "net_ifname: only a-z and 0-9");
        return 0;
}

/* "secrets" (optional): true (before bindings were recorded), or an array
 * of 1..SB_RECORD_MAX_SECRETS {binding, placeholder}. */
static int get_secrets(const struct json_value *o, struct sb_record *r, struct ak_error *err)
{
        const struct json_value *a = json_object_get(o, "secrets");
        if (!a)
                return 0;
        if (json_value_type(a) == JSON_BOOL) {
                r->secrets = json_bool(a);
                return 0;
        }
        if (json_value_type(a) != JSON_ARRAY || json_array_size(a) == 0 ||
            json_array_size(a) > SB_RECORD_MAX_SECRETS)
                return ak_error_set(err, -EINVAL, "secrets: not true or an array of 1..%d entries",
                                    SB_RECORD_MAX_SECRETS);
        for (size_t i = 0; i < json_array_size(a); i++) {
                const struct json_value *e = json_array_get(a, i);
                struct sb_record_secret *s = &r->secret[i];
                if (json_value_type(e) != JSON_OBJECT ||
                    get_str(e, "binding", s->binding, sizeof(s->binding), err) < 0 ||
                    get_str(e, "placeholder", s->placeholder, sizeof(s->placeholder), err) < 0)
                        return ak_error_wrap(err, "secrets[%zu]", i), -EINVAL;
        }
        r->n_secrets = json_array_size(a);
        r->secrets = true;
        return 0;
}

/* "proxy_hooks" (optional): an array of 1..SB_RECORD_MAX_HOOKS
 * {name, event, type, path}. */
static int get_hooks(const struct json_value *o, struct sb_record *r, struct ak_error *err)
{
        const struct json_value *a = json_object_get(o, "proxy_hooks");
        if (!a)
                return 0;
        if (json_value_type(a) != JSON_ARRAY || json_array_size(a) == 0 || json_array_size(a) > SB_RECORD_MAX_HOOKS)
                return ak_error_set(err, -EINVAL, "proxy_hooks: not an array of 1..%d entries", SB_RECORD_MAX_HOOKS);
        for (size_t i = 0; i < json_array_size(a); i++) {
                const struct json_value *e = json_array_get(a, i);
                struct sb_record_hook *h = &r->hooks[i];
                if (json_value_type(e) != JSON_OBJECT || get_str(e, "name", h->name, sizeof(h->name), err) < 0 ||
                    get_str(e, "event", h->event, sizeof(h->event), err) < 0 ||
                    get_str(e, "type", h->type, sizeof(h->type), err) < 0 ||
                    get_str(e, "path", h->path, sizeof(h->path), err) < 0)
                        return ak_error_wrap(err, "proxy_hooks[%zu]", i), -EINVAL;
        }
        r->n_hooks = json_array_size(a);
        return 0;
}

/* The fields of a sandbox's record (not a pool VM's). */
static int parse_sandbox(const struct json_value *o, struct sb_record *r, struct ak_error *err)
{
        int64_t v;
        if (get_str(o, "name", r->name, sizeof(r->name), err) < 0 ||
            get_str(o, "uuid", r->uuid, sizeof(r->uuid), err) < 0 ||
            get_str(o, "tenant", r->tenant, sizeof(r->tenant), err) < 0 ||
            get_bool(o, "network", &r->network, err) < 0 || get_bool(o, "persistent", &r->persistent, err) < 0 ||
            get_bool(o, "from_pool", &r->from_pool, err) < 0)
                return -EINVAL;
        if (get_int(o, "vcpus", 1, 1024, &v, err) < 0)
                return -EINVAL;
        r->vcpus = (unsigned)v;
        if (get_int(o, "memory_mb", 1, 1 << 24, &v, err) < 0)
                return -EINVAL;
        r->memory_mb = (unsigned)v;
        if (get_int(o, "network_req", 0, 16, &v, err) < 0)
                return -EINVAL;
        r->network_req = (int)v;
        if (get_int(o, "ttl_seconds", 0, UINT32_MAX, &v, err) < 0)
                return -EINVAL;
        r->ttl_seconds = (uint32_t)v;
        if (get_int(o, "created_at_ms", 0, INT64_MAX, &r->created_at_ms, err) < 0 ||
            get_int(o, "expires_at_ms", 0, INT64_MAX, &r->expires_at_ms, err) < 0)
                return -EINVAL;
        if (get_map(o, "env", &r->env_keys, &r->env_values, &r->n_env, err) < 0)
                return -EINVAL;
        if (get_map(o, "labels", &r->label_keys, &r->label_values, &r->n_labels, err) < 0)
                return -EINVAL;
        if (get_secrets(o, r, err) < 0 || get_hooks(o, r, err) < 0)
                return -EINVAL;
        return get_egress(o, r, err);
}

int sb_record_parse(const char *text, size_t len, struct sb_record *ret, struct ak_error *err)
{
        struct json_value *o = NULL;
        struct json_error je = { 0 };
        struct sb_record r = { 0 };
        char kind[16];
        if (len > SB_RECORD_MAX_BYTES)
                return ak_error_set(err, -E2BIG, "larger than %zu bytes", SB_RECORD_MAX_BYTES);
        if (json_parse(text, len, &o, &je) < 0)
                return ak_error_set(err, -EINVAL, "not JSON: %s", je.message);
        int rc = -EINVAL;
        if (json_value_type(o) != JSON_OBJECT) {
                ak_error_set(err, -EINVAL, "not a JSON object");
                goto out;
        }
        if (get_str(o, "kind", kind, sizeof(kind), err) < 0 || get_str(o, "image", r.image, sizeof(r.image), err) < 0 ||
            get_str(o, "profile", r.profile, sizeof(r.profile), err) < 0)
                goto out;
        if (get_ifname(o, &r, err) < 0)
                goto out;
        if (strcmp(kind, "pool") == 0)
                r.pool = true;
        else if (strcmp(kind, "sandbox") != 0) {
                ak_error_set(err, -EINVAL, "kind: expected \"sandbox\" or \"pool\"");
                goto out;
        }
        if (!r.pool && parse_sandbox(o, &r, err) < 0) {
                sb_record_clear(&r);
                goto out;
        }
        *ret = r;
        rc = 0;
out:
        json_value_free(o);
        return rc;
}

void sb_record_clear(struct sb_record *r)
{
        strv_free(r->env_keys, r->n_env);
        strv_free(r->env_values, r->n_env);
        strv_free(r->label_keys, r->n_labels);
        strv_free(r->label_values, r->n_labels);
        r->env_keys = r->env_values = r->label_keys = r->label_values = NULL;
        r->n_env = r->n_labels = 0;
        for (int l = 0; l < SB_EGRESS_LISTS; l++) {
                strv_free(r->egress[l], r->n_egress[l]);
                r->egress[l] = NULL;
                r->n_egress[l] = 0;
        }
        r->n_egress_ports = 0;
}
