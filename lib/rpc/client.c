/* The client: channels, unary calls and server streams, each call on a pluck
 * completion queue of its own so any number of threads can call at once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/rpc/internal.h"
#include "protos/grpc/health/v1/health.pb-c.h"

enum { TAG_START = 1, TAG_MSG, TAG_STATUS };

struct rpc_stream {
        grpc_call *call;
        grpc_completion_queue *cq;
        const ProtobufCMethodDescriptor *method;
        char *path;
        grpc_metadata_array initial_md;
        grpc_metadata_array trailing_md;
        grpc_status_code status;
        grpc_slice details;
        grpc_metadata md[4];        /* authorization, opts' metadata_key, x-request-id, traceparent */
        size_t n_md;
        char *auth_value;
        grpc_byte_buffer *request;  /* the sent request, until TAG_START completes */
        struct rpc_conn *conn;      /* held until destroyed */
        bool start_done;
        bool ended;
        bool elsewhere;             /* refused with RPC_LEADER_KEY */
        char leader[RPC_LEADER_MAX + 1];
        int result;                 /* 0 or -code once ended */
        char error[AK_ERROR_MAX];
};

static const ProtobufCMethodDescriptor *find_method(const ProtobufCServiceDescriptor *service,
                                                    const char *name)
{
        for (unsigned i = 0; i < service->n_methods; i++)
                if (strcmp(service->methods[i].name, name) == 0)
                        return &service->methods[i];
        return NULL;
}

static void stream_destroy(struct rpc_stream *st)
{
        /* The queue drain below also collects TAG_START if still pending. */
        if (st->call)
                grpc_call_unref(st->call);
        if (st->cq) {
                grpc_completion_queue_shutdown(st->cq);
                while (grpc_completion_queue_pluck(st->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                               .type != GRPC_QUEUE_SHUTDOWN)
                        ;
                grpc_completion_queue_destroy(st->cq);
        }
        if (st->request)
                grpc_byte_buffer_destroy(st->request);
        grpc_metadata_array_destroy(&st->initial_md);
        grpc_metadata_array_destroy(&st->trailing_md);
        grpc_slice_unref(st->details);
        for (size_t i = 0; i < st->n_md; i++) {
                grpc_slice_unref(st->md[i].key);
                grpc_slice_unref(st->md[i].value);
        }
        if (st->auth_value)
                explicit_bzero(st->auth_value, strlen(st->auth_value));
        free(st->auth_value);
        free(st->path);
        rpc_conn_release(st->conn);
        free(st);
}

static grpc_event pluck(struct rpc_stream *st, int tag)
{
        return grpc_completion_queue_pluck(st->cq, RPC_TAG(tag), gpr_inf_future(GPR_CLOCK_REALTIME),
                                           NULL);
}

/* x-request-id and traceparent: the options', else the thread's context. */
static void add_trace_metadata(struct rpc_stream *st, const struct rpc_call_options *opts)
{
        const char *id = opts && opts->request_id ? opts->request_id : ak_trace_request_id();
        const char *tp = opts && opts->traceparent ? opts->traceparent : ak_trace_traceparent();
        if (id && ak_request_id_valid(id, strlen(id))) {
                st->md[st->n_md].key = grpc_slice_from_copied_string(AK_REQUEST_ID_HEADER);
                st->md[st->n_md++].value = grpc_slice_from_copied_string(id);
        }
        if (tp && ak_traceparent_valid(tp, strlen(tp))) {
                st->md[st->n_md].key = grpc_slice_from_copied_string(AK_TRACEPARENT_HEADER);
                st->md[st->n_md++].value = grpc_slice_from_copied_string(tp);
        }
}

/* The call's deadline from its options (monotonic; infinite: none). */
static gpr_timespec options_deadline(const struct rpc_call_options *opts)
{
        if (opts && opts->timeout_ms > 0)
                return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(opts->timeout_ms, GPR_TIMESPAN));
        return gpr_inf_future(GPR_CLOCK_MONOTONIC);
}

