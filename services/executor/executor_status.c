/* GetStatus, and the same status sent to the scheduler (register, then a
 * heartbeat at the interval it asks for; NOT_FOUND → register again). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/base/version.h"
#include "protos/ak/v1/scheduler.pb-c.h"
#include "services/executor/executor_impl.h"

void executor_allocated(struct executor *ex, unsigned *vcpus, uint64_t *mem);

Ak__V1__Sandbox *sandbox_to_proto(struct executor *ex, struct sandbox *sb)
{
        Ak__V1__Sandbox *m = calloc(1, sizeof(*m));
        Ak__V1__SandboxSpec *sp = calloc(1, sizeof(*sp));
        if (!m || !sp) {
                free(m);
                free(sp);
                return NULL;
        }
        ak__v1__sandbox__init(m);
        ak__v1__sandbox_spec__init(sp);
        sp->name = strdup(sb->name);
        sp->image = strdup(sb->image);
        sp->vcpus = sb->vcpus;
        sp->memory_mb = sb->memory_mb;
        sp->profile = strdup(sb->profile->name);
        sp->network = sb->network ? AK__V1__NETWORK__NETWORK_ON : AK__V1__NETWORK__NETWORK_OFF;
        sp->ttl_seconds = sb->ttl_seconds;
        sp->persistent = sb->persistent;
        sp->env = calloc(sb->n_env + 1, sizeof(*sp->env));
        sp->labels = calloc(sb->n_labels + 1, sizeof(*sp->labels));
        for (size_t i = 0; sp->env && i < sb->n_env; i++) {
                Ak__V1__SandboxSpec__EnvEntry *e = calloc(1, sizeof(*e));
                if (!e)
                        break;
                ak__v1__sandbox_spec__env_entry__init(e);
                e->key = strdup(sb->env_keys[i]);
                e->value = strdup(sb->env_values[i]);
                sp->env[sp->n_env++] = e;
        }
        for (size_t i = 0; sp->labels && i < sb->n_labels; i++) {
                Ak__V1__SandboxSpec__LabelsEntry *e = calloc(1, sizeof(*e));
                if (!e)
                        break;
                ak__v1__sandbox_spec__labels_entry__init(e);
                e->key = strdup(sb->label_keys[i]);
                e->value = strdup(sb->label_values[i]);
                sp->labels[sp->n_labels++] = e;
        }
        m->spec = sp;
        m->state = sb->state;
        m->executor_id = strdup(ex->id);
        m->created_at_ms = sb->created_at_ms;
        m->expires_at_ms = sb->expires_at_ms;
        m->error = strdup(sb->error);
        m->from_pool = sb->from_pool;
        m->backend = strdup(ex->backend);
        return m;
}

/* Everything in m is malloc'd (strings copied): protobuf-c frees it. */
void sandbox_proto_free(Ak__V1__Sandbox *m)
{
        if (m)
                protobuf_c_message_free_unpacked(&m->base, NULL);
}

Ak__V1__ExecutorStatus *executor_status(struct executor *ex)
{
        Ak__V1__ExecutorStatus *st = calloc(1, sizeof(*st));
        Ak__V1__Capacity *cap = calloc(1, sizeof(*cap)), *alloc = calloc(1, sizeof(*alloc));
        if (!st || !cap || !alloc)
                goto oom;
        ak__v1__executor_status__init(st);
        ak__v1__capacity__init(cap);
        ak__v1__capacity__init(alloc);
        st->executor_id = ex->id;
        st->address = ex->address;
        st->backend = ex->backend;
        st->accel = ex->accel;
        st->version = (char *)AK_VERSION;
        cap->vcpus = ex->cfg.capacity_vcpus;
        cap->memory_mb = ex->cfg.capacity_memory_mb;
        st->capacity = cap;
        st->allocated = alloc;
        st->labels = calloc(ex->cfg.n_labels + 1, sizeof(*st->labels));
        st->pools = calloc(ex->n_pools + 1, sizeof(*st->pools));
        st->images = calloc(ex->n_pools + 2, sizeof(char *));
        st->warnings = calloc(4, sizeof(char *));
        if (!st->labels || !st->pools || !st->images || !st->warnings)
                goto oom;
        for (size_t i = 0; i < ex->cfg.n_labels; i++) {
                Ak__V1__ExecutorStatus__LabelsEntry *e = calloc(1, sizeof(*e));
                if (!e)
                        goto oom;
                ak__v1__executor_status__labels_entry__init(e);
                e->key = ex->label_keys[i];
                e->value = ex->label_values[i];
                st->labels[st->n_labels++] = e;
        }
        st->images[st->n_images++] = (char *)IMAGE_BASE;
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

        pthread_mutex_lock(&ex->lock);
        unsigned v;
        uint64_t mem;
        executor_allocated(ex, &v, &mem);
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
        executor_status_free(st);
        return NULL;
}

