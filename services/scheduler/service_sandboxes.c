/* The client API: sandboxes are placed here and every call about one goes to
 * the executor that owns it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/time.h"
#include "lib/svc/phases.h"
#include "protos/ak/v1/scheduler.pb-c.h"
#include "services/scheduler/admission.h"
#include "services/scheduler/sched_metrics.h"
#include "services/scheduler/service_internal.h"
#include "services/scheduler/spec.h"

#define LIST_MAX_BYTES (RPC_DEFAULT_MAX_MESSAGE_BYTES - 1024)
#define LABEL_SELECTOR_MAX 32

/* Who calls, as a registry scope over c's tenant. */
static int scope_of(struct scheduler *s, struct rpc_call *call, struct caller *c, struct registry_scope *ret)
{
        int r = caller_identify(&s->cfg.callers, call, c);
        if (r != RPC_OK)
                return r;
        if (!c->client)
                return rpc_call_fail(call, RPC_PERMISSION_DENIED, "%s: not a client's credential",
                                     rpc_call_method(call));
        ret->tenant = c->tenant;
        ret->admin = c->admin;
        return RPC_OK;
}

/* Finds the executor of sandbox `name` or fails the call with words; another
 * tenant's sandbox is NOT_FOUND, as one that does not exist. */
static int route(struct scheduler *s, struct rpc_call *call, const char *field, const char *name,
                 struct registry_route *ret)
{
        struct ak_error err;
        struct caller c;
        struct registry_scope scope;
        int r = scope_of(s, call, &c, &scope);
        if (r != RPC_OK)
                return r;
        if (spec_check_name(field, name, &err) < 0)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "%s", err.msg);
        int64_t now = ak_mono_ms();
        r = registry_route(s->reg, name, &scope, now, ret, &err);
        if (r == -ENOENT && registry_rebuilding(s->reg, now))
                return rpc_call_fail(call, RPC_UNAVAILABLE,
                                     "no sandbox named %s is known yet: the scheduler started moments "
                                     "ago and is still learning sandboxes from executor heartbeats; "
                                     "retry shortly",
                                     name);
        if (r == -ENOENT)
                return rpc_call_fail(call, RPC_NOT_FOUND, "%s", err.msg);
        if (r < 0)
                return rpc_call_fail(call, RPC_UNAVAILABLE, "%s", err.msg);
        return RPC_OK;
}

/* Replies with a Sandbox, naming its executor when the executor did not. */
static void reply_sandbox(struct rpc_call *call, const Ak__V1__Sandbox *sb, const char *executor_id)
{
        Ak__V1__Sandbox copy = *sb;
        if (!copy.executor_id || !*copy.executor_id)
                copy.executor_id = (char *)executor_id;
        rpc_call_reply(call, &copy.base);
}

/* Run's stream: where the run waits, before any output. */
static void send_position(struct rpc_call *call, unsigned position, unsigned waiting)
{
        Ak__V1__QueuePosition q = AK__V1__QUEUE_POSITION__INIT;
        Ak__V1__OutputChunk c = AK__V1__OUTPUT_CHUNK__INIT;
        q.position = position;
        q.waiting = waiting;
        c.kind_case = AK__V1__OUTPUT_CHUNK__KIND_QUEUED;
        c.queued = &q;
        rpc_call_send(call, &c.base);
}

/* registry_place, waiting in the queue while nothing fits (-ENOSPC) and
 * something could: the head of the fair order tries, and those just behind
 * it during its grace (admission.h). Returns what the last try returned;
 * -ETIMEDOUT when the call's deadline passed or it was cancelled, -EAGAIN
 * when the queue is full (err says which). */
