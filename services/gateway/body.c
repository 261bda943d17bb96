/* The JSON bodies of agentkernel's routes, decoded strictly: a member of the
 * wrong type is an error naming it, unknown members are ignored (serde). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/encoding/base64.h"
#include "lib/json/json.h"
#include "services/gateway/request.h"

static int parse(const char *body, size_t len, struct gw_req *ret, struct ak_error *err)
{
        struct json_error je;
        int r;

        memset(ret, 0, sizeof(*ret));
        if (len == 0)
                return ak_error_set(err, -EINVAL, "Invalid JSON: the request body is empty");
        r = json_parse(body, len, &ret->tree, &je);
        if (r == -EINVAL)
                return ak_error_set(err, r, "Invalid JSON: %s", je.message);
        if (r < 0)
                return ak_error_errno(err, r, "Invalid JSON");
        if (json_value_type(ret->tree) != JSON_OBJECT) {
                json_value_free(ret->tree);
                ret->tree = NULL;
                return ak_error_set(err, -EINVAL, "Invalid JSON: the body must be an object");
        }
        return 0;
}

/* A member that is absent or null reads as absent. */
static const struct json_value *member(const struct json_value *o, const char *key)
{
        const struct json_value *v = json_object_get(o, key);
        return v && json_value_type(v) != JSON_NULL ? v : NULL;
}

static int wrong(struct ak_error *err, const char *key, const char *want, const struct json_value *v)
{
        return ak_error_set(err, -EINVAL, "%s: expected %s, got %s", key, want,
                            json_type_name(json_value_type(v)));
}

static int opt_string(const struct json_value *o, const char *key, const char **ret, struct ak_error *err)
{
        const struct json_value *v = member(o, key);
        size_t len;

        *ret = NULL;
        if (!v)
                return 0;
        if (json_value_type(v) != JSON_STRING)
                return wrong(err, key, "a string", v);
        *ret = json_string(v, &len);
        if (strlen(*ret) != len)
                return ak_error_set(err, -EINVAL, "%s: must not contain NUL", key);
        return 0;
}

static int opt_bool(const struct json_value *o, const char *key, bool *ret, struct ak_error *err)
{
        const struct json_value *v = member(o, key);

        if (!v)
                return 0;
        if (json_value_type(v) != JSON_BOOL)
                return wrong(err, key, "a boolean", v);
        *ret = json_bool(v);
        return 0;
}

static int opt_u32(const struct json_value *o, const char *key, uint32_t *ret, struct ak_error *err)
{
        const struct json_value *v = member(o, key);
        uint64_t u;

        if (!v)
                return 0;
        if (json_value_type(v) != JSON_NUMBER)
                return wrong(err, key, "a number", v);
        if (json_number_u64(v, &u) < 0 || u > UINT32_MAX)
                return ak_error_set(err, -EINVAL, "%s: expected an integer from 0 to %u, got %s", key,
                                    UINT32_MAX, json_number_text(v));
        *ret = (uint32_t)u;
        return 0;
}

/* "command": a non-empty array of strings without NUL. */
static int command(const struct json_value *o, const char ***ret_argv, size_t *ret_argc, struct ak_error *err)
{
        const struct json_value *v = member(o, "command");
        size_t n, len;

        if (!v)
                return ak_error_set(err, -EINVAL, "command is required");
        if (json_value_type(v) != JSON_ARRAY)
                return wrong(err, "command", "an array of strings", v);
        n = json_array_size(v);
        if (n == 0)
                return ak_error_set(err, -EINVAL, "command is required (an empty array)");
        if (n > GW_ARGV_MAX)
                return ak_error_set(err, -EINVAL, "command: more than %d arguments", GW_ARGV_MAX);
        const char **argv = calloc(n + 1, sizeof(*argv));
        if (!argv)
                return ak_error_errno(err, -ENOMEM, "command");
        for (size_t i = 0; i < n; i++) {
                const struct json_value *a = json_array_get(v, i);
                if (json_value_type(a) != JSON_STRING) {
                        free(argv);
                        return ak_error_set(err, -EINVAL, "command[%zu]: expected a string, got %s", i,
                                            json_type_name(json_value_type(a)));
                }
                argv[i] = json_string(a, &len);
                if (strlen(argv[i]) != len) {
                        free(argv);
                        return ak_error_set(err, -EINVAL, "command[%zu]: must not contain NUL", i);
                }
        }
        *ret_argv = argv;
        *ret_argc = n;
        return 0;
}

