/* AuditStreamConfig JSON -> struct audit_config. Every field is checked for
 * its type and range and named in the error when it is wrong. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/audit/event.h"
#include "lib/base/cleanup.h"
#include "lib/json/json.h"
#include "services/auditor/config.h"

struct parser {
        struct ak_error *err;
        const char *source;
};

static int perr(struct parser *p, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int perr(struct parser *p, const char *path, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return ak_error_set(p->err, -EINVAL, "config %s: %s: %s", p->source, path, msg);
}

static const char *type_name(const struct json_value *v)
{
        return json_type_name(json_value_type(v));
}

/* Checks that every member of object v is one of names (and appears once). */
static int check_members(struct parser *p, const struct json_value *v, const char *path, const char *const *names,
                         size_t n)
{
        char sub[256], allowed[512] = "";

        for (size_t i = 0; i < n; i++) {
                strncat(allowed, names[i], sizeof(allowed) - strlen(allowed) - 1);
                if (i + 1 < n)
                        strncat(allowed, ", ", sizeof(allowed) - strlen(allowed) - 1);
        }
        for (size_t m = 0; m < json_object_size(v); m++) {
                size_t klen;
                const char *k = json_object_key(v, m, &klen);
                size_t i;
                snprintf(sub, sizeof(sub), "%s%s%.*s", path, *path ? "." : "", (int)(klen > 64 ? 64 : klen), k);
                for (i = 0; i < n; i++)
                        if (strlen(names[i]) == klen && memcmp(names[i], k, klen) == 0)
                                break;
                if (i == n)
                        return perr(p, sub, "unknown field (expected one of: %s)", allowed);
                for (size_t e = 0; e < m; e++) {
                        size_t elen;
                        const char *ek = json_object_key(v, e, &elen);
                        if (elen == klen && memcmp(ek, k, klen) == 0)
                                return perr(p, sub, "duplicate field");
                }
        }
        return 0;
}

static void join(char *buf, size_t size, const char *path, const char *field)
{
        snprintf(buf, size, "%s%s%s", path, *path ? "." : "", field);
}

/* A string member; NULL *ret when absent (or null, if nullable). */
static int get_string(struct parser *p, const struct json_value *obj, const char *path, const char *field,
                      bool required, bool nullable, size_t max, char **ret)
{
        const struct json_value *v = json_object_get(obj, field);
        char full[256];
        const char *s;
        size_t len;

        *ret = NULL;
        join(full, sizeof(full), path, field);
        if (!v) {
                if (required)
                        return perr(p, full, "missing");
                return 0;
        }
        if (nullable && json_value_type(v) == JSON_NULL)
                return 0;
        s = json_string(v, &len);
        if (!s)
                return perr(p, full, "expected a string, got %s", type_name(v));
        if (len > max)
                return perr(p, full, "%zu bytes is more than the limit of %zu", len, max);
        if (!audit_utf8_valid(s, len))
                return perr(p, full, "must be UTF-8 without NUL");
        *ret = strndup(s, len);
        return *ret ? 0 : -ENOMEM;
}

static int get_uint(struct parser *p, const struct json_value *obj, const char *path, const char *field,
                    uint64_t min, uint64_t max, uint64_t dflt, uint64_t *ret)
{
        const struct json_value *v = json_object_get(obj, field);
        char full[256];
        uint64_t u;

        join(full, sizeof(full), path, field);
        if (!v) {
                *ret = dflt;
                return 0;
        }
        if (json_value_type(v) != JSON_NUMBER)
                return perr(p, full, "expected an unsigned integer, got %s", type_name(v));
        if (json_number_u64(v, &u) < 0)
                return perr(p, full, "expected an unsigned integer, got %.40s", json_number_text(v));
        if (u < min || u > max)
                return perr(p, full, "%" PRIu64 " is out of range (%" PRIu64 " to %" PRIu64 ")", u, min, max);
        *ret = u;
        return 0;
}

