/* Bearer token files (tokens.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/secret_file.h"
#include "lib/svc/tokens.h"

struct token {
        char *v;
        size_t len;
        char *tenant;    /* NULL: TOKEN_DEFAULT_TENANT, unless executor is set */
        char *executor;
        bool admin;
};

struct tokens {
        struct token *v;
        size_t n;
};

static void token_clear(struct token *k)
{
        /* Do not leave secrets in freed memory. */
        if (k->v)
                explicit_bzero(k->v, k->len);
        free(k->v);
        free(k->tenant);
        free(k->executor);
}

void tokens_free(struct tokens *t)
{
        if (!t)
                return;
        for (size_t i = 0; i < t->n; i++)
                token_clear(&t->v[i]);
        free(t->v);
        free(t);
}

static char *dup_n(const char *p, size_t n)
{
        char *copy = malloc(n + 1);
        if (copy) {
                memcpy(copy, p, n);
                copy[n] = '\0';
        }
        return copy;
}

static bool is_space(char c)
{
        return c == ' ' || c == '\t';
}

static bool name_ok(const char *p, size_t n)
{
        if (n == 0 || n > TOKEN_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = p[i];
                bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
                        return false;
        }
        return true;
}

/* One word before the token: tenant=NAME, executor=NAME or admin. */
static int take_word(struct token *k, const char *w, size_t n, size_t word, const char *source,
                     size_t line, struct ak_error *err)
{
        static const char tenant[] = "tenant=", executor[] = "executor=";
        char **slot = NULL;
        size_t skip = 0;
        if (n == 5 && memcmp(w, "admin", 5) == 0) {
                if (k->admin)
                        return ak_error_set(err, -EINVAL, "%s line %zu: admin is given twice", source, line);
                k->admin = true;
                return 0;
        }
        if (n > sizeof(tenant) - 1 && memcmp(w, tenant, sizeof(tenant) - 1) == 0)
                slot = &k->tenant, skip = sizeof(tenant) - 1;
        else if (n > sizeof(executor) - 1 && memcmp(w, executor, sizeof(executor) - 1) == 0)
                slot = &k->executor, skip = sizeof(executor) - 1;
        if (!slot)
                return ak_error_set(err, -EINVAL,
                                    "%s line %zu: word %zu is not tenant=NAME, executor=NAME or admin "
                                    "(a line is [tenant=NAME] [admin] TOKEN, or executor=NAME TOKEN; "
                                    "one token a line)",
                                    source, line, word);
        if (k->tenant || k->executor)
                return ak_error_set(err, -EINVAL, "%s line %zu: a line names one tenant= or executor=, once",
                                    source, line);
        if (!name_ok(w + skip, n - skip))
                return ak_error_set(err, -EINVAL,
                                    "%s line %zu: the name after %.*s is 1 to %d of A-Z a-z 0-9 . _ - "
                                    "starting with a letter or digit",
                                    source, line, (int)skip, w, TOKEN_NAME_MAX);
        *slot = dup_n(w + skip, n - skip);
        return *slot ? 0 : ak_error_errno(err, -ENOMEM, "%s", source);
}

static int check_token(const char *p, size_t n, const char *source, size_t line, struct ak_error *err)
{
        /* "tenant=a #TOKEN" reads as a commented-out token: never take it. */
        if (n && p[0] == '#')
                return ak_error_set(err, -EINVAL,
                                    "%s line %zu: a token does not start with '#' (a comment is a line of "
                                    "its own)",
                                    source, line);
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)p[i];
                if (c <= 0x20 || c >= 0x7f)
                        return ak_error_set(err, -EINVAL,
                                            "%s line %zu: byte 0x%02x at column %zu: a token is "
                                            "visible ASCII, one per line",
                                            source, line, c, i + 1);
        }
        if (n < TOKEN_MIN_BYTES || n > TOKEN_MAX_BYTES)
                return ak_error_set(err, -EINVAL,
                                    "%s line %zu: the token is %zu bytes; use %d to %d "
                                    "(e.g. openssl rand -hex 32)",
                                    source, line, n, TOKEN_MIN_BYTES, TOKEN_MAX_BYTES);
        return 0;
}

/* A trimmed, non-comment line: its words, then the token, into t. */
static int parse_line(struct tokens *t, const char *p, size_t n, const char *source, size_t line,
                      struct ak_error *err)
{
        struct token k = { 0 };
        int r;
        for (size_t word = 1;; word++) {
                size_t w = 0;
                while (w < n && !is_space(p[w]))
                        w++;
                if (w == n)
                        break;
                if ((r = take_word(&k, p, w, word, source, line, err)) < 0)
                        goto fail;
                while (w < n && is_space(p[w]))
                        w++;
                p += w, n -= w;
        }
        if (k.admin && k.executor) {
                r = ak_error_set(err, -EINVAL, "%s line %zu: admin is for tenants, not executor= lines",
                                 source, line);
                goto fail;
        }
        if ((r = check_token(p, n, source, line, err)) < 0)
                goto fail;
        if (t->n == TOKENS_MAX) {
                r = ak_error_set(err, -EINVAL, "%s line %zu: more than %d tokens", source, line, TOKENS_MAX);
                goto fail;
        }
        k.len = n;
        struct token *v = realloc(t->v, (t->n + 1) * sizeof(*v));
        if (!v || !(k.v = dup_n(p, n))) {
                if (v)
                        t->v = v;
                r = ak_error_errno(err, -ENOMEM, "%s", source);
                goto fail;
        }
        t->v = v;
        t->v[t->n++] = k;
        return 0;
fail:
        token_clear(&k);
        return r;
}

