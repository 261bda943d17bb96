/* Exec and Run: a command in a sandbox's guest with output streamed as the
 * guest produces it (the guest's `stream` extension), then one result with
 * the receipt. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/base/time.h"
#include "lib/base/uuid.h"
#include "lib/crypto/crypto.h"
#include "lib/encoding/base64.h"
#include "lib/guest/frame.h"
#include "lib/guest/guest_client.h"
#include "lib/receipt/receipt.h"
#include "lib/svc/phases.h"
#include "lib/svc/log.h"
#include "services/executor/executor_audit.h"
#include "services/executor/executor_drain.h"
#include "services/executor/executor_exec.h"
#include "services/executor/executor_guest_call.h"
#include "services/executor/executor_images.h"
#include "services/executor/executor_lifecycle.h"
#include "services/executor/executor_metrics.h"
#include "services/executor/executor_sandbox.h"
#include "services/executor/executor_sign.h"
#include "services/executor/executor_state.h"
#include "vmm/vmbox.h"

#define EXEC_MAX_ARGV 4096
#define EXEC_MAX_ARG_BYTES ((size_t)128 << 10)
#define EXEC_MAX_TOTAL ((size_t)1 << 20)
#define EXEC_DEFAULT_MAX_OUTPUT ((uint64_t)64 << 20)
/* The guest's own kill comes first; we give up this much later. */
#define EXEC_GRACE_MS 15000

/* Where the command's output goes. Only the first `max` bytes are kept:
 * they are what the client gets, what output_bytes counts and what the
 * receipt's hash covers; at the cap the host stops reading. */
struct sink {
        struct rpc_call *call;
        const char *sandbox;
        const char *stream_id; /* interactive: the guest run's id */
        struct crypto_sha256 *hash;
        uint64_t sent, max;
        bool truncated, gone;
};

/* -EFBIG once the output reached the cap, -ECANCELED once the client is
 * gone: either way nothing more is worth reading from the guest. */
static int send_bytes(struct sink *s, const char *stream, const void *data, size_t len)
{
        if (s->gone)
                return -ECANCELED;
        if (s->sent + len > s->max) {
                s->truncated = true;
                len = (size_t)(s->max - s->sent);
        }
        crypto_sha256_update(s->hash, data, len);
        if (!len)
                return s->truncated ? -EFBIG : 0;
        Ak__V1__OutputChunk c = AK__V1__OUTPUT_CHUNK__INIT;
        if (stream && strcmp(stream, "stderr") == 0) {
                c.kind_case = AK__V1__OUTPUT_CHUNK__KIND_STDERR;
                c.stderr = (ProtobufCBinaryData){ len, (uint8_t *)data };
        } else {
                c.kind_case = AK__V1__OUTPUT_CHUNK__KIND_STDOUT;
                c.stdout = (ProtobufCBinaryData){ len, (uint8_t *)data };
        }
        s->sent += len;
        if (rpc_call_send(s->call, &c.base) < 0) {
                s->gone = true;
                return -ECANCELED;
        }
        return s->truncated ? -EFBIG : 0;
}

/* A nonzero return ends the guest call; exec_in then closes the
 * connection, and the guest kills the command. */
static int on_chunk(void *ud, const struct proto_reply *chunk)
{
        struct sink *s = ud;
        if (s->stream_id && chunk->stream && strcmp(chunk->stream, "stdin") == 0 && !chunk->output_base64) {
                /* The command takes stdin now: tell the client where. */
                Ak__V1__StdinReady ready = AK__V1__STDIN_READY__INIT;
                ready.sandbox = (char *)s->sandbox;
                ready.stream_id = (char *)s->stream_id;
                Ak__V1__OutputChunk c = AK__V1__OUTPUT_CHUNK__INIT;
                c.kind_case = AK__V1__OUTPUT_CHUNK__KIND_STDIN_READY;
                c.stdin_ready = &ready;
                if (rpc_call_send(s->call, &c.base) < 0) {
                        s->gone = true;
                        return -ECANCELED;
                }
                return 0;
        }
        uint8_t *buf = NULL;
        size_t len = 0;
        if (!chunk->output_base64 ||
            base64_decode_alloc(chunk->output_base64, strlen(chunk->output_base64), &buf, &len) < 0)
                return 0;
        int r = send_bytes(ud, chunk->stream, buf, len);
        free(buf);
        return r;
}

