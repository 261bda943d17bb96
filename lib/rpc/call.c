/* One server call, from its first byte to its status, on one worker thread.
 *
 * Tags on the call's pluck queue: CLOSE (RECV_CLOSE_ON_SERVER, started first
 * so cancellation is seen at any time), RECV, SEND, FINISH. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/time.h"
#include "lib/rpc/internal.h"

enum { TAG_CLOSE = 1, TAG_RECV, TAG_SEND, TAG_FINISH };

#define FINISH_GRACE_MS 5000

int rpc_pack(const ProtobufCMessage *msg, size_t max, grpc_byte_buffer **ret)
{
        size_t n = protobuf_c_message_get_packed_size(msg);
        if (n > max)
                return -E2BIG;
        grpc_slice slice = grpc_slice_malloc(n);
        protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(slice));
        *ret = grpc_raw_byte_buffer_create(&slice, 1);
        grpc_slice_unref(slice);
        return 0;
}

/* protobuf-c 1.4.1 keeps unknown fields it should have refused: field number
 * 0 (from a non-canonical varint key such as 80 00) and the deprecated group
 * wire types proto3 does not have. It cannot re-encode them into bytes it
 * would accept again (found by decode_fuzz), so a request carrying them is
 * malformed to us, and never reaches a handler or gets forwarded. */
static bool has_bad_unknown_fields(const ProtobufCMessage *msg, int depth)
{
        if (depth > 64)
                return true;
        for (unsigned i = 0; i < msg->n_unknown_fields; i++) {
                ProtobufCWireType t = msg->unknown_fields[i].wire_type;
                if (msg->unknown_fields[i].tag == 0)
                        return true;
                if (t != PROTOBUF_C_WIRE_TYPE_VARINT && t != PROTOBUF_C_WIRE_TYPE_64BIT &&
                    t != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED && t != PROTOBUF_C_WIRE_TYPE_32BIT)
                        return true;
        }
        const ProtobufCMessageDescriptor *d = msg->descriptor;
        for (unsigned i = 0; i < d->n_fields; i++) {
                const ProtobufCFieldDescriptor *f = &d->fields[i];
                if (f->type != PROTOBUF_C_TYPE_MESSAGE)
                        continue;
                const char *base = (const char *)msg;
                if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                        size_t n = *(const size_t *)(base + f->quantifier_offset);
                        ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)(base + f->offset);
                        for (size_t j = 0; j < n; j++)
                                if (v[j] && has_bad_unknown_fields(v[j], depth + 1))
                                        return true;
                } else {
                        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF &&
                            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
                                continue;
                        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base + f->offset);
                        if (sub && has_bad_unknown_fields(sub, depth + 1))
                                return true;
                }
        }
        return false;
}

ProtobufCMessage *rpc_unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc, char *why,
                             size_t why_size)
{
        snprintf(why, why_size, "not a valid %s message", desc->name);
        grpc_byte_buffer_reader reader;
        if (!grpc_byte_buffer_reader_init(&reader, bb))
                return NULL;
        grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
        grpc_byte_buffer_reader_destroy(&reader);
        ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(all),
                                                          GRPC_SLICE_START_PTR(all));
        if (msg && rpc_wire_check_strings(desc, GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all), why,
                                          why_size) < 0) {
                protobuf_c_message_free_unpacked(msg, NULL);
                msg = NULL;
        }
        grpc_slice_unref(all);
        if (msg && has_bad_unknown_fields(msg, 0)) {
                protobuf_c_message_free_unpacked(msg, NULL);
                return NULL;
        }
        return msg;
}

/* Runs one batch and waits for it until `until` (monotonic). Past it the
 * call is cancelled with DEADLINE_EXCEEDED (the batch then completes, failed):
 * a client that stops reading, or never sends its request, holds a worker no
 * longer than the call's deadline. */
