/* lib/rpc: gRPC for ak's services, on the gRPC C core with protobuf-c
 * messages. The only code in the tree that touches <grpc/grpc.h>.
 *
 * Server model: handlers are plain blocking functions. Each call runs on a
 * worker thread of its own from the moment it arrives until the handler
 * returns; the pool grows when every worker is busy (long server-streams do
 * not starve short calls) up to limits.max_calls, and shrinks back when
 * idle. Calls past the limit are refused RESOURCE_EXHAUSTED, not queued. A
 * call is authorized from its headers before its request is read.
 *
 * Status codes are gRPC's (enum rpc_code, same numbers as grpc_status_code).
 * Every error carries a message meant for a person. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum rpc_code {
        RPC_OK = 0,
        RPC_CANCELLED = 1,
        RPC_UNKNOWN = 2,
        RPC_INVALID_ARGUMENT = 3,
        RPC_DEADLINE_EXCEEDED = 4,
        RPC_NOT_FOUND = 5,
        RPC_ALREADY_EXISTS = 6,
        RPC_PERMISSION_DENIED = 7,
        RPC_RESOURCE_EXHAUSTED = 8,
        RPC_FAILED_PRECONDITION = 9,
        RPC_ABORTED = 10,
        RPC_OUT_OF_RANGE = 11,
        RPC_UNIMPLEMENTED = 12,
        RPC_INTERNAL = 13,
        RPC_UNAVAILABLE = 14,
        RPC_DATA_LOSS = 15,
        RPC_UNAUTHENTICATED = 16,
};

/* "NOT_FOUND" etc.; "CODE_<n>" for numbers outside the table (static string). */
const char *rpc_code_name(int code);

/* Default limit on one message in either direction (16 MiB). */
#define RPC_DEFAULT_MAX_MESSAGE_BYTES (16u << 20)

/* TLS material, PEM files. For a server: cert_file + key_file are required;
 * ca_file set means mTLS: every client must present a certificate that
 * verifies against it (require_client_cert says so too, and is refused
 * without ca_file). For a
 * client: ca_file verifies the server (NULL: the system roots); cert_file +
 * key_file present a client certificate; server_name overrides the name the
 * server's certificate must carry (default: the target's host). */
struct rpc_tls {
        const char *ca_file;
        const char *cert_file;
        const char *key_file;
        bool require_client_cert;
        const char *server_name;
};

/* ---- server ------------------------------------------------------------ */

struct rpc_server;
struct rpc_call;

enum rpc_kind {
        RPC_UNARY,              /* one request, one response */
        RPC_SERVER_STREAMING,   /* one request, zero or more responses */
};

/* A handler runs on its own worker thread and may block. It returns RPC_OK or
 * a status code. Before returning RPC_OK, a unary handler calls
 * rpc_call_reply() exactly once; a streaming handler calls rpc_call_send()
 * zero or more times. To fail with words use `return rpc_call_fail(...)`.
 * `req` is owned by the rpc layer and valid until the handler returns. */
typedef int (*rpc_handler_fn)(struct rpc_call *call, const ProtobufCMessage *req,
                              void *userdata);

struct rpc_method {
        const char *name;      /* the method's name in the .proto, e.g. "Exec" */
        enum rpc_kind kind;    /* protoc-c drops `stream`: say it here */
        rpc_handler_fn handler;
};

/* Called for every call except the health service's, from the call's
 * initial metadata alone, BEFORE its request message is read: a refused call
 * costs no more than its headers. Returns RPC_OK to let the call through, or a
 * code (with rpc_call_fail for the message). rpc_call_metadata, _peer and
 * _method work here; the request is not there yet. */
typedef int (*rpc_authorize_fn)(struct rpc_call *call, void *userdata);

/* Limits (0: the default in brackets). Past max_calls a call is refused at
 * once with RESOURCE_EXHAUSTED (no worker waits for it); a call whose client
 * set no deadline gets call_deadline_ms (unary) or stream_deadline_ms
 * (server streams) from the server, and ends DEADLINE_EXCEEDED past it.
 * Health calls, which no one authorizes, read their request only while
 * fewer than RPC_MAX_OPEN_RECEIVES of them are reading one, for at most
 * RPC_OPEN_RECEIVE_MS. The server also pings idle clients
 * (RPC_KEEPALIVE_MS, dropping those that do not answer in
 * RPC_KEEPALIVE_TIMEOUT_MS) and drops connections that have not finished
 * their handshake after RPC_HANDSHAKE_TIMEOUT_MS. */
struct rpc_server_limits {
        unsigned max_calls;            /* calls in flight, streams included [256] */
        unsigned max_conn_streams;     /* concurrent streams per connection [128] */
        int64_t idle_conn_ms;          /* close connections without calls for this long [300000] */
        int64_t call_deadline_ms;      /* unary calls without a client deadline [600000] */
        int64_t stream_deadline_ms;    /* streams without a client deadline [86400000] */
};