/* Sets keys[k] = value, replacing an earlier entry of that name. */
static void env_set(const char **keys, const char **vals, size_t *n, const char *key, const char *value)
{
        for (size_t i = 0; i < *n; i++)
                if (strcmp(keys[i], key) == 0) {
                        vals[i] = value;
                        return;
                }
        keys[*n] = key;
        vals[(*n)++] = value;
}

struct exec_args {
        const char *sandbox;
        char *const *argv;
        size_t argc;
        char *const *env;   /* KEY=VALUE */
        size_t n_env;
        const char *workdir;
        bool sudo;
        bool interactive;   /* stdin from WriteStdin */
        uint32_t timeout_ms;
        uint64_t max_output;
        struct receipt *receipt;  /* invocation set by the caller */
        struct svc_phases *ph;    /* the call's timings (may be NULL) */
};

static int check_strings(struct rpc_call *call, const char *field, char *const *v, size_t n, size_t max_n,
                         size_t *total)
{
        if (n > max_n)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "%s: %zu entries, at most %zu", field, n, max_n);
        for (size_t i = 0; i < n; i++) {
                size_t l = strlen(v[i]);
                if (l > EXEC_MAX_ARG_BYTES)
                        return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "%s[%zu]: %zu bytes, at most %zu", field, i,
                                             l, EXEC_MAX_ARG_BYTES);
                *total += l;
        }
        if (*total > EXEC_MAX_TOTAL)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "command and environment: %zu bytes, at most %zu",
                                     *total, EXEC_MAX_TOTAL);
        return RPC_OK;
}

/* After the guest's answer: output it sent whole (a guest without the
 * stream extension does), then the result with the receipt; audited. */
static int send_result(struct executor *ex, struct rpc_call *call, struct sandbox *sb, const struct exec_args *a,
                       struct sink *s, struct proto_reply *rep, int64_t t0)
{
        if (rep->stdout_len)
                send_bytes(s, "stdout", rep->stdout_str, rep->stdout_len);
        if (rep->stderr_len)
                send_bytes(s, "stderr", rep->stderr_str, rep->stderr_len);

