/* Private atomic files and receipt load/store. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/io.h"
#include "lib/receipt/receipt.h"
#include "lib/receipt/receipt_file.h"
#include "lib/receipt/receipt_internal.h"

static int fsync_dir_of(const char *path)
{
        char *copy = strdup(path);
        int fd, r = 0;

        if (!copy)
                return -ENOMEM;
        fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        free(copy);
        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                r = -errno;
        close(fd);
        return r;
}

int receipt_write_private_file_mode(const char *path, const void *data, size_t len, bool replace)
{
        char *tmp;
        int fd, r;

        if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
        if (fd < 0) {
                r = -errno;
                free(tmp);
                return r;
        }
        r = ak_write_full(fd, data, len);
        if (r == 0 && fchmod(fd, 0600) < 0)
                r = -errno;
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0) {
                if (replace) {
                        if (rename(tmp, path) < 0)
                                r = -errno;
                } else if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
                        r = -errno;
                        if (r == -EINVAL || r == -ENOSYS) /* file system without RENAME_NOREPLACE */
                                r = link(tmp, path) < 0 ? -errno : 0;
                }
        }
        if (r < 0 || !replace)
                unlink(tmp); /* after link() or on failure; gone after rename */
        free(tmp);
        if (r < 0)
                return r;
        return fsync_dir_of(path);
}

int receipt_write_private_file(const char *path, const void *data, size_t len)
{
        return receipt_write_private_file_mode(path, data, len, true);
}

/* Reads all of fd (at most max bytes) and closes it. */
/* Reads fd to its end (at most max bytes) and closes it. */
static int read_fd(int fd, size_t max, char **ret_data, size_t *ret_len)
{
        int r = ak_read_fd_all(fd, max, ret_data, ret_len);
        close(fd);
        return r;
}

int receipt_read_file(const char *path, size_t max, char **ret_data, size_t *ret_len)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return read_fd(fd, max, ret_data, ret_len);
}

int receipt_read_private_file(const char *path, size_t max, char **ret_data, size_t *ret_len)
{
        struct stat st;
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return errno == ELOOP ? -ELOOP : -errno;
        int r = fstat(fd, &st) < 0          ? -errno
                : !S_ISREG(st.st_mode)      ? -EINVAL
                : st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) ? -EPERM
                                            : 0;
        if (r < 0) {
                close(fd);
                return r;
        }
        return read_fd(fd, max, ret_data, ret_len);
}

int receipt_write_file(const char *path, const struct receipt *rc, char **error)
{
        char *json;
        size_t len;
        int r;

        r = receipt_to_json(rc, true, &json, &len);
        if (r < 0)
                return receipt_error(error, r, "Failed to write receipt %s: %s", path,
                                     r == -EINVAL ? "receipt has missing fields" : strerror(-r));
        r = receipt_write_private_file(path, json, len);
        free(json);
        if (r < 0)
                return receipt_error(error, r, "Failed to write receipt %s: %s", path, strerror(-r));
        return 0;
}

int receipt_load_file(const char *path, struct receipt **ret, char **error)
{
        char *text, *why = NULL;
        size_t len;
        int r;

        r = receipt_read_file(path, RECEIPT_MAX_FILE_SIZE, &text, &len);
        if (r == -EFBIG)
                return receipt_error(error, r, "Failed to read receipt %s: larger than %zu bytes", path,
                                     RECEIPT_MAX_FILE_SIZE);
        if (r < 0)
                return receipt_error(error, r, "Failed to read receipt %s: %s", path, strerror(-r));
        r = receipt_from_json(text, len, ret, &why);
        free(text);
        if (r < 0) {
                r = receipt_error(error, r, "Invalid receipt JSON in %s: %s", path, why ? why : strerror(-r));
                free(why);
                return r;
        }
        return 0;
}

int receipt_verify_file(const char *path, bool allow_unsigned, struct receipt **ret, char **error)
{
        struct receipt *rc;
        int r;

        r = receipt_load_file(path, &rc, error);
        if (r < 0)
                return r;
        r = receipt_verify(rc, allow_unsigned, error);
        if (r < 0) {
                receipt_free(rc);
                return r;
        }
        *ret = rc;
        return 0;
}
