#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/guest/frame.h"
#include "lib/guest/protocol.h"
#include "lib/guest/protocol_json.h"
#include "lib/json/json.h"

static const char *const type_names[_PROTO_TYPE_MAX] = {
        [PROTO_RUN] = "run",
        [PROTO_SHELL] = "shell",
        [PROTO_SHELL_INPUT] = "shell_input",
        [PROTO_SHELL_RESIZE] = "shell_resize",
        [PROTO_SHELL_CLOSE] = "shell_close",
        [PROTO_PING] = "ping",
        [PROTO_SHUTDOWN] = "shutdown",
        [PROTO_WRITE_FILE] = "write_file",
        [PROTO_READ_FILE] = "read_file",
        [PROTO_REMOVE_FILE] = "remove_file",
        [PROTO_MKDIR] = "mkdir",
};

const char *proto_type_name(enum proto_type t)
{
        if ((unsigned)t >= _PROTO_TYPE_MAX)
                return NULL;
        return type_names[t];
}

/* The public struct first, so a pointer to it is a pointer to the whole. */
struct request_impl {
        struct proto_request pub;
        struct json_value *root;
        const char **command;
        const char **env_keys;
        const char **env_values;
};

void proto_error_done(struct proto_error *e)
{
        free(e->id);
        e->id = NULL;
}

void proto_request_free(struct proto_request *r)
{
        struct request_impl *impl = (struct request_impl *)r;

        if (!r)
                return;
        json_value_free(impl->root);
        free(impl->command);
        free(impl->env_keys);
        free(impl->env_values);
        free(impl);
}

__attribute__((format(printf, 2, 3)))
static int fail(struct proto_error *err, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static int get_string(const struct json_value *obj, const char *name, const char **ret, size_t *ret_len,
                      struct proto_error *err)
{
        const struct json_value *v = proto_json_field(obj, name);

        if (!v)
                return 0;
        if (!proto_json_is(v, JSON_STRING))
                return fail(err, "Invalid request: field `%s`: expected a string", name);
        *ret = json_string(v, ret_len);
        return 0;
}

static int get_int(const struct json_value *obj, const char *name, int64_t lo, int64_t hi, int64_t *ret,
                   struct proto_error *err)
{
        const struct json_value *v = proto_json_field(obj, name);
        long long i;

        if (!v)
                return 0;
        if (!proto_json_int(v, lo, hi, &i))
                return fail(err, "Invalid request: field `%s`: expected an integer in range", name);
        *ret = i;
        return 0;
}

static int get_bool(const struct json_value *obj, const char *name, int *ret, struct proto_error *err)
{
        const struct json_value *v = proto_json_field(obj, name);

        if (!v)
                return 0;
        if (!proto_json_is(v, JSON_BOOL))
                return fail(err, "Invalid request: field `%s`: expected a boolean", name);
        *ret = json_bool(v);
        return 0;
}

static int parse_command(struct request_impl *impl, const struct json_value *obj, struct proto_error *err)
{
        const struct json_value *v = proto_json_field(obj, "command");

        if (!v)
                return 0;
        if (!proto_json_is(v, JSON_ARRAY))
                return fail(err, "Invalid request: field `%s`: expected an array of strings", "command");
        size_t n = json_array_size(v);
        impl->command = calloc(n + 1, sizeof(char *));
        if (!impl->command)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const struct json_value *s = json_array_get(v, i);
                if (!proto_json_is(s, JSON_STRING))
                        return fail(err, "Invalid request: field `%s`: expected an array of strings", "command");
                impl->command[i] = json_string(s, NULL);
        }
        impl->pub.command = impl->command;
        impl->pub.n_command = n;
        return 0;
}

