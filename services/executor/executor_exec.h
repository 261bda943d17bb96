/* Exec and Run (executor_exec.c). Private to services/executor. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/receipt/receipt.h"
#include "lib/rpc/rpc.h"

struct sandbox;

/* Server-streaming RPC handlers (userdata: the executor). */
int exec_handle_exec(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int exec_handle_run(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);

/* The receipt of an exec-mode command in sb (invocation and tenant set;
 * outcome left to the caller), as Exec writes it; the PTY path (OpenShell
 * with receipt) too. NULL: out of memory. Free with receipt_free. */
struct receipt *exec_receipt_new(const struct sandbox *sb, char *const *argv, size_t argc, char *const *env,
                                 size_t n_env, const char *workdir, bool sudo);
