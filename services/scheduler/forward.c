/* The pump: the upstream half of a forwarded call, run by a worker thread
 * (a pool that grows when every worker is busy and shrinks after idling).
 * The handler thread owns the downstream half; the two meet in a
 * one-message mailbox. lib/rpc's rpc_stream_open returns only once the executor has sent
 * its first message (or status), so until then the handler cannot cancel the
 * upstream call, only stop waiting for it; the pump cancels it as soon as it
 * has the handle. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/base/time.h"
#include "lib/base/trace.h"
#include "protos/ak/v1/executor.pb-c.h"
#include "services/scheduler/channels.h"
#include "services/scheduler/forward.h"
#include "services/scheduler/pbcopy.h"

#define HEALTH_CHECK_MS 500
#define WORKER_IDLE_S 30

struct pump;

struct forwarder {
        struct registry *reg;
        struct channels *channels;
        char *token;
        unsigned poll_ms;
        pthread_mutex_t lock;
        pthread_cond_t work;          /* a pump queued, or stopping */
        pthread_cond_t idle;          /* the last worker left */
        struct pump *head, *tail;     /* pumps waiting for a worker */
        unsigned queued;
        unsigned workers, idle_workers;
        bool stopping;
};

struct pump {
        struct forwarder *f;
        struct pump *next;            /* in the forwarder's queue */
        pthread_mutex_t lock;
        pthread_cond_t cond;          /* CLOCK_MONOTONIC */
        int refs;                     /* the handler's and the thread's */
        struct rpc_channel *ch;
        const char *method;           /* static strings of the method table */
        ProtobufCMessage *req;        /* owned copy: the handler may leave first */
        int64_t timeout_ms;
        /* The client's request, sent on to the executor (lib/base/trace.h):
         * the pump runs on another thread than the call's handler. */
        char request_id[AK_REQUEST_ID_MAX + 1];
        char traceparent[AK_TRACEPARENT_LEN + 1];
        struct rpc_stream *st;        /* once open returned; under lock */
        ProtobufCMessage *mail;       /* one message for the handler */
        bool done;                    /* upstream ended */
        bool abandoned;               /* the handler left: cancel, drop all */
        int code;                     /* upstream status once done */
        struct ak_error err;
};

int forwarder_new(struct registry *reg, const struct forwarder_config *cfg, struct forwarder **ret,
                  struct ak_error *err)
{
        struct forwarder *f = calloc(1, sizeof(*f));
        if (!f)
                return ak_error_errno(err, -ENOMEM, "forwarder");
        f->reg = reg;
        f->poll_ms = cfg && cfg->poll_ms ? cfg->poll_ms : 20;
        pthread_mutex_init(&f->lock, NULL);
        pthread_cond_init(&f->work, NULL);
        pthread_cond_init(&f->idle, NULL);
        if (cfg && cfg->token && !(f->token = strdup(cfg->token))) {
                forwarder_free(f);
                return ak_error_errno(err, -ENOMEM, "forwarder");
        }
        int r = channels_new(cfg ? cfg->tls : NULL, &f->channels, err);
        if (r < 0) {
                forwarder_free(f);
                return r;
        }
        *ret = f;
        return 0;
}

void forwarder_free(struct forwarder *f)
{
        if (!f)
                return;
        pthread_mutex_lock(&f->lock);
        f->stopping = true;
        pthread_cond_broadcast(&f->work);
        struct timespec until = ak_timespec_after(CLOCK_REALTIME, 5000);
        while (f->workers > 0)
                if (pthread_cond_timedwait(&f->idle, &f->lock, &until) == ETIMEDOUT)
                        break;
        unsigned left = f->workers;
        pthread_mutex_unlock(&f->lock);
        /* A pump still blocked on an executor that never answers keeps its
         * channel: leak the cache rather than free it under the pump. */
        if (left == 0)
                channels_free(f->channels);
        if (f->token)
                explicit_bzero(f->token, strlen(f->token));
        free(f->token);
        if (left == 0) {
                pthread_cond_destroy(&f->work);
                pthread_cond_destroy(&f->idle);
                pthread_mutex_destroy(&f->lock);
                free(f);
        }
}

void forwarder_prune(struct forwarder *f, int64_t idle_ms)
{
        channels_prune(f->channels, ak_mono_ms(), idle_ms);
}

static void pump_unref(struct pump *p)
{
        pthread_mutex_lock(&p->lock);
        bool last = --p->refs == 0;
        pthread_mutex_unlock(&p->lock);
        if (!last)
                return;
        if (p->mail)
                protobuf_c_message_free_unpacked(p->mail, NULL);
        if (p->req)
                protobuf_c_message_free_unpacked(p->req, NULL);
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        free(p);
}