/* Creates the call on conn (the stream takes over the caller's reference,
 * also on failure) and sends the request; the status op runs from the start. */
static int call_start(struct rpc_channel *ch, struct rpc_conn *conn, gpr_timespec deadline,
                      const ProtobufCServiceDescriptor *service, const char *method, const ProtobufCMessage *req,
                      const struct rpc_call_options *opts, struct rpc_stream **ret, struct ak_error *err)
{
        const ProtobufCMethodDescriptor *md = find_method(service, method);
        if (!md) {
                rpc_conn_release(conn);
                return ak_error_set(err, RPC_UNIMPLEMENTED, "%s has no method %s", service->name, method);
        }
        if (req->descriptor != md->input) {
                rpc_conn_release(conn);
                return ak_error_set(err, RPC_INVALID_ARGUMENT, "%s.%s takes %s, not %s", service->name,
                                    method, md->input->name, req->descriptor->name);
        }
        struct rpc_stream *st = calloc(1, sizeof(*st));
        if (!st) {
                rpc_conn_release(conn);
                return ak_error_set(err, RPC_RESOURCE_EXHAUSTED, "%s: out of memory", method);
        }
        st->conn = conn;
        st->method = md;
        st->details = grpc_empty_slice();
        grpc_metadata_array_init(&st->initial_md);
        grpc_metadata_array_init(&st->trailing_md);
        if (asprintf(&st->path, "/%s/%s", service->name, method) < 0) {
                st->path = NULL;
                stream_destroy(st);
                return ak_error_set(err, RPC_RESOURCE_EXHAUSTED, "%s: out of memory", method);
        }
        st->cq = grpc_completion_queue_create_for_pluck(NULL);
        /* Copied, refcounted slices: the transport's HPACK table may keep
         * them past this call (static slices must live forever). */
        grpc_slice path = grpc_slice_from_copied_string(st->path);
        st->call = grpc_channel_create_call(rpc_conn_grpc(conn), NULL, GRPC_PROPAGATE_DEFAULTS, st->cq, path,
                                            NULL, deadline, NULL);
        grpc_slice_unref(path);

        grpc_byte_buffer *bb;
        if (rpc_pack(req, INT32_MAX, &bb) < 0) {
                stream_destroy(st);
                return ak_error_set(err, RPC_RESOURCE_EXHAUSTED, "%s: request larger than 2 GiB", method);
        }
        grpc_op ops[4];
        memset(ops, 0, sizeof(ops));
        size_t n = 0;
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        const char *token = opts && opts->bearer_token ? opts->bearer_token : rpc_channel_bearer(ch);
        if (token) {
                if (asprintf(&st->auth_value, "Bearer %s", token) < 0)
                        st->auth_value = NULL;
                if (st->auth_value) {
                        st->md[st->n_md].key = grpc_slice_from_copied_string("authorization");
                        st->md[st->n_md++].value = grpc_slice_from_copied_string(st->auth_value);
                }
        }
        if (opts && opts->metadata_key) {
                st->md[st->n_md].key = grpc_slice_from_copied_string(opts->metadata_key);
                st->md[st->n_md++].value = grpc_slice_from_copied_string(opts->metadata_value ? opts->metadata_value : "");
        }
        add_trace_metadata(st, opts);
        ops[n].data.send_initial_metadata.count = st->n_md;
        ops[n].data.send_initial_metadata.metadata = st->md;
        if (opts && opts->wait_for_ready)
                ops[n].flags = GRPC_INITIAL_METADATA_WAIT_FOR_READY;
        n++;
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = bb;
        ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[n++].data.recv_initial_metadata.recv_initial_metadata = &st->initial_md;
        grpc_call_error e = grpc_call_start_batch(st->call, ops, n, RPC_TAG(TAG_START), NULL);

        grpc_op sop;
        memset(&sop, 0, sizeof(sop));
        sop.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        sop.data.recv_status_on_client.trailing_metadata = &st->trailing_md;
        sop.data.recv_status_on_client.status = &st->status;
        sop.data.recv_status_on_client.status_details = &st->details;
        if (e == GRPC_CALL_OK)
                e = grpc_call_start_batch(st->call, &sop, 1, RPC_TAG(TAG_STATUS), NULL);
        if (e != GRPC_CALL_OK) {
                grpc_byte_buffer_destroy(bb);
                grpc_call_cancel(st->call, NULL);
                stream_destroy(st);
                return ak_error_set(err, RPC_INTERNAL, "%s: cannot start call (%d)", method, e);
        }
        /* Not waiting for TAG_START here: it includes the server's initial
         * metadata, which a server may send only with its first message (a
         * stream that has nothing to say yet would block the open). */
        st->request = bb;
        *ret = st;
        return RPC_OK;
}

