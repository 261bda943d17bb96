/* Detached commands (ExecDetached, GetDetached, ListDetached, DetachedLogs,
 * KillDetached): their state lives in the guest under DETACHED_ROOT, kept by
 * a sh wrapper started through the guest's `run`; every call here is one
 * guest `run` of a small script whose output detached_parse.h reads.
 * Private to services/executor. */
#pragma once

#include "lib/rpc/rpc.h"

#define DETACHED_ROOT "/tmp/.ak-detached"
#define DETACHED_MAX_PER_SANDBOX 256
#define DETACHED_DEFAULT_LOG ((uint64_t)8 << 20)
#define DETACHED_MAX_LOG ((uint64_t)256 << 20)
#define DETACHED_DEFAULT_READ (1u << 20)
#define DETACHED_MAX_READ (4u << 20)

int detached_handle_exec(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int detached_handle_get(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int detached_handle_list(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int detached_handle_logs(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int detached_handle_kill(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
