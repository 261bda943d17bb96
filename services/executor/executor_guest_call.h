/* Guest calls (executor_guest_call.c): a guest connection serving an RPC,
 * registered for as long as the RPC uses it so that it can be cancelled.
 * Private to services/executor. */
#pragma once

#include <stdbool.h>

#include "lib/rpc/rpc.h"

struct executor;
struct sandbox;

/* Lives on the stack of the handler that opened fd; between begin and end
 * it is on ex->guest_calls. Others write the fields below `fd` under
 * ex->lock; the handler reads `cancelled` once its connection has ended. */
struct guest_call {
        struct guest_call *next;
        struct rpc_call *call;      /* NULL: not cancellable by a client */
        struct sandbox *sb;
        int fd;                     /* the handler's; shut down, never closed, by others */
        bool cancelled;             /* fd was shut down by guest_call_cancel_locked or _reap_locked */
        /* OpenShell: its session, and the exit code ShellClose got (the
         * guest answers a close on the closing connection). */
        char session[80];
        bool shell_closed;
        int shell_exit;
};

/* Registers a (takes ex->lock); guest_call_end unregisters it. */
void guest_call_begin(struct executor *ex, struct guest_call *a);
void guest_call_end(struct executor *ex, struct guest_call *a);
/* REQUIRES ex->lock. Shuts down the guest calls of sb (NULL: of every
 * sandbox); their handlers see the connection end. */
void guest_call_cancel_locked(struct executor *ex, struct sandbox *sb);
/* REQUIRES ex->lock. Shuts down the guest calls whose client cancelled
 * (the janitor, every reap interval). */
void guest_call_reap_locked(struct executor *ex);
/* Fails call with a status for a negative errno from guest I/O (or from
 * sandbox_running_uds) of `what` in sandbox `sandbox`; returns the code. */
int guest_call_fail(struct rpc_call *call, const char *what, const char *sandbox, int r);