static bool run_batch_until(struct rpc_call *call, const grpc_op *ops, size_t n, int tag,
                            gpr_timespec until)
{
        if (grpc_call_start_batch(call->call, ops, n, RPC_TAG(tag), NULL) != GRPC_CALL_OK)
                return false;
        grpc_event ev = grpc_completion_queue_pluck(call->cq, RPC_TAG(tag), until, NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT) {
                if (!call->deadline_cut) {
                        call->deadline_cut = true;
                        rpc_server_count(call->srv, RPC_STAT_DEADLINE_CUT, 1);
                }
                grpc_call_cancel_with_status(call->call, GRPC_STATUS_DEADLINE_EXCEEDED,
                                             "deadline exceeded (the server's limit for a call)", NULL);
                ev = grpc_completion_queue_pluck(call->cq, RPC_TAG(tag),
                                                 gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
                return false;
        }
        return ev.type == GRPC_OP_COMPLETE && ev.success;
}

static bool run_batch(struct rpc_call *call, const grpc_op *ops, size_t n, int tag)
{
        return run_batch_until(call, ops, n, tag, call->deadline);
}

int rpc_call_fail(struct rpc_call *call, int code, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(call->status_msg, sizeof(call->status_msg), fmt, ap);
        va_end(ap);
        call->status_code = code;
        call->status_set = true;
        return code;
}

int rpc_call_refuse_elsewhere(struct rpc_call *call, const char *leader, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(call->status_msg, sizeof(call->status_msg), fmt, ap);
        va_end(ap);
        size_t n = 0;
        for (const char *p = leader ? leader : ""; *p && n < RPC_LEADER_MAX; p++)
                if (*p >= 0x20 && *p < 0x7f)
                        call->leader[n++] = *p;
        call->leader[n] = 0;
        call->elsewhere = true;
        call->status_code = RPC_UNAVAILABLE;
        call->status_set = true;
        return RPC_UNAVAILABLE;
}

bool rpc_call_cancelled(struct rpc_call *call)
{
        if (!call->closed) {
                grpc_event ev = grpc_completion_queue_pluck(call->cq, RPC_TAG(TAG_CLOSE),
                                                            gpr_inf_past(GPR_CLOCK_MONOTONIC), NULL);
                if (ev.type == GRPC_OP_COMPLETE)
                        call->closed = true;
        }
        if (call->closed && call->close_cancelled)
                return true;
        return rpc_call_remaining_ms(call) <= 0 || rpc_server_cancelling(call->srv);
}

int64_t rpc_call_remaining_ms(struct rpc_call *call)
{
        if (gpr_time_cmp(call->deadline, gpr_inf_future(GPR_CLOCK_MONOTONIC)) == 0)
                return INT64_MAX;
        gpr_timespec left = gpr_time_sub(call->deadline, gpr_now(GPR_CLOCK_MONOTONIC));
        return gpr_time_to_millis(left);
}

const char *rpc_call_metadata(struct rpc_call *call, const char *key)
{
        if (!call->md_strings && call->md->count) {
                call->md_strings = calloc(call->md->count * 2, sizeof(char *));
                if (!call->md_strings)
                        return NULL;
                for (size_t i = 0; i < call->md->count; i++) {
                        const grpc_metadata *m = &call->md->metadata[i];
                        /* Binary ("-bin") values are not text: leave them out. */
                        size_t klen = GRPC_SLICE_LENGTH(m->key);
                        if (klen >= 4 && memcmp(GRPC_SLICE_START_PTR(m->key) + klen - 4, "-bin", 4) == 0)
                                continue;
                        call->md_strings[2 * i] = grpc_slice_to_c_string(m->key);
                        call->md_strings[2 * i + 1] = grpc_slice_to_c_string(m->value);
                }
                call->n_md_strings = call->md->count * 2;
        }
        for (size_t i = 0; i + 1 < call->n_md_strings; i += 2)
                if (call->md_strings[i] && strcmp(call->md_strings[i], key) == 0)
                        return call->md_strings[i + 1];
        return NULL;
}

const char *rpc_call_peer(struct rpc_call *call)
{
        if (!call->peer)
                call->peer = grpc_call_get_peer(call->call);
        return call->peer;
}

int rpc_call_peer_cn(struct rpc_call *call, char *buf, size_t size)
{
        grpc_auth_context *ctx = grpc_call_auth_context(call->call);
        if (!ctx)
                return -ENOENT;
        int r = -ENOENT;
        if (grpc_auth_context_peer_is_authenticated(ctx)) {
                grpc_auth_property_iterator it =
                        grpc_auth_context_find_properties_by_name(ctx, GRPC_X509_CN_PROPERTY_NAME);
                const grpc_auth_property *p = grpc_auth_property_iterator_next(&it);
                if (p && p->value && p->value_length > 0 && !memchr(p->value, '\0', p->value_length)) {
                        if (p->value_length >= size) {
                                r = -ENAMETOOLONG;
                        } else {
                                memcpy(buf, p->value, p->value_length);
                                buf[p->value_length] = '\0';
                                r = 0;
                        }
                }
        }
        grpc_auth_context_release(ctx);
        return r;
}

const char *rpc_call_method(struct rpc_call *call)
{
        return call->path ? call->path : "";
}

int rpc_call_reply(struct rpc_call *call, const ProtobufCMessage *resp)
{
        if (call->replied)
                return -EALREADY;
        int r = rpc_pack(resp, call->max_message_bytes, &call->reply);
        if (r < 0)
                return r;
        call->replied = true;
        return 0;
}

int rpc_call_send(struct rpc_call *call, const ProtobufCMessage *msg)
{
        if (rpc_call_cancelled(call))
                return -ECANCELED;
        grpc_byte_buffer *bb;
        int r = rpc_pack(msg, call->max_message_bytes, &bb);
        if (r < 0)
                return r;
        grpc_op ops[2];
        size_t n = 0;
        memset(ops, 0, sizeof(ops));
        if (!call->sent_initial_metadata) {
                ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
                call->sent_initial_metadata = true;
        }
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = bb;
        bool ok = run_batch(call, ops, n, TAG_SEND);
        grpc_byte_buffer_destroy(bb);
        return ok ? 0 : -ECANCELED;
}

static void finish(struct rpc_call *call, int code, const char *msg)
{
        grpc_op ops[3];
        size_t n = 0;
        memset(ops, 0, sizeof(ops));
        if (!call->sent_initial_metadata) {
                ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
                call->sent_initial_metadata = true;
        }
        if (code == RPC_OK && call->reply) {
                ops[n].op = GRPC_OP_SEND_MESSAGE;
                ops[n++].data.send_message.send_message = call->reply;
        }
        grpc_slice details = grpc_slice_from_copied_string(msg ? msg : "");
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = (grpc_status_code)code;
        ops[n].data.send_status_from_server.status_details = msg && *msg ? &details : NULL;
        grpc_metadata trailer;
        if (code == RPC_UNAVAILABLE && call->elsewhere) {
                trailer.key = grpc_slice_from_static_string(RPC_LEADER_KEY);
                trailer.value = grpc_slice_from_copied_string(call->leader);
                ops[n].data.send_status_from_server.trailing_metadata_count = 1;
                ops[n].data.send_status_from_server.trailing_metadata = &trailer;
        }
        n++;
        /* The status goes out even when the deadline has just passed; a
         * client that does not take it within FINISH_GRACE_MS is cut off. */
        gpr_timespec grace = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                          gpr_time_from_millis(FINISH_GRACE_MS, GPR_TIMESPAN));
        run_batch_until(call, ops, n, TAG_FINISH,
                        gpr_time_cmp(call->deadline, grace) > 0 ? call->deadline : grace);
        grpc_slice_unref(details);
        if (code == RPC_UNAVAILABLE && call->elsewhere)
                grpc_slice_unref(trailer.value);
        if (call->reply) {
                grpc_byte_buffer_destroy(call->reply);
                call->reply = NULL;
        }
}

