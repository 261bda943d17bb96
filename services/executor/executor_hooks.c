/* See executor_hooks.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/fs.h"
#include "lib/base/io.h"
#include "lib/json/writer.h"
#include "services/executor/executor_audit.h"
#include "services/executor/executor_hooks.h"
#include "services/executor/executor_sandbox.h"
#include "services/executor/executor_state.h"
#include "services/executor/sandbox_record.h"

#define HOOK_LINE_MAX 2048

struct hook {
        char name[HOOK_NAME_MAX + 1];
        bool on_response;            /* else on_request */
        bool audit;                  /* else a file */
        char file[HOOK_FILE_MAX + 1]; /* the name as given */
        char path[PATH_MAX];
};

struct proxy_hooks {
        struct executor *ex;
        char sandbox[SANDBOX_NAME_MAX + 1];
        char tenant[64];
        pthread_mutex_t file_lock;   /* one line at a time per file */
        size_t n;
        struct hook hooks[HOOKS_MAX];
};

static bool name_ok(const char *s, size_t max)
{
        size_t n = strlen(s);
        return n >= 1 && n <= max && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n &&
               strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Checks hook i (name, event, type, path as given) into h->hooks[i]:
 * 0, or -EINVAL with err naming the entry. */
static int check_one(struct proxy_hooks *h, const char *name, const char *event, const char *type, const char *path,
                     size_t i, const char *dir, struct ak_error *err)
{
        struct hook *k = &h->hooks[i];
        if (!name_ok(name, HOOK_NAME_MAX))
                return ak_error_set(err, -EINVAL, "spec.proxy_hooks[%zu].name \"%.80s\": want 1..%d of A-Z a-z 0-9 . _ -",
                                    i, name, HOOK_NAME_MAX);
        for (size_t j = 0; j < i; j++)
                if (strcmp(h->hooks[j].name, name) == 0)
                        return ak_error_set(err, -EINVAL, "spec.proxy_hooks[%zu]: the name %s is taken by "
                                            "spec.proxy_hooks[%zu]", i, name, j);
        if (strcmp(event, "on_request") != 0 && strcmp(event, "on_response") != 0)
                return ak_error_set(err, -EINVAL, "spec.proxy_hooks[%zu] (%s).event \"%.40s\": want on_request or "
                                    "on_response", i, name, event);
        snprintf(k->name, sizeof(k->name), "%s", name);
        k->on_response = strcmp(event, "on_response") == 0;
        if (strcmp(type, "audit") == 0) {
                k->audit = true;
                return 0;
        }
        if (strcmp(type, "file") != 0)
                return ak_error_set(err, -EINVAL, "spec.proxy_hooks[%zu] (%s).type \"%.40s\": want file or audit "
                                    "(webhook is not offered: the executor posts to no URL a client names)", i, name,
                                    type);
        if (!name_ok(path, HOOK_FILE_MAX))
                return ak_error_set(err, -EINVAL, "spec.proxy_hooks[%zu] (%s).path \"%.80s\": want a file name "
                                    "(1..%d of A-Z a-z 0-9 . _ -, no '/'), kept in %s", i, name, path, HOOK_FILE_MAX,
                                    dir);
        snprintf(k->file, sizeof(k->file), "%s", path);
        snprintf(k->path, sizeof(k->path), "%.3200s/%.128s", dir, path); /* dir < 3100, path <= 128 */
        return 0;
}

/* n hooks (*get(i) gives each as given) checked into a new struct
 * proxy_hooks for sb, the file hooks' directory made: 0 or -errno with err. */
typedef void (*hook_get_fn)(const void *src, size_t i, const char **name, const char **event, const char **type,
                            const char **path);
static int hooks_build(struct executor *ex, struct sandbox *sb, const void *src, size_t n, hook_get_fn get,
                       struct proxy_hooks **ret, struct ak_error *err)
{
        char dir[PATH_MAX];
        if (n > HOOKS_MAX)
                return ak_error_set(err, -EINVAL, "spec.proxy_hooks: %zu, at most %d", n, HOOKS_MAX);
        struct proxy_hooks *h = calloc(1, sizeof(*h));
        if (!h)
                return ak_error_set(err, -ENOMEM, "out of memory");
        h->ex = ex;
        snprintf(h->sandbox, sizeof(h->sandbox), "%s", sb->name);
        snprintf(h->tenant, sizeof(h->tenant), "%s", sb->tenant);
        pthread_mutex_init(&h->file_lock, NULL);
        snprintf(dir, sizeof(dir), "%.3000s/proxy-hooks/%s", ex->state_dir, sb->name);
        int r = 0;
        for (size_t i = 0; i < n && r == 0; i++, h->n++) {
                const char *name, *event, *type, *path;
                get(src, i, &name, &event, &type, &path);
                r = check_one(h, name ? name : "", event ? event : "", type ? type : "", path ? path : "", i, dir,
                              err);
        }
        bool files = false;
        for (size_t i = 0; r == 0 && i < h->n; i++)
                files = files || !h->hooks[i].audit;
        if (r == 0 && files && (r = ak_mkdir_p(dir, 0700, false)) == -EEXIST)
                r = 0;
        if (r < 0 && r != -EINVAL)
                ak_error_errno(err, r, "spec.proxy_hooks: mkdir %s", dir);
        if (r < 0) {
                hooks_free(h);
                return r;
        }
        *ret = h;
        return 0;
}

static void spec_get(const void *src, size_t i, const char **name, const char **event, const char **type,
                     const char **path)
{
        const Ak__V1__ProxyHook *in = ((const Ak__V1__SandboxSpec *)src)->proxy_hooks[i];
        *name = in->name, *event = in->event, *type = in->type, *path = in->path;
}

static void record_get(const void *src, size_t i, const char **name, const char **event, const char **type,
                       const char **path)
{
        const struct sb_record_hook *in = &((const struct sb_record_hook *)src)[i];
        *name = in->name, *event = in->event, *type = in->type, *path = in->path;
}

int hooks_take(struct executor *ex, const Ak__V1__SandboxSpec *spec, struct sandbox *sb, struct rpc_call *call)
{
        struct ak_error err = { 0 };
        if (spec->n_proxy_hooks == 0)
                return RPC_OK;
        if (!sb->network)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.proxy_hooks: they observe what the VM's egress "
                                     "proxy carries, and the sandbox has no network (profile %s or --no-network); "
                                     "give it network", sb->profile->name);
        int r = hooks_build(ex, sb, spec, spec->n_proxy_hooks, spec_get, &sb->hooks, &err);
        if (r < 0)
                return rpc_call_fail(call, r == -EINVAL ? RPC_INVALID_ARGUMENT : r == -ENOMEM ? RPC_RESOURCE_EXHAUSTED
                                                                                            : RPC_INTERNAL,
                                     "%s", err.msg);
        return RPC_OK;
}

