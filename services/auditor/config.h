/* The auditor's configuration: agentkernel 0.18.1's AuditStreamConfig JSON,
 * accepted unchanged, plus optional fields of ours.
 *
 *   {
 *     "destination": {"type": "http_webhook", "url": "https://siem/x",
 *                     "authorization": "Bearer t", "headers": {"X-K": "v"}},
 *                   | {"type": "file", "path": "/var/log/ak/audit.jsonl"}
 *                   | {"type": "stdout"},
 *     "batch_size": 10, "flush_interval_secs": 30, "max_retries": 3,
 *     "ocsf_enabled": true,
 *
 *     ours, all optional:
 *     "destinations": [ <destination>, ... ]   instead of "destination"
 *     "format": "agentkernel" | "ocsf"          (also per destination)
 *     "spool_max_bytes": 1073741824, "spool_segment_bytes": 8388608,
 *     "request_timeout_secs": 30, "connect_timeout_secs": 10,
 *     "retry_backoff_initial_ms": 1000, "retry_backoff_max_secs": 60,
 *     "dead_letter_path": "/var/lib/ak/auditor/dead_letter.jsonl"
 *   }
 *
 * Stricter than serde: an unknown field, a field of the wrong type or a value
 * out of range is an error naming the field ("destinations[1].url: expected a
 * string"). batch_size 0 means 1 (agentkernel flushes at every event then);
 * flush_interval_secs 0 means "deliver as soon as events are stored".
 * max_retries is how many retries make a round; where agentkernel drops a
 * batch after a round, we wait retry_backoff_max_secs and start another.
 * ocsf_enabled is accepted and kept (agentkernel's events always carry their
 * OCSF-style fields); the output format is chosen with "format". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AUDIT_CONFIG_MAX_BYTES (1 << 20)
#define AUDIT_MAX_DESTINATIONS 16
#define AUDIT_MAX_HEADERS 64
#define AUDIT_MAX_BATCH_SIZE 10000
#define AUDIT_MAX_URL 2048

enum audit_dest_type {
        AUDIT_DEST_HTTP_WEBHOOK,
        AUDIT_DEST_FILE,
        AUDIT_DEST_STDOUT,
};

enum audit_format {
        AUDIT_FORMAT_AGENTKERNEL,
        AUDIT_FORMAT_OCSF,
};

struct audit_header {
        char *name;
        char *value;
};

struct audit_dest_config {
        enum audit_dest_type type;
        enum audit_format format;
        char *name;             /* "http_webhook:URL", "file:PATH", "stdout": unique */
        /* http_webhook */
        char *url;
        char *authorization;    /* NULL: none */
        struct audit_header *headers;
        size_t n_headers;
        /* file */
        char *path;
};

struct audit_config {
        struct audit_dest_config *dests;
        size_t n_dests;                 /* >= 1 */
        uint32_t batch_size;            /* 1 .. AUDIT_MAX_BATCH_SIZE */
        uint64_t flush_interval_ms;
        uint32_t max_retries;
        bool ocsf_enabled;
        uint64_t spool_max_bytes;
        uint64_t spool_segment_bytes;
        uint32_t connect_timeout_ms;
        uint32_t request_timeout_ms;
        uint32_t backoff_initial_ms;
        uint32_t backoff_max_ms;
        char *dead_letter_path;         /* NULL: <spool>/dead_letter.jsonl */
};

/* Parses len bytes of config JSON. `source` names it in errors ("config
 * SOURCE: batch_size: expected an unsigned integer"). Returns 0, -EINVAL
 * (err says what and where), -ENOMEM. Free *ret with audit_config_free. */
int audit_config_parse(const char *text, size_t len, const char *source, struct audit_config **ret,
                       struct ak_error *err);

/* Reads and parses the file at path (at most AUDIT_CONFIG_MAX_BYTES). */
int audit_config_load(const char *path, struct audit_config **ret, struct ak_error *err);

/* The credential of every http_webhook destination, from a file of its own
 * (ak-auditor --webhook-token-file: a Kubernetes Secret, where the config is
 * a ConfigMap): each sends "Authorization: Bearer TOKEN". A destination that
 * already has an authorization (or an Authorization header) in the config is
 * -EINVAL: one credential, in one place. Destinations of other types are
 * left alone; a config without webhooks takes the token and uses it nowhere.
 * TOKEN: 1 to 4096 bytes without spaces or control characters. Returns 0,
 * -EINVAL or -ENOMEM (a destination already set keeps its token; free c). */
int audit_config_set_webhook_token(struct audit_config *c, const char *token, struct ak_error *err);

/* NULL is a no-op. */
void audit_config_free(struct audit_config *c);

const char *audit_format_name(enum audit_format f);

#ifdef __cplusplus
}
#endif
