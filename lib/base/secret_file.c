/* The ownership and mode rule for secret files (secret_file.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/secret_file.h"

static bool in_our_groups(gid_t gid)
{
        gid_t groups[256];
        int n;

        if (gid == getegid())
                return true;
        n = getgroups((int)(sizeof(groups) / sizeof(groups[0])), groups);
        for (int i = 0; i < n; i++)
                if (groups[i] == gid)
                        return true;
        return false;
}

/* Whether path ("/a/b/f") names a file below one of the directories in
 * AK_SECRET_GROUP_DIRS. The path as given must be absolute with no "."
 * or ".." component, so a prefix match cannot be walked out of. */
static bool under_named_dir(const char *path)
{
        const char *dirs = getenv(AK_SECRET_GROUP_DIRS_ENV);
        int count = 0;

        if (!dirs || path[0] != '/' || strstr(path, "/../") || strstr(path, "/./") || strstr(path, "//"))
                return false;
        for (const char *p = dirs; *p && count < AK_SECRET_GROUP_DIRS_MAX; count++) {
                size_t n = strcspn(p, ":");
                while (n > 1 && p[n - 1] == '/')
                        n--;
                /* Absolute, not "/" itself, and path continues with '/' after it. */
                if (n > 1 && p[0] == '/' && strncmp(path, p, n) == 0 && path[n] == '/' && path[n + 1])
                        return true;
                p += strcspn(p, ":");
                if (*p == ':')
                        p++;
        }
        return false;
}

int ak_secret_file_check(const char *what, const char *path, const struct stat *st, struct ak_error *err)
{
        unsigned mode = (unsigned)(st->st_mode & 07777);

        if (!S_ISREG(st->st_mode))
                return ak_error_set(err, -EINVAL, "%s %s: not a regular file", what, path);
        if (st->st_uid != 0 && st->st_uid != geteuid())
                return ak_error_set(err, -EPERM,
                                    "%s %s belongs to uid %u, neither root nor us (uid %u), who could "
                                    "change it; run: chown %u %s",
                                    what, path, (unsigned)st->st_uid, (unsigned)geteuid(),
                                    (unsigned)geteuid(), path);
        if (mode & (S_IWGRP | S_IWOTH | S_IRWXO))
                return ak_error_set(err, -EPERM,
                                    "%s %s is accessible by group or others (mode %04o); run: chmod 600 %s "
                                    "(others may never read a secret, nor anyone else write it)",
                                    what, path, mode, path);
        if (!(mode & S_IRWXG))
                return 0;
        if ((mode & S_IRWXG) != S_IRGRP)
                return ak_error_set(err, -EPERM, "%s %s: mode %04o gives its group more than read; "
                                    "run: chmod 600 %s", what, path, mode, path);
        if (!in_our_groups(st->st_gid))
                return ak_error_set(err, -EPERM,
                                    "%s %s is readable by group %u (mode %04o), which is not one of ours; "
                                    "run: chmod 600 %s",
                                    what, path, (unsigned)st->st_gid, mode, path);
        if (!under_named_dir(path))
                return ak_error_set(err, -EPERM,
                                    "%s %s is readable by its group (mode %04o): a group-readable secret "
                                    "is accepted only under a directory named in " AK_SECRET_GROUP_DIRS_ENV
                                    " (a Kubernetes Secret volume with defaultMode 0440 and fsGroup); "
                                    "name its directory there, or run: chmod 600 %s",
                                    what, path, mode, path);
        return 0;
}
