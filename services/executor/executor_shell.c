/* PTY shells through the guest agent's shell protocol: OpenShell keeps the
 * connection that started the session (the guest pushes shell_event
 * "output"/"exited" frames there) and streams them; ShellInput, ShellResize
 * and ShellClose address the session by id on a connection of their own and
 * return the guest's answer (sessions are the guest agent's, so an id from
 * another sandbox is simply not found there). The guest answers a close with
 * the session's "exited" on the closing connection (agentkernel's
 * behaviour), so ShellClose hands that exit code to the OpenShell call of
 * the session, which sends EXITED and ends. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/base/utf8.h"
#include "lib/crypto/crypto.h"
#include "lib/encoding/base64.h"
#include "lib/guest/frame.h"
#include "lib/guest/guest_client.h"
#include "services/executor/executor_audit.h"
#include "services/executor/executor_exec.h"
#include "services/executor/executor_guest_call.h"
#include "services/executor/executor_sandbox.h"
#include "services/executor/executor_shell.h"
#include "services/executor/executor_sign.h"
#include "services/executor/executor_state.h"

#define SHELL_MAX_ARGV 256
#define SHELL_MAX_ENV 256
#define SHELL_MAX_DIM 1000
#define SHELL_MAX_INPUT ((size_t)64 << 10)
/* Once a frame has begun, the rest must come this soon. */
#define SHELL_FRAME_MS 10000
#define SHELL_CALL_MS 10000

static int check_list(struct rpc_call *call, const char *field, char *const *v, size_t n, size_t max)
{
        if (n > max)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "%s: %zu entries, at most %zu", field, n, max);
        for (size_t i = 0; i < n; i++)
                if (strlen(v[i]) > SANDBOX_MAX_STRING)
                        return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "%s[%zu]: longer than %d bytes", field, i,
                                             SANDBOX_MAX_STRING);
        return RPC_OK;
}

static int send_event(struct rpc_call *call, Ak__V1__ShellEvent__Kind kind, const char *session, const void *data,
                      size_t len, int exit_code)
{
        Ak__V1__ShellEvent ev = AK__V1__SHELL_EVENT__INIT;
        ev.kind = kind;
        ev.session_id = (char *)(session ? session : "");
        ev.output = (ProtobufCBinaryData){ len, (uint8_t *)data };
        ev.exit_code = exit_code;
        return rpc_call_send(call, &ev.base);
}

/* One request on a fresh connection; the guest's answer, as a status. */
static int shell_request(struct executor *ex, struct rpc_call *call, const char *what, const char *sandbox,
                         struct proto_request_args *req)
{
        struct sandbox *sb = sandbox_get(ex, sandbox);
        char uds[108];
        int r, fd = -1;
        if (!sb)
                return guest_call_fail(call, what, sandbox, -ENOENT);
        if ((r = sandbox_running_uds(ex, sb, uds)) < 0 ||
            (r = guest_client_connect(uds, GUEST_AGENT_PORT, SHELL_CALL_MS, &fd)) < 0) {
                sandbox_put(ex, sb);
                return guest_call_fail(call, what, sandbox, r);
        }
        struct proto_reply *rep = NULL;
        r = guest_client_call(fd, req, SHELL_CALL_MS, &rep);
        close(fd);
        if (r == 0 && !rep->error && strcmp(req->type, "shell_close") == 0) {
                /* The session's "exited" came here: end its OpenShell. */
                pthread_mutex_lock(&ex->lock);
                for (struct guest_call *a = ex->guest_calls; a; a = a->next)
                        if (a->sb == sb && strcmp(a->session, req->session_id) == 0) {
                                a->shell_closed = true;
                                a->shell_exit = rep->has_exit_code ? rep->exit_code : -1;
                                shutdown(a->fd, SHUT_RDWR);
                        }
                pthread_mutex_unlock(&ex->lock);
        }
        sandbox_put(ex, sb);
        if (r < 0)
                return guest_call_fail(call, what, sandbox, r);
        int code;
        if (rep->error)
                code = rpc_call_fail(call, strstr(rep->error, "not found") ? RPC_NOT_FOUND : RPC_FAILED_PRECONDITION,
                                     "%s in sandbox %s: %.300s", what, sandbox, rep->error);
        else {
                Ak__V1__ShellAck ack = AK__V1__SHELL_ACK__INIT;
                rpc_call_reply(call, &ack.base);
                code = RPC_OK;
        }
        proto_reply_free(rep);
        return code;
}