static int parse_env(struct request_impl *impl, const struct json_value *obj, struct proto_error *err)
{
        const struct json_value *v = proto_json_field(obj, "env");

        if (!v)
                return 0;
        if (!proto_json_is(v, JSON_OBJECT))
                return fail(err, "Invalid request: field `%s`: expected a map of strings", "env");
        size_t n = json_object_size(v);
        impl->env_keys = calloc(n + 1, sizeof(char *));
        impl->env_values = calloc(n + 1, sizeof(char *));
        if (!impl->env_keys || !impl->env_values)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *key = json_object_key(v, i, NULL);
                const struct json_value *val = json_object_value(v, i);
                if (!proto_json_is(val, JSON_STRING))
                        return fail(err, "Invalid request: field `env`: value of `%.64s` is not a string", key);
                impl->env_keys[i] = key;
                impl->env_values[i] = json_string(val, NULL);
        }
        impl->pub.env_keys = impl->env_keys;
        impl->pub.env_values = impl->env_values;
        impl->pub.n_env = n;
        return 0;
}

static int parse_fields(struct request_impl *impl, const struct json_value *root, struct proto_error *err)
{
        struct proto_request *r = &impl->pub;
        int64_t v;
        int b, ret;

        if ((ret = parse_command(impl, root, err)) < 0 || (ret = parse_env(impl, root, err)) < 0)
                return ret;
        if ((ret = get_string(root, "cwd", &r->cwd, NULL, err)) < 0 ||
            (ret = get_string(root, "path", &r->path, NULL, err)) < 0 ||
            (ret = get_string(root, "content_base64", &r->content_base64, &r->content_base64_len, err)) < 0 ||
            (ret = get_string(root, "session_id", &r->session_id, NULL, err)) < 0 ||
            (ret = get_string(root, "input_base64", &r->input_base64, &r->input_base64_len, err)) < 0)
                return ret;
        b = -1;
        if ((ret = get_bool(root, "recursive", &b, err)) < 0)
                return ret;
        r->recursive = b;
        b = 0;
        if ((ret = get_bool(root, "stream", &b, err)) < 0)
                return ret;
        r->stream = b;
        b = 0;
        if ((ret = get_bool(root, "stdin", &b, err)) < 0)
                return ret;
        r->stdin_pipe = b;
        b = 0;
        if ((ret = get_bool(root, "eof", &b, err)) < 0)
                return ret;
        r->eof = b;
        v = -1;
        if ((ret = get_int(root, "rows", 0, 65535, &v, err)) < 0)
                return ret;
        r->rows = (int)v;
        v = -1;
        if ((ret = get_int(root, "cols", 0, 65535, &v, err)) < 0)
                return ret;
        r->cols = (int)v;
        v = -1;
        if ((ret = get_int(root, "timeout_ms", 0, INT64_MAX, &v, err)) < 0)
                return ret;
        r->timeout_ms = v;
        v = -1;
        if ((ret = get_int(root, "max_output_bytes", 0, INT64_MAX, &v, err)) < 0)
                return ret;
        r->max_output_bytes = v;
        v = -1;
        if ((ret = get_int(root, "uid", 0, PROTO_MAX_ID, &v, err)) < 0)
                return ret;
        r->uid = v;
        v = -1;
        if ((ret = get_int(root, "gid", 0, PROTO_MAX_ID, &v, err)) < 0)
                return ret;
        r->gid = v;
        v = -1;
        if ((ret = get_int(root, "mode", 0, PROTO_MAX_MODE, &v, err)) < 0)
                return ret;
        r->mode = (int)v;
        return 0;
}

static int parse_type(const struct json_value *root, enum proto_type *ret, struct proto_error *err)
{
        const struct json_value *t = proto_json_member(root, "type");

        if (!t)
                return fail(err, "Invalid request: missing field `type`");
        if (!proto_json_is(t, JSON_STRING))
                return fail(err, "Invalid request: field `type`: expected a string");
        for (int i = 0; i < _PROTO_TYPE_MAX; i++) {
                if (strcmp(json_string(t, NULL), type_names[i]) == 0) {
                        *ret = (enum proto_type)i;
                        return 0;
                }
        }
        return fail(err, "Invalid request: unknown variant `%.64s`, expected one of %s", json_string(t, NULL),
                    "`run`, `shell`, `shell_input`, `shell_resize`, `shell_close`, `ping`, `shutdown`, "
                    "`write_file`, `read_file`, `remove_file`, `mkdir`");
}