/* Once the server has sent something, the start batch is complete (or
 * completes at once): reap it and free the request. */
static void start_reap(struct rpc_stream *st)
{
        if (st->start_done)
                return;
        pluck(st, TAG_START);
        st->start_done = true;
        grpc_byte_buffer_destroy(st->request);
        st->request = NULL;
}

/* Waits for the status and turns it into the stream's result. */
static int stream_finish(struct rpc_stream *st)
{
        if (st->ended)
                return st->result;
        pluck(st, TAG_STATUS);
        start_reap(st);
        st->ended = true;
        if (st->status == GRPC_STATUS_OK) {
                st->result = 0;
                return 0;
        }
        for (size_t i = 0; st->status == GRPC_STATUS_UNAVAILABLE && i < st->trailing_md.count; i++) {
                const grpc_metadata *m = &st->trailing_md.metadata[i];
                if (!grpc_slice_str_cmp(m->key, RPC_LEADER_KEY)) {
                        size_t n = GRPC_SLICE_LENGTH(m->value);
                        n = n > RPC_LEADER_MAX ? RPC_LEADER_MAX : n;
                        memcpy(st->leader, GRPC_SLICE_START_PTR(m->value), n);
                        st->leader[n] = 0;
                        st->elsewhere = true;
                        rpc_conn_mark_stale(st->conn);
                }
        }
        char *details = grpc_slice_to_c_string(st->details);
        snprintf(st->error, sizeof(st->error), "%s: %s: %s%s", st->path, rpc_code_name(st->status),
                 details && *details ? details : "(no message)",
                 st->elsewhere ? " (refused before it started: nothing was done, sending it again is safe)" : "");
        gpr_free(details);
        st->result = -(int)st->status;
        return st->result;
}

/* ---- failover (rpc.h) ---------------------------------------------------- */

/* Sleeps the back-off when it ends before `until`, then doubles it; false
 * when there is no time left for it. */
static bool backoff_sleep(int64_t *backoff_ms, const struct rpc_failover *fo, gpr_timespec until)
{
        gpr_timespec wake = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(*backoff_ms, GPR_TIMESPAN));
        if (gpr_time_cmp(wake, until) >= 0)
                return false;
        gpr_sleep_until(wake);
        *backoff_ms = *backoff_ms * 2 > fo->max_backoff_ms ? fo->max_backoff_ms : *backoff_ms * 2;
        return true;
}

/* When retries stop: the call's deadline, else budget_ms from now. */
static gpr_timespec retry_until(const struct rpc_failover *fo, gpr_timespec deadline)
{
        if (gpr_time_cmp(deadline, gpr_inf_future(GPR_CLOCK_MONOTONIC)) != 0)
                return deadline;
        return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(fo->budget_ms, GPR_TIMESPAN));
}

/* Step 1: waits until *conn is connected, opening a new connection while
 * it cannot connect (nothing has been sent). RPC_OK with *conn held and
 * READY; else *conn was released and err says why. */
