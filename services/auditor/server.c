/* gRPC handlers: each turns a request into auditor calls and the result
 * into a status the caller can act on. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/cleanup.h"
#include "protos/ak/v1/auditor.pb-c.h"
#include "services/auditor/server.h"

#define TAIL_POLL_MS 250

static int emit_code(int r)
{
        switch (r) {
        case -ENOSPC:
        case -EDQUOT:
                return RPC_RESOURCE_EXHAUSTED;
        case -EINVAL:
                return RPC_INVALID_ARGUMENT;
        case -ENOMEM:
                return RPC_RESOURCE_EXHAUSTED;
        default:
                return RPC_UNAVAILABLE;
        }
}

static int h_emit(struct rpc_call *call, const ProtobufCMessage *msg, void *userdata)
{
        const Ak__V1__EmitRequest *req = (const Ak__V1__EmitRequest *)msg;
        Ak__V1__EmitResponse resp = AK__V1__EMIT_RESPONSE__INIT;
        struct auditor *a = userdata;
        struct audit_event **events;
        _cleanup_free_ char **uids = NULL;
        struct ak_error err;
        uint64_t first = 0;
        int code = RPC_OK, r;
        size_t n = req->n_events, made = 0;

        if (n == 0)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "no events: send 1 to %d per call",
                                     AUDITOR_MAX_EMIT);
        if (n > AUDITOR_MAX_EMIT)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "%zu events in one call: send at most %d",
                                     n, AUDITOR_MAX_EMIT);
        events = calloc(n, sizeof(*events));
        uids = calloc(n, sizeof(*uids));
        if (!events || !uids) {
                free(events);
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        }
        for (; made < n; made++) {
                r = audit_event_from_pb(req->events[made], &events[made], &err);
                if (r < 0) {
                        code = r == -EINVAL ? rpc_call_fail(call, RPC_INVALID_ARGUMENT, "events[%zu].%s (nothing "
                                                            "of the batch was stored)", made, err.msg)
                                            : rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "%s", err.msg);
                        goto out;
                }
                uids[made] = events[made]->uid;
        }
        r = auditor_append(a, events, n, &first, &err);
        if (r < 0) {
                code = rpc_call_fail(call, emit_code(r), "%s", err.msg);
                goto out;
        }
        resp.n_uids = n;
        resp.uids = uids;
        resp.first_position = first;
        rpc_call_reply(call, &resp.base);
out:
        for (size_t i = 0; i < made; i++)
                audit_event_free(events[i]);
        free(events);
        return code;
}

static int send_record(struct rpc_call *call, uint64_t pos, const char *data, size_t len)
{
        Ak__V1__TailEvent te = AK__V1__TAIL_EVENT__INIT;
        struct audit_event_pb pb;
        struct audit_event *e = NULL;
        _cleanup_free_ char *json = strndup(data, len);
        int r;

        if (!json)
                return -ENOMEM;
        te.position = pos;
        te.json = json;
        if (audit_event_from_json(data, len, &e, NULL) == 0) {
                audit_event_to_pb(e, &pb);
                te.event = &pb.event;
        }
        r = rpc_call_send(call, &te.base);
        audit_event_free(e);
        return r;
}

static int h_tail(struct rpc_call *call, const ProtobufCMessage *msg, void *userdata)
{
        const Ak__V1__TailRequest *req = (const Ak__V1__TailRequest *)msg;
        struct auditor *a = userdata;
        struct spool *spool = auditor_spool(a);
        struct spool_reader *reader;
        struct spool_stats st;
        uint64_t from;
        int code = RPC_OK;

        spool_stats(spool, &st);
        if (req->from_now)
                from = st.next_position;
        else if (req->from_position > st.next_position)
                return rpc_call_fail(call, RPC_OUT_OF_RANGE,
                                     "from_position %" PRIu64 " is past the end: the next event will be %" PRIu64,
                                     req->from_position, st.next_position);
        else
                from = req->from_position; /* 0 or before the oldest: the oldest kept */
        if (spool_reader_new(spool, from, &reader) < 0)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        while (!rpc_call_cancelled(call)) {
                const char *data;
                size_t len;
                uint64_t pos;
                int r = spool_reader_next(reader, &pos, &data, &len);
                if (r < 0) {
                        code = rpc_call_fail(call, RPC_INTERNAL, "read the spool: %s", strerror(-r));
                        break;
                }
                if (r == 0) {
                        spool_wait(spool, spool_reader_position(reader), TAIL_POLL_MS);
                        continue;
                }
                if (send_record(call, pos, data, len) < 0) {
                        code = RPC_CANCELLED;
                        break;
                }
        }
        spool_reader_free(reader);
        return code;
}

static int h_status(struct rpc_call *call, const ProtobufCMessage *msg, void *userdata)
{
        Ak__V1__AuditorStatus resp = AK__V1__AUDITOR_STATUS__INIT;
        struct auditor *a = userdata;
        struct auditor_status st;
        Ak__V1__DestinationStatus *ds, **dsp;

        if (auditor_status(a, &st) < 0)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        ds = calloc(st.n_dests + 1, sizeof(*ds));
        dsp = calloc(st.n_dests + 1, sizeof(*dsp));
        if (!ds || !dsp) {
                free(ds);
                free(dsp);
                auditor_status_free(&st);
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        }
        resp.next_position = st.spool.next_position;
        resp.spool_bytes = st.spool.bytes;
        resp.spool_limit_bytes = st.spool.max_bytes;
        for (size_t i = 0; i < st.n_dests; i++) {
                Ak__V1__DestinationStatus init = AK__V1__DESTINATION_STATUS__INIT;
                uint64_t last = st.spool.next_position - 1;
                ds[i] = init;
                ds[i].name = (char *)st.dests[i].name;
                ds[i].delivered_position = st.dests[i].delivered_position;
                ds[i].pending = last > st.dests[i].delivered_position ? last - st.dests[i].delivered_position : 0;
                ds[i].dead_lettered = st.dests[i].dead_lettered;
                ds[i].last_error = st.dests[i].last_error;
                dsp[i] = &ds[i];
        }
        resp.n_destinations = st.n_dests;
        resp.destinations = dsp;
        rpc_call_reply(call, &resp.base);
        free(ds);
        free(dsp);
        auditor_status_free(&st);
        return RPC_OK;
}

static const struct rpc_method methods[] = {
        { "Emit", RPC_UNARY, h_emit },
        { "Tail", RPC_SERVER_STREAMING, h_tail },
        { "GetStatus", RPC_UNARY, h_status },
};

int auditor_server_add(struct rpc_server *srv, struct auditor *a, struct ak_error *err)
{
        return rpc_server_add_service(srv, &ak__v1__auditor__descriptor, methods, AK_ARRAY_SIZE(methods), a, err);
}