static bool is_session_id(const char *s)
{
        size_t n = strlen(s);
        if (!n || n > 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!(s[i] == '-' || (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
                      (s[i] >= 'A' && s[i] <= 'Z')))
                        return false;
        return true;
}

#define CHECK_SESSION(call, req)                                                                               \
        do {                                                                                                   \
                if (!is_session_id((req)->session_id))                                                         \
                        return rpc_call_fail(call, RPC_INVALID_ARGUMENT,                                       \
                                             "session_id \"%.80s\": want the id OpenShell's STARTED event gave", \
                                             (req)->session_id);                                               \
        } while (0)

int shell_handle_input(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        const Ak__V1__ShellInputRequest *req = (const void *)msg;
        CHECK_SESSION(call, req);
        if (req->input.len == 0 || req->input.len > SHELL_MAX_INPUT)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "input: %zu bytes, want 1..%zu", req->input.len,
                                     SHELL_MAX_INPUT);
        char *b64 = NULL;
        if (base64_encode_alloc(req->input.data, req->input.len, &b64) < 0)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
        a.id = "in";
        a.type = "shell_input";
        a.session_id = req->session_id;
        a.input_base64 = b64;
        int code = shell_request(ud, call, "shell input", req->sandbox, &a);
        free(b64);
        return code;
}

int shell_handle_resize(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        const Ak__V1__ShellResizeRequest *req = (const void *)msg;
        CHECK_SESSION(call, req);
        if (!req->rows || !req->cols || req->rows > SHELL_MAX_DIM || req->cols > SHELL_MAX_DIM)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "rows %u, cols %u: want 1..%d each", req->rows,
                                     req->cols, SHELL_MAX_DIM);
        struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
        a.id = "resize";
        a.type = "shell_resize";
        a.session_id = req->session_id;
        a.rows = (int)req->rows;
        a.cols = (int)req->cols;
        return shell_request(ud, call, "shell resize", req->sandbox, &a);
}

int shell_handle_close(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        const Ak__V1__ShellCloseRequest *req = (const void *)msg;
        CHECK_SESSION(call, req);
        struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
        a.id = "close";
        a.type = "shell_close";
        a.session_id = req->session_id;
        return shell_request(ud, call, "shell close", req->sandbox, &a);
}

/* A session opened with receipt: what the receipt's outcome covers. */
struct shell_receipt {
        struct receipt *rc;
        struct crypto_sha256 *hash; /* over every OUTPUT byte */
        uint64_t bytes;
};

/* EXITED, with the receipt when the session asked for one: signed after
 * its command_executed event is stored (no receipt without its event, as
 * Exec), else receipt_error says why there is none. */
static void send_exited(struct executor *ex, struct rpc_call *call, struct sandbox *sb, const char *session,
                        int exit_code, struct shell_receipt *sr)
{
        Ak__V1__ShellEvent ev = AK__V1__SHELL_EVENT__INIT;
        ev.kind = AK__V1__SHELL_EVENT__KIND__EXITED;
        ev.session_id = (char *)session;
        ev.exit_code = exit_code;
        char *receipt_error = NULL;
        if (sr) {
                uint8_t digest[CRYPTO_SHA256_LEN];
                char attrs[160];
                crypto_sha256_final(sr->hash, digest);
                snprintf(attrs, sizeof(attrs), "{\"exit_code\":%d,\"output_bytes\":%llu,\"tty\":true}", exit_code,
                         (unsigned long long)sr->bytes);
                if (audit_emit(ex, call, "command_executed", "exec", AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT,
                               sb->name, attrs) < 0)
                        ev.receipt_error = "no receipt: its audit event could not be stored";
                else if (receipt_outcome_from_digest(exit_code, digest, sr->bytes, NULL, &sr->rc->outcome) < 0)
                        ev.receipt_error = "no receipt: out of memory";
                else
                        ev.receipt = sign_receipt(ex, sr->rc, &receipt_error);
                if (receipt_error)
                        ev.receipt_error = receipt_error;
        }
        rpc_call_send(call, &ev.base);
        if (ev.receipt)
                protobuf_c_message_free_unpacked(&ev.receipt->base, NULL);
        free(receipt_error);
}