static int get_format(struct parser *p, const struct json_value *obj, const char *path, enum audit_format dflt,
                      enum audit_format *ret)
{
        _cleanup_free_ char *s = NULL;
        char full[256];
        int r = get_string(p, obj, path, "format", false, false, 64, &s);

        if (r < 0)
                return r;
        join(full, sizeof(full), path, "format");
        if (!s)
                *ret = dflt;
        else if (strcmp(s, "agentkernel") == 0)
                *ret = AUDIT_FORMAT_AGENTKERNEL;
        else if (strcmp(s, "ocsf") == 0)
                *ret = AUDIT_FORMAT_OCSF;
        else
                return perr(p, full, "unknown format \"%s\" (expected agentkernel or ocsf)", s);
        return 0;
}

static bool header_name_ok(const char *s, size_t len)
{
        if (len == 0 || len > 256)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!(s[i] > 0x20 && s[i] < 0x7f) || strchr("\"(),/:;<=>?@[\\]{}", s[i]))
                        return false;
        return true;
}

static bool header_value_ok(const char *s)
{
        return !strpbrk(s, "\r\n");
}

static bool url_ok(const char *u)
{
        if (strncasecmp(u, "http://", 7) != 0 && strncasecmp(u, "https://", 8) != 0)
                return false;
        for (const char *c = u; *c; c++)
                if ((unsigned char)*c <= 0x20 || *c == 0x7f)
                        return false;
        return strlen(u) > (u[4] == ':' ? 7u : 8u);
}

static int parse_webhook(struct parser *p, const struct json_value *v, const char *path, struct audit_dest_config *d)
{
        static const char *const names[] = { "type", "url", "authorization", "headers", "format" };
        const struct json_value *h;
        char full[256];
        int r;

        if ((r = check_members(p, v, path, names, AK_ARRAY_SIZE(names))) < 0 ||
            (r = get_string(p, v, path, "url", true, false, AUDIT_MAX_URL, &d->url)) < 0 ||
            (r = get_string(p, v, path, "authorization", false, true, 8192, &d->authorization)) < 0)
                return r;
        join(full, sizeof(full), path, "url");
        if (!url_ok(d->url))
                return perr(p, full, "\"%.200s\" is not an http:// or https:// URL", d->url);
        join(full, sizeof(full), path, "authorization");
        if (d->authorization && !header_value_ok(d->authorization))
                return perr(p, full, "must not contain CR or LF");
        h = json_object_get(v, "headers");
        if (!h)
                return 0;
        join(full, sizeof(full), path, "headers");
        if (json_value_type(h) != JSON_OBJECT)
                return perr(p, full, "expected an object of header names to values, got %s", type_name(h));
        if (json_object_size(h) > AUDIT_MAX_HEADERS)
                return perr(p, full, "%zu headers is more than the limit of %d", json_object_size(h),
                            AUDIT_MAX_HEADERS);
        d->headers = calloc(json_object_size(h) + 1, sizeof(*d->headers));
        if (!d->headers)
                return -ENOMEM;
        for (size_t i = 0; i < json_object_size(h); i++) {
                size_t klen, vlen;
                const char *k = json_object_key(h, i, &klen);
                const struct json_value *hv = json_object_value(h, i);
                const char *s = json_string(hv, &vlen);
                char hp[512];
                snprintf(hp, sizeof(hp), "%s.%.*s", full, (int)(klen > 64 ? 64 : klen), k);
                if (!header_name_ok(k, klen))
                        return perr(p, hp, "not a valid HTTP header name");
                if (!s)
                        return perr(p, hp, "expected a string, got %s", type_name(hv));
                if (vlen > 8192 || !audit_utf8_valid(s, vlen) || !header_value_ok(s))
                        return perr(p, hp, "header values are at most 8192 bytes of UTF-8 without CR, LF or NUL");
                d->headers[i].name = strndup(k, klen);
                d->headers[i].value = strndup(s, vlen);
                d->n_headers = i + 1;
                if (!d->headers[i].name || !d->headers[i].value)
                        return -ENOMEM;
        }
        return 0;
}