static int place_queued(struct scheduler *s, struct rpc_call *call, const Ak__V1__SandboxSpec *spec,
                        const struct spec_needs *needs, bool report, struct registry_claim *ret, struct ak_error *err)
{
        const struct registry_quota *quota = quota_for(&s->cfg.quotas, spec->tenant);
        int r = registry_place(s->reg, spec, needs, quota, ret, err);
        if (r != -ENOSPC || !s->adm)
                return r;
        if (!registry_could_fit(s->reg, spec, needs->vcpus, needs->memory_mb)) {
                sched_metrics_queue_rejected("never_fits");
                return r;
        }
        /* An unnamed create is named now, so that while it waits it is
         * listed (ListSandboxes, GetSandbox) under the name it keeps. */
        char gen[SPEC_NAME_MAX + 1];
        Ak__V1__SandboxSpec named;
        if (!spec->name || !*spec->name) {
                if ((r = spec_generate_name(gen, sizeof(gen))) < 0)
                        return ak_error_errno(err, r, "generate a sandbox name");
                named = *spec;
                named.name = gen;
                spec = &named;
        }
        struct admission_ticket *t = NULL;
        if ((r = admission_enter_named(s->adm, spec->tenant, spec->name, &t)) == -ENOMEM)
                return ak_error_errno(err, r, "queue");
        char why[AK_ERROR_MAX];   /* err->msg, never formatted into itself */
        if (r < 0) {
                sched_metrics_queue_rejected("full");
                snprintf(why, sizeof(why), "%s", err->msg);
                return ak_error_set(err, -EAGAIN, "%s; the queue of creates and runs waiting for capacity is "
                                    "full (%u): retry later", why, s->cfg.queue_max);
        }
        int64_t t0 = ak_mono_ms();
        unsigned last = 0, position = 0, waiting = 0;
        for (;;) {
                position = admission_position(s->adm, t, &waiting);
                if (report && position != last)
                        send_position(call, position, waiting);
                last = position;
                if (admission_may_try(s->adm, t, ak_mono_ms()) &&
                    (r = registry_place(s->reg, spec, needs, quota, ret, err)) != -ENOSPC)
                        break;
                if (rpc_call_cancelled(call)) {
                        sched_metrics_queue_rejected("deadline");
                        snprintf(why, sizeof(why), "%s", err->msg);
                        r = ak_error_set(err, -ETIMEDOUT, "waited %lld ms in the queue (position %u of %u) and "
                                         "no executor freed enough capacity before the deadline: %s",
                                         (long long)(ak_mono_ms() - t0), position, waiting, why);
                        break;
                }
                admission_wait(s->adm, 100);
        }
        admission_leave(s->adm, t);
        sched_metrics_queue_waited((double)(ak_mono_ms() - t0) / 1000.0);
        return r;
}

static int place(struct scheduler *s, struct rpc_call *call, const Ak__V1__SandboxSpec *spec, bool report,
                 struct registry_claim *ret)
{
        struct spec_needs needs;
        struct ak_error err;
        if (spec_check(spec, &needs, &err) < 0)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "%s", err.msg);
        int r = place_queued(s, call, spec, &needs, report, ret, &err);
        switch (r) {
        case -ETIMEDOUT:
                return rpc_call_fail(call, RPC_DEADLINE_EXCEEDED, "%s", err.msg);
        case -EAGAIN:
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "%s", err.msg);
        case 0:
                return RPC_OK;
        case -EEXIST:
                return rpc_call_fail(call, RPC_ALREADY_EXISTS, "%s", err.msg);
        case -EDQUOT:
        case -ENOSPC:
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "%s", err.msg);
        case -EINVAL:
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "%s", err.msg);
        case -ENOENT:
                return rpc_call_fail(call, RPC_FAILED_PRECONDITION, "%s", err.msg);
        default:
                return rpc_call_fail(call, RPC_INTERNAL, "%s", err.msg);
        }
}

/* A placed create or run: the claim, the spec to forward (the request's,
 * named by the claim, for the caller's tenant) and where to forward it. */
struct placed {
        struct registry_claim claim;
        Ak__V1__SandboxSpec spec;
        char tenant[SPEC_TENANT_MAX + 1];
        struct registry_route rt;
};

