/* JSON-RPC 2.0 and MCP's lifecycle and tools methods over lib/json. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/mcp/server.h"
#include "lib/base/io.h"
#include "lib/json/writer.h"

enum {
        RPC_PARSE_ERROR = -32700,
        RPC_INVALID_REQUEST = -32600,
        RPC_METHOD_NOT_FOUND = -32601,
        RPC_INVALID_PARAMS = -32602,
};

static const char *const versions[] = MCP_PROTOCOL_VERSIONS;

struct mcp_server {
        const struct mcp_server_config *c;
        char version[16];
};

int mcp_server_new(const struct mcp_server_config *c, struct mcp_server **ret)
{
        struct mcp_server *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->c = c;
        *ret = s;
        return 0;
}

void mcp_server_free(struct mcp_server *s)
{
        free(s);
}

const char *mcp_server_protocol_version(const struct mcp_server *s)
{
        return s->version;
}

static void key(struct json_writer *w, const char *k)
{
        json_writer_key(w, k, strlen(k));
}

static void str(struct json_writer *w, const char *v)
{
        json_writer_string(w, v, strlen(v));
}

/* id: a string or an integer-looking number; NULL writes null. */
static void begin_reply(struct json_writer *w, const struct json_value *id)
{
        json_writer_begin_object(w);
        key(w, "jsonrpc");
        str(w, "2.0");
        key(w, "id");
        if (id)
                json_writer_value(w, id);
        else
                json_writer_null(w);
}

static void error_reply(struct json_writer *w, const struct json_value *id, int code, const char *msg)
{
        begin_reply(w, id);
        key(w, "error");
        json_writer_begin_object(w);
        key(w, "code");
        json_writer_i64(w, code);
        key(w, "message");
        str(w, msg);
        json_writer_end_object(w);
        json_writer_end_object(w);
}

static void initialize(struct mcp_server *s, struct json_writer *w, const struct json_value *params)
{
        const struct json_value *pv = params ? json_object_get(params, "protocolVersion") : NULL;
        const char *want = pv && json_value_type(pv) == JSON_STRING ? json_string(pv, NULL) : "";
        const char *chosen = versions[0];

        for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
                if (strcmp(want, versions[i]) == 0)
                        chosen = versions[i];
        snprintf(s->version, sizeof(s->version), "%s", chosen);
        key(w, "protocolVersion");
        str(w, chosen);
        key(w, "capabilities");
        json_writer_begin_object(w);
        key(w, "tools");
        json_writer_begin_object(w);
        key(w, "listChanged");
        json_writer_bool(w, false);
        json_writer_end_object(w);
        json_writer_end_object(w);
        key(w, "serverInfo");
        json_writer_begin_object(w);
        key(w, "name");
        str(w, s->c->name);
        key(w, "version");
        str(w, s->c->version);
        json_writer_end_object(w);
}

static void tools_list(struct mcp_server *s, struct json_writer *w)
{
        key(w, "tools");
        json_writer_begin_array(w);
        for (size_t i = 0; i < s->c->n_tools; i++) {
                const struct mcp_tool *t = &s->c->tools[i];
                json_writer_begin_object(w);
                key(w, "name");
                str(w, t->name);
                key(w, "description");
                str(w, t->description);
                key(w, "inputSchema");
                json_writer_raw(w, t->input_schema, strlen(t->input_schema));
                json_writer_end_object(w);
        }
        json_writer_end_array(w);
}

