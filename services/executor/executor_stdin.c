/* WriteStdin: bytes for an interactive Exec's or Run's stdin, sent to the
 * guest as a `shell_input` frame whose session_id is the run's id (the
 * guest's stdin extension, guest/feed.c) on a connection of its own. The
 * guest answers once the bytes are in the command's stdin pipe, so this
 * call holds at most one request's bytes and returns when the command has
 * taken them: the client's next call is the flow control. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/encoding/base64.h"
#include "lib/guest/guest_client.h"
#include "services/executor/executor_guest_call.h"
#include "services/executor/executor_sandbox.h"
#include "services/executor/executor_state.h"
#include "services/executor/executor_stdin.h"

/* Past the command's own timeout the guest has killed it (and answered). */
#define STDIN_GRACE_MS 15000

static bool is_stream_id(const char *s)
{
        size_t n = strlen(s);
        if (!n || n > 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!(s[i] == '-' || (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

/* The guest's answer as a status: its words say what became of the bytes. */
static int answer(struct rpc_call *call, const char *sandbox, const struct proto_reply *rep)
{
        if (!rep->error) {
                Ak__V1__WriteStdinResponse ok = AK__V1__WRITE_STDIN_RESPONSE__INIT;
                rpc_call_reply(call, &ok.base);
                return RPC_OK;
        }
        enum rpc_code code = strstr(rep->error, "not found")            ? RPC_NOT_FOUND
                             : strstr(rep->error, "Failed to write to") ? RPC_FAILED_PRECONDITION
                                                                        : RPC_INTERNAL;
        return rpc_call_fail(call, code, "stdin of the command in sandbox %s: %.300s", sandbox, rep->error);
}

int stdin_handle_write(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        struct executor *ex = ud;
        const Ak__V1__WriteStdinRequest *req = (const void *)msg;
        const char *name = req->sandbox ? req->sandbox : "";

        if (!is_stream_id(req->stream_id ? req->stream_id : ""))
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT,
                                     "stream_id \"%.80s\": want the id the call's StdinReady gave", req->stream_id);
        if (req->data.len > STDIN_MAX_CHUNK)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "data: %zu bytes, at most %d per call",
                                     req->data.len, STDIN_MAX_CHUNK);
        if (!req->data.len && !req->eof)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "neither data nor eof: nothing to write");
        char *b64 = NULL;
        if (base64_encode_alloc(req->data.data, req->data.len, &b64) < 0)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        struct sandbox *sb = sandbox_get(ex, name);
        char uds[108];
        int r, fd = -1, code;
        if (!sb) {
                free(b64);
                return guest_call_fail(call, "stdin", name, -ENOENT);
        }
        struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
        a.id = "stdin";
        a.type = "shell_input";
        a.session_id = req->stream_id;
        a.input_base64 = b64;
        a.eof = req->eof ? 1 : -1;
        int64_t wait_ms = (int64_t)ex->cfg.exec_timeout_ms + STDIN_GRACE_MS;
        if ((r = sandbox_running_uds(ex, sb, uds)) < 0 ||
            (r = guest_client_connect(uds, GUEST_AGENT_PORT, 10000, &fd)) < 0) {
                code = guest_call_fail(call, "stdin", name, r);
                goto out;
        }
        struct guest_call act = { .call = call, .sb = sb, .fd = fd };
        guest_call_begin(ex, &act);
        struct proto_reply *rep = NULL;
        r = guest_client_call(fd, &a, wait_ms > 0x7fffffff ? 0x7fffffff : (int)wait_ms, &rep);
        guest_call_end(ex, &act);
        close(fd);
        if (r < 0) {
                code = guest_call_fail(call, "stdin", name, act.cancelled && rpc_call_cancelled(call) ? -ECANCELED : r);
                goto out;
        }
        code = answer(call, name, rep);
        proto_reply_free(rep);
out:
        sandbox_put(ex, sb);
        free(b64);
        return code;
}
