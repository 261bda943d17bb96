/* The executor's status (executor_status.c): GetStatus, and registration
 * and heartbeats with the scheduler. Private to services/executor. */
#pragma once

#include "lib/rpc/rpc.h"
#include "protos/ak/v1/executor.pb-c.h"

struct executor;

/* The status now (takes ex->lock and ex->catalog.lock, one after the
 * other), or NULL when out of memory. images are its own copies (the store
 * as it is now, executor_images.h); other strings point into ex: free it
 * with status_free while ex lives. */
Ak__V1__ExecutorStatus *status_new(struct executor *ex);
void status_free(Ak__V1__ExecutorStatus *st);
int status_handle_get(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
/* pthread body, arg the executor (only with cfg.scheduler): registers,
 * then heartbeats at the interval the scheduler asks for; NOT_FOUND →
 * registers again. Writes ex->notes.sched_note. Returns once ex->stop is
 * set. */
void *status_heartbeat_thread(void *arg);
