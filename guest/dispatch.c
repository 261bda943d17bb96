/* One parsed request -> its handler. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guest/agent_impl.h"
#include "guest/files.h"
#include "guest/path.h"
#include "lib/base/time.h"
#include "lib/guest/frame.h"
#include "lib/json/writer.h"

static void send_ok(struct conn *c, const char *id)
{
        struct proto_response r = { .id = id, .has_exit_code = true, .exit_code = 0 };

        conn_send(c, &r);
}

/* The path checks every file request starts with; false when answered. */
static bool checked_path(struct conn *c, const struct proto_request *req)
{
        const char *msg;

        if (!req->path) {
                conn_send_error(c, req->id, "No path specified");
                return false;
        }
        if (path_validate_resolved(req->path, &msg) < 0) {
                conn_send_error(c, req->id, msg);
                return false;
        }
        return true;
}

static void do_file(struct conn *c, const struct proto_request *req)
{
        char msg[512];
        int r = 0;

        if (!checked_path(c, req))
                return;
        switch (req->type) {
        case PROTO_WRITE_FILE:
                if (!req->content_base64) {
                        conn_send_error(c, req->id, "No content specified");
                        return;
                }
                r = files_write(req->path, req->content_base64, req->content_base64_len, req->mode, msg,
                                sizeof(msg));
                break;
        case PROTO_READ_FILE: {
                /* The largest file whose base64 still fits in one frame. */
                size_t overhead = 64 + json_quoted_size(req->id, strlen(req->id), PROTO_JSON_FLAGS);
                size_t max = overhead < FRAME_MAX ? (FRAME_MAX - overhead) / 4 * 3 : 0;
                char *b64;
                size_t len;
                r = files_read(req->path, max, &b64, &len, msg, sizeof(msg));
                if (r < 0)
                        break;
                struct proto_response resp = {
                        .id = req->id,
                        .has_exit_code = true,
                        .exit_code = 0,
                        .content_base64 = b64,
                        .content_base64_len = len,
                };
                conn_send(c, &resp);
                free(b64);
                return;
        }
        case PROTO_REMOVE_FILE:
                r = files_remove(req->path, msg, sizeof(msg));
                break;
        case PROTO_MKDIR:
                r = files_mkdir(req->path, req->recursive == 1, msg, sizeof(msg));
                break;
        default:
                return;
        }
        if (r < 0)
                conn_send_error(c, req->id, msg);
        else
                send_ok(c, req->id);
}

void dispatch_request(struct conn *c, struct proto_request *req)
{
        struct agent *a = conn_agent(c);

        switch (req->type) {
        case PROTO_PING:
                send_ok(c, req->id);
                return;
        case PROTO_SHUTDOWN:
                send_ok(c, req->id);
                a->shutdown_requested = true;
                a->shutdown_conn = c;
                a->shutdown_deadline_ms = ak_mono_ms() + 1000;
                return;
        case PROTO_RUN:
                run_start(c, req);
                return;
        case PROTO_SHELL:
                shell_start(c, req);
                return;
        case PROTO_SHELL_INPUT:
                shell_input(c, req);
                return;
        case PROTO_SHELL_RESIZE:
                shell_resize(c, req);
                return;
        case PROTO_SHELL_CLOSE:
                shell_close(c, req);
                return;
        case PROTO_WRITE_FILE:
        case PROTO_READ_FILE:
        case PROTO_REMOVE_FILE:
        case PROTO_MKDIR:
                do_file(c, req);
                return;
        case _PROTO_TYPE_MAX:
                break;
        }
        conn_send_error(c, req->id, "Unknown request type");
}