/* The tenant a create is for: the caller's; an admin may name another. */
static int create_tenant(struct scheduler *s, struct rpc_call *call, const Ak__V1__SandboxSpec *spec,
                         char *ret)
{
        struct caller c;
        struct registry_scope scope;
        int r = scope_of(s, call, &c, &scope);
        if (r != RPC_OK)
                return r;
        const char *asked = spec && spec->tenant && *spec->tenant ? spec->tenant : NULL;
        if (asked && c.admin) {
                struct ak_error err;
                if (spec_check_tenant(asked, &err) < 0)
                        return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "%s", err.msg);
                snprintf(ret, SPEC_TENANT_MAX + 1, "%s", asked);
        } else {
                /* A client's own value never names another tenant. */
                snprintf(ret, SPEC_TENANT_MAX + 1, "%s", c.tenant);
        }
        return RPC_OK;
}

static int place_named(struct scheduler *s, struct rpc_call *call, const Ak__V1__SandboxSpec *spec, bool report,
                       struct placed *ret)
{
        int r = create_tenant(s, call, spec, ret->tenant);
        if (r != RPC_OK)
                return r;
        ret->spec = (Ak__V1__SandboxSpec)AK__V1__SANDBOX_SPEC__INIT;
        if (spec)
                ret->spec = *spec;
        ret->spec.tenant = ret->tenant;
        r = place(s, call, &ret->spec, report, &ret->claim);
        if (r != RPC_OK)
                return r;
        ret->spec.name = ret->claim.name;
        memcpy(ret->rt.executor_id, ret->claim.executor_id, sizeof(ret->rt.executor_id));
        memcpy(ret->rt.address, ret->claim.address, sizeof(ret->rt.address));
        return RPC_OK;
}

int sched_create_sandbox(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        struct scheduler *s = data;
        const Ak__V1__CreateSandboxRequest *req = (const Ak__V1__CreateSandboxRequest *)msg;
        struct placed p;
        int r = place_named(s, call, req->spec, false, &p);
        if (r != RPC_OK)
                return r;
        Ak__V1__CreateSandboxRequest fwd = *req;
        fwd.spec = &p.spec;
        ProtobufCMessage *resp;
        r = forward_unary(s->fwd, call, &p.rt, "CreateSandbox", &fwd.base, &resp);
        if (r != RPC_OK) {
                registry_release(s->reg, &p.claim);
                if (s->adm)
                        admission_kick(s->adm);
                return r;
        }
        Ak__V1__Sandbox *sb = (Ak__V1__Sandbox *)resp;
        if (sb->spec && (!sb->spec->tenant || !*sb->spec->tenant)) {
                /* An executor older than spec.tenant: the tenant is still ours
                 * to say. The empty string is protobuf-c's static default
                 * (not ours to free); free_unpacked frees the copy. */
                char *t = strdup(p.tenant);
                if (t)
                        sb->spec->tenant = t;
        }
        registry_confirm(s->reg, &p.claim, sb);
        reply_sandbox(call, sb, p.claim.executor_id);
        protobuf_c_message_free_unpacked(resp, NULL);
        return RPC_OK;
}

/* Start/Stop/Get: forward, remember the fresher Sandbox, reply. */
static int sandbox_call(struct rpc_call *call, void *data, const char *method, const char *name,
                        const ProtobufCMessage *req)
{
        struct scheduler *s = data;
        struct registry_route rt;
        int r = route(s, call, "name", name, &rt);
        if (r != RPC_OK)
                return r;
        ProtobufCMessage *resp;
        r = forward_unary(s->fwd, call, &rt, method, req, &resp);
        if (r == RPC_NOT_FOUND)
                registry_sandbox_gone(s->reg, rt.executor_id, name);
        if (r != RPC_OK)
                return r;
        /* A create still waiting on its image pull (image_pull set) is not a
         * sandbox yet: the create's own reply says what it becomes, and a
         * stale CREATING remembered after it would hide that. */
        if (!((const Ak__V1__Sandbox *)resp)->image_pull)
                registry_sandbox_seen(s->reg, rt.executor_id, (const Ak__V1__Sandbox *)resp);
        reply_sandbox(call, (const Ak__V1__Sandbox *)resp, rt.executor_id);
        protobuf_c_message_free_unpacked(resp, NULL);
        return RPC_OK;
}

