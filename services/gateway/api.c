/* The routes' work: Scheduler calls, and agentkernel's JSON shapes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/encoding/base64.h"
#include "lib/json/writer.h"
#include "lib/rpc/rpc.h"
#include "lib/svc/tokens.h"
#include "protos/ak/v1/scheduler.pb-c.h"
#include "services/gateway/api_internal.h"
#include "services/gateway/gateway.h"

int gateway_new(const struct gateway_config *cfg, struct gateway **ret)
{
        struct gateway *g = calloc(1, sizeof(*g));

        if (!g)
                return -ENOMEM;
        g->cfg = *cfg;
        if (!g->cfg.call_timeout_ms)
                g->cfg.call_timeout_ms = 60000;
        *ret = g;
        return 0;
}

void gateway_free(struct gateway *g)
{
        free(g);
}

int gw_resp_error(struct gw_resp *ret, unsigned status, const char *msg)
{
        struct json_writer *w;

        memset(ret, 0, sizeof(*ret));
        ret->status = status;
        if (json_writer_new(JSON_WRITER_LOSSY, 0, &w) < 0)
                return -ENOMEM;
        json_writer_begin_object(w);
        json_writer_key(w, "success", 7);
        json_writer_bool(w, false);
        json_writer_key(w, "error", 5);
        json_writer_string(w, msg, strlen(msg));
        json_writer_end_object(w);
        int r = json_writer_finish(w, &ret->body, &ret->len);
        json_writer_free(w);
        return r;
}

struct json_writer *gw_begin_ok(void)
{
        struct json_writer *w;

        if (json_writer_new(JSON_WRITER_LOSSY, 0, &w) < 0)
                return NULL;
        json_writer_begin_object(w);
        json_writer_key(w, "success", 7);
        json_writer_bool(w, true);
        json_writer_key(w, "data", 4);
        return w;
}

int gw_finish(struct json_writer *w, unsigned status, struct gw_resp *ret)
{
        int r;

        memset(ret, 0, sizeof(*ret));
        if (!w)
                return gw_resp_error(ret, 500, "out of memory");
        json_writer_end_object(w);
        r = json_writer_finish(w, &ret->body, &ret->len);
        json_writer_free(w);
        if (r < 0)
                return gw_resp_error(ret, 500, "could not build the response");
        ret->status = status;
        return 0;
}

void gw_key(struct json_writer *w, const char *k)
{
        json_writer_key(w, k, strlen(k));
}

void gw_str(struct json_writer *w, const char *k, const char *v)
{
        gw_key(w, k);
        json_writer_string(w, v, strlen(v));
}

/* A failed Scheduler call → agentkernel's status codes. */
int gw_rpc_error(struct gw_resp *ret, int code, const struct ak_error *err)
{
        unsigned status;

        switch (code) {
        case RPC_NOT_FOUND: status = 404; break;
        case RPC_INVALID_ARGUMENT:
        case RPC_OUT_OF_RANGE: status = 400; break;
        case RPC_ALREADY_EXISTS:
        case RPC_FAILED_PRECONDITION: status = 409; break;
        case RPC_RESOURCE_EXHAUSTED:
        case RPC_UNAVAILABLE: status = 503; break;
        case RPC_DEADLINE_EXCEEDED: status = 504; break;
        case RPC_UNAUTHENTICATED:
        case RPC_PERMISSION_DENIED: status = 502; break;  /* the gateway's own credential */
        default: status = 500; break;
        }
        return gw_resp_error(ret, status, err->msg);
}

int gw_unary(struct gateway *g, const char *method, const void *req, void **ret_resp, struct ak_error *err)
{
        struct rpc_call_options o = { .timeout_ms = g->cfg.call_timeout_ms };
        return rpc_unary(g->cfg.scheduler, &ak__v1__scheduler__descriptor, method, req, &o,
                         (ProtobufCMessage **)ret_resp, err);
}

struct rpc_call_options gw_options(const struct gateway *g, const char *tenant, int64_t timeout_ms)
{
        (void)g;
        return (struct rpc_call_options){ .timeout_ms = timeout_ms,
                                          .metadata_key = GW_TENANT_METADATA,
                                          .metadata_value = tenant };
}

int gw_call(struct gateway *g, const char *tenant, const char *method, const void *req, void **ret_resp,
            struct ak_error *err)
{
        struct rpc_call_options o = gw_options(g, tenant, g->cfg.call_timeout_ms);
        return rpc_unary(g->cfg.scheduler, &ak__v1__scheduler__descriptor, method, req, &o,
                         (ProtobufCMessage **)ret_resp, err);
}

