/* Bearer token files (tokens.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/svc/tokens.h"

struct tokens {
        char **v;
        size_t *len;
        size_t n;
};

void tokens_free(struct tokens *t)
{
        if (!t)
                return;
        for (size_t i = 0; i < t->n; i++) {
                /* Do not leave secrets in freed memory. */
                explicit_bzero(t->v[i], t->len[i]);
                free(t->v[i]);
        }
        free(t->v);
        free(t->len);
        free(t);
}

static int add(struct tokens *t, const char *p, size_t n)
{
        char *copy = malloc(n + 1);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, p, n);
        copy[n] = '\0';
        char **v = realloc(t->v, (t->n + 1) * sizeof(*v));
        if (v)
                t->v = v;
        size_t *len = realloc(t->len, (t->n + 1) * sizeof(*len));
        if (len)
                t->len = len;
        if (!v || !len) {
                free(copy);
                return -ENOMEM;
        }
        t->v[t->n] = copy;
        t->len[t->n++] = n;
        return 0;
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
                while (n && (*p == ' ' || *p == '\t'))
                        p++, n--;
                while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
                        n--;
                if (n == 0 || *p == '#')
                        continue;
                for (size_t i = 0; i < n; i++) {
                        unsigned char c = (unsigned char)p[i];
                        if (c <= 0x20 || c >= 0x7f) {
                                tokens_free(t);
                                return ak_error_set(err, -EINVAL,
                                                    "%s line %zu: byte 0x%02x at column %zu: a token is "
                                                    "visible ASCII, one per line",
                                                    source, line, c, i + 1);
                        }
                }
                if (n < TOKEN_MIN_BYTES || n > TOKEN_MAX_BYTES) {
                        tokens_free(t);
                        return ak_error_set(err, -EINVAL,
                                            "%s line %zu: the token is %zu bytes; use %d to %d "
                                            "(e.g. openssl rand -hex 32)",
                                            source, line, n, TOKEN_MIN_BYTES, TOKEN_MAX_BYTES);
                }
                if (t->n == TOKENS_MAX) {
                        tokens_free(t);
                        return ak_error_set(err, -EINVAL, "%s line %zu: more than %d tokens", source,
                                            line, TOKENS_MAX);
                }
                if (add(t, p, n) < 0) {
                        tokens_free(t);
                        return ak_error_errno(err, -ENOMEM, "%s", source);
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
        if (!S_ISREG(st.st_mode))
                return ak_error_set(err, -EINVAL, "token file %s: not a regular file", path);
        if (st.st_mode & 077)
                return ak_error_set(err, -EPERM,
                                    "token file %s is accessible by group or others (mode %04o); "
                                    "run: chmod 600 %s",
                                    path, (unsigned)(st.st_mode & 07777), path);
        if (st.st_size > TOKENS_FILE_MAX)
                return ak_error_set(err, -EINVAL, "token file %s: %lld bytes, the limit is %u", path,
                                    (long long)st.st_size, TOKENS_FILE_MAX);
        size_t cap = (size_t)st.st_size + 1, n = 0;
        _cleanup_free_ char *buf = malloc(cap);
        if (!buf)
                return ak_error_errno(err, -ENOMEM, "token file %s", path);
        for (;;) {
                ssize_t r = read(fd, buf + n, cap - n);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return ak_error_errno(err, -errno, "token file %s: read", path);
                if (r == 0)
                        break;
                n += (size_t)r;
                if (n == cap)
                        return ak_error_set(err, -EINVAL, "token file %s: grew while being read", path);
        }
        int r = tokens_parse(buf, n, path, ret, err);
        explicit_bzero(buf, n);
        return r;
}

int tokens_load_first(const char *path, char **ret, struct ak_error *err)
{
        struct tokens *t = NULL;
        int r = tokens_load(path, &t, err);
        if (r < 0)
                return r;
        char *first = strdup(t->v[0]);
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
        return t->v[i];
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

bool tokens_check(const struct tokens *t, const char *authorization)
{
        if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
                return false;
        const char *got = authorization + 7;
        size_t n = strnlen(got, TOKEN_MAX_BYTES + 1);
        if (n > TOKEN_MAX_BYTES)
                return false;
        bool ok = false;
        for (size_t i = 0; i < t->n; i++)
                ok |= same(t->v[i], t->len[i], got, n);
        return ok;
}
