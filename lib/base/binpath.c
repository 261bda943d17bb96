#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/binpath.h"

static int try_path(const char *path, char *buf, size_t size)
{
        if (access(path, X_OK) != 0)
                return -ENOENT;
        char *real = realpath(path, NULL);
        if (!real)
                return -errno;
        int r = 0;
        if (strlen(real) >= size)
                r = -ENAMETOOLONG;
        else
                strcpy(buf, real);
        free(real);
        return r;
}

int binpath_find(const char *rel, const char *env, char *buf, size_t size)
{
        char path[PATH_MAX], exe[PATH_MAX];

        if (env) {
                const char *v = getenv(env);
                if (v && *v)
                        return try_path(v, buf, size);
        }
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n > 0) {
                exe[n] = 0;
                for (char *slash = strrchr(exe, '/'); slash && slash > exe; slash = strrchr(exe, '/')) {
                        *slash = 0;
                        if ((size_t)snprintf(path, sizeof(path), "%s/%s", exe, rel) < sizeof(path) &&
                            try_path(path, buf, size) == 0)
                                return 0;
                }
        }
        const char *srcdir = getenv("TEST_SRCDIR");
        if (srcdir) {
                const char *ws = getenv("TEST_WORKSPACE");
                if ((size_t)snprintf(path, sizeof(path), "%s/%s/%s", srcdir, ws ? ws : "ak", rel) < sizeof(path) &&
                    try_path(path, buf, size) == 0)
                        return 0;
        }
        return -ENOENT;
}
