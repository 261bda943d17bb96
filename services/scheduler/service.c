/* Wiring, authentication, the executor-facing methods and the reaper. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/base/time.h"
#include "lib/svc/log.h"
#include "protos/ak/v1/scheduler.pb-c.h"
#include "services/scheduler/pbcopy.h"
#include "services/scheduler/admission.h"
#include "services/scheduler/sched_metrics.h"
#include "services/scheduler/service_internal.h"
#include "services/scheduler/spec.h"

int scheduler_authorize(struct rpc_call *call, void *data)
{
        struct scheduler *s = data;
        return caller_authorize(&s->cfg.callers, call);
}

static int status_code_of(int r)
{
        switch (r) {
        case -EINVAL:
                return RPC_INVALID_ARGUMENT;
        case -ENOENT:
                return RPC_NOT_FOUND;
        case -EPERM:
                return RPC_PERMISSION_DENIED;
        case -EUSERS:
        case -ENOMEM:
                return RPC_RESOURCE_EXHAUSTED;
        default:
                return RPC_INTERNAL;
        }
}

/* Register and Heartbeat share this: check, copy, hand to the registry. */
static int take_status(struct scheduler *s, struct rpc_call *call, const Ak__V1__ExecutorStatus *st,
                       bool registering)
{
        struct ak_error err;
        struct caller who;
        int r = caller_identify(&s->cfg.callers, call, &who);
        if (r != RPC_OK)
                return r;
        if (!who.executor)
                return rpc_call_fail(call, RPC_PERMISSION_DENIED, "%s: not an executor's credential",
                                     rpc_call_method(call));
        if (spec_check_status(st, &err) < 0)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "%s", err.msg);
        Ak__V1__ExecutorStatus *copy = (Ak__V1__ExecutorStatus *)pbcopy(&st->base);
        if (!copy)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "executor %s: out of memory",
                                     st->executor_id);
        int64_t now = ak_mono_ms();
        r = registering ? registry_register(s->reg, copy, who.identity, now, &err)
                        : registry_heartbeat(s->reg, copy, who.identity, now, &err);
        if (r == -EPERM)
                SVC_LOG(SVC_LOG_WARN, registering ? "executor registration refused" : "executor heartbeat refused",
                        SVC_LOG_S("executor", st->executor_id), SVC_LOG_S("peer", rpc_call_peer(call)),
                        SVC_LOG_S("error", err.msg));
        if (r < 0)
                return rpc_call_fail(call, status_code_of(r), "%s", err.msg);
        return RPC_OK;
}

static int h_register(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        struct scheduler *s = data;
        const Ak__V1__RegisterExecutorRequest *req = (const Ak__V1__RegisterExecutorRequest *)msg;
        int r = take_status(s, call, req->status, true);
        if (r != RPC_OK)
                return r;
        const Ak__V1__ExecutorStatus *st = req->status;
        SVC_LOG(SVC_LOG_INFO, "executor registered", SVC_LOG_S("executor", st->executor_id),
                SVC_LOG_S("address", st->address), SVC_LOG_I("vcpus", st->capacity ? st->capacity->vcpus : 0),
                SVC_LOG_I("memory_mb", st->capacity ? st->capacity->memory_mb : 0),
                SVC_LOG_I("sandboxes", st->n_sandboxes), SVC_LOG_I("pools", st->n_pools));
        Ak__V1__RegisterExecutorResponse resp = AK__V1__REGISTER_EXECUTOR_RESPONSE__INIT;
        resp.heartbeat_interval_ms = registry_config(s->reg)->heartbeat_interval_ms;
        rpc_call_reply(call, &resp.base);
        return RPC_OK;
}

static int h_heartbeat(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        struct scheduler *s = data;
        const Ak__V1__HeartbeatRequest *req = (const Ak__V1__HeartbeatRequest *)msg;
        int r = take_status(s, call, req->status, false);
        if (r != RPC_OK)
                return r;
        Ak__V1__HeartbeatResponse resp = AK__V1__HEARTBEAT_RESPONSE__INIT;
        rpc_call_reply(call, &resp.base);
        if (s->adm)
                admission_kick(s->adm); /* capacity may have freed */
        return RPC_OK;
}

