/* agentkernel 0.18.1's guest protocol messages (see PROTOCOL.md).
 *
 * Requests are JSON objects with a string `id` and a `type`; unknown fields
 * are ignored and `null` means absent, as serde's derive does. Responses are
 * written with serde's field order and with absent fields omitted, so an
 * agentkernel host reads them unchanged. Extensions are optional fields only.
 *
 * Agent side: proto_request_parse(), proto_response_write().
 * Host side (and tests): proto_request_write(), proto_response_parse().
 * All functions are reentrant; objects are not shared between threads. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/json/writer.h"

/* How every string is written (lib/json's writer flags): bytes that are not
 * UTF-8 become U+FFFD as from_utf8_lossy makes them. Code that sizes strings
 * to fit a frame (json_quoted_size, json_quoted_cut) passes the same flags. */
#define PROTO_JSON_FLAGS JSON_WRITER_LOSSY

enum proto_type {
        PROTO_RUN,
        PROTO_SHELL,
        PROTO_SHELL_INPUT,
        PROTO_SHELL_RESIZE,
        PROTO_SHELL_CLOSE,
        PROTO_PING,
        PROTO_SHUTDOWN,
        PROTO_WRITE_FILE,
        PROTO_READ_FILE,
        PROTO_REMOVE_FILE,
        PROTO_MKDIR,
        _PROTO_TYPE_MAX,
};

/* "run", "shell_input", ...; NULL for an out-of-range value. */
const char *proto_type_name(enum proto_type t);

/* A parsed request. Strings are NUL-free UTF-8 (JSON strings containing
 * \u0000 are refused at parse time) and are owned by the request. Absent
 * optional fields are NULL, -1, or has_* false. */
struct proto_request {
        const char *id;
        enum proto_type type;
        const char *const *command; /* n_command strings, NULL if absent */
        size_t n_command;
        const char *cwd;
        const char *const *env_keys; /* n_env pairs, NULL if absent */
        const char *const *env_values;
        size_t n_env;
        const char *path;
        const char *content_base64;
        size_t content_base64_len;
        int recursive; /* -1 absent, 0, 1 */
        const char *session_id;
        int rows;      /* -1 absent, else 0..65535 */
        int cols;
        const char *input_base64;
        size_t input_base64_len;
        /* Extensions (run). */
        int64_t timeout_ms;       /* -1 absent, else >= 0 */
        bool stream;
        int64_t max_output_bytes; /* -1 absent, else >= 0 */
        int64_t uid;              /* -1 absent (the agent's user), else 0..PROTO_MAX_ID */
        int64_t gid;              /* -1 absent (then uid's number), else 0..PROTO_MAX_ID */
        bool stdin_pipe;          /* "stdin" (run): stdin is a pipe fed by shell_input */
        bool eof;                 /* "eof" (shell_input): close the run's stdin */
        int mode;                 /* "mode" (write_file): -1 absent, else 0..PROTO_MAX_MODE */
};

#define PROTO_MAX_MODE 07777

#define PROTO_MAX_ID 65534

/* Why a frame was refused. id is the request's id when it could be read
 * (else ""), message says what was wrong. Both owned: proto_error_done(). */
struct proto_error {
        char *id;
        char message[512];
};
void proto_error_done(struct proto_error *e);

/* Parses one frame body. Returns 0 with *ret (free with proto_request_free),
 * -EINVAL with *err filled for anything malformed (not JSON, not an object,
 * missing or mistyped id/type, unknown type, a field of the wrong type or out
 * of range), or -ENOMEM. */
int proto_request_parse(const void *buf, size_t len, struct proto_request **ret, struct proto_error *err);
void proto_request_free(struct proto_request *r);

/* A response. Fields are written in this order, absent ones omitted:
 * id, exit_code, stdout, stderr, error, content_base64, session_id,
 * output_base64, shell_event (agentkernel's), then the extensions stream,
 * truncated, timed_out, signal. stdout/stderr may hold any bytes: they are
 * written as from_utf8_lossy would. Other strings must be valid UTF-8
 * (invalid bytes would be replaced too). */
struct proto_response {
        const char *id;
        bool has_exit_code;
        int exit_code;
        const void *stdout_buf; /* present when has_stdout */
        size_t stdout_len;
        bool has_stdout;
        const void *stderr_buf;
        size_t stderr_len;
        bool has_stderr;
        const char *error;
        const char *content_base64;
        size_t content_base64_len;
        const char *session_id;
        const char *output_base64;
        size_t output_base64_len;
        const char *shell_event; /* "started", "output", "exited" */
        /* Extensions. */
        const char *stream;      /* "stdout"/"stderr" on streamed run chunks */
        bool truncated;
        bool timed_out;
        int signal;              /* > 0: the process was killed by it */
};

/* The response's JSON object in a malloc'd NUL-terminated buffer (caller
 * frees). Returns 0 or -ENOMEM. */
int proto_response_json(const struct proto_response *r, char **ret_json, size_t *ret_len);

/* Serializes r as a complete frame (4-byte header + body) in a malloc'd
 * buffer. -EMSGSIZE when the body would exceed FRAME_MAX, or -ENOMEM. */
int proto_response_frame(const struct proto_response *r, uint8_t **ret_frame, size_t *ret_len);

/* Host side: a request to send. NULL / -1 fields are omitted. */
struct proto_request_args {
        const char *id;
        const char *type;          /* any string, so tests can send bad ones */
        const char *const *command;
        size_t n_command;
        const char *cwd;
        const char *const *env_keys;
        const char *const *env_values;
        size_t n_env;
        const char *path;
        const char *content_base64;
        int recursive;             /* -1 omit */
        const char *session_id;
        int rows;                  /* -1 omit */
        int cols;                  /* -1 omit */
        const char *input_base64;
        int64_t timeout_ms;        /* -1 omit */
        int stream;                /* -1 omit */
        int64_t max_output_bytes;  /* -1 omit */
        int64_t uid;               /* -1 omit */
        int64_t gid;               /* -1 omit */
        int stdin_pipe;            /* "stdin", -1 omit */
        int eof;                   /* -1 omit */
        int mode;                  /* write_file's permission bits, -1 omit */
};

/* args with every optional field absent. */
#define PROTO_REQUEST_ARGS_INIT { .recursive = -1, .rows = -1, .cols = -1, .timeout_ms = -1, \
                                  .stream = -1, .max_output_bytes = -1, .uid = -1, .gid = -1, \
                                  .stdin_pipe = -1, .eof = -1, .mode = -1 }

/* The request's JSON object in a malloc'd NUL-terminated buffer (caller
 * frees). Returns 0 or -ENOMEM. */
int proto_request_json(const struct proto_request_args *a, char **ret_json, size_t *ret_len);

/* Host side: a parsed response. Strings are malloc'd (NULL when absent);
 * stdout/stderr/error may contain any valid UTF-8. */
struct proto_reply {
        char *id;
        bool has_exit_code;
        int exit_code;
        char *stdout_str;
        size_t stdout_len;
        char *stderr_str;
        size_t stderr_len;
        char *error;
        char *content_base64;
        char *session_id;
        char *output_base64;
        char *shell_event;
        char *stream;
        bool truncated;
        bool timed_out;
        int signal;
};

/* Parses a response frame body. -EINVAL when it is not a JSON object with a
 * string id or a field has the wrong type, -ENOMEM. */
int proto_reply_parse(const void *buf, size_t len, struct proto_reply **ret);
void proto_reply_free(struct proto_reply *r);