static int connect_first(struct rpc_channel *ch, const struct rpc_failover *fo, struct rpc_conn **conn,
                         gpr_timespec deadline, const char *method, struct ak_error *err)
{
        gpr_timespec until = retry_until(fo, deadline);
        int64_t backoff = fo->first_backoff_ms;
        for (unsigned attempt = 1;; attempt++) {
                int r = rpc_conn_wait_ready(*conn, until);
                if (r == 0)
                        return RPC_OK;
                if (r == -ETIMEDOUT || attempt >= fo->max_attempts || !backoff_sleep(&backoff, fo, until)) {
                        int code = r == -ETIMEDOUT ? RPC_DEADLINE_EXCEEDED : RPC_UNAVAILABLE;
                        rpc_conn_release(*conn);
                        *conn = NULL;
                        return ak_error_set(err, code,
                                            "%s: %s: cannot connect to %s (%u attempts, each on a new connection): "
                                            "is the service up?",
                                            method, rpc_code_name(code), rpc_channel_target(ch), attempt);
                }
                rpc_channel_reopen(ch, *conn);
                rpc_conn_release(*conn);
                *conn = rpc_conn_acquire(ch);
        }
}

int rpc_stream_open(struct rpc_channel *ch, const ProtobufCServiceDescriptor *service,
                    const char *method, const ProtobufCMessage *req,
                    const struct rpc_call_options *opts, struct rpc_stream **ret_stream,
                    struct ak_error *err)
{
        gpr_timespec deadline = options_deadline(opts);
        struct rpc_conn *conn = rpc_conn_acquire(ch);
        const struct rpc_failover *fo = rpc_channel_failover(ch);
        if (fo && !(opts && opts->wait_for_ready)) {
                int r = connect_first(ch, fo, &conn, deadline, method, err);
                if (r != RPC_OK)
                        return r;
        }
        return call_start(ch, conn, deadline, service, method, req, opts, ret_stream, err);
}

int rpc_stream_next(struct rpc_stream *st, ProtobufCMessage **ret_msg, struct ak_error *err)
{
        if (!st->ended) {
                grpc_byte_buffer *payload = NULL;
                grpc_op op;
                memset(&op, 0, sizeof(op));
                op.op = GRPC_OP_RECV_MESSAGE;
                op.data.recv_message.recv_message = &payload;
                if (grpc_call_start_batch(st->call, &op, 1, RPC_TAG(TAG_MSG), NULL) == GRPC_CALL_OK)
                        pluck(st, TAG_MSG);
                if (payload)
                        start_reap(st);
                if (payload) {
                        char why[256];
                        ProtobufCMessage *msg = rpc_unpack(payload, st->method->output, why, sizeof(why));
                        grpc_byte_buffer_destroy(payload);
                        if (msg) {
                                *ret_msg = msg;
                                return 1;
                        }
                        grpc_call_cancel(st->call, NULL);
                        stream_finish(st);
                        snprintf(st->error, sizeof(st->error), "%s: INTERNAL: response %s", st->path, why);
                        st->result = -RPC_INTERNAL;
                }
        }
        int r = stream_finish(st);
        if (r < 0)
                ak_error_set(err, -r, "%s", st->error);
        return r;
}

void rpc_stream_cancel(struct rpc_stream *st)
{
        grpc_call_cancel(st->call, NULL);
}

void rpc_stream_free(struct rpc_stream *st)
{
        if (!st)
                return;
        if (!st->ended) {
                grpc_call_cancel(st->call, NULL);
                stream_finish(st);
        }
        stream_destroy(st);
}