int hooks_restore(struct executor *ex, struct sandbox *sb, const struct sb_record_hook *hooks, size_t n,
                  struct ak_error *err)
{
        if (n == 0)
                return 0;
        return hooks_build(ex, sb, hooks, n, record_get, &sb->hooks, err);
}

size_t hooks_record(const struct proxy_hooks *h, struct sb_record_hook *out, size_t max)
{
        size_t n = 0;
        for (; h && n < h->n && n < max; n++) {
                const struct hook *k = &h->hooks[n];
                snprintf(out[n].name, sizeof(out[n].name), "%s", k->name);
                snprintf(out[n].event, sizeof(out[n].event), "%s", k->on_response ? "on_response" : "on_request");
                snprintf(out[n].type, sizeof(out[n].type), "%s", k->audit ? "audit" : "file");
                snprintf(out[n].path, sizeof(out[n].path), "%s", k->audit ? "" : k->file);
        }
        return n;
}

void hooks_free(struct proxy_hooks *h)
{
        if (!h)
                return;
        pthread_mutex_destroy(&h->file_lock);
        free(h);
}

/* One event as a JSON object (agentkernel's ProxyEvent fields where they
 * mean the same, plus ours). 0 or -ENOMEM. */
static int event_json(const struct proxy_hooks *h, const struct hook *k, const struct vmm_net_request_event *ev,
                      char **ret, size_t *ret_len)
{
        struct json_writer *w = NULL;
        char ts[40];
        struct timespec now;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &now);
        gmtime_r(&now.tv_sec, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (json_writer_new(JSON_WRITER_LOSSY, HOOK_LINE_MAX, &w) < 0)
                return -ENOMEM;
        json_writer_begin_object(w);
#define KEY(s) json_writer_key(w, s, strlen(s))
        KEY("hook");
        json_writer_string_or_null(w, k->name);
        KEY("event");
        json_writer_string_or_null(w, k->on_response ? "on_response" : "on_request");
        KEY("timestamp");
        json_writer_string_or_null(w, ts);
        KEY("sandbox");
        json_writer_string_or_null(w, h->sandbox);
        KEY("method");
        json_writer_string_or_null(w, ev->method);
        KEY("host");
        json_writer_string_or_null(w, ev->host);
        KEY("port");
        json_writer_u64(w, ev->port);
        KEY("path");
        json_writer_string_or_null(w, ev->path);
        KEY("request_bytes");
        json_writer_u64(w, ev->request_bytes);
        KEY("secret_injected");
        json_writer_bool(w, ev->injected);
        if (k->on_response) {
                KEY("status");
                if (ev->status)
                        json_writer_u64(w, (uint64_t)ev->status);
                else
                        json_writer_null(w);
                KEY("response_bytes");
                json_writer_u64(w, ev->response_bytes);
                KEY("latency_ms");
                json_writer_u64(w, ev->duration_ms);
                KEY("outcome");
                json_writer_string_or_null(w, ev->outcome);
        }
        if (ev->rule) {
                KEY("rule");
                json_writer_string_or_null(w, ev->rule);
        }
#undef KEY
        json_writer_end_object(w);
        char *out = NULL;
        size_t len = 0;
        int r = json_writer_finish(w, &out, &len);
        json_writer_free(w);
        if (r < 0)
                return r;
        char *line = realloc(out, len + 2); /* a JSON line for files; NUL kept for audit */
        if (!line) {
                free(out);
                return -ENOMEM;
        }
        line[len] = '\n';
        line[len + 1] = 0;
        *ret = line;
        *ret_len = len + 1;
        return 0;
}

static void file_append(struct proxy_hooks *h, const char *path, const char *line, size_t len)
{
        pthread_mutex_lock(&h->file_lock);
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) {
                (void)ak_write_full(fd, line, len); /* line ends in '\n': one append */
                close(fd);
        }
        pthread_mutex_unlock(&h->file_lock);
}

void hooks_on_request(void *ctx, const struct vmm_net_request_event *ev)
{
        struct proxy_hooks *h = ctx;
        for (size_t i = 0; i < h->n; i++) {
                const struct hook *k = &h->hooks[i];
                char *json = NULL;
                size_t len = 0;
                if (event_json(h, k, ev, &json, &len) < 0)
                        continue;
                if (k->audit) {
                        json[len - 1] = 0; /* no newline in an attribute */
                        (void)audit_emit_tenant(h->ex, NULL, h->tenant, "proxy",
                                                k->on_response ? "proxy_response" : "proxy_request",
                                                AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_INFO, h->sandbox, json);
                } else {
                        file_append(h, k->path, json, len);
                }
                free(json);
        }
}
