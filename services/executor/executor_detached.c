/* Detached commands: each call is one guest `run` of a script
 * (detached_scripts.h) whose output is parsed by detached_parse.h. The
 * commands' state and output live in the guest, so they outlive the client;
 * the executor keeps nothing about them. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/time.h"
#include "lib/base/uuid.h"
#include "lib/encoding/base64.h"
#include "lib/guest/guest_client.h"
#include "services/executor/detached_parse.h"
#include "services/executor/detached_scripts.h"
#include "services/executor/executor_audit.h"
#include "services/executor/executor_detached.h"
#include "services/executor/executor_guest_call.h"
#include "services/executor/executor_sandbox.h"
#include "services/executor/executor_state.h"
#include "protos/ak/v1/executor.pb-c.h"

#define DETACHED_CALL_MS 20000
/* A list answer: 256 records of argv up to 1 MiB would be too much to
 * hold; a list that does not fit fails and says so. */
#define DETACHED_MAX_ANSWER ((size_t)16 << 20)
#define DETACHED_MAX_ARGV_BYTES ((size_t)1 << 20)

struct collect {
        uint8_t *out;
        size_t out_len, cap;
        char err[512];
        size_t err_len;
        bool over;
};

static int on_chunk(void *ud, const struct proto_reply *chunk)
{
        struct collect *c = ud;
        uint8_t *buf = NULL;
        size_t len = 0;
        if (!chunk->output_base64 ||
            base64_decode_alloc(chunk->output_base64, strlen(chunk->output_base64), &buf, &len) < 0)
                return 0;
        if (chunk->stream && strcmp(chunk->stream, "stderr") == 0) {
                size_t n = len < sizeof(c->err) - 1 - c->err_len ? len : sizeof(c->err) - 1 - c->err_len;
                memcpy(c->err + c->err_len, buf, n);
                c->err_len += n;
        } else if (c->out_len + len > c->cap) {
                c->over = true;
        } else {
                memcpy(c->out + c->out_len, buf, len);
                c->out_len += len;
        }
        free(buf);
        return c->over ? -EFBIG : 0;
}

struct script_run {
        const char *script;
        const char *const *args;   /* after $0 */
        size_t n_args;
        const char *const *env_keys, *const *env_values;
        size_t n_env;
        const char *cwd;
        bool as_root;
        size_t max_out;
};

/* Runs a script in sandbox `name`. On RPC_OK, c holds its stdout and
 * *ret_exit its exit code. */
static int script_call(struct executor *ex, struct rpc_call *call, const char *name, const char *what,
                       const struct script_run *sr, struct collect *c, int *ret_exit)
{
        char uds[108];
        int r, fd = -1, code = RPC_OK;
        struct sandbox *sb = sandbox_get(ex, name ? name : "");
        if (!sb)
                return rpc_call_fail(call, RPC_NOT_FOUND, "no sandbox named %s", name ? name : "");
        const char **argv = calloc(sr->n_args + 4, sizeof(char *));
        c->cap = sr->max_out;
        c->out = malloc(c->cap ? c->cap : 1);
        if (!argv || !c->out) {
                code = rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "%s: out of memory", what);
                goto out;
        }
        argv[0] = "/bin/sh";
        argv[1] = "-c";
        argv[2] = sr->script;
        argv[3] = "ak-detached";
        for (size_t i = 0; i < sr->n_args; i++)
                argv[4 + i] = sr->args[i];
        if ((r = sandbox_running_uds(ex, sb, uds)) < 0 ||
            (r = guest_client_connect(uds, GUEST_AGENT_PORT, 10000, &fd)) < 0) {
                code = guest_call_fail(call, what, sb->name, r);
                goto out;
        }
        struct proto_request_args req = PROTO_REQUEST_ARGS_INIT;
        req.id = what;
        req.type = "run";
        req.command = argv;
        req.n_command = sr->n_args + 4;
        req.env_keys = sr->env_keys;
        req.env_values = sr->env_values;
        req.n_env = sr->n_env;
        req.cwd = sr->cwd;
        if (!sr->as_root)
                req.uid = req.gid = SANDBOX_USER_UID;
        req.stream = 1;
        req.timeout_ms = DETACHED_CALL_MS - 5000;
        req.max_output_bytes = (int64_t)sr->max_out + (int64_t)sizeof(c->err);
        struct guest_call act = { .call = call, .sb = sb, .fd = fd };
        guest_call_begin(ex, &act);
        struct proto_reply *rep = NULL;
        r = guest_client_call_stream(fd, &req, DETACHED_CALL_MS, on_chunk, c, &rep);
        guest_call_end(ex, &act);
        close(fd);
        if (r == -EFBIG || (r == 0 && rep->truncated))
                code = rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "%s in sandbox %s: the answer exceeds %zu bytes",
                                     what, sb->name, sr->max_out);
        else if (r < 0)
                code = guest_call_fail(call, what, sb->name, r);
        else if (rep->error || !rep->has_exit_code || rep->timed_out)
                code = rpc_call_fail(call, RPC_UNAVAILABLE, "%s in sandbox %s: the guest's sh failed: %.300s", what,
                                     sb->name, rep->error ? rep->error : rep->timed_out ? "timed out" : "no exit code");
        else
                *ret_exit = rep->exit_code;
        proto_reply_free(rep);