/* Writes the tool's result; 0, or a JSON-RPC error code with *msg set. */
static int tools_call(struct mcp_server *s, struct json_writer *w, const struct json_value *params,
                      char *msg, size_t size)
{
        const struct json_value *name = params ? json_object_get(params, "name") : NULL;
        const struct json_value *args = params ? json_object_get(params, "arguments") : NULL;
        size_t nlen;

        if (!name || json_value_type(name) != JSON_STRING) {
                snprintf(msg, size, "tools/call needs params.name, a string (the tool's name; see tools/list)");
                return RPC_INVALID_PARAMS;
        }
        const char *n = json_string(name, &nlen);
        if (args && json_value_type(args) != JSON_OBJECT && json_value_type(args) != JSON_NULL) {
                snprintf(msg, size, "tools/call %.64s: params.arguments must be an object, not %s", n,
                         json_type_name(json_value_type(args)));
                return RPC_INVALID_PARAMS;
        }
        const struct mcp_tool *t = NULL;
        for (size_t i = 0; i < s->c->n_tools && !t; i++)
                if (strlen(s->c->tools[i].name) == nlen && memcmp(s->c->tools[i].name, n, nlen) == 0)
                        t = &s->c->tools[i];
        if (!t) {
                snprintf(msg, size, "Unknown tool: %.64s (tools/list names the tools)", n);
                return RPC_INVALID_PARAMS;
        }
        struct json_value *empty = NULL;
        if (!args || json_value_type(args) == JSON_NULL) {
                if (json_parse("{}", 2, &empty, NULL) < 0) {
                        snprintf(msg, size, "out of memory");
                        return RPC_INVALID_REQUEST;
                }
                args = empty;
        }
        struct mcp_tool_result *res = malloc(sizeof(*res));
        if (!res) {
                json_value_free(empty);
                snprintf(msg, size, "out of memory");
                return RPC_INVALID_REQUEST;
        }
        mcp_text_init(&res->text);
        res->is_error = false;
        t->call(s->c->ctx, args, res);
        json_value_free(empty);
        char *text = NULL;
        size_t tlen = 0;
        if (mcp_text_render(&res->text, &text, &tlen) < 0) {
                free(res);
                snprintf(msg, size, "out of memory");
                return RPC_INVALID_REQUEST;
        }
        key(w, "content");
        json_writer_begin_array(w);
        json_writer_begin_object(w);
        key(w, "type");
        str(w, "text");
        key(w, "text");
        json_writer_string(w, text, tlen);
        json_writer_end_object(w);
        json_writer_end_array(w);
        if (res->is_error) {
                key(w, "isError");
                json_writer_bool(w, true);
        }
        free(text);
        free(res);
        return 0;
}

/* A request: a result or an error written to w. */
static void request(struct mcp_server *s, struct json_writer *w, const struct json_value *id, const char *method,
                    const struct json_value *params)
{
        char msg[256];
        bool known = strcmp(method, "initialize") == 0 || strcmp(method, "ping") == 0 ||
                     strcmp(method, "tools/list") == 0 || strcmp(method, "tools/call") == 0;

        if (!known) {
                snprintf(msg, sizeof(msg), "Method not found: %.128s", method);
                error_reply(w, id, RPC_METHOD_NOT_FOUND, msg);
                return;
        }
        if (params && json_value_type(params) != JSON_OBJECT) {
                snprintf(msg, sizeof(msg), "%s: params must be an object", method);
                error_reply(w, id, RPC_INVALID_PARAMS, msg);
                return;
        }
        if (strcmp(method, "tools/list") == 0 && params) {
                const struct json_value *cur = json_object_get(params, "cursor");
                if (cur && json_value_type(cur) != JSON_NULL) {
                        error_reply(w, id, RPC_INVALID_PARAMS,
                                    "tools/list: invalid cursor (the tool list is one page; call without one)");
                        return;
                }
        }
        if (strcmp(method, "tools/call") == 0) {
                /* The result is written only once the call is known valid. */
                struct json_writer *rw = NULL;
                int code = json_writer_new(JSON_WRITER_LOSSY, 0, &rw);
                char *body = NULL;
                size_t blen = 0;
                if (code == 0) {
                        json_writer_begin_object(rw);
                        code = tools_call(s, rw, params, msg, sizeof(msg));
                        json_writer_end_object(rw);
                        if (code == 0 && json_writer_finish(rw, &body, &blen) < 0) {
                                code = RPC_INVALID_REQUEST;
                                snprintf(msg, sizeof(msg), "tools/call: the result could not be encoded");
                        }
                } else {
                        snprintf(msg, sizeof(msg), "out of memory");
                        code = RPC_INVALID_REQUEST;
                }
                json_writer_free(rw);
                if (code) {
                        error_reply(w, id, code, msg);
                } else {
                        begin_reply(w, id);
                        key(w, "result");
                        json_writer_raw(w, body, blen);
                        json_writer_end_object(w);
                }
                free(body);
                return;
        }
        begin_reply(w, id);
        key(w, "result");
        json_writer_begin_object(w);
        if (strcmp(method, "initialize") == 0)
                initialize(s, w, params);
        else if (strcmp(method, "tools/list") == 0)
                tools_list(s, w);
        json_writer_end_object(w);
        json_writer_end_object(w);
}

