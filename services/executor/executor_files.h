/* File calls (executor_files.c). Private to services/executor. */
#pragma once

#include "lib/rpc/rpc.h"

/* Unary RPC handlers (userdata: the executor). */
int files_handle_write(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int files_handle_read(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int files_handle_mkdir(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int files_handle_remove(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
