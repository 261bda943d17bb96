/* GetStatus, and the same status sent to the scheduler (register, then a
 * heartbeat at the interval it asks for; NOT_FOUND → register again). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/base/time.h"
#include "lib/base/version.h"
#include "protos/ak/v1/scheduler.pb-c.h"
#include "services/executor/audit_queue.h"
#include "services/executor/executor_images.h"
#include "services/executor/executor_pull.h"
#include "services/executor/executor_lifecycle.h"
#include "services/executor/executor_netaudit.h"
#include "services/executor/executor_pool.h"
#include "services/executor/executor_sandbox.h"
#include "services/executor/executor_state.h"
#include "services/executor/executor_status.h"


/* The running and recently failed pulls (executor_pull.h) into st. */
static int status_pulls(struct executor *ex, Ak__V1__ExecutorStatus *st)
{
        struct image_pull_status *v;
        size_t n;
        int r = pulls_status(ex, &v, &n);
        if (r < 0)
                return r;
        st->pulls = calloc(n + 1, sizeof(*st->pulls));
        for (size_t i = 0; st->pulls && i < n; i++) {
                Ak__V1__ImagePull *p = calloc(1, sizeof(*p));
                char *image = strdup(v[i].ref), *error = strdup(v[i].error);
                if (!p || !image || !error) {
                        free(p);
                        free(image);
                        free(error);
                        free(v);
                        return -ENOMEM;
                }
                ak__v1__image_pull__init(p);
                p->image = image;
                p->error = error;
                p->state = (char *)v[i].state;
                p->bytes_done = v[i].bytes_done;
                p->bytes_total = v[i].bytes_total;
                st->pulls[st->n_pulls++] = p;
        }
        free(v);
        return st->pulls ? 0 : -ENOMEM;
}

Ak__V1__ExecutorStatus *status_new(struct executor *ex)
{
        Ak__V1__ExecutorStatus *st = calloc(1, sizeof(*st));
        Ak__V1__Capacity *cap = calloc(1, sizeof(*cap)), *alloc = calloc(1, sizeof(*alloc));
        if (!st || !cap || !alloc)
                goto oom;
        ak__v1__executor_status__init(st);
        ak__v1__capacity__init(cap);
        ak__v1__capacity__init(alloc);
        st->executor_id = ex->node.id;
        st->address = ex->node.address;
        st->backend = ex->node.backend;
        st->accel = ex->node.accel;
        st->version = (char *)AK_VERSION;
        cap->vcpus = ex->cfg.capacity_vcpus;
        cap->memory_mb = ex->cfg.capacity_memory_mb;
        st->capacity = cap;
        st->allocated = alloc;
        st->labels = calloc(ex->cfg.n_labels + 1, sizeof(*st->labels));
        st->pools = calloc(ex->n_pools + 1, sizeof(*st->pools));
        st->warnings = calloc(4, sizeof(char *));
        if (!st->labels || !st->pools || !st->warnings || images_report(ex, &st->images, &st->n_images) < 0)
                goto oom;
        for (size_t i = 0; i < ex->cfg.n_labels; i++) {
                Ak__V1__ExecutorStatus__LabelsEntry *e = calloc(1, sizeof(*e));
                if (!e)
                        goto oom;
                ak__v1__executor_status__labels_entry__init(e);
                e->key = ex->node.label_keys[i];
                e->value = ex->node.label_values[i];
                st->labels[st->n_labels++] = e;
        }
        struct audit_queue_stats as;
        audit_queue_stats(ex->audit, &as);
        st->audit_queued = as.queued;
        st->audit_dropped = as.dropped;
        st->audit_sent = as.sent;
        if (ex->cpu_quota_note[0])
                st->warnings[st->n_warnings++] = ex->cpu_quota_note;
        if (!ex->cfg.auditor)
                st->warnings[st->n_warnings++] = (char *)"no --auditor: audit events are not recorded";
        if (!ex->cfg.signer)
                st->warnings[st->n_warnings++] = (char *)"no --signer: receipts are unsigned";
        if (status_pulls(ex, st) < 0)
                goto oom;

        pthread_mutex_lock(&ex->lock);
        st->draining = ex->draining;
        st->net_denied = net_audit_denied_total_locked(ex);
        st->net_log_overruns = net_audit_overruns_total_locked(ex);
        unsigned v;
        uint64_t mem;
        lifecycle_allocated_locked(ex, &v, &mem);
        alloc->vcpus = v;
        alloc->memory_mb = mem;
        for (size_t i = 0; i < ex->n_pools; i++) {
                Ak__V1__PoolStatus *p = calloc(1, sizeof(*p));
                if (!p)
                        break;
                ak__v1__pool_status__init(p);
                p->image = ex->pools[i].image;
                p->profile = (char *)ex->pools[i].profile->name;
                p->ready = (uint32_t)ex->pools[i].n_ready;
                p->booting = ex->pools[i].booting;
                p->min_warm = ex->cfg.pool_min_warm;
                p->max_warm = ex->cfg.pool_max_warm;
                p->max_age_seconds = ex->cfg.pool_max_age_s;
                p->hits = ex->pools[i].hits;
                p->misses = ex->pools[i].misses;
                st->pools[st->n_pools++] = p;
        }
        st->sandboxes = calloc(ex->n_sandboxes + 1, sizeof(*st->sandboxes));
        for (size_t i = 0; st->sandboxes && i < ex->n_sandboxes; i++) {
                Ak__V1__Sandbox *m = sandbox_to_proto(ex, ex->sandboxes[i]);
                if (m)
                        st->sandboxes[st->n_sandboxes++] = m;
        }
        pthread_mutex_unlock(&ex->lock);
        return st;
oom:
        if (st)
                st->capacity = cap, st->allocated = alloc;
        status_free(st);
        return NULL;
}