#define RPC_DEFAULT_MAX_CALLS 256u
#define RPC_DEFAULT_MAX_CONN_STREAMS 128u
#define RPC_DEFAULT_IDLE_CONN_MS 300000
#define RPC_DEFAULT_CALL_DEADLINE_MS 600000
#define RPC_DEFAULT_STREAM_DEADLINE_MS 86400000
#define RPC_MAX_OPEN_RECEIVES 4
#define RPC_OPEN_RECEIVE_MS 5000
#define RPC_KEEPALIVE_MS 60000
#define RPC_KEEPALIVE_TIMEOUT_MS 20000
#define RPC_HANDSHAKE_TIMEOUT_MS 20000

struct rpc_server_options {
        size_t max_message_bytes;  /* 0: RPC_DEFAULT_MAX_MESSAGE_BYTES */
        struct rpc_server_limits limits;
        rpc_authorize_fn authorize;
        void *authorize_data;
};

/* What a server has done so far, for tests and logs. */
struct rpc_server_stats {
        uint64_t calls;              /* calls taken from the core */
        uint64_t refused_auth;       /* refused by authorize, before reading a message */
        uint64_t shed;               /* refused RESOURCE_EXHAUSTED: max_calls or open receives */
        uint64_t deadline_cut;       /* ended by the server's own deadline */
        uint64_t messages_read;      /* request messages read */
        uint64_t bytes_read;         /* their bytes */
        unsigned in_flight;          /* calls being served now */
        unsigned workers, peak_workers;
};

void rpc_server_get_stats(struct rpc_server *srv, struct rpc_server_stats *ret);

/* Creates a server (not yet listening). opts may be NULL. */
int rpc_server_new(const struct rpc_server_options *opts, struct rpc_server **ret,
                   struct ak_error *err);

/* Adds a listener: "host:port" (port 0 picks one), "unix:/path" (an existing
 * socket file is replaced). tls NULL means plaintext. The bound TCP port is
 * written to *ret_port when non-NULL (0 for unix:). Before rpc_server_start. */
int rpc_server_listen(struct rpc_server *srv, const char *addr, const struct rpc_tls *tls,
                      int *ret_port, struct ak_error *err);

/* Serves `service`'s methods listed in `methods` (names are checked against
 * the descriptor; a method of the descriptor missing from the list answers
 * UNIMPLEMENTED). `userdata` is passed to every handler. The service's name
 * is also reported SERVING by grpc.health.v1.Health. Before rpc_server_start. */
int rpc_server_add_service(struct rpc_server *srv, const ProtobufCServiceDescriptor *service,
                           const struct rpc_method *methods, size_t n_methods, void *userdata,
                           struct ak_error *err);

int rpc_server_start(struct rpc_server *srv, struct ak_error *err);

/* Graceful shutdown: stops accepting calls, lets in-flight calls finish for up
 * to grace_ms, then cancels the rest (their handlers see
 * rpc_call_cancelled()), waits for every handler to return, and frees the
 * server. NULL is a no-op. Call once, from a thread that is not a handler. */
void rpc_server_shutdown(struct rpc_server *srv, unsigned grace_ms);

/* Marks the whole server NOT_SERVING for health checks (e.g. while draining,
 * or a follower replica that must get no traffic). Health's service
 * RPC_HEALTH_LIVENESS stays SERVING: a liveness probe that asks for it
 * checks only that the process answers, so a NOT_SERVING replica is taken
 * out of a Service (readiness) without being restarted (liveness). */
#define RPC_HEALTH_LIVENESS "liveness"
void rpc_server_set_serving(struct rpc_server *srv, bool serving);

/* ---- inside a handler -------------------------------------------------- */

/* Sends the unary response (the message is serialized before return; the
 * caller keeps ownership). Returns 0, -EALREADY if already replied,
 * -ECANCELED if the client is gone, -E2BIG past the message limit. */
int rpc_call_reply(struct rpc_call *call, const ProtobufCMessage *resp);

/* Sends one message of a server stream, blocking while flow control holds it
 * back. Returns 0, -ECANCELED when the client cancelled, the deadline passed
 * or the server is shutting down (stop producing and return), or -E2BIG. */
int rpc_call_send(struct rpc_call *call, const ProtobufCMessage *msg);

/* Records the status message and returns code: `return rpc_call_fail(call,
 * RPC_NOT_FOUND, "no sandbox named %s", name);` */