        Ak__V1__ExecResult res = AK__V1__EXEC_RESULT__INIT;
        res.exit_code = rep->has_exit_code ? rep->exit_code : -1;
        res.error = rep->error ? rep->error : (char *)"";
        res.timed_out = rep->timed_out;
        res.signal = rep->signal > 0 ? rep->signal : 0;
        res.truncated = rep->truncated || s->truncated;
        res.output_bytes = s->sent;
        res.sandbox = sb->name;
        res.duration_ms = ak_mono_ms() - t0;
        svc_phases_mark(a->ph, "command");
        exmetrics_exec(res.exit_code, res.timed_out, (double)res.duration_ms / 1000.0);
        SVC_LOG(SVC_LOG_INFO, "exec", SVC_LOG_S("sandbox", sb->name), SVC_LOG_S("tenant", sb->tenant),
                SVC_LOG_I("exit_code", res.exit_code), SVC_LOG_I("duration_ms", res.duration_ms),
                SVC_LOG_I("timed_out", res.timed_out), SVC_LOG_I("output_bytes", res.output_bytes),
                SVC_LOG_S("error", res.error));
        uint8_t digest[CRYPTO_SHA256_LEN];
        crypto_sha256_final(s->hash, digest);
        char *receipt_error = NULL;
        if (receipt_outcome_from_digest(res.exit_code, digest, s->sent, rep->error, &a->receipt->outcome) == 0)
                res.receipt = sign_receipt(ex, a->receipt, &receipt_error);
        res.receipt_error = receipt_error ? receipt_error : (char *)"";
        svc_phases_mark(a->ph, "sign");
        Ak__V1__OutputChunk c = AK__V1__OUTPUT_CHUNK__INIT;
        c.kind_case = AK__V1__OUTPUT_CHUNK__KIND_RESULT;
        c.result = &res;
        char attrs[256];
        snprintf(attrs, sizeof(attrs), "{\"exit_code\":%d,\"output_bytes\":%llu,\"timed_out\":%s}", res.exit_code,
                 (unsigned long long)s->sent, res.timed_out ? "true" : "false");
        int code = RPC_OK;
        int ar = audit_emit(ex, call, "command_executed", "exec", AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT,
                            sb->name, attrs);
        svc_phases_mark(a->ph, "audit_exec");
        if (ar < 0)
                code = audit_refuse(ex, call, ar); /* no result (and receipt) without its event */
        else if (!s->gone && rpc_call_send(call, &c.base) < 0)
                code = rpc_call_fail(call, RPC_CANCELLED, "client went away");
        else if (s->gone)
                code = rpc_call_fail(call, RPC_CANCELLED, "client went away");
        svc_phases_mark(a->ph, "send_result");
        if (res.receipt)
                protobuf_c_message_free_unpacked(&res.receipt->base, NULL);
        free(receipt_error);
        return code;
}

