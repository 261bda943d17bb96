/* The services' structured log: lib/log/log.h (the format, levels, fields
 * and the line itself, shared with ak-vmm) under the names the services
 * use, plus gRPC's own messages on the same log. See lib/log/log.h for
 * what a line looks like.
 *
 * The svc_ names are aliases, not a second implementation: a service
 * writes SVC_LOG(SVC_LOG_INFO, "exec", SVC_LOG_S("sandbox", name)) and
 * gets exactly what AK_LOG would write.
 *
 * Thread-safety: svc_log_setup once in main before threads; svc_log from
 * any thread. */
#pragma once

#include "lib/log/log.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SVC_LOG_MAX_FIELDS AK_LOG_MAX_FIELDS
#define SVC_LOG_VALUE_MAX AK_LOG_VALUE_MAX

/* The types' tags: a C tag cannot be aliased but by the preprocessor. */
#define svc_log_level ak_log_level
#define svc_log_field ak_log_field
#define SVC_LOG_DEBUG AK_LOG_DEBUG
#define SVC_LOG_INFO AK_LOG_INFO
#define SVC_LOG_WARN AK_LOG_WARN
#define SVC_LOG_ERROR AK_LOG_ERROR

#define SVC_LOG_S(k, v) AK_LOG_S(k, v)
#define SVC_LOG_I(k, v) AK_LOG_I(k, v)
#define SVC_LOG(level, ...) AK_LOG(level, __VA_ARGS__)

/* ak_log_setup, and gRPC's own messages go to the log from then on
 * (fields source=grpc, file, line). 0, or -EINVAL naming the bad value in
 * err. */
int svc_log_setup(const char *service, const char *format, const char *level, struct ak_error *err);

static inline int svc_log_check(const char *format, const char *level, struct ak_error *err)
{
        return ak_log_check(format, level, err);
}

static inline bool svc_log_enabled(enum ak_log_level level)
{
        return ak_log_enabled(level);
}

static inline void svc_log(enum ak_log_level level, const char *msg, const struct ak_log_field *fields, size_t n)
{
        ak_log(level, msg, fields, n);
}

/* A line of a library's log callback (void (*)(void *data, const char
 * *line): the scheduler's, svc_run's) as an info line with that message;
 * data is ignored. */
void svc_log_line(void *data, const char *line);

#ifdef __cplusplus
}
#endif