static int wait_readable(int fd)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };
        while (poll(&p, 1, -1) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

/* Streams the session's frames until "exited", the connection ends, or the
 * call is cancelled (the janitor then shuts fd down). */
static int pump(struct executor *ex, struct rpc_call *call, struct sandbox *sb, int fd, struct guest_call *act,
                struct shell_receipt *sr)
{
        char session[80] = "";
        for (;;) {
                uint8_t *body = NULL;
                size_t len = 0;
                /* Idle shells wait as long as they like (the client holds
                 * the session; cancelling shuts fd down); once a frame has
                 * begun it must complete within SHELL_CALL_MS. */
                int r = session[0] ? wait_readable(fd) : 0;
                if (r == 0)
                        r = frame_read(fd, FRAME_MAX, SHELL_CALL_MS, &body, &len);
                if (r == -ETIMEDOUT && session[0])
                        r = -EPROTO;
                if (r < 0) {
                        pthread_mutex_lock(&ex->lock);
                        bool closed = act->shell_closed;
                        int code = act->shell_exit;
                        pthread_mutex_unlock(&ex->lock);
                        if (closed) {
                                send_exited(ex, call, sb, session, code, sr);
                                return RPC_OK;
                        }
                        if (act->cancelled && rpc_call_cancelled(call))
                                r = -ECANCELED;
                        else if (act->cancelled)
                                r = -ECONNRESET;
                        else if (r == -EMSGSIZE)
                                r = -EPROTO;
                        return guest_call_fail(call, "shell", sb->name, r);
                }
                struct proto_reply *rep = NULL;
                r = proto_reply_parse(body, len, &rep);
                free(body);
                if (r < 0)
                        return guest_call_fail(call, "shell", sb->name, -EPROTO);
                utf8_sanitize_str(rep->error);
                const char *evname = rep->shell_event ? rep->shell_event : "";
                int code = RPC_OK, sent = 0;
                if (!session[0]) {
                        if (rep->error || strcmp(evname, "started") != 0 || !rep->session_id ||
                            !is_session_id(rep->session_id))
                                code = rpc_call_fail(call, RPC_FAILED_PRECONDITION, "shell in sandbox %s: %.300s",
                                                     sb->name, rep->error ? rep->error : "the guest did not start it");
                        else {
                                snprintf(session, sizeof(session), "%s", rep->session_id);
                                pthread_mutex_lock(&ex->lock);
                                snprintf(act->session, sizeof(act->session), "%s", session);
                                pthread_mutex_unlock(&ex->lock);
                                sent = send_event(call, AK__V1__SHELL_EVENT__KIND__STARTED, session, NULL, 0, 0);
                        }
                } else if (strcmp(evname, "exited") == 0) {
                        send_exited(ex, call, sb, session, rep->has_exit_code ? rep->exit_code : -1, sr);
                        proto_reply_free(rep);
                        return RPC_OK;
                } else if (rep->output_base64) {
                        uint8_t *out = NULL;
                        size_t n = 0;
                        if (base64_decode_alloc(rep->output_base64, strlen(rep->output_base64), &out, &n) < 0)
                                code = guest_call_fail(call, "shell", sb->name, -EPROTO);
                        else if (n) {
                                if (sr) {
                                        crypto_sha256_update(sr->hash, out, n);
                                        sr->bytes += n;
                                }
                                sent = send_event(call, AK__V1__SHELL_EVENT__KIND__OUTPUT, session, out, n, 0);
                        }
                        free(out);
                }
                proto_reply_free(rep);
                if (code != RPC_OK)
                        return code;
                if (sent < 0)
                        return rpc_call_fail(call, RPC_CANCELLED, "client went away");
        }
}

static bool env_has(const char *const *keys, size_t n, const char *key)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(keys[i], key) == 0)
                        return true;
        return false;
}

