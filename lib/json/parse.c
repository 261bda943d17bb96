/* Recursive descent over a length-delimited buffer; see json.h for what is
 * accepted. Depth is bounded by JSON_MAX_DEPTH, so recursion is bounded. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/utf8.h"
#include "lib/json/json.h"
#include "lib/json/json_internal.h"

struct parser {
        const unsigned char *p;
        const unsigned char *end;
        const unsigned char *start;
        unsigned depth;
        int err;                /* -EINVAL or -ENOMEM once failed */
        struct json_error *error;
};

struct buf {
        char *data;
        size_t len, cap;
};

static void fail_at(struct parser *ps, const unsigned char *at, const char *what)
{
        unsigned line = 1, column = 0;

        if (ps->err)
                return;
        ps->err = -EINVAL;
        if (!ps->error)
                return;
        /* serde_json counts the column of the offending byte, 0 at a line start
         * before any byte was consumed; we report the 1-based byte column. */
        for (const unsigned char *q = ps->start; q < at && q < ps->end; q++) {
                if (*q == '\n') {
                        line++;
                        column = 0;
                } else {
                        column++;
                }
        }
        column++;
        ps->error->line = line;
        ps->error->column = column;
        snprintf(ps->error->message, sizeof(ps->error->message), "%s at line %u column %u", what, line,
                 column);
}

static void fail_nomem(struct parser *ps)
{
        if (ps->err)
                return;
        ps->err = -ENOMEM;
        if (ps->error) {
                ps->error->line = 0;
                ps->error->column = 0;
                snprintf(ps->error->message, sizeof(ps->error->message), "out of memory");
        }
}

