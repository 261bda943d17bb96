/* serde_json's CompactFormatter and PrettyFormatter, byte for byte. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/utf8.h"
#include "lib/json/json.h"
#include "lib/json/writer.h"

static const char replacement[3] = "\xef\xbf\xbd"; /* U+FFFD */

struct json_writer {
        char *data;
        size_t len, cap, max;
        int err;
        bool pretty;
        bool lossy;
        bool after_key;        /* a key was written; its value comes next */
        bool done;             /* a complete top-level value was written */
        unsigned depth;
        bool has_value[JSON_MAX_DEPTH + 1]; /* per open container */
        bool is_object[JSON_MAX_DEPTH + 1];
};

int json_writer_new(unsigned flags, size_t max_size, struct json_writer **ret)
{
        struct json_writer *w = calloc(1, sizeof(*w));

        if (!w)
                return -ENOMEM;
        w->pretty = flags & JSON_WRITER_PRETTY;
        w->lossy = flags & JSON_WRITER_LOSSY;
        w->max = max_size ? max_size : JSON_MAX_INPUT;
        *ret = w;
        return 0;
}

void json_writer_free(struct json_writer *w)
{
        if (!w)
                return;
        free(w->data);
        free(w);
}

static void fail(struct json_writer *w, int err)
{
        if (!w->err)
                w->err = err;
}

/* Room for n more bytes and the NUL, or a sticky error: -E2BIG past max. */
static bool reserve(struct json_writer *w, size_t n)
{
        if (w->err)
                return false;
        if (n > w->max - w->len) {
                fail(w, -E2BIG);
                return false;
        }
        if (w->cap - w->len <= n) {
                size_t cap = w->cap ? w->cap : 256;
                while (cap - w->len <= n)
                        cap *= 2;
                char *d = realloc(w->data, cap);
                if (!d) {
                        fail(w, -ENOMEM);
                        return false;
                }
                w->data = d;
                w->cap = cap;
        }
        return true;
}

static inline void put(struct json_writer *w, const void *p, size_t n)
{
        if (!reserve(w, n))
                return;
        memcpy(w->data + w->len, p, n);
        w->len += n;
        w->data[w->len] = '\0';
}

void json_writer_prefix(struct json_writer *w, size_t n)
{
        static const char zeros[64];

        if (w->err)
                return;
        if (w->len || w->done || w->depth) {
                fail(w, -EINVAL);
                return;
        }
        if (n > SIZE_MAX - w->max) {
                fail(w, -E2BIG);
                return;
        }
        w->max += n;
        while (n && !w->err) {
                size_t k = n < sizeof(zeros) ? n : sizeof(zeros);
                put(w, zeros, k);
                n -= k;
        }
}

static void put_indent(struct json_writer *w)
{
        put(w, "\n", 1);
        for (unsigned i = 0; i < w->depth; i++)
                put(w, "  ", 2);
}

/* Before any value: separators for arrays, checks for objects. */
static void begin_value(struct json_writer *w)
{
        if (w->err)
                return;
        if (w->depth == 0) {
                if (w->done)
                        fail(w, -EINVAL);
                return;
        }
        if (w->is_object[w->depth]) {
                if (!w->after_key)
                        fail(w, -EINVAL);
                w->after_key = false;
                return;
        }
        if (w->has_value[w->depth])
                put(w, ",", 1);
        if (w->pretty)
                put_indent(w);
        w->has_value[w->depth] = true;
}

static void end_value(struct json_writer *w)
{
        if (w->depth == 0)
                w->done = true;
}

static void open_container(struct json_writer *w, bool object)
{
        begin_value(w);
        if (w->err)
                return;
        if (w->depth >= JSON_MAX_DEPTH) {
                fail(w, -EINVAL);
                return;
        }
        put(w, object ? "{" : "[", 1);
        w->depth++;
        w->is_object[w->depth] = object;
        w->has_value[w->depth] = false;
}

static void close_container(struct json_writer *w, bool object)
{
        if (w->err)
                return;
        if (w->depth == 0 || w->is_object[w->depth] != object || w->after_key) {
                fail(w, -EINVAL);
                return;
        }
        bool had = w->has_value[w->depth];
        w->depth--;
        if (w->pretty && had)
                put_indent(w);
        put(w, object ? "}" : "]", 1);
        end_value(w);
}

void json_writer_begin_object(struct json_writer *w)
{
        open_container(w, true);
}

void json_writer_end_object(struct json_writer *w)
{
        close_container(w, true);
}

void json_writer_begin_array(struct json_writer *w)
{
        open_container(w, false);
}

void json_writer_end_array(struct json_writer *w)
{
        close_container(w, false);
}

/* Writes s as a JSON string. Under lossy, each invalid UTF-8 unit becomes
 * U+FFFD; otherwise bytes from 0x80 up are copied as they are. */