/* Runs a->argv in sb; streams chunks, then the result. */
static int exec_in(struct executor *ex, struct rpc_call *call, struct sandbox *sb, const struct exec_args *a)
{
        char uds[108];
        int r, code;

        if ((r = sandbox_running_uds(ex, sb, uds)) < 0)
                return guest_call_fail(call, "exec", sb->name, r);
        /* The image's config (an imported OCI image's Env, WorkingDir,
         * User), as docker applies it. */
        struct image_exec_config *ic = calloc(1, sizeof(*ic));
        struct ak_error ierr = { 0 };
        if (!ic)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        if ((r = images_exec_config(ex, sb->image, ic, &ierr)) < 0) {
                free(ic);
                return rpc_call_fail(call, r == -EINVAL ? RPC_FAILED_PRECONDITION : RPC_UNAVAILABLE, "%s",
                                     ierr.msg);
        }
        size_t n_image_env = 0;
        for (char *p = ic->env; (p = strchr(p, '\n')); p++)
                n_image_env++;
        /* Environment: the user's HOME and USER, then the image's, then the
         * sandbox's, then the request's; a later one replaces an earlier one
         * of the same name. */
        size_t n_env = 0, cap = 2 + n_image_env + sb->n_env + a->n_env;
        const char **keys = calloc(cap + 1, sizeof(char *)), **vals = calloc(cap + 1, sizeof(char *));
        char **split = calloc(a->n_env + 1, sizeof(char *));
        size_t n_pre = 0;
        const char **argv = calloc(a->argc + 1, sizeof(char *));
        struct sink s = { .call = call, .sandbox = sb->name,
                          .max = a->max_output ? a->max_output : EXEC_DEFAULT_MAX_OUTPUT };
        char stream_id[AK_UUID_LEN + 1];
        int fd = -1;
        if (!keys || !vals || !split || !argv || crypto_sha256_new(&s.hash) < 0) {
                code = rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
                goto out;
        }
        env_set(keys, vals, &n_env, "HOME", a->sudo ? "/root" : SANDBOX_USER_HOME);
        env_set(keys, vals, &n_env, "USER", a->sudo ? "root" : SANDBOX_USER_NAME);
        /* The image's lines, cut in place into KEY and VALUE (a line
         * without '=' or with an empty key is skipped, as docker does). */
        for (char *line = ic->env, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
                *nl = 0;
                char *eq = strchr(line, '=');
                if (!eq || eq == line)
                        continue;
                *eq = 0;
                env_set(keys, vals, &n_env, line, eq + 1);
        }
        for (size_t i = 0; i < sb->n_env; i++)
                env_set(keys, vals, &n_env, sb->env_keys[i], sb->env_values[i]);
        for (size_t i = 0; i < a->n_env; i++) {
                char *eq = strchr(a->env[i], '=');
                if (!eq || eq == a->env[i]) {
                        code = rpc_call_fail(call, RPC_INVALID_ARGUMENT, "env[%zu] \"%.64s\": want KEY=VALUE", i,
                                             a->env[i]);
                        goto out;
                }
                split[i] = strndup(a->env[i], (size_t)(eq - a->env[i]));
                env_set(keys, vals, &n_env, split[i], eq + 1);
        }
        for (size_t i = 0; i < a->argc; i++)
                argv[n_pre + i] = a->argv[i];

        struct proto_request_args req = PROTO_REQUEST_ARGS_INIT;
        req.id = "exec";
        if (a->interactive) {
                /* The guest finds the run by this id when stdin comes on
                 * another connection (WriteStdin), so it must be unique. */
                if (ak_uuid7(stream_id) < 0) {
                        code = rpc_call_fail(call, RPC_INTERNAL, "stream id: no random bytes");
                        goto out;
                }
                req.id = s.stream_id = stream_id;
                req.stdin_pipe = 1;
        }
        req.type = "run";
        req.command = argv;
        req.n_command = a->argc + n_pre;
        req.env_keys = keys;
        req.env_values = vals;
        req.n_env = n_env;
        /* Without sudo, the image's user when it names one, else the
         * sandbox's; starting in the image's WorkingDir, else the user's
         * home (with sudo: the agent's). */
        if (!a->sudo) {
                req.uid = ic->has_user ? ic->uid : SANDBOX_USER_UID;
                req.gid = ic->has_user ? ic->gid : SANDBOX_USER_UID;
        }
        req.cwd = a->workdir && a->workdir[0] ? a->workdir
                  : ic->working_dir[0]         ? ic->working_dir
                  : a->sudo                    ? NULL
                                               : SANDBOX_USER_HOME;
        req.stream = 1;
        /* Without a timeout of its own, a command gets the executor's
         * (--exec-timeout-ms): the guest kills it then, and the host gives
         * up on the guest EXEC_GRACE_MS later, however it spaces its bytes. */
        uint32_t timeout_ms = a->timeout_ms ? a->timeout_ms : ex->cfg.exec_timeout_ms;
        req.timeout_ms = timeout_ms;
        req.max_output_bytes = (int64_t)(s.max < FRAME_MAX ? s.max : FRAME_MAX);

        svc_phases_mark(a->ph, "prepare");
        int64_t t0 = ak_mono_ms();
        if ((r = guest_client_connect(uds, GUEST_AGENT_PORT, 10000, &fd)) < 0) {
                code = guest_call_fail(call, "exec", sb->name, r);
                goto out;
        }
        svc_phases_mark(a->ph, "connect");
        struct guest_call act = { .call = call, .sb = sb, .fd = fd };
        guest_call_begin(ex, &act);
        struct proto_reply *rep = NULL;
        int64_t call_ms = (int64_t)timeout_ms + EXEC_GRACE_MS;
        r = guest_client_call_stream(fd, &req, call_ms > INT_MAX ? INT_MAX : (int)call_ms, on_chunk, &s, &rep);
        guest_call_end(ex, &act);
        /* Closing is what stops the command when we stopped reading. */
        close(fd);
        if (r == -EFBIG) {
                struct proto_reply cut = { .truncated = true };
                char why[160];
                snprintf(why, sizeof(why), "output reached max_output_bytes (%llu bytes): the command was stopped",
                         (unsigned long long)s.max);
                cut.error = why;
                code = send_result(ex, call, sb, a, &s, &cut, t0);
                goto out;
        }
        if (r < 0) {
                if (act.cancelled && rpc_call_cancelled(call))
                        r = -ECANCELED;
                audit_emit(ex, call, "sandbox_error", "exec", AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_ERROR, sb->name,
                           NULL);
                code = guest_call_fail(call, "exec", sb->name, act.cancelled && !rpc_call_cancelled(call) ? -ECONNRESET : r);
                goto out;
        }
        code = send_result(ex, call, sb, a, &s, rep, t0);
        proto_reply_free(rep);
out:
        if (s.hash)
                crypto_sha256_free(s.hash);
        for (size_t i = 0; split && i < a->n_env; i++)
                free(split[i]);
        free(split);
        free(keys);
        free(vals);
        free(argv);
        free(ic); /* keys and vals point into it */
        return code;
}

