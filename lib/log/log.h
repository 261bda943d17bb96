/* ak's structured log: one line per event on stderr, as text or JSON
 * (--log-format text|json), filtered by level (--log-level
 * debug|info|warn|error). A line has a time (UTC, milliseconds), a level, the
 * program ("service"), a message and fields:
 *
 *   text: 2026-12-07T13:05:38.123Z info ak-executor: exec sandbox=s1 exit_code=3 duration_ms=44
 *   json: {"time":"2026-12-07T13:05:38.123Z","level":"info","service":"ak-executor",
 *          "msg":"exec","sandbox":"s1","exit_code":3,"duration_ms":44}
 *
 * Text values with spaces, quotes, '=' or control characters are quoted
 * with JSON's escaping, so a line is always one line; the message is
 * quoted only when it has control characters or starts with a quote. Fields are strings
 * or integers (AK_LOG_S, AK_LOG_I); at most AK_LOG_MAX_FIELDS, each value
 * cut to AK_LOG_VALUE_MAX bytes.
 *
 * A line written while the thread has a request (lib/base/trace.h: inside a
 * gRPC handler, or set by a client) also gets request_id and, with a W3C
 * traceparent, trace_id (beyond AK_LOG_MAX_FIELDS).
 *
 * Used by the services (through lib/svc/log.h, which adds gRPC's own lines)
 * and by programs without gRPC (ak-vmm), so it needs only lib/base and
 * lib/json.
 *
 * Thread-safety: ak_log_setup once in main before threads; ak_log from
 * any thread (each line is one write(2)). Before setup: text, info, service
 * "ak". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AK_LOG_MAX_FIELDS 16
#define AK_LOG_VALUE_MAX 1024

enum ak_log_level { AK_LOG_DEBUG, AK_LOG_INFO, AK_LOG_WARN, AK_LOG_ERROR };

struct ak_log_field {
        const char *key;
        const char *str;   /* NULL: the value is num */
        int64_t num;
};

/* A function, not a conditional in the macro: an array passed as v
 * (char buf[64]) would trip -Waddress. NULL is written as "". */
static inline struct ak_log_field ak_log_str(const char *k, const char *v)
{
        struct ak_log_field f = { k, v ? v : "", 0 };
        return f;
}

#define AK_LOG_S(k, v) ak_log_str((k), (v))
#define AK_LOG_I(k, v) ((struct ak_log_field){ (k), NULL, (int64_t)(v) })

/* format: "text" or "json" (NULL: text); level: "debug", "info", "warn" or
 * "error" (NULL: info); service: the name on every line (NULL: "ak"). 0, or
 * -EINVAL naming the bad value in err (and nothing changes). */
int ak_log_setup(const char *service, const char *format, const char *level, struct ak_error *err);

/* Whether ak_log_setup would take format and level (changes nothing). */
int ak_log_check(const char *format, const char *level, struct ak_error *err);

/* The format and level in force, as the words ak_log_setup takes ("json",
 * "debug"): for a child program's --log-format and --log-level, so that it
 * logs as its parent does. Static strings. */
const char *ak_log_format_name(void);
const char *ak_log_level_name(void);

bool ak_log_enabled(enum ak_log_level level);

/* Writes one line to fd 2 when level is enabled. */
void ak_log(enum ak_log_level level, const char *msg, const struct ak_log_field *fields, size_t n);

/* ak_log with the fields written inline:
 *   AK_LOG(AK_LOG_INFO, "exec", AK_LOG_S("sandbox", name), AK_LOG_I("exit_code", 3)); */
#define AK_LOG(level, msg, ...)                                                                       \
        ak_log((level), (msg), (const struct ak_log_field[]){ __VA_ARGS__ },                         \
               sizeof((const struct ak_log_field[]){ __VA_ARGS__ }) / sizeof(struct ak_log_field))

/* Renders the line ak_log would write (no newline) into a new string, for
 * tests: 0 or -ENOMEM. */
int ak_log_render(enum ak_log_level level, const char *msg, const struct ak_log_field *fields, size_t n,
                  int64_t real_ms, char **ret);

#ifdef __cplusplus
}
#endif
