/* WriteStdin (executor_stdin.c). Private to services/executor. */
#pragma once

#include "lib/rpc/rpc.h"

/* The most bytes one WriteStdin call carries (its guest frame, in base64,
 * stays far below the 10 MiB frame limit). */
#define STDIN_MAX_CHUNK (1 << 20)

/* RPC handler (userdata: the executor). */
int stdin_handle_write(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