/* Reads the request message: until the call's deadline, or for an
 * unauthorized (health) call while few others read one, and briefly. */
static int receive(struct rpc_call *call, ProtobufCMessage **ret)
{
        const struct rpc_method_entry *m = call->method;
        bool open = m->is_health;
        gpr_timespec until = call->deadline;
        if (open) {
                if (!rpc_server_open_receive_begin(call->srv)) {
                        rpc_server_count(call->srv, RPC_STAT_SHED, 1);
                        return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED,
                                             "%s: too many health checks at once; retry", m->path);
                }
                gpr_timespec brief = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                                  gpr_time_from_millis(RPC_OPEN_RECEIVE_MS, GPR_TIMESPAN));
                if (gpr_time_cmp(brief, until) < 0)
                        until = brief;
        }
        grpc_byte_buffer *payload = NULL;
        grpc_op op;
        memset(&op, 0, sizeof(op));
        op.op = GRPC_OP_RECV_MESSAGE;
        op.data.recv_message.recv_message = &payload;
        bool ok = run_batch_until(call, &op, 1, TAG_RECV, until);
        if (open)
                rpc_server_open_receive_end(call->srv);
        if (!ok || !payload) {
                if (payload)
                        grpc_byte_buffer_destroy(payload);
                if (call->deadline_cut)
                        return rpc_call_fail(call, RPC_DEADLINE_EXCEEDED,
                                             "%s: the request message did not arrive in time", m->path);
                return rpc_call_fail(call, RPC_CANCELLED, "%s: no request message arrived", m->path);
        }
        rpc_server_count(call->srv, RPC_STAT_MESSAGES, 1);
        rpc_server_count(call->srv, RPC_STAT_BYTES, grpc_byte_buffer_length(payload));
        char why[256];
        *ret = rpc_unpack(payload, m->desc->input, why, sizeof(why));
        grpc_byte_buffer_destroy(payload);
        if (!*ret)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "%s: request %s", m->path, why);
        return RPC_OK;
}

