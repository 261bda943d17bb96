/* Guest connections serving an RPC: registered while they last, so the
 * janitor can shut them down when the client cancels or the sandbox goes
 * away, and guest I/O errors turned into statuses with words. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>

#include "services/executor/executor_guest_call.h"
#include "services/executor/executor_state.h"

void guest_call_begin(struct executor *ex, struct guest_call *a)
{
        pthread_mutex_lock(&ex->lock);
        a->next = ex->guest_calls;
        ex->guest_calls = a;
        pthread_mutex_unlock(&ex->lock);
}

void guest_call_end(struct executor *ex, struct guest_call *a)
{
        pthread_mutex_lock(&ex->lock);
        for (struct guest_call **p = &ex->guest_calls; *p; p = &(*p)->next)
                if (*p == a) {
                        *p = a->next;
                        break;
                }
        pthread_mutex_unlock(&ex->lock);
}

void guest_call_cancel_locked(struct executor *ex, struct sandbox *sb)
{
        for (struct guest_call *a = ex->guest_calls; a; a = a->next)
                if (!sb || a->sb == sb) {
                        a->cancelled = true;
                        shutdown(a->fd, SHUT_RDWR);
                }
}

int guest_call_fail(struct rpc_call *call, const char *what, const char *sandbox, int r)
{
        switch (r) {
        case -ENOENT:
                return rpc_call_fail(call, RPC_NOT_FOUND, "no sandbox named %s", sandbox);
        case -ESRCH:
                return rpc_call_fail(call, RPC_FAILED_PRECONDITION, "sandbox %s is not running: start it first",
                                     sandbox);
        case -ETIMEDOUT:
                return rpc_call_fail(call, RPC_UNAVAILABLE, "%s in sandbox %s: the guest agent did not answer in time",
                                     what, sandbox);
        case -EPROTO:
                return rpc_call_fail(call, RPC_UNAVAILABLE, "%s in sandbox %s: the guest agent sent a malformed "
                                     "or oversized frame (the sandbox can be removed)", what, sandbox);
        case -ECANCELED:
                return rpc_call_fail(call, RPC_CANCELLED, "%s in sandbox %s: cancelled", what, sandbox);
        default:
                return rpc_call_fail(call, RPC_UNAVAILABLE, "%s in sandbox %s: guest agent unreachable: %s", what,
                                     sandbox, strerror(-r));
        }
}

void guest_call_reap_locked(struct executor *ex)
{
        for (struct guest_call *a = ex->guest_calls; a; a = a->next)
                if (!a->cancelled && a->call && rpc_call_cancelled(a->call)) {
                        a->cancelled = true;
                        shutdown(a->fd, SHUT_RDWR);
                }
}
