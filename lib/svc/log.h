/* The services' structured log: one line per event on stderr, as text or
 * JSON (--log-format text|json), filtered by level (--log-level
 * debug|info|warn|error). A line has a time (UTC, milliseconds), a level, the
 * service, a message and fields:
 *
 *   text: 2026-12-07T13:05:38.123Z info ak-executor: exec sandbox=s1 exit_code=3 duration_ms=44
 *   json: {"time":"2026-12-07T13:05:38.123Z","level":"info","service":"ak-executor",
 *          "msg":"exec","sandbox":"s1","exit_code":3,"duration_ms":44}
 *
 * Text values with spaces, quotes, '=' or control characters are quoted
 * with JSON's escaping, so a line is always one line; the message is
 * quoted only when it has control characters or starts with a quote. Fields are strings
 * or integers (SVC_LOG_S, SVC_LOG_I); at most SVC_LOG_MAX_FIELDS, each value
 * cut to SVC_LOG_VALUE_MAX bytes.
 *
 * A line written while the thread has a request (lib/base/trace.h: inside a
 * gRPC handler, or set by a client) also gets request_id and, with a W3C
 * traceparent, trace_id (beyond SVC_LOG_MAX_FIELDS).
 *
 * Thread-safety: svc_log_setup once in main before threads; svc_log from
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

#define SVC_LOG_MAX_FIELDS 16
#define SVC_LOG_VALUE_MAX 1024

enum svc_log_level { SVC_LOG_DEBUG, SVC_LOG_INFO, SVC_LOG_WARN, SVC_LOG_ERROR };

struct svc_log_field {
        const char *key;
        const char *str;   /* NULL: the value is num */
        int64_t num;
};

/* A function, not a conditional in the macro: an array passed as v
 * (char buf[64]) would trip -Waddress. NULL is written as "". */
static inline struct svc_log_field svc_log_str(const char *k, const char *v)
{
        struct svc_log_field f = { k, v ? v : "", 0 };
        return f;
}

#define SVC_LOG_S(k, v) svc_log_str((k), (v))
#define SVC_LOG_I(k, v) ((struct svc_log_field){ (k), NULL, (int64_t)(v) })

/* format: "text" or "json" (NULL: text); level: "debug", "info", "warn" or
 * "error" (NULL: info). gRPC's own messages go to the log from then on
 * (fields source=grpc, file, line). 0, or -EINVAL naming the bad value in
 * err. */
int svc_log_setup(const char *service, const char *format, const char *level, struct ak_error *err);

/* Whether svc_log_setup would take format and level (changes nothing). */
int svc_log_check(const char *format, const char *level, struct ak_error *err);

bool svc_log_enabled(enum svc_log_level level);

/* Writes one line to fd 2 when level is enabled. */
void svc_log(enum svc_log_level level, const char *msg, const struct svc_log_field *fields, size_t n);

/* A line of a library's log callback (void (*)(void *data, const char
 * *line): the scheduler's, svc_run's) as an info line with that message;
 * data is ignored. */
void svc_log_line(void *data, const char *line);

/* svc_log with the fields written inline:
 *   SVC_LOG(SVC_LOG_INFO, "exec", SVC_LOG_S("sandbox", name), SVC_LOG_I("exit_code", 3)); */
#define SVC_LOG(level, msg, ...)                                                                      \
        svc_log((level), (msg), (const struct svc_log_field[]){ __VA_ARGS__ },                       \
                sizeof((const struct svc_log_field[]){ __VA_ARGS__ }) / sizeof(struct svc_log_field))

/* Renders the line svc_log would write (no newline) into a new string, for
 * tests: 0 or -ENOMEM. */
int svc_log_format(enum svc_log_level level, const char *msg, const struct svc_log_field *fields, size_t n,
                   int64_t real_ms, char **ret);

#ifdef __cplusplus
}
#endif
