/* PTY shells (executor_shell.c). Private to services/executor. */
#pragma once

#include "lib/rpc/rpc.h"

/* RPC handlers (userdata: the executor); OpenShell streams. */
int shell_handle_open(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int shell_handle_input(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int shell_handle_resize(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int shell_handle_close(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
