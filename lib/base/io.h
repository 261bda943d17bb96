/* Whole reads and writes on a file descriptor: loops over short counts and
 * EINTR so callers never see either.
 *
 * Thread-safety: as read(2)/write(2) on the same fd. With a non-blocking fd
 * (or SO_RCVTIMEO/SO_SNDTIMEO) -EAGAIN comes back as an error after part of
 * the buffer may already have moved. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Reads until len bytes are in buf or end of file. Returns the number of
 * bytes read (less than len only at end of file; 0 at once-EOF) or -errno. */
ssize_t ak_read_full(int fd, void *buf, size_t len);

/* Writes all len bytes. 0 or -errno (-EIO if write(2) returns 0). */
int ak_write_full(int fd, const void *buf, size_t len);

/* Writes every byte of iov[0..cnt): at file offset off with pwritev(2), or
 * at the fd's position with writev(2) when off is negative; more than
 * IOV_MAX entries are fine. iov is consumed (entries advanced as bytes go
 * out). 0 or -errno (-EIO if a write moves nothing). */
int ak_writev_full(int fd, struct iovec *iov, size_t cnt, off_t off);

/* Copies from in to out until in's end of file. 0 or -errno; on an error
 * *ret_write_failed (if not NULL) says whether the write to out failed (true)
 * or the read from in (false), for the caller's message. */
int ak_copy_fd(int in, int out, bool *ret_write_failed);

/* Reads fd to its end: at most max bytes (-EFBIG past them), into a
 * malloc'd, NUL-terminated *ret_data of *ret_len bytes. The fd stays open.
 * 0 or -errno. */
int ak_read_fd_all(int fd, size_t max, char **ret_data, size_t *ret_len);

/* Reads the whole file at path (opened O_CLOEXEC) when it holds at most max
 * bytes: *ret_data is malloc'd and NUL-terminated, *ret_len its length.
 * -EFBIG beyond max, -errno from open/read. */
int ak_read_file(const char *path, size_t max, char **ret_data, size_t *ret_len);

#ifdef __cplusplus
}
#endif