int sched_start_sandbox(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        return sandbox_call(call, data, "StartSandbox", ((const Ak__V1__StartSandboxRequest *)msg)->name,
                            msg);
}

int sched_stop_sandbox(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        return sandbox_call(call, data, "StopSandbox", ((const Ak__V1__StopSandboxRequest *)msg)->name,
                            msg);
}

int sched_extend_sandbox(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        return sandbox_call(call, data, "ExtendSandbox", ((const Ak__V1__ExtendSandboxRequest *)msg)->name,
                            msg);
}

int sched_get_sandbox(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        struct scheduler *s = data;
        const char *name = ((const Ak__V1__GetSandboxRequest *)msg)->name;
        struct caller c;
        struct registry_scope scope;
        int r = scope_of(s, call, &c, &scope);
        if (r != RPC_OK)
                return r;
        /* A create still in the queue is no sandbox anywhere yet. */
        if (sched_queued_get(s, call, &scope, name) == RPC_OK)
                return RPC_OK;
        return sandbox_call(call, data, "GetSandbox", name, msg);
}

/* Calls whose reply only needs passing back. */
static int plain_call(struct rpc_call *call, void *data, const char *method, const char *field,
                      const char *name, const ProtobufCMessage *req)
{
        struct scheduler *s = data;
        struct registry_route rt;
        int r = route(s, call, field, name, &rt);
        if (r != RPC_OK)
                return r;
        ProtobufCMessage *resp;
        r = forward_unary(s->fwd, call, &rt, method, req, &resp);
        if (r != RPC_OK)
                return r;
        rpc_call_reply(call, resp);
        protobuf_c_message_free_unpacked(resp, NULL);
        return RPC_OK;
}

int sched_remove_sandbox(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        struct scheduler *s = data;
        const char *name = ((const Ak__V1__RemoveSandboxRequest *)msg)->name;
        struct registry_route rt;
        struct caller c;
        struct registry_scope scope;
        int r = scope_of(s, call, &c, &scope);
        if (r != RPC_OK)
                return r;
        if (name && registry_forget_orphan(s->reg, name, &scope) == 0) {
                /* Lost with its executor: nothing is left to remove there. */
                Ak__V1__RemoveSandboxResponse resp = AK__V1__REMOVE_SANDBOX_RESPONSE__INIT;
                rpc_call_reply(call, &resp.base);
                return RPC_OK;
        }
        r = route(s, call, "name", name, &rt);
        if (r != RPC_OK)
                return r;
        ProtobufCMessage *resp;
        r = forward_unary(s->fwd, call, &rt, "RemoveSandbox", msg, &resp);
        if (r == RPC_OK || r == RPC_NOT_FOUND)
                registry_sandbox_gone(s->reg, rt.executor_id, name);
        if (r != RPC_OK)
                return r;
        rpc_call_reply(call, resp);
        protobuf_c_message_free_unpacked(resp, NULL);
        return RPC_OK;
}

int sched_list_sandboxes(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        struct scheduler *s = data;
        const Ak__V1__ListSandboxesRequest *req = (const Ak__V1__ListSandboxesRequest *)msg;
        if (req->n_label_selector > LABEL_SELECTOR_MAX)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "label_selector: %zu entries, the limit is %d",
                                     req->n_label_selector, LABEL_SELECTOR_MAX);
        struct caller c;
        struct registry_scope scope;
        int r = scope_of(s, call, &c, &scope);
        if (r != RPC_OK)
                return r;
        Ak__V1__ListSandboxesResponse *resp;
        r = registry_list_sandboxes(s->reg, req, &scope, ak_mono_ms(), LIST_MAX_BYTES, &resp);
        if (r == -E2BIG)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED,
                                     "the sandbox list is larger than one message (%u bytes): narrow it "
                                     "with label_selector",
                                     RPC_DEFAULT_MAX_MESSAGE_BYTES);
        if (r < 0)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "ListSandboxes: out of memory");
        r = sched_queued_reply_list(s, call, &scope, req, resp);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        if (r < 0)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED,
                                     "ListSandboxes: %s", r == -E2BIG ? "the list with the queued creates is "
                                     "larger than one message: narrow it with label_selector" : "out of memory");
        return RPC_OK;
}

