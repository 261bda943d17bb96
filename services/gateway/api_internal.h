/* Private to the gateway library: the handlers behind gateway_handle and
 * the helpers they share. Each handler fills *ret (a JSON envelope or an
 * SSE stream) and returns 0, or -ENOMEM when not even an error fits. */
#pragma once

#include "lib/base/error.h"
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/scheduler.pb-c.h"
#include "services/gateway/gateway.h"
#include "services/gateway/request.h"

struct json_writer;

struct gateway {
        struct gateway_config cfg;
};

struct json_writer *gw_begin_ok(void);
int gw_finish(struct json_writer *w, unsigned status, struct gw_resp *ret);
void gw_key(struct json_writer *w, const char *k);
void gw_str(struct json_writer *w, const char *k, const char *v);
int gw_rpc_error(struct gw_resp *ret, int code, const struct ak_error *err);
/* The header the scheduler reads the tenant a call acts for from
 * (services/scheduler/caller.h: CALLER_TENANT_METADATA). */
#define GW_TENANT_METADATA "x-ak-tenant"
/* A Scheduler call for `tenant`: x-ak-tenant makes the scheduler scope it
 * (another tenant's sandbox is NOT_FOUND, lists hold that tenant's only), so
 * no ownership check (gw_own) is needed before it: one round trip. */
int gw_call(struct gateway *g, const char *tenant, const char *method, const void *req, void **ret_resp,
            struct ak_error *err);
/* rpc_call_options for a streaming call for `tenant` (x-ak-tenant). */
struct rpc_call_options gw_options(const struct gateway *g, const char *tenant, int64_t timeout_ms);
/* A Scheduler call with the gateway's own credential, unscoped: prefer gw_call. */
int gw_unary(struct gateway *g, const char *method, const void *req, void **ret_resp, struct ak_error *err);
int gw_own(struct gateway *g, const char *name, const char *tenant, Ak__V1__Sandbox **ret_sb,
           struct gw_resp *resp);
void gw_sandbox_json(struct json_writer *w, const Ak__V1__Sandbox *sb);
/* Unix ms → "2026-02-05T15:00:00Z". */
void gw_rfc3339(int64_t ms, char *buf, size_t size);

/* sandboxes.c */
int gw_list(struct gateway *g, const char *tenant, const char *label, struct gw_resp *ret);
int gw_get(struct gateway *g, const char *name, const char *tenant, struct gw_resp *ret);
int gw_delete(struct gateway *g, const char *name, const char *tenant, struct gw_resp *ret);
int gw_start_stop(struct gateway *g, const char *name, const char *tenant, bool start, struct gw_resp *ret);
int gw_create(struct gateway *g, const struct gw_create_req *q, const char *tenant, struct gw_resp *ret);
int gw_status(struct gateway *g, const char *tenant, struct gw_resp *ret);
/* audit.c: GET /audit, GET /sandboxes/{name}/logs (from cfg.audit_file). */
int gw_audit(struct gateway *g, const char *tenant, struct gw_resp *ret);
int gw_sandbox_logs(struct gateway *g, const char *name, const char *tenant, struct gw_resp *ret);
/* GET /sandboxes/by-uuid/{uuid}: the tenant's sandbox with that Sandbox.uuid. */
int gw_by_uuid(struct gateway *g, const char *uuid, const char *tenant, struct gw_resp *ret);
/* POST /sandboxes/{name}/extend: {"expires_at": RFC 3339}. */
int gw_extend(struct gateway *g, const char *name, uint64_t by_seconds, const char *tenant, struct gw_resp *ret);
/* snapshots.c: /snapshots, /snapshots/{name}, /snapshots/{name}/restore. */
int gw_snap_list(struct gateway *g, const char *tenant, struct gw_resp *ret);
int gw_snap_get(struct gateway *g, const char *name, const char *tenant, struct gw_resp *ret);
int gw_snap_take(struct gateway *g, const struct gw_snapshot_req *q, const char *tenant, struct gw_resp *ret);
int gw_snap_delete(struct gateway *g, const char *name, const char *tenant, struct gw_resp *ret);
int gw_snap_restore(struct gateway *g, const char *name, const char *tenant, struct gw_resp *ret);
/* files.c */
int gw_file_get(struct gateway *g, const struct gw_route *rt, const char *tenant, struct gw_resp *ret);
int gw_file_put(struct gateway *g, const struct gw_route *rt, const struct gw_file_req *q, const char *tenant,
                struct gw_resp *ret);
int gw_file_delete(struct gateway *g, const struct gw_route *rt, const char *tenant, struct gw_resp *ret);
int gw_files_put(struct gateway *g, const char *name, const struct gw_files_req *q, const char *tenant,
                 struct gw_resp *ret);
/* run.c */
int gw_run(struct gateway *g, const struct gw_run_req *q, const char *tenant, struct gw_resp *ret);
int gw_run_stream(struct gateway *g, const struct gw_run_req *q, const char *tenant, struct gw_resp *ret);
int gw_exec(struct gateway *g, const char *name, const struct gw_exec_req *q, const char *tenant,
            struct gw_resp *ret);
struct rpc_stream;
int gw_open_run(struct gateway *g, const struct gw_run_req *q, const char *tenant, struct rpc_stream **ret,
                struct ak_error *err);
int gw_batch(struct gateway *g, const struct gw_batch_req *q, const char *tenant, struct gw_resp *ret);
/* detached.c */
int gw_detach(struct gateway *g, const char *name, const struct gw_exec_req *q, const char *tenant,
              struct gw_resp *ret);
int gw_detached_list(struct gateway *g, const char *name, const char *tenant, struct gw_resp *ret);
int gw_detached_get(struct gateway *g, const struct gw_route *rt, const char *tenant, struct gw_resp *ret);
int gw_detached_kill(struct gateway *g, const struct gw_route *rt, const char *tenant, struct gw_resp *ret);
int gw_detached_logs(struct gateway *g, const struct gw_route *rt, const char *tenant, struct gw_resp *ret);
