#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/guest/protocol_json.h"

__attribute__((format(printf, 3, 4)))
static int fail(char *msg, size_t size, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, size, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

/* A number as jansson read it for the agent: integer syntax (no fraction or
 * exponent) as an int64 ("-0" is 0), anything else as a double. Returns 0
 * (*ret_is_int, *ret_int), -ERANGE when it does not fit, -ENOMEM. */
static int read_number(const struct json_value *v, bool *ret_is_int, long long *ret_int)
{
        const char *text = json_number_text(v);

        if (!strpbrk(text, ".eE")) {
                errno = 0;
                long long i = strtoll(text, NULL, 10);
                if (errno == ERANGE)
                        return -ERANGE;
                *ret_is_int = true;
                *ret_int = i;
                return 0;
        }
        /* The text is JSON's grammar: read it in the C locale, whatever
         * the process's is. */
        locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
        if (!c)
                return -ENOMEM;
        errno = 0;
        double d = strtod_l(text, NULL, c);
        int e = errno;
        freelocale(c);
        if (e == ERANGE && isinf(d))
                return -ERANGE;
        *ret_is_int = false;
        return 0;
}

struct member_ref {
        const char *key;
        size_t len;
};

static int member_cmp(const void *a, const void *b)
{
        const struct member_ref *x = a, *y = b;
        int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);

        return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The name of a key that stands twice in obj, or NULL. */
static int find_duplicate(const struct json_value *obj, const char **ret_dup)
{
        size_t n = json_object_size(obj);
        struct member_ref *m;

        *ret_dup = NULL;
        if (n < 2)
                return 0;
        m = calloc(n, sizeof(*m));
        if (!m)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                m[i].key = json_object_key(obj, i, &m[i].len);
        qsort(m, n, sizeof(*m), member_cmp);
        for (size_t i = 1; i < n && !*ret_dup; i++)
                if (member_cmp(&m[i - 1], &m[i]) == 0)
                        *ret_dup = m[i].key;
        free(m);
        return 0;
}

int proto_json_check(const struct json_value *v, bool strict, char *msg, size_t size)
{
        const char *s, *dup;
        size_t len;
        bool is_int;
        long long i;
        int r;

        switch (json_value_type(v)) {
        case JSON_STRING:
                s = json_string(v, &len);
                if (strict && memchr(s, 0, len))
                        return fail(msg, size, "Invalid request: \\u0000 in a string");
                return 0;
        case JSON_NUMBER:
                r = read_number(v, &is_int, &i);
                if (r == -ERANGE)
                        return fail(msg, size, "Invalid request: number out of range: %.64s", json_number_text(v));
                return r;
        case JSON_ARRAY:
                for (size_t k = 0; k < json_array_size(v); k++)
                        if ((r = proto_json_check(json_array_get(v, k), strict, msg, size)) < 0)
                                return r;
                return 0;
        case JSON_OBJECT:
                for (size_t k = 0; k < json_object_size(v); k++) {
                        s = json_object_key(v, k, &len);
                        if (memchr(s, 0, len))
                                return fail(msg, size, "Invalid request: \\u0000 in a key");
                        if ((r = proto_json_check(json_object_value(v, k), strict, msg, size)) < 0)
                                return r;
                }
                if (!strict)
                        return 0;
                if ((r = find_duplicate(v, &dup)) < 0)
                        return r;
                if (dup)
                        return fail(msg, size, "Invalid request: duplicate key `%.64s`", dup);
                return 0;
        default:
                return 0;
        }
}

const struct json_value *proto_json_member(const struct json_value *obj, const char *name)
{
        size_t name_len = strlen(name);

        /* From the end: in replies the last of a duplicate counts, as it
         * did with jansson (requests refuse duplicates). */
        for (size_t i = json_object_size(obj); i-- > 0;) {
                size_t len;
                const char *key = json_object_key(obj, i, &len);
                if (len == name_len && memcmp(key, name, len) == 0)
                        return json_object_value(obj, i);
        }
        return NULL;
}

bool proto_json_is(const struct json_value *v, enum json_type t)
{
        return v && json_value_type(v) == t;
}

const struct json_value *proto_json_field(const struct json_value *obj, const char *name)
{
        const struct json_value *v = proto_json_member(obj, name);

        return proto_json_is(v, JSON_NULL) ? NULL : v;
}

bool proto_json_int(const struct json_value *v, long long lo, long long hi, long long *ret)
{
        bool is_int;
        long long i;

        if (!proto_json_is(v, JSON_NUMBER) || read_number(v, &is_int, &i) < 0 || !is_int || i < lo || i > hi)
                return false;
        *ret = i;
        return true;
}
