#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "vmm/image/cpio.h"

#define MAX_FILE ((uint64_t)1 << 30)

struct cpio {
        int fd;
        int err;
        uint32_t ino;
        uint64_t size;
};

int cpio_new(int fd, struct cpio **ret)
{
        struct cpio *w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->fd = fd;
        w->ino = 1;
        *ret = w;
        return 0;
}

void cpio_free(struct cpio *w)
{
        free(w);
}

static void put(struct cpio *w, const void *p, size_t n)
{
        const uint8_t *b = p;
        while (!w->err && n) {
                ssize_t k = write(w->fd, b, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        w->err = -errno;
                        return;
                }
                b += k;
                n -= (size_t)k;
                w->size += (uint64_t)k;
        }
}

static void pad4(struct cpio *w)
{
        static const uint8_t zeros[4];
        if (w->size % 4)
                put(w, zeros, 4 - w->size % 4);
}

static int check_path(const char *path)
{
        size_t n = strlen(path);
        if (n == 0 || n > 4095 || path[0] == '/')
                return -EINVAL;
        for (const char *s = path; *s;) {
                const char *e = strchr(s, '/');
                size_t len = e ? (size_t)(e - s) : strlen(s);
                if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
                        return -EINVAL;
                s += len + (e ? 1 : 0);
        }
        return 0;
}

static void header(struct cpio *w, const char *path, uint32_t mode, uint64_t filesize, unsigned rmajor,
                   unsigned rminor)
{
        char h[160];
        size_t namesize = strlen(path) + 1;

        if (w->err)
                return;
        if (filesize > MAX_FILE) {
                w->err = -EFBIG;
                return;
        }
        snprintf(h, sizeof(h), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", w->ino++, mode,
                 0u, 0u, (mode & S_IFMT) == S_IFDIR ? 2u : 1u, 0u, (unsigned)filesize, 0u, 0u, rmajor, rminor,
                 (unsigned)namesize, 0u);
        put(w, h, 110);
        put(w, path, namesize);
        pad4(w);
}

static int entry_ok(struct cpio *w, const char *path)
{
        if (w->err)
                return 0;
        if (check_path(path) < 0) {
                w->err = -EINVAL;
                return 0;
        }
        return 1;
}

void cpio_add_dir(struct cpio *w, const char *path, mode_t perm)
{
        if (entry_ok(w, path))
                header(w, path, S_IFDIR | (perm & 07777), 0, 0, 0);
}

void cpio_add_data(struct cpio *w, const char *path, mode_t perm, const void *data, size_t len)
{
        if (!entry_ok(w, path))
                return;
        header(w, path, S_IFREG | (perm & 07777), len, 0, 0);
        put(w, data, len);
        pad4(w);
}

void cpio_add_file(struct cpio *w, const char *path, mode_t perm, const char *src)
{
        struct stat st;

        if (!entry_ok(w, path))
                return;
        _cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                w->err = -errno;
                return;
        }
        if (!S_ISREG(st.st_mode)) {
                w->err = -EINVAL;
                return;
        }
        header(w, path, S_IFREG | (perm & 07777), (uint64_t)st.st_size, 0, 0);
        uint64_t left = (uint64_t)st.st_size;
        char buf[65536];
        while (!w->err && left) {
                ssize_t n = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        w->err = n < 0 ? -errno : -EIO; /* shrank while we read it */
                        return;
                }
                put(w, buf, (size_t)n);
                left -= (uint64_t)n;
        }
        pad4(w);
}

void cpio_add_symlink(struct cpio *w, const char *path, const char *target)
{
        if (!entry_ok(w, path))
                return;
        size_t n = strlen(target);
        header(w, path, S_IFLNK | 0777, n, 0, 0);
        put(w, target, n);
        pad4(w);
}

void cpio_add_chardev(struct cpio *w, const char *path, mode_t perm, unsigned major, unsigned minor)
{
        if (entry_ok(w, path))
                header(w, path, S_IFCHR | (perm & 07777), 0, major, minor);
}

int cpio_finish(struct cpio *w)
{
        header(w, "TRAILER!!!", 0, 0, 0, 0);
        return w->err;
}

uint64_t cpio_size(const struct cpio *w)
{
        return w->size;
}