int shell_handle_open(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        struct executor *ex = ud;
        const Ak__V1__OpenShellRequest *req = (const void *)msg;
        int code;
        if ((code = check_list(call, "argv", req->argv, req->n_argv, SHELL_MAX_ARGV)) != RPC_OK ||
            (code = check_list(call, "env", req->env, req->n_env, SHELL_MAX_ENV)) != RPC_OK)
                return code;
        if (req->rows > SHELL_MAX_DIM || req->cols > SHELL_MAX_DIM)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "rows %u, cols %u: at most %d each", req->rows,
                                     req->cols, SHELL_MAX_DIM);
        if (req->workdir && req->workdir[0] &&
            (req->workdir[0] != '/' || strlen(req->workdir) > SANDBOX_MAX_STRING))
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "workdir \"%.64s\": want an absolute guest path of "
                                     "at most %d bytes", req->workdir, SANDBOX_MAX_STRING);
        struct sandbox *sb = sandbox_get(ex, req->sandbox);
        if (!sb)
                return guest_call_fail(call, "shell", req->sandbox, -ENOENT);
        /* The sandbox's own environment first (its secrets' placeholders
         * and CA variables among it), the request's over it; HOME and USER
         * for the sandbox user after them. */
        size_t n_keys = sb->n_env + req->n_env + 2;
        const char **keys = calloc(n_keys + 1, sizeof(char *)), **vals = calloc(n_keys + 1, sizeof(char *));
        char **split = calloc(req->n_env + 1, sizeof(char *));
        static const char *const sh[] = { "/bin/sh" };
        struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
        struct shell_receipt sr = { 0 };
        char uds[108];
        size_t n = 0;
        int r, fd = -1;
        if (req->receipt &&
            (!(sr.rc = exec_receipt_new(sb, req->n_argv ? req->argv : (char *const *)sh, req->n_argv ? req->n_argv : 1,
                                        req->env, req->n_env, req->workdir, !req->sandbox_user)) ||
             crypto_sha256_new(&sr.hash) < 0)) {
                code = rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
                goto out;
        }
        if (!keys || !vals || !split) {
                code = rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < sb->n_env; i++, n++) {
                keys[n] = sb->env_keys[i];
                vals[n] = sb->env_values[i];
        }
        for (size_t i = 0; i < req->n_env; i++) {
                char *eq = strchr(req->env[i], '=');
                if (!eq || eq == req->env[i] || !(split[i] = strndup(req->env[i], (size_t)(eq - req->env[i])))) {
                        code = rpc_call_fail(call, RPC_INVALID_ARGUMENT, "env[%zu] \"%.64s\": want KEY=VALUE", i,
                                             req->env[i]);
                        goto out;
                }
                size_t k = 0;
                while (k < n && strcmp(keys[k], split[i]) != 0)
                        k++;
                keys[k] = split[i];
                vals[k] = eq + 1;
                n += k == n;
        }
        if (req->sandbox_user) {
                /* As Exec without sudo: the user's HOME and USER unless the
                 * sandbox or the request sets its own. */
                if (!env_has(keys, n, "HOME")) {
                        keys[n] = "HOME";
                        vals[n++] = SANDBOX_USER_HOME;
                }
                if (!env_has(keys, n, "USER")) {
                        keys[n] = "USER";
                        vals[n++] = SANDBOX_USER_NAME;
                }
                a.uid = a.gid = SANDBOX_USER_UID;
        }
        a.cwd = req->workdir && req->workdir[0] ? req->workdir : req->sandbox_user ? SANDBOX_USER_HOME : NULL;
        a.id = "shell";
        a.type = "shell";
        a.command = req->n_argv ? (const char *const *)req->argv : sh;
        a.n_command = req->n_argv ? req->n_argv : 1;
        a.env_keys = keys;
        a.env_values = vals;
        a.n_env = n;
        a.rows = req->rows ? (int)req->rows : 24;
        a.cols = req->cols ? (int)req->cols : 80;
        char *json = NULL;
        size_t json_len = 0;
        if ((r = sandbox_running_uds(ex, sb, uds)) < 0 ||
            (r = guest_client_connect(uds, GUEST_AGENT_PORT, SHELL_CALL_MS, &fd)) < 0) {
                code = guest_call_fail(call, "shell", sb->name, r);
                goto out;
        }
        if (proto_request_json(&a, &json, &json_len) < 0) {
                code = rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
                goto out;
        }
        r = frame_write(fd, json, json_len, SHELL_CALL_MS);
        free(json);
        if (r < 0) {
                code = guest_call_fail(call, "shell", sb->name, r);
                goto out;
        }
        struct guest_call act = { .call = call, .sb = sb, .fd = fd };
        guest_call_begin(ex, &act);
        code = pump(ex, call, sb, fd, &act, req->receipt ? &sr : NULL);
        guest_call_end(ex, &act);
out:
        receipt_free(sr.rc);
        crypto_sha256_free(sr.hash);
        if (fd >= 0)
                close(fd);
        for (size_t i = 0; split && i < req->n_env; i++)
                free(split[i]);
        free(split);
        free(keys);
        free(vals);
        sandbox_put(ex, sb);
        return code;
}