static void pump_run(struct pump *p)
{
        struct forwarder *f = p->f;
        struct rpc_call_options opts = { .timeout_ms = p->timeout_ms, .bearer_token = f->token };
        opts.request_id = p->request_id[0] ? p->request_id : NULL;
        opts.traceparent = p->traceparent[0] ? p->traceparent : NULL;
        struct rpc_stream *st = NULL;
        struct ak_error err = { 0 };
        int r = rpc_stream_open(p->ch, &ak__v1__executor__descriptor, p->method, p->req, &opts, &st,
                                &err);
        pthread_mutex_lock(&p->lock);
        if (r != RPC_OK) {
                p->code = r;
                p->err = err;
                p->done = true;
        } else {
                p->st = st;
                if (p->abandoned)
                        rpc_stream_cancel(st);
        }
        pthread_cond_broadcast(&p->cond);
        while (!p->done) {
                pthread_mutex_unlock(&p->lock);
                ProtobufCMessage *msg = NULL;
                int n = rpc_stream_next(st, &msg, &err);
                pthread_mutex_lock(&p->lock);
                if (n == 1) {
                        while (p->mail && !p->abandoned)
                                pthread_cond_wait(&p->cond, &p->lock);
                        if (p->abandoned) {
                                protobuf_c_message_free_unpacked(msg, NULL);
                                continue;  /* drain to the cancelled status */
                        }
                        p->mail = msg;
                } else {
                        p->code = -n;
                        p->err = err;
                        p->done = true;
                }
                pthread_cond_broadcast(&p->cond);
        }
        p->st = NULL;
        pthread_mutex_unlock(&p->lock);
        rpc_stream_free(st);
        channels_put(f->channels, p->ch, ak_mono_ms());
        pump_unref(p);
}

static void *worker_main(void *arg)
{
        struct forwarder *f = arg;
        pthread_mutex_lock(&f->lock);
        for (;;) {
                while (!f->head && !f->stopping) {
                        struct timespec until = ak_timespec_after(CLOCK_REALTIME, WORKER_IDLE_S * 1000);
                        f->idle_workers++;
                        int r = pthread_cond_timedwait(&f->work, &f->lock, &until);
                        f->idle_workers--;
                        if (r == ETIMEDOUT && !f->head)
                                goto out;
                }
                struct pump *p = f->head;
                if (!p)
                        break;  /* stopping, nothing left */
                f->head = p->next;
                if (!f->head)
                        f->tail = NULL;
                f->queued--;
                pthread_mutex_unlock(&f->lock);
                pump_run(p);
                pthread_mutex_lock(&f->lock);
        }
out:
        if (--f->workers == 0)
                pthread_cond_broadcast(&f->idle);
        pthread_mutex_unlock(&f->lock);
        return NULL;
}

/* Queues p for a worker, starting one when none is free. */
static int pump_queue(struct forwarder *f, struct pump *p)
{
        int r = 0;
        pthread_mutex_lock(&f->lock);
        p->next = NULL;
        if (f->tail)
                f->tail->next = p;
        else
                f->head = p;
        f->tail = p;
        f->queued++;
        if (f->queued > f->idle_workers) {
                pthread_attr_t attr;
                pthread_attr_init(&attr);
                pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                pthread_t tid;
                r = pthread_create(&tid, &attr, worker_main, f);
                pthread_attr_destroy(&attr);
                if (r == 0)
                        f->workers++;
                else if (f->workers > 0)
                        r = 0;  /* a busy worker will get to it */
        } else {
                pthread_cond_signal(&f->work);
        }
        if (r != 0) {
                /* No worker at all: take it back (it is the only one queued). */
                f->head = f->tail = NULL;
                f->queued = 0;
        }
        pthread_mutex_unlock(&f->lock);
        return r;
}

