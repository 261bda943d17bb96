/* Shared between lib/rpc's files; nothing outside lib/rpc includes this. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "lib/base/trace.h"
#include "lib/rpc/rpc.h"

/* grpc_init()/grpc_shutdown() are reference counted; every server and
 * channel holds one reference. */
void rpc_grpc_ref(void);
void rpc_grpc_unref(void);

/* One method the server dispatches, flattened over all services. */
struct rpc_method_entry {
        char *path;                             /* "/pkg.Service/Method" */
        const ProtobufCMethodDescriptor *desc;
        enum rpc_kind kind;
        rpc_handler_fn handler;
        void *userdata;
        bool is_health;                         /* never authorized */
};

struct rpc_call {
        struct rpc_server *srv;
        grpc_call *call;
        grpc_completion_queue *cq;              /* pluck, this call's only */
        const struct rpc_method_entry *method;
        char *path;
        gpr_timespec deadline;                  /* monotonic */
        grpc_metadata_array *md;
        char **md_strings;                      /* key, value, ... lazily built */
        size_t n_md_strings;
        char *peer;
        char request_id[AK_REQUEST_ID_MAX + 1];    /* "" until dispatch */
        char traceparent[AK_TRACEPARENT_LEN + 1];  /* "": none, or dropped */

        bool shed;                              /* refuse: too many calls in flight */
        bool server_deadline;                   /* the deadline is the server's own */
        bool deadline_cut;                      /* a batch was cancelled at the deadline */

        int close_cancelled;                    /* written by grpc */
        bool closed;
        bool sent_initial_metadata;
        bool replied;
        grpc_byte_buffer *reply;                /* unary: sent with the status */
        size_t max_message_bytes;

        int status_code;
        char status_msg[AK_ERROR_MAX];
        bool status_set;
        bool elsewhere;                         /* send RPC_LEADER_KEY: leader with the status */
        char leader[RPC_LEADER_MAX + 1];
};

/* Serializes msg into a new byte buffer. -E2BIG past max. */
int rpc_pack(const ProtobufCMessage *msg, size_t max, grpc_byte_buffer **ret);

/* Reads a whole byte buffer and unpacks it as `desc`. NULL on malformed
 * bytes, with the reason in why (NUL-terminated, cut to why_size). */
ProtobufCMessage *rpc_unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc, char *why,
                             size_t why_size);

/* 0 when every string field of the encoded message (at any depth) is valid
 * UTF-8 without NUL bytes; else -EINVAL and the field in why (wire.c). */
int rpc_wire_check_strings(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                           char *why, size_t why_size);

/* Runs one call to completion on the calling thread (server.c → call.c). */
void rpc_call_run(struct rpc_call *call);

/* Server state the call code needs. */
bool rpc_server_cancelling(const struct rpc_server *srv);
bool rpc_server_serving(const struct rpc_server *srv);
bool rpc_server_has_service(const struct rpc_server *srv, const char *name);
const struct rpc_server_options *rpc_server_opts(const struct rpc_server *srv);

/* Counters behind rpc_server_get_stats. */
enum rpc_stat {
        RPC_STAT_REFUSED_AUTH,
        RPC_STAT_SHED,
        RPC_STAT_DEADLINE_CUT,
        RPC_STAT_MESSAGES,
        RPC_STAT_BYTES,
        RPC_STAT_N,
};
void rpc_server_count(struct rpc_server *srv, enum rpc_stat which, uint64_t n);

/* An unauthorized (health) call may read its request while fewer than
 * RPC_MAX_OPEN_RECEIVES others do: true when it may, then _end after. */
bool rpc_server_open_receive_begin(struct rpc_server *srv);
void rpc_server_open_receive_end(struct rpc_server *srv);

/* ak_rpc_server_* metrics (rpc_metrics.c): _begin when a call starts,
 * _end with its status code and how long it took. */
void rpc_metrics_begin(void);
void rpc_metrics_end(const struct rpc_call *call, int code, uint64_t ns);

/* PEM files → credentials (tls.c). */
int rpc_tls_server_creds(const struct rpc_tls *tls, grpc_server_credentials **ret,
                         struct ak_error *err);
int rpc_tls_channel_creds(const struct rpc_tls *tls, grpc_channel_credentials **ret,
                          struct ak_error *err);

/* The built-in grpc.health.v1.Health service (health.c). */
extern const struct rpc_method rpc_health_methods[];
extern const size_t rpc_health_n_methods;

#define RPC_TAG(n) ((void *)(uintptr_t)(n))

/* Client connections (channel.c): the channel's current grpc_channel, held
 * while a call is created or a wait runs on it. */
struct rpc_conn;
struct rpc_conn *rpc_conn_acquire(struct rpc_channel *ch);  /* replaces a stale one first */
void rpc_conn_release(struct rpc_conn *k);                  /* NULL: no-op */
struct rpc_conn *rpc_conn_hold(struct rpc_conn *k);         /* one more reference; returns k */
grpc_channel *rpc_conn_grpc(const struct rpc_conn *k);
/* The next rpc_conn_acquire on a failover channel opens a new connection. */
void rpc_conn_mark_stale(struct rpc_conn *k);
/* Connects; 0 once READY, -ECONNREFUSED when it failed, -ETIMEDOUT at deadline. */
int rpc_conn_wait_ready(struct rpc_conn *k, gpr_timespec deadline);
/* Replaces the channel's connection by a new one, unless it is no longer
 * `seen` (another thread did). */
void rpc_channel_reopen(struct rpc_channel *ch, struct rpc_conn *seen);
/* The channel's failover settings, NULL when off. */
const struct rpc_failover *rpc_channel_failover(const struct rpc_channel *ch);
const char *rpc_channel_bearer(const struct rpc_channel *ch);