int tokens_parse(const char *buf, size_t len, const char *source, struct tokens **ret,
                 struct ak_error *err)
{
        if (len > TOKENS_FILE_MAX)
                return ak_error_set(err, -EINVAL, "%s: %zu bytes, the limit is %u", source, len,
                                    TOKENS_FILE_MAX);
        struct tokens *t = calloc(1, sizeof(*t));
        if (!t)
                return ak_error_errno(err, -ENOMEM, "%s", source);
        size_t line = 0;
        for (size_t pos = 0; pos < len;) {
                const char *nl = memchr(buf + pos, '\n', len - pos);
                size_t end = nl ? (size_t)(nl - buf) : len;
                const char *p = buf + pos;
                size_t n = end - pos;
                pos = end + 1;
                line++;
                while (n && is_space(*p))
                        p++, n--;
                while (n && (is_space(p[n - 1]) || p[n - 1] == '\r'))
                        n--;
                if (n == 0 || *p == '#')
                        continue;
                int r = parse_line(t, p, n, source, line, err);
                if (r < 0) {
                        tokens_free(t);
                        return r;
                }
        }
        if (t->n == 0) {
                tokens_free(t);
                return ak_error_set(err, -EINVAL, "%s: no tokens (every call would be refused)", source);
        }
        *ret = t;
        return 0;
}

int tokens_load(const char *path, struct tokens **ret, struct ak_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return ak_error_errno(err, -errno, "token file %s", path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return ak_error_errno(err, -errno, "token file %s", path);
        int r = ak_secret_file_check("token file", path, &st, err);
        if (r < 0)
                return r;
        if (st.st_size > TOKENS_FILE_MAX)
                return ak_error_set(err, -EINVAL, "token file %s: %lld bytes, the limit is %u", path,
                                    (long long)st.st_size, TOKENS_FILE_MAX);
        size_t cap = (size_t)st.st_size + 1, n = 0;
        _cleanup_free_ char *buf = malloc(cap);
        if (!buf)
                return ak_error_errno(err, -ENOMEM, "token file %s", path);
        for (;;) {
                ssize_t got = read(fd, buf + n, cap - n);
                if (got < 0 && errno == EINTR)
                        continue;
                if (got < 0)
                        return ak_error_errno(err, -errno, "token file %s: read", path);
                if (got == 0)
                        break;
                n += (size_t)got;
                if (n == cap)
                        return ak_error_set(err, -EINVAL, "token file %s: grew while being read", path);
        }
        r = tokens_parse(buf, n, path, ret, err);
        explicit_bzero(buf, n);
        return r;
}

int tokens_load_first(const char *path, char **ret, struct ak_error *err)
{
        struct tokens *t = NULL;
        int r = tokens_load(path, &t, err);
        if (r < 0)
                return r;
        char *first = strdup(t->v[0].v);
        tokens_free(t);
        if (!first)
                return ak_error_errno(err, -ENOMEM, "token file %s", path);
        *ret = first;
        return 0;
}

size_t tokens_count(const struct tokens *t)
{
        return t->n;
}

const char *tokens_get(const struct tokens *t, size_t i)
{
        return t->v[i].v;
}

void tokens_who(const struct tokens *t, size_t i, struct token_who *ret)
{
        const struct token *k = &t->v[i];
        ret->executor = k->executor;
        ret->tenant = k->executor ? NULL : k->tenant ? k->tenant : TOKEN_DEFAULT_TENANT;
        ret->admin = k->admin;
}

/* Equal lengths and bytes, in time that depends only on the lengths. */
static bool same(const char *a, size_t la, const char *b, size_t lb)
{
        volatile unsigned char diff = la != lb;
        size_t n = la < lb ? la : lb;
        for (size_t i = 0; i < n; i++)
                diff |= (unsigned char)(a[i] ^ b[i]);
        return diff == 0;
}

int tokens_find(const struct tokens *t, const char *authorization, size_t *ret_index)
{
        if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
                return -EACCES;
        const char *got = authorization + 7;
        size_t n = strnlen(got, TOKEN_MAX_BYTES + 1);
        if (n > TOKEN_MAX_BYTES)
                return -EACCES;
        /* Every token is compared; the match is selected without a branch. */
        size_t found = 0;
        unsigned char any = 0;
        for (size_t i = 0; i < t->n; i++) {
                size_t hit = (size_t)same(t->v[i].v, t->v[i].len, got, n);
                found |= ((size_t)0 - (hit & (size_t)!any)) & i;
                any |= (unsigned char)hit;
        }
        if (!any)
                return -EACCES;
        *ret_index = found;
        return 0;
}

bool tokens_check(const struct tokens *t, const char *authorization)
{
        size_t i;
        return tokens_find(t, authorization, &i) == 0;
}