static int parse_dest(struct parser *p, const struct json_value *v, const char *path, enum audit_format dflt,
                      struct audit_dest_config *d)
{
        static const char *const file_names[] = { "type", "path", "format" };
        static const char *const stdout_names[] = { "type", "format" };
        _cleanup_free_ char *type = NULL;
        char full[256];
        int r;

        if (json_value_type(v) != JSON_OBJECT)
                return perr(p, path, "expected an object with a \"type\", got %s", type_name(v));
        r = get_string(p, v, path, "type", true, false, 64, &type);
        if (r < 0)
                return r;
        r = get_format(p, v, path, dflt, &d->format);
        if (r < 0)
                return r;
        if (strcmp(type, "http_webhook") == 0) {
                d->type = AUDIT_DEST_HTTP_WEBHOOK;
                r = parse_webhook(p, v, path, d);
                if (r == 0 && asprintf(&d->name, "http_webhook:%s", d->url) < 0)
                        r = -ENOMEM;
        } else if (strcmp(type, "file") == 0) {
                d->type = AUDIT_DEST_FILE;
                r = check_members(p, v, path, file_names, AK_ARRAY_SIZE(file_names));
                if (r == 0)
                        r = get_string(p, v, path, "path", true, false, 4096, &d->path);
                join(full, sizeof(full), path, "path");
                if (r == 0 && !*d->path)
                        return perr(p, full, "must not be empty");
                if (r == 0 && asprintf(&d->name, "file:%s", d->path) < 0)
                        r = -ENOMEM;
        } else if (strcmp(type, "stdout") == 0) {
                d->type = AUDIT_DEST_STDOUT;
                r = check_members(p, v, path, stdout_names, AK_ARRAY_SIZE(stdout_names));
                if (r == 0 && !(d->name = strdup("stdout")))
                        r = -ENOMEM;
        } else {
                join(full, sizeof(full), path, "type");
                return perr(p, full, "unknown destination type \"%.64s\" (expected http_webhook, file or stdout)",
                            type);
        }
        return r;
}

static int parse_dests(struct parser *p, const struct json_value *root, struct audit_config *c, enum audit_format f)
{
        const struct json_value *one = json_object_get(root, "destination");
        const struct json_value *many = json_object_get(root, "destinations");
        char path[64];
        size_t n;
        int r;

        if (one && many)
                return perr(p, "destinations", "give either destination or destinations, not both");
        if (!one && !many)
                return perr(p, "destination", "missing (where should events go? e.g. {\"type\": \"stdout\"})");
        if (many) {
                if (json_value_type(many) != JSON_ARRAY)
                        return perr(p, "destinations", "expected an array of destinations, got %s", type_name(many));
                n = json_array_size(many);
                if (n == 0 || n > AUDIT_MAX_DESTINATIONS)
                        return perr(p, "destinations", "%zu destinations (give 1 to %d)", n, AUDIT_MAX_DESTINATIONS);
        } else {
                n = 1;
        }
        c->dests = calloc(n, sizeof(*c->dests));
        if (!c->dests)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (many)
                        snprintf(path, sizeof(path), "destinations[%zu]", i);
                else
                        snprintf(path, sizeof(path), "destination");
                c->n_dests = i + 1;
                r = parse_dest(p, many ? json_array_get(many, i) : one, path, f, &c->dests[i]);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++)
                        if (strcmp(c->dests[j].name, c->dests[i].name) == 0)
                                return perr(p, path, "the same destination as destinations[%zu] (%s)", j,
                                            c->dests[i].name);
        }
        return 0;
}