static int buf_push(struct buf *b, const void *data, size_t n)
{
        if (b->cap - b->len <= n) {
                size_t cap = b->cap ? b->cap : 16;
                while (cap - b->len <= n)
                        cap *= 2;
                char *d = realloc(b->data, cap);
                if (!d)
                        return -ENOMEM;
                b->data = d;
                b->cap = cap;
        }
        memcpy(b->data + b->len, data, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
}

static void skip_ws(struct parser *ps)
{
        while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
                ps->p++;
}

static struct json_value *new_value(struct parser *ps, enum json_type t)
{
        struct json_value *v = calloc(1, sizeof(*v));
        if (!v)
                fail_nomem(ps);
        else
                v->type = t;
        return v;
}

static int hex4(const unsigned char *p, const unsigned char *end, unsigned *ret)
{
        unsigned v = 0;

        if (end - p < 4)
                return -1;
        for (int i = 0; i < 4; i++) {
                unsigned char c = p[i];
                v <<= 4;
                if (c >= '0' && c <= '9')
                        v |= (unsigned)(c - '0');
                else if (c >= 'a' && c <= 'f')
                        v |= (unsigned)(c - 'a' + 10);
                else if (c >= 'A' && c <= 'F')
                        v |= (unsigned)(c - 'A' + 10);
                else
                        return -1;
        }
        *ret = v;
        return 0;
}

static size_t utf8_encode(unsigned cp, unsigned char out[4])
{
        if (cp < 0x80) {
                out[0] = (unsigned char)cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (unsigned char)(0xc0 | cp >> 6);
                out[1] = (unsigned char)(0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (unsigned char)(0xe0 | cp >> 12);
                out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                out[2] = (unsigned char)(0x80 | (cp & 0x3f));
                return 3;
        }
        out[0] = (unsigned char)(0xf0 | cp >> 18);
        out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        out[3] = (unsigned char)(0x80 | (cp & 0x3f));
        return 4;
}

/* At the opening quote. On success returns 0 and the decoded bytes. */
static int parse_string_bytes(struct parser *ps, struct buf *b)
{
        ps->p++; /* '"' */
        if (buf_push(b, "", 0) < 0)
                goto nomem;
        for (;;) {
                const unsigned char *run = ps->p;

                while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' && *ps->p >= 0x20 && *ps->p < 0x80)
                        ps->p++;
                if (ps->p > run && buf_push(b, run, (size_t)(ps->p - run)) < 0)
                        goto nomem;
                if (ps->p >= ps->end) {
                        fail_at(ps, ps->p, "EOF while parsing a string");
                        return -1;
                }
                unsigned char c = *ps->p;
                if (c == '"') {
                        ps->p++;
                        return 0;
                }
                if (c < 0x20) {
                        fail_at(ps, ps->p, "control character (\\u0000-\\u001F) found while parsing a string");
                        return -1;
                }
                if (c >= 0x80) {
                        size_t n;
                        if (!utf8_unit(ps->p, (size_t)(ps->end - ps->p), &n)) {
                                fail_at(ps, ps->p, "invalid UTF-8 in string");
                                return -1;
                        }
                        if (buf_push(b, ps->p, n) < 0)
                                goto nomem;
                        ps->p += n;
                        continue;
                }
                /* backslash */
                const unsigned char *esc = ps->p;
                ps->p++;
                if (ps->p >= ps->end) {
                        fail_at(ps, ps->p, "EOF while parsing a string");
                        return -1;
                }
                char out;
                switch (*ps->p) {
                case '"':
                        out = '"';
                        break;
                case '\\':
                        out = '\\';
                        break;
                case '/':
                        out = '/';
                        break;
                case 'b':
                        out = '\b';
                        break;
                case 'f':
                        out = '\f';
                        break;
                case 'n':
                        out = '\n';
                        break;
                case 'r':
                        out = '\r';
                        break;
                case 't':
                        out = '\t';
                        break;
                case 'u': {
                        unsigned cp, lo;
                        unsigned char enc[4];
                        if (hex4(ps->p + 1, ps->end, &cp) < 0) {
                                fail_at(ps, ps->p, "invalid escape");
                                return -1;
                        }
                        ps->p += 5;
                        if (cp >= 0xdc00 && cp <= 0xdfff) {
                                fail_at(ps, esc, "lone trailing surrogate in hex escape");
                                return -1;
                        }
                        if (cp >= 0xd800 && cp <= 0xdbff) {
                                if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
                                    hex4(ps->p + 2, ps->end, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff) {
                                        fail_at(ps, esc, "lone leading surrogate in hex escape");
                                        return -1;
                                }
                                ps->p += 6;
                                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        }
                        if (buf_push(b, enc, utf8_encode(cp, enc)) < 0)
                                goto nomem;
                        continue;
                }
                default:
                        fail_at(ps, ps->p, "invalid escape");
                        return -1;
                }
                ps->p++;
                if (buf_push(b, &out, 1) < 0)
                        goto nomem;
        }
nomem:
        fail_nomem(ps);
        return -1;
}

static struct json_value *parse_value(struct parser *ps);

static struct json_value *parse_number(struct parser *ps)
{
        const unsigned char *s = ps->p;
        struct json_value *v;

        if (ps->p < ps->end && *ps->p == '-')
                ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') {
                fail_at(ps, ps->p, "invalid number");
                return NULL;
        }
        if (*ps->p == '0') {
                ps->p++;
                if (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
                        fail_at(ps, ps->p, "invalid number");
                        return NULL;
                }
        } else {
                while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
                        ps->p++;
        }
        if (ps->p < ps->end && *ps->p == '.') {
                ps->p++;
                if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') {
                        fail_at(ps, ps->p, "invalid number");
                        return NULL;
                }
                while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
                        ps->p++;
        }
        if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
                ps->p++;
                if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
                        ps->p++;
                if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') {
                        fail_at(ps, ps->p, "invalid number");
                        return NULL;
                }
                while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
                        ps->p++;
        }
        v = new_value(ps, JSON_NUMBER);
        if (!v)
                return NULL;
        v->len = (size_t)(ps->p - s);
        v->text = strndup((const char *)s, v->len);
        if (!v->text) {
                free(v);
                fail_nomem(ps);
                return NULL;
        }
        return v;
}

static struct json_value *parse_array(struct parser *ps)
{
        struct json_value *v = new_value(ps, JSON_ARRAY);
        size_t cap = 0;

        if (!v)
                return NULL;
        ps->p++; /* '[' */
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ']') {
                ps->p++;
                return v;
        }
        for (;;) {
                struct json_value *item = parse_value(ps);
                if (!item)
                        goto fail;
                if (v->len == cap) {
                        size_t ncap = cap ? cap * 2 : 4;
                        struct json_value **n = realloc(v->items, ncap * sizeof(*n));
                        if (!n) {
                                json_value_free(item);
                                fail_nomem(ps);
                                goto fail;
                        }
                        v->items = n;
                        cap = ncap;
                }
                v->items[v->len++] = item;
                skip_ws(ps);
                if (ps->p >= ps->end) {
                        fail_at(ps, ps->p, "EOF while parsing a list");
                        goto fail;
                }
                if (*ps->p == ']') {
                        ps->p++;
                        return v;
                }
                if (*ps->p != ',') {
                        fail_at(ps, ps->p, "expected `,` or `]`");
                        goto fail;
                }
                ps->p++;
                skip_ws(ps);
                if (ps->p < ps->end && *ps->p == ']') {
                        fail_at(ps, ps->p, "trailing comma");
                        goto fail;
                }
        }
