/* Shared by service.c (wiring, auth, executors, reaper) and
 * service_sandboxes.c (the client API). */
#pragma once

#include <pthread.h>

#include "protos/ak/v1/scheduler.pb-c.h"
#include "services/scheduler/service.h"

struct scheduler {
        struct scheduler_config cfg;
        struct registry *reg;
        struct forwarder *fwd;
        struct admission *adm;   /* NULL: cfg.queue_max 0 */
        pthread_t reaper;
        bool reaper_running;
        pthread_mutex_t lock;
        pthread_cond_t wake;     /* CLOCK_MONOTONIC */
        bool stopping;
};

struct registry_scope;

/* Creates waiting in the queue (service_queue.c). _get replies with the
 * create of that name waiting in scope as a Sandbox (CREATING, queued) and
 * returns RPC_OK, or RPC_NOT_FOUND when none waits (nothing replied).
 * _reply_list replies with resp plus the waiting creates in scope, sorted
 * by name: 0, -ENOMEM, -E2BIG (too large for one message). */
int sched_queued_get(struct scheduler *s, struct rpc_call *call, const struct registry_scope *scope,
                     const char *name);
int sched_queued_reply_list(struct scheduler *s, struct rpc_call *call, const struct registry_scope *scope,
                            const Ak__V1__ListSandboxesRequest *req, Ak__V1__ListSandboxesResponse *resp);

/* The client API's handlers (service_sandboxes.c). */
int sched_create_sandbox(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_start_sandbox(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_stop_sandbox(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_extend_sandbox(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_remove_sandbox(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_get_sandbox(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_list_sandboxes(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_exec(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_run(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_write_file(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_read_file(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_mkdir(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_remove_file(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_open_shell(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_shell_input(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_write_stdin(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_shell_resize(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_shell_close(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_take_snapshot(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_list_snapshots(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_delete_snapshot(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_exec_detached(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_get_detached(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_list_detached(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_detached_logs(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int sched_kill_detached(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