out:
        free(argv);
        sandbox_put(ex, sb);
        return code;
}

static void collect_done(struct collect *c)
{
        free(c->out);
        c->out = NULL;
}

/* Fills d from r (which keeps owning its strings). */
static void to_proto(const struct detached_record *r, const char *sandbox, Ak__V1__DetachedCommand *d)
{
        d->id = (char *)r->id;
        d->sandbox = (char *)sandbox;
        d->argv = r->argv;
        d->n_argv = r->n_argv;
        d->pid = r->pid;
        d->status = !r->has_exit ? "running" : r->killed ? "failed" : "completed";
        d->has_exit_code = r->has_exit;
        d->exit_code = r->has_exit ? r->exit_code : 0;
        d->started_at_ms = r->started_ms;
        d->stdout_bytes = r->out_bytes;
        d->stderr_bytes = r->err_bytes;
        d->max_log_bytes = r->max_log;
        d->stdout_truncated = r->max_log && r->out_bytes >= r->max_log;
        d->stderr_truncated = r->max_log && r->err_bytes >= r->max_log;
}

static int check_ref(struct rpc_call *call, const char *id)
{
        if (!id || !detached_id_valid(id, strlen(id)))
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "id \"%.80s\": want a detached command id "
                                     "(1-64 of 0-9, a-f, -)", id ? id : "");
        return RPC_OK;
}

/* The info script for one id (stream NULL: no data). On RPC_OK, *rec
 * is filled and c holds the bytes it points into. */
static int info_one(struct executor *ex, struct rpc_call *call, const char *sandbox, const char *id,
                    const char *stream, uint64_t offset, uint32_t max, struct collect *c,
                    struct detached_record *rec)
{
        char off[24], n[16];
        snprintf(off, sizeof(off), "%" PRIu64, offset);
        snprintf(n, sizeof(n), "%u", max);
        const char *args[] = { DETACHED_ROOT, stream ? stream : "-", off, n, id };
        struct script_run sr = { .script = DETACHED_SH_INFO, .args = args, .n_args = 5, .as_root = true,
                                 .max_out = DETACHED_MAX_ARGV_BYTES + 4096 + max };
        int ex_code = 0, code = script_call(ex, call, sandbox, "detached info", &sr, c, &ex_code);
        if (code != RPC_OK)
                return code;
        size_t pos = 0;
        if (ex_code != 0 || detached_record_parse(c->out, c->out_len, &pos, stream != NULL, rec) < 0 ||
            pos != c->out_len)
                return rpc_call_fail(call, RPC_UNAVAILABLE, "detached info in sandbox %s: the guest's answer is "
                                     "malformed (exit %d, %zu bytes): %.200s", sandbox, ex_code, c->out_len, c->err);
        if (!rec->found)
                return rpc_call_fail(call, RPC_NOT_FOUND, "sandbox %s has no detached command %s", sandbox, id);
        return RPC_OK;
}

