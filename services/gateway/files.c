/* File routes: GET/PUT/DELETE /sandboxes/{name}/files/{path}, and the batch
 * POST /sandboxes/{name}/files. Paths come checked from gw_route_parse
 * (absolute, no "." or ".." segments). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/utf8.h"
#include "lib/encoding/base64.h"
#include "lib/json/writer.h"
#include "lib/rpc/rpc.h"
#include "services/gateway/api_internal.h"

/* The guest says ENOENT through FAILED_PRECONDITION: that is a 404. */
static int file_error(struct gw_resp *ret, int code, const struct ak_error *err)
{
        if (code == RPC_FAILED_PRECONDITION && strstr(err->msg, "No such file or directory"))
                return gw_resp_error(ret, 404, err->msg);
        return gw_rpc_error(ret, code, err);
}

int gw_file_get(struct gateway *g, const struct gw_route *rt, const char *tenant, struct gw_resp *ret)
{
        Ak__V1__ReadFileRequest req = AK__V1__READ_FILE_REQUEST__INIT;
        Ak__V1__ReadFileResponse *resp = NULL;
        struct ak_error err = { 0 };
        char *b64 = NULL;

        req.sandbox = (char *)rt->name;
        req.path = (char *)rt->path;
        int code = gw_call(g, tenant, "ReadFile", &req, (void **)&resp, &err);
        if (code != RPC_OK)
                return file_error(ret, code, &err);
        const void *data = resp->content.data;
        size_t len = resp->content.len;
        bool text = utf8_valid(data, len) && !memchr(data, '\0', len);
        if (!text && base64_encode_alloc(data, len, &b64) < 0) {
                protobuf_c_message_free_unpacked(&resp->base, NULL);
                return gw_resp_error(ret, 500, "out of memory encoding the file");
        }
        struct json_writer *w = gw_begin_ok();
        if (w) {
                json_writer_begin_object(w);
                gw_key(w, "content");
                if (text)
                        json_writer_string(w, data, len);
                else
                        json_writer_string(w, b64, strlen(b64));
                gw_str(w, "encoding", text ? "utf8" : "base64");
                gw_key(w, "size");
                json_writer_u64(w, len);
                json_writer_end_object(w);
        }
        free(b64);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return gw_finish(w, 200, ret);
}

/* Mkdir -p of path's parent, then WriteFile (agentkernel creates parents). */
static int write_one(struct gateway *g, const char *tenant, const char *name, const char *path, const void *data, size_t len,
                     struct ak_error *err)
{
        Ak__V1__MkdirRequest mreq = AK__V1__MKDIR_REQUEST__INIT;
        Ak__V1__WriteFileRequest wreq = AK__V1__WRITE_FILE_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        char dir[GW_PATH_MAX + 1];
        const char *slash = strrchr(path, '/');
        int code;

        if (slash && slash != path) {
                snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
                mreq.sandbox = (char *)name;
                mreq.path = dir;
                mreq.recursive = true;
                code = gw_call(g, tenant, "Mkdir", &mreq, (void **)&resp, err);
                if (code != RPC_OK)
                        return code;
                protobuf_c_message_free_unpacked(resp, NULL);
        }
        wreq.sandbox = (char *)name;
        wreq.path = (char *)path;
        wreq.content.data = (uint8_t *)data;
        wreq.content.len = len;
        code = gw_call(g, tenant, "WriteFile", &wreq, (void **)&resp, err);
        if (code == RPC_OK)
                protobuf_c_message_free_unpacked(resp, NULL);
        return code;
}

int gw_file_put(struct gateway *g, const struct gw_route *rt, const struct gw_file_req *q, const char *tenant,
                struct gw_resp *ret)
{
        struct ak_error err = { 0 };

        int code = write_one(g, tenant, rt->name, rt->path, q->content, q->len, &err);
        if (code != RPC_OK)
                return gw_rpc_error(ret, code, &err);
        struct json_writer *w = gw_begin_ok();
        if (w)
                json_writer_string(w, "written", 7);
        return gw_finish(w, 200, ret);
}

int gw_file_delete(struct gateway *g, const struct gw_route *rt, const char *tenant, struct gw_resp *ret)
{
        Ak__V1__RemoveFileRequest req = AK__V1__REMOVE_FILE_REQUEST__INIT;
        Ak__V1__RemoveFileResponse *resp = NULL;
        struct ak_error err = { 0 };

        req.sandbox = (char *)rt->name;
        req.path = (char *)rt->path;
        int code = gw_call(g, tenant, "RemoveFile", &req, (void **)&resp, &err);
        if (code != RPC_OK)
                return file_error(ret, code, &err);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        struct json_writer *w = gw_begin_ok();
        if (w)
                json_writer_string(w, "deleted", 7);
        return gw_finish(w, 200, ret);
}

int gw_files_put(struct gateway *g, const char *name, const struct gw_files_req *q, const char *tenant,
                 struct gw_resp *ret)
{
        struct gw_route one;
        struct ak_error err = { 0 };
        char url[GW_PATH_MAX + 32];

        for (size_t i = 0; i < q->n_files; i++) {
                /* The same checks as a path in the URL: through the router. */
                snprintf(url, sizeof(url), "/sandboxes/x/files/%s", q->files[i].key);
                if (strlen(q->files[i].key) > GW_PATH_MAX || strchr(q->files[i].key, '%') ||
                    gw_route_parse("GET", url, &one, &err) < 0) {
                        char msg[GW_PATH_MAX + 200];
                        snprintf(msg, sizeof(msg), "files: '%.200s': %s", q->files[i].key,
                                 err.msg[0] ? err.msg : "'%' is not allowed in a path");
                        return gw_resp_error(ret, 400, msg);
                }
        }
        for (size_t i = 0; i < q->n_files; i++) {
                snprintf(url, sizeof(url), "/sandboxes/x/files/%s", q->files[i].key);
                gw_route_parse("GET", url, &one, &err);
                int code = write_one(g, tenant, name, one.path, q->files[i].value, strlen(q->files[i].value), &err);
                if (code != RPC_OK)
                        return gw_rpc_error(ret, code, &err);
        }
        struct json_writer *w = gw_begin_ok();
        if (w) {
                json_writer_begin_object(w);
                gw_key(w, "written");
                json_writer_u64(w, q->n_files);
                json_writer_end_object(w);
        }
        return gw_finish(w, 200, ret);
}