/* What a forwarded Exec or Run stream brought: phases "first" (until the
 * executor's first message), "output" (from there to the result), then
 * the caller marks "close" (the executor's end of the stream after it). */
struct run_seen {
        bool result, first;
        struct svc_phases *ph;
};

static void run_observe(void *data, const ProtobufCMessage *msg)
{
        const Ak__V1__OutputChunk *chunk = (const Ak__V1__OutputChunk *)msg;
        struct run_seen *seen = data;
        if (!seen->first) {
                seen->first = true;
                svc_phases_mark(seen->ph, "first");
        }
        if (chunk->kind_case == AK__V1__OUTPUT_CHUNK__KIND_RESULT) {
                seen->result = true;
                svc_phases_mark(seen->ph, "output");
        }
}

int sched_exec(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        struct scheduler *s = data;
        struct registry_route rt;
        struct svc_phases ph;
        svc_phases_start(&ph, "exec");
        int r = route(s, call, "sandbox", ((const Ak__V1__ExecRequest *)msg)->sandbox, &rt);
        if (r != RPC_OK)
                return r;
        svc_phases_mark(&ph, "route");
        struct run_seen seen = { .ph = &ph };
        r = forward_stream(s->fwd, call, &rt, "Exec", msg, run_observe, &seen);
        svc_phases_mark(&ph, "close");
        sched_metrics_phases(&ph);
        return r;
}

int sched_run(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        struct scheduler *s = data;
        const Ak__V1__RunRequest *req = (const Ak__V1__RunRequest *)msg;
        struct placed p;
        struct svc_phases ph;
        svc_phases_start(&ph, "run");
        int r = place_named(s, call, req->spec, true, &p);
        if (r != RPC_OK)
                return r;
        svc_phases_mark(&ph, "place");
        Ak__V1__RunRequest fwd = *req;
        fwd.spec = &p.spec;
        struct run_seen seen = { .ph = &ph };
        r = forward_stream(s->fwd, call, &p.rt, "Run", &fwd.base, run_observe, &seen);
        svc_phases_mark(&ph, "close");
        if (r == RPC_OK && req->keep && seen.result) {
                /* Kept: it exists until removed; heartbeats will say more. */
                Ak__V1__Sandbox sb = AK__V1__SANDBOX__INIT;
                sb.spec = &p.spec;
                sb.state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING;
                sb.executor_id = p.claim.executor_id;
                registry_confirm(s->reg, &p.claim, &sb);
        } else {
                registry_release(s->reg, &p.claim);
        }
        if (s->adm)
                admission_kick(s->adm); /* its capacity is free for the queue */
        svc_phases_mark(&ph, "release");
        sched_metrics_phases(&ph);
        return r;
}

int sched_write_file(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        return plain_call(call, data, "WriteFile", "sandbox", ((const Ak__V1__WriteFileRequest *)msg)->sandbox,
                          msg);
}

int sched_read_file(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        return plain_call(call, data, "ReadFile", "sandbox", ((const Ak__V1__ReadFileRequest *)msg)->sandbox,
                          msg);
}

int sched_mkdir(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        return plain_call(call, data, "Mkdir", "sandbox", ((const Ak__V1__MkdirRequest *)msg)->sandbox, msg);
}

int sched_remove_file(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        return plain_call(call, data, "RemoveFile", "sandbox",
                          ((const Ak__V1__RemoveFileRequest *)msg)->sandbox, msg);
}

