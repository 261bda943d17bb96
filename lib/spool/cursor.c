#include "lib/spool/cursor.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/cleanup.h"

#define MAX_FILE 8192

/* FNV-1a, 64 bits: a stable file name for a destination name. */
static void file_name(const char *name, char ret[40])
{
        uint64_t h = 0xcbf29ce484222325ull;

        for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
                h ^= *p;
                h *= 0x100000001b3ull;
        }
        snprintf(ret, 40, "cursor-%016" PRIx64, h);
}

int cursor_load(int dir_fd, const char *name, uint64_t *ret_position, struct ak_error *err)
{
        char fname[40], buf[MAX_FILE + 1], *end;
        _cleanup_close_ int fd = -1;
        size_t len = 0;
        uint64_t pos;

        file_name(name, fname);
        fd = openat(dir_fd, fname, O_RDONLY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) {
                *ret_position = 0;
                return 0;
        }
        if (fd < 0)
                return ak_error_errno(err, -errno, "cursor %s (%s)", fname, name);
        for (;;) {
                ssize_t n = read(fd, buf + len, MAX_FILE - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return ak_error_errno(err, -errno, "cursor %s: read", fname);
                if (n == 0 || (len += (size_t)n) == MAX_FILE)
                        break;
        }
        buf[len] = '\0';
        errno = 0;
        pos = strtoull(buf, &end, 10);
        if (errno || end == buf || buf[0] < '0' || buf[0] > '9' || *end != ' ' || len == 0 ||
            buf[len - 1] != '\n' || strlen(end + 1) != strlen(name) + 1 ||
            strncmp(end + 1, name, strlen(name)) != 0)
                return ak_error_set(err, -EBADMSG, "cursor %s: damaged or not for destination %s", fname, name);
        *ret_position = pos;
        return 0;
}

int cursor_store(int dir_fd, const char *name, uint64_t position, struct ak_error *err)
{
        char fname[40], tmp[48];
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = -1;
        size_t off = 0;
        int len;

        file_name(name, fname);
        snprintf(tmp, sizeof(tmp), "%s.tmp", fname);
        len = asprintf(&text, "%" PRIu64 " %s\n", position, name);
        if (len < 0)
                return ak_error_errno(err, -ENOMEM, "cursor %s", fname);
        fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return ak_error_errno(err, -errno, "cursor %s: create", tmp);
        while (off < (size_t)len) {
                ssize_t n = write(fd, text + off, (size_t)len - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return ak_error_errno(err, -errno, "cursor %s: write", tmp);
                off += (size_t)n;
        }
        if (fdatasync(fd) < 0)
                return ak_error_errno(err, -errno, "cursor %s: fsync", tmp);
        if (renameat(dir_fd, tmp, dir_fd, fname) < 0)
                return ak_error_errno(err, -errno, "cursor %s: rename", fname);
        if (fsync(dir_fd) < 0)
                return ak_error_errno(err, -errno, "cursor %s: fsync the directory", fname);
        return 0;
}