static int reply_one(struct executor *ex, struct rpc_call *call, const char *sandbox, const char *id)
{
        struct collect c = { 0 };
        struct detached_record rec = { 0 };
        int code = info_one(ex, call, sandbox, id, NULL, 0, 0, &c, &rec);
        if (code == RPC_OK) {
                Ak__V1__DetachedCommand d = AK__V1__DETACHED_COMMAND__INIT;
                to_proto(&rec, sandbox, &d);
                rpc_call_reply(call, &d.base);
        }
        detached_record_done(&rec);
        collect_done(&c);
        return code;
}

int detached_handle_get(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        const Ak__V1__DetachedRef *req = (const void *)msg;
        int code = check_ref(call, req->id);
        return code != RPC_OK ? code : reply_one(ud, call, req->sandbox, req->id);
}

int detached_handle_kill(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        const Ak__V1__DetachedRef *req = (const void *)msg;
        int code = check_ref(call, req->id);
        if (code != RPC_OK)
                return code;
        const char *args[] = { DETACHED_ROOT, req->id };
        struct script_run sr = { .script = DETACHED_SH_KILL, .args = args, .n_args = 2, .as_root = true,
                                 .max_out = 4096 };
        struct collect c = { 0 };
        int ex_code = 0;
        code = script_call(ud, call, req->sandbox, "detached kill", &sr, &c, &ex_code);
        collect_done(&c);
        if (code != RPC_OK)
                return code;
        if (ex_code == 3)
                return rpc_call_fail(call, RPC_NOT_FOUND, "sandbox %s has no detached command %s", req->sandbox,
                                     req->id);
        audit_emit(ud, call, "command_killed", "exec_detached_kill", AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT,
                   req->sandbox, NULL);
        return reply_one(ud, call, req->sandbox, req->id);
}

int detached_handle_logs(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        const Ak__V1__DetachedLogsRequest *req = (const void *)msg;
        int code = check_ref(call, req->id);
        if (code != RPC_OK)
                return code;
        uint32_t max = req->max_bytes ? req->max_bytes : DETACHED_DEFAULT_READ;
        if (max > DETACHED_MAX_READ)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "max_bytes: %u, at most %u per call", max,
                                     DETACHED_MAX_READ);
        if (req->offset > DETACHED_MAX_LOG)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "offset: %" PRIu64 ", past the largest log kept "
                                     "(%" PRIu64 " bytes)", req->offset, DETACHED_MAX_LOG);
        struct collect c = { 0 };
        struct detached_record rec = { 0 };
        code = info_one(ud, call, req->sandbox, req->id, req->stderr ? "stderr" : "stdout", req->offset, max, &c,
                        &rec);
        if (code == RPC_OK) {
                Ak__V1__DetachedCommand d = AK__V1__DETACHED_COMMAND__INIT;
                Ak__V1__DetachedLogsResponse resp = AK__V1__DETACHED_LOGS_RESPONSE__INIT;
                to_proto(&rec, req->sandbox, &d);
                size_t n = rec.data_len > max ? max : rec.data_len;
                resp.data = (ProtobufCBinaryData){ n, (uint8_t *)rec.data };
                resp.next_offset = req->offset + n;
                resp.command = &d;
                rpc_call_reply(call, &resp.base);
        }
        detached_record_done(&rec);
        collect_done(&c);
        return code;
}