static int parse_root(struct parser *p, const struct json_value *root, struct audit_config *c)
{
        static const char *const names[] = {
                "destination",          "destinations",          "batch_size",
                "flush_interval_secs",  "max_retries",           "ocsf_enabled",
                "format",               "spool_max_bytes",       "spool_segment_bytes",
                "request_timeout_secs", "connect_timeout_secs",  "retry_backoff_initial_ms",
                "retry_backoff_max_secs", "dead_letter_path",
        };
        const struct json_value *v;
        enum audit_format f;
        uint64_t u, seg_default;
        int r;

        if (json_value_type(root) != JSON_OBJECT)
                return ak_error_set(p->err, -EINVAL, "config %s: expected a JSON object, got %s", p->source,
                                    type_name(root));
        if ((r = check_members(p, root, "", names, AK_ARRAY_SIZE(names))) < 0 ||
            (r = get_format(p, root, "", AUDIT_FORMAT_AGENTKERNEL, &f)) < 0 || (r = parse_dests(p, root, c, f)) < 0)
                return r;
        if ((r = get_uint(p, root, "", "batch_size", 0, AUDIT_MAX_BATCH_SIZE, 10, &u)) < 0)
                return r;
        c->batch_size = u ? (uint32_t)u : 1;
        if ((r = get_uint(p, root, "", "flush_interval_secs", 0, 86400, 30, &u)) < 0)
                return r;
        c->flush_interval_ms = u * 1000;
        if ((r = get_uint(p, root, "", "max_retries", 0, 1000, 3, &u)) < 0)
                return r;
        c->max_retries = (uint32_t)u;
        v = json_object_get(root, "ocsf_enabled");
        c->ocsf_enabled = true;
        if (v) {
                if (json_value_type(v) != JSON_BOOL)
                        return perr(p, "ocsf_enabled", "expected true or false, got %s", type_name(v));
                c->ocsf_enabled = json_bool(v);
        }
        if ((r = get_uint(p, root, "", "spool_max_bytes", 64 << 10, (uint64_t)1 << 40, (uint64_t)1 << 30,
                          &c->spool_max_bytes)) < 0)
                return r;
        seg_default = c->spool_max_bytes / 8 < (8 << 20) ? c->spool_max_bytes / 8 : (8 << 20);
        if ((r = get_uint(p, root, "", "spool_segment_bytes", 4 << 10, c->spool_max_bytes / 2, seg_default,
                          &c->spool_segment_bytes)) < 0)
                return r;
        if ((r = get_uint(p, root, "", "request_timeout_secs", 1, 3600, 30, &u)) < 0)
                return r;
        c->request_timeout_ms = (uint32_t)u * 1000;
        if ((r = get_uint(p, root, "", "connect_timeout_secs", 1, 3600, 10, &u)) < 0)
                return r;
        c->connect_timeout_ms = (uint32_t)u * 1000;
        if ((r = get_uint(p, root, "", "retry_backoff_initial_ms", 1, 600000, 1000, &u)) < 0)
                return r;
        c->backoff_initial_ms = (uint32_t)u;
        if ((r = get_uint(p, root, "", "retry_backoff_max_secs", 1, 3600, 60, &u)) < 0)
                return r;
        c->backoff_max_ms = (uint32_t)u * 1000;
        if (c->backoff_max_ms < c->backoff_initial_ms)
                return perr(p, "retry_backoff_max_secs", "shorter than retry_backoff_initial_ms");
        if ((r = get_string(p, root, "", "dead_letter_path", false, false, 4096, &c->dead_letter_path)) < 0)
                return r;
        if (c->dead_letter_path && !*c->dead_letter_path)
                return perr(p, "dead_letter_path", "must not be empty");
        return 0;
}

int audit_config_parse(const char *text, size_t len, const char *source, struct audit_config **ret,
                       struct ak_error *err)
{
        struct parser p = { err, source };
        struct audit_config *c;
        struct json_value *root;
        struct json_error je;
        int r;