void status_free(Ak__V1__ExecutorStatus *st)
{
        if (!st)
                return;
        for (size_t i = 0; i < st->n_labels; i++)
                free(st->labels[i]);
        for (size_t i = 0; i < st->n_pools; i++)
                free(st->pools[i]);
        for (size_t i = 0; i < st->n_sandboxes; i++)
                sandbox_proto_free(st->sandboxes[i]);
        for (size_t i = 0; i < st->n_images; i++)
                free(st->images[i]);
        for (size_t i = 0; i < st->n_pulls; i++) {
                free(st->pulls[i]->image);
                free(st->pulls[i]->error);
                free(st->pulls[i]);
        }
        free(st->pulls);
        free(st->labels);
        free(st->pools);
        free(st->images);
        free(st->warnings);
        free(st->sandboxes);
        free(st->capacity);
        free(st->allocated);
        free(st);
}

int status_handle_get(struct rpc_call *call, const ProtobufCMessage *req, void *ud)
{
        (void)req;
        Ak__V1__ExecutorStatus *st = status_new(ud);
        if (!st)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        rpc_call_reply(call, &st->base);
        status_free(st);
        return RPC_OK;
}

void *status_heartbeat_thread(void *arg)
{
        struct executor *ex = arg;
        bool registered = false;
        unsigned interval = 2000;

        pthread_mutex_lock(&ex->lock);
        while (!ex->stop) {
                pthread_mutex_unlock(&ex->lock);
                struct ak_error err = { 0 };
                ProtobufCMessage *resp = NULL;
                /* Both are safe to send twice: sent again after a broken connection too. */
                struct rpc_call_options o = { .timeout_ms = 3000, .idempotent = true };
                Ak__V1__ExecutorStatus *st = status_new(ex);
                int code = RPC_UNAVAILABLE;
                if (st && !registered) {
                        Ak__V1__RegisterExecutorRequest req = AK__V1__REGISTER_EXECUTOR_REQUEST__INIT;
                        req.status = st;
                        code = rpc_unary(ex->cfg.scheduler, &ak__v1__scheduler__descriptor, "RegisterExecutor",
                                         &req.base, &o, &resp, &err);
                        if (code == RPC_OK) {
                                Ak__V1__RegisterExecutorResponse *rr = (void *)resp;
                                if (rr->heartbeat_interval_ms >= 100 && rr->heartbeat_interval_ms <= 60000)
                                        interval = rr->heartbeat_interval_ms;
                                registered = true;
                        }
                } else if (st) {
                        Ak__V1__HeartbeatRequest req = AK__V1__HEARTBEAT_REQUEST__INIT;
                        req.status = st;
                        code = rpc_unary(ex->cfg.scheduler, &ak__v1__scheduler__descriptor, "Heartbeat", &req.base,
                                         &o, &resp, &err);
                        if (code == RPC_NOT_FOUND)
                                registered = false;
                }
                if (resp)
                        protobuf_c_message_free_unpacked(resp, NULL);
                status_free(st);
                pthread_mutex_lock(&ex->lock);
                snprintf(ex->notes.sched_note, sizeof(ex->notes.sched_note), "%.500s", code == RPC_OK ? "" : err.msg);
                if (ex->stop)
                        break;
                unsigned wait = registered || code == RPC_NOT_FOUND ? interval : 1000;
                if (code == RPC_NOT_FOUND)
                        wait = 0;
                struct timespec ts = ak_timespec_after(CLOCK_REALTIME, wait);
                if (wait)
                        pthread_cond_timedwait(&ex->cond, &ex->lock, &ts);
        }
        pthread_mutex_unlock(&ex->lock);
        return NULL;
}