/* One message of a line or a batch. Returns true when it wrote a reply. */
static bool message(struct mcp_server *s, struct json_writer *w, const struct json_value *v)
{
        if (json_value_type(v) != JSON_OBJECT) {
                error_reply(w, NULL, RPC_INVALID_REQUEST, "Invalid Request: a message is a JSON object");
                return true;
        }
        const struct json_value *id = json_object_get(v, "id");
        const struct json_value *method = json_object_get(v, "method");
        const struct json_value *jsonrpc = json_object_get(v, "jsonrpc");
        const struct json_value *params = json_object_get(v, "params");
        bool id_ok = id && (json_value_type(id) == JSON_STRING || json_value_type(id) == JSON_NUMBER);

        if (id && !id_ok) {
                error_reply(w, NULL, RPC_INVALID_REQUEST, "Invalid Request: id must be a string or a number");
                return true;
        }
        if (!jsonrpc || json_value_type(jsonrpc) != JSON_STRING || strcmp(json_string(jsonrpc, NULL), "2.0") != 0) {
                error_reply(w, id, RPC_INVALID_REQUEST, "Invalid Request: jsonrpc must be \"2.0\"");
                return true;
        }
        if (!method) {
                /* A response to a request of ours (we send none): ignored. */
                if (id && (json_object_get(v, "result") || json_object_get(v, "error")))
                        return false;
                error_reply(w, id, RPC_INVALID_REQUEST, "Invalid Request: no method");
                return true;
        }
        if (json_value_type(method) != JSON_STRING) {
                error_reply(w, id, RPC_INVALID_REQUEST, "Invalid Request: method must be a string");
                return true;
        }
        if (params && json_value_type(params) != JSON_OBJECT && json_value_type(params) != JSON_ARRAY) {
                error_reply(w, id, RPC_INVALID_REQUEST, "Invalid Request: params must be an object or an array");
                return true;
        }
        if (!id)
                return false; /* a notification: initialized, cancelled, ... need no answer */
        size_t mlen;
        const char *m = json_string(method, &mlen);
        if (strlen(m) != mlen) {
                error_reply(w, id, RPC_METHOD_NOT_FOUND, "Method not found: the name holds a NUL");
                return true;
        }
        request(s, w, id, m, params);
        return true;
}

int mcp_server_handle(struct mcp_server *s, const char *line, size_t len, char **ret, size_t *ret_len)
{
        struct json_value *root = NULL;
        struct json_error perr;
        struct json_writer *w = NULL;
        bool wrote = false;
        int r;

        if ((r = json_writer_new(JSON_WRITER_LOSSY, 0, &w)) < 0)
                return r;
        r = json_parse(line, len, &root, &perr);
        if (r == -ENOMEM) {
                json_writer_free(w);
                return r;
        }
        if (r < 0) {
                char msg[256];
                snprintf(msg, sizeof(msg), "Parse error: %s", perr.message);
                error_reply(w, NULL, RPC_PARSE_ERROR, r == -E2BIG ? "Parse error: message too large" : msg);
                wrote = true;
        } else if (json_value_type(root) == JSON_ARRAY) {
                size_t n = json_array_size(root);
                if (n == 0 || n > MCP_BATCH_MAX) {
                        error_reply(w, NULL, RPC_INVALID_REQUEST,
                                    n ? "Invalid Request: a batch holds at most 64 messages"
                                      : "Invalid Request: an empty batch");
                        wrote = true;
                } else {
                        /* Only messages that want an answer go in; none: no reply at all. */
                        json_writer_begin_array(w);
                        for (size_t i = 0; i < n; i++)
                                wrote |= message(s, w, json_array_get(root, i));
                        json_writer_end_array(w);
                }
        } else {
                wrote = message(s, w, root);
        }
        json_value_free(root);
        *ret = NULL;
        *ret_len = 0;
        if (wrote)
                r = json_writer_finish(w, ret, ret_len);
        else
                r = 0;
        json_writer_free(w);
        return r;
}