int detached_handle_list(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        const Ak__V1__ListDetachedRequest *req = (const void *)msg;
        const char *args[] = { DETACHED_ROOT, "-", "0", "0" };
        struct script_run sr = { .script = DETACHED_SH_INFO, .args = args, .n_args = 4, .as_root = true,
                                 .max_out = DETACHED_MAX_ANSWER };
        struct collect c = { 0 };
        int ex_code = 0, code = script_call(ud, call, req->sandbox, "detached list", &sr, &c, &ex_code);
        if (code != RPC_OK) {
                collect_done(&c);
                return code;
        }
        struct detached_record *recs = calloc(DETACHED_MAX_PER_SANDBOX, sizeof(*recs));
        Ak__V1__DetachedCommand *ds = calloc(DETACHED_MAX_PER_SANDBOX, sizeof(*ds));
        Ak__V1__DetachedCommand **ptrs = calloc(DETACHED_MAX_PER_SANDBOX, sizeof(*ptrs));
        size_t n = 0, pos = 0;
        if (!recs || !ds || !ptrs) {
                code = rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "detached list: out of memory");
                goto out;
        }
        while (ex_code == 0 && pos < c.out_len && n < DETACHED_MAX_PER_SANDBOX &&
               detached_record_parse(c.out, c.out_len, &pos, false, &recs[n]) == 0) {
                if (!recs[n].found) /* a directory without a command (being made) */
                        continue;
                ak__v1__detached_command__init(&ds[n]);
                to_proto(&recs[n], req->sandbox, &ds[n]);
                ptrs[n] = &ds[n];
                n++;
        }
        if (ex_code != 0 || pos != c.out_len) {
                code = rpc_call_fail(call, RPC_UNAVAILABLE, "detached list in sandbox %s: the guest's answer is "
                                     "malformed at byte %zu of %zu (exit %d): %.200s", req->sandbox, pos, c.out_len,
                                     ex_code, c.err);
                goto out;
        }
        Ak__V1__ListDetachedResponse resp = AK__V1__LIST_DETACHED_RESPONSE__INIT;
        resp.commands = ptrs;
        resp.n_commands = n;
        rpc_call_reply(call, &resp.base);
out:
        for (size_t i = 0; recs && i < DETACHED_MAX_PER_SANDBOX; i++)
                detached_record_done(&recs[i]);
        free(recs);
        free(ds);
        free(ptrs);
        collect_done(&c);
        return code;
}

/* The environment as Exec builds it: HOME and USER, the sandbox's, the
 * request's. Returns RPC_OK with the arrays (strings borrowed from sb and
 * split[], which the caller frees). */
static int build_env(struct rpc_call *call, const struct sandbox *sb, const Ak__V1__ExecDetachedRequest *req,
                     const char **keys, const char **vals, char **split, size_t *ret_n)
{
        size_t n = 0;
        const char *fixed[][2] = { { "HOME", req->sudo ? "/root" : SANDBOX_USER_HOME },
                                   { "USER", req->sudo ? "root" : SANDBOX_USER_NAME } };
        for (size_t i = 0; i < 2 + sb->n_env + req->n_env; i++) {
                const char *k, *v;
                if (i < 2) {
                        k = fixed[i][0];
                        v = fixed[i][1];
                } else if (i < 2 + sb->n_env) {
                        k = sb->env_keys[i - 2];
                        v = sb->env_values[i - 2];
                } else {
                        size_t j = i - 2 - sb->n_env;
                        char *eq = strchr(req->env[j], '=');
                        if (!eq || eq == req->env[j])
                                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "env[%zu] \"%.64s\": want KEY=VALUE",
                                                     j, req->env[j]);
                        if (!(split[j] = strndup(req->env[j], (size_t)(eq - req->env[j]))))
                                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
                        k = split[j];
                        v = eq + 1;
                }
                size_t at = n;
                for (size_t m = 0; m < n; m++)
                        if (strcmp(keys[m], k) == 0)
                                at = m;
                keys[at] = k;
                vals[at] = v;
                if (at == n)
                        n++;
        }
        *ret_n = n;
        return RPC_OK;
}

static int check_exec(struct rpc_call *call, const Ak__V1__ExecDetachedRequest *req, uint64_t *ret_max)
{
        size_t total = 0;
        if (req->n_argv == 0 || req->n_argv > DETACHED_MAX_ARGV - 4)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "argv: %zu entries, want 1 to %d", req->n_argv,
                                     DETACHED_MAX_ARGV - 4);
        for (size_t i = 0; i < req->n_argv; i++)
                total += strlen(req->argv[i]) + 1;
        for (size_t i = 0; i < req->n_env; i++)
                total += strlen(req->env[i]) + 1;
        if (total > DETACHED_MAX_ARGV_BYTES - 4096)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "argv and env: %zu bytes, at most %zu", total,
                                     DETACHED_MAX_ARGV_BYTES - 4096);
        uint64_t max = req->max_log_bytes ? req->max_log_bytes : DETACHED_DEFAULT_LOG;
        if (max > DETACHED_MAX_LOG)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "max_log_bytes: %" PRIu64 ", at most %" PRIu64,
                                     max, DETACHED_MAX_LOG);
        *ret_max = max;
        return RPC_OK;
}