int proto_request_parse(const void *buf, size_t len, struct proto_request **ret, struct proto_error *err)
{
        struct json_error jerr;
        struct json_value *root;
        struct request_impl *impl;
        int r;

        memset(err, 0, sizeof(*err));
        r = json_parse(buf, len, &root, &jerr);
        if (r == -ENOMEM)
                return r;
        if (r == -E2BIG)
                return fail(err, "Invalid request: larger than %zu bytes", JSON_MAX_INPUT);
        if (r < 0)
                return fail(err, "Invalid request: %s", jerr.message);
        r = proto_json_check(root, true, err->message, sizeof(err->message));
        if (r == 0 && !proto_json_is(root, JSON_OBJECT))
                r = fail(err, "Invalid request: expected a JSON object");
        if (r < 0) {
                json_value_free(root);
                return r;
        }
        const struct json_value *id = proto_json_member(root, "id");
        if (proto_json_is(id, JSON_STRING)) {
                err->id = strdup(json_string(id, NULL));
                if (!err->id) {
                        json_value_free(root);
                        return -ENOMEM;
                }
        }

        impl = calloc(1, sizeof(*impl));
        if (!impl) {
                json_value_free(root);
                return -ENOMEM;
        }
        impl->root = root;
        if (!id) {
                r = fail(err, "Invalid request: missing field `id`");
                goto error;
        }
        if (!proto_json_is(id, JSON_STRING)) {
                r = fail(err, "Invalid request: field `id`: expected a string");
                goto error;
        }
        impl->pub.id = json_string(id, NULL);
        r = parse_type(root, &impl->pub.type, err);
        if (r < 0)
                goto error;
        r = parse_fields(impl, root, err);
        if (r < 0)
                goto error;
        free(err->id);
        err->id = NULL;
        *ret = &impl->pub;
        return 0;
error:
        proto_request_free(&impl->pub);
        return r;
}

static void put_key(struct json_writer *w, const char *name)
{
        json_writer_key(w, name, strlen(name));
}

static void put_str(struct json_writer *w, const char *s)
{
        json_writer_string(w, s, strlen(s));
}

static void write_response(const struct proto_response *r, struct json_writer *w)
{
        json_writer_begin_object(w);
        put_key(w, "id");
        put_str(w, r->id ? r->id : "");
        if (r->has_exit_code) {
                put_key(w, "exit_code");
                json_writer_i64(w, r->exit_code);
        }
        if (r->has_stdout) {
                put_key(w, "stdout");
                json_writer_string(w, r->stdout_buf, r->stdout_len);
        }
        if (r->has_stderr) {
                put_key(w, "stderr");
                json_writer_string(w, r->stderr_buf, r->stderr_len);
        }
        if (r->error) {
                put_key(w, "error");
                put_str(w, r->error);
        }
        if (r->content_base64) {
                put_key(w, "content_base64");
                json_writer_string(w, r->content_base64, r->content_base64_len);
        }
        if (r->session_id) {
                put_key(w, "session_id");
                put_str(w, r->session_id);
        }
        if (r->output_base64) {
                put_key(w, "output_base64");
                json_writer_string(w, r->output_base64, r->output_base64_len);
        }
        if (r->shell_event) {
                put_key(w, "shell_event");
                put_str(w, r->shell_event);
        }
        if (r->stream) {
                put_key(w, "stream");
                put_str(w, r->stream);
        }
        if (r->truncated) {
                put_key(w, "truncated");
                json_writer_bool(w, true);
        }
        if (r->timed_out) {
                put_key(w, "timed_out");
                json_writer_bool(w, true);
        }
        if (r->signal > 0) {
                put_key(w, "signal");
                json_writer_i64(w, r->signal);
        }
        json_writer_end_object(w);
}

