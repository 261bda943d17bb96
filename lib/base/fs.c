#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

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