/* Starts the command; on RPC_OK c holds the script's output. */
static int start(struct executor *ex, struct rpc_call *call, const Ak__V1__ExecDetachedRequest *req,
                 const char *id, const char *started, const char *max, struct collect *c, int *ret_exit)
{
        struct sandbox *sb = sandbox_get(ex, req->sandbox ? req->sandbox : "");
        if (!sb)
                return rpc_call_fail(call, RPC_NOT_FOUND, "no sandbox named %s", req->sandbox);
        size_t cap = 2 + sb->n_env + req->n_env, n_env = 0;
        const char **keys = calloc(cap, sizeof(char *)), **vals = calloc(cap, sizeof(char *));
        char **split = calloc(req->n_env + 1, sizeof(char *));
        const char **args = calloc(req->n_argv + 4, sizeof(char *));
        int code;
        if (!keys || !vals || !split || !args) {
                code = rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
                goto out;
        }
        if ((code = build_env(call, sb, req, keys, vals, split, &n_env)) != RPC_OK)
                goto out;
        args[0] = DETACHED_ROOT;
        args[1] = id;
        args[2] = started;
        args[3] = max;
        for (size_t i = 0; i < req->n_argv; i++)
                args[4 + i] = req->argv[i];
        struct script_run sr = { .script = DETACHED_SH_START, .args = args, .n_args = req->n_argv + 4,
                                 .env_keys = keys, .env_values = vals, .n_env = n_env, .as_root = req->sudo,
                                 .cwd = req->workdir && req->workdir[0] ? req->workdir
                                                                        : req->sudo ? NULL : SANDBOX_USER_HOME,
                                 .max_out = 64 };
        code = script_call(ex, call, req->sandbox, "detached start", &sr, c, ret_exit);
out:
        for (size_t i = 0; split && i < req->n_env; i++)
                free(split[i]);
        free(split);
        free(keys);
        free(vals);
        free(args);
        sandbox_put(ex, sb);
        return code;
}

int detached_handle_exec(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        const Ak__V1__ExecDetachedRequest *req = (const void *)msg;
        uint64_t max_log = 0;
        int code = check_exec(call, req, &max_log);
        if (code != RPC_OK)
                return code;
        char id[AK_UUID_LEN + 1], started[24], max[24];
        if (ak_uuid7(id) < 0)
                return rpc_call_fail(call, RPC_INTERNAL, "detached start: no randomness for an id");
        snprintf(started, sizeof(started), "%" PRId64, ak_real_ms());
        snprintf(max, sizeof(max), "%" PRIu64, max_log);
        struct collect c = { 0 };
        int ex_code = 0;
        code = start(ud, call, req, id, started, max, &c, &ex_code);
        if (code == RPC_OK && ex_code == 104)
                code = rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "sandbox %s has %d detached commands already, "
                                     "the most it keeps; remove the sandbox to start over", req->sandbox,
                                     DETACHED_MAX_PER_SANDBOX);
        else if (code == RPC_OK && ex_code != 0)
                code = rpc_call_fail(call, RPC_FAILED_PRECONDITION, "detached start in sandbox %s: the guest's "
                                     "wrapper exited %d (does the image have sh, mkfifo, setsid?): %.300s",
                                     req->sandbox, ex_code, c.err);
        collect_done(&c);
        int outcome = code == RPC_OK ? AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT
                                     : AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_ERROR;
        audit_emit(ud, call, "command_executed", "exec_detached", outcome, req->sandbox, NULL);
        if (code != RPC_OK)
                return code;
        return reply_one(ud, call, req->sandbox, id);
}
