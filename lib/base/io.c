#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "lib/base/io.h"

ssize_t ak_read_full(int fd, void *buf, size_t len)
{
        size_t got = 0;

        while (got < len) {
                ssize_t n = read(fd, (uint8_t *)buf + got, len - got);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                got += (size_t)n;
        }
        return (ssize_t)got;
}

int ak_write_full(int fd, const void *buf, size_t len)
{
        const uint8_t *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

int ak_writev_full(int fd, struct iovec *iov, size_t cnt, off_t off)
{
        while (cnt > 0) {
                int c = cnt > IOV_MAX ? IOV_MAX : (int)cnt;
                ssize_t k = off < 0 ? writev(fd, iov, c) : pwritev(fd, iov, c, off);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EIO;
                if (off >= 0)
                        off += k;
                while (cnt > 0 && (size_t)k >= iov->iov_len) {
                        k -= (ssize_t)iov->iov_len;
                        iov++;
                        cnt--;
                }
                if (cnt > 0) {
                        iov->iov_base = (char *)iov->iov_base + k;
                        iov->iov_len -= (size_t)k;
                }
        }
        return 0;
}

int ak_copy_fd(int in, int out, bool *ret_write_failed)
{
        char buf[65536];

        for (;;) {
                ssize_t n = ak_read_full(in, buf, sizeof(buf));
                int r;
                if (n < 0) {
                        if (ret_write_failed)
                                *ret_write_failed = false;
                        return (int)n;
                }
                if (n == 0)
                        return 0;
                if ((r = ak_write_full(out, buf, (size_t)n)) < 0) {
                        if (ret_write_failed)
                                *ret_write_failed = true;
                        return r;
                }
        }
}

int ak_read_file(const char *path, size_t max, char **ret_data, size_t *ret_len)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* One byte more than max tells a file of max bytes from a larger one. */
        char *buf = malloc(max + 2);
        if (!buf) {
                close(fd);
                return -ENOMEM;
        }
        ssize_t n = ak_read_full(fd, buf, max + 1);
        close(fd);
        if (n < 0 || (size_t)n > max) {
                free(buf);
                return n < 0 ? (int)n : -EFBIG;
        }
        buf[n] = 0;
        *ret_data = buf;
        *ret_len = (size_t)n;
        return 0;
}

int ak_read_fd_all(int fd, size_t max, char **ret_data, size_t *ret_len)
{
        size_t len = 0, cap = 4096;
        char *buf = malloc(cap + 1);

        if (!buf)
                return -ENOMEM;
        for (;;) {
                if (len == cap) {
                        if (cap > max)
                                break;
                        char *n = realloc(buf, cap * 2 + 1);
                        if (!n) {
                                free(buf);
                                return -ENOMEM;
                        }
                        buf = n;
                        cap *= 2;
                }
                ssize_t got = read(fd, buf + len, cap - len);
                if (got < 0 && errno == EINTR)
                        continue;
                if (got < 0) {
                        int r = -errno;
                        free(buf);
                        return r;
                }
                if (got == 0)
                        break;
                len += (size_t)got;
        }
        if (len > max) {
                free(buf);
                return -EFBIG;
        }
        buf[len] = '\0';
        *ret_data = buf;
        *ret_len = len;
        return 0;
}
