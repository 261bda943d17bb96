/* Drain (executor_drain.c): stop taking sandboxes, wait for the one-shot
 * runs in progress, say what is left. Private to services/executor. */
#pragma once

#include "lib/rpc/rpc.h"
#include "services/executor/executor.h"

struct executor;

/* A Run call starts / ends (each begin has one end). Take ex->lock. */
void drain_run_begin(struct executor *ex);
void drain_run_end(struct executor *ex);
int drain_handle(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
