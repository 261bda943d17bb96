#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
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

int ak_private_dir(const char *path, struct ak_error *err)
{
        struct stat st;
        int r;

        if ((r = ak_mkdir_p(path, 0700, true)) < 0)
                return ak_error_errno(err, r, "create the parents of %s", path);
        /* mkdir's mode is masked by the umask; the fchmod below is not. */
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
                return ak_error_errno(err, -errno, "mkdir %s", path);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                if (r == -ENOTDIR || r == -ELOOP)
                        return ak_error_set(err, -ENOTDIR, "%s is not a directory (or is a symbolic link): "
                                            "remove it or point AK_HOME elsewhere", path);
                return ak_error_errno(err, r, "open %s", path);
        }
        if (fstat(fd, &st) < 0)
                return ak_error_errno(err, -errno, "stat %s", path);
        if (st.st_uid != geteuid())
                return ak_error_set(err, -EPERM, "%s belongs to uid %u, not to us (uid %u): another user could "
                                    "plant keys or sockets there; remove it, or set AK_HOME to a directory of your own",
                                    path, (unsigned)st.st_uid, (unsigned)geteuid());
        if (st.st_mode & (S_IWGRP | S_IWOTH))
                return ak_error_set(err, -EACCES, "%s is writable by group or others (mode %04o): "
                                    "run: chmod 700 %s", path, (unsigned)(st.st_mode & 07777), path);
        if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) < 0)
                return ak_error_errno(err, -errno, "chmod 700 %s", path);
        return 0;
}

int ak_private_file(const char *path, struct ak_error *err)
{
        struct stat st;

        if (lstat(path, &st) < 0)
                return ak_error_errno(err, -errno, "stat %s", path);
        if (S_ISLNK(st.st_mode))
                return ak_error_set(err, -ELOOP, "%s is a symbolic link: remove it", path);
        if (st.st_uid != geteuid())
                return ak_error_set(err, -EPERM, "%s belongs to uid %u, not to us (uid %u): remove it",
                                    path, (unsigned)st.st_uid, (unsigned)geteuid());
        if ((st.st_mode & 07777) != 0600 && chmod(path, 0600) < 0)
                return ak_error_errno(err, -errno, "chmod 600 %s", path);
        return 0;
}

int ak_write_kernel_file(const char *path, const char *text)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        size_t len = strlen(text);
        ssize_t n = write(fd, text, len);
        if (n < 0)
                return -errno;
        return (size_t)n == len ? 0 : -EIO;
}