static int pump_start(struct forwarder *f, struct rpc_call *call, const struct registry_route *route,
                      const char *method, const ProtobufCMessage *req, struct pump **ret)
{
        int64_t left = rpc_call_remaining_ms(call);
        if (left <= 0)
                return rpc_call_fail(call, RPC_DEADLINE_EXCEEDED, "%s: deadline exceeded before forwarding",
                                     method);
        struct pump *p = calloc(1, sizeof(*p));
        if (!p)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "%s: out of memory", method);
        p->f = f;
        p->refs = 2;
        p->method = method;
        p->timeout_ms = left == INT64_MAX ? 0 : left;
        const char *rid = rpc_call_request_id(call), *tp = rpc_call_traceparent(call);
        snprintf(p->request_id, sizeof(p->request_id), "%s", rid ? rid : "");
        snprintf(p->traceparent, sizeof(p->traceparent), "%s", tp ? tp : "");
        pthread_mutex_init(&p->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&p->cond, &ca);
        pthread_condattr_destroy(&ca);
        p->req = pbcopy(req);
        struct ak_error err;
        if (!p->req) {
                pump_unref(p);
                pump_unref(p);
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "%s: out of memory", method);
        }
        if (channels_get(f->channels, route->address, ak_mono_ms(), &p->ch, &err) < 0) {
                pump_unref(p);
                pump_unref(p);
                return rpc_call_fail(call, RPC_UNAVAILABLE, "executor %s: %s", route->executor_id, err.msg);
        }
        int r = pump_queue(f, p);
        if (r != 0) {
                channels_put(f->channels, p->ch, ak_mono_ms());
                pump_unref(p);
                pump_unref(p);
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "%s: cannot start a thread (%s)",
                                     method, strerror(r));
        }
        *ret = p;
        return RPC_OK;
}

/* The handler leaves: the pump cancels upstream and cleans up alone. */
static void pump_abandon(struct pump *p)
{
        pthread_mutex_lock(&p->lock);
        p->abandoned = true;
        if (p->st)
                rpc_stream_cancel(p->st);
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        pump_unref(p);
}

enum wait_result { WAIT_MAIL, WAIT_DONE, WAIT_CLIENT_GONE, WAIT_LOST };

/* Waits for the next message or the end, watching the client and the
 * executor every poll interval. */
static enum wait_result pump_wait(struct pump *p, struct rpc_call *call,
                                  const struct registry_route *route, char *why, size_t why_size,
                                  ProtobufCMessage **ret_mail)
{
        pthread_mutex_lock(&p->lock);
        for (;;) {
                if (p->mail) {
                        *ret_mail = p->mail;
                        p->mail = NULL;
                        pthread_cond_broadcast(&p->cond);
                        pthread_mutex_unlock(&p->lock);
                        return WAIT_MAIL;
                }
                if (p->done) {
                        pthread_mutex_unlock(&p->lock);
                        return WAIT_DONE;
                }
                struct timespec until = ak_timespec_after(CLOCK_MONOTONIC, p->f->poll_ms);
                if (pthread_cond_timedwait(&p->cond, &p->lock, &until) != ETIMEDOUT)
                        continue;
                pthread_mutex_unlock(&p->lock);
                if (rpc_call_cancelled(call))
                        return WAIT_CLIENT_GONE;
                if (registry_liveness(p->f->reg, route->executor_id, ak_mono_ms(), why, why_size) ==
                    REGISTRY_IS_LOST)
                        return WAIT_LOST;
                pthread_mutex_lock(&p->lock);
        }
}

/* The executor's own words from lib/rpc's "/path: CODE: details". */
static const char *details_of(const char *msg, int code)
{
        const char *p = msg;
        if (*p == '/') {
                const char *sep = strstr(p, ": ");
                if (sep)
                        p = sep + 2;
        }
        const char *name = rpc_code_name(code);
        size_t n = strlen(name);
        if (strncmp(p, name, n) == 0 && strncmp(p + n, ": ", 2) == 0)
                p += n + 2;
        return p;
}

/* Whether the executor answering at route->address is the sandbox's owner.
 * A NOT_FOUND is only its word if so: another executor now listening there
 * (the owner died and its port or socket was reused) knows nothing of it.
 * False with the other's id in `who`; true when it cannot tell. */
static bool answered_by_owner(struct forwarder *f, const struct registry_route *route, char *who,
                              size_t who_size)
{
        struct rpc_channel *ch;
        struct ak_error err;
        if (channels_get(f->channels, route->address, ak_mono_ms(), &ch, &err) < 0)
                return true;
        Ak__V1__GetExecutorStatusRequest req = AK__V1__GET_EXECUTOR_STATUS_REQUEST__INIT;
        struct rpc_call_options opts = { .timeout_ms = HEALTH_CHECK_MS, .bearer_token = f->token };
        ProtobufCMessage *resp = NULL;
        bool same = true;
        if (rpc_unary(ch, &ak__v1__executor__descriptor, "GetStatus", &req.base, &opts, &resp, &err) ==
            RPC_OK) {
                const char *id = ((const Ak__V1__ExecutorStatus *)resp)->executor_id;
                same = strcmp(id, route->executor_id) == 0;
                snprintf(who, who_size, "%s", id);
                protobuf_c_message_free_unpacked(resp, NULL);
        }
        channels_put(f->channels, ch, ak_mono_ms());
        return same;
}

