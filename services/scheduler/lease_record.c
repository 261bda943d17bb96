/* Lease JSON in and out (lease_record.h). The body comes from the API
 * server, which a compromised cluster component could answer for: every
 * field is checked for type and range before it is used. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/json/json.h"
#include "lib/json/writer.h"
#include "services/scheduler/lease_record.h"

/* 0001-01-01 .. 9999-12-31 fits; we only accept 1970..9999. */
#define MAX_EPOCH_S 253402300799LL

int lease_time_format(int64_t us, char *buf, size_t size)
{
        if (us < 0 || us / 1000000 > MAX_EPOCH_S || size < 28)
                return -EINVAL;
        time_t s = (time_t)(us / 1000000);
        struct tm tm;
        if (!gmtime_r(&s, &tm))
                return -EINVAL;
        int n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(us % 1000000));
        return n == 27 ? 0 : -EINVAL;
}

/* n decimal digits at s into *ret; -1 when one is not a digit. */
static int digits(const char *s, int n, int *ret)
{
        int v = 0;
        for (int i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        *ret = v;
        return 0;
}

static int days_in_month(int y, int m)
{
        static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        return m == 2 && leap ? 29 : d[m - 1];
}

int lease_time_parse(const char *s, int64_t *ret_us)
{
        int y, mo, d, h, mi, sec, frac = 0, off = 0;

        if (strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
            digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) || s[13] != ':' ||
            digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &sec))
                return -EINVAL;
        const char *p = s + 19;
        if (*p == '.') {
                int n = 0;
                for (p++; *p >= '0' && *p <= '9'; p++, n++) {
                        if (n < 6)
                                frac = frac * 10 + (*p - '0');
                }
                if (n == 0 || n > 9)
                        return -EINVAL;
                for (; n < 6; n++)
                        frac *= 10;
        }
        if (*p == 'Z' || *p == 'z') {
                p++;
        } else if (*p == '+' || *p == '-') {
                int oh, om;
                if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
                        return -EINVAL;
                off = (oh * 60 + om) * 60 * (*p == '+' ? 1 : -1);
                p += 6;
        } else {
                return -EINVAL;
        }
        if (*p || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
            sec > 60)
                return -EINVAL;
        struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi,
                         .tm_sec = sec };
        int64_t t = (int64_t)timegm(&tm) - off;
        if (t < 0 || t > MAX_EPOCH_S)
                return -EINVAL;
        *ret_us = t * 1000000 + frac;
        return 0;
}

int lease_check_name(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > 253)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
                if (!alnum && ((c != '-' && c != '.') || i == 0 || i == n - 1))
                        return -EINVAL;
        }
        return 0;
}

/* A string member (absent or null: ""), copied into dst. */
static int get_string(const struct json_value *obj, const char *key, const char *where, char *dst, size_t size,
                      struct ak_error *err)
{
        const struct json_value *v = json_object_get(obj, key);
        dst[0] = 0;
        if (!v || json_value_type(v) == JSON_NULL)
                return 0;
        if (json_object_copy_string(obj, key, dst, size) < 0)
                return ak_error_set(err, -EINVAL, "lease JSON: %s%s: want a string without NUL, under %zu bytes",
                                    where, key, size);
        return 0;
}

static int get_uint(const struct json_value *obj, const char *key, uint32_t max, uint32_t *ret,
                    struct ak_error *err)
{
        const struct json_value *v = json_object_get(obj, key);
        uint64_t n = 0;
        if (v && json_value_type(v) != JSON_NULL && (json_number_u64(v, &n) < 0 || n > max))
                return ak_error_set(err, -EINVAL, "lease JSON: spec.%s: want a whole number from 0 to %u", key,
                                    max);
        *ret = (uint32_t)n;
        return 0;
}

static int get_time(const struct json_value *obj, const char *key, int64_t *ret, struct ak_error *err)
{
        char s[64];
        int r = get_string(obj, key, "spec.", s, sizeof(s), err);
        *ret = 0;
        if (r < 0 || !*s)
                return r;
        if (lease_time_parse(s, ret) < 0)
                return ak_error_set(err, -EINVAL, "lease JSON: spec.%s %.40s: want RFC 3339 time (MicroTime)", key,
                                    s);
        return 0;
}