/* An optional array of at most max strings without NUL, pointing into the
 * tree (absent or null: none). */
static int opt_strings(const struct json_value *o, const char *key, size_t max, const char ***ret, size_t *ret_n,
                       struct ak_error *err)
{
        const struct json_value *v = member(o, key);
        size_t len;

        *ret = NULL;
        *ret_n = 0;
        if (!v)
                return 0;
        if (json_value_type(v) != JSON_ARRAY)
                return wrong(err, key, "an array of strings", v);
        size_t n = json_array_size(v);
        if (n > max)
                return ak_error_set(err, -EINVAL, "%s: more than %zu entries", key, max);
        const char **a = calloc(n + 1, sizeof(*a));
        if (!a)
                return ak_error_errno(err, -ENOMEM, "%s", key);
        for (size_t i = 0; i < n; i++) {
                const struct json_value *e = json_array_get(v, i);
                if (json_value_type(e) != JSON_STRING) {
                        free(a);
                        return ak_error_set(err, -EINVAL, "%s[%zu]: expected a string, got %s", key, i,
                                            json_type_name(json_value_type(e)));
                }
                a[i] = json_string(e, &len);
                if (strlen(a[i]) != len) {
                        free(a);
                        return ak_error_set(err, -EINVAL, "%s[%zu]: must not contain NUL", key, i);
                }
        }
        *ret = a;
        *ret_n = n;
        return 0;
}

/* An object of string values → kv pairs pointing into the tree. */
static int string_map(const struct json_value *o, const char *key, struct gw_kv **ret, size_t *ret_n,
                      struct ak_error *err)
{
        const struct json_value *v = member(o, key);
        size_t n, len;

        *ret = NULL;
        *ret_n = 0;
        if (!v)
                return 0;
        if (json_value_type(v) != JSON_OBJECT)
                return wrong(err, key, "an object of strings", v);
        n = json_object_size(v);
        if (n > GW_ENV_MAX)
                return ak_error_set(err, -EINVAL, "%s: more than %d entries", key, GW_ENV_MAX);
        if (n == 0)
                return 0;
        struct gw_kv *kv = calloc(n, sizeof(*kv));
        if (!kv)
                return ak_error_errno(err, -ENOMEM, "%s", key);
        for (size_t i = 0; i < n; i++) {
                const struct json_value *e = json_object_value(v, i);
                kv[i].key = json_object_key(v, i, &len);
                if (!*kv[i].key || strlen(kv[i].key) != len) {
                        free(kv);
                        return ak_error_set(err, -EINVAL, "%s: a key is empty or holds NUL", key);
                }
                if (json_value_type(e) != JSON_STRING) {
                        const char *k = kv[i].key;
                        free(kv);
                        return ak_error_set(err, -EINVAL, "%s.%.64s: expected a string, got %s", key, k,
                                            json_type_name(json_value_type(e)));
                }
                kv[i].value = json_string(e, &len);
                if (strlen(kv[i].value) != len) {
                        const char *k = kv[i].key;
                        free(kv);
                        return ak_error_set(err, -EINVAL, "%s.%.64s: must not contain NUL", key, k);
                }
        }
        *ret = kv;
        *ret_n = n;
        return 0;
}

static int fail(struct gw_req *ret, enum gw_route_id id, int r)
{
        gw_req_free(id, ret);
        memset(ret, 0, sizeof(*ret));
        return r;
}

int gw_run_decode(const char *body, size_t len, struct gw_req *ret, struct ak_error *err)
{
        int r = parse(body, len, ret, err);
        bool fast = true;

        if (r < 0)
                return r;
        struct gw_run_req *q = &ret->run;
        if ((r = command(ret->tree, &q->argv, &q->argc, err)) < 0 ||
            (r = opt_string(ret->tree, "image", &q->image, err)) < 0 ||
            (r = opt_string(ret->tree, "profile", &q->profile, err)) < 0 ||
            (r = opt_bool(ret->tree, "fast", &fast, err)) < 0)
                return fail(ret, GW_RUN, r);
        return 0;
}

