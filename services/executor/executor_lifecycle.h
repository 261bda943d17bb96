/* The sandbox life cycle (executor_lifecycle.c): create (from a warm pool
 * or a fresh boot), start, stop, remove, and their RPCs with Get and List.
 * Private to services/executor. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/rpc/rpc.h"
#include "protos/ak/v1/executor.pb-c.h"

struct executor;
struct sandbox;
struct svc_phases;
struct vmbox;

/* A removed sandbox's VM waiting for the janitor (on ex->disposals, under
 * ex->lock). */
struct disposal {
        struct vmbox *box;
        char dir[PATH_MAX];
        struct disposal *next;
};

/* Checks spec, adds the sandbox to the table and boots it. Fails call and
 * returns its code; *ret is the sandbox with a reference for the caller
 * on RPC_OK, and also when the boot failed or its audit event could not
 * be stored (state ERROR, still in the table). ph (may be NULL) gets the
 * phases: check, audit_created, vm, record, audit_started. */
int lifecycle_create(struct executor *ex, const Ak__V1__SandboxSpec *spec, struct rpc_call *call,
                     struct svc_phases *ph, struct sandbox **ret);
/* Takes the sandbox out of the table (its name is free at once) and stops
 * and deletes its VM: before returning, or with `later` in the background
 * (a one-shot run answers without waiting for its VM to go; executor_free
 * still waits for every VM). -ENOENT for an unknown name; another -errno
 * when it was removed but its audit events could not be stored (the queue
 * on disk: audit_emit), which the caller reports with audit_refuse. */
int lifecycle_remove(struct executor *ex, const char *name, struct rpc_call *call, bool later);
/* Stops and deletes the queued VMs (takes and drops ex->lock). */
void lifecycle_dispose_queued(struct executor *ex);
/* REQUIRES ex->lock. vCPUs and memory held by sandboxes and pool VMs. */
void lifecycle_allocated_locked(struct executor *ex, unsigned *vcpus, uint64_t *mem);

/* RPC handlers (userdata: the executor). */
int lifecycle_handle_create(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int lifecycle_handle_start(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int lifecycle_handle_stop(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
/* ExtendSandbox: moves expires_at_ms later (the janitor reads it under ex->lock). */
int lifecycle_handle_extend(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int lifecycle_handle_remove(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int lifecycle_handle_get(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int lifecycle_handle_list(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
