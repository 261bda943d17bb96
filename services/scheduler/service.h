/* The Scheduler gRPC service (protos/ak/v1/scheduler.proto) over the
 * registry and the forwarder, plus its background reaper. main.c creates
 * one, passes scheduler_authorize to rpc_server_new and adds the service. */
#pragma once

#include "lib/base/error.h"
#include "lib/rpc/rpc.h"
#include "lib/svc/auth.h"
#include "services/scheduler/caller.h"
#include "services/scheduler/forward.h"
#include "services/scheduler/quota.h"
#include "services/scheduler/registry.h"

struct scheduler_config {
        struct registry_config registry;
        struct forwarder_config forward;
        /* Who may call as a client (which tenant) or as an executor
         * (caller.h). The svc_auths are borrowed: they must outlive the
         * scheduler. */
        struct caller_config callers;
        /* Per-tenant limits on sandboxes, vCPUs, memory. */
        struct quota_table quotas;
        /* Creates and runs that fit no executor yet wait in a fair queue
         * (admission.h) of at most queue_max, until capacity frees or
         * their deadline passes; 0: refused at once (RESOURCE_EXHAUSTED). */
        unsigned queue_max;
        /* How often lost executors are looked for; 0: a quarter of the
         * heartbeat interval, at least 10 ms, at most 1 s. */
        unsigned reap_interval_ms;
};

struct scheduler;

/* Creates the state and starts the reaper thread. */
int scheduler_new(const struct scheduler_config *cfg, struct scheduler **ret, struct ak_error *err);

/* Stops the reaper and frees everything. REQUIRES: the rpc server serving
 * this scheduler has been shut down. NULL is a no-op. */
void scheduler_free(struct scheduler *s);

/* For rpc_server_options.authorize with authorize_data = the scheduler:
 * UNAUTHENTICATED unless the call carries a credential; PERMISSION_DENIED
 * when a client calls RegisterExecutor/Heartbeat or an executor anything
 * else (caller_authorize). */
int scheduler_authorize(struct rpc_call *call, void *data);

/* Adds the Scheduler service to srv (before rpc_server_start). */
int scheduler_add_service(struct scheduler *s, struct rpc_server *srv, struct ak_error *err);