static int write_reply(int out_fd, char *reply, size_t len, struct ak_error *err)
{
        reply[len] = '\n'; /* over the NUL: the writer's buffer holds len + 1 */
        int r = ak_write_full(out_fd, reply, len + 1);
        free(reply);
        if (r < 0)
                return ak_error_errno(err, r, "write a reply to the client");
        return 0;
}

int mcp_server_serve(struct mcp_server *s, int in_fd, int out_fd, struct ak_error *err)
{
        size_t cap = 64 << 10, len = 0, scan = 0;
        char *buf = malloc(cap);
        bool skipping = false;
        int r = 0;

        if (!buf)
                return ak_error_set(err, -ENOMEM, "out of memory");
        for (;;) {
                char *nl = memchr(buf + scan, '\n', len - scan);
                if (nl) {
                        size_t n = (size_t)(nl - buf);
                        if (!skipping) {
                                size_t m = n > 0 && buf[n - 1] == '\r' ? n - 1 : n;
                                char *reply = NULL;
                                size_t rlen = 0;
                                bool blank = strspn(buf, " \t\r") >= m;
                                if (!blank && (r = mcp_server_handle(s, buf, m, &reply, &rlen)) < 0) {
                                        ak_error_errno(err, r, "handle a message");
                                        break;
                                }
                                if (reply && (r = write_reply(out_fd, reply, rlen, err)) < 0)
                                        break;
                        }
                        skipping = false;
                        memmove(buf, nl + 1, len - n - 1);
                        len -= n + 1;
                        scan = 0;
                        continue;
                }
                scan = len;
                if (len >= MCP_LINE_MAX && !skipping) {
                        char *reply = NULL;
                        size_t rlen = 0;
                        struct json_writer *w = NULL;
                        if ((r = json_writer_new(0, 0, &w)) == 0) {
                                error_reply(w, NULL, RPC_PARSE_ERROR,
                                            "Parse error: message longer than 16 MiB (the line is skipped; "
                                            "write big files in parts)");
                                r = json_writer_finish(w, &reply, &rlen);
                        }
                        json_writer_free(w);
                        if (r < 0 || (r = write_reply(out_fd, reply, rlen, err)) < 0) {
                                if (r == -ENOMEM)
                                        ak_error_set(err, r, "out of memory");
                                break;
                        }
                        skipping = true;
                }
                if (skipping)
                        len = scan = 0;
                if (len == cap) {
                        size_t ncap = cap * 2 > MCP_LINE_MAX + 1 ? MCP_LINE_MAX + 1 : cap * 2;
                        char *nb = realloc(buf, ncap);
                        if (!nb) {
                                r = ak_error_set(err, -ENOMEM, "out of memory");
                                break;
                        }
                        buf = nb;
                        cap = ncap;
                }
                ssize_t got = read(in_fd, buf + len, cap - len);
                if (got < 0 && errno == EINTR)
                        continue;
                if (got < 0) {
                        r = ak_error_errno(err, -errno, "read from the client");
                        break;
                }
                if (got == 0) {
                        /* A last line without a newline is still a message. */
                        if (len > 0 && !skipping) {
                                char *reply = NULL;
                                size_t rlen = 0;
                                if ((r = mcp_server_handle(s, buf, len, &reply, &rlen)) == 0 && reply)
                                        r = write_reply(out_fd, reply, rlen, err);
                        }
                        break;
                }
                len += (size_t)got;
        }
        free(buf);
        return r;
}
