#include "lib/log/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/io.h"
#include "lib/base/time.h"
#include "lib/base/trace.h"
#include "lib/base/utf8.h"
#include "lib/json/writer.h"


static const char *const level_names[] = { "debug", "info", "warn", "error" };

static struct {
        char service[64];
        bool json;
        enum ak_log_level min;
} cfg = { "ak", false, AK_LOG_INFO };

static int parse(const char *format, const char *level, bool *ret_json, int *ret_min, struct ak_error *err)
{
        bool json = false;
        int min = AK_LOG_INFO;

        if (format && strcmp(format, "text") && strcmp(format, "json"))
                return ak_error_set(err, -EINVAL, "--log-format %s: want text or json", format);
        json = format && !strcmp(format, "json");
        if (level) {
                min = -1;
                for (int i = 0; i < 4; i++)
                        if (!strcmp(level, level_names[i]))
                                min = i;
                if (min < 0)
                        return ak_error_set(err, -EINVAL, "--log-level %s: want debug, info, warn or error", level);
        }
        *ret_json = json;
        *ret_min = min;
        return 0;
}

int ak_log_check(const char *format, const char *level, struct ak_error *err)
{
        bool json;
        int min;
        return parse(format, level, &json, &min, err);
}

int ak_log_setup(const char *service, const char *format, const char *level, struct ak_error *err)
{
        bool json;
        int min, r = parse(format, level, &json, &min, err);
        if (r < 0)
                return r;
        snprintf(cfg.service, sizeof(cfg.service), "%s", service ? service : "ak");
        cfg.json = json;
        cfg.min = (enum ak_log_level)min;
        return 0;
}

const char *ak_log_format_name(void)
{
        return cfg.json ? "json" : "text";
}

const char *ak_log_level_name(void)
{
        return level_names[cfg.min];
}

bool ak_log_enabled(enum ak_log_level level)
{
        return level >= cfg.min && level <= AK_LOG_ERROR;
}

static void iso_time(int64_t ms, char out[32])
{
        time_t s = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&s, &tm);
        size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

/* A field's value as text: bare when it is safe, else a JSON string. */
static void text_value(struct json_writer *quoter, const char *v, char *out, size_t size)
{
        bool bare = *v != '\0';
        for (const char *p = v; *p && bare; p++)
                bare = (unsigned char)*p > ' ' && *p != '"' && *p != '=' && *p != '\\' && (unsigned char)*p < 0x7f;
        if (bare) {
                snprintf(out, size, "%s", v);
                return;
        }
        char *q = NULL;
        size_t n;
        json_writer_string(quoter, v, strlen(v));
        if (json_writer_finish(quoter, &q, &n) == 0)
                snprintf(out, size, "%s", q);
        else
                snprintf(out, size, "\"?\"");
        free(q);
}

/* len after an snprintf of r bytes at line + len: never past the buffer. */
static size_t clamp(size_t len, int r, size_t cap)
{
        if (r < 0)
                return len;
        return len + (size_t)r < cap ? len + (size_t)r : cap - 1;
}

/* The most a line of msg and f can take in either format: every byte of a
 * sanitized text escapes to at most two (\" \\ \n \t; other control
 * characters are gone), plus the quotes, separators and the head. A fixed
 * bound cut or dropped lines whose values were mostly quotes. */
static size_t line_bound(const char *msg, const struct ak_log_field *f, size_t n)
{
        size_t cap = 128 + 2 * strlen(cfg.service) + 2 * strlen(msg);
        for (size_t i = 0; i < n; i++)
                cap += 8 + 2 * strlen(f[i].key) + (f[i].str ? 2 * strlen(f[i].str) : 24);
        return cap;
}

static int format_text(enum ak_log_level level, const char *msg, const struct ak_log_field *f, size_t n,
                       const char *when, char **ret)
{
        size_t cap = line_bound(msg, f, n), len = 0;
        char *line = malloc(cap), v[AK_LOG_VALUE_MAX * 6 + 8];
        if (!line)
                return -ENOMEM;
        len = clamp(len, snprintf(line, cap, "%s %s %s: ", when, level_names[level], cfg.service), cap);
        struct json_writer *q = NULL;
        if (json_writer_new(0, sizeof(v), &q) < 0) {
                free(line);
                return -ENOMEM;
        }
        /* The message bare unless it would break the line or look quoted:
         * "listening on X", "reloaded F: 1 token" read (and grep) as written. */
        bool bare_msg = *msg != '"' && *msg != '\0';
        for (const char *p = msg; *p && bare_msg; p++)
                bare_msg = (unsigned char)*p >= ' ' && (unsigned char)*p != 0x7f;
        if (bare_msg)
                snprintf(v, sizeof(v), "%s", msg);
        else
                text_value(q, msg, v, sizeof(v));
        json_writer_free(q);
        len = clamp(len, snprintf(line + len, cap - len, "%s", v), cap);
        for (size_t i = 0; i < n && len + 1 < cap; i++) {
                if (f[i].str) {
                        if (json_writer_new(0, sizeof(v), &q) < 0)
                                break;
                        text_value(q, f[i].str, v, sizeof(v));
                        json_writer_free(q);
                } else {
                        snprintf(v, sizeof(v), "%lld", (long long)f[i].num);
                }
                len = clamp(len, snprintf(line + len, cap - len, " %s=%s", f[i].key, v), cap);
        }
        *ret = line;
        return 0;
}

