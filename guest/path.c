#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "guest/path.h"
#include "lib/base/fs.h"

static const char *const blocked[] = { "/proc", "/sys", "/dev", "/etc/passwd", "/etc/shadow" };

/* The next component of *p (skipping '/'), as start/len; false at the end. */
static bool next_component(const char **p, const char **ret_start, size_t *ret_len)
{
        const char *s = *p;

        for (;;) {
                while (*s == '/')
                        s++;
                if (!*s)
                        return false;
                const char *e = s;
                while (*e && *e != '/')
                        e++;
                *p = e;
                if (e - s == 1 && s[0] == '.') {
                        s = e;
                        continue;
                }
                *ret_start = s;
                *ret_len = (size_t)(e - s);
                return true;
        }
}

/* True when path's components begin with all of prefix's. */
static bool has_prefix_components(const char *path, const char *prefix)
{
        const char *pp = path, *qq = prefix;
        const char *ps, *qs;
        size_t pl, ql;

        while (next_component(&qq, &qs, &ql)) {
                if (!next_component(&pp, &ps, &pl))
                        return false;
                if (pl != ql || memcmp(ps, qs, pl) != 0)
                        return false;
        }
        return true;
}

static int check_blocked(const char *path, const char **ret_msg)
{
        static __thread char msg[64];

        for (size_t i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++) {
                if (has_prefix_components(path, blocked[i])) {
                        snprintf(msg, sizeof(msg), "Cannot access system path: %s", blocked[i]);
                        *ret_msg = msg;
                        return -EINVAL;
                }
        }
        return 0;
}

int path_validate(const char *path, const char **ret_msg)
{
        const char *p = path, *s;
        size_t len;

        if (path[0] != '/') {
                *ret_msg = "Path must be absolute";
                return -EINVAL;
        }
        if (strlen(path) >= PATH_MAX) {
                *ret_msg = "Path too long";
                return -EINVAL;
        }
        while (next_component(&p, &s, &len)) {
                if (len == 2 && s[0] == '.' && s[1] == '.') {
                        *ret_msg = "Path traversal not allowed";
                        return -EINVAL;
                }
        }
        return check_blocked(path, ret_msg);
}

int path_validate_resolved(const char *path, const char **ret_msg)
{
        char prefix[PATH_MAX], resolved[PATH_MAX], full[2 * PATH_MAX];
        int r = path_validate(path, ret_msg);

        if (r < 0)
                return r;
        snprintf(prefix, sizeof(prefix), "%s", path);
        /* Find the longest prefix that exists; the rest is appended as is. */
        for (;;) {
                if (realpath(prefix, resolved))
                        break;
                char *slash = strrchr(prefix, '/');
                if (!slash || slash == prefix) {
                        snprintf(resolved, sizeof(resolved), "/");
                        break;
                }
                *slash = 0;
        }
        snprintf(full, sizeof(full), "%s/%s", resolved, path + strlen(prefix));
        return check_blocked(full, ret_msg);
}

int path_mkdir_p(const char *path)
{
        struct stat st;
        int r = ak_mkdir_p(path, 0777, false);

        if (r < 0)
                return r;
        if (stat(path, &st) < 0)
                return -errno;
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}
