#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/envlist.h"
#include "lib/base/io.h"

int envlist_set(struct envlist *e, const char *kv, struct ak_error *err)
{
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv)
                return ak_error_set(err, -EINVAL, "%s: want KEY=VALUE or NAME", kv);
        size_t klen = (size_t)(eq - kv);
        char *copy = strdup(kv);
        if (!copy)
                return ak_error_set(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < e->n; i++) {
                if (strncmp(e->kv[i], kv, klen) == 0 && e->kv[i][klen] == '=') {
                        free(e->kv[i]);
                        e->kv[i] = copy;
                        return 0;
                }
        }
        if (e->n == ENVLIST_MAX) {
                free(copy);
                return ak_error_set(err, -E2BIG, "at most %d environment variables", ENVLIST_MAX);
        }
        e->kv[e->n++] = copy;
        return 0;
}

static int from_environment(struct envlist *e, const char *name, bool must, struct ak_error *err)
{
        const char *v = getenv(name);
        if (!v) {
                if (!must)
                        return 0;
                return ak_error_set(err, -ENOENT, "-e %s: %s is not set in this environment (export it, or "
                                    "give -e %s=VALUE)", name, name, name);
        }
        size_t n = strlen(name) + strlen(v) + 2;
        char *kv = malloc(n);
        if (!kv)
                return ak_error_set(err, -ENOMEM, "out of memory");
        snprintf(kv, n, "%s=%s", name, v);
        int r = envlist_set(e, kv, err);
        free(kv);
        return r;
}

int envlist_arg(struct envlist *e, const char *arg, struct ak_error *err)
{
        if (!*arg || arg[0] == '=')
                return ak_error_set(err, -EINVAL, "-e '%s': want KEY=VALUE or NAME", arg);
        if (strchr(arg, '='))
                return envlist_set(e, arg, err);
        return from_environment(e, arg, true, err);
}

int envlist_file(struct envlist *e, const char *path, struct ak_error *err)
{
        char *text = NULL;
        size_t len = 0;
        int r = ak_read_file(path, ENVLIST_FILE_MAX, &text, &len);
        if (r < 0)
                return ak_error_errno(err, r, "--env-file %s", path);
        if (memchr(text, 0, len)) {
                free(text);
                return ak_error_set(err, -EINVAL, "--env-file %s: a NUL byte: not a text file", path);
        }
        unsigned line = 0;
        for (char *p = text; r == 0 && p && *p;) {
                char *nl = strchr(p, '\n');
                if (nl)
                        *nl = 0;
                line++;
                size_t n = strlen(p);
                if (n && p[n - 1] == '\r')
                        p[--n] = 0;
                char *s = p + strspn(p, " \t");
                if (*s && *s != '#') {
                        if (strchr(s, '='))
                                r = envlist_set(e, s, err);
                        else
                                r = from_environment(e, s, false, err);
                        if (r < 0)
                                ak_error_wrap(err, "--env-file %s:%u", path, line);
                }
                p = nl ? nl + 1 : NULL;
        }
        free(text);
        return r;
}

void envlist_free(struct envlist *e)
{
        for (size_t i = 0; i < e->n; i++)
                free(e->kv[i]);
        e->n = 0;
}
