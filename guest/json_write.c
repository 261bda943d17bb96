#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_write.h"
#include "utf8.h"

static const char hexdigits[] = "0123456789abcdef";

void jbuf_init(struct jbuf *b, size_t limit)
{
        memset(b, 0, sizeof(*b));
        b->limit = limit;
}

void jbuf_done(struct jbuf *b)
{
        free(b->data);
        jbuf_init(b, b->limit);
}

char *jbuf_steal(struct jbuf *b, size_t *ret_len)
{
        char *p = b->data;

        if (ret_len)
                *ret_len = b->len;
        b->data = NULL;
        jbuf_done(b);
        return p;
}

int jbuf_error(const struct jbuf *b)
{
        return b->err;
}

static bool jbuf_reserve(struct jbuf *b, size_t n)
{
        if (b->err)
                return false;
        if (n > SIZE_MAX - b->len || (b->limit && b->len + n > b->limit)) {
                b->err = -EMSGSIZE;
                return false;
        }
        if (b->len + n <= b->cap)
                return true;
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
                cap = cap > SIZE_MAX / 2 ? b->len + n : cap * 2;
        if (b->limit && cap > b->limit)
                cap = b->limit;
        char *p = realloc(b->data, cap);
        if (!p) {
                b->err = -ENOMEM;
                return false;
        }
        b->data = p;
        b->cap = cap;
        return true;
}

void jbuf_put(struct jbuf *b, const void *p, size_t n)
{
        if (!n || !jbuf_reserve(b, n))
                return;
        memcpy(b->data + b->len, p, n);
        b->len += n;
}

static void put_c(struct jbuf *b, char c)
{
        jbuf_put(b, &c, 1);
}

static void before_value(struct jbuf *b)
{
        if (!b->depth)
                return;
        uint64_t bit = 1ull << (b->depth - 1);
        if (b->need_comma & bit)
                put_c(b, ',');
        b->need_comma |= bit;
}

static void open_level(struct jbuf *b, char c)
{
        before_value(b);
        put_c(b, c);
        if (b->depth >= 64) {
                b->err = b->err ? b->err : -E2BIG;
                return;
        }
        b->depth++;
        b->need_comma &= ~(1ull << (b->depth - 1));
}

static void close_level(struct jbuf *b, char c)
{
        put_c(b, c);
        if (b->depth)
                b->depth--;
}

void jw_object_begin(struct jbuf *b)
{
        open_level(b, '{');
}

void jw_object_end(struct jbuf *b)
{
        close_level(b, '}');
}

void jw_array_begin(struct jbuf *b)
{
        open_level(b, '[');
}

void jw_array_end(struct jbuf *b)
{
        close_level(b, ']');
}

void jw_key(struct jbuf *b, const char *key)
{
        before_value(b);
        put_c(b, '"');
        jbuf_put(b, key, strlen(key));
        put_c(b, '"');
        put_c(b, ':');
        /* The value that follows must not add another comma. */
        if (b->depth)
                b->need_comma &= ~(1ull << (b->depth - 1));
}

static void after_value(struct jbuf *b)
{
        if (b->depth)
                b->need_comma |= 1ull << (b->depth - 1);
}

/* Escaped size of one ASCII byte. */
static size_t ascii_size(uint8_t c)
{
        switch (c) {
        case '"': case '\\': case '\b': case '\f': case '\n': case '\r': case '\t':
                return 2;
        default:
                return c < 0x20 ? 6 : 1;
        }
}

static void put_ascii(struct jbuf *b, uint8_t c)
{
        char e[6];

        switch (c) {
        case '"': jbuf_put(b, "\\\"", 2); return;
        case '\\': jbuf_put(b, "\\\\", 2); return;
        case '\b': jbuf_put(b, "\\b", 2); return;
        case '\f': jbuf_put(b, "\\f", 2); return;
        case '\n': jbuf_put(b, "\\n", 2); return;
        case '\r': jbuf_put(b, "\\r", 2); return;
        case '\t': jbuf_put(b, "\\t", 2); return;
        default:
                break;
        }
        if (c >= 0x20) {
                put_c(b, (char)c);
                return;
        }
        memcpy(e, "\\u00", 4);
        e[4] = hexdigits[c >> 4];
        e[5] = hexdigits[c & 15];
        jbuf_put(b, e, 6);
}

/* Walks s unit by unit: returns the escaped size of the unit at s[off] and
 * its input length. */
static size_t unit_size(const uint8_t *s, size_t len, size_t off, size_t *ret_n, bool *ret_valid)
{
        if (s[off] < 0x80) {
                *ret_n = 1;
                *ret_valid = true;
                return ascii_size(s[off]);
        }
        *ret_valid = utf8_unit(s + off, len - off, ret_n);
        return *ret_valid ? *ret_n : 3; /* U+FFFD is 3 bytes */
}

void jw_string(struct jbuf *b, const void *p, size_t len)
{
        const uint8_t *s = p;
        size_t off = 0;

        before_value(b);
        if (!jbuf_reserve(b, len + 2))
                return;
        put_c(b, '"');
        while (off < len && !b->err) {
                /* Fast path: a run of plain ASCII needing no escape. */
                size_t run = off;
                while (run < len && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' && s[run] != '\\')
                        run++;
                if (run > off) {
                        jbuf_put(b, s + off, run - off);
                        off = run;
                        continue;
                }
                size_t n;
                bool valid;
                unit_size(s, len, off, &n, &valid);
                if (s[off] < 0x80)
                        put_ascii(b, s[off]);
                else if (valid)
                        jbuf_put(b, s + off, n);
                else
                        jbuf_put(b, "\xEF\xBF\xBD", 3);
                off += n;
        }
        put_c(b, '"');
        after_value(b);
}

void jw_cstring(struct jbuf *b, const char *s)
{
        jw_string(b, s, strlen(s));
}

void jw_int(struct jbuf *b, int64_t v)
{
        char tmp[32];
        int n = snprintf(tmp, sizeof(tmp), "%" PRId64, v);

        before_value(b);
        jbuf_put(b, tmp, (size_t)n);
        after_value(b);
}

void jw_bool(struct jbuf *b, bool v)
{
        before_value(b);
        if (v)
                jbuf_put(b, "true", 4);
        else
                jbuf_put(b, "false", 5);
        after_value(b);
}

size_t jw_string_size(const void *p, size_t len)
{
        const uint8_t *s = p;
        size_t off = 0, total = 2;

        while (off < len) {
                size_t n;
                bool valid;
                total += unit_size(s, len, off, &n, &valid);
                off += n;
        }
        return total;
}

size_t jw_string_cut(const void *p, size_t len, size_t budget)
{
        const uint8_t *s = p;
        size_t off = 0, total = 2;

        if (budget < 2)
                return 0;
        while (off < len) {
                size_t n;
                bool valid;
                size_t sz = unit_size(s, len, off, &n, &valid);
                if (total + sz > budget)
                        break;
                total += sz;
                off += n;
        }
        return off;
}