int rpc_call_fail(struct rpc_call *call, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* "Retry elsewhere": this server refused the call before doing anything
 * with it (it has not read the request) because another replica serves
 * it: a follower naming its leader. Sends the status UNAVAILABLE with the
 * message and the trailing metadata RPC_LEADER_KEY: leader (the replica to
 * use, "" when none is known yet; bytes outside printable ASCII are
 * dropped, cut to RPC_LEADER_MAX). A client may send such a call again,
 * whatever it was (see "Failover" below). Returns RPC_UNAVAILABLE: `return
 * rpc_call_refuse_elsewhere(call, "sched-1", "...")`. REQUIRES: the call's
 * request has not been acted on (call it from authorize). */
#define RPC_LEADER_KEY "ak-leader"
#define RPC_LEADER_MAX 253
int rpc_call_refuse_elsewhere(struct rpc_call *call, const char *leader, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* True once the client cancelled, the deadline passed, or the server is
 * cancelling calls at shutdown. Cheap; poll it in long loops. */
bool rpc_call_cancelled(struct rpc_call *call);

/* Milliseconds until the call's deadline (INT64_MAX when it has none; <= 0
 * when it has passed). */
int64_t rpc_call_remaining_ms(struct rpc_call *call);

/* The value of request metadata `key` (lowercase), NUL-terminated, valid
 * until the handler returns; NULL when absent or not text. */
const char *rpc_call_metadata(struct rpc_call *call, const char *key);

/* The call's request id (its client's valid x-request-id, else one the
 * server made: never NULL for a call that reached authorize or a handler)
 * and the client's valid W3C traceparent (NULL when none). lib/base/trace.h
 * says what is valid. Valid until the handler returns. */
const char *rpc_call_request_id(struct rpc_call *call);
const char *rpc_call_traceparent(struct rpc_call *call);

/* The peer's address ("ipv4:127.0.0.1:5555", "unix:..."), valid until return. */
const char *rpc_call_peer(struct rpc_call *call);

/* "/package.Service/Method" */
const char *rpc_call_method(struct rpc_call *call);

/* The subject CN of the client certificate the peer presented over TLS,
 * which the server verified against its --tls-ca (a server with a CA never
 * accepts an unverified one), copied into buf. Returns 0; -ENOENT when the
 * call is not over TLS or the peer sent no certificate (or one without a
 * CN); -ENAMETOOLONG when the CN does not fit in size. */
int rpc_call_peer_cn(struct rpc_call *call, char *buf, size_t size);

/* ---- gRPC's own messages ------------------------------------------------ */

enum rpc_log_severity { RPC_LOG_DEBUG, RPC_LOG_INFO, RPC_LOG_ERROR };

/* Where gRPC's own messages go (its gpr_log lines: bind failures, broken
 * connections): fn gets each one with gRPC's source file and line, on
 * whatever gRPC thread logs it. Until set: gRPC's default, free text on
 * stderr; NULL changes nothing. Set once, before the first server or
 * channel (it is process-wide). */
void rpc_set_log(void (*fn)(enum rpc_log_severity severity, const char *file, int line, const char *msg));

/* ---- client ------------------------------------------------------------ */

struct rpc_channel;

/* A channel to `target` ("host:port" or "unix:/path"). tls NULL: plaintext.
 * Connects lazily; thread-safe; share one per target. */
int rpc_channel_new(const char *target, const struct rpc_tls *tls, struct rpc_channel **ret,
                    struct ak_error *err);
void rpc_channel_free(struct rpc_channel *ch);
const char *rpc_channel_target(const struct rpc_channel *ch);

/* Every later call on `ch` whose options carry no bearer_token sends this
 * one ("authorization: Bearer <token>"); NULL stops that. The token is
 * copied. REQUIRES: no call on `ch` is in flight (set it before sharing the
 * channel). Returns 0 or -ENOMEM. */
int rpc_channel_set_bearer_token(struct rpc_channel *ch, const char *token);

/* ---- failover ----------------------------------------------------------
 * For a target that is several replicas behind one address (a Kubernetes
 * Service in front of scheduler replicas, one of them leader). A channel
 * with failover on makes each unary call like this, within the call's
 * deadline (timeout_ms; budget_ms when it has none) and max_attempts:
 *   1. connect first: wait until the channel's connection is READY. When it
 *      cannot connect (the replica behind it died), nothing was sent: drop
 *      the connection, open a new one to the same target (a new TCP
 *      connection, which the Service may route to another replica), back
 *      off, try again.
 *   2. send the call. UNAVAILABLE with the RPC_LEADER_KEY trailer (a
 *      follower refused it before doing anything): safe for any call, so
 *      reopen, back off and send it again.
 *      UNAVAILABLE without it (the connection broke during the call): the
 *      call may have been done; sent again only when the options say
 *      `idempotent`, else the error goes to the caller, saying so.
 * Back-off: first_backoff_ms, doubling, at most max_backoff_ms.
 * Why the same target and not the leader the trailer names: the trailer
 * names a replica (a pod), not an address this client can reach; TLS
 * certificates name the Service; and a follower is NOT_SERVING to
 * readiness, so the Service soon routes to the leader only.
 * Server streams are not sent again (output may have been seen): a stream
 * refused with the trailer ends UNAVAILABLE with words saying nothing was
 * done and to run it again, and the channel's next call reconnects. A
 * stream's open also connects first (1. above). */
#define RPC_FAILOVER_MAX_ATTEMPTS 100u
#define RPC_FAILOVER_DEFAULT_ATTEMPTS 20u
#define RPC_FAILOVER_DEFAULT_FIRST_BACKOFF_MS 25
#define RPC_FAILOVER_DEFAULT_MAX_BACKOFF_MS 500
#define RPC_FAILOVER_DEFAULT_BUDGET_MS 30000
struct rpc_failover {
        unsigned max_attempts;     /* sends and connects, 1-RPC_FAILOVER_MAX_ATTEMPTS [20] */
        int64_t first_backoff_ms;  /* [25] */
        int64_t max_backoff_ms;    /* [500] */
        int64_t budget_ms;         /* for calls without a deadline [30000] */
};

/* Turns failover on (fo: 0 fields take the defaults) or off (NULL).
 * REQUIRES: no call on `ch` in flight. 0 or -EINVAL (a field out of range). */
int rpc_channel_set_failover(struct rpc_channel *ch, const struct rpc_failover *fo);

/* How many times the channel has opened a new connection (tests, logs). */
unsigned rpc_channel_reopened(const struct rpc_channel *ch);

struct rpc_call_options {
        int64_t timeout_ms;          /* 0: no deadline */
        const char *bearer_token;    /* sent as "authorization: Bearer <token>" */
        size_t max_message_bytes;    /* 0: RPC_DEFAULT_MAX_MESSAGE_BYTES */
        bool wait_for_ready;         /* wait for the channel instead of failing
                                        fast with UNAVAILABLE */
        /* One more request metadata entry, e.g. "x-ak-tenant": key lowercase
         * ASCII; NULL: none. */
        const char *metadata_key;
        const char *metadata_value;
        /* Sent as x-request-id and traceparent (lib/base/trace.h); NULL: the
         * calling thread's trace context (a handler's own call, or what
         * ak_trace_set put there), if any. Invalid values are not sent. */
        const char *request_id;
        const char *traceparent;
        /* Doing the call twice is harmless (a read, a heartbeat): with
         * failover, sent again after a connection that broke mid-call too. */
        bool idempotent;
};

/* Calls `service`.`method` with `req`. On RPC_OK, *ret_resp is a message of
 * the method's output type, freed by the caller with
 * protobuf_c_message_free_unpacked(resp, NULL). Otherwise returns the status
 * code and fills err with "Method: CODE: message". opts may be NULL. */
int rpc_unary(struct rpc_channel *ch, const ProtobufCServiceDescriptor *service,
              const char *method, const ProtobufCMessage *req,
              const struct rpc_call_options *opts, ProtobufCMessage **ret_resp,
              struct ak_error *err);

struct rpc_stream;

/* Starts a server-streaming call. Returns RPC_OK with *ret_stream set, or a
 * status code (err filled) when the call could not even start. */
int rpc_stream_open(struct rpc_channel *ch, const ProtobufCServiceDescriptor *service,
                    const char *method, const ProtobufCMessage *req,
                    const struct rpc_call_options *opts, struct rpc_stream **ret_stream,
                    struct ak_error *err);

/* Waits for the next message. Returns 1 with *ret_msg set (free it with
 * protobuf_c_message_free_unpacked), 0 at the end of a successful stream, or
 * a negative status code (-RPC_NOT_FOUND ...) with err filled when the stream
 * ended in an error. After 0 or an error, further calls return the same. */
int rpc_stream_next(struct rpc_stream *st, ProtobufCMessage **ret_msg, struct ak_error *err);

/* Cancels the call (the server's handler sees rpc_call_cancelled()). Safe
 * from another thread while rpc_stream_next blocks. */
void rpc_stream_cancel(struct rpc_stream *st);

/* Cancels if still running, and frees. NULL is a no-op. */
void rpc_stream_free(struct rpc_stream *st);

/* grpc.health.v1.Health/Check of `service` ("" for the whole server).
 * Returns RPC_OK when SERVING; RPC_UNAVAILABLE when NOT_SERVING; else the
 * call's status. */
int rpc_health_check(struct rpc_channel *ch, const char *service, int64_t timeout_ms,
                     struct ak_error *err);

#ifdef __cplusplus
}
#endif
