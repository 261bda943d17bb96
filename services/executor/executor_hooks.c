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

#define HOOK_LINE_MAX 2048

struct hook {
        char name[HOOK_NAME_MAX + 1];
        bool on_response;            /* else on_request */
        bool audit;                  /* else a file */
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

static int take_one(struct proxy_hooks *h, const Ak__V1__ProxyHook *in, size_t i, const char *dir,
                    struct rpc_call *call)
{
        struct hook *k = &h->hooks[i];
        const char *name = in->name ? in->name : "", *event = in->event ? in->event : "";
        const char *type = in->type ? in->type : "", *path = in->path ? in->path : "";
        if (!name_ok(name, HOOK_NAME_MAX))
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.proxy_hooks[%zu].name \"%.80s\": want "
                                     "1..%d of A-Z a-z 0-9 . _ -", i, name, HOOK_NAME_MAX);
        for (size_t j = 0; j < i; j++)
                if (strcmp(h->hooks[j].name, name) == 0)
                        return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.proxy_hooks[%zu]: the name %s is "
                                             "taken by spec.proxy_hooks[%zu]", i, name, j);
        if (strcmp(event, "on_request") != 0 && strcmp(event, "on_response") != 0)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.proxy_hooks[%zu] (%s).event \"%.40s\": want "
                                     "on_request or on_response", i, name, event);
        snprintf(k->name, sizeof(k->name), "%s", name);
        k->on_response = strcmp(event, "on_response") == 0;
        if (strcmp(type, "audit") == 0) {
                k->audit = true;
                return RPC_OK;
        }
        if (strcmp(type, "file") != 0)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.proxy_hooks[%zu] (%s).type \"%.40s\": want "
                                     "file or audit (webhook is not offered: the executor posts to no URL a "
                                     "client names)", i, name, type);
        if (!name_ok(path, HOOK_FILE_MAX))
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.proxy_hooks[%zu] (%s).path \"%.80s\": want a "
                                     "file name (1..%d of A-Z a-z 0-9 . _ -, no '/'), kept in %s", i, name, path,
                                     HOOK_FILE_MAX, dir);
        snprintf(k->path, sizeof(k->path), "%.3200s/%.128s", dir, path); /* dir < 3100, path <= 128 */
        return RPC_OK;
}

int hooks_take(struct executor *ex, const Ak__V1__SandboxSpec *spec, struct sandbox *sb, struct rpc_call *call)
{
        char dir[PATH_MAX];
        int code = RPC_OK;
        if (spec->n_proxy_hooks == 0)
                return RPC_OK;
        if (spec->n_proxy_hooks > HOOKS_MAX)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.proxy_hooks: %zu, at most %d",
                                     spec->n_proxy_hooks, HOOKS_MAX);
        if (!sb->secrets)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.proxy_hooks: they observe the requests the "
                                     "secrets' relay carries; give spec.secrets (--secret NAME:HOST)");
        struct proxy_hooks *h = calloc(1, sizeof(*h));
        if (!h)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        h->ex = ex;
        snprintf(h->sandbox, sizeof(h->sandbox), "%s", sb->name);
        snprintf(h->tenant, sizeof(h->tenant), "%s", sb->tenant);
        pthread_mutex_init(&h->file_lock, NULL);
        snprintf(dir, sizeof(dir), "%.3000s/proxy-hooks/%s", ex->state_dir, sb->name);
        for (size_t i = 0; i < spec->n_proxy_hooks && code == RPC_OK; i++, h->n++)
                code = take_one(h, spec->proxy_hooks[i], i, dir, call);
        bool files = false;
        for (size_t i = 0; code == RPC_OK && i < h->n; i++)
                files = files || !h->hooks[i].audit;
        int r = code == RPC_OK && files ? ak_mkdir_p(dir, 0700, false) : 0;
        if (r < 0 && r != -EEXIST)
                code = rpc_call_fail(call, RPC_INTERNAL, "spec.proxy_hooks: mkdir %s: %s", dir, strerror(-r));
        if (code != RPC_OK) {
                hooks_free(h);
                return code;
        }
        sb->hooks = h;
        return RPC_OK;
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
