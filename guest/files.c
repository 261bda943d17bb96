#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/files.h"
#include "guest/path.h"
#include "lib/encoding/base64.h"

static int os_error(char *msg, size_t size, const char *what, int err)
{
        snprintf(msg, size, "%s: %s (os error %d)", what, strerror(err), err);
        return -err;
}

int files_write(const char *path, const char *b64, size_t b64_len, int mode, char *msg, size_t msg_size)
{
        uint8_t *data;
        size_t len;
        int r;

        r = base64_decode_alloc(b64, b64_len, &data, &len);
        if (r == -ENOMEM)
                return os_error(msg, msg_size, "Failed to write file", ENOMEM);
        if (r < 0) {
                snprintf(msg, msg_size, "Invalid base64: %s", base64_decode_error(b64, b64_len));
                return r;
        }

        char parent[PATH_MAX];
        snprintf(parent, sizeof(parent), "%s", path);
        char *slash = strrchr(parent, '/');
        if (slash && slash != parent) {
                *slash = 0;
                r = path_mkdir_p(parent);
                if (r < 0) {
                        free(data);
                        return os_error(msg, msg_size, "Failed to create parent directory", -r);
                }
        }

        int fd = open(path, O_WRONLY | O_CREAT | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0666);
        if (fd < 0) {
                r = errno;
                free(data);
                return os_error(msg, msg_size, "Failed to write file", r);
        }
        struct stat st;
        if (fstat(fd, &st) < 0) {
                r = errno;
                goto fail;
        }
        if (!S_ISREG(st.st_mode)) {
                close(fd);
                free(data);
                snprintf(msg, msg_size, "Failed to write file: not a regular file");
                return -EINVAL;
        }
        if (ftruncate(fd, 0) < 0) {
                r = errno;
                goto fail;
        }
        for (size_t off = 0; off < len;) {
                ssize_t n = write(fd, (char *)data + off, len - off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = errno;
                        goto fail;
                }
                off += (size_t)n;
        }
        /* The "mode" extension: exact bits, whatever the umask. */
        if (mode >= 0 && fchmod(fd, (mode_t)mode) < 0) {
                r = errno;
                goto fail;
        }
        free(data);
        if (close(fd) < 0)
                return os_error(msg, msg_size, "Failed to write file", errno);
        return 0;
fail:
        free(data);
        close(fd);
        return os_error(msg, msg_size, "Failed to write file", r);
}

int files_read(const char *path, size_t max, char **ret_b64, size_t *ret_len, char *msg, size_t msg_size)
{
        struct stat st;
        int r;

        int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return os_error(msg, msg_size, "Failed to read file", errno);
        if (fstat(fd, &st) < 0) {
                r = errno;
                close(fd);
                return os_error(msg, msg_size, "Failed to read file", r);
        }
        if (S_ISDIR(st.st_mode)) {
                close(fd);
                return os_error(msg, msg_size, "Failed to read file", EISDIR);
        }
        if (!S_ISREG(st.st_mode)) {
                close(fd);
                snprintf(msg, msg_size, "Failed to read file: not a regular file");
                return -EINVAL;
        }
        if ((uint64_t)st.st_size > max) {
                close(fd);
                snprintf(msg, msg_size, "Failed to read file: file too large (%lld bytes, limit %zu)",
                         (long long)st.st_size, max);
                return -EFBIG;
        }
        /* The size can change under us: read to EOF, up to max. */
        size_t cap = (size_t)st.st_size + 1, len = 0;
        char *buf = malloc(cap);
        if (!buf) {
                close(fd);
                return os_error(msg, msg_size, "Failed to read file", ENOMEM);
        }
        for (;;) {
                if (len == cap) {
                        if (cap > max) {
                                free(buf);
                                close(fd);
                                snprintf(msg, msg_size, "Failed to read file: file too large (limit %zu)", max);
                                return -EFBIG;
                        }
                        char *p = realloc(buf, cap * 2);
                        if (!p) {
                                free(buf);
                                close(fd);
                                return os_error(msg, msg_size, "Failed to read file", ENOMEM);
                        }
                        buf = p;
                        cap *= 2;
                }
                ssize_t n = read(fd, buf + len, cap - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = errno;
                        free(buf);
                        close(fd);
                        return os_error(msg, msg_size, "Failed to read file", r);
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        close(fd);
        if (len > max) {
                free(buf);
                snprintf(msg, msg_size, "Failed to read file: file too large (limit %zu)", max);
                return -EFBIG;
        }
        char *b64;
        r = base64_encode_alloc(buf, len, &b64);
        free(buf);
        if (r < 0)
                return os_error(msg, msg_size, "Failed to read file", -r);
        *ret_b64 = b64;
        *ret_len = base64_encoded_len(len);
        return 0;
}

int files_remove(const char *path, char *msg, size_t msg_size)
{
        if (unlink(path) < 0)
                return os_error(msg, msg_size, "Failed to remove file", errno);
        return 0;
}

int files_mkdir(const char *path, bool recursive, char *msg, size_t msg_size)
{
        if (recursive) {
                int r = path_mkdir_p(path);
                if (r < 0)
                        return os_error(msg, msg_size, "Failed to create directory", -r);
                return 0;
        }
        if (mkdir(path, 0777) < 0)
                return os_error(msg, msg_size, "Failed to create directory", errno);
        return 0;
}