void executor_status_free(Ak__V1__ExecutorStatus *st)
{
        if (!st)
                return;
        for (size_t i = 0; i < st->n_labels; i++)
                free(st->labels[i]);
        for (size_t i = 0; i < st->n_pools; i++)
                free(st->pools[i]);
        for (size_t i = 0; i < st->n_sandboxes; i++)
                sandbox_proto_free(st->sandboxes[i]);
        free(st->labels);
        free(st->pools);
        free(st->images);
        free(st->warnings);
        free(st->sandboxes);
        free(st->capacity);
        free(st->allocated);
        free(st);
}

int handle_get_status(struct rpc_call *call, const ProtobufCMessage *req, void *ud)
{
        (void)req;
        Ak__V1__ExecutorStatus *st = executor_status(ud);
        if (!st)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        rpc_call_reply(call, &st->base);
        executor_status_free(st);
        return RPC_OK;
}

void *heartbeat_thread(void *arg)
{
        struct executor *ex = arg;
        bool registered = false;
        unsigned interval = 2000;

        pthread_mutex_lock(&ex->lock);
        while (!ex->stop) {
                pthread_mutex_unlock(&ex->lock);
                struct ak_error err = { 0 };
                ProtobufCMessage *resp = NULL;
                struct rpc_call_options o = { .timeout_ms = 3000 };
                Ak__V1__ExecutorStatus *st = executor_status(ex);
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
                executor_status_free(st);
                pthread_mutex_lock(&ex->lock);
                snprintf(ex->sched_note, sizeof(ex->sched_note), "%.500s", code == RPC_OK ? "" : err.msg);
                if (ex->stop)
                        break;
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                unsigned wait = registered || code == RPC_NOT_FOUND ? interval : 1000;
                if (code == RPC_NOT_FOUND)
                        wait = 0;
                int64_t ns = ts.tv_nsec + (int64_t)wait * 1000000;
                ts.tv_sec += ns / 1000000000;
                ts.tv_nsec = ns % 1000000000;
                if (wait)
                        pthread_cond_timedwait(&ex->cond, &ex->lock, &ts);
        }
        pthread_mutex_unlock(&ex->lock);
        return NULL;
}

void executor_log_line(struct executor *ex, char *buf, size_t size)
{
        struct audit_queue_stats as;
        buf[0] = 0;
        audit_queue_stats(ex->audit, &as);
        pthread_mutex_lock(&ex->lock);
        if (as.dropped != ex->logged_dropped) {
                snprintf(buf, size, "AUDIT EVENTS DROPPED: %llu in all (queue full, %llu waiting; auditor: %s)",
                         (unsigned long long)as.dropped, (unsigned long long)as.queued, as.last_error);
                ex->logged_dropped = as.dropped;
        } else if (strcmp(ex->sched_note, ex->logged_sched) != 0) {
                snprintf(buf, size, "scheduler: %s", ex->sched_note[0] ? ex->sched_note : "registered");
                snprintf(ex->logged_sched, sizeof(ex->logged_sched), "%s", ex->sched_note);
        }
        pthread_mutex_unlock(&ex->lock);
}