int gw_create_decode(const char *body, size_t len, struct gw_req *ret, struct ak_error *err)
{
        static const char *const unsupported[] = { "source_url", "source_ref", "volumes" };
        const char *ttl = NULL;
        int r = parse(body, len, ret, err);

        if (r < 0)
                return r;
        struct gw_create_req *q = &ret->create;
        for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
                if (member(ret->tree, unsupported[i]))
                        return fail(ret, GW_CREATE,
                                    ak_error_set(err, -EINVAL, "%s: not supported by ak-gateway; leave it out",
                                                 unsupported[i]));
        if ((r = opt_string(ret->tree, "name", &q->name, err)) < 0 ||
            (r = opt_string(ret->tree, "image", &q->image, err)) < 0 ||
            (r = opt_string(ret->tree, "profile", &q->profile, err)) < 0 ||
            (r = opt_u32(ret->tree, "vcpus", &q->vcpus, err)) < 0 ||
            (r = opt_u32(ret->tree, "memory_mb", &q->memory_mb, err)) < 0 ||
            (r = opt_u32(ret->tree, "ttl_seconds", &q->ttl_seconds, err)) < 0 ||
            (r = opt_string(ret->tree, "ttl", &ttl, err)) < 0 ||
            (r = string_map(ret->tree, "labels", &q->labels, &q->n_labels, err)) < 0 ||
            (r = opt_strings(ret->tree, "secrets", GW_SECRETS_MAX, &q->secrets, &q->n_secrets, err)) < 0 ||
            (r = opt_strings(ret->tree, "secret_files", GW_SECRETS_MAX, &q->secret_files, &q->n_secret_files,
                             err)) < 0)
                return fail(ret, GW_CREATE, r);
        /* The value itself ("KEY=value:host") would cross the wire, sit in
         * the scheduler and maybe a log: refused before anything else. Not
         * echoed: the member's index only. */
        for (size_t i = 0; i < q->n_secrets; i++)
                if (strchr(q->secrets[i], '='))
                        return fail(ret, GW_CREATE,
                                    ak_error_set(err, -EINVAL, "secrets[%zu]: the KEY=value form is not accepted "
                                                 "(values never cross the API): store the value on the executor's "
                                                 "node (ak secret set KEY) and give KEY:host[:header]", i));
        if (!q->name)
                return fail(ret, GW_CREATE, ak_error_set(err, -EINVAL, "name is required"));
        if (!gw_name_ok(q->name))
                return fail(ret, GW_CREATE,
                            ak_error_set(err, -EINVAL, "name: '%.80s' is not 1 to %d of [A-Za-z0-9_.-]", q->name,
                                         GW_NAME_MAX));
        if (ttl) {
                uint64_t s;
                if (gw_duration_parse(ttl, &s) < 0)
                        return fail(ret, GW_CREATE,
                                    ak_error_set(err, -EINVAL, "ttl: '%.40s' is not a duration like 30m, 1h, 2d",
                                                 ttl));
                q->ttl_seconds = (uint32_t)s;
        }
        return 0;
}

int gw_exec_decode(const char *body, size_t len, struct gw_req *ret, struct ak_error *err)
{
        struct gw_kv *env = NULL;
        size_t n_env = 0;
        int r = parse(body, len, ret, err);

        if (r < 0)
                return r;
        struct gw_exec_req *q = &ret->exec;
        if ((r = command(ret->tree, &q->argv, &q->argc, err)) < 0 ||
            (r = opt_string(ret->tree, "workdir", &q->workdir, err)) < 0 ||
            (r = opt_bool(ret->tree, "sudo", &q->sudo, err)) < 0 ||
            (r = string_map(ret->tree, "env", &env, &n_env, err)) < 0)
                return fail(ret, GW_EXEC, r);
        if (n_env) {
                q->env = calloc(n_env, sizeof(*q->env));
                if (!q->env) {
                        free(env);
                        return fail(ret, GW_EXEC, ak_error_errno(err, -ENOMEM, "env"));
                }
                for (size_t i = 0; i < n_env; i++) {
                        if (strchr(env[i].key, '=') || asprintf(&q->env[i], "%s=%s", env[i].key, env[i].value) < 0) {
                                q->env[i] = NULL;
                                q->n_env = i;
                                free(env);
                                return fail(ret, GW_EXEC, ak_error_set(err, -EINVAL, "env: a key holds '='"));
                        }
                        q->n_env = i + 1;
                }
        }
        free(env);
        return 0;
}