/* Turns the upstream status into the client's. */
static int finish(struct forwarder *f, struct rpc_call *call, const struct registry_route *route,
                  struct pump *p)
{
        int code = p->code;
        const char *details = details_of(p->err.msg, code);
        char who[EXECUTOR_ID_MAX + 1];
        if (code == RPC_NOT_FOUND && !answered_by_owner(f, route, who, sizeof(who))) {
                registry_mark_unreachable(f->reg, route->executor_id);
                return rpc_call_fail(call, RPC_UNAVAILABLE,
                                     "executor %s (%s) is unreachable: executor %s answers at its address "
                                     "now; its sandboxes' calls fail until it heartbeats again: check that "
                                     "ak-executor %s runs",
                                     route->executor_id, route->address, who, route->executor_id);
        }
        if (code == RPC_UNAVAILABLE || code == RPC_CANCELLED) {
                /* Down, or cut off: does it still answer at all? */
                struct rpc_channel *ch;
                struct ak_error herr;
                if (channels_get(f->channels, route->address, ak_mono_ms(), &ch, &herr) == 0) {
                        if (rpc_health_check(ch, "", HEALTH_CHECK_MS, &herr) != RPC_OK)
                                registry_mark_unreachable(f->reg, route->executor_id);
                        channels_put(f->channels, ch, ak_mono_ms());
                }
                return rpc_call_fail(call, RPC_UNAVAILABLE, "executor %s (%s): %s", route->executor_id,
                                     route->address, details);
        }
        return rpc_call_fail(call, code, "%s", details);
}

static int lost(struct rpc_call *call, const char *method, const char *why)
{
        return rpc_call_fail(call, RPC_UNAVAILABLE, "%s: %s; the call was abandoned", method, why);
}

int forward_unary(struct forwarder *f, struct rpc_call *call, const struct registry_route *route,
                  const char *method, const ProtobufCMessage *req, ProtobufCMessage **ret_resp)
{
        struct pump *p;
        int r = pump_start(f, call, route, method, req, &p);
        if (r != RPC_OK)
                return r;
        ProtobufCMessage *resp = NULL, *mail;
        char why[512];
        for (;;) {
                switch (pump_wait(p, call, route, why, sizeof(why), &mail)) {
                case WAIT_MAIL:
                        if (resp)
                                protobuf_c_message_free_unpacked(resp, NULL);
                        resp = mail;
                        continue;
                case WAIT_DONE:
                        break;
                case WAIT_CLIENT_GONE:
                        r = rpc_call_fail(call, RPC_CANCELLED, "%s: cancelled by the client", method);
                        goto abandon;
                case WAIT_LOST:
                        r = lost(call, method, why);
                        goto abandon;
                }
                break;
        }
        if (p->code != RPC_OK)
                r = finish(f, call, route, p);
        else if (!resp)
                r = rpc_call_fail(call, RPC_INTERNAL, "executor %s: %s returned no response",
                                  route->executor_id, method);
        pump_unref(p);
        if (r == RPC_OK)
                *ret_resp = resp;
        else if (resp)
                protobuf_c_message_free_unpacked(resp, NULL);
        return r;
abandon:
        if (resp)
                protobuf_c_message_free_unpacked(resp, NULL);
        pump_abandon(p);
        return r;
}

int forward_stream(struct forwarder *f, struct rpc_call *call, const struct registry_route *route,
                   const char *method, const ProtobufCMessage *req, forward_observe_fn observe,
                   void *data)
{
        struct pump *p;
        int r = pump_start(f, call, route, method, req, &p);
        if (r != RPC_OK)
                return r;
        char why[512];
        for (;;) {
                ProtobufCMessage *mail;
                switch (pump_wait(p, call, route, why, sizeof(why), &mail)) {
                case WAIT_MAIL:
                        if (observe)
                                observe(data, mail);
                        r = rpc_call_send(call, mail);
                        protobuf_c_message_free_unpacked(mail, NULL);
                        if (r == -E2BIG) {
                                r = rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED,
                                                  "%s: a message from executor %s is over the limit",
                                                  method, route->executor_id);
                                pump_abandon(p);
                                return r;
                        }
                        if (r < 0) {
                                pump_abandon(p);
                                return rpc_call_fail(call, RPC_CANCELLED, "%s: cancelled by the client",
                                                     method);
                        }
                        continue;
                case WAIT_DONE:
                        r = p->code == RPC_OK ? RPC_OK : finish(f, call, route, p);
                        pump_unref(p);
                        return r;
                case WAIT_CLIENT_GONE:
                        pump_abandon(p);
                        return rpc_call_fail(call, RPC_CANCELLED, "%s: cancelled by the client", method);
                case WAIT_LOST:
                        pump_abandon(p);
                        return lost(call, method, why);
                }
        }
}