static const char *tenant_of(const Ak__V1__Sandbox *sb)
{
        return sb->spec && sb->spec->tenant && *sb->spec->tenant ? sb->spec->tenant : TOKEN_DEFAULT_TENANT;
}

/* GetSandbox scoped to `tenant` (another tenant's is the scheduler's
 * NOT_FOUND: 404), and checked here too. 0 with *ret_sb (free it), or -1
 * with *resp filled. */
int gw_own(struct gateway *g, const char *name, const char *tenant, Ak__V1__Sandbox **ret_sb, struct gw_resp *resp)
{
        Ak__V1__GetSandboxRequest req = AK__V1__GET_SANDBOX_REQUEST__INIT;
        Ak__V1__Sandbox *sb = NULL;
        struct ak_error err = { 0 };
        int code;

        req.name = (char *)name;
        code = gw_call(g, tenant, "GetSandbox", &req, (void **)&sb, &err);
        if (code != RPC_OK) {
                gw_rpc_error(resp, code, &err);
                return -1;
        }
        if (strcmp(tenant_of(sb), tenant)) {
                protobuf_c_message_free_unpacked(&sb->base, NULL);
                char msg[128];
                snprintf(msg, sizeof(msg), "sandbox '%s' not found", name);
                gw_resp_error(resp, 404, msg);
                return -1;
        }
        if (ret_sb)
                *ret_sb = sb;
        else
                protobuf_c_message_free_unpacked(&sb->base, NULL);
        return 0;
}

void gw_rfc3339(int64_t ms, char *buf, size_t size)
{
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ak's image_pull object (while a create waits on the executor's pull of
 * its image; absent otherwise): {image, state, bytes_done, bytes_total,
 * error?}, state "pulling", "importing" or "failed". */
static void pull_json(struct json_writer *w, const Ak__V1__ImagePull *p)
{
        gw_key(w, "image_pull");
        json_writer_begin_object(w);
        gw_str(w, "image", p->image ? p->image : "");
        gw_str(w, "state", p->state ? p->state : "");
        gw_key(w, "bytes_done");
        json_writer_u64(w, p->bytes_done);
        gw_key(w, "bytes_total");
        json_writer_u64(w, p->bytes_total);
        if (p->error && *p->error)
                gw_str(w, "error", p->error);
        json_writer_end_object(w);
}

/* agentkernel's SandboxInfo, plus ak's labels, expires_at and image_pull. */
void gw_sandbox_json(struct json_writer *w, const Ak__V1__Sandbox *sb)
{
        static const char *const states[] = { "unknown", "creating", "running", "stopped", "error" };
        const Ak__V1__SandboxSpec *sp = sb->spec;
        char when[40];

        json_writer_begin_object(w);
        gw_str(w, "name", sp && sp->name ? sp->name : "");
        if (sb->uuid && *sb->uuid)
                gw_str(w, "uuid", sb->uuid);
        gw_str(w, "status", sb->state < 5 ? states[sb->state] : "unknown");
        gw_str(w, "backend", sb->backend && *sb->backend ? sb->backend : "qemu-microvm");
        if (sp) {
                gw_str(w, "image", sp->image && *sp->image ? sp->image : "base");
                gw_key(w, "vcpus");
                json_writer_u64(w, sp->vcpus);
                gw_key(w, "memory_mb");
                json_writer_u64(w, sp->memory_mb);
                gw_str(w, "profile", sp->profile ? sp->profile : "");
                gw_key(w, "labels");
                json_writer_begin_object(w);
                for (size_t i = 0; i < sp->n_labels; i++)
                        gw_str(w, sp->labels[i]->key, sp->labels[i]->value);
                json_writer_end_object(w);
        }
        if (sb->created_at_ms) {
                gw_rfc3339(sb->created_at_ms, when, sizeof(when));
                gw_str(w, "created_at", when);
        }
        if (sb->expires_at_ms) {
                gw_rfc3339(sb->expires_at_ms, when, sizeof(when));
                gw_str(w, "expires_at", when);
        }
        if (sb->error && *sb->error)
                gw_str(w, "error", sb->error);
        if (sb->image_pull)
                pull_json(w, sb->image_pull);
        json_writer_end_object(w);
}