/* A tenant sees its own sandboxes in executors' statuses, no one else's. */
static void keep_tenant(Ak__V1__ListExecutorsResponse *resp, const struct registry_scope *scope)
{
        for (size_t i = 0; i < resp->n_executors; i++) {
                Ak__V1__ExecutorStatus *st = resp->executors[i]->status;
                size_t kept = 0;
                for (size_t j = 0; st && j < st->n_sandboxes; j++) {
                        Ak__V1__Sandbox *sb = st->sandboxes[j];
                        if (registry_scope_has(scope, sb->spec ? sb->spec->tenant : NULL))
                                st->sandboxes[kept++] = sb;
                        else
                                protobuf_c_message_free_unpacked(&sb->base, NULL);
                }
                if (st)
                        st->n_sandboxes = kept;
        }
}

static int h_list_executors(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        struct scheduler *s = data;
        struct caller c;
        int r = caller_identify(&s->cfg.callers, call, &c);
        if (r != RPC_OK)
                return r;
        Ak__V1__ListExecutorsResponse *resp;
        r = registry_list_executors(s->reg, RPC_DEFAULT_MAX_MESSAGE_BYTES - 1024, &resp);
        if (r == -E2BIG)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED,
                                     "the executor list is larger than one message (%u bytes)",
                                     RPC_DEFAULT_MAX_MESSAGE_BYTES);
        if (r < 0)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "ListExecutors: out of memory");
        struct registry_scope scope = { .tenant = c.tenant, .admin = c.admin };
        keep_tenant(resp, &scope);
        rpc_call_reply(call, &resp->base);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return RPC_OK;
}

static const struct rpc_method methods[] = {
        { "CreateSandbox", RPC_UNARY, sched_create_sandbox },
        { "StartSandbox", RPC_UNARY, sched_start_sandbox },
        { "StopSandbox", RPC_UNARY, sched_stop_sandbox },
        { "ExtendSandbox", RPC_UNARY, sched_extend_sandbox },
        { "RemoveSandbox", RPC_UNARY, sched_remove_sandbox },
        { "GetSandbox", RPC_UNARY, sched_get_sandbox },
        { "ListSandboxes", RPC_UNARY, sched_list_sandboxes },
        { "Exec", RPC_SERVER_STREAMING, sched_exec },
        { "Run", RPC_SERVER_STREAMING, sched_run },
        { "WriteFile", RPC_UNARY, sched_write_file },
        { "ReadFile", RPC_UNARY, sched_read_file },
        { "Mkdir", RPC_UNARY, sched_mkdir },
        { "RemoveFile", RPC_UNARY, sched_remove_file },
        { "OpenShell", RPC_SERVER_STREAMING, sched_open_shell },
        { "ShellInput", RPC_UNARY, sched_shell_input },
        { "WriteStdin", RPC_UNARY, sched_write_stdin },
        { "ShellResize", RPC_UNARY, sched_shell_resize },
        { "ShellClose", RPC_UNARY, sched_shell_close },
        { "ExecDetached", RPC_UNARY, sched_exec_detached },
        { "GetDetached", RPC_UNARY, sched_get_detached },
        { "ListDetached", RPC_UNARY, sched_list_detached },
        { "DetachedLogs", RPC_UNARY, sched_detached_logs },
        { "KillDetached", RPC_UNARY, sched_kill_detached },
        { "RegisterExecutor", RPC_UNARY, h_register },
        { "Heartbeat", RPC_UNARY, h_heartbeat },
        { "ListExecutors", RPC_UNARY, h_list_executors },
        { "TakeSnapshot", RPC_UNARY, sched_take_snapshot },
        { "ListSnapshots", RPC_UNARY, sched_list_snapshots },
        { "DeleteSnapshot", RPC_UNARY, sched_delete_snapshot },
};

