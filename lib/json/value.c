#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json/json.h"
#include "lib/json/json_internal.h"

void json_value_free(struct json_value *v)
{
        if (!v)
                return;
        if (v->type == JSON_ARRAY) {
                for (size_t i = 0; i < v->len; i++)
                        json_value_free(v->items[i]);
                free(v->items);
        } else if (v->type == JSON_OBJECT) {
                for (size_t i = 0; i < v->len; i++) {
                        free(v->members[i].key);
                        json_value_free(v->members[i].value);
                }
                free(v->members);
        }
        free(v->text);
        free(v);
}

enum json_type json_value_type(const struct json_value *v)
{
        return v->type;
}

const char *json_type_name(enum json_type t)
{
        switch (t) {
        case JSON_NULL:
                return "null";
        case JSON_BOOL:
                return "boolean";
        case JSON_NUMBER:
                return "number";
        case JSON_STRING:
                return "string";
        case JSON_ARRAY:
                return "array";
        case JSON_OBJECT:
                return "object";
        }
        return "?";
}

bool json_bool(const struct json_value *v)
{
        return v->type == JSON_BOOL && v->boolean;
}

const char *json_string(const struct json_value *v, size_t *ret_len)
{
        if (v->type != JSON_STRING)
                return NULL;
        if (ret_len)
                *ret_len = v->len;
        return v->text;
}

const char *json_number_text(const struct json_value *v)
{
        return v->type == JSON_NUMBER ? v->text : NULL;
}

/* Parses the integer forms serde_json yields as u64/i64; see json.h. */
static int number_integer(const struct json_value *v, bool *ret_negative, uint64_t *ret_magnitude)
{
        const char *p;
        bool neg = false;
        uint64_t m = 0;

        if (v->type != JSON_NUMBER)
                return -EDOM;
        p = v->text;
        if (*p == '-') {
                neg = true;
                p++;
        }
        for (; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EDOM; /* fraction or exponent: a float */
                unsigned d = (unsigned)(*p - '0');
                if (m > (UINT64_MAX - d) / 10) {
                        /* serde_json keeps parsing as a float; still no
                         * fraction allowed for our purposes: out of range */
                        for (; *p; p++)
                                if (*p < '0' || *p > '9')
                                        return -EDOM;
                        return neg ? -EDOM : -ERANGE;
                }
                m = m * 10 + d;
        }
        if (neg && m == 0)
                return -EDOM; /* "-0" is a float for serde_json */
        if (neg && m > (uint64_t)INT64_MAX + 1)
                return -EDOM; /* below i64: parsed as a float */
        *ret_negative = neg;
        *ret_magnitude = m;
        return 0;
}

int json_number_u64(const struct json_value *v, uint64_t *ret)
{
        bool neg;
        uint64_t m;
        int r = number_integer(v, &neg, &m);

        if (r < 0)
                return r;
        if (neg)
                return -ERANGE;
        *ret = m;
        return 0;
}

int json_number_i64(const struct json_value *v, int64_t *ret)
{
        bool neg;
        uint64_t m;
        int r = number_integer(v, &neg, &m);

        if (r < 0)
                return r;
        if (!neg && m > (uint64_t)INT64_MAX)
                return -ERANGE;
        *ret = neg ? (int64_t)(0 - m) : (int64_t)m;
        return 0;
}

size_t json_array_size(const struct json_value *v)
{
        return v->type == JSON_ARRAY ? v->len : 0;
}

const struct json_value *json_array_get(const struct json_value *v, size_t i)
{
        return v->type == JSON_ARRAY && i < v->len ? v->items[i] : NULL;
}

size_t json_object_size(const struct json_value *v)
{
        return v->type == JSON_OBJECT ? v->len : 0;
}

const char *json_object_key(const struct json_value *v, size_t i, size_t *ret_len)
{
        if (v->type != JSON_OBJECT || i >= v->len)
                return NULL;
        if (ret_len)
                *ret_len = v->members[i].key_len;
        return v->members[i].key;
}

const struct json_value *json_object_value(const struct json_value *v, size_t i)
{
        return v->type == JSON_OBJECT && i < v->len ? v->members[i].value : NULL;
}

const struct json_value *json_object_get(const struct json_value *v, const char *key)
{
        size_t n = strlen(key);

        if (v->type != JSON_OBJECT)
                return NULL;
        for (size_t i = 0; i < v->len; i++)
                if (v->members[i].key_len == n && memcmp(v->members[i].key, key, n) == 0)
                        return v->members[i].value;
        return NULL;
}

int json_object_copy_string(const struct json_value *v, const char *key, char *dst, size_t size)
{
        const struct json_value *m = json_object_get(v, key);
        size_t n;
        if (!m || m->type != JSON_STRING)
                return -EINVAL;
        const char *s = json_string(m, &n);
        if (n >= size || strlen(s) != n)
                return -EINVAL;
        memcpy(dst, s, n + 1);
        return 0;
}