fail:
        json_value_free(v);
        return NULL;
}

static struct json_value *parse_object(struct parser *ps)
{
        struct json_value *v = new_value(ps, JSON_OBJECT);
        size_t cap = 0;

        if (!v)
                return NULL;
        ps->p++; /* '{' */
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == '}') {
                ps->p++;
                return v;
        }
        for (;;) {
                struct buf key = {0};
                struct json_value *val;

                if (ps->p >= ps->end) {
                        fail_at(ps, ps->p, "EOF while parsing an object");
                        goto fail;
                }
                if (*ps->p != '"') {
                        fail_at(ps, ps->p, "key must be a string");
                        goto fail;
                }
                if (parse_string_bytes(ps, &key) < 0) {
                        free(key.data);
                        goto fail;
                }
                skip_ws(ps);
                if (ps->p >= ps->end || *ps->p != ':') {
                        fail_at(ps, ps->p, ps->p >= ps->end ? "EOF while parsing an object" : "expected `:`");
                        free(key.data);
                        goto fail;
                }
                ps->p++;
                val = parse_value(ps);
                if (!val) {
                        free(key.data);
                        goto fail;
                }
                if (v->len == cap) {
                        size_t ncap = cap ? cap * 2 : 4;
                        struct json_member *n = realloc(v->members, ncap * sizeof(*n));
                        if (!n) {
                                free(key.data);
                                json_value_free(val);
                                fail_nomem(ps);
                                goto fail;
                        }
                        v->members = n;
                        cap = ncap;
                }
                v->members[v->len++] = (struct json_member){ .key = key.data, .key_len = key.len, .value = val };
                skip_ws(ps);
                if (ps->p >= ps->end) {
                        fail_at(ps, ps->p, "EOF while parsing an object");
                        goto fail;
                }
                if (*ps->p == '}') {
                        ps->p++;
                        return v;
                }
                if (*ps->p != ',') {
                        fail_at(ps, ps->p, "expected `,` or `}`");
                        goto fail;
                }
                ps->p++;
                skip_ws(ps);
                if (ps->p < ps->end && *ps->p == '}') {
                        fail_at(ps, ps->p, "trailing comma");
                        goto fail;
                }
        }
fail:
        json_value_free(v);
        return NULL;
}

static struct json_value *parse_literal(struct parser *ps, const char *word, enum json_type t, bool b)
{
        size_t n = strlen(word);
        struct json_value *v;

        if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
                fail_at(ps, ps->p, "expected value");
                return NULL;
        }
        ps->p += n;
        v = new_value(ps, t);
        if (v)
                v->boolean = b;
        return v;
}

static struct json_value *parse_value(struct parser *ps)
{
        struct json_value *v;

        skip_ws(ps);
        if (ps->p >= ps->end) {
                fail_at(ps, ps->p, "EOF while parsing a value");
                return NULL;
        }
        switch (*ps->p) {
        case '{':
        case '[':
                if (++ps->depth > JSON_MAX_DEPTH) {
                        fail_at(ps, ps->p, "recursion limit exceeded");
                        return NULL;
                }
                v = *ps->p == '{' ? parse_object(ps) : parse_array(ps);
                ps->depth--;
                return v;
        case '"': {
                struct buf b = {0};
                if (parse_string_bytes(ps, &b) < 0) {
                        free(b.data);
                        return NULL;
                }
                v = new_value(ps, JSON_STRING);
                if (!v) {
                        free(b.data);
                        return NULL;
                }
                v->text = b.data;
                v->len = b.len;
                return v;
        }
        case 't':
                return parse_literal(ps, "true", JSON_BOOL, true);
        case 'f':
                return parse_literal(ps, "false", JSON_BOOL, false);
        case 'n':
                return parse_literal(ps, "null", JSON_NULL, false);
        default:
                if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
                        return parse_number(ps);
                fail_at(ps, ps->p, "expected value");
                return NULL;
        }
}

int json_parse(const char *text, size_t len, struct json_value **ret, struct json_error *error)
{
        struct parser ps = {
                .p = (const unsigned char *)text,
                .end = (const unsigned char *)text + len,
                .start = (const unsigned char *)text,
                .error = error,
        };
        struct json_value *v;

        if (len > JSON_MAX_INPUT)
                return -E2BIG;
        v = parse_value(&ps);
        if (!v)
                return ps.err ? ps.err : -EINVAL;
        skip_ws(&ps);
        if (ps.p != ps.end) {
                fail_at(&ps, ps.p, "trailing characters");
                json_value_free(v);
                return ps.err;
        }
        *ret = v;
        return 0;
}