/* One unary call on conn (taken over). *ret_elsewhere: refused with RPC_LEADER_KEY. */
static int unary_once(struct rpc_channel *ch, struct rpc_conn *conn, gpr_timespec deadline,
                      const ProtobufCServiceDescriptor *service, const char *method, const ProtobufCMessage *req,
                      const struct rpc_call_options *opts, ProtobufCMessage **ret_resp, bool *ret_elsewhere,
                      struct ak_error *err)
{
        struct rpc_stream *st;
        *ret_elsewhere = false;
        int r = call_start(ch, conn, deadline, service, method, req, opts, &st, err);
        if (r != RPC_OK)
                return r;
        ProtobufCMessage *msg = NULL;
        r = rpc_stream_next(st, &msg, err);
        *ret_elsewhere = st->elsewhere;
        if (r == 1) {
                /* A unary call ends after its one message; its status decides. */
                int s = stream_finish(st);
                if (s < 0) {
                        protobuf_c_message_free_unpacked(msg, NULL);
                        ak_error_set(err, -s, "%s", st->error);
                        rpc_stream_free(st);
                        return -s;
                }
                *ret_resp = msg;
                rpc_stream_free(st);
                return RPC_OK;
        }
        if (r == 0) {
                ak_error_set(err, RPC_INTERNAL, "%s: INTERNAL: server sent OK without a response", st->path);
                r = -RPC_INTERNAL;
        }
        rpc_stream_free(st);
        return -r;
}

int rpc_unary(struct rpc_channel *ch, const ProtobufCServiceDescriptor *service,
              const char *method, const ProtobufCMessage *req,
              const struct rpc_call_options *opts, ProtobufCMessage **ret_resp,
              struct ak_error *err)
{
        const struct rpc_failover *fo = rpc_channel_failover(ch);
        gpr_timespec deadline = options_deadline(opts);
        bool elsewhere;
        if (!fo)
                return unary_once(ch, rpc_conn_acquire(ch), deadline, service, method, req, opts, ret_resp,
                                  &elsewhere, err);
        gpr_timespec until = retry_until(fo, deadline);
        bool idempotent = opts && opts->idempotent, wait = opts && opts->wait_for_ready;
        int64_t backoff = fo->first_backoff_ms;
        for (unsigned attempt = 1;; attempt++) {
                struct rpc_conn *conn = rpc_conn_acquire(ch);
                if (!wait) {
                        int r = connect_first(ch, fo, &conn, until, method, err);
                        if (r != RPC_OK)
                                return r;
                }
                struct rpc_conn *seen = rpc_conn_hold(conn);
                int r = unary_once(ch, conn, deadline, service, method, req, opts, ret_resp, &elsewhere, err);
                bool again = r == RPC_UNAVAILABLE && (elsewhere || idempotent);
                if (again && attempt < fo->max_attempts && backoff_sleep(&backoff, fo, until)) {
                        if (!elsewhere) /* a refusal marked it stale already */
                                rpc_channel_reopen(ch, seen);
                        rpc_conn_release(seen);
                        continue;
                }
                rpc_conn_release(seen);
                if (again)
                        ak_error_wrap(err, "%s: gave up after %u attempts through %s", method, attempt,
                                      rpc_channel_target(ch));
                else if (r == RPC_UNAVAILABLE)
                        ak_error_wrap(err, "%s through %s: the connection failed during the call, which may "
                                      "have been done: check before sending it again", method,
                                      rpc_channel_target(ch));
                return r;
        }
}

int rpc_health_check(struct rpc_channel *ch, const char *service, int64_t timeout_ms,
                     struct ak_error *err)
{
        Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
        req.service = (char *)(service ? service : "");
        struct rpc_call_options opts = { .timeout_ms = timeout_ms };
        ProtobufCMessage *msg;
        int r = rpc_unary(ch, &grpc__health__v1__health__descriptor, "Check", &req.base, &opts, &msg,
                          err);
        if (r != RPC_OK)
                return r;
        Grpc__Health__V1__HealthCheckResponse *resp = (void *)msg;
        bool serving = resp->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
        int status = resp->status;
        protobuf_c_message_free_unpacked(msg, NULL);
        if (!serving)
                return ak_error_set(err, RPC_UNAVAILABLE, "%s: health status %d (not serving)",
                                    rpc_channel_target(ch), status);
        return RPC_OK;
}