/* Finishes and frees w: its output or its first error. */
static int finish(struct json_writer *w, char **ret_json, size_t *ret_len)
{
        int e = json_writer_finish(w, ret_json, ret_len);

        json_writer_free(w);
        return e;
}

int proto_response_json(const struct proto_response *r, char **ret_json, size_t *ret_len)
{
        struct json_writer *w;
        int e = json_writer_new(PROTO_JSON_FLAGS, SIZE_MAX, &w);

        if (e < 0)
                return e;
        write_response(r, w);
        return finish(w, ret_json, ret_len);
}

int proto_response_frame(const struct proto_response *r, uint8_t **ret_frame, size_t *ret_len)
{
        struct json_writer *w;
        char *frame;
        size_t len;
        int e = json_writer_new(PROTO_JSON_FLAGS, FRAME_MAX, &w);

        if (e < 0)
                return e;
        json_writer_prefix(w, FRAME_HEADER_SIZE);
        write_response(r, w);
        e = finish(w, &frame, &len);
        if (e == -E2BIG)
                return -EMSGSIZE;
        if (e < 0)
                return e;
        frame_put_header((uint8_t *)frame, (uint32_t)(len - FRAME_HEADER_SIZE));
        *ret_frame = (uint8_t *)frame;
        *ret_len = len;
        return 0;
}

static void write_request(const struct proto_request_args *a, struct json_writer *w)
{
        json_writer_begin_object(w);
        put_key(w, "id");
        put_str(w, a->id ? a->id : "");
        put_key(w, "type");
        put_str(w, a->type ? a->type : "");
        if (a->command) {
                put_key(w, "command");
                json_writer_begin_array(w);
                for (size_t i = 0; i < a->n_command; i++)
                        put_str(w, a->command[i]);
                json_writer_end_array(w);
        }
        if (a->cwd) {
                put_key(w, "cwd");
                put_str(w, a->cwd);
        }
        if (a->env_keys) {
                put_key(w, "env");
                json_writer_begin_object(w);
                for (size_t i = 0; i < a->n_env; i++) {
                        put_key(w, a->env_keys[i]); /* escaped, as any string */
                        put_str(w, a->env_values[i]);
                }
                json_writer_end_object(w);
        }
        if (a->path) {
                put_key(w, "path");
                put_str(w, a->path);
        }
        if (a->content_base64) {
                put_key(w, "content_base64");
                put_str(w, a->content_base64);
        }
        if (a->recursive >= 0) {
                put_key(w, "recursive");
                json_writer_bool(w, a->recursive);
        }
        if (a->session_id) {
                put_key(w, "session_id");
                put_str(w, a->session_id);
        }
        if (a->rows >= 0) {
                put_key(w, "rows");
                json_writer_i64(w, a->rows);
        }
        if (a->cols >= 0) {
                put_key(w, "cols");
                json_writer_i64(w, a->cols);
        }
        if (a->input_base64) {
                put_key(w, "input_base64");
                put_str(w, a->input_base64);
        }
        if (a->timeout_ms >= 0) {
                put_key(w, "timeout_ms");
                json_writer_i64(w, a->timeout_ms);
        }
        if (a->stream >= 0) {
                put_key(w, "stream");
                json_writer_bool(w, a->stream);
        }
        if (a->max_output_bytes >= 0) {
                put_key(w, "max_output_bytes");
                json_writer_i64(w, a->max_output_bytes);
        }
        if (a->stdin_pipe >= 0) {
                put_key(w, "stdin");
                json_writer_bool(w, a->stdin_pipe);
        }
        if (a->eof >= 0) {
                put_key(w, "eof");
                json_writer_bool(w, a->eof);
        }
        if (a->mode >= 0) {
                put_key(w, "mode");
                json_writer_i64(w, a->mode);
        }
        if (a->uid >= 0) {
                put_key(w, "uid");
                json_writer_i64(w, a->uid);
        }
        if (a->gid >= 0) {
                put_key(w, "gid");
                json_writer_i64(w, a->gid);
        }
        json_writer_end_object(w);
}

