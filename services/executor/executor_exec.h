/* Exec and Run (executor_exec.c). Private to services/executor. */
#pragma once

#include "lib/rpc/rpc.h"

/* Server-streaming RPC handlers (userdata: the executor). */
int exec_handle_exec(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int exec_handle_run(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
