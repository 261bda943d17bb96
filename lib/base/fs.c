#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/fs.h"

int ak_mkdir_p(const char *path, mode_t mode, bool parents_only)
{
        char buf[PATH_MAX];
        size_t len = strlen(path);

        if (len >= sizeof(buf))
                return -ENAMETOOLONG;
        memcpy(buf, path, len + 1);
        for (char *s = buf + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(buf, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (!parents_only && len && mkdir(buf, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* nftw has no user pointer. */
static __thread int rm_rf_err;

static int rm_rf_cb(const char *path, const struct stat *st, int type, struct FTW *f)
{
        (void)st;
        (void)f;
        if ((type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT && !rm_rf_err)
                rm_rf_err = -errno;
        return 0;
}

int ak_rm_rf(const char *path)
{
        rm_rf_err = 0;
        if (nftw(path, rm_rf_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 && errno != ENOENT)
                return -errno;
        return rm_rf_err;
}