static void put_string(struct json_writer *w, const char *s, size_t len)
{
        static const char hex[16] = "0123456789abcdef";
        const unsigned char *u = (const unsigned char *)s;
        bool lossy = w->lossy;
        size_t run = 0, i = 0;

        /* Never less than len + 2 bytes: one allocation for long strings. */
        if (!reserve(w, len < SIZE_MAX - 2 ? len + 2 : SIZE_MAX))
                return;
        put(w, "\"", 1);
        for (;;) {
                char esc[6];
                size_t n = 2;

                /* Bytes copied as they are, up to one that needs work. */
                if (lossy)
                        while (i < len && u[i] >= 0x20 && u[i] < 0x80 && u[i] != '"' && u[i] != '\\')
                                i++;
                else
                        while (i < len && u[i] >= 0x20 && u[i] != '"' && u[i] != '\\')
                                i++;
                if (i == len)
                        break;
                unsigned char c = u[i];
                if (c >= 0x80) {
                        if (!utf8_unit(u + i, len - i, &n)) {
                                if (i > run)
                                        put(w, s + run, i - run);
                                put(w, replacement, sizeof(replacement));
                                run = i + n;
                        }
                        i += n;
                        continue;
                }
                if (i > run)
                        put(w, s + run, i - run);
                run = ++i;
                esc[0] = '\\';
                switch (c) {
                case '"':
                        esc[1] = '"';
                        break;
                case '\\':
                        esc[1] = '\\';
                        break;
                case '\b':
                        esc[1] = 'b';
                        break;
                case '\f':
                        esc[1] = 'f';
                        break;
                case '\n':
                        esc[1] = 'n';
                        break;
                case '\r':
                        esc[1] = 'r';
                        break;
                case '\t':
                        esc[1] = 't';
                        break;
                default:
                        esc[1] = 'u';
                        esc[2] = '0';
                        esc[3] = '0';
                        esc[4] = hex[c >> 4];
                        esc[5] = hex[c & 15];
                        n = 6;
                }
                put(w, esc, n);
        }
        put(w, s + run, len - run);
        put(w, "\"", 1);
}

void json_writer_key(struct json_writer *w, const char *key, size_t len)
{
        if (w->err)
                return;
        if (w->depth == 0 || !w->is_object[w->depth] || w->after_key) {
                fail(w, -EINVAL);
                return;
        }
        if (w->has_value[w->depth])
                put(w, ",", 1);
        if (w->pretty)
                put_indent(w);
        w->has_value[w->depth] = true;
        put_string(w, key, len);
        put(w, w->pretty ? ": " : ":", w->pretty ? 2 : 1);
        w->after_key = true;
}

void json_writer_string(struct json_writer *w, const char *s, size_t len)
{
        begin_value(w);
        put_string(w, s, len);
        end_value(w);
}

void json_writer_string_or_null(struct json_writer *w, const char *s)
{
        if (s)
                json_writer_string(w, s, strlen(s));
        else
                json_writer_null(w);
}

static void put_scalar(struct json_writer *w, const char *text)
{
        begin_value(w);
        put(w, text, strlen(text));
        end_value(w);
}

void json_writer_u64(struct json_writer *w, uint64_t v)
{
        char b[24];

        snprintf(b, sizeof(b), "%" PRIu64, v);
        put_scalar(w, b);
}

void json_writer_i64(struct json_writer *w, int64_t v)
{
        char b[24];

        snprintf(b, sizeof(b), "%" PRId64, v);
        put_scalar(w, b);
}

void json_writer_raw(struct json_writer *w, const char *text, size_t len)
{
        begin_value(w);
        put(w, text, len);
        end_value(w);
}

void json_writer_bool(struct json_writer *w, bool v)
{
        put_scalar(w, v ? "true" : "false");
}

void json_writer_null(struct json_writer *w)
{
        put_scalar(w, "null");
}

int json_writer_finish(struct json_writer *w, char **ret_data, size_t *ret_len)
{
        if (w->err)
                return w->err;
        if (w->depth != 0 || !w->done)
                return -EINVAL;
        if (!w->data) {
                w->data = strdup("");
                if (!w->data)
                        return -ENOMEM;
        }
        *ret_data = w->data;
        *ret_len = w->len;
        w->data = NULL;
        w->len = w->cap = 0;
        return 0;
}

int json_quote(const char *s, size_t len, char **ret, size_t *ret_len)
{
        struct json_writer *w;
        int r = json_writer_new(0, 0, &w);

        if (r < 0)
                return r;
        json_writer_string(w, s, len);
        r = json_writer_finish(w, ret, ret_len);
        json_writer_free(w);
        return r;
}

/* The unit at s[0..len) (len > 0): its size once written, its length in
 * *ret_n. Mirrors put_string. */
static size_t written_unit(const unsigned char *s, size_t len, bool lossy, size_t *ret_n)
{
        unsigned char c = s[0];

        if (c < 0x80) {
                *ret_n = 1;
                switch (c) {
                case '"': case '\\': case '\b': case '\f': case '\n': case '\r': case '\t':
                        return 2;
                default:
                        return c < 0x20 ? 6 : 1;
                }
        }
        if (utf8_unit(s, len, ret_n) || !lossy)
                return *ret_n;
        return sizeof(replacement);
}

size_t json_quoted_size(const char *s, size_t len, unsigned flags)
{
        const unsigned char *u = (const unsigned char *)s;
        bool lossy = flags & JSON_WRITER_LOSSY;
        size_t i = 0, total = 2;

        while (i < len) {
                size_t n;
                total += written_unit(u + i, len - i, lossy, &n);
                i += n;
        }
        return total;
}

size_t json_quoted_cut(const char *s, size_t len, unsigned flags, size_t budget)
{
        const unsigned char *u = (const unsigned char *)s;
        bool lossy = flags & JSON_WRITER_LOSSY;
        size_t i = 0, total = 2;

        if (budget < total)
                return 0;
        while (i < len) {
                size_t n;
                size_t size = written_unit(u + i, len - i, lossy, &n);
                if (size > budget - total)
                        break;
                total += size;
                i += n;
        }
        return i;
}
