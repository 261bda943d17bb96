#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "lib/json/json.h"
#include "protocol.h"
#include "protocol_json.h"

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

int proto_response_write(const struct proto_response *r, struct jbuf *b)
{
        jw_object_begin(b);
        jw_key(b, "id");
        jw_cstring(b, r->id ? r->id : "");
        if (r->has_exit_code) {
                jw_key(b, "exit_code");
                jw_int(b, r->exit_code);
        }
        if (r->has_stdout) {
                jw_key(b, "stdout");
                jw_string(b, r->stdout_buf, r->stdout_len);
        }
        if (r->has_stderr) {
                jw_key(b, "stderr");
                jw_string(b, r->stderr_buf, r->stderr_len);
        }
        if (r->error) {
                jw_key(b, "error");
                jw_cstring(b, r->error);
        }
        if (r->content_base64) {
                jw_key(b, "content_base64");
                jw_string(b, r->content_base64, r->content_base64_len);
        }
        if (r->session_id) {
                jw_key(b, "session_id");
                jw_cstring(b, r->session_id);
        }
        if (r->output_base64) {
                jw_key(b, "output_base64");
                jw_string(b, r->output_base64, r->output_base64_len);
        }
        if (r->shell_event) {
                jw_key(b, "shell_event");
                jw_cstring(b, r->shell_event);
        }
        if (r->stream) {
                jw_key(b, "stream");
                jw_cstring(b, r->stream);
        }
        if (r->truncated) {
                jw_key(b, "truncated");
                jw_bool(b, true);
        }
        if (r->timed_out) {
                jw_key(b, "timed_out");
                jw_bool(b, true);
        }
        if (r->signal > 0) {
                jw_key(b, "signal");
                jw_int(b, r->signal);
        }
        jw_object_end(b);
        return jbuf_error(b);
}

int proto_response_frame(const struct proto_response *r, uint8_t **ret_frame, size_t *ret_len)
{
        static const uint8_t zero[FRAME_HEADER_SIZE];
        struct jbuf b;
        size_t len;
        int ret;

        jbuf_init(&b, FRAME_MAX + FRAME_HEADER_SIZE);
        jbuf_put(&b, zero, sizeof(zero));
        ret = proto_response_write(r, &b);
        if (ret < 0) {
                jbuf_done(&b);
                return ret;
        }
        uint8_t *p = (uint8_t *)jbuf_steal(&b, &len);
        frame_put_header(p, (uint32_t)(len - FRAME_HEADER_SIZE));
        *ret_frame = p;
        *ret_len = len;
        return 0;
}

int proto_request_write(const struct proto_request_args *a, struct jbuf *b)
{
        jw_object_begin(b);
        jw_key(b, "id");
        jw_cstring(b, a->id ? a->id : "");
        jw_key(b, "type");
        jw_cstring(b, a->type ? a->type : "");
        if (a->command) {
                jw_key(b, "command");
                jw_array_begin(b);
                for (size_t i = 0; i < a->n_command; i++)
                        jw_cstring(b, a->command[i]);
                jw_array_end(b);
        }
        if (a->cwd) {
                jw_key(b, "cwd");
                jw_cstring(b, a->cwd);
        }
        if (a->env_keys) {
                jw_key(b, "env");
                jw_object_begin(b);
                for (size_t i = 0; i < a->n_env; i++) {
                        /* Keys are arbitrary strings here: write them escaped. */
                        jw_string(b, a->env_keys[i], strlen(a->env_keys[i]));
                        jbuf_put(b, ":", 1);
                        b->need_comma &= ~(1ull << (b->depth - 1));
                        jw_cstring(b, a->env_values[i]);
                }
                jw_object_end(b);
        }
        if (a->path) {
                jw_key(b, "path");
                jw_cstring(b, a->path);
        }
        if (a->content_base64) {
                jw_key(b, "content_base64");
                jw_cstring(b, a->content_base64);
        }
        if (a->recursive >= 0) {
                jw_key(b, "recursive");
                jw_bool(b, a->recursive);
        }
        if (a->session_id) {
                jw_key(b, "session_id");
                jw_cstring(b, a->session_id);
        }
        if (a->rows >= 0) {
                jw_key(b, "rows");
                jw_int(b, a->rows);
        }
        if (a->cols >= 0) {
                jw_key(b, "cols");
                jw_int(b, a->cols);
        }
        if (a->input_base64) {
                jw_key(b, "input_base64");
                jw_cstring(b, a->input_base64);
        }
        if (a->timeout_ms >= 0) {
                jw_key(b, "timeout_ms");
                jw_int(b, a->timeout_ms);
        }
        if (a->stream >= 0) {
                jw_key(b, "stream");
                jw_bool(b, a->stream);
        }
        if (a->max_output_bytes >= 0) {
                jw_key(b, "max_output_bytes");
                jw_int(b, a->max_output_bytes);
        }
        jw_object_end(b);
        return jbuf_error(b);
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