int sched_open_shell(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        struct scheduler *s = data;
        struct registry_route rt;
        int r = route(s, call, "sandbox", ((const Ak__V1__OpenShellRequest *)msg)->sandbox, &rt);
        if (r != RPC_OK)
                return r;
        return forward_stream(s->fwd, call, &rt, "OpenShell", msg, NULL, NULL);
}

int sched_shell_input(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        return plain_call(call, data, "ShellInput", "sandbox",
                          ((const Ak__V1__ShellInputRequest *)msg)->sandbox, msg);
}

int sched_write_stdin(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        return plain_call(call, data, "WriteStdin", "sandbox",
                          ((const Ak__V1__WriteStdinRequest *)msg)->sandbox, msg);
}

int sched_shell_resize(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        return plain_call(call, data, "ShellResize", "sandbox",
                          ((const Ak__V1__ShellResizeRequest *)msg)->sandbox, msg);
}

int sched_shell_close(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        return plain_call(call, data, "ShellClose", "sandbox",
                          ((const Ak__V1__ShellCloseRequest *)msg)->sandbox, msg);
}

/* Disk snapshots. Take goes to the executor of the sandbox (route: another
 * tenant's sandbox is NOT_FOUND); the snapshot records that sandbox's
 * tenant. List and Delete go to every executor that is not lost, with the
 * caller's tenant (an admin's: none, so every tenant's), as snapshots live
 * in the image store of the node they were taken on; Delete removes the
 * name wherever the caller sees it. */
int sched_take_snapshot(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        struct scheduler *s = data;
        Ak__V1__TakeSnapshotRequest fwd = *(const Ak__V1__TakeSnapshotRequest *)msg;
        struct caller c;
        struct registry_scope scope;
        struct registry_route rt;
        int r = scope_of(s, call, &c, &scope);
        if (r != RPC_OK || (r = route(s, call, "sandbox", fwd.sandbox, &rt)) != RPC_OK)
                return r;
        fwd.tenant = c.admin ? (char *)"" : c.tenant;
        ProtobufCMessage *resp;
        if ((r = forward_unary(s->fwd, call, &rt, "TakeSnapshot", &fwd.base, &resp)) != RPC_OK)
                return r;
        /* Restorable at once, not after the executor's next heartbeat. */
        const Ak__V1__Snapshot *snap = (const Ak__V1__Snapshot *)resp;
        if (snap->name && *snap->name)
                registry_image_added(s->reg, rt.executor_id, snap->name);
        rpc_call_reply(call, resp);
        protobuf_c_message_free_unpacked(resp, NULL);
        return RPC_OK;
}

/* The executors to ask (not lost), as routes; free with free(). */
static int live_routes(struct scheduler *s, struct rpc_call *call, struct registry_route **ret, size_t *ret_n)
{
        Ak__V1__ListExecutorsResponse *l;
        if (registry_list_executors(s->reg, LIST_MAX_BYTES, &l) < 0)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "%s: listing executors failed",
                                     rpc_call_method(call));
        struct registry_route *v = calloc(l->n_executors ? l->n_executors : 1, sizeof(*v));
        size_t n = 0;
        for (size_t i = 0; v && i < l->n_executors; i++) {
                const Ak__V1__ExecutorRecord *e = l->executors[i];
                if (e->lost || !e->status || !e->status->executor_id || !e->status->address)
                        continue;
                snprintf(v[n].executor_id, sizeof(v[n].executor_id), "%s", e->status->executor_id);
                snprintf(v[n].address, sizeof(v[n].address), "%s", e->status->address);
                n++;
        }
        protobuf_c_message_free_unpacked(&l->base, NULL);
        if (!v)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        *ret = v;
        *ret_n = n;
        return RPC_OK;
}

