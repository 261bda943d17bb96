#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/scheduler_call.h"
#include "cli/stack.h"
#include "lib/base/time.h"
#include "protos/ak/v1/scheduler.pb-c.h"

int cli_scheduler_call(const char *group, const char *verb, const char *method, const ProtobufCMessage *req,
                       ProtobufCMessage **resp)
{
        return cli_scheduler_create(group, verb, method, req, NULL, resp);
}

/* Polls GetSandbox for a create that may wait in the scheduler's queue and
 * prints its place when it changes, until stopped. */
struct cli_queue_watch {
        struct rpc_channel *ch;
        struct rpc_call_options opts;
        const char *group, *verb, *name;
        pthread_mutex_t lock;
        pthread_cond_t stop_cond;    /* CLOCK_MONOTONIC */
        bool stop;
        pthread_t tid;
};

#define QUEUE_POLL_MS 500

/* The create's place in the queue: 0 when it does not wait there. */
static unsigned watch_once(struct cli_queue_watch *w, unsigned *ret_waiting)
{
        Ak__V1__GetSandboxRequest req = AK__V1__GET_SANDBOX_REQUEST__INIT;
        req.name = (char *)w->name;
        ProtobufCMessage *msg = NULL;
        struct ak_error err = { 0 };
        unsigned pos = 0;
        if (rpc_unary(w->ch, &ak__v1__scheduler__descriptor, "GetSandbox", &req.base, &w->opts, &msg, &err) != RPC_OK)
                return 0;
        const Ak__V1__Sandbox *sb = (const Ak__V1__Sandbox *)msg;
        if (sb->queued) {
                pos = sb->queued->position;
                *ret_waiting = sb->queued->waiting;
        }
        protobuf_c_message_free_unpacked(msg, NULL);
        return pos;
}

static void *watch_main(void *arg)
{
        struct cli_queue_watch *w = arg;
        unsigned last = 0, last_waiting = 0;
        pthread_mutex_lock(&w->lock);
        while (!w->stop) {
                struct timespec until = ak_timespec_after(CLOCK_MONOTONIC, QUEUE_POLL_MS);
                if (pthread_cond_timedwait(&w->stop_cond, &w->lock, &until) != ETIMEDOUT || w->stop)
                        break;
                pthread_mutex_unlock(&w->lock);
                unsigned waiting = 0, pos = watch_once(w, &waiting);
                if (pos && (pos != last || waiting != last_waiting))
                        fprintf(stderr, "ak %s%s%s: waiting for capacity: position %u of %u in the scheduler's queue\n",
                                w->group ? w->group : "", w->group ? " " : "", w->verb, pos, waiting);
                last = pos;
                last_waiting = waiting;
                pthread_mutex_lock(&w->lock);
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

struct cli_queue_watch *cli_queue_watch_start(struct rpc_channel *ch, const struct rpc_call_options *opts,
                                              const char *group, const char *verb, const char *name)
{
        if (!ch || !name || !*name)
                return NULL;
        struct cli_queue_watch *w = calloc(1, sizeof(*w));
        if (!w)
                return NULL;
        *w = (struct cli_queue_watch){ .ch = ch, .opts = *opts, .group = group, .verb = verb, .name = name };
        w->opts.timeout_ms = 5000;
        pthread_mutex_init(&w->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&w->stop_cond, &ca);
        pthread_condattr_destroy(&ca);
        if (pthread_create(&w->tid, NULL, watch_main, w) != 0) {
                pthread_mutex_destroy(&w->lock);
                pthread_cond_destroy(&w->stop_cond);
                free(w);
                return NULL;
        }
        return w;
}

void cli_queue_watch_stop(struct cli_queue_watch *w)
{
        if (!w)
                return;
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_cond_signal(&w->stop_cond);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->tid, NULL);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->stop_cond);
        free(w);
}

int cli_scheduler_create(const char *group, const char *verb, const char *method, const ProtobufCMessage *req,
                         const char *name, ProtobufCMessage **resp)
{
        struct rpc_channel *ch = NULL;
        struct rpc_call_options o;
        struct ak_error err = { 0 };
        int r = stack_client(true, &ch, &o, &err);
        if (r >= 0) {
                struct cli_queue_watch *w = cli_queue_watch_start(ch, &o, group, verb, name);
                r = rpc_unary(ch, &ak__v1__scheduler__descriptor, method, req, &o, resp, &err);
                cli_queue_watch_stop(w);
        }
        rpc_channel_free(ch);
        if (r != 0) {
                fprintf(stderr, "ak %s%s%s: %s\n", group ? group : "", group ? " " : "", verb, err.msg);
                return -1;
        }
        return 0;
}