int gw_file_decode(const char *body, size_t len, struct gw_req *ret, struct ak_error *err)
{
        const char *content = NULL, *encoding = NULL;
        const struct json_value *c;
        size_t clen = 0;
        int r = parse(body, len, ret, err);

        if (r < 0)
                return r;
        if ((r = opt_string(ret->tree, "encoding", &encoding, err)) < 0)
                return fail(ret, GW_FILE_PUT, r);
        c = member(ret->tree, "content");
        if (!c)
                return fail(ret, GW_FILE_PUT, ak_error_set(err, -EINVAL, "content is required"));
        if (json_value_type(c) != JSON_STRING)
                return fail(ret, GW_FILE_PUT, wrong(err, "content", "a string", c));
        content = json_string(c, &clen);
        if (!encoding || !strcmp(encoding, "utf8") || !strcmp(encoding, "utf-8")) {
                ret->file.content = malloc(clen ? clen : 1);
                if (!ret->file.content)
                        return fail(ret, GW_FILE_PUT, ak_error_errno(err, -ENOMEM, "content"));
                memcpy(ret->file.content, content, clen);
                ret->file.len = clen;
        } else if (!strcmp(encoding, "base64")) {
                if (base64_decode_alloc(content, clen, &ret->file.content, &ret->file.len) < 0)
                        return fail(ret, GW_FILE_PUT, ak_error_set(err, -EINVAL, "content: invalid base64"));
        } else
                return fail(ret, GW_FILE_PUT,
                            ak_error_set(err, -EINVAL, "encoding: '%.20s' is not utf8 or base64", encoding));
        return 0;
}

int gw_files_decode(const char *body, size_t len, struct gw_req *ret, struct ak_error *err)
{
        int r = parse(body, len, ret, err);

        if (r < 0)
                return r;
        if (!member(ret->tree, "files"))
                return fail(ret, GW_FILES_BATCH, ak_error_set(err, -EINVAL, "files is required"));
        if ((r = string_map(ret->tree, "files", &ret->files.files, &ret->files.n_files, err)) < 0)
                return fail(ret, GW_FILES_BATCH, r);
        return 0;
}

int gw_batch_decode(const char *body, size_t len, struct gw_req *ret, struct ak_error *err)
{
        const struct json_value *v;
        size_t n;
        int r = parse(body, len, ret, err);

        if (r < 0)
                return r;
        v = member(ret->tree, "commands");
        if (!v)
                return fail(ret, GW_BATCH_RUN, ak_error_set(err, -EINVAL, "commands is required"));
        if (json_value_type(v) != JSON_ARRAY)
                return fail(ret, GW_BATCH_RUN, wrong(err, "commands", "an array", v));
        n = json_array_size(v);
        if (n == 0 || n > GW_BATCH_MAX)
                return fail(ret, GW_BATCH_RUN,
                            ak_error_set(err, -EINVAL, "commands: 1 to %d entries, got %zu", GW_BATCH_MAX, n));
        ret->batch.cmds = calloc(n, sizeof(*ret->batch.cmds));
        if (!ret->batch.cmds)
                return fail(ret, GW_BATCH_RUN, ak_error_errno(err, -ENOMEM, "commands"));
        for (size_t i = 0; i < n; i++) {
                const struct json_value *c = json_array_get(v, i);
                if (json_value_type(c) != JSON_OBJECT)
                        return fail(ret, GW_BATCH_RUN, wrong(err, "commands[]", "an object", c));
                struct gw_run_req *q = &ret->batch.cmds[i];
                if ((r = command(c, &q->argv, &q->argc, err)) < 0)
                        return fail(ret, GW_BATCH_RUN, ak_error_wrap(err, "commands[%zu]", i));
                ret->batch.n_cmds = i + 1;
        }
        return 0;
}

