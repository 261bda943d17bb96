/* ak-gateway's request parsing: everything it reads from an HTTP client
 * before it calls the scheduler, with no networking, so that it can be unit
 * tested and fuzzed alone.
 *
 *   gw_route_parse   method + raw (still percent-encoded) URL path → which
 *                    route, the sandbox name and the guest file path;
 *   gw_*_decode      a route's JSON body → a request struct.
 *
 * The shapes are agentkernel 0.18's HTTP API (its src/http_api.rs and the
 * agentkernel npm SDK): unknown members are ignored, as serde does; a
 * member of the wrong type, a missing required one, or one that ak cannot
 * honour (volumes, source_url) is an error naming the member.
 *
 * Ownership: a decoded request points into the JSON tree it came from; it
 * owns the tree and its own arrays, and gw_req_free releases them.
 * Thread-safety: pure functions; requests belong to one thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "lib/base/trace.h"

#define GW_BODY_MAX ((size_t)16 << 20)   /* bigger bodies: 413 */
#define GW_NAME_MAX 63                   /* a sandbox name, as the scheduler's */
#define GW_PATH_MAX 4096                 /* a guest file path */
#define GW_ARGV_MAX 4096                 /* arguments of one command */
#define GW_ENV_MAX 1024                  /* env entries / labels / files in one request */
#define GW_BATCH_MAX 64                  /* commands in one /batch/run */

enum gw_route_id {
        GW_HEALTH,
        GW_RUN,
        GW_RUN_STREAM,
        GW_BATCH_RUN,
        GW_LIST,
        GW_CREATE,
        GW_GET,
        GW_DELETE,
        GW_BY_UUID,
        GW_EXEC,
        GW_START,
        GW_STOP,
        GW_EXTEND,
        GW_LOGS,
        GW_FILE_GET,
        GW_FILE_PUT,
        GW_FILE_DELETE,
        GW_FILES_BATCH,
        GW_STATUS,
        GW_AUDIT,
        GW_EXEC_DETACH,        /* POST   /sandboxes/{name}/exec/detach */
        GW_DETACHED_LIST,      /* GET    /sandboxes/{name}/exec/detached */
        GW_DETACHED_GET,       /* GET    /sandboxes/{name}/exec/detached/{id} */
        GW_DETACHED_KILL,      /* DELETE /sandboxes/{name}/exec/detached/{id} */
        GW_DETACHED_LOGS,      /* GET    /sandboxes/{name}/exec/detached/{id}/logs */
        GW_SNAP_LIST,       /* GET /snapshots */
        GW_SNAP_TAKE,       /* POST /snapshots */
        GW_SNAP_GET,        /* GET /snapshots/{name} (name in gw_route.name) */
        GW_SNAP_DELETE,     /* DELETE /snapshots/{name} */
        GW_SNAP_RESTORE,    /* POST /snapshots/{name}/restore (no body) */
};

struct gw_route {
        enum gw_route_id id;
        char name[GW_NAME_MAX + 1];   /* sandbox name or uuid; "" when none */
        char path[GW_PATH_MAX + 1];   /* file routes: absolute guest path */
        char detached_id[65];         /* detached routes: 1..64 of [0-9a-f-] */
        bool detached_stderr;         /* DETACHED_LOGS: ?stream=stderr (set by the HTTP layer) */
};

/* The request's id and trace context from its X-Request-Id and traceparent
 * headers (NULL: absent), per lib/base/trace.h: a valid X-Request-Id is
 * kept, else (absent or invalid) ret_id gets a fresh one; a valid
 * traceparent is copied to ret_tp, else ret_tp is "". */
void gw_trace_from_headers(const char *request_id, const char *traceparent, char ret_id[AK_REQUEST_ID_MAX + 1],
                           char ret_tp[AK_TRACEPARENT_LEN + 1]);

/* Parses `method` and the raw path of `url` (no query string). Returns 0,
 * -ENOENT for a path no route has, -ENOTSUP for a known path
 * with another method, -EINVAL for a bad name or file path (err says which:
 * "..", ".", an empty or NUL-holding segment, a bad %-escape, too long). */
int gw_route_parse(const char *method, const char *url, struct gw_route *ret, struct ak_error *err);

/* Decodes %XX escapes of s[0..len) into out (size bytes with the NUL).
 * -EINVAL on a bad escape, an encoded NUL, or when it does not fit. */