int gateway_handle(struct gateway *g, const struct gw_route *rt, const char *tenant, const char *body,
                   size_t len, const char *label, struct gw_resp *ret)
{
        struct gw_req q;
        struct ak_error err = { 0 };
        int r;

        memset(ret, 0, sizeof(*ret));
        memset(&q, 0, sizeof(q));
        switch (rt->id) {
        case GW_HEALTH: {
                struct json_writer *w = gw_begin_ok();
                if (w)
                        json_writer_string(w, "ok", 2);
                return gw_finish(w, 200, ret);
        }
        case GW_RUN:
        case GW_RUN_STREAM:
        case GW_EXEC:
        case GW_EXEC_DETACH:
        case GW_CREATE:
        case GW_FILE_PUT:
        case GW_FILES_BATCH:
        case GW_BATCH_RUN:
        case GW_EXTEND:
        case GW_SNAP_TAKE:
                break;
        case GW_SNAP_LIST: return gw_snap_list(g, tenant, ret);
        case GW_SNAP_GET: return gw_snap_get(g, rt->name, tenant, ret);
        case GW_SNAP_DELETE: return gw_snap_delete(g, rt->name, tenant, ret);
        case GW_SNAP_RESTORE: return gw_snap_restore(g, rt->name, tenant, ret);
        case GW_LIST: return gw_list(g, tenant, label, ret);
        case GW_GET: return gw_get(g, rt->name, tenant, ret);
        case GW_DELETE: return gw_delete(g, rt->name, tenant, ret);
        case GW_START: return gw_start_stop(g, rt->name, tenant, true, ret);
        case GW_STOP: return gw_start_stop(g, rt->name, tenant, false, ret);
        case GW_FILE_GET: return gw_file_get(g, rt, tenant, ret);
        case GW_FILE_DELETE: return gw_file_delete(g, rt, tenant, ret);
        case GW_STATUS: return gw_status(g, tenant, ret);
        case GW_BY_UUID: return gw_by_uuid(g, rt->name, tenant, ret);
        case GW_LOGS: return gw_sandbox_logs(g, rt->name, tenant, ret);
        case GW_AUDIT: return gw_audit(g, tenant, ret);
        case GW_DETACHED_LIST: return gw_detached_list(g, rt->name, tenant, ret);
        case GW_DETACHED_GET: return gw_detached_get(g, rt, tenant, ret);
        case GW_DETACHED_KILL: return gw_detached_kill(g, rt, tenant, ret);
        case GW_DETACHED_LOGS: return gw_detached_logs(g, rt, tenant, ret);
        }
        switch (rt->id) {
        case GW_RUN:
        case GW_RUN_STREAM: r = gw_run_decode(body, len, &q, &err); break;
        case GW_EXEC:
        case GW_EXEC_DETACH: r = gw_exec_decode(body, len, &q, &err); break;
        case GW_CREATE: r = gw_create_decode(body, len, &q, &err); break;
        case GW_FILE_PUT: r = gw_file_decode(body, len, &q, &err); break;
        case GW_FILES_BATCH: r = gw_files_decode(body, len, &q, &err); break;
        case GW_BATCH_RUN: r = gw_batch_decode(body, len, &q, &err); break;
        case GW_SNAP_TAKE: r = gw_snapshot_decode(body, len, &q, &err); break;
        default: r = gw_extend_decode(body, len, &q, &err); break;
        }
        if (r < 0)
                return gw_resp_error(ret, r == -ENOMEM ? 500 : 400, err.msg);
        switch (rt->id) {
        case GW_RUN: r = gw_run(g, &q.run, tenant, ret); break;
        case GW_RUN_STREAM: r = gw_run_stream(g, &q.run, tenant, ret); break;
        case GW_EXEC: r = gw_exec(g, rt->name, &q.exec, tenant, ret); break;
        case GW_EXEC_DETACH: r = gw_detach(g, rt->name, &q.exec, tenant, ret); break;
        case GW_CREATE: r = gw_create(g, &q.create, tenant, ret); break;
        case GW_FILE_PUT: r = gw_file_put(g, rt, &q.file, tenant, ret); break;
        case GW_FILES_BATCH: r = gw_files_put(g, rt->name, &q.files, tenant, ret); break;
        case GW_BATCH_RUN: r = gw_batch(g, &q.batch, tenant, ret); break;
        case GW_SNAP_TAKE: r = gw_snap_take(g, &q.snapshot, tenant, ret); break;
        default: r = gw_extend(g, rt->name, q.extend_seconds, tenant, ret); break;
        }
        gw_req_free(rt->id, &q);
        return r;
}