int proto_request_json(const struct proto_request_args *a, char **ret_json, size_t *ret_len)
{
        struct json_writer *w;
        int e = json_writer_new(PROTO_JSON_FLAGS, SIZE_MAX, &w);

        if (e < 0)
                return e;
        write_request(a, w);
        return finish(w, ret_json, ret_len);
}

void proto_reply_free(struct proto_reply *r)
{
        if (!r)
                return;
        free(r->id);
        free(r->stdout_str);
        free(r->stderr_str);
        free(r->error);
        free(r->content_base64);
        free(r->session_id);
        free(r->output_base64);
        free(r->shell_event);
        free(r->stream);
        free(r);
}

static int reply_string(const struct json_value *root, const char *name, char **ret, size_t *ret_len)
{
        const struct json_value *v = proto_json_field(root, name);
        size_t n;

        if (!v)
                return 0;
        if (!proto_json_is(v, JSON_STRING))
                return -EINVAL;
        const char *text = json_string(v, &n);
        char *s = malloc(n + 1);
        if (!s)
                return -ENOMEM;
        memcpy(s, text, n + 1);
        *ret = s;
        if (ret_len)
                *ret_len = n;
        return 0;
}

int proto_reply_parse(const void *buf, size_t len, struct proto_reply **ret)
{
        struct json_value *root;
        struct proto_reply *r;
        const struct json_value *v;
        char msg[160];
        long long i;
        int e;

        e = json_parse(buf, len, &root, NULL);
        if (e == -ENOMEM)
                return e;
        if (e < 0)
                return -EINVAL;
        e = proto_json_check(root, false, msg, sizeof(msg));
        if (e < 0) {
                json_value_free(root);
                return e;
        }
        r = calloc(1, sizeof(*r));
        if (!r) {
                json_value_free(root);
                return -ENOMEM;
        }
        e = -EINVAL;
        if (!proto_json_is(root, JSON_OBJECT) || !proto_json_is(proto_json_member(root, "id"), JSON_STRING))
                goto error;
        if ((e = reply_string(root, "id", &r->id, NULL)) < 0 ||
            (e = reply_string(root, "stdout", &r->stdout_str, &r->stdout_len)) < 0 ||
            (e = reply_string(root, "stderr", &r->stderr_str, &r->stderr_len)) < 0 ||
            (e = reply_string(root, "error", &r->error, NULL)) < 0 ||
            (e = reply_string(root, "content_base64", &r->content_base64, NULL)) < 0 ||
            (e = reply_string(root, "session_id", &r->session_id, NULL)) < 0 ||
            (e = reply_string(root, "output_base64", &r->output_base64, NULL)) < 0 ||
            (e = reply_string(root, "shell_event", &r->shell_event, NULL)) < 0 ||
            (e = reply_string(root, "stream", &r->stream, NULL)) < 0)
                goto error;
        e = -EINVAL;
        if ((v = proto_json_field(root, "exit_code"))) {
                if (!proto_json_int(v, INT32_MIN, INT32_MAX, &i))
                        goto error;
                r->has_exit_code = true;
                r->exit_code = (int)i;
        }
        if ((v = proto_json_field(root, "signal"))) {
                if (!proto_json_int(v, 0, 1024, &i))
                        goto error;
                r->signal = (int)i;
        }
        if ((v = proto_json_field(root, "truncated")))
                r->truncated = proto_json_is(v, JSON_BOOL) && json_bool(v);
        if ((v = proto_json_field(root, "timed_out")))
                r->timed_out = proto_json_is(v, JSON_BOOL) && json_bool(v);
        json_value_free(root);
        *ret = r;
        return 0;
error:
        json_value_free(root);
        proto_reply_free(r);
        return e;
}