static int read_lease(const struct json_value *root, struct lease_record *r, struct ak_error *err)
{
        char kind[32];
        if (json_value_type(root) != JSON_OBJECT)
                return ak_error_set(err, -EINVAL, "lease JSON: want an object, got %s",
                                    json_type_name(json_value_type(root)));
        if (get_string(root, "kind", "", kind, sizeof(kind), err) < 0)
                return -EINVAL;
        if (*kind && strcmp(kind, "Lease") != 0)
                return ak_error_set(err, -EINVAL, "lease JSON: kind %s: want Lease", kind);
        const struct json_value *meta = json_object_get(root, "metadata");
        if (!meta || json_value_type(meta) != JSON_OBJECT)
                return ak_error_set(err, -EINVAL, "lease JSON: metadata: want an object");
        if (get_string(meta, "resourceVersion", "metadata.", r->resource_version, sizeof(r->resource_version),
                       err) < 0)
                return -EINVAL;
        if (!*r->resource_version)
                return ak_error_set(err, -EINVAL, "lease JSON: metadata.resourceVersion is missing");
        const struct json_value *spec = json_object_get(root, "spec");
        if (!spec || json_value_type(spec) == JSON_NULL)
                return 0;
        if (json_value_type(spec) != JSON_OBJECT)
                return ak_error_set(err, -EINVAL, "lease JSON: spec: want an object");
        if (get_string(spec, "holderIdentity", "spec.", r->holder, sizeof(r->holder), err) < 0 ||
            get_uint(spec, "leaseDurationSeconds", LEASE_MAX_DURATION_S, &r->duration_s, err) < 0 ||
            get_uint(spec, "leaseTransitions", INT32_MAX, &r->transitions, err) < 0 ||
            get_time(spec, "acquireTime", &r->acquire_us, err) < 0 ||
            get_time(spec, "renewTime", &r->renew_us, err) < 0)
                return -EINVAL;
        return 0;
}

int lease_record_parse(const char *body, size_t len, struct lease_record *ret, struct ak_error *err)
{
        struct json_value *root = NULL;
        struct json_error jerr;
        struct lease_record r = { 0 };

        if (len > LEASE_MAX_BODY)
                return ak_error_set(err, -E2BIG, "lease JSON: %zu bytes, more than %u", len, LEASE_MAX_BODY);
        if (json_parse(body, len, &root, &jerr) < 0)
                return ak_error_set(err, -EINVAL, "lease JSON: %s", jerr.message);
        int rc = read_lease(root, &r, err);
        json_value_free(root);
        if (rc == 0)
                *ret = r;
        return rc;
}

static void write_time(struct json_writer *w, const char *key, int64_t us)
{
        char t[32];
        json_writer_key(w, key, strlen(key));
        if (us > 0 && lease_time_format(us, t, sizeof(t)) == 0)
                json_writer_string(w, t, strlen(t));
        else
                json_writer_null(w);
}

#define KEY(w, k) json_writer_key(w, k, sizeof(k) - 1)

int lease_record_write(const struct lease_record *r, const char *ns, const char *name, char **ret, size_t *ret_len)
{
        struct json_writer *w;
        if (json_writer_new(0, LEASE_MAX_BODY, &w) < 0)
                return -ENOMEM;
        json_writer_begin_object(w);
        KEY(w, "apiVersion");
        json_writer_string(w, "coordination.k8s.io/v1", 22);
        KEY(w, "kind");
        json_writer_string(w, "Lease", 5);
        KEY(w, "metadata");
        json_writer_begin_object(w);
        KEY(w, "name");
        json_writer_string(w, name, strlen(name));
        KEY(w, "namespace");
        json_writer_string(w, ns, strlen(ns));
        if (*r->resource_version) {
                KEY(w, "resourceVersion");
                json_writer_string(w, r->resource_version, strlen(r->resource_version));
        }
        json_writer_end_object(w);
        KEY(w, "spec");
        json_writer_begin_object(w);
        KEY(w, "holderIdentity");
        json_writer_string(w, r->holder, strlen(r->holder));
        KEY(w, "leaseDurationSeconds");
        json_writer_u64(w, r->duration_s);
        write_time(w, "acquireTime", r->acquire_us);
        write_time(w, "renewTime", r->renew_us);
        KEY(w, "leaseTransitions");
        json_writer_u64(w, r->transitions);
        json_writer_end_object(w);
        json_writer_end_object(w);
        int rc = json_writer_finish(w, ret, ret_len);
        json_writer_free(w);
        return rc;
}
