/* POST /run/stream: Server-Sent Events over Scheduler.Run, each chunk sent
 * as it arrives (the scheduler forwards the executor's stream chunk by
 * chunk). Events: started, progress, output{data,stream}, done{exit_code,
 * success}, error{message}. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json/writer.h"
#include "lib/rpc/rpc.h"
#include "services/gateway/api_internal.h"

struct gw_sse {
        struct rpc_stream *st;
        char *pending;          /* formatted events not yet handed to the HTTP library */
        size_t len, off;
        bool finished;          /* done or error queued: nothing more to read */
        /* A UTF-8 sequence cut at a chunk's end, per stream, held for the next. */
        unsigned char carry[2][4];
        size_t n_carry[2];
};

void gw_sse_free(struct gw_sse *s)
{
        if (!s)
                return;
        rpc_stream_free(s->st);
        free(s->pending);
        free(s);
}

void gw_sse_cancel(struct gw_sse *s)
{
        if (s)
                rpc_stream_cancel(s->st);
}

/* Appends "event: NAME\ndata: JSON\n\n" (w finished and freed). */
static void queue(struct gw_sse *s, const char *event, struct json_writer *w)
{
        char *json = NULL;
        size_t jlen = 0;

        if (json_writer_finish(w, &json, &jlen) < 0) {
                json_writer_free(w);
                return;
        }
        json_writer_free(w);
        size_t need = strlen(event) + jlen + 20;
        char *n = realloc(s->pending, s->len + need);
        if (n) {
                s->pending = n;
                s->len += (size_t)snprintf(n + s->len, need, "event: %s\ndata: %s\n\n", event, json);
        }
        free(json);
}

static struct json_writer *obj(void)
{
        struct json_writer *w;
        if (json_writer_new(JSON_WRITER_LOSSY, 0, &w) < 0)
                return NULL;
        json_writer_begin_object(w);
        return w;
}

static void queue_error(struct gw_sse *s, const char *msg)
{
        struct json_writer *w = obj();
        if (!w)
                return;
        gw_str(w, "message", msg);
        json_writer_end_object(w);
        queue(s, "error", w);
        s->finished = true;
}

/* How many bytes at the end of p[0..n) start a UTF-8 sequence that is not
 * complete yet (0 to 3). */
static size_t cut_tail(const unsigned char *p, size_t n)
{
        for (size_t back = 1; back <= 3 && back <= n; back++) {
                unsigned char c = p[n - back];
                if ((c & 0xC0) == 0x80)
                        continue;
                size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
                return want > back ? back : 0;
        }
        return 0;
}

static void queue_output(struct gw_sse *s, int which, const uint8_t *d, size_t len)
{
        size_t total = s->n_carry[which] + len;
        unsigned char *buf = malloc(total ? total : 1);
        if (!buf)
                return;
        memcpy(buf, s->carry[which], s->n_carry[which]);
        memcpy(buf + s->n_carry[which], d, len);
        size_t keep = cut_tail(buf, total);
        s->n_carry[which] = keep;
        memcpy(s->carry[which], buf + total - keep, keep);
        if (total > keep) {
                struct json_writer *w = obj();
                if (w) {
                        gw_key(w, "data");
                        json_writer_string(w, (const char *)buf, total - keep);
                        gw_str(w, "stream", which ? "stderr" : "stdout");
                        json_writer_end_object(w);
                        queue(s, "output", w);
                }
        }
        free(buf);
}

/* Waits for the next message and queues its events. */
static void advance(struct gw_sse *s)
{
        ProtobufCMessage *m;
        struct ak_error err = { 0 };
        int r = rpc_stream_next(s->st, &m, &err);

        if (r < 0) {
                queue_error(s, err.msg);
                return;
        }
        if (r == 0) {
                queue_error(s, "the scheduler ended the run without a result");
                return;
        }
        Ak__V1__OutputChunk *ch = (Ak__V1__OutputChunk *)m;
        switch (ch->kind_case) {
        case AK__V1__OUTPUT_CHUNK__KIND_STDOUT:
                queue_output(s, 0, ch->stdout.data, ch->stdout.len);
                break;
        case AK__V1__OUTPUT_CHUNK__KIND_STDERR:
                queue_output(s, 1, ch->stderr.data, ch->stderr.len);
                break;
        case AK__V1__OUTPUT_CHUNK__KIND_RESULT: {
                for (int i = 0; i < 2; i++)
                        if (s->n_carry[i]) {
                                /* A cut sequence at the very end: sent as is (lossy). */
                                uint8_t tail[4];
                                size_t n = s->n_carry[i];
                                memcpy(tail, s->carry[i], n);
                                s->n_carry[i] = 0;
                                struct json_writer *w = obj();
                                if (w) {
                                        gw_key(w, "data");
                                        json_writer_string(w, (const char *)tail, n);
                                        gw_str(w, "stream", i ? "stderr" : "stdout");
                                        json_writer_end_object(w);
                                        queue(s, "output", w);
                                }
                        }
                const Ak__V1__ExecResult *res = ch->result;
                struct json_writer *w = obj();
                if (w) {
                        gw_key(w, "exit_code");
                        json_writer_i64(w, res->exit_code);
                        gw_key(w, "success");
                        json_writer_bool(w, res->exit_code == 0 && !(res->error && *res->error));
                        if (res->error && *res->error)
                                gw_str(w, "error", res->error);
                        if (res->sandbox && *res->sandbox)
                                gw_str(w, "sandbox", res->sandbox);
                        json_writer_end_object(w);
                        queue(s, "done", w);
                }
                s->finished = true;
                break;
        }
        default:
                break;
        }
        protobuf_c_message_free_unpacked(m, NULL);
}

size_t gw_sse_read(struct gw_sse *s, char *buf, size_t size)
{
        while (s->off == s->len) {
                if (s->finished)
                        return 0;
                s->off = s->len = 0;
                advance(s);
                if (s->off == s->len && s->finished)
                        return 0;
        }
        size_t n = s->len - s->off < size ? s->len - s->off : size;
        memcpy(buf, s->pending + s->off, n);
        s->off += n;
        return n;
}

int gw_run_stream(struct gateway *g, const struct gw_run_req *q, const char *tenant, struct gw_resp *ret)
{
        struct ak_error err = { 0 };
        struct gw_sse *s = calloc(1, sizeof(*s));

        if (!s)
                return gw_resp_error(ret, 500, "out of memory");
        int code = gw_open_run(g, q, tenant, &s->st, &err);
        if (code != RPC_OK) {
                gw_sse_free(s);
                return gw_rpc_error(ret, code, &err);
        }
        struct json_writer *w = obj();
        if (w) {
                gw_key(w, "command");
                json_writer_begin_array(w);
                for (size_t i = 0; i < q->argc; i++)
                        json_writer_string(w, q->argv[i], strlen(q->argv[i]));
                json_writer_end_array(w);
                json_writer_end_object(w);
                queue(s, "started", w);
        }
        w = obj();
        if (w) {
                gw_str(w, "stage", "running");
                gw_str(w, "message", "placed on an executor; output follows as it arrives");
                json_writer_end_object(w);
                queue(s, "progress", w);
        }
        memset(ret, 0, sizeof(*ret));
        ret->status = 200;
        ret->sse = s;
        return 0;
}