int scheduler_add_service(struct scheduler *s, struct rpc_server *srv, struct ak_error *err)
{
        return rpc_server_add_service(srv, &ak__v1__scheduler__descriptor, methods,
                                      sizeof(methods) / sizeof(methods[0]), s, err);
}

static void note(void *data, enum registry_event ev, const char *id, int64_t silent_ms)
{
        (void)data;
        if (ev == REGISTRY_LOST) {
                sched_metrics_executor_lost();
                SVC_LOG(SVC_LOG_WARN, "executor lost: its sandboxes' calls fail until it is back",
                        SVC_LOG_S("executor", id), SVC_LOG_I("silent_ms", silent_ms));
        } else {
                SVC_LOG(SVC_LOG_WARN, "executor forgotten", SVC_LOG_S("executor", id),
                        SVC_LOG_I("silent_ms", silent_ms));
        }
}

static void *reaper_main(void *arg)
{
        struct scheduler *s = arg;
        const struct registry_config *rc = registry_config(s->reg);
        int64_t idle_ms = rc->forget_after_ms ? rc->forget_after_ms : 600000;
        pthread_mutex_lock(&s->lock);
        while (!s->stopping) {
                struct timespec until = ak_timespec_after(CLOCK_MONOTONIC, s->cfg.reap_interval_ms);
                pthread_cond_timedwait(&s->wake, &s->lock, &until);
                if (s->stopping)
                        break;
                pthread_mutex_unlock(&s->lock);
                registry_reap(s->reg, ak_mono_ms(), note, s);
                forwarder_prune(s->fwd, idle_ms);
                pthread_mutex_lock(&s->lock);
        }
        pthread_mutex_unlock(&s->lock);
        return NULL;
}

int scheduler_new(const struct scheduler_config *cfg, struct scheduler **ret, struct ak_error *err)
{
        struct scheduler *s = calloc(1, sizeof(*s));
        if (!s)
                return ak_error_errno(err, -ENOMEM, "scheduler");
        s->cfg = *cfg;
        pthread_mutex_init(&s->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&s->wake, &ca);
        pthread_condattr_destroy(&ca);
        int r = registry_new(&cfg->registry, ak_mono_ms(), &s->reg);
        if (r < 0) {
                scheduler_free(s);
                return ak_error_errno(err, r, "scheduler: registry");
        }
        r = forwarder_new(s->reg, &cfg->forward, &s->fwd, err);
        if (r < 0) {
                scheduler_free(s);
                return r;
        }
        if (cfg->queue_max && (r = admission_new(cfg->queue_max, &s->adm)) < 0) {
                scheduler_free(s);
                return ak_error_errno(err, r, "scheduler: queue of %u", cfg->queue_max);
        }
        if (!s->cfg.reap_interval_ms) {
                unsigned v = registry_config(s->reg)->heartbeat_interval_ms / 4;
                s->cfg.reap_interval_ms = v < 10 ? 10 : v > 1000 ? 1000 : v;
        }
        r = pthread_create(&s->reaper, NULL, reaper_main, s);
        if (r != 0) {
                scheduler_free(s);
                return ak_error_errno(err, -r, "scheduler: reaper thread");
        }
        s->reaper_running = true;
        if ((r = sched_metrics_attach(s)) < 0) {
                scheduler_free(s);
                return ak_error_errno(err, r, "scheduler: metrics");
        }
        *ret = s;
        return 0;
}

void scheduler_free(struct scheduler *s)
{
        if (!s)
                return;
        sched_metrics_detach(s);
        if (s->reaper_running) {
                pthread_mutex_lock(&s->lock);
                s->stopping = true;
                pthread_cond_broadcast(&s->wake);
                pthread_mutex_unlock(&s->lock);
                pthread_join(s->reaper, NULL);
        }
        forwarder_free(s->fwd);
        admission_free(s->adm);
        registry_free(s->reg);
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->lock);
        free(s);
}
