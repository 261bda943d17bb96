/* Commands: POST /run, /run/stream (SSE), /batch/run and
 * /sandboxes/{name}/exec, over Scheduler.Run and Scheduler.Exec. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json/writer.h"
#include "lib/rpc/rpc.h"
#include "services/gateway/api_internal.h"

/* Output kept for one /run or exec answer: the SDKs get it whole. */
#define OUTPUT_MAX ((uint64_t)16 << 20)

struct collected {
        char *buf;
        size_t len, cap;
        Ak__V1__ExecResult *result;   /* owned by msg */
        ProtobufCMessage *msg;
};

static void collected_free(struct collected *c)
{
        free(c->buf);
        if (c->msg)
                protobuf_c_message_free_unpacked(c->msg, NULL);
}

/* Reads the stream to its end. RPC_OK with c filled (result may still be
 * NULL if the server sent none), else the status with err. */
static int collect(struct rpc_stream *st, struct collected *c, struct ak_error *err)
{
        ProtobufCMessage *m;
        int r;

        while ((r = rpc_stream_next(st, &m, err)) == 1) {
                Ak__V1__OutputChunk *ch = (Ak__V1__OutputChunk *)m;
                const ProtobufCBinaryData *d = ch->kind_case == AK__V1__OUTPUT_CHUNK__KIND_STDOUT ? &ch->stdout
                                               : ch->kind_case == AK__V1__OUTPUT_CHUNK__KIND_STDERR ? &ch->stderr
                                                                                                    : NULL;
                if (ch->kind_case == AK__V1__OUTPUT_CHUNK__KIND_RESULT) {
                        if (c->msg)
                                protobuf_c_message_free_unpacked(c->msg, NULL);
                        c->msg = m;
                        c->result = ch->result;
                        continue;
                }
                if (d && d->len) {
                        if (c->len + d->len + 1 > c->cap) {
                                size_t cap = (c->len + d->len + 1) * 2;
                                char *n = realloc(c->buf, cap);
                                if (!n) {
                                        protobuf_c_message_free_unpacked(m, NULL);
                                        return ak_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
                                }
                                c->buf = n;
                                c->cap = cap;
                        }
                        memcpy(c->buf + c->len, d->data, d->len);
                        c->len += d->len;
                }
                protobuf_c_message_free_unpacked(m, NULL);
        }
        return r == 0 ? RPC_OK : -r;
}

static void fill_spec(Ak__V1__SandboxSpec *spec, const struct gw_run_req *q, const char *tenant)
{
        ak__v1__sandbox_spec__init(spec);
        spec->image = (char *)(q->image ? q->image : "");
        spec->profile = (char *)(q->profile ? q->profile : "");
        spec->tenant = (char *)tenant;
}

int gw_open_run(struct gateway *g, const struct gw_run_req *q, const char *tenant, struct rpc_stream **ret,
                    struct ak_error *err)
{
        Ak__V1__RunRequest req = AK__V1__RUN_REQUEST__INIT;
        Ak__V1__SandboxSpec spec;
        struct rpc_call_options o = gw_options(g, tenant, g->cfg.exec_timeout_ms);

        fill_spec(&spec, q, tenant);
        req.spec = &spec;
        req.argv = (char **)q->argv;
        req.n_argv = q->argc;
        req.max_output_bytes = OUTPUT_MAX;
        return rpc_stream_open(g->cfg.scheduler, &ak__v1__scheduler__descriptor, "Run", &req.base, &o, ret, err);
}

/* One command's outcome: RPC_OK and c, or the failed call's status. */
static int run_collect(struct gateway *g, const struct gw_run_req *q, const char *tenant, struct collected *c,
                       struct ak_error *err)
{
        struct rpc_stream *st = NULL;
        int code = gw_open_run(g, q, tenant, &st, err);

        if (code == RPC_OK)
                code = collect(st, c, err);
        rpc_stream_free(st);
        if (code == RPC_OK && !c->result)
                code = ak_error_set(err, RPC_INTERNAL, "the scheduler ended the run without a result");
        return code;
}

static void output_json(struct json_writer *w, const struct collected *c)
{
        json_writer_begin_object(w);
        gw_key(w, "output");
        json_writer_string(w, c->buf ? c->buf : "", c->len);
        gw_key(w, "exit_code");
        json_writer_i64(w, c->result->exit_code);
        if (c->result->error && *c->result->error)
                gw_str(w, "error", c->result->error);
        json_writer_end_object(w);
}