int gw_percent_decode(const char *s, size_t len, char *out, size_t size);

/* A sandbox name: 1..GW_NAME_MAX bytes of [A-Za-z0-9_.-], not "." or "..". */
bool gw_name_ok(const char *s);

struct gw_kv {
        const char *key;
        const char *value;
};

/* POST /run, /run/stream; each command of /batch/run (image/profile NULL). */
struct gw_run_req {
        const char **argv;     /* argc strings, argc >= 1 */
        size_t argc;
        const char *image;     /* NULL: the default */
        const char *profile;
};

struct gw_create_req {
        const char *name;      /* required */
        const char *image;
        const char *profile;
        uint32_t vcpus;        /* 0: default */
        uint32_t memory_mb;
        uint32_t ttl_seconds;  /* ak extension: "ttl_seconds" or agentkernel's "ttl" ("1h") */
        struct gw_kv *labels;  /* ak extension: {"labels":{"k":"v"}} */
        size_t n_labels;
        /* agentkernel's "secrets" ("KEY:host[:header]"; its "KEY=value:host"
         * form is refused: values stay in the executor node's vault) and
         * "secret_files" ("KEY[:path]"): SandboxSpec.secrets/secret_files,
         * pointing into the tree; at most GW_SECRETS_MAX each. */
        const char **secrets;
        size_t n_secrets;
        const char **secret_files;
        size_t n_secret_files;
};
#define GW_SECRETS_MAX 32

struct gw_exec_req {
        const char **argv;
        size_t argc;
        char **env;            /* "K=V", owned */
        size_t n_env;
        const char *workdir;
        bool sudo;
};

struct gw_file_req {           /* PUT .../files/{path} */
        uint8_t *content;      /* decoded bytes, owned */
        size_t len;
};

struct gw_files_req {          /* POST .../files: {"files":{"path":"utf8 text"}} */
        struct gw_kv *files;
        size_t n_files;
};

struct gw_snapshot_req {       /* POST /snapshots: {"sandbox":..., "name"?:...} */
        const char *sandbox;   /* required, a sandbox name */
        const char *name;      /* NULL: the scheduler names it */
};

struct gw_batch_req {
        struct gw_run_req *cmds;
        size_t n_cmds;
};

struct gw_req {
        struct json_value *tree;
        union {
                struct gw_run_req run;
                struct gw_create_req create;
                struct gw_exec_req exec;
                struct gw_file_req file;
                struct gw_files_req files;
                struct gw_batch_req batch;
                struct gw_snapshot_req snapshot;
                uint64_t extend_seconds;   /* POST .../extend {"by":"1h"}; no "by": 1 h */
        };
};

/* Each decodes body[0..len) into *ret (zeroed first). 0, or -EINVAL with err
 * naming the member and what is wrong ("Invalid JSON: ..." for syntax), or
 * -ENOMEM. On error *ret holds nothing to free. */
int gw_run_decode(const char *body, size_t len, struct gw_req *ret, struct ak_error *err);
int gw_create_decode(const char *body, size_t len, struct gw_req *ret, struct ak_error *err);
int gw_exec_decode(const char *body, size_t len, struct gw_req *ret, struct ak_error *err);
int gw_file_decode(const char *body, size_t len, struct gw_req *ret, struct ak_error *err);
int gw_files_decode(const char *body, size_t len, struct gw_req *ret, struct ak_error *err);
int gw_batch_decode(const char *body, size_t len, struct gw_req *ret, struct ak_error *err);
int gw_extend_decode(const char *body, size_t len, struct gw_req *ret, struct ak_error *err);
int gw_snapshot_decode(const char *body, size_t len, struct gw_req *ret, struct ak_error *err);

/* Frees what a decode of route `id` put in r (r itself is the caller's). */
void gw_req_free(enum gw_route_id id, struct gw_req *r);

/* agentkernel's durations: "90", "90s", "30m", "1h", "2d". 0 or -EINVAL;
 * at most 365 days. */
int gw_duration_parse(const char *s, uint64_t *ret_seconds);

/* "k:v" of ?label= into key/value (split at the first ':'). -EINVAL when
 * there is no ':' or the key is empty. Writes into buf. */
int gw_label_parse(const char *s, char *buf, size_t size, const char **ret_key, const char **ret_value);
