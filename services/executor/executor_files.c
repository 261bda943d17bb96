/* File calls: one guest request each, on a connection of its own. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/encoding/base64.h"
#include "lib/guest/guest_client.h"
#include "services/executor/executor_audit.h"
#include "services/executor/executor_files.h"
#include "services/executor/executor_guest_call.h"
#include "services/executor/executor_sandbox.h"
#include "services/executor/executor_state.h"

#define FILE_MAX_CONTENT ((size_t)7 << 20)
#define FILE_TIMEOUT_MS 30000

/* The contract's policy, checked here too so no request reaches a guest. */
static bool path_refused(const char *p)
{
        static const char *const denied[] = { "/proc", "/sys", "/dev", "/etc/passwd", "/etc/shadow" };
        for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
                size_t n = strlen(denied[i]);
                if (strncmp(p, denied[i], n) == 0 && (p[n] == 0 || p[n] == '/'))
                        return true;
        }
        for (const char *c = p; (c = strstr(c, "..")); c += 2)
                if ((c == p || c[-1] == '/') && (c[2] == 0 || c[2] == '/'))
                        return true;
        return false;
}

static int check_path(struct rpc_call *call, const char *path)
{
        if (!path || path[0] != '/' || strlen(path) > 4096)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "path \"%.80s\": want an absolute path of at most "
                                     "4096 bytes", path ? path : "");
        if (path_refused(path))
                return rpc_call_fail(call, RPC_PERMISSION_DENIED, "path %.200s: refused by the sandbox file policy "
                                     "(/proc, /sys, /dev, /etc/passwd, /etc/shadow, ..)", path);
        return RPC_OK;
}

/* Sends req to sandbox `name`; on RPC_OK *ret is the guest's answer with
 * exit_code 0. */
static int file_call(struct executor *ex, struct rpc_call *call, const char *name, const char *what,
                     struct proto_request_args *req, struct proto_reply **ret)
{
        char uds[108];
        int r, fd = -1;
        struct sandbox *sb = sandbox_get(ex, name ? name : "");
        if (!sb)
                return rpc_call_fail(call, RPC_NOT_FOUND, "no sandbox named %s", name);
        if ((r = sandbox_running_uds(ex, sb, uds)) < 0 ||
            (r = guest_client_connect(uds, GUEST_AGENT_PORT, 10000, &fd)) < 0) {
                int code = guest_call_fail(call, what, sb->name, r);
                sandbox_put(ex, sb);
                return code;
        }
        struct guest_call act = { .call = call, .sb = sb, .fd = fd };
        guest_call_begin(ex, &act);
        struct proto_reply *rep = NULL;
        req->id = what;
        r = guest_client_call(fd, req, FILE_TIMEOUT_MS, &rep);
        guest_call_end(ex, &act);
        close(fd);
        int code = RPC_OK;
        if (r < 0)
                code = guest_call_fail(call, what, sb->name, r);
        else if (rep->error || !rep->has_exit_code || rep->exit_code != 0) {
                bool policy = rep->error && strstr(rep->error, "not allowed");
                code = rpc_call_fail(call, policy ? RPC_PERMISSION_DENIED : RPC_FAILED_PRECONDITION,
                                     "%s %s in sandbox %s: %.400s", what, req->path, sb->name,
                                     rep->error ? rep->error : "failed");
                proto_reply_free(rep);
        } else
                *ret = rep;
        sandbox_put(ex, sb);
        return code;
}

int files_handle_write(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        const Ak__V1__WriteFileRequest *req = (const void *)msg;
        int code;
        if ((code = check_path(call, req->path)) != RPC_OK)
                return code;
        if (req->content.len > FILE_MAX_CONTENT)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "content: %zu bytes, at most 7 MiB",
                                     req->content.len);
        if (req->mode > PROTO_MAX_MODE)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "mode %#o: want permission bits, at most 07777",
                                     req->mode);
        char *b64 = NULL;
        if (base64_encode_alloc(req->content.data, req->content.len, &b64) < 0)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
        a.type = "write_file";
        a.path = req->path;
        a.content_base64 = b64;
        if (req->mode) /* 0: the agent's default (0644 under its umask) */
                a.mode = (int)req->mode;
        struct proto_reply *rep = NULL;
        code = file_call(ud, call, req->sandbox, "write_file", &a, &rep);
        free(b64);
        int ar = audit_emit(ud, call, "file_written", "write_file",
                            code == RPC_OK ? AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT
                                           : AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_ERROR,
                            req->sandbox, NULL);
        if (code != RPC_OK)
                return code; /* failed anyway */
        proto_reply_free(rep);
        if (ar < 0)
                return audit_refuse(ud, call, ar);
        Ak__V1__WriteFileResponse resp = AK__V1__WRITE_FILE_RESPONSE__INIT;
        rpc_call_reply(call, &resp.base);
        return RPC_OK;
}

int files_handle_read(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        const Ak__V1__ReadFileRequest *req = (const void *)msg;
        int code;
        if ((code = check_path(call, req->path)) != RPC_OK)
                return code;
        struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
        a.type = "read_file";
        a.path = req->path;
        struct proto_reply *rep = NULL;
        code = file_call(ud, call, req->sandbox, "read_file", &a, &rep);
        int ar = audit_emit(ud, call, "file_read", "read_file",
                            code == RPC_OK ? AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT
                                           : AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_ERROR,
                            req->sandbox, NULL);
        if (code != RPC_OK)
                return code; /* failed anyway */
        if (ar < 0) {
                proto_reply_free(rep);
                return audit_refuse(ud, call, ar);
        }
        uint8_t *buf = NULL;
        size_t len = 0;
        if (!rep->content_base64 ||
            base64_decode_alloc(rep->content_base64, strlen(rep->content_base64), &buf, &len) < 0) {
                proto_reply_free(rep);
                return rpc_call_fail(call, RPC_UNAVAILABLE, "read_file %s: the guest sent no valid content_base64",
                                     req->path);
        }
        proto_reply_free(rep);
        Ak__V1__ReadFileResponse resp = AK__V1__READ_FILE_RESPONSE__INIT;
        resp.content = (ProtobufCBinaryData){ len, buf };
        rpc_call_reply(call, &resp.base);
        free(buf);
        return RPC_OK;
}

int files_handle_mkdir(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        const Ak__V1__MkdirRequest *req = (const void *)msg;
        int code;
        if ((code = check_path(call, req->path)) != RPC_OK)
                return code;
        struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
        a.type = "mkdir";
        a.path = req->path;
        a.recursive = req->recursive;
        struct proto_reply *rep = NULL;
        if ((code = file_call(ud, call, req->sandbox, "mkdir", &a, &rep)) != RPC_OK)
                return code;
        proto_reply_free(rep);
        Ak__V1__MkdirResponse resp = AK__V1__MKDIR_RESPONSE__INIT;
        rpc_call_reply(call, &resp.base);
        return RPC_OK;
}

int files_handle_remove(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        const Ak__V1__RemoveFileRequest *req = (const void *)msg;
        int code;
        if ((code = check_path(call, req->path)) != RPC_OK)
                return code;
        struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
        a.type = "remove_file";
        a.path = req->path;
        struct proto_reply *rep = NULL;
        if ((code = file_call(ud, call, req->sandbox, "remove_file", &a, &rep)) != RPC_OK)
                return code;
        proto_reply_free(rep);
        Ak__V1__RemoveFileResponse resp = AK__V1__REMOVE_FILE_RESPONSE__INIT;
        rpc_call_reply(call, &resp.base);
        return RPC_OK;
}