int gw_run(struct gateway *g, const struct gw_run_req *q, const char *tenant, struct gw_resp *ret)
{
        struct collected c = { 0 };
        struct ak_error err = { 0 };
        int code = run_collect(g, q, tenant, &c, &err);

        if (code != RPC_OK) {
                collected_free(&c);
                return gw_rpc_error(ret, code, &err);
        }
        bool ok = c.result->exit_code == 0 && !(c.result->error && *c.result->error);
        struct json_writer *w;
        if (json_writer_new(JSON_WRITER_LOSSY, 0, &w) < 0) {
                collected_free(&c);
                return gw_resp_error(ret, 500, "out of memory");
        }
        json_writer_begin_object(w);
        gw_key(w, "success");
        json_writer_bool(w, ok);
        if (!ok) {
                char msg[300];
                snprintf(msg, sizeof(msg), "command exited with code %d%s%.200s", c.result->exit_code,
                         c.result->error && *c.result->error ? ": " : "", c.result->error ? c.result->error : "");
                gw_str(w, "error", msg);
                gw_key(w, "exit_code");
                json_writer_i64(w, c.result->exit_code);
                gw_key(w, "output");
                json_writer_string(w, c.buf ? c.buf : "", c.len);
        }
        gw_key(w, "data");
        output_json(w, &c);
        collected_free(&c);
        /* gw_finish closes the envelope. */
        return gw_finish(w, ok ? 200 : 409, ret);
}

int gw_exec(struct gateway *g, const char *name, const struct gw_exec_req *q, const char *tenant,
            struct gw_resp *ret)
{
        Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
        struct rpc_call_options o = gw_options(g, tenant, g->cfg.exec_timeout_ms);
        struct rpc_stream *st = NULL;
        struct collected c = { 0 };
        struct ak_error err = { 0 };

        req.sandbox = (char *)name;
        req.argv = (char **)q->argv;
        req.n_argv = q->argc;
        req.env = q->env;
        req.n_env = q->n_env;
        req.workdir = (char *)(q->workdir ? q->workdir : "");
        req.sudo = q->sudo;
        req.max_output_bytes = OUTPUT_MAX;
        int code = rpc_stream_open(g->cfg.scheduler, &ak__v1__scheduler__descriptor, "Exec", &req.base, &o, &st,
                                   &err);
        if (code == RPC_OK)
                code = collect(st, &c, &err);
        rpc_stream_free(st);
        if (code == RPC_OK && !c.result)
                code = ak_error_set(&err, RPC_INTERNAL, "the scheduler ended the exec without a result");
        if (code != RPC_OK) {
                collected_free(&c);
                return gw_rpc_error(ret, code, &err);
        }
        struct json_writer *w = gw_begin_ok();
        if (w)
                output_json(w, &c);
        collected_free(&c);
        return gw_finish(w, 200, ret);
}

int gw_batch(struct gateway *g, const struct gw_batch_req *q, const char *tenant, struct gw_resp *ret)
{
        struct json_writer *w = gw_begin_ok();

        if (!w)
                return gw_resp_error(ret, 500, "out of memory");
        json_writer_begin_object(w);
        gw_key(w, "results");
        json_writer_begin_array(w);
        for (size_t i = 0; i < q->n_cmds; i++) {
                struct collected c = { 0 };
                struct ak_error err = { 0 };
                int code = run_collect(g, &q->cmds[i], tenant, &c, &err);
                json_writer_begin_object(w);
                gw_key(w, "output");
                if (code == RPC_OK)
                        json_writer_string(w, c.buf ? c.buf : "", c.len);
                else
                        json_writer_null(w);
                gw_key(w, "error");
                if (code != RPC_OK)
                        json_writer_string(w, err.msg, strlen(err.msg));
                else if (c.result->exit_code != 0) {
                        char msg[64];
                        snprintf(msg, sizeof(msg), "command exited with code %d", c.result->exit_code);
                        json_writer_string(w, msg, strlen(msg));
                } else
                        json_writer_null(w);
                json_writer_end_object(w);
                collected_free(&c);
        }
        json_writer_end_array(w);
        json_writer_end_object(w);
        return gw_finish(w, 200, ret);
}