static int format_json(enum ak_log_level level, const char *msg, const struct ak_log_field *f, size_t n,
                       const char *when, char **ret)
{
        struct json_writer *w = NULL;
        size_t len;
        if (json_writer_new(0, line_bound(msg, f, n), &w) < 0)
                return -ENOMEM;
        json_writer_begin_object(w);
        const char *head[][2] = { { "time", when }, { "level", level_names[level] }, { "service", cfg.service },
                                  { "msg", msg } };
        for (size_t i = 0; i < 4; i++) {
                json_writer_key(w, head[i][0], strlen(head[i][0]));
                json_writer_string(w, head[i][1], strlen(head[i][1]));
        }
        for (size_t i = 0; i < n; i++) {
                json_writer_key(w, f[i].key, strlen(f[i].key));
                if (f[i].str)
                        json_writer_string(w, f[i].str, strlen(f[i].str));
                else
                        json_writer_i64(w, f[i].num);
        }
        json_writer_end_object(w);
        int r = json_writer_finish(w, ret, &len);
        json_writer_free(w);
        return r;
}

/* The thread's request (lib/base/trace.h: a call's handler, or what a client
 * set) on every line it writes: request_id, and the trace id of its W3C
 * traceparent, unless the caller wrote its own. f has room for two more. */
static size_t add_trace_fields(struct ak_log_field *f, size_t n, char trace_id[33])
{
        const char *id = ak_trace_request_id(), *tp = ak_trace_traceparent();
        bool has_id = false, has_trace = false;
        for (size_t i = 0; i < n; i++) {
                has_id |= !strcmp(f[i].key, "request_id");
                has_trace |= !strcmp(f[i].key, "trace_id");
        }
        if (id && !has_id)
                f[n++] = AK_LOG_S("request_id", id);
        if (tp && !has_trace) {
                memcpy(trace_id, tp + 3, 32);   /* 00-<trace id>-... */
                trace_id[32] = '\0';
                f[n++] = AK_LOG_S("trace_id", trace_id);
        }
        return n;
}

int ak_log_render(enum ak_log_level level, const char *msg, const struct ak_log_field *fields, size_t n,
                   int64_t real_ms, char **ret)
{
        struct ak_log_field f[AK_LOG_MAX_FIELDS + 2];
        char when[32], *copies[AK_LOG_MAX_FIELDS + 2] = { 0 };
        char trace_id[33];
        int r = 0;

        if (level < AK_LOG_DEBUG || level > AK_LOG_ERROR)
                level = AK_LOG_ERROR;
        if (n > AK_LOG_MAX_FIELDS)
                n = AK_LOG_MAX_FIELDS;
        /* Values cut to AK_LOG_VALUE_MAX and made valid UTF-8 first: the
         * JSON writer refuses invalid UTF-8, and a log line must not fail. */
        for (size_t i = 0; i < n; i++) {
                f[i] = fields[i];
                if (f[i].str && !(f[i].str = copies[i] = strndup(f[i].str, AK_LOG_VALUE_MAX))) {
                        r = -ENOMEM;
                        goto out;
                }
                if (copies[i])
                        utf8_sanitize_str(copies[i]);
        }
        n = add_trace_fields(f, n, trace_id);
        char *m = strndup(msg ? msg : "", AK_LOG_VALUE_MAX);
        if (!m) {
                r = -ENOMEM;
                goto out;
        }
        utf8_sanitize_str(m);
        iso_time(real_ms, when);
        r = cfg.json ? format_json(level, m, f, n, when, ret) : format_text(level, m, f, n, when, ret);
        free(m);
out:
        for (size_t i = 0; i < n; i++)
                free(copies[i]);
        return r;
}

void ak_log(enum ak_log_level level, const char *msg, const struct ak_log_field *fields, size_t n)
{
        char *line = NULL;
        if (!ak_log_enabled(level) || ak_log_render(level, msg, fields, n, ak_real_ms(), &line) < 0)
                return;
        size_t len = strlen(line);
        line[len] = '\n'; /* the NUL's byte: one write for the whole line */
        (void)ak_write_full(STDERR_FILENO, line, len + 1);
        free(line);
}
