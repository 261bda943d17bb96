/* Forwarding: a client's call goes on to the executor that owns the
 * sandbox, over the cached channel to the address the executor registered.
 *
 * Each forwarded call runs its upstream half (a "pump") on a worker thread
 * of its own, from a pool that grows with concurrent calls and shrinks when
 * idle, and hands messages over one at a time, so the handler thread keeps
 * watching its own call: streams pass through message by message as they
 * arrive (at most one message waits in the scheduler); when the client
 * cancels or its deadline passes, the upstream call is cancelled; when the
 * executor is marked lost, the call ends UNAVAILABLE naming it, within one
 * poll interval. Deadlines propagate (the upstream call gets what is left of
 * the client's).
 *
 * Status codes of the executor pass through with its message, except a
 * NOT_FOUND from an executor that is not the owner (GetStatus names another
 * id: the owner's address was taken over): that is UNAVAILABLE naming both,
 * and the owner is treated as unreachable. UNAVAILABLE,
 * and an upstream stream cut short that the scheduler did not cancel, come
 * back as UNAVAILABLE naming the executor and its address; the executor is
 * then health-checked and, when it does not answer, placement skips it until
 * its next heartbeat. */
#pragma once

#include "lib/base/error.h"
#include "lib/rpc/rpc.h"
#include "services/scheduler/registry.h"

struct forwarder_config {
        const struct rpc_tls *tls;   /* to executors; NULL: plaintext */
        const char *token;           /* bearer token for executors; NULL: none */
        unsigned poll_ms;            /* cancellation/liveness checks; 0: 20 */
};

struct forwarder;

/* `reg` must outlive the forwarder. cfg's strings are copied. */
int forwarder_new(struct registry *reg, const struct forwarder_config *cfg, struct forwarder **ret,
                  struct ak_error *err);

/* Waits (up to 5 s) for workers still finishing cancelled calls, then frees.
 * REQUIRES: no handler is inside forward_*. NULL is a no-op. */
void forwarder_free(struct forwarder *f);

/* Sees each upstream message before it is sent on (e.g. to learn the name
 * a Run's result carries). */
typedef void (*forward_observe_fn)(void *data, const ProtobufCMessage *msg);

/* Forwards unary Executor.`method`. Returns RPC_OK with *ret_resp (the
 * executor's reply; free with protobuf_c_message_free_unpacked), or a status
 * code already recorded on `call` with rpc_call_fail. */
int forward_unary(struct forwarder *f, struct rpc_call *call, const struct registry_route *route,
                  const char *method, const ProtobufCMessage *req, ProtobufCMessage **ret_resp);

/* Forwards server-streaming Executor.`method`, sending each message on to
 * the client as it arrives. Returns the handler's status (RPC_OK, or a code
 * recorded with rpc_call_fail). observe may be NULL. */
int forward_stream(struct forwarder *f, struct rpc_call *call, const struct registry_route *route,
                   const char *method, const ProtobufCMessage *req, forward_observe_fn observe,
                   void *data);

/* Closes channels idle for idle_ms (the reaper calls this). */
void forwarder_prune(struct forwarder *f, int64_t idle_ms);