static char **strv_dup(char *const *v, size_t n)
{
        char **out = calloc(n + 1, sizeof(char *));
        for (size_t i = 0; out && i < n; i++)
                if (!(out[i] = strdup(v[i]))) {
                        receipt_strv_free(out, i);
                        return NULL;
                }
        return out;
}

struct receipt *exec_receipt_new(const struct sandbox *sb, char *const *argv, size_t argc, char *const *env,
                                 size_t n_env, const char *workdir, bool sudo)
{
        struct receipt *rc = NULL;
        if (receipt_new(&rc) < 0)
                return NULL;
        rc->invocation.mode = RECEIPT_MODE_EXEC;
        rc->invocation.exec.name = strdup(sb->name);
        rc->invocation.exec.command = strv_dup(argv, argc);
        rc->invocation.exec.n_command = argc;
        rc->invocation.exec.env = strv_dup(env, n_env);
        rc->invocation.exec.n_env = n_env;
        rc->invocation.exec.workdir = workdir && workdir[0] ? strdup(workdir) : NULL;
        rc->invocation.exec.sudo = sudo;
        rc->tenant = strdup(sb->tenant); /* unsigned metadata, see sign_receipt */
        if (!rc->invocation.exec.name || !rc->invocation.exec.command || !rc->invocation.exec.env || !rc->tenant) {
                receipt_free(rc);
                return NULL;
        }
        return rc;
}

int exec_handle_exec(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        struct executor *ex = ud;
        const Ak__V1__ExecRequest *req = (const void *)msg;
        size_t total = 0;
        int code;
        struct svc_phases ph;

        svc_phases_start(&ph, "exec");
        if (!req->n_argv)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "argv: empty");
        if ((code = check_strings(call, "argv", req->argv, req->n_argv, EXEC_MAX_ARGV, &total)) != RPC_OK ||
            (code = check_strings(call, "env", req->env, req->n_env, 256, &total)) != RPC_OK)
                return code;
        if (req->workdir && req->workdir[0] && req->workdir[0] != '/')
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "workdir \"%.80s\": must be absolute", req->workdir);
        struct sandbox *sb = sandbox_get(ex, req->sandbox ? req->sandbox : "");
        if (!sb)
                return rpc_call_fail(call, RPC_NOT_FOUND, "no sandbox named %s", req->sandbox);
        struct receipt *rc = exec_receipt_new(sb, req->argv, req->n_argv, req->env, req->n_env, req->workdir,
                                              req->sudo);
        if (!rc) {
                sandbox_put(ex, sb);
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        }
        struct exec_args a = {
                .sandbox = sb->name, .argv = req->argv, .argc = req->n_argv, .env = req->env, .n_env = req->n_env,
                .workdir = req->workdir, .sudo = req->sudo, .interactive = req->interactive,
                .timeout_ms = req->timeout_ms,
                .max_output = req->max_output_bytes, .receipt = rc, .ph = &ph,
        };
        code = exec_in(ex, call, sb, &a);
        receipt_free(rc);
        sandbox_put(ex, sb);
        exmetrics_phases(&ph);
        return code;
}