        if (len > AUDIT_CONFIG_MAX_BYTES)
                return ak_error_set(err, -EINVAL, "config %s: %zu bytes is more than the limit of %d", source, len,
                                    AUDIT_CONFIG_MAX_BYTES);
        r = json_parse(text, len, &root, &je);
        if (r == -EINVAL)
                return ak_error_set(err, -EINVAL, "config %s: not valid JSON: %s", source, je.message);
        if (r < 0)
                return ak_error_errno(err, r, "config %s", source);
        c = calloc(1, sizeof(*c));
        if (!c) {
                json_value_free(root);
                return ak_error_errno(err, -ENOMEM, "config %s", source);
        }
        r = parse_root(&p, root, c);
        json_value_free(root);
        if (r < 0) {
                if (r == -ENOMEM)
                        ak_error_errno(err, r, "config %s", source);
                audit_config_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

int audit_config_load(const char *path, struct audit_config **ret, struct ak_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        struct stat st;

        if (fd < 0 || fstat(fd, &st) < 0)
                return ak_error_errno(err, -errno, "config %s", path);
        if (!S_ISREG(st.st_mode))
                return ak_error_set(err, -EINVAL, "config %s: not a regular file", path);
        if (st.st_size > AUDIT_CONFIG_MAX_BYTES)
                return ak_error_set(err, -EINVAL, "config %s: %lld bytes is more than the limit of %d", path,
                                    (long long)st.st_size, AUDIT_CONFIG_MAX_BYTES);
        buf = malloc(AUDIT_CONFIG_MAX_BYTES + 1);
        if (!buf)
                return ak_error_errno(err, -ENOMEM, "config %s", path);
        for (;;) {
                ssize_t n = read(fd, buf + len, AUDIT_CONFIG_MAX_BYTES + 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return ak_error_errno(err, -errno, "config %s: read", path);
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > AUDIT_CONFIG_MAX_BYTES)
                        return ak_error_set(err, -EINVAL, "config %s: more than %d bytes", path,
                                            AUDIT_CONFIG_MAX_BYTES);
        }
        return audit_config_parse(buf, len, path, ret, err);
}

void audit_config_free(struct audit_config *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n_dests; i++) {
                struct audit_dest_config *d = &c->dests[i];
                free(d->name);
                free(d->url);
                free(d->authorization);
                for (size_t h = 0; h < d->n_headers; h++) {
                        free(d->headers[h].name);
                        free(d->headers[h].value);
                }
                free(d->headers);
                free(d->path);
        }
        free(c->dests);
        free(c->dead_letter_path);
        free(c);
}

int audit_config_set_webhook_token(struct audit_config *c, const char *token, struct ak_error *err)
{
        size_t n = token ? strlen(token) : 0;

        if (n == 0 || n > 4096 || !header_value_ok(token) || strchr(token, ' '))
                return ak_error_set(err, -EINVAL, "webhook token: want 1 to 4096 bytes without spaces, CR, LF or NUL");
        for (size_t i = 0; i < c->n_dests; i++) {
                const struct audit_dest_config *d = &c->dests[i];
                bool header = false;
                for (size_t h = 0; h < d->n_headers; h++)
                        header = header || strcasecmp(d->headers[h].name, "authorization") == 0;
                if (d->type == AUDIT_DEST_HTTP_WEBHOOK && (d->authorization || header))
                        return ak_error_set(err, -EINVAL,
                                            "destination %s has its own authorization in the config and a webhook "
                                            "token file gives one too: keep the credential in the token file "
                                            "(a Secret) and remove it from the config", d->name);
        }
        for (size_t i = 0; i < c->n_dests; i++) {
                struct audit_dest_config *d = &c->dests[i];
                if (d->type != AUDIT_DEST_HTTP_WEBHOOK)
                        continue;
                if (asprintf(&d->authorization, "Bearer %s", token) < 0) {
                        d->authorization = NULL;
                        return ak_error_errno(err, -ENOMEM, "webhook token");
                }
        }
        return 0;
}

const char *audit_format_name(enum audit_format f)
{
        return f == AUDIT_FORMAT_OCSF ? "ocsf" : "agentkernel";
}
