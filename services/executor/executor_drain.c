/* Drain: from the first call on, lifecycle_create refuses (UNAVAILABLE) and
 * heartbeats say draining, so the scheduler places elsewhere; the call
 * returns when no Run is in progress or at its deadline. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/time.h"
#include "protos/ak/v1/executor.pb-c.h"
#include "services/executor/executor_drain.h"
#include "services/executor/executor_sandbox.h"
#include "services/executor/executor_state.h"
#include "vmm/vmbox.h"

void drain_run_begin(struct executor *ex)
{
        pthread_mutex_lock(&ex->lock);
        ex->runs++;
        pthread_mutex_unlock(&ex->lock);
}

void drain_run_end(struct executor *ex)
{
        pthread_mutex_lock(&ex->lock);
        ex->runs--;
        pthread_cond_broadcast(&ex->cond);
        pthread_mutex_unlock(&ex->lock);
}

int drain_handle(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        struct executor *ex = ud;
        const Ak__V1__DrainRequest *req = (const void *)msg;
        if (req->timeout_ms > EXECUTOR_DRAIN_MAX_MS)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "timeout_ms %u: at most %u (1 h)", req->timeout_ms,
                                     EXECUTOR_DRAIN_MAX_MS);
        int64_t deadline = ak_mono_ms() + (req->timeout_ms ? req->timeout_ms : EXECUTOR_DRAIN_DEFAULT_MS);
        Ak__V1__DrainResponse resp = AK__V1__DRAIN_RESPONSE__INIT;

        pthread_mutex_lock(&ex->lock);
        ex->draining = true;
        pthread_cond_broadcast(&ex->cond); /* the heartbeat tells the scheduler now */
        while (ex->runs && !ex->stop && ak_mono_ms() < deadline && !rpc_call_cancelled(call)) {
                struct timespec ts = ak_timespec_after(CLOCK_REALTIME, 100);
                pthread_cond_timedwait(&ex->cond, &ex->lock, &ts);
        }
        resp.runs_left = ex->runs;
        resp.drained = ex->runs == 0;
        char **names = calloc(ex->n_sandboxes + 1, sizeof(char *));
        for (size_t i = 0; names && i < ex->n_sandboxes; i++) {
                struct sandbox *sb = ex->sandboxes[i];
                if (!(names[i] = strdup(sb->name)))
                        break;
                resp.n_sandboxes_left++;
                if (sb->box && vmbox_supervised(sb->box))
                        resp.survive_restart++;
        }
        pthread_mutex_unlock(&ex->lock);
        resp.sandboxes_left = names;
        int code = names ? rpc_call_reply(call, &resp.base) : rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        for (size_t i = 0; names && i < resp.n_sandboxes_left; i++)
                free(names[i]);
        free(names);
        return code;
}
