/* agentkernel's detached-command routes over the scheduler's
 * ExecDetached, ListDetached, GetDetached, DetachedLogs, KillDetached:
 *   POST   /sandboxes/{name}/exec/detach            → DetachedCommand
 *   GET    /sandboxes/{name}/exec/detached          → [DetachedCommand]
 *   GET    /sandboxes/{name}/exec/detached/{id}     → DetachedCommand
 *   DELETE /sandboxes/{name}/exec/detached/{id}     → "Command killed"
 *   GET    .../detached/{id}/logs[?stream=stderr]   → {"stdout"|"stderr": text}
 * DetachedCommand is {id, sandbox, command, pid, status, exit_code (null
 * while running), started_at (RFC 3339)}. Logs are the whole kept stream
 * (at most GW_DETACHED_LOG_MAX bytes, in DetachedLogs calls of at most
 * 4 MiB), as text the way from_utf8_lossy makes it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/json/writer.h"
#include "lib/rpc/rpc.h"
#include "services/gateway/api_internal.h"

#define GW_DETACHED_LOG_MAX ((size_t)16 << 20)
#define GW_DETACHED_READ (4u << 20)

static void command_json(struct json_writer *w, const Ak__V1__DetachedCommand *d)
{
        char when[40] = "";
        time_t t = (time_t)(d->started_at_ms / 1000);
        struct tm tm;
        if (gmtime_r(&t, &tm)) {
                size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
                snprintf(when + n, sizeof(when) - n, ".%03dZ", (int)(d->started_at_ms % 1000));
        }
        json_writer_begin_object(w);
        gw_str(w, "id", d->id);
        gw_str(w, "sandbox", d->sandbox);
        gw_key(w, "command");
        json_writer_begin_array(w);
        for (size_t i = 0; i < d->n_argv; i++)
                json_writer_string(w, d->argv[i], strlen(d->argv[i]));
        json_writer_end_array(w);
        gw_key(w, "pid");
        json_writer_i64(w, d->pid);
        gw_str(w, "status", d->status);
        gw_key(w, "exit_code");
        if (d->has_exit_code)
                json_writer_i64(w, d->exit_code);
        else
                json_writer_null(w);
        gw_str(w, "started_at", when);
        json_writer_end_object(w);
}

/* A unary call whose reply is one DetachedCommand. */
static int one(struct gateway *g, const char *tenant, const char *method, const ProtobufCMessage *req, struct gw_resp *ret)
{
        Ak__V1__DetachedCommand *d = NULL;
        struct ak_error err = { 0 };
        int code = gw_call(g, tenant, method, req, (void **)&d, &err);
        if (code != RPC_OK)
                return gw_rpc_error(ret, code, &err);
        struct json_writer *w = gw_begin_ok();
        if (w)
                command_json(w, d);
        protobuf_c_message_free_unpacked(&d->base, NULL);
        return gw_finish(w, 200, ret);
}

int gw_detach(struct gateway *g, const char *name, const struct gw_exec_req *q, const char *tenant,
              struct gw_resp *ret)
{
        Ak__V1__ExecDetachedRequest req = AK__V1__EXEC_DETACHED_REQUEST__INIT;
        req.sandbox = (char *)name;
        req.argv = (char **)q->argv;
        req.n_argv = q->argc;
        req.env = q->env;
        req.n_env = q->n_env;
        req.workdir = (char *)(q->workdir ? q->workdir : "");
        req.sudo = q->sudo;
        return one(g, tenant, "ExecDetached", &req.base, ret);
}

int gw_detached_list(struct gateway *g, const char *name, const char *tenant, struct gw_resp *ret)
{
        Ak__V1__ListDetachedRequest req = AK__V1__LIST_DETACHED_REQUEST__INIT;
        Ak__V1__ListDetachedResponse *l = NULL;
        struct ak_error err = { 0 };
        req.sandbox = (char *)name;
        int code = gw_call(g, tenant, "ListDetached", &req, (void **)&l, &err);
        if (code != RPC_OK)
                return gw_rpc_error(ret, code, &err);
        struct json_writer *w = gw_begin_ok();
        if (w) {
                json_writer_begin_array(w);
                for (size_t i = 0; i < l->n_commands; i++)
                        command_json(w, l->commands[i]);
                json_writer_end_array(w);
        }
        protobuf_c_message_free_unpacked(&l->base, NULL);
        return gw_finish(w, 200, ret);
}

int gw_detached_get(struct gateway *g, const struct gw_route *rt, const char *tenant, struct gw_resp *ret)
{
        Ak__V1__DetachedRef req = AK__V1__DETACHED_REF__INIT;
        req.sandbox = (char *)rt->name;
        req.id = (char *)rt->detached_id;
        return one(g, tenant, "GetDetached", &req.base, ret);
}

int gw_detached_kill(struct gateway *g, const struct gw_route *rt, const char *tenant, struct gw_resp *ret)
{
        Ak__V1__DetachedRef req = AK__V1__DETACHED_REF__INIT;
        Ak__V1__DetachedCommand *d = NULL;
        struct ak_error err = { 0 };
        req.sandbox = (char *)rt->name;
        req.id = (char *)rt->detached_id;
        int code = gw_call(g, tenant, "KillDetached", &req, (void **)&d, &err);
        if (code != RPC_OK)
                return gw_rpc_error(ret, code, &err);
        protobuf_c_message_free_unpacked(&d->base, NULL);
        struct json_writer *w = gw_begin_ok();
        if (w)
                json_writer_string(w, "Command killed", 14);
        return gw_finish(w, 200, ret);
}

int gw_detached_logs(struct gateway *g, const struct gw_route *rt, const char *tenant, struct gw_resp *ret)
{
        char *buf = NULL;
        size_t len = 0;
        struct ak_error err = { 0 };
        int code = RPC_OK;
        for (;;) {
                Ak__V1__DetachedLogsRequest req = AK__V1__DETACHED_LOGS_REQUEST__INIT;
                Ak__V1__DetachedLogsResponse *r = NULL;
                req.sandbox = (char *)rt->name;
                req.id = (char *)rt->detached_id;
                req.stderr = rt->detached_stderr;
                req.offset = len;
                req.max_bytes = GW_DETACHED_READ;
                if ((code = gw_call(g, tenant, "DetachedLogs", &req, (void **)&r, &err)) != RPC_OK)
                        break;
                size_t n = r->data.len;
                if (n > GW_DETACHED_LOG_MAX - len)
                        n = GW_DETACHED_LOG_MAX - len;
                char *nb = n ? realloc(buf, len + n) : buf;
                if (n && !nb) {
                        protobuf_c_message_free_unpacked(&r->base, NULL);
                        free(buf);
                        return gw_resp_error(ret, 500, "out of memory");
                }
                buf = nb;
                if (n)
                        memcpy(buf + len, r->data.data, n);
                len += n;
                protobuf_c_message_free_unpacked(&r->base, NULL);
                if (n == 0 || len >= GW_DETACHED_LOG_MAX)
                        break;
        }
        if (code != RPC_OK) {
                free(buf);
                return gw_rpc_error(ret, code, &err);
        }
        struct json_writer *w = gw_begin_ok();
        if (w) {
                json_writer_begin_object(w);
                gw_key(w, rt->detached_stderr ? "stderr" : "stdout");
                json_writer_string(w, buf ? buf : "", len);
                json_writer_end_object(w);
        }
        free(buf);
        return gw_finish(w, 200, ret);
}