int gw_extend_decode(const char *body, size_t len, struct gw_req *ret, struct ak_error *err)
{
        const char *by = NULL;
        int r = parse(body, len, ret, err);

        if (r < 0)
                return r;
        if ((r = opt_string(ret->tree, "by", &by, err)) < 0)
                return fail(ret, GW_EXTEND, r);
        if (!by)
                by = "1h";   /* agentkernel's default */
        if (gw_duration_parse(by, &ret->extend_seconds) < 0 || ret->extend_seconds == 0)
                return fail(ret, GW_EXTEND,
                            ak_error_set(err, -EINVAL, "by: '%.40s' is not a duration like 30m, 1h, 2d", by));
        return 0;
}

int gw_snapshot_decode(const char *body, size_t len, struct gw_req *ret, struct ak_error *err)
{
        struct gw_snapshot_req *q = &ret->snapshot;
        int r = parse(body, len, ret, err);

        if (r < 0)
                return r;
        if ((r = opt_string(ret->tree, "sandbox", &q->sandbox, err)) < 0 ||
            (r = opt_string(ret->tree, "name", &q->name, err)) < 0)
                return fail(ret, GW_SNAP_TAKE, r);
        if (!q->sandbox)
                return fail(ret, GW_SNAP_TAKE, ak_error_set(err, -EINVAL, "sandbox is required"));
        if (!gw_name_ok(q->sandbox))
                return fail(ret, GW_SNAP_TAKE,
                            ak_error_set(err, -EINVAL, "sandbox: '%.80s' is not a sandbox name (1 to %d of "
                                         "[A-Za-z0-9_.-], not . or ..)", q->sandbox, GW_NAME_MAX));
        if (q->name && !gw_name_ok(q->name))
                return fail(ret, GW_SNAP_TAKE,
                            ak_error_set(err, -EINVAL, "name: '%.80s' is not a snapshot name (1 to %d of "
                                         "[A-Za-z0-9_.-], not . or ..)", q->name, GW_NAME_MAX));
        return 0;
}

void gw_req_free(enum gw_route_id id, struct gw_req *r)
{
        if (!r)
                return;
        switch (id) {
        case GW_RUN:
        case GW_RUN_STREAM:
                free(r->run.argv);
                break;
        case GW_CREATE:
                free(r->create.labels);
                free(r->create.secrets);
                free(r->create.secret_files);
                break;
        case GW_EXEC:
        case GW_EXEC_DETACH:
                free(r->exec.argv);
                for (size_t i = 0; i < r->exec.n_env; i++)
                        free(r->exec.env[i]);
                free(r->exec.env);
                break;
        case GW_FILE_PUT:
                free(r->file.content);
                break;
        case GW_FILES_BATCH:
                free(r->files.files);
                break;
        case GW_BATCH_RUN:
                for (size_t i = 0; r->batch.cmds && i < r->batch.n_cmds; i++)
                        free(r->batch.cmds[i].argv);
                free(r->batch.cmds);
                break;
        default:
                break;
        }
        json_value_free(r->tree);
        r->tree = NULL;
}

int gw_duration_parse(const char *s, uint64_t *ret_seconds)
{
        uint64_t n = 0, mult = 1;
        size_t i = 0;

        if (!s || !*s)
                return -EINVAL;
        for (; s[i] >= '0' && s[i] <= '9'; i++) {
                n = n * 10 + (uint64_t)(s[i] - '0');
                if (n > 365ull * 86400)
                        return -EINVAL;
        }
        if (i == 0)
                return -EINVAL;
        if (s[i]) {
                if (s[i + 1])
                        return -EINVAL;
                switch (s[i]) {
                case 's': mult = 1; break;
                case 'm': mult = 60; break;
                case 'h': mult = 3600; break;
                case 'd': mult = 86400; break;
                default: return -EINVAL;
                }
        }
        if (n * mult > 365ull * 86400)
                return -EINVAL;
        *ret_seconds = n * mult;
        return 0;
}

int gw_label_parse(const char *s, char *buf, size_t size, const char **ret_key, const char **ret_value)
{
        size_t n = strlen(s);
        char *colon;

        if (n + 1 > size)
                return -EINVAL;
        memcpy(buf, s, n + 1);
        colon = strchr(buf, ':');
        if (!colon || colon == buf)
                return -EINVAL;
        *colon = '\0';
        *ret_key = buf;
        *ret_value = colon + 1;
        return 0;
}