/* The call's request id and traceparent from its headers (trace.h), made
 * the thread's trace context while the call runs. */
static void trace_begin(struct rpc_call *call)
{
        const char *id = rpc_call_metadata(call, AK_REQUEST_ID_HEADER);
        if (id && ak_request_id_valid(id, strlen(id)))
                snprintf(call->request_id, sizeof(call->request_id), "%s", id);
        else if (ak_request_id_new(call->request_id) < 0)
                call->request_id[0] = '\0';
        const char *tp = rpc_call_metadata(call, AK_TRACEPARENT_HEADER);
        if (tp && ak_traceparent_valid(tp, strlen(tp)))
                snprintf(call->traceparent, sizeof(call->traceparent), "%s", tp);
        ak_trace_set(call->request_id, call->traceparent);
}

const char *rpc_call_request_id(struct rpc_call *call)
{
        return call->request_id[0] ? call->request_id : NULL;
}

const char *rpc_call_traceparent(struct rpc_call *call)
{
        return call->traceparent[0] ? call->traceparent : NULL;
}

static int dispatch(struct rpc_call *call)
{
        const struct rpc_method_entry *m = call->method;
        if (call->shed) {
                rpc_server_count(call->srv, RPC_STAT_SHED, 1);
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED,
                                     "%s: the server is serving its limit of %u calls at once; "
                                     "retry later",
                                     rpc_call_method(call),
                                     rpc_server_opts(call->srv)->limits.max_calls);
        }
        if (!m)
                return rpc_call_fail(call, RPC_UNIMPLEMENTED, "unknown method %s",
                                     call->path ? call->path : "(none)");

        if (!m->is_health)
                trace_begin(call);
        /* Authorization first, from the headers: a caller without
         * credentials never gets a byte of its message read. */
        const struct rpc_server_options *opts = rpc_server_opts(call->srv);
        if (!m->is_health && opts->authorize) {
                int code = opts->authorize(call, opts->authorize_data);
                if (code != RPC_OK) {
                        rpc_server_count(call->srv, RPC_STAT_REFUSED_AUTH, 1);
                        return code;
                }
        }
        ProtobufCMessage *req = NULL;
        int code = receive(call, &req);
        if (code != RPC_OK)
                return code;
        code = m->handler(call, req, m->userdata);
        protobuf_c_message_free_unpacked(req, NULL);

        if (code == RPC_OK && m->kind == RPC_UNARY && !call->replied)
                return rpc_call_fail(call, RPC_INTERNAL, "%s: handler returned no response", m->path);
        return code;
}

void rpc_call_run(struct rpc_call *call)
{
        uint64_t start = ak_mono_ns();
        grpc_op op;
        memset(&op, 0, sizeof(op));
        op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        op.data.recv_close_on_server.cancelled = &call->close_cancelled;
        if (grpc_call_start_batch(call->call, &op, 1, RPC_TAG(TAG_CLOSE), NULL) != GRPC_CALL_OK)
                return;

        rpc_metrics_begin();
        int code = dispatch(call);
        ak_trace_clear();
        if (code < 0 || code > RPC_UNAUTHENTICATED)
                code = RPC_INTERNAL;
        /* A handler that gave up because time ran out says CANCELLED; the
         * client should hear why. */
        if (code == RPC_CANCELLED && rpc_call_remaining_ms(call) <= 0)
                code = rpc_call_fail(call, RPC_DEADLINE_EXCEEDED, "%s: deadline exceeded",
                                     rpc_call_method(call));
        if (code != RPC_OK && !call->status_set)
                snprintf(call->status_msg, sizeof(call->status_msg), "%s failed: %s",
                         rpc_call_method(call), rpc_code_name(code));
        /* Counted before the status leaves: a client that saw it also
         * sees it counted. */
        rpc_metrics_end(call, code, ak_mono_ns() - start);
        if (!(call->closed && call->close_cancelled))
                finish(call, code, code == RPC_OK ? NULL : call->status_msg);
        if (call->reply) {
                grpc_byte_buffer_destroy(call->reply);
                call->reply = NULL;
        }

        if (!call->closed)
                grpc_completion_queue_pluck(call->cq, RPC_TAG(TAG_CLOSE),
                                            gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        call->closed = true;
}