int exec_handle_run(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        struct executor *ex = ud;
        const Ak__V1__RunRequest *req = (const void *)msg;
        size_t total = 0;
        int code;

        /* No argv: the image's Entrypoint + Cmd, once the image is here. */
        if ((code = check_strings(call, "argv", req->argv, req->n_argv, EXEC_MAX_ARGV, &total)) != RPC_OK)
                return code;
        struct image_exec_config *ic = NULL;
        char **image_argv = NULL;
        char *const *argv = req->argv;
        size_t argc = req->n_argv;
        struct sandbox *sb = NULL;
        struct svc_phases ph;
        svc_phases_start(&ph, "run");
        drain_run_begin(ex);
        if ((code = lifecycle_create(ex, req->spec, call, &ph, &sb)) != RPC_OK) {
                drain_run_end(ex);
                if (sb) {
                        char name[SANDBOX_NAME_MAX + 1];
                        snprintf(name, sizeof(name), "%s", sb->name);
                        sandbox_put(ex, sb);
                        lifecycle_remove(ex, name, call, false);
                }
                return code;
        }
        struct receipt *rc = NULL;
        if (!argc) {
                struct ak_error ierr = { 0 };
                int r;
                if (!(ic = calloc(1, sizeof(*ic)))) {
                        code = rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
                        goto out;
                }
                if ((r = images_exec_config(ex, sb->image, ic, &ierr)) < 0) {
                        code = rpc_call_fail(call, r == -EINVAL ? RPC_FAILED_PRECONDITION : RPC_UNAVAILABLE, "%s",
                                             ierr.msg);
                        goto out;
                }
                if (!ic->n_command) {
                        code = rpc_call_fail(call, RPC_INVALID_ARGUMENT, "argv: empty, and image %s has no "
                                             "Entrypoint or Cmd to run instead", sb->image);
                        goto out;
                }
                if (!(image_argv = calloc(ic->n_command + 1, sizeof(char *)))) {
                        code = rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
                        goto out;
                }
                for (size_t off = 0; argc < ic->n_command && off < ic->command_len; argc++) {
                        image_argv[argc] = ic->command + off;
                        off += strlen(ic->command + off) + 1;
                }
                argv = image_argv;
        }
        if (receipt_new(&rc) < 0) {
                code = rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
                goto out;
        }
        rc->invocation.mode = RECEIPT_MODE_RUN;
        rc->invocation.run.command = strv_dup(argv, argc);
        rc->invocation.run.n_command = argc;
        rc->invocation.run.image = strdup(sb->image);
        rc->invocation.run.backend = strdup(ex->node.backend);
        rc->invocation.run.profile = strdup(sb->profile->name);
        rc->invocation.run.no_network = !sb->network;
        rc->invocation.run.fast = sb->from_pool;
        rc->invocation.run.keep = req->keep;
        rc->tenant = strdup(sb->tenant);
        /* One-shot runs are agentkernel's `run`: as root in the guest. */
        struct exec_args a = {
                .sandbox = sb->name, .argv = argv, .argc = argc, .sudo = true, .interactive = req->interactive,
                .timeout_ms = req->timeout_ms, .max_output = req->max_output_bytes, .receipt = rc, .ph = &ph,
        };
        code = exec_in(ex, call, sb, &a);
        receipt_free(rc);
out:;
        free(image_argv);
        free(ic);
        char name[SANDBOX_NAME_MAX + 1];
        snprintf(name, sizeof(name), "%s", sb->name);
        bool keep = req->keep || (req->spec && req->spec->persistent);
        sandbox_put(ex, sb);
        /* The answer does not wait for the VM to go (the janitor stops it). */
        if (!keep)
                lifecycle_remove(ex, name, call, true);
        drain_run_end(ex);
        svc_phases_mark(&ph, "remove");
        exmetrics_phases(&ph);
        return code;
}