int sched_list_snapshots(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        struct scheduler *s = data;
        struct caller c;
        struct registry_scope scope;
        struct registry_route *rts = NULL;
        size_t n = 0, total = 0;
        int r = scope_of(s, call, &c, &scope);
        if (r != RPC_OK || (r = live_routes(s, call, &rts, &n)) != RPC_OK)
                return r;
        Ak__V1__ListSnapshotsRequest req = AK__V1__LIST_SNAPSHOTS_REQUEST__INIT;
        req.tenant = c.admin ? (char *)"" : c.tenant;
        ProtobufCMessage **got = calloc(n ? n : 1, sizeof(*got));
        for (size_t i = 0; got && i < n; i++)
                if (forward_unary(s->fwd, call, &rts[i], "ListSnapshots", &req.base, &got[i]) == RPC_OK)
                        total += ((Ak__V1__ListSnapshotsResponse *)got[i])->n_snapshots;
                else
                        got[i] = NULL; /* that node's are left out; the others still answer */
        Ak__V1__Snapshot **all = calloc(total ? total : 1, sizeof(*all));
        Ak__V1__ListSnapshotsResponse resp = AK__V1__LIST_SNAPSHOTS_RESPONSE__INIT;
        for (size_t i = 0; all && got && i < n; i++)
                for (size_t j = 0; got[i] && j < ((Ak__V1__ListSnapshotsResponse *)got[i])->n_snapshots; j++)
                        all[resp.n_snapshots++] = ((Ak__V1__ListSnapshotsResponse *)got[i])->snapshots[j];
        resp.snapshots = all;
        if (got && all)
                rpc_call_reply(call, &resp.base);
        for (size_t i = 0; got && i < n; i++)
                if (got[i])
                        protobuf_c_message_free_unpacked(got[i], NULL);
        r = got && all ? RPC_OK : rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "ListSnapshots: out of memory");
        free(got), free(all), free(rts);
        return r;
}

int sched_delete_snapshot(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        struct scheduler *s = data;
        Ak__V1__DeleteSnapshotRequest fwd = *(const Ak__V1__DeleteSnapshotRequest *)msg;
        struct caller c;
        struct registry_scope scope;
        struct registry_route *rts = NULL;
        size_t n = 0, deleted = 0;
        int other = RPC_OK; /* a failure other than NOT_FOUND, its words in call */
        int r = scope_of(s, call, &c, &scope);
        if (r != RPC_OK || (r = live_routes(s, call, &rts, &n)) != RPC_OK)
                return r;
        fwd.tenant = c.admin ? (char *)"" : c.tenant;
        for (size_t i = 0; i < n; i++) {
                ProtobufCMessage *resp;
                if ((r = forward_unary(s->fwd, call, &rts[i], "DeleteSnapshot", &fwd.base, &resp)) == RPC_OK) {
                        protobuf_c_message_free_unpacked(resp, NULL);
                        deleted++;
                } else if (r != RPC_NOT_FOUND) {
                        other = r;
                }
        }
        free(rts);
        if (!deleted && other != RPC_OK)
                return other;
        if (!deleted)
                return rpc_call_fail(call, RPC_NOT_FOUND, "no snapshot named %.80s on any executor (`ak snapshot "
                                     "list` shows them)", fwd.name ? fwd.name : "");
        Ak__V1__DeleteSnapshotResponse resp = AK__V1__DELETE_SNAPSHOT_RESPONSE__INIT;
        rpc_call_reply(call, &resp.base);
        return RPC_OK;
}

int sched_exec_detached(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        return plain_call(call, data, "ExecDetached", "sandbox",
                          ((const Ak__V1__ExecDetachedRequest *)msg)->sandbox, msg);
}

int sched_get_detached(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        return plain_call(call, data, "GetDetached", "sandbox", ((const Ak__V1__DetachedRef *)msg)->sandbox, msg);
}

int sched_list_detached(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        return plain_call(call, data, "ListDetached", "sandbox",
                          ((const Ak__V1__ListDetachedRequest *)msg)->sandbox, msg);
}

int sched_detached_logs(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        return plain_call(call, data, "DetachedLogs", "sandbox",
                          ((const Ak__V1__DetachedLogsRequest *)msg)->sandbox, msg);
}

int sched_kill_detached(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        return plain_call(call, data, "KillDetached", "sandbox", ((const Ak__V1__DetachedRef *)msg)->sandbox, msg);
}
